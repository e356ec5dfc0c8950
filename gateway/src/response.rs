//! Lambda result -> API Gateway HTTP response, and API Gateway's own error responses.
//!
//! Owns: parsing a proxy integration's result (statusCode, headers, multiValueHeaders, cookies,
//! body, isBase64Encoded), the 2.0 format's inferred responses (a result without `statusCode` is a
//! 200 JSON body), and the status + `{"message": ...}` body API Gateway answers with when the
//! function fails (REST: 502 `Internal server error`; HTTP API: 500 `Internal Server Error`), times
//! out (504), is throttled (429) or the result is malformed (502/500). Must not: invoke anything.

use base64::Engine;
use bytes::Bytes;
use esb_config::model::ApiKind;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};

/// The body type every gateway response has.
pub type Body = Full<Bytes>;

/// Why a Lambda result could not be turned into a response.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MalformedResult {
    /// Not JSON at all.
    #[error("the function's result is not JSON")]
    NotJson,
    /// Missing or wrong `statusCode`.
    #[error("statusCode must be an integer between 100 and 599")]
    StatusCode,
    /// A header name or value HTTP does not allow.
    #[error("header `{0}` is not a valid HTTP header")]
    Header(String),
    /// `body` is not a string.
    #[error("body must be a string")]
    Body,
    /// `isBase64Encoded` with a body that is not base64.
    #[error("isBase64Encoded is true but body is not valid base64")]
    Base64,
    /// A field of the wrong type.
    #[error("{0} has the wrong type")]
    Field(&'static str),
}

/// API Gateway's own answer: `{"message": ...}` with `x-amzn-ErrorType`.
pub fn gateway_error(status: StatusCode, error_type: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut r = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", error_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default();
    retry_after(&mut r);
    r
}

/// No route for the request, as API Gateway answers it: a REST API's 403 `Missing Authentication
/// Token` (its gateway response MISSING_AUTHENTICATION_TOKEN, also for a method the resource lacks),
/// an HTTP API's 404 `Not Found`.
pub fn no_route(kind: esb_config::model::ApiKind) -> Response<Body> {
    match kind {
        esb_config::model::ApiKind::Rest => {
            gateway_error(StatusCode::FORBIDDEN, "MissingAuthenticationTokenException", "Missing Authentication Token")
        }
        esb_config::model::ApiKind::Http => gateway_error(StatusCode::NOT_FOUND, "NotFoundException", "Not Found"),
    }
}

/// A 503 (esb restarting, a manager away) says when to come back.
pub fn retry_after(r: &mut Response<Body>) {
    if r.status() == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    }
}

/// The function failed (unhandled error, crash, malformed result).
pub fn integration_failure(kind: ApiKind) -> Response<Body> {
    match kind {
        ApiKind::Rest => gateway_error(StatusCode::BAD_GATEWAY, "InternalServerErrorException", "Internal server error"),
        ApiKind::Http => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerErrorException", "Internal Server Error"),
    }
}

/// The integration did not answer within the route's timeout.
pub fn integration_timeout(kind: ApiKind) -> Response<Body> {
    let message = match kind {
        ApiKind::Rest => "Endpoint request timed out",
        ApiKind::Http => "Gateway Timeout",
    };
    gateway_error(StatusCode::GATEWAY_TIMEOUT, "IntegrationTimeoutException", message)
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), MalformedResult> {
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| MalformedResult::Header(name.into()))?;
    let v = HeaderValue::from_str(value).map_err(|_| MalformedResult::Header(name.into()))?;
    Ok((n, v))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Maps a successful invocation's result body to the HTTP response.
pub fn from_result(payload_version: &str, result: &[u8]) -> Result<Response<Body>, MalformedResult> {
    let value: Value = serde_json::from_slice(result).map_err(|_| MalformedResult::NotJson)?;
    let v2 = payload_version == "2.0";
    let obj = match &value {
        Value::Object(o) if o.contains_key("statusCode") => o,
        // Payload 2.0 infers the response from anything else that is JSON.
        _ if v2 => {
            let body = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Ok(Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default());
        }
        _ => return Err(MalformedResult::StatusCode),
    };
    structured(obj, v2)
}

fn structured(obj: &Map<String, Value>, v2: bool) -> Result<Response<Body>, MalformedResult> {
    let status = obj
        .get("statusCode")
        .and_then(|s| s.as_u64().or_else(|| s.as_str().and_then(|s| s.parse().ok())))
        .and_then(|s| StatusCode::from_u16(s as u16).ok().filter(|_| (100..600).contains(&s)))
        .ok_or(MalformedResult::StatusCode)?;
    let mut response = Response::builder().status(status);
    let headers = response.headers_mut().ok_or(MalformedResult::StatusCode)?;
    let multi = match obj.get("multiValueHeaders") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(MalformedResult::Field("multiValueHeaders")),
    };
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                // A key in both maps takes only multiValueHeaders' values, as API Gateway merges them.
                if multi.keys().any(|mk| mk.eq_ignore_ascii_case(k)) {
                    continue;
                }
                let value = scalar(v).ok_or(MalformedResult::Header(k.clone()))?;
                let (n, v) = header_pair(k, &value)?;
                headers.insert(n, v);
            }
        }
        Some(_) => return Err(MalformedResult::Field("headers")),
    }
    for (k, vs) in &multi {
        let Value::Array(vs) = vs else { return Err(MalformedResult::Field("multiValueHeaders")) };
        for v in vs {
            let value = scalar(v).ok_or(MalformedResult::Header(k.clone()))?;
            let (n, v) = header_pair(k, &value)?;
            headers.append(n, v);
        }
    }
    if v2 {
        match obj.get("cookies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(cs)) => {
                for c in cs {
                    let c = c.as_str().ok_or(MalformedResult::Field("cookies"))?;
                    let (n, v) = header_pair("set-cookie", c)?;
                    headers.append(n, v);
                }
            }
            Some(_) => return Err(MalformedResult::Field("cookies")),
        }
    }
    let b64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(_) => return Err(MalformedResult::Field("isBase64Encoded")),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if b64 => {
            Bytes::from(base64::engine::general_purpose::STANDARD.decode(s.trim()).map_err(|_| MalformedResult::Base64)?)
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err(MalformedResult::Body),
    };
    if !headers.contains_key(http::header::CONTENT_TYPE) && !body.is_empty() {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response.body(Full::new(body)).map_err(|_| MalformedResult::StatusCode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(r: Response<Body>) -> Bytes {
        r.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn v1_result_maps_status_headers_and_base64_body() {
        let r = from_result(
            "1.0",
            br#"{"statusCode": 201, "headers": {"X-A": "1", "X-B": "h"}, "multiValueHeaders": {"x-b": ["m1", "m2"]}, "body": "AQID", "isBase64Encoded": true}"#,
        )
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "1");
        let b: Vec<_> = r.headers().get_all("x-b").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        assert_eq!(b, ["m1", "m2"], "multiValueHeaders win a key both maps have");
        assert_eq!(&body(r).await[..], &[1, 2, 3]);
    }

    #[tokio::test]
    async fn v2_infers_a_response_and_sets_cookies() {
        let r = from_result("2.0", br#"{"hello": "world"}"#).unwrap();
        assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "application/json"));
        assert_eq!(&body(r).await[..], br#"{"hello":"world"}"#);
        let r = from_result("2.0", br#""plain""#).unwrap();
        assert_eq!(&body(r).await[..], b"plain");
        let r = from_result("2.0", br#"{"statusCode": 200, "cookies": ["a=1", "b=2; Secure"], "body": "x"}"#).unwrap();
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn malformed_results_are_named() {
        let bad = |s: &[u8]| from_result("1.0", s).err();
        assert_eq!(bad(b"not json"), Some(MalformedResult::NotJson));
        assert_eq!(bad(br#"{"body": "x"}"#), Some(MalformedResult::StatusCode));
        assert_eq!(bad(br#"{"statusCode": 99}"#), Some(MalformedResult::StatusCode));
        assert_eq!(bad(br#"{"statusCode": 200, "body": {"a": 1}}"#), Some(MalformedResult::Body));
        assert_eq!(bad(br#"{"statusCode": 200, "headers": {"bad name": "v"}}"#), Some(MalformedResult::Header("bad name".into())));
        assert_eq!(bad(br#"{"statusCode": 200, "body": "@@", "isBase64Encoded": true}"#), Some(MalformedResult::Base64));
    }

    #[tokio::test]
    async fn gateway_errors_are_shaped_like_api_gateway() {
        let r = integration_failure(ApiKind::Rest);
        assert_eq!(r.status(), 502);
        assert_eq!(&body(r).await[..], br#"{"message":"Internal server error"}"#);
        assert_eq!(integration_failure(ApiKind::Http).status(), 500);
        assert_eq!(integration_timeout(ApiKind::Rest).status(), 504);
    }
}
