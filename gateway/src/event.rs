//! API Gateway events: the REST API proxy event (payload 1.0) and the HTTP API event (payload 2.0).
//!
//! Owns: turning one HTTP request, its matched route and its authorization into the JSON a Lambda
//! function receives, field by field as AWS documents them ("Set up Lambda proxy integrations" for
//! 1.0, "Working with AWS Lambda proxy integrations for HTTP APIs" for 2.0), and the rule for when a
//! body is base64-encoded. Must not: decide routing or auth (it is handed their results).
//!
//! Header names: a REST API event keeps an HTTP/1.x client's spelling (see [`crate::header_case`])
//! and spells the headers API Gateway adds as it does (`X-Forwarded-For`); HTTP API events and
//! HTTP/2 requests have lower-case names. Where esb differs from AWS, on purpose: a REST API body that is not valid UTF-8 is base64-encoded even when its
//! content type is not in `BinaryMediaTypes` (AWS would mangle it).

use crate::header_case::Spelling;
use base64::Engine;
use esb_config::model::{ApiKind, ApiSpec, Route};
use http::HeaderMap;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The account id local events carry.
pub const ACCOUNT_ID: &str = "123456789012";

/// The parts of an HTTP request an event is built from.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// The raw (percent-encoded) path.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// How an HTTP/1.x client spelled the header names (REST API events keep that case).
    pub spelling: Option<&'a Spelling>,
    /// The request body.
    pub body: &'a [u8],
    /// Client address.
    pub source_ip: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'a str,
    /// This request's id.
    pub request_id: &'a str,
    /// When the request arrived.
    pub time: SystemTime,
}

/// How the client reached the gateway, set on each request by the server: what API Gateway
/// passes on as `X-Forwarded-Proto` and `X-Forwarded-Port`.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded {
    /// `https` or `http`.
    pub proto: &'static str,
    /// The port the client connected to.
    pub port: u16,
}

/// Adds the headers API Gateway adds to what a function sees: `X-Forwarded-For` (the client's
/// address appended to one the client sent), `X-Forwarded-Port` and `X-Forwarded-Proto`.
pub fn add_forwarded(headers: &mut HeaderMap, source_ip: &str, f: Forwarded) {
    let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(given) if !given.trim().is_empty() => format!("{given}, {source_ip}"),
        _ => source_ip.to_string(),
    };
    for (name, value) in [("x-forwarded-for", chain), ("x-forwarded-port", f.port.to_string()), ("x-forwarded-proto", f.proto.to_string())]
    {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// The request's headers as a function sees them: the client's, with what API Gateway adds
/// (`X-Forwarded-*`, when the server recorded how the client connected).
pub fn function_headers(parts: &http::request::Parts, source_ip: &str) -> HeaderMap {
    let mut headers = parts.headers.clone();
    if let Some(f) = parts.extensions.get::<Forwarded>() {
        add_forwarded(&mut headers, source_ip, *f);
    }
    headers
}

/// `requestContext.protocol` for an HTTP version.
pub fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// What auth established about the caller.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Verified token claims (Cognito / JWT authorizers).
    pub claims: Option<Map<String, Value>>,
    /// Scopes of an access token.
    pub scopes: Vec<String>,
    /// The API key the caller presented, when the route requires one.
    pub api_key: Option<String>,
    /// The access key of a SigV4-signed request to an `AWS_IAM` route.
    pub iam_access_key: Option<String>,
    /// What a Lambda authorizer allowed.
    pub lambda: Option<crate::lambda_auth::LambdaCaller>,
}

/// The IAM user esb's credentials stand for, as API Gateway names a signed caller.
const IAM_USER: &str = "esb";

/// A stable API id for an API's logical id, shaped like API Gateway's (10 lower-case characters).
pub fn api_id(logical_id: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, logical_id.as_bytes());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    digest.as_ref().iter().take(10).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// API Gateway's `requestTime`: `12/Mar/2020:19:03:58 +0000`.
pub fn request_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s) = esb_runtime::labels::civil_utc(t);
    format!("{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} +0000", MONTHS[(mo - 1) as usize])
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn media_type(headers: &HeaderMap) -> String {
    let ct = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// True when `media` matches a `BinaryMediaTypes` entry (`image/png`, `image/*`, `*/*`).
fn matches_media(pattern: &str, media: &str) -> bool {
    // SAM escapes `/` as `~1` in BinaryMediaTypes.
    let pattern = pattern.replace("~1", "/").to_ascii_lowercase();
    match pattern.split_once('/') {
        Some(("*", "*")) => true,
        Some((top, "*")) => media.split('/').next() == Some(top),
        _ => pattern == media,
    }
}

fn is_text_media(media: &str) -> bool {
    media.is_empty()
        || media.starts_with("text/")
        || media.ends_with("json")
        || media.ends_with("+xml")
        || matches!(media, "application/xml" | "application/javascript" | "application/x-www-form-urlencoded" | "application/graphql")
}

/// Whether a request body reaches the function base64-encoded.
pub fn body_is_binary(api: &ApiSpec, headers: &HeaderMap, body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    let media = media_type(headers);
    let utf8 = std::str::from_utf8(body).is_ok();
    match api.kind {
        ApiKind::Rest => !utf8 || (!media.is_empty() && api.binary_media_types.iter().any(|p| matches_media(p, &media))),
        ApiKind::Http => !utf8 || !is_text_media(&media),
    }
}

fn body_value(api: &ApiSpec, req: &RequestParts<'_>) -> (Value, bool) {
    if req.body.is_empty() {
        return (Value::Null, false);
    }
    if body_is_binary(api, req.headers, req.body) {
        (Value::String(base64::engine::general_purpose::STANDARD.encode(req.body)), true)
    } else {
        (Value::String(String::from_utf8_lossy(req.body).into_owned()), false)
    }
}

/// Query string pairs, percent-decoded, in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        urlencoding::decode(&s).map(|c| c.into_owned()).unwrap_or(s)
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Header values by name: lower-case names, or with `spelling`, the client's case (and API
/// Gateway's for the headers it adds).
fn header_values(headers: &HeaderMap, spelling: Option<&Spelling>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str();
        let spelled = match spelling {
            Some(s) => s.of(name).or_else(|| crate::header_case::canonical(name)).unwrap_or(name),
            None => name,
        };
        out.entry(spelled.to_string()).or_default().push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    out
}

fn user_agent(headers: &HeaderMap) -> Value {
    headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| Value::String(s.into())).unwrap_or(Value::Null)
}

fn domain(headers: &HeaderMap) -> String {
    headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| h.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map(|(host, _)| host).unwrap_or(h).to_string())
        .unwrap_or_else(|| "localhost".into())
}

fn map_or_null<V: Into<Value>>(m: BTreeMap<String, V>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}

/// The REST API proxy event (payload format 1.0).
pub fn v1(req: &RequestParts<'_>, route: &Route, api: &ApiSpec, params: &BTreeMap<String, String>, caller: &Caller) -> Value {
    // A REST API keeps the client's header case; an HTTP API lower-cases every name, in payload
    // 1.0 too ("All header names are lowercased", its Lambda integration page).
    let unspelled = Spelling::default();
    let spelled = match api.kind {
        ApiKind::Rest => Some(req.spelling.unwrap_or(&unspelled)),
        ApiKind::Http => None,
    };
    let headers = header_values(req.headers, spelled);
    let query = query_pairs(req.query);
    let mut multi_query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &query {
        multi_query.entry(k.clone()).or_default().push(v.clone());
    }
    let single_query: BTreeMap<String, String> =
        multi_query.iter().map(|(k, v)| (k.clone(), v.last().cloned().unwrap_or_default())).collect();
    let single_headers: BTreeMap<String, String> =
        headers.iter().map(|(k, v)| (k.clone(), v.last().cloned().unwrap_or_default())).collect();
    let (body, is_b64) = body_value(api, req);
    let api_id = api_id(&route.api);
    let domain = domain(req.headers);
    let resource = if route.path == "$default" { "/{proxy+}".to_string() } else { route.path.clone() };
    let mut authorizer = Map::new();
    if let Some(claims) = &caller.claims {
        authorizer.insert("claims".into(), Value::Object(claims.clone()));
        authorizer.insert("scopes".into(), if caller.scopes.is_empty() { Value::Null } else { json!(caller.scopes) });
    }
    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split('.').next().unwrap_or(&domain),
        "extendedRequestId": req.request_id,
        "httpMethod": req.method,
        "identity": {
            "accessKey": caller.iam_access_key, "accountId": caller.iam_access_key.as_ref().map(|_| ACCOUNT_ID),
            "apiKey": caller.api_key, "apiKeyId": caller.api_key.as_ref().map(|_| "esb-api-key"),
            "caller": caller.iam_access_key.as_ref().map(|_| IAM_USER), "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
            "cognitoIdentityId": null, "cognitoIdentityPoolId": null, "principalOrgId": null,
            "sourceIp": req.source_ip, "user": caller.iam_access_key.as_ref().map(|_| IAM_USER), "userAgent": user_agent(req.headers),
            "userArn": caller.iam_access_key.as_ref().map(|_| format!("arn:aws:iam::{ACCOUNT_ID}:user/{IAM_USER}")),
        },
        "path": format!("/{}{}", api.stage, req.path),
        "protocol": req.protocol,
        "requestId": req.request_id,
        "requestTime": request_time(req.time),
        "requestTimeEpoch": epoch_ms(req.time),
        "resourceId": &api_id[..6],
        "resourcePath": resource,
        "stage": api.stage,
    });
    if let Some(l) = &caller.lambda {
        // A REST Lambda authorizer's context sits beside principalId (as strings, numbers, booleans).
        authorizer.insert("principalId".into(), json!(l.principal));
        authorizer.insert("integrationLatency".into(), json!(0));
        authorizer.extend(l.context.clone());
    }
    if !authorizer.is_empty() {
        context["authorizer"] = Value::Object(authorizer);
    }
    json!({
        "resource": resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": map_or_null(single_headers),
        "multiValueHeaders": map_or_null(headers.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        "queryStringParameters": map_or_null(single_query),
        "multiValueQueryStringParameters": map_or_null(multi_query.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        "pathParameters": map_or_null(params.clone()),
        "stageVariables": map_or_null(api.stage_variables.clone()),
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_b64,
    })
}

/// The HTTP API event (payload format 2.0).
pub fn v2(req: &RequestParts<'_>, route: &Route, api: &ApiSpec, params: &BTreeMap<String, String>, caller: &Caller) -> Value {
    let mut cookies: Vec<String> = vec![];
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, values) in header_values(req.headers, None) {
        if name == "cookie" {
            cookies.extend(values.iter().flat_map(|v| v.split(';')).map(|c| c.trim().to_string()).filter(|c| !c.is_empty()));
        } else {
            headers.insert(name, values.join(","));
        }
    }
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in query_pairs(req.query) {
        query.entry(k).or_default().push(v);
    }
    let route_key = if route.path == "$default" { "$default".to_string() } else { format!("{} {}", route.method, route.path) };
    let api_id = api_id(&route.api);
    let domain = domain(req.headers);
    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split('.').next().unwrap_or(&domain),
        "http": {
            "method": req.method,
            "path": req.path,
            "protocol": req.protocol,
            "sourceIp": req.source_ip,
            "userAgent": user_agent(req.headers),
        },
        "requestId": req.request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": request_time(req.time),
        "timeEpoch": epoch_ms(req.time),
    });
    if let Some(claims) = &caller.claims {
        context["authorizer"] =
            json!({ "jwt": { "claims": claims, "scopes": if caller.scopes.is_empty() { Value::Null } else { json!(caller.scopes) } } });
    }
    if let Some(l) = &caller.lambda {
        context["authorizer"] = json!({ "lambda": l.context });
    }
    if let Some(key) = &caller.iam_access_key {
        context["authorizer"] = json!({ "iam": {
            "accessKey": key, "accountId": ACCOUNT_ID, "callerId": IAM_USER, "cognitoIdentity": null,
            "principalOrgId": null, "userArn": format!("arn:aws:iam::{ACCOUNT_ID}:user/{IAM_USER}"), "userId": IAM_USER,
        } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query.unwrap_or(""),
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query.into_iter().map(|(k, v)| (k, Value::String(v.join(",")))).collect());
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !api.stage_variables.is_empty() {
        event["stageVariables"] = json!(api.stage_variables);
    }
    let (body, is_b64) = body_value(api, req);
    if !body.is_null() {
        event["body"] = body;
        event["isBase64Encoded"] = Value::Bool(is_b64);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(kind: ApiKind) -> ApiSpec {
        ApiSpec {
            kind,
            stage: if kind == ApiKind::Rest { "Prod".into() } else { "$default".into() },
            authorizers: Default::default(),
            cors: None,
            binary_media_types: vec!["image~1png".into()],
            stage_variables: if kind == ApiKind::Rest { [("env".to_string(), "test".to_string())].into() } else { BTreeMap::new() },
        }
    }

    fn route(path: &str, version: &str) -> Route {
        Route {
            api: "Api".into(),
            method: "GET".into(),
            path: path.into(),
            function: "F".into(),
            payload_version: version.into(),
            authorizer: None,
            api_key_required: false,
            timeout_ms: None,
            source: "F.E".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    fn parts<'a>(h: &'a HeaderMap, query: Option<&'a str>, body: &'a [u8]) -> RequestParts<'a> {
        RequestParts {
            method: "GET",
            path: "/items/a%20b",
            query,
            headers: h,
            spelling: None,
            body,
            source_ip: "10.0.0.9".into(),
            protocol: "HTTP/1.1",
            request_id: "rid",
            time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_583_348_638_390),
        }
    }

    #[test]
    fn rest_events_spell_headers_as_the_client_did_and_http_apis_lower_case_them() {
        let h = headers(&[("x-custom", "v"), ("x-forwarded-for", "10.0.0.9")]);
        let spelling = crate::header_case::Spelling::from_names(&["X-Custom"]);
        let req = RequestParts { spelling: Some(&spelling), ..parts(&h, None, b"") };
        let rest = v1(&req, &route("/items/{id}", "1.0"), &api(ApiKind::Rest), &BTreeMap::new(), &Caller::default());
        assert_eq!((rest["headers"]["X-Custom"].as_str(), rest["headers"]["X-Forwarded-For"].as_str()), (Some("v"), Some("10.0.0.9")));
        let http = v1(&req, &route("/items/{id}", "1.0"), &api(ApiKind::Http), &BTreeMap::new(), &Caller::default());
        assert_eq!((http["headers"]["x-custom"].as_str(), http["headers"].get("X-Custom")), (Some("v"), None));
    }

    #[test]
    fn v1_has_every_documented_field() {
        let h = headers(&[("host", "localhost:8443"), ("x-multi", "a"), ("x-multi", "b"), ("user-agent", "ua")]);
        let params = [("id".to_string(), "a b".to_string())].into();
        let caller = Caller { claims: Some(json!({"sub": "u1"}).as_object().unwrap().clone()), ..Default::default() };
        let e = v1(&parts(&h, Some("a=1&a=2&b=x%2By"), b""), &route("/items/{id}", "1.0"), &api(ApiKind::Rest), &params, &caller);
        assert_eq!(e["resource"], "/items/{id}");
        assert_eq!(e["path"], "/items/a%20b");
        assert_eq!(e["headers"]["x-multi"], "b");
        assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
        assert_eq!(e["queryStringParameters"], json!({"a": "2", "b": "x+y"}));
        assert_eq!(e["multiValueQueryStringParameters"]["a"], json!(["1", "2"]));
        assert_eq!(e["pathParameters"]["id"], "a b");
        assert_eq!(e["body"], Value::Null);
        assert_eq!(e["isBase64Encoded"], false);
        let rc = &e["requestContext"];
        assert_eq!(rc["stage"], "Prod");
        assert_eq!(rc["path"], "/Prod/items/a%20b");
        assert_eq!(rc["identity"]["sourceIp"], "10.0.0.9");
        assert_eq!(rc["identity"]["userAgent"], "ua");
        assert_eq!(rc["domainName"], "localhost");
        assert_eq!(rc["requestTime"], "04/Mar/2020:19:03:58 +0000");
        assert_eq!(rc["requestTimeEpoch"], 1_583_348_638_390u64);
        assert_eq!(rc["authorizer"]["claims"]["sub"], "u1");
        assert_eq!(e["stageVariables"], json!({"env": "test"}), "the stage's Variables");
        assert_eq!(rc["accountId"], ACCOUNT_ID);
        assert_eq!(rc["apiId"].as_str().unwrap().len(), 10);
    }

    #[test]
    fn v2_joins_headers_splits_cookies_and_omits_empty_fields() {
        let h = headers(&[("cookie", "a=1; b=2"), ("x-multi", "a"), ("x-multi", "b")]);
        let e = v2(&parts(&h, None, b""), &route("$default", "2.0"), &api(ApiKind::Http), &BTreeMap::new(), &Caller::default());
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        for absent in ["queryStringParameters", "pathParameters", "body", "stageVariables"] {
            assert!(e.get(absent).is_none(), "{absent} should be absent");
        }
        assert_eq!(e["rawQueryString"], "");
        assert_eq!(e["requestContext"]["http"]["method"], "GET");
        assert_eq!(e["requestContext"]["time"], "04/Mar/2020:19:03:58 +0000");
    }

    #[test]
    fn forwarded_headers_are_added_as_api_gateway_adds_them() {
        let mut h = headers(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded(&mut h, "127.0.0.1", Forwarded { proto: "https", port: 8443 });
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1", "the client's address appended");
        assert_eq!((h["x-forwarded-port"].to_str().unwrap(), h["x-forwarded-proto"].to_str().unwrap()), ("8443", "https"));
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, "::1", Forwarded { proto: "http", port: 80 });
        assert_eq!(h["x-forwarded-for"], "::1");
    }

    #[test]
    fn binary_bodies_are_base64_by_api_rules() {
        let png = headers(&[("content-type", "image/png")]);
        let json_ct = headers(&[("content-type", "application/json; charset=utf-8")]);
        let (rest, http_api) = (api(ApiKind::Rest), api(ApiKind::Http));
        assert!(body_is_binary(&rest, &png, b"abc"), "listed in BinaryMediaTypes");
        assert!(!body_is_binary(&rest, &json_ct, b"{}"));
        assert!(body_is_binary(&rest, &json_ct, &[0xff, 0xfe]), "invalid UTF-8 is never sent as text");
        assert!(body_is_binary(&http_api, &headers(&[("content-type", "application/octet-stream")]), b"abc"));
        assert!(!body_is_binary(&http_api, &json_ct, b"{}"));
        let e = v2(&parts(&png, None, &[1, 2, 3]), &route("/x", "2.0"), &http_api, &BTreeMap::new(), &Caller::default());
        assert_eq!((e["body"].as_str().unwrap(), e["isBase64Encoded"].as_bool().unwrap()), ("AQID", true));
    }
}
