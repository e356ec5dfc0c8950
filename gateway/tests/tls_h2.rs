//! The listener in-process: TLS with a generated certificate, HTTP/2 and HTTP/1.1 by ALPN, a
//! certificate the client does not trust refused, and graceful shutdown.

use async_trait::async_trait;
use bytes::Bytes;
use esb_actors::InvokeFailure;
use esb_config::model::{ApiKind, ApiSpec, Route, RoutingFile};
use esb_gateway::auth::{ApiKeys, Auth, Tokens, Users};
use esb_gateway::{Gateway, Invoker, Limits};
use esb_runtime::rie::{Invocation, Outcome};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::Duration;

struct Hello;

#[async_trait]
impl Invoker for Hello {
    async fn invoke(&self, _: &str, _: Bytes, _: &str) -> Option<Result<Invocation, InvokeFailure>> {
        Some(Ok(Invocation { body: Bytes::from_static(br#"{"hello":"h2"}"#), outcome: Outcome::Success, duration: Duration::ZERO }))
    }
    fn has(&self, _: &str) -> bool {
        true
    }
    async fn enqueue(&self, _: &str, _: String, _: &str) -> Result<String, esb_actors::events::EnqueueError> {
        Ok("id".into())
    }
}

fn client(
    cert_pem: &str,
    h2: bool,
) -> hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut cert_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let b = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only();
    let connector = if h2 { b.enable_http2().build() } else { b.enable_http1().build() };
    let mut builder = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
    builder.http2_only(h2);
    builder.build(connector)
}

#[tokio::test]
async fn serves_h2_and_http1_over_tls_and_drains_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = esb_gateway::secrets::Secrets::load_or_create(&dir.path().join("secrets"), &[]).unwrap();
    let tls = esb_gateway::tls::server_config(&secrets.tls_cert_pem, &secrets.tls_key_pem, "test").unwrap();
    let api =
        ApiSpec { kind: ApiKind::Http, stage: "$default".into(), authorizers: Default::default(), cors: None, binary_media_types: vec![] };
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
    let routing = RoutingFile { version: 1, apis: [("Api".to_string(), api)].into(), routes: vec![route] };
    let gateway = Arc::new(Gateway::new(
        esb_gateway::router::Router::new(&routing),
        Arc::new(Hello),
        Auth::new(Tokens::new(&secrets.signing_key_pem, "t").unwrap(), Users::default(), ApiKeys::new(&["k"])),
        Limits { shutdown_grace: Duration::from_secs(2), ..Limits::default() },
        None,
    ));
    let listener = esb_gateway::server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(esb_gateway::server::serve(listener, Some(tls), gateway, async move {
        let _ = stopped.await;
    }));
    let url: http::Uri = format!("https://localhost:{port}/hello").parse().unwrap();
    for (h2, version) in [(true, http::Version::HTTP_2), (false, http::Version::HTTP_11)] {
        let resp = client(&secrets.tls_cert_pem, h2)
            .request(http::Request::get(url.clone()).body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
        assert!(resp.headers().contains_key("x-amzn-trace-id"));
        assert_eq!(&resp.into_body().collect().await.unwrap().to_bytes()[..], br#"{"hello":"h2"}"#);
    }
    // A client that trusts another certificate refuses the connection.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem();
    assert!(client(&other, false).request(http::Request::get(url.clone()).body(Full::new(Bytes::new())).unwrap()).await.is_err());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("shutdown finishes within the grace period").unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the listener is closed");
}
