//! `AWS::Serverless::Api` / `HttpApi` and HTTP events -> [`ApiSpec`]s and [`Route`]s.
//!
//! Owns: stages, authorizers (Cognito, JWT, Lambda, IAM), default authorizer and API key rules, CORS
//! normalisation, the implicit `ServerlessRestApi`/`ServerlessHttpApi`, route validation, duplicate
//! detection and the final route order. Must not: match requests (the gateway does, from routing.yml).

use super::events::EventDecl;
use super::props::Props;
use crate::error::Sink;
use crate::model::{ApiKind, ApiSpec, Authorizer, Cors, Route};
use crate::routes::{normalize_method, PathTemplate, DEFAULT_ROUTE};
use std::collections::BTreeMap;

/// Logical id SAM gives the implicit REST API.
pub const IMPLICIT_REST: &str = "ServerlessRestApi";
/// Logical id SAM gives the implicit HTTP API.
pub const IMPLICIT_HTTP: &str = "ServerlessHttpApi";
/// `Authorizer` value that turns the default authorizer off for a route.
const NONE: &str = "NONE";
/// Name of the IAM authorizer.
const IAM: &str = "AWS_IAM";

/// An API plus the defaults its routes inherit.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub spec: ApiSpec,
    pub default_authorizer: Option<String>,
    pub api_key_required: bool,
}

const REST_USED: &[&str] = &["StageName", "Auth", "Cors", "BinaryMediaTypes", "DefinitionBody", "DefinitionUri", "Name"];
const REST_IGNORED: &[&str] = &[
    "AccessLogSetting",
    "AlwaysDeploy",
    "ApiKeySourceType",
    "CacheClusterEnabled",
    "CacheClusterSize",
    "CanarySetting",
    "Description",
    "DisableExecuteApiEndpoint",
    "Domain",
    "EndpointConfiguration",
    "FailOnWarnings",
    "GatewayResponses",
    "MergeDefinitions",
    "MethodSettings",
    "MinimumCompressionSize",
    "Mode",
    "Models",
    "OpenApiVersion",
    "PropagateTags",
    "Tags",
    "TracingEnabled",
    "Variables",
];
const HTTP_USED: &[&str] = &["StageName", "Auth", "CorsConfiguration", "DefinitionBody", "DefinitionUri", "Name"];
const HTTP_IGNORED: &[&str] = &[
    "AccessLogSettings",
    "DefaultRouteSettings",
    "Description",
    "DisableExecuteApiEndpoint",
    "Domain",
    "FailOnWarnings",
    "PropagateTags",
    "RouteSettings",
    "StageVariables",
    "Tags",
];

/// The implicit API SAM creates for events without RestApiId/ApiId, with Globals applied.
pub(crate) fn implicit(kind: ApiKind, globals: Option<Props>, sink: &mut Sink) -> Api {
    match globals {
        Some(p) => compile(kind, p, true, sink),
        None => Api { spec: ApiSpec::new(kind, default_stage(kind)), default_authorizer: None, api_key_required: false },
    }
}

fn default_stage(kind: ApiKind) -> &'static str {
    match kind {
        ApiKind::Rest => "Prod",
        ApiKind::Http => "$default",
    }
}

/// Compiles an explicit API resource (or Globals for an implicit one).
pub(crate) fn compile(kind: ApiKind, p: Props, implicit: bool, sink: &mut Sink) -> Api {
    let (used, ignored, ty) = match kind {
        ApiKind::Rest => (REST_USED, REST_IGNORED, "AWS::Serverless::Api"),
        ApiKind::Http => (HTTP_USED, HTTP_IGNORED, "AWS::Serverless::HttpApi"),
    };
    p.check_keys(used, ignored, ty, sink);
    let stage = match p.string("StageName", sink) {
        Some(s) => s,
        None if kind == ApiKind::Rest && !implicit => {
            sink.error(
                Some(p.node.line),
                &p.at("StageName"),
                "AWS::Serverless::Api is missing `StageName`",
                Some("add `StageName: Prod` (SAM requires it)"),
            );
            "Prod".into()
        }
        None => default_stage(kind).into(),
    };
    let mut api = Api { spec: ApiSpec::new(kind, stage), default_authorizer: None, api_key_required: false };
    if kind == ApiKind::Rest {
        api.spec.binary_media_types = p.strings("BinaryMediaTypes", sink).into_iter().map(|t| t.replace("~1", "/")).collect();
        api.spec.cors = rest_cors(&p, sink);
    } else {
        api.spec.cors = http_cors(&p, sink);
    }
    let vars_key = if kind == ApiKind::Rest { "Variables" } else { "StageVariables" };
    if let Some(vars) = p.map(vars_key, sink) {
        for (name, value) in vars.as_map().unwrap_or_default() {
            match value.as_scalar_str() {
                Some(v) => {
                    api.spec.stage_variables.insert(name.clone(), v);
                }
                None => sink.error(
                    Some(value.line),
                    &format!("{}.{name}", p.at(vars_key)),
                    format!("a stage variable is a string, found {}", value.kind()),
                    None,
                ),
            }
        }
    }
    if let Some(auth) = p.map("Auth", sink) {
        let apath = p.at("Auth");
        auth_section(&mut api, Props::new(auth, &apath), sink);
    }
    api
}

fn auth_section(api: &mut Api, auth: Props, sink: &mut Sink) {
    auth.check_keys(
        &["Authorizers", "DefaultAuthorizer", "ApiKeyRequired", "EnableIamAuthorizer"],
        &["AddDefaultAuthorizerToCorsPreflight", "AddApiKeyRequiredToCorsPreflight", "ResourcePolicy", "UsagePlan", "InvokeRole"],
        "Api Auth",
        sink,
    );
    api.api_key_required = auth.bool("ApiKeyRequired", sink).unwrap_or(false);
    // A REST API always has AWS_IAM (SAM needs no declaration for it); an HTTP API only with
    // EnableIamAuthorizer.
    let rest_iam = api.spec.kind == ApiKind::Rest && auth.string("DefaultAuthorizer", sink).as_deref() == Some(IAM);
    if auth.bool("EnableIamAuthorizer", sink).unwrap_or(false) || rest_iam {
        api.spec.authorizers.insert(IAM.into(), Authorizer::Iam);
    }
    if let Some(authorizers) = auth.map("Authorizers", sink) {
        let base = auth.at("Authorizers");
        for (name, a) in authorizers.as_map().unwrap_or_default() {
            let path = format!("{base}.{name}");
            let ap = Props::new(a, &path);
            let authorizer = if api.spec.kind == ApiKind::Http && ap.get("JwtConfiguration").is_some() {
                let jpath = ap.at("JwtConfiguration");
                let jwt = ap.map("JwtConfiguration", sink).map(|j| Props::new(j, &jpath));
                Authorizer::Jwt {
                    issuer: jwt.and_then(|j| j.string("issuer", sink)),
                    audience: jwt.map(|j| j.strings("audience", sink)).unwrap_or_default(),
                    header: header_of(ap.string("IdentitySource", sink)),
                }
            } else if ap.get("UserPoolArn").is_some() {
                let ipath = ap.at("Identity");
                let header = ap.map("Identity", sink).and_then(|i| Props::new(i, &ipath).string("Header", sink));
                Authorizer::Cognito { header: header.unwrap_or_else(|| "Authorization".into()) }
            } else if let Some(arn) = ap.string("FunctionArn", sink) {
                lambda_authorizer(api.spec.kind, arn, &ap, sink)
            } else {
                let hint = match api.spec.kind {
                    ApiKind::Rest => "a REST API authorizer has UserPoolArn (Cognito) or FunctionArn (Lambda)",
                    ApiKind::Http => "an HTTP API authorizer has JwtConfiguration or FunctionArn (Lambda)",
                };
                sink.error(
                    Some(a.line),
                    &path,
                    format!("authorizer `{name}` is neither a Cognito/JWT nor a Lambda authorizer"),
                    Some(hint),
                );
                continue;
            };
            api.spec.authorizers.insert(name.clone(), authorizer);
        }
    }
    if let Some(default) = auth.string("DefaultAuthorizer", sink) {
        if !api.spec.authorizers.contains_key(&default) {
            sink.error(
                auth.get("DefaultAuthorizer").map(|n| n.line),
                &auth.at("DefaultAuthorizer"),
                format!("DefaultAuthorizer `{default}` is not one of this API's Authorizers"),
                Some(&defined(&api.spec.authorizers)),
            );
        } else {
            api.default_authorizer = Some(default);
        }
    }
}

/// A SAM Lambda authorizer: REST `FunctionPayloadType` TOKEN (the default: one header,
/// `ValidationExpression`) or REQUEST (`Identity.Headers`/`QueryStrings`), `ReauthorizeEvery`
/// (REST default 300 s); HTTP API `AuthorizerPayloadFormatVersion`, `EnableSimpleResponses`,
/// `Identity`. Its function is found once the template's functions are compiled.
fn lambda_authorizer(kind: ApiKind, arn: String, ap: &Props, sink: &mut Sink) -> Authorizer {
    let ipath = ap.at("Identity");
    let identity = ap.map("Identity", sink).map(|i| Props::new(i, &ipath));
    let token = kind == ApiKind::Rest && ap.string("FunctionPayloadType", sink).is_none_or(|t| t.eq_ignore_ascii_case("TOKEN"));
    let mut sources = vec![];
    if token {
        sources.push(format!("header:{}", identity.and_then(|i| i.string("Header", sink)).unwrap_or_else(|| "Authorization".into())));
    } else if let Some(i) = identity {
        sources.extend(i.strings("Headers", sink).into_iter().map(|h| format!("header:{h}")));
        sources.extend(i.strings("QueryStrings", sink).into_iter().map(|q| format!("query:{q}")));
    }
    let default_ttl = if kind == ApiKind::Rest { 300 } else { 0 };
    Authorizer::Lambda {
        function_arn: arn,
        function: None,
        token,
        identity: sources,
        validation: identity.and_then(|i| i.string("ValidationExpression", sink)),
        ttl: identity.and_then(|i| i.uint("ReauthorizeEvery", 0, 3600, sink)).map_or(default_ttl, |t| t as u32),
        payload_version: (kind == ApiKind::Http).then(|| ap.string("AuthorizerPayloadFormatVersion", sink).unwrap_or_else(|| "2.0".into())),
        simple_responses: ap.bool("EnableSimpleResponses", sink).unwrap_or(false),
    }
}

/// Points each Lambda authorizer at the template's function its ARN names; one that names no
/// function esb runs stays refused, said once.
pub(crate) fn bind_authorizers(
    apis: &mut BTreeMap<String, Api>,
    functions: &BTreeMap<String, crate::model::FunctionSpec>,
    sink: &mut Sink,
) {
    for (api_id, api) in apis.iter_mut() {
        for (name, a) in api.spec.authorizers.iter_mut() {
            let Authorizer::Lambda { function_arn, function, .. } = a else { continue };
            match super::openapi::function_of_uri(function_arn).and_then(|n| super::openapi::function_key(n, functions)) {
                Some(key) => *function = Some(key.clone()),
                None => sink.warn(format!(
                    "authorizer {name} of API {api_id} names no function esb runs ({function_arn}): routes using it are refused (403)"
                )),
            }
        }
    }
}

/// `$request.header.X-Token` -> `X-Token`.
fn header_of(identity_source: Option<String>) -> String {
    identity_source
        .as_deref()
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().strip_prefix("$request.header."))
        .unwrap_or("Authorization")
        .to_string()
}

fn defined(authorizers: &BTreeMap<String, Authorizer>) -> String {
    if authorizers.is_empty() {
        "this API defines no authorizers; add one under Auth.Authorizers".into()
    } else {
        format!("defined: {}; or NONE", authorizers.keys().cloned().collect::<Vec<_>>().join(", "))
    }
}

/// SAM REST CORS values are quoted strings: `"'GET,POST'"`.
fn unquote_list(s: &str) -> Vec<String> {
    s.trim().trim_matches('\'').split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
}

fn rest_cors(p: &Props, sink: &mut Sink) -> Option<Cors> {
    let node = p.get("Cors")?;
    if let Some(origin) = node.as_scalar_str() {
        return Some(Cors {
            allow_origins: unquote_list(&origin),
            allow_methods: vec!["*".into()],
            allow_headers: vec!["*".into()],
            ..Cors::default()
        });
    }
    let path = p.at("Cors");
    let c = Props::new(p.map("Cors", sink)?, &path);
    c.check_keys(&["AllowOrigin", "AllowMethods", "AllowHeaders", "MaxAge", "AllowCredentials"], &[], "Api Cors", sink);
    Some(Cors {
        allow_origins: c.string("AllowOrigin", sink).map(|s| unquote_list(&s)).unwrap_or_else(|| vec!["*".into()]),
        allow_methods: c.string("AllowMethods", sink).map(|s| unquote_list(&s)).unwrap_or_else(|| vec!["*".into()]),
        allow_headers: c.string("AllowHeaders", sink).map(|s| unquote_list(&s)).unwrap_or_default(),
        expose_headers: vec![],
        max_age: c.string("MaxAge", sink).and_then(|s| s.trim_matches('\'').parse().ok()),
        allow_credentials: c.bool("AllowCredentials", sink).unwrap_or(false),
    })
}

fn http_cors(p: &Props, sink: &mut Sink) -> Option<Cors> {
    cors_of(p, "CorsConfiguration", "HttpApi CorsConfiguration", sink)
}

/// An HTTP API's (or a function URL's) CORS mapping at `key`.
pub(crate) fn cors_of(p: &Props, key: &str, what: &str, sink: &mut Sink) -> Option<Cors> {
    let node = p.get(key)?;
    if let Some(enabled) = node.as_scalar_str() {
        return (enabled == "true").then(|| Cors {
            allow_origins: vec!["*".into()],
            allow_methods: vec!["*".into()],
            allow_headers: vec!["*".into()],
            ..Cors::default()
        });
    }
    let path = p.at(key);
    let c = Props::new(p.map(key, sink)?, &path);
    c.check_keys(&["AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders", "MaxAge", "AllowCredentials"], &[], what, sink);
    Some(Cors {
        allow_origins: c.strings("AllowOrigins", sink),
        allow_methods: c.strings("AllowMethods", sink),
        allow_headers: c.strings("AllowHeaders", sink),
        expose_headers: c.strings("ExposeHeaders", sink),
        max_age: c.uint("MaxAge", 0, 86_400, sink).map(|n| n as u32),
        allow_credentials: c.bool("AllowCredentials", sink).unwrap_or(false),
    })
}

/// Adds AWS_IAM to the REST APIs whose routes use it without the API declaring it (SAM needs no
/// declaration for it on a REST API).
pub(crate) fn iam_authorizers(routes: &[Route], apis: &mut BTreeMap<String, Api>) {
    for r in routes.iter().filter(|r| r.authorizer.as_deref() == Some(IAM)) {
        if let Some(api) = apis.get_mut(&r.api) {
            api.spec.authorizers.entry(IAM.into()).or_insert(Authorizer::Iam);
        }
    }
}

/// Turns HTTP events into routes: checks paths, methods, API references and authorizers, rejects
/// duplicates, and sorts each API's routes most specific first. `other_apis` are the template's
/// APIs written as plain CloudFormation (logical id -> type), which esb does not serve yet.
pub(crate) fn routes(
    events: &[EventDecl],
    apis: &BTreeMap<String, Api>,
    other_apis: &BTreeMap<String, String>,
    sink: &mut Sink,
) -> Vec<Route> {
    let mut out: Vec<(PathTemplate, Route)> = vec![];
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for e in events {
        let source = format!("{}.{}", e.function, e.name);
        let api_id = e.api.clone().unwrap_or_else(|| match e.kind {
            ApiKind::Rest => IMPLICIT_REST.into(),
            ApiKind::Http => IMPLICIT_HTTP.into(),
        });
        let key = if e.kind == ApiKind::Rest { "RestApiId" } else { "ApiId" };
        if !apis.contains_key(&api_id) {
            if let Some(kind) = other_apis.get(&api_id) {
                // An API written as CloudFormation (AWS::ApiGateway::RestApi, ...): not served yet.
                sink.warn_at(
                    e.line,
                    format!(
                        "{}: {key} `{api_id}` is an {kind}, which esb does not serve yet; route {} {} is not served",
                        e.yaml_path,
                        e.method.as_deref().unwrap_or("ANY"),
                        e.path.as_deref().unwrap_or("/")
                    ),
                );
                continue;
            }
        }
        let Some(api) = apis.get(&api_id).filter(|a| a.spec.kind == e.kind) else {
            let want = if e.kind == ApiKind::Rest { "AWS::Serverless::Api" } else { "AWS::Serverless::HttpApi" };
            sink.error(
                Some(e.line),
                &format!("{}.{key}", e.yaml_path),
                format!("{key} `{api_id}` is not an {want} in this template"),
                Some("use !Ref to an API resource of the matching type"),
            );
            continue;
        };
        let (path, method) = match (&e.path, &e.method) {
            (Some(p), Some(m)) => (p.clone(), m.clone()),
            (None, None) => (DEFAULT_ROUTE.to_string(), "ANY".to_string()),
            _ => {
                sink.error(
                    Some(e.line),
                    &e.yaml_path,
                    "an HttpApi event needs both Path and Method, or neither (the $default route)",
                    None,
                );
                continue;
            }
        };
        // API Gateway takes `/items/` as the resource `/items` (and the reference translator
        // passes it on): served without the slash, said once.
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() && !trimmed.ends_with('/') => {
                sink.warn_at(e.path_line, format!("{}.Path: `{path}` is served as `{trimmed}`, as API Gateway does", e.yaml_path));
                trimmed.to_string()
            }
            _ => path,
        };
        let template = match PathTemplate::parse(&path) {
            Ok(t) => t,
            Err(err) => {
                sink.error(Some(e.path_line), &format!("{}.Path", e.yaml_path), err.message, Some(err.hint));
                continue;
            }
        };
        let Some(method) = normalize_method(&method) else {
            sink.error(
                Some(e.method_line),
                &format!("{}.Method", e.yaml_path),
                format!("`{method}` is not an HTTP method API Gateway routes"),
                Some("use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY"),
            );
            continue;
        };
        let authorizer = match e.authorizer.as_deref() {
            Some(NONE) => None,
            Some(name) if api.spec.authorizers.contains_key(name) => Some(name.to_string()),
            // Every REST API has AWS_IAM, declared or not (see `iam_authorizers`).
            Some(IAM) if api.spec.kind == ApiKind::Rest => Some(IAM.to_string()),
            Some(name) => {
                sink.error(
                    Some(e.line),
                    &format!("{}.Auth.Authorizer", e.yaml_path),
                    format!("authorizer `{name}` is not defined on API {api_id}"),
                    Some(&defined(&api.spec.authorizers)),
                );
                continue;
            }
            None => api.default_authorizer.clone(),
        };
        let dup_key = (api_id.clone(), method.clone(), template.collision_key());
        if let Some(first) = seen.get(&dup_key) {
            sink.error(
                Some(e.path_line),
                &format!("{}.Path", e.yaml_path),
                format!("route {method} {path} on API {api_id} is already declared by {first}"),
                Some("each method and path may route to one function; change the path or method of one of them"),
            );
            continue;
        }
        seen.insert(dup_key, source.clone());
        let payload_version = e.payload_version.clone().unwrap_or_else(|| match e.kind {
            ApiKind::Rest => "1.0".into(),
            ApiKind::Http => "2.0".into(),
        });
        let api_key_required = e.api_key_required.unwrap_or(api.api_key_required);
        out.push((
            template,
            Route {
                api: api_id,
                method,
                path,
                function: e.function.clone(),
                payload_version,
                authorizer,
                api_key_required,
                timeout_ms: e.timeout_ms,
                source,
            },
        ));
    }
    out.sort_by(|(ta, a), (tb, b)| {
        a.api.cmp(&b.api).then_with(|| ta.specificity_cmp(tb)).then_with(|| a.path.cmp(&b.path)).then_with(|| a.method.cmp(&b.method))
    });
    out.into_iter().map(|(_, r)| r).collect()
}
