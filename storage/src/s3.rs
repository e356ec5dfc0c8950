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

/// What is wrong with a SigV4 credential scope, if anything: its region must be esb's, its service
/// `s3` and its date the request's (s3s checks the signature, not what it was made for).
/// Presigned URLs carry the scope in `X-Amz-Credential`.
fn scope_problem<B>(req: &hyper::Request<B>, region: &str) -> Option<String> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    let query = req.uri().query().unwrap_or_default();
    let param = |n: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(n).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| urlencoding::decode(v).ok())
            .map(|v| v.into_owned())
    };
    let (credential, date) = match header("authorization") {
        Some(a) => {
            let a = a.strip_prefix("AWS4-HMAC-SHA256 ")?.to_string();
            let c = a.split(',').find_map(|p| p.trim().strip_prefix("Credential=").map(str::to_string))?;
            (c, header("x-amz-date"))
        }
        None => (param("X-Amz-Credential")?, param("X-Amz-Date")),
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [_, day, signed_region, service, _] = parts[..] else {
        return Some("the credential scope must be <key>/<date>/<region>/s3/aws4_request".into());
    };
    if signed_region != region {
        // S3's own words for this.
        return Some(format!("the region '{signed_region}' is wrong; expecting '{region}'"));
    }
    if service != "s3" {
        return Some(format!("the credential scope names service `{service}`; this endpoint is s3"));
    }
    match date {
        Some(d) if d.len() >= 8 && d[..8] == *day => None,
        Some(d) => Some(format!("the credential scope's date {day} is not the request's date {d}")),
        None => None,
    }
}

/// Serves S3 from `root` on `listen` until `shutdown` resolves.
pub async fn serve(
    root: PathBuf,
    listen: SocketAddr,
    access_key: &str,
    secret_key: &str,
    region: &str,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StorageError> {
    let region: std::sync::Arc<str> = region.into();
    std::fs::create_dir_all(&root)?;
    let store = crate::objects::Store::open(&root).map_err(|e| StorageError::S3(format!("{}: {e}", root.display())))?;
    let log = crate::notify::Log::open(&root.join(".esb-notifications.jsonl"))?;
    let s3 = {
        let mut b = s3s::service::S3ServiceBuilder::new(crate::notify::Notifying::new(std::sync::Arc::new(store), log.clone()));
        b.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        b.build()
    };
    let secret: std::sync::Arc<[u8]> = secret_key.as_bytes().into();
    let closing = log.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let (s3, log, secret, region) = (s3.clone(), log.clone(), secret.clone(), region.clone());
        async move {
            if req.uri().path() != crate::notify::PATH {
                if let Some(problem) = scope_problem(&req, &region) {
                    let body = format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>{problem}</Message></Error>"
                    );
                    let mut r = hyper::Response::new(s3s::Body::from(body));
                    *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
                    return Ok(r);
                }
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
    // Long polls for notifications end now; requests in flight finish.
    closing.close();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => tracing::warn!("S3 connections still open after 10 s; closing"),
    }
    Ok(())
}
