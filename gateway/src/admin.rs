//! The admin listener: `GET /metrics` (Prometheus text), `GET /healthz` (the process answers) and
//! `GET /readyz` (it can do its job: for a split gateway, the manager answers), plain HTTP/1.1, for
//! the operator's monitoring on loopback or a private interface.
//!
//! Owns: that small server and its routes. Must not: serve the API (that is the public listener,
//! with TLS and auth), compute metrics or decide readiness (the caller passes `render` and `ready`).

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Renders the metrics page.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Says whether the process can do its job now, or why not.
pub type Ready = Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Always ready (a process that is up can serve).
pub fn always_ready() -> Ready {
    Arc::new(|| Box::pin(async { Ok(()) }))
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, render: Render, ready: Ready) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (render, ready) = (render.clone(), ready.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (render, ready) = (render.clone(), ready.clone());
                async move {
                    let (status, kind, body) = match (req.method().as_str(), req.uri().path()) {
                        ("GET", "/metrics") => (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", render()),
                        ("GET", "/healthz") => (StatusCode::OK, "text/plain", "ok\n".to_string()),
                        ("GET", "/readyz") => match ready().await {
                            Ok(()) => (StatusCode::OK, "text/plain", "ready\n".to_string()),
                            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("not ready: {why}\n")),
                        },
                        _ => {
                            (StatusCode::NOT_FOUND, "text/plain", "not found: /metrics, /healthz and /readyz are served here\n".to_string())
                        }
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
    async fn metrics_health_and_readiness_are_served_and_nothing_else() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down: Ready = Arc::new(|| Box::pin(async { Err("the manager is unreachable".to_string()) }));
        let task = tokio::spawn(serve(listener, Arc::new(|| "esb_up 1\n".to_string()), down));
        let metrics = get(addr, "/metrics").await;
        assert!(metrics.starts_with("HTTP/1.1 200") && metrics.contains("version=0.0.4") && metrics.ends_with("esb_up 1\n"), "{metrics}");
        assert!(get(addr, "/healthz").await.ends_with("ok\n"));
        let ready = get(addr, "/readyz").await;
        assert!(ready.starts_with("HTTP/1.1 503") && ready.ends_with("not ready: the manager is unreachable\n"), "{ready}");
        assert!(get(addr, "/user/auth/v1").await.starts_with("HTTP/1.1 404"));
        task.abort();
    }
}
