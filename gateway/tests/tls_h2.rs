//! The listener in-process: TLS with a generated certificate, HTTP/2 and HTTP/1.1 by ALPN, a
//! certificate the client does not trust refused, and graceful shutdown.

mod common;

use bytes::Bytes;
use common::client;
use esb_gateway::Limits;
use http_body_util::{BodyExt, Full};
use std::time::Duration;

#[tokio::test]
async fn serves_h2_and_http1_over_tls_and_drains_on_shutdown() {
    let g = common::start("127.0.0.1:0", Limits { shutdown_grace: Duration::from_secs(2), ..Limits::default() }).await;
    let (port, cert) = (g.port, g.cert_pem.clone());
    let url: http::Uri = format!("https://localhost:{port}/hello").parse().unwrap();
    for (h2, version) in [(true, http::Version::HTTP_2), (false, http::Version::HTTP_11)] {
        let resp = client(&cert, h2).request(http::Request::get(url.clone()).body(Full::new(Bytes::new())).unwrap()).await.unwrap();
        assert_eq!((resp.status().as_u16(), resp.version()), (200, version));
        assert!(resp.headers().contains_key("x-amzn-trace-id"));
        assert_eq!(&resp.into_body().collect().await.unwrap().to_bytes()[..], br#"{"hello":"h2"}"#);
    }
    // A client that trusts another certificate refuses the connection.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap().cert.pem();
    assert!(client(&other, false).request(http::Request::get(url.clone()).body(Full::new(Bytes::new())).unwrap()).await.is_err());
    g.shutdown().await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "the listener is closed");
}
