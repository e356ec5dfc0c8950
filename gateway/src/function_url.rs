//! Function URLs (`FunctionUrlConfig`): requests to `<id>.lambda-url.<host>` go to the URL's
//! function, every path and method, with the payload 2.0 event Lambda sends to function URLs.
//!
//! Owns: the URL's auth (`AWS_IAM`: SigV4 for `lambda`), CORS, and the event's URL fields. Must
//! not: match hosts (the router does) or map results (the handler's invoke path does).

use crate::event::{self, Caller, RequestParts};
use crate::handler::{read_body, Routes};
use crate::response::{gateway_error, Body};
use crate::{cors, Gateway};
use bytes::Bytes;
use esb_config::model::ApiKind;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

// === impl Gateway ===

impl Gateway {
    /// A request to a function URL: every path and method goes to its function with the payload
    /// 2.0 event Lambda sends to function URLs (`AuthType: AWS_IAM`: SigV4 for `lambda` with
    /// esb's credentials; CORS as configured).
    pub(crate) async fn function_url<B>(
        &self,
        routes: &Routes,
        url: &esb_config::model::FunctionUrl,
        req: Request<B>,
        peer: SocketAddr,
        request_id: &str,
        trace: &str,
    ) -> (Response<Body>, Option<String>)
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let function = url.function.clone();
        let method = req.method().as_str().to_string();
        if let Some(c) = &url.cors {
            if cors::is_preflight(&method, req.headers()) {
                return (cors::preflight(c, req.headers(), ApiKind::Http), None);
            }
        }
        let (parts, body) = req.into_parts();
        let body = match read_body(body, &self.limits).await {
            Ok(b) => b,
            Err(r) => return (r, Some(function)),
        };
        let mut caller = Caller::default();
        if url.iam {
            if let Some(creds) = &self.invoke_credentials {
                if let Err(e) = crate::sigv4::verify(&parts, &body, creds, "lambda", SystemTime::now()) {
                    tracing::info!(reason = %e, "function URL request refused");
                    let mut r = gateway_error(StatusCode::FORBIDDEN, e.error_type(), "Forbidden");
                    *r.body_mut() = Full::new(Bytes::from_static(br#"{"Message":"Forbidden"}"#));
                    return (r, Some(function));
                }
                caller.iam_access_key = Some(creds.access_key_id.clone());
            }
        }
        let source_ip = peer.ip().to_canonical().to_string();
        let headers = event::function_headers(&parts, &source_ip);
        let rp = RequestParts {
            method: &method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &headers,
            spelling: None,
            body: &body,
            source_ip,
            protocol: event::protocol(parts.version),
            request_id,
            time: SystemTime::now(),
        };
        let route = esb_config::model::Route {
            api: url.id.clone(),
            method: "ANY".into(),
            path: "$default".into(),
            function: function.clone(),
            payload_version: "2.0".into(),
            authorizer: None,
            api_key_required: false,
            timeout_ms: None,
            source: format!("{function}.FunctionUrl"),
        };
        let api = esb_config::model::ApiSpec::new(ApiKind::Http, "$default");
        let mut e = event::v2(&rp, &route, &api, &Default::default(), &caller);
        // What Lambda puts in a function URL's event: the URL id as the API id and domain prefix.
        e["requestContext"]["apiId"] = serde_json::json!(url.id);
        e["requestContext"]["domainPrefix"] = serde_json::json!(url.id);
        // A function URL waits for the function's own timeout (up to Lambda's 15 minutes).
        let timeout = Duration::from_secs(900);
        let mut response =
            self.invoke(routes.invoker.clone(), &function, ApiKind::Http, "2.0", Bytes::from(e.to_string()), trace, timeout).await;
        if let Some(c) = &url.cors {
            cors::decorate(c, &parts.headers, response.headers_mut());
        }
        (response, Some(function))
    }
}
