//! One request, start to finish: the gateway's pipeline.
//!
//! Owns: the order of checks (trace id and request id; header size; built-in endpoints: login,
//! JWKS, health, Lambda Invoke API; CORS preflight; route match -> 404/405; body size -> 413 and
//! body time -> 408; authorizer -> 401; API key -> 403; event; invoke under the route's timeout ->
//! 504; response mapping; CORS decoration) and the per-request log span every line of a request is
//! logged in (`request_id`, `trace_id`). Must not: hold Docker handles or container state.

use crate::auth::Auth;
use crate::event::{self, Caller, RequestParts};
use crate::response::{self, gateway_error, no_route, Body};
use crate::router::{Match, Router};
use crate::trace::trace_id;
use crate::{cors, invoke_api, Invoker, Limits};
use bytes::Bytes;
use esb_actors::{AcquireError, InvokeFailure};
use esb_config::model::{ApiKind, Authorizer};
use esb_runtime::rie::{Outcome, TRACE_HEADER};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

/// Path of the login endpoint.
pub const LOGIN_PATH: &str = "/user/auth/v1";
/// Path of the JWKS document.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the health endpoint.
pub const HEALTH_PATH: &str = "/_esb/health";

/// What a hot reload replaces, together: the routes and the functions behind them.
pub struct Routes {
    /// The routes.
    pub router: Router,
    /// The function actors.
    pub invoker: Arc<dyn Invoker>,
}

/// Everything a request needs: routes, auth, the invoker, limits.
pub struct Gateway {
    /// The routes and functions; swapped whole by [`Gateway::reload`]. A request uses the set it
    /// started with to its end, so a reload never drops or splits a request.
    pub routes: arc_swap::ArcSwap<Routes>,
    /// Users, tokens, API keys; replaced whole on SIGHUP ([`Gateway::set_auth`]).
    pub auth: arc_swap::ArcSwap<Auth>,
    /// Request limits.
    pub limits: Limits,
    /// Credentials the Lambda Invoke API accepts (SigV4); `None` serves it without auth (loopback only).
    pub invoke_credentials: Option<crate::sigv4::Credentials>,
    /// esb's region: the only one a function ARN may name.
    pub region: String,
    /// Lambda authorizers' answers, per identity, for their TTL.
    pub lambda_auth: crate::lambda_auth::Cache,
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

fn header_bytes(headers: &http::HeaderMap) -> usize {
    headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
}

/// How much of an over-long body is read and thrown away before answering 413 (at least this, or
/// as much again as the limit), so a client that is still sending reads the answer instead of a
/// reset connection: a 7 MB Invoke API body got a TLS EOF when only 1 MB was drained (issue 19).
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads the body within the size and time limits.
pub(crate) async fn read_body<B>(body: B, limits: &Limits) -> Result<Bytes, Response<Body>>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    read_body_draining(body, limits, limits.max_body.max(DRAIN_LIMIT)).await
}

/// [`read_body`], reading up to `drain` bytes past the limit before the 413.
async fn read_body_draining<B>(body: B, limits: &Limits, drain: usize) -> Result<Bytes, Response<Body>>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_long = || gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLongException", "Request Too Long");
    // A declared length far over the limit is refused without reading anything.
    if body.size_hint().lower() as usize > limits.max_body + drain {
        return Err(too_long());
    }
    let read = async {
        let mut body = std::pin::pin!(body);
        let mut buf = bytes::BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!(error = %e.into(), "reading the request body failed");
                gateway_error(StatusCode::BAD_REQUEST, "BadRequestException", "Bad Request")
            })?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= limits.max_body {
                    buf.extend_from_slice(&data);
                } else if seen > limits.max_body + drain {
                    break;
                }
            }
        }
        if seen > limits.max_body {
            return Err(too_long());
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(limits.body_read_timeout, read).await {
        Err(_) => Err(gateway_error(StatusCode::REQUEST_TIMEOUT, "RequestTimeoutException", "Request Timeout")),
        Ok(r) => r,
    }
}

impl Gateway {
    /// A gateway serving `router` with `invoker`.
    pub fn new(
        router: Router,
        invoker: Arc<dyn Invoker>,
        auth: Auth,
        limits: Limits,
        invoke_credentials: Option<crate::sigv4::Credentials>,
    ) -> Self {
        Gateway {
            routes: arc_swap::ArcSwap::from_pointee(Routes { router, invoker }),
            auth: arc_swap::ArcSwap::from_pointee(auth),
            region: invoke_credentials.as_ref().map_or_else(|| esb_config::compile::DEFAULT_REGION.to_string(), |c| c.region.clone()),
            limits,
            invoke_credentials,
            lambda_auth: crate::lambda_auth::Cache::default(),
        }
    }

    /// The region function ARNs must name (the default is `us-east-1`, or the credentials' region).
    pub fn with_region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }

    /// Authenticates with `auth` from the next request on (new keys, users, a rotated signing key).
    pub fn set_auth(&self, auth: Auth) {
        self.auth.store(Arc::new(auth));
    }

    /// Serves `router` with `invoker` from the next request on; requests in flight finish as they began.
    pub fn reload(&self, router: Router, invoker: Arc<dyn Invoker>) {
        self.routes.store(Arc::new(Routes { router, invoker }));
    }

    /// Handles one request from `peer`.
    pub async fn handle<B>(self: Arc<Self>, req: Request<B>, peer: SocketAddr) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = uuid::Uuid::new_v4().to_string();
        let trace = trace_id(req.headers().get(TRACE_HEADER).and_then(|v| v.to_str().ok()));
        let span =
            tracing::info_span!("request", request_id = %request_id, trace_id = %trace, method = %req.method(), path = %req.uri().path());
        if let Some(parent) = crate::trace::exporting().then(|| crate::trace::otel_parent(&trace)).flatten() {
            // Without an OpenTelemetry layer installed this is a no-op.
            let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&span, parent);
        }
        async move {
            let routes = self.routes.load_full();
            let (mut response, function) = self.pipeline(&routes, req, peer, &request_id, &trace).await;
            let h = response.headers_mut();
            // An asynchronous invocation's 202 already names its event's request id.
            for (k, v) in [("x-amzn-requestid", request_id.as_str()), ("x-amzn-trace-id", trace.as_str())] {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.entry(k).or_insert(v);
                }
            }
            tracing::info!(
                status = response.status().as_u16(),
                function = function.as_deref().unwrap_or("-"),
                latency_us = started.elapsed().as_micros() as u64,
                "request"
            );
            response
        }
        .instrument(span)
        .await
    }

    async fn pipeline<B>(
        &self,
        routes: &Routes,
        req: Request<B>,
        peer: SocketAddr,
        request_id: &str,
        trace: &str,
    ) -> (Response<Body>, Option<String>)
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is a 400.
        if req.version() == http::Version::HTTP_11 && req.headers().get_all(http::header::HOST).iter().count() != 1 {
            return (gateway_error(StatusCode::BAD_REQUEST, "BadRequestException", "Bad Request: HTTP/1.1 needs one Host header"), None);
        }
        if header_bytes(req.headers()) > self.limits.max_header_bytes {
            return (
                gateway_error(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "RequestHeadersTooLargeException",
                    "Request Header Fields Too Large",
                ),
                None,
            );
        }
        let path = req.uri().path().to_string();
        let method = req.method().as_str().to_string();

        // A function URL's host (`<id>.lambda-url.<host>`; HTTP/2 names it in :authority).
        let host = req.headers().get(http::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
        let host = host.or_else(|| req.uri().authority().map(|a| a.to_string()));
        if let Some(url) = routes.router.function_url(host.as_deref()).cloned() {
            return self.function_url(routes, &url, req, peer, request_id, trace).await;
        }

        // Built-in endpoints.
        if let Some(function) = invoke_api::function_name(&path) {
            return (self.invoke_api(routes.invoker.clone(), req, trace).await, Some(function));
        }
        match (method.as_str(), path.as_str()) {
            ("POST", LOGIN_PATH) => {
                let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string);
                // A login's body is small; one up to the gateway's body limit is read and dropped,
                // so the client reads its 413.
                let limits = Limits { max_body: crate::auth::MAX_LOGIN_BODY, ..self.limits.clone() };
                let body = match read_body_draining(req.into_body(), &limits, self.limits.max_body).await {
                    Ok(b) => b,
                    Err(r) => return (r, None),
                };
                let answer = self.auth.load_full().login(key.as_deref(), &body, peer.ip()).await;
                let mut r = json(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &answer.body);
                r.headers_mut().insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
                return (r, None);
            }
            ("GET", JWKS_PATH) => return (json(StatusCode::OK, self.auth.load().tokens.jwks()), None),
            ("GET", HEALTH_PATH) => {
                return (json(StatusCode::OK, &serde_json::json!({ "status": "ok", "routes": routes.router.len() })), None)
            }
            _ => {}
        }

        // Route.
        let (route, params) = match routes.router.find(&method, &path) {
            Match::Found { route, params } => {
                if cors::answers(&method, req.headers(), route.api.kind) && route.route.method != "OPTIONS" {
                    if let Some(c) = &route.api.cors {
                        return (cors::preflight(c, req.headers(), route.api.kind), None);
                    }
                }
                (route, params)
            }
            Match::MethodNotAllowed { allowed, api } => {
                if cors::answers(&method, req.headers(), api.kind) {
                    if let Some(c) = &api.cors {
                        return (cors::preflight(c, req.headers(), api.kind), None);
                    }
                }
                // API Gateway has no 405: a method a REST resource lacks is its 403 "Missing
                // Authentication Token", an HTTP API's is 404. The methods there are logged.
                tracing::debug!(allowed = %allowed.join(", "), "no route for this method");
                return (no_route(api.kind), None);
            }
            Match::NotFound => {
                if let Some(u) = routes.router.unavailable(&method, &path) {
                    // The template routes this to a function esb left out: say which and why.
                    let message =
                        format!("Not Found: {} {} is function {}, which esb cannot run here: {}", u.method, u.path, u.function, u.reason);
                    return (gateway_error(StatusCode::NOT_FOUND, "NotFoundException", &message), Some(u.function.clone()));
                }
                let kind = if routes.router.only_http_apis() { ApiKind::Http } else { ApiKind::Rest };
                return (no_route(kind), None);
            }
        };
        let function = route.route.function.clone();
        let kind = route.api.kind;

        // Authorizer, then API key (API Gateway's order).
        let mut caller = Caller::default();
        let mut iam = false;
        if let Some(name) = &route.route.authorizer {
            match route.api.authorizers.get(name) {
                Some(auth @ (Authorizer::Cognito { header } | Authorizer::Jwt { header, .. })) => {
                    let value = req.headers().get(header.as_str()).and_then(|v| v.to_str().ok());
                    let id_only = matches!(auth, Authorizer::Cognito { .. });
                    match self.auth.load().bearer(value, id_only) {
                        Ok(c) => caller = c,
                        Err(e) => {
                            tracing::info!(reason = %e, "unauthorized");
                            return (gateway_error(StatusCode::UNAUTHORIZED, "UnauthorizedException", "Unauthorized"), Some(function));
                        }
                    }
                }
                // Checked once the body is read: a SigV4 signature covers it.
                Some(Authorizer::Iam) => iam = true,
                Some(lambda @ Authorizer::Lambda { function: Some(_), .. }) => {
                    let query = req.uri().query().map(str::to_string);
                    let rp = RequestParts {
                        method: &method,
                        path: &path,
                        query: query.as_deref(),
                        headers: req.headers(),
                        spelling: req.extensions().get(),
                        body: b"",
                        source_ip: peer.ip().to_canonical().to_string(),
                        protocol: event::protocol(req.version()),
                        request_id,
                        time: SystemTime::now(),
                    };
                    let ask =
                        crate::lambda_auth::Ask { name, authorizer: lambda, route, req: &rp, params: &params, region: &self.region, trace };
                    match crate::lambda_auth::authorize(&self.lambda_auth, routes.invoker.clone(), ask).await {
                        Ok(l) => caller.lambda = Some(l),
                        Err(r) => return (r, Some(function)),
                    }
                }
                other => {
                    // Lambda authorizers are not run by esb yet: refuse rather than let callers through.
                    tracing::warn!(authorizer = %name, kind = ?other.map(std::mem::discriminant), "route's authorizer is not supported by esb; refused");
                    return (gateway_error(StatusCode::FORBIDDEN, "AccessDeniedException", "Forbidden"), Some(function));
                }
            }
        }
        if route.route.api_key_required {
            let key = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
            if !self.auth.load().api_keys.check(key) {
                return (gateway_error(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"), Some(function));
            }
            caller.api_key = key.map(str::to_string);
        }

        let (parts, body) = req.into_parts();
        let body = match read_body(body, &self.limits).await {
            Ok(b) => b,
            Err(r) => return (r, Some(function)),
        };
        // AWS_IAM: a SigV4 signature for `execute-api` made with esb's credentials, as API Gateway
        // checks it (its messages and 403s). Without credentials (plain HTTP on loopback) the route
        // is served unsigned, as the Lambda Invoke API is there.
        if iam {
            if let Some(creds) = &self.invoke_credentials {
                if let Err(e) = crate::sigv4::verify(&parts, &body, creds, "execute-api", SystemTime::now()) {
                    tracing::info!(reason = %e, "AWS_IAM route refused");
                    return (gateway_error(StatusCode::FORBIDDEN, e.error_type(), &e.to_string()), Some(function));
                }
                caller.iam_access_key = Some(creds.access_key_id.clone());
            }
        }
        let source_ip = peer.ip().to_canonical().to_string();
        let headers = event::function_headers(&parts, &source_ip);
        let rp = RequestParts {
            method: &method,
            path: &path,
            query: parts.uri.query(),
            headers: &headers,
            spelling: parts.extensions.get(),
            body: &body,
            source_ip,
            protocol: event::protocol(parts.version),
            request_id,
            time: SystemTime::now(),
        };
        let event = if route.route.payload_version == "2.0" {
            event::v2(&rp, &route.route, &route.api, &params, &caller)
        } else {
            event::v1(&rp, &route.route, &route.api, &params, &caller)
        };
        let timeout = route.route.timeout_ms.map(|ms| Duration::from_millis(ms as u64)).unwrap_or(self.limits.route_timeout);
        let mut response = self
            .invoke(routes.invoker.clone(), &function, kind, &route.route.payload_version, Bytes::from(event.to_string()), trace, timeout)
            .await;
        if kind == ApiKind::Http {
            if let Some(c) = &route.api.cors {
                cors::decorate(c, &parts.headers, response.headers_mut());
            }
            if let Ok(v) = HeaderValue::from_str(request_id) {
                response.headers_mut().insert("apigw-requestid", v);
            }
        }
        (response, Some(function))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn invoke(
        &self,
        invoker: Arc<dyn Invoker>,
        function: &str,
        kind: ApiKind,
        version: &str,
        payload: Bytes,
        trace: &str,
        timeout: Duration,
    ) -> Response<Body> {
        let (f, t) = (function.to_string(), trace.to_string());
        // The invocation runs to its end even when the gateway stops waiting (as in AWS, the function
        // keeps running after a 504), so the container is released healthy and stays warm.
        let task = tokio::spawn(async move { invoker.invoke(&f, payload, &t).await }.in_current_span());
        let result = match tokio::time::timeout(timeout, task).await {
            Err(_) => {
                tracing::warn!(timeout_ms = timeout.as_millis() as u64, "integration timed out");
                return response::integration_timeout(kind);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "invocation task failed");
                return response::integration_failure(kind);
            }
            Ok(Ok(None)) => {
                tracing::error!(function, "the route's function is not running (was its image built?)");
                return response::integration_failure(kind);
            }
            Ok(Ok(Some(r))) => r,
        };
        match result {
            Ok(inv) => match &inv.outcome {
                Outcome::Success => match response::from_result(version, &inv.body) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "malformed Lambda proxy response");
                        response::integration_failure(kind)
                    }
                },
                Outcome::FunctionError { error_type, error_message } => {
                    tracing::warn!(error_type, error_message, "function error");
                    response::integration_failure(kind)
                }
                Outcome::Timeout { message } => {
                    tracing::warn!(message, "function timed out");
                    response::integration_failure(kind)
                }
            },
            Err(InvokeFailure::Acquire(e @ (AcquireError::Throttled { .. } | AcquireError::GlobalLimit { .. }))) => {
                tracing::warn!(error = %e, "throttled");
                gateway_error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", "Too Many Requests")
            }
            Err(e @ (InvokeFailure::Acquire(AcquireError::Stopping { .. }) | InvokeFailure::Unavailable(_))) => {
                tracing::warn!(error = %e, "function unavailable");
                gateway_error(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableException", "Service Unavailable")
            }
            Err(e) => {
                tracing::error!(error = %e, "invocation failed");
                response::integration_failure(kind)
            }
        }
    }

    async fn invoke_api<B>(&self, invoker: Arc<dyn Invoker>, req: Request<B>, trace: &str) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        let limits = Limits { max_body: invoke_api::MAX_PAYLOAD, ..self.limits.clone() };
        let body = match read_body(body, &limits).await {
            Ok(b) => b,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return invoke_api::error(StatusCode::PAYLOAD_TOO_LARGE, "RequestTooLargeException", "request payload exceeds 6 MB")
            }
            Err(r) => return r,
        };
        if let Some(creds) = &self.invoke_credentials {
            if let Err(e) = crate::sigv4::verify(&parts, &body, creds, "lambda", SystemTime::now()) {
                tracing::info!(reason = %e, "Lambda Invoke API request refused");
                return invoke_api::error(StatusCode::FORBIDDEN, e.error_type(), &e.to_string());
            }
        }
        invoke_api::handle(invoker, &parts, body, trace, &self.region).await
    }
}
