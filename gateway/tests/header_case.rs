//! A REST API event keeps the header names as an HTTP/1.x client spelled them (issue 23), through
//! bodies of both framings, pipelined requests and keep-alive; an HTTP/2 request's names are
//! lower-case, as HTTP/2 requires.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Splits HTTP/1.1 responses read off one connection into their JSON bodies (the events).
fn bodies(mut wire: &[u8]) -> Vec<Value> {
    let mut out = vec![];
    while let Some(end) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&wire[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no content-length in {head}"));
        let body = &wire[end + 4..end + 4 + len];
        out.push(serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body))));
        wire = &wire[end + 4 + len..];
    }
    out
}

fn names(event: &Value) -> Vec<String> {
    event["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default()
}

#[tokio::test]
async fn rest_events_keep_the_clients_header_case() {
    let g = common::start("127.0.0.1:0", esb_gateway::Limits::default()).await;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(common::tls_client(&g.cert_pem, &[b"http/1.1"])));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", g.port)).await.unwrap();
    let mut tls = connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();

    // Three pipelined requests in one write: a Content-Length body, a chunked body with a trailer,
    // and one without a body that closes the connection.
    let wire =
        "POST /rest/a HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Custom-Case: one\r\n\r\nHELLO\
PUT /rest/b HTTP/1.1\r\nhost: localhost\r\nTransfer-Encoding: chunked\r\nX-MiXeD: two\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n\
GET /rest/c HTTP/1.1\r\nHOST: localhost\r\nx-lower: three\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n";
    tls.write_all(wire.as_bytes()).await.unwrap();
    let mut got = vec![];
    tls.read_to_end(&mut got).await.unwrap();
    let events = bodies(&got);
    assert_eq!(events.len(), 3, "{}", String::from_utf8_lossy(&got));

    let (a, b, c) = (&events[0], &events[1], &events[2]);
    assert_eq!(a["body"], "HELLO");
    assert_eq!(a["headers"]["X-Custom-Case"], "one");
    assert_eq!(a["multiValueHeaders"]["X-Custom-Case"], serde_json::json!(["one"]));
    for name in ["Host", "Content-Type", "Content-Length", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"] {
        assert!(names(a).contains(&name.to_string()), "{name} in {:?}", names(a));
    }
    assert_eq!((b["body"].as_str(), b["headers"]["X-MiXeD"].as_str()), (Some("abc"), Some("two")));
    assert!(names(b).contains(&"host".to_string()), "{:?}", names(b));
    assert_eq!(c["headers"]["HOST"], "localhost");
    assert_eq!(c["headers"]["x-lower"], "three");
    assert_eq!(c["headers"]["X-Forwarded-For"], "10.1.2.3, 127.0.0.1", "the client's chain, with its address appended");
    assert!(names(c).iter().all(|n| !n.eq_ignore_ascii_case("x-custom-case")), "nothing of an earlier request: {:?}", names(c));

    // HTTP/2: every name arrives lower-case (HTTP/2 allows no other).
    let client = common::client(&g.cert_pem, true);
    let req = http::Request::get(g.url("/rest/h2")).header("X-Custom-Case", "h2").body(Full::new(Bytes::new())).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let e: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(e["headers"]["x-custom-case"], "h2", "{e}");
    g.shutdown().await;
}
