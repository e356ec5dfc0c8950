//! Connections that send nothing cannot hold the gateway (issue 19): every phase is bounded (TLS
//! handshake, first request, keep-alive idle for HTTP/1.1 and HTTP/2, the latter even when the
//! client answers pings), one client address gets a share of the slots, and when every slot is
//! taken the longest-idle connection makes room. The floods measure good traffic while they run.

mod common;

use bytes::Bytes;
use esb_gateway::Limits;
use http_body_util::{BodyExt, Full};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect_from(source: &str, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0)).unwrap();
    socket.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap()
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_from(source: &str, port: u16, cert: &str, alpn: &[&[u8]]) -> std::io::Result<Tls> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(common::tls_client(cert, alpn)));
    let tcp = connect_from(source, port).await;
    connector.connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp).await
}

/// How long until the server closes `io` (reading and discarding what it sends).
async fn closed_after<R: tokio::io::AsyncRead + Unpin>(mut io: R, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

fn short() -> Limits {
    Limits {
        handshake_timeout: Duration::from_millis(400),
        first_request_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(600),
        shutdown_grace: Duration::from_secs(2),
        ..Limits::default()
    }
}

#[tokio::test]
async fn every_phase_of_a_silent_connection_is_bounded() {
    let g = common::start("127.0.0.1:0", short()).await;
    // No TLS handshake at all.
    let raw = connect_from("127.0.0.1", g.port).await;
    let t = closed_after(raw, Duration::from_secs(5)).await.expect("a connection that never handshakes is closed");
    assert!(t >= Duration::from_millis(300), "{t:?}");
    // TLS done, no request (HTTP/1.1 and HTTP/2 by ALPN: the version detection waits for bytes).
    for alpn in [&b"http/1.1"[..], b"h2"] {
        let tls = tls_from("127.0.0.1", g.port, &g.cert_pem, &[alpn]).await.unwrap();
        let t = closed_after(tls, Duration::from_secs(5)).await;
        assert!(t.is_some_and(|t| t >= Duration::from_millis(300)), "no first request over {alpn:?}: closed after {t:?}");
    }
    // HTTP/1.1 keep-alive after one request.
    let mut tls = tls_from("127.0.0.1", g.port, &g.cert_pem, &[b"http/1.1"]).await.unwrap();
    tls.write_all(b"GET /hello HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let t = closed_after(tls, Duration::from_secs(5)).await;
    assert!(t.is_some_and(|t| t >= Duration::from_millis(400)), "keep-alive idle: {t:?}");
    // HTTP/2 with the client pinging every 100 ms: pings are not requests.
    let tls = tls_from("127.0.0.1", g.port, &g.cert_pem, &[b"h2"]).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Duration::from_millis(100))
        .keep_alive_while_idle(true)
        .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let resp = send.send_request(http::Request::get(g.url("/hello")).body(Full::new(Bytes::new())).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn).await.expect("an h2 connection that only pings is closed").unwrap().ok();
    assert!(start.elapsed() >= Duration::from_millis(400), "{:?}", start.elapsed());
    g.shutdown().await;
}

#[tokio::test]
async fn one_client_address_gets_a_share_and_a_newcomer_evicts_the_longest_idle() {
    let limits = Limits {
        max_connections: 8,
        max_connections_per_client: 3,
        handshake_timeout: Duration::from_secs(60),
        first_request_timeout: Duration::from_secs(60),
        ..short()
    };
    let g = common::start("127.0.0.1:0", limits).await;
    // 127.0.0.2 opens 6: three are kept, three are closed at once.
    let mut kept = vec![];
    let mut refused = 0;
    for _ in 0..6 {
        let mut tcp = connect_from("127.0.0.2", g.port).await;
        let mut b = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => refused += 1,
            _ => kept.push(tcp),
        }
    }
    assert_eq!((kept.len(), refused), (3, 3), "a client address holds at most its share");
    // Five more idle addresses fill the other slots; good clients still get through, each
    // newcomer closing the connection idle the longest.
    let mut idle = vec![];
    for src in ["127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"] {
        idle.push(connect_from(src, g.port).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let client = common::client(&g.cert_pem, false);
    for i in 0..10 {
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            client.request(http::Request::get(g.url("/hello")).body(Full::new(Bytes::new())).unwrap()),
        )
        .await
        .unwrap_or_else(|_| panic!("request {i} timed out"))
        .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let first = kept.remove(0);
    assert!(closed_after(first, Duration::from_secs(2)).await.is_some(), "the longest-idle connection was evicted");
    g.shutdown().await;
}

/// Good requests, each on a new connection (as a fresh client would), while a flood runs:
/// (succeeded, p50).
async fn good_traffic(g: &common::Running, n: usize) -> (usize, Duration) {
    let mut ok = 0;
    let mut times = vec![];
    for _ in 0..n {
        let client = common::client(&g.cert_pem, false);
        let start = Instant::now();
        let req = client.request(http::Request::get(g.url("/hello")).body(Full::new(Bytes::new())).unwrap());
        if let Ok(Ok(resp)) = tokio::time::timeout(Duration::from_secs(8), req).await {
            if resp.status() == 200 && resp.into_body().collect().await.is_ok() {
                ok += 1;
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    (ok, times[times.len() / 2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_flood_of_1100_connections_fails_no_good_request() {
    let g = common::start("127.0.0.1:0", Limits::default()).await;
    let (_, baseline) = good_traffic(&g, 50).await;
    // 1,100 idle TLS connections from eight addresses, each within its share: together more than
    // the 1,024 slots.
    let mut flood = vec![];
    for i in 0..1100 {
        let src = format!("127.0.0.{}", 2 + i % 8);
        if let Ok(tls) = tls_from(&src, g.port, &g.cert_pem, &[b"h2"]).await {
            flood.push(tls);
        }
    }
    let (ok, p50) = good_traffic(&g, 200).await;
    eprintln!("idle flood: {} flood connections opened, good traffic {ok}/200, p50 {p50:?} (no flood: {baseline:?})", flood.len());
    assert_eq!(ok, 200, "no good request fails during the flood");
    drop(flood);
    g.shutdown().await;
}

/// An HTTP/2 request's HEADERS for `stream`, then its RST_STREAM (CVE-2023-44487's pattern).
fn headers_then_reset(stream: u32) -> Vec<u8> {
    let mut block = vec![0x82, 0x87]; // :method GET, :scheme https (HPACK static table)
    block.extend([0x04, 6]);
    block.extend(b"/hello"); // :path, literal without indexing
    block.extend([0x01, 9]);
    block.extend(b"localhost"); // :authority
    let mut out = Vec::new();
    let frame = |out: &mut Vec<u8>, kind: u8, flags: u8, payload: &[u8]| {
        let len = payload.len() as u32;
        out.extend(&len.to_be_bytes()[1..]);
        out.extend([kind, flags]);
        out.extend(stream.to_be_bytes());
        out.extend(payload);
    };
    frame(&mut out, 0x1, 0x5, &block); // HEADERS, END_STREAM | END_HEADERS
    frame(&mut out, 0x3, 0x0, &8u32.to_be_bytes()); // RST_STREAM CANCEL
    out
}

async fn rapid_reset(port: u16, cert: String, src: String, stop: Arc<std::sync::atomic::AtomicBool>) -> usize {
    let mut streams = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(mut tls) = tls_from(&src, port, &cert, &[b"h2"]).await else { continue };
        let mut burst = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        burst.extend([0, 0, 0, 0x4, 0, 0, 0, 0, 0]); // SETTINGS
        for i in 0..500u32 {
            burst.extend(headers_then_reset(1 + 2 * i));
        }
        if tls.write_all(&burst).await.is_ok() {
            streams += 500;
        }
        let _ = closed_after(tls, Duration::from_millis(500)).await;
    }
    streams
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_rapid_reset_flood_fails_no_good_request() {
    let g = common::start("127.0.0.1:0", Limits::default()).await;
    let (_, baseline) = good_traffic(&g, 50).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> =
        (0..4).map(|i| tokio::spawn(rapid_reset(g.port, g.cert_pem.clone(), format!("127.0.0.{}", 2 + i), stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, p50) = good_traffic(&g, 200).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for a in attackers {
        sent += a.await.unwrap();
    }
    eprintln!("rapid reset: {sent} streams opened and reset, good traffic {ok}/200, p50 {p50:?} (no flood: {baseline:?})");
    assert!(sent > 0, "the flood ran");
    assert_eq!(ok, 200, "no good request fails during the flood");
    g.shutdown().await;
}

async fn failing_logins(port: u16, cert: String, src: String, stop: Arc<std::sync::atomic::AtomicBool>) -> (usize, usize) {
    let (mut hashed, mut throttled) = (0, 0);
    let huge = "u".repeat(2 * 1024 * 1024);
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(mut tls) = tls_from(&src, port, &cert, &[b"http/1.1"]).await else { continue };
        // Alternate huge fields (refused before parsing) and wrong passwords (hashed).
        let user = if i % 2 == 0 { huge.clone() } else { format!("user{i}") };
        i += 1;
        let body = serde_json::json!({ "AuthParameters": { "USERNAME": user, "PASSWORD": "wrong" } }).to_string();
        let req = format!(
            "POST /user/auth/v1 HTTP/1.1\r\nhost: localhost\r\nx-api-key: k\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = tls.write_all(req.as_bytes()).await;
        let _ = tls.write_all(body.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        if answer.starts_with("HTTP/1.1 401") {
            hashed += 1;
        } else if answer.starts_with("HTTP/1.1 429") {
            throttled += 1;
        }
    }
    (hashed, throttled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_with_huge_fields_never_stall_other_routes() {
    let g = common::start("127.0.0.1:0", Limits::default()).await;
    let (_, baseline) = good_traffic(&g, 50).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> =
        (0..8).map(|i| tokio::spawn(failing_logins(g.port, g.cert_pem.clone(), format!("127.0.0.{}", 10 + i), stop.clone()))).collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, p50) = good_traffic(&g, 100).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut hashed, mut throttled) = (0, 0);
    for a in attackers {
        let (h, t) = a.await.unwrap();
        hashed += h;
        throttled += t;
    }
    eprintln!(
        "8 failing login loops: {hashed} hashed, {throttled} throttled; good traffic {ok}/100, p50 {p50:?} (no logins: {baseline:?})"
    );
    assert!(hashed > 0, "the logins ran");
    assert_eq!(ok, 100, "no good request fails while logins hash");
    g.shutdown().await;
}

#[tokio::test]
async fn an_http_1_0_request_without_host_gets_a_complete_http_1_response() {
    let g = common::start("127.0.0.1:0", short()).await;
    let mut tls = tls_from("127.0.0.1", g.port, &g.cert_pem, &[b"http/1.1"]).await.unwrap();
    tls.write_all(b"GET /hello HTTP/1.0\r\n\r\n").await.unwrap();
    // HTTP/1.0 without keep-alive: the answer ends with the connection.
    let mut got = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\r\n\r\n") && text.len() > text.find("\r\n\r\n").unwrap() + 4, "a body follows the head: {text}");
}
