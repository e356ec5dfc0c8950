//! The admin listener: `GET /metrics` (Prometheus text) and `GET /healthz`, plain HTTP/1.1, for
//! the operator's monitoring on loopback or a private interface.
//!
//! Owns: that small server and its two routes. Must not: serve the API (that is the public
//! listener, with TLS and auth) or compute metrics (the caller passes `render`).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Renders the metrics page.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves `/metrics` and `/healthz` on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, render: Render) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let render = render.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let render = render.clone();
                async move {
                    let (status, kind, body) = match (req.method().as_str(), req.uri().path()) {
                        ("GET", "/metrics") => (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", render()),
                        ("GET", "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_string()),
                        _ => (StatusCode::NOT_FOUND, "text/plain", "not found: /metrics and /healthz are served here\n".to_string()),
                    };
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    *r.status_mut() = status;
                    r.headers_mut().insert("content-type", http::HeaderValue::from_static(kind));
                    Ok::<_, std::convert::Infallible>(r)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn metrics_and_health_are_served_and_nothing_else() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, Arc::new(|| "esb_up 1\n".to_string())));
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200") && metrics.contains("version=0.0.4") && metrics.ends_with("esb_up 1\n"), "{metrics}");
        assert!(get(addr, "/healthz").await.ends_with("ok\n"));
        assert!(get(addr, "/user/auth/v1").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}
