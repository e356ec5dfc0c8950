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

#[tokio::test]
async fn the_invoke_api_answers_oversized_bodies_and_foreign_names_as_lambda_does() {
    let g = common::start("127.0.0.1:0", Limits::default()).await;
    for h2 in [false, true] {
        let client = client(&g.cert_pem, h2);
        let post = |path: &str, body: Vec<u8>| {
            let req = http::Request::post(g.url(path)).body(Full::new(Bytes::from(body))).unwrap();
            client.request(req)
        };
        // 8 MB: over Lambda's 6 MB, answered (not a reset connection) with Lambda's error.
        let resp = post("/2015-03-31/functions/F/invocations", vec![b' '; 8 * 1024 * 1024]).await.expect("an answer, not a reset");
        assert_eq!(resp.status(), 413);
        let text = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
        assert!(text.contains("RequestTooLargeException"), "{text}");
        for (name, status, kind) in [
            ("F", 200, ""),
            ("F:$LATEST", 200, ""),
            ("F:7", 404, "ResourceNotFoundException"),
            ("HelloFunction:EventsFunction", 404, "ResourceNotFoundException"),
            ("arn:aws:lambda:us-east-1:123456789012:function:F", 200, ""),
            ("arn:aws:lambda:us-east-1:999999999999:function:F", 404, "ResourceNotFoundException"),
            ("arn:aws:lambda:eu-west-1:123456789012:function:F", 404, "ResourceNotFoundException"),
            ("arn:aws:sqs:us-east-1:123456789012:function:F", 404, "ResourceNotFoundException"),
            ("a:b:c", 400, "ValidationException"),
        ] {
            let path = format!("/2015-03-31/functions/{}/invocations", urlencoding::encode(name));
            let resp = post(&path, b"{}".to_vec()).await.unwrap();
            let got = resp.status().as_u16();
            let text = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
            assert_eq!(got, status, "{name}: {text}");
            assert!(text.contains(kind), "{name}: {text}");
        }
    }
    g.shutdown().await;
}
