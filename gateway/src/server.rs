//! The listener: TCP accept, TLS handshake, HTTP/1.1 and HTTP/2 connections, graceful shutdown.
//!
//! Owns: binding (with a hint when it fails), the connection limit, slow-client timeouts (TLS
//! handshake, request headers), HTTP/2 header-list limits, and shutdown: stop accepting, let every
//! connection finish its in-flight requests within [`crate::Limits::shutdown_grace`], then return.
//! Must not: look inside requests (the [`Gateway`] does).

use crate::{Gateway, GatewayError};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Binds `addr`, with a hint on failure.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr).await.map_err(|source| GatewayError::Bind { addr, source })
}

/// Serves `gateway` on `listener` (TLS when `tls` is set) until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let limits = gateway.limits.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size((limits.max_header_bytes * 2) as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, std::convert::Infallible>(gw.handle(req, peer).await) }
        });
        match &acceptor {
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let handshake_timeout = limits.handshake_timeout;
                tokio::spawn(async move {
                    let _permit = permit;
                    let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), service);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
            None => {
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let fut = graceful.watch(conn);
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = fut.await {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                });
            }
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("connections still open after the shutdown grace period; closing them"),
    }
}
