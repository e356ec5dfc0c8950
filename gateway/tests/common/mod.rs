//! An in-process gateway over TLS with two routes and functions that answer at once, and clients
//! for it: what the listener tests share. `GET /hello` (an HTTP API) answers `{"hello":"h2"}`;
//! `ANY /rest/{proxy+}` (a REST API) answers with the event it was given as its body.
#![allow(dead_code)]

use async_trait::async_trait;
use bytes::Bytes;
use esb_actors::InvokeFailure;
use esb_config::model::{ApiKind, ApiSpec, Route, RoutingFile};
use esb_gateway::auth::{ApiKeys, Auth, Tokens, Users};
use esb_gateway::{Gateway, Invoker, Limits};
use esb_runtime::rie::{Invocation, Outcome};
use http_body_util::Full;
use std::sync::Arc;
use std::time::Duration;

struct Hello;

#[async_trait]
impl Invoker for Hello {
    async fn invoke(&self, function: &str, event: Bytes, _: &str) -> Option<Result<Invocation, InvokeFailure>> {
        let body = match function {
            "Echo" => Bytes::from(serde_json::json!({"statusCode": 200, "body": String::from_utf8_lossy(&event)}).to_string()),
            _ => Bytes::from_static(br#"{"hello":"h2"}"#),
        };
        Some(Ok(Invocation { body, outcome: Outcome::Success, duration: Duration::ZERO }))
    }
    fn has(&self, _: &str) -> bool {
        true
    }
    async fn enqueue(&self, _: &str, _: String, _: &str) -> Result<String, esb_actors::events::EnqueueError> {
        Ok("id".into())
    }
}

pub type Client =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>;

/// A rustls client config trusting `cert_pem`.
pub fn tls_client(cert_pem: &str, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tls
}

pub fn client(cert_pem: &str, h2: bool) -> Client {
    let b = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls_client(cert_pem, &[])).https_only();
    let connector = if h2 { b.enable_http2().build() } else { b.enable_http1().build() };
    let mut builder = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    builder.http2_only(h2);
    builder.build(connector)
}

/// A running gateway.
pub struct Running {
    pub port: u16,
    pub cert_pem: String,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// Starts the gateway on `bind` (port 0) with `limits`.
pub async fn start(bind: &str, limits: Limits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let secrets = esb_gateway::secrets::Secrets::load_or_create(&dir.path().join("secrets"), &[]).unwrap();
    let tls = esb_gateway::tls::server_config(&secrets.tls_cert_pem, &secrets.tls_key_pem, "test").unwrap();
    let api = ApiSpec::new(ApiKind::Http, "$default");
    let route = Route {
        api: "Api".into(),
        method: "GET".into(),
        path: "/hello".into(),
        function: "F".into(),
        payload_version: "2.0".into(),
        authorizer: None,
        api_key_required: false,
        timeout_ms: None,
        source: "F.E".into(),
    };
    let echo = Route {
        api: "Rest".into(),
        method: "ANY".into(),
        path: "/rest/{proxy+}".into(),
        function: "Echo".into(),
        payload_version: "1.0".into(),
        source: "Echo.E".into(),
        ..route.clone()
    };
    let apis = [("Api".to_string(), api), ("Rest".to_string(), ApiSpec::new(ApiKind::Rest, "Prod"))].into();
    let routing = RoutingFile { version: 1, apis, routes: vec![route, echo], ..Default::default() };
    let gateway = Arc::new(Gateway::new(
        esb_gateway::router::Router::new(&routing),
        Arc::new(Hello),
        Auth::new(Tokens::new(&secrets.signing_key_pem, "t").unwrap(), Users::default(), ApiKeys::new(&["k"])),
        limits,
        None,
    ));
    let listener = esb_gateway::server::bind(bind.parse().unwrap()).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(esb_gateway::server::serve(listener, Some(tls), gateway, async move {
        let _ = stopped.await;
    }));
    Running { port, cert_pem: secrets.tls_cert_pem.clone(), stop: Some(stop), server, _dir: dir }
}

impl Running {
    pub fn url(&self, path: &str) -> http::Uri {
        format!("https://localhost:{}{path}", self.port).parse().unwrap()
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(Duration::from_secs(10), self.server).await.expect("shutdown finishes within the grace period").unwrap();
    }
}
