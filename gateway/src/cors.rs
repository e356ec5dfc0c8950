//! CORS from the template: preflight answers and the headers added to actual responses.
//!
//! Owns: answering `OPTIONS` preflights for an API with CORS configured (204 with the allowed
//! origin, methods, headers, max age) and, for HTTP APIs (which API Gateway decorates itself),
//! adding `Access-Control-Allow-Origin` and friends to the function's responses. REST APIs leave
//! actual responses to the function, as API Gateway does with SAM's `Cors`. Must not: route.

use crate::response::Body;
use bytes::Bytes;
use esb_config::model::{ApiKind, Cors};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;

fn allowed_origin(cors: &Cors, origin: Option<&str>) -> Option<String> {
    if cors.allow_origins.iter().any(|o| o == "*") {
        // With credentials a literal `*` is not allowed by browsers: echo the origin instead.
        return Some(match (cors.allow_credentials, origin) {
            (true, Some(o)) => o.to_string(),
            _ => "*".to_string(),
        });
    }
    let origin = origin?;
    cors.allow_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)).then(|| origin.to_string())
}

/// True when `headers` make this request a CORS preflight.
pub fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method == "OPTIONS" && headers.contains_key("origin") && headers.contains_key("access-control-request-method")
}

/// True when the gateway answers this `OPTIONS` from the API's CORS settings: any `OPTIONS` on a
/// REST API with `Cors` (SAM generates a mock `OPTIONS` method on every path), a real preflight
/// on an HTTP API.
pub fn answers(method: &str, headers: &HeaderMap, kind: ApiKind) -> bool {
    match kind {
        ApiKind::Rest => method == "OPTIONS",
        ApiKind::Http => is_preflight(method, headers),
    }
}

/// The preflight answer: 204 for an HTTP API (API Gateway answers those itself), 200 for a REST
/// API (the `OPTIONS` mock integration SAM's `Cors` generates answers 200 to any `OPTIONS`).
pub fn preflight(cors: &Cors, headers: &HeaderMap, kind: ApiKind) -> Response<Body> {
    let origin = headers.get("origin").and_then(|v| v.to_str().ok());
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = if kind == ApiKind::Rest { StatusCode::OK } else { StatusCode::NO_CONTENT };
    if let Some(allowed) = allowed_origin(cors, origin) {
        let h = r.headers_mut();
        let set = |h: &mut HeaderMap, k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        set(h, "access-control-allow-origin", allowed);
        let methods = if cors.allow_methods.is_empty() { "*".to_string() } else { cors.allow_methods.join(",") };
        set(h, "access-control-allow-methods", methods);
        if !cors.allow_headers.is_empty() {
            set(h, "access-control-allow-headers", cors.allow_headers.join(","));
        } else if let Some(req) = headers.get("access-control-request-headers").and_then(|v| v.to_str().ok()) {
            set(h, "access-control-allow-headers", req.to_string());
        }
        if let Some(age) = cors.max_age {
            set(h, "access-control-max-age", age.to_string());
        }
        if cors.allow_credentials {
            set(h, "access-control-allow-credentials", "true".into());
        }
        h.insert("vary", HeaderValue::from_static("Origin"));
    }
    r
}

/// Adds the CORS response headers of an HTTP API to a function's response.
pub fn decorate(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let origin = request.get("origin").and_then(|v| v.to_str().ok());
    if origin.is_none() || response.contains_key("access-control-allow-origin") {
        return;
    }
    if let Some(Ok(v)) = allowed_origin(cors, origin).map(|o| HeaderValue::from_str(&o)) {
        response.insert("access-control-allow-origin", v);
        if cors.allow_credentials {
            response.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
        }
        if let Ok(v) = HeaderValue::from_str(&cors.expose_headers.join(",")) {
            if !cors.expose_headers.is_empty() {
                response.insert("access-control-expose-headers", v);
            }
        }
        response.append("vary", HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn preflight_answers_with_the_configured_policy() {
        let cors = Cors {
            allow_origins: vec!["https://app.example".into()],
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["Content-Type".into()],
            max_age: Some(600),
            ..Default::default()
        };
        let h = req(&[("origin", "https://app.example"), ("access-control-request-method", "POST")]);
        assert!(is_preflight("OPTIONS", &h));
        let r = preflight(&cors, &h, ApiKind::Http);
        assert_eq!(r.status(), 204);
        assert_eq!(preflight(&cors, &h, ApiKind::Rest).status(), 200, "REST: SAM's mock OPTIONS method answers 200");
        assert!(answers("OPTIONS", &HeaderMap::new(), ApiKind::Rest) && !answers("OPTIONS", &HeaderMap::new(), ApiKind::Http));
        assert_eq!(r.headers()["access-control-allow-origin"], "https://app.example");
        assert_eq!(r.headers()["access-control-allow-methods"], "GET,POST");
        assert_eq!(r.headers()["access-control-max-age"], "600");
        let other = preflight(&cors, &req(&[("origin", "https://evil.example"), ("access-control-request-method", "POST")]), ApiKind::Http);
        assert!(other.headers().get("access-control-allow-origin").is_none(), "unlisted origins get no grant");
    }

    #[test]
    fn http_api_responses_are_decorated_once() {
        let cors = Cors { allow_origins: vec!["*".into()], ..Default::default() };
        let mut resp = HeaderMap::new();
        decorate(&cors, &req(&[("origin", "https://x")]), &mut resp);
        assert_eq!(resp["access-control-allow-origin"], "*");
        let mut none = HeaderMap::new();
        decorate(&cors, &HeaderMap::new(), &mut none);
        assert!(none.is_empty(), "no Origin, no CORS headers");
    }
}
