//! The built-in S3 server (`esb storage-s3`, run inside the storage container).
//!
//! Owns: serving the S3 API from a directory through [`crate::objects::Store`] (no key is a path;
//! each object written to a synced temp file and renamed, so a killed server never leaves a
//! half-written object), SigV4 authentication
//! with the local credentials functions are given, object-change notifications
//! ([`crate::notify`]: recorded in `<root>/.esb-notifications.jsonl`, served at
//! `/.esb/notifications` to holders of the secret key), TCP_NODELAY (streamed bodies otherwise wait on
//! delayed ACKs), and graceful shutdown on SIGTERM. Must not: know about projects or containers.
//! What it supports and does not (versioning, CORS, tagging are not implemented) is in docs/storage.md.

use crate::StorageError;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Serves S3 from `root` on `listen` until `shutdown` resolves.
pub async fn serve(
    root: PathBuf,
    listen: SocketAddr,
    access_key: &str,
    secret_key: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StorageError> {
    std::fs::create_dir_all(&root)?;
    let store = crate::objects::Store::open(&root).map_err(|e| StorageError::S3(format!("{}: {e}", root.display())))?;
    let log = crate::notify::Log::open(&root.join(".esb-notifications.jsonl"))?;
    let s3 = {
        let mut b = s3s::service::S3ServiceBuilder::new(crate::notify::Notifying::new(std::sync::Arc::new(store), log.clone()));
        b.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        b.build()
    };
    let secret: std::sync::Arc<[u8]> = secret_key.as_bytes().into();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (s3, log, secret) = (s3.clone(), log.clone(), secret.clone());
        async move {
            if req.uri().path() != crate::notify::PATH {
                return hyper::service::Service::call(&s3, req).await;
            }
            let presented = req.headers().get(crate::notify::KEY_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
            let (status, body) = if crate::notify::key_matches(presented, &secret) {
                (200, crate::notify::answer(&log, req.uri().query()).await)
            } else {
                (403, "{\"error\":\"the x-esb-key header must hold the S3 secret key\"}".to_string())
            };
            let mut r = hyper::Response::new(s3s::Body::from(body));
            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::FORBIDDEN);
            Ok::<_, s3s::HttpError>(r)
        }
    });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(addr = %listener.local_addr()?, root = %root.display(), "S3 server listening");
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (socket, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = socket.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(socket), service.clone()).into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => tracing::warn!("S3 connections still open after 10 s; closing"),
    }
    Ok(())
}
