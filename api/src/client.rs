//! The client side of the manager socket: typed calls over pooled HTTP/1.1 connections.
//!
//! Owns: connecting to the unix socket, keeping a few idle connections, turning answers into
//! [`Answer`]s. Must not: retry (the caller decides; an acquire is not idempotent) or know what a
//! lease means (that is [`crate::remote`]).

use crate::{AcquireRequest, ApiError, ClaimRequest, Claimed, Granted, Hello, ReleaseRequest, VERSION};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept for reuse.
const POOL: usize = 32;

/// What a call came back with.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The manager answered with a refusal.
    #[error(transparent)]
    Refused(#[from] ApiError),
    /// The manager could not be reached (not running, restarting) or broke off: nothing was done,
    /// or for a release, maybe.
    #[error("the manager at {path} is unreachable: {why}")]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// A client for one manager socket; cheap to share behind an `Arc`.
pub struct Client {
    path: PathBuf,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    timeout: Duration,
}

impl Client {
    /// A client for the socket at `path`; `timeout` bounds each call (an acquire waits in the
    /// function's queue, so it must cover the queue timeout and a cold start).
    pub fn new(path: impl Into<PathBuf>, timeout: Duration) -> Self {
        Client { path: path.into(), idle: Mutex::new(Vec::new()), timeout }
    }

    /// The socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> CallError {
        CallError::Unreachable { path: self.path.clone(), why: why.to_string() }
    }

    async fn connection(&self) -> Result<SendRequest<Full<Bytes>>, CallError> {
        loop {
            let pooled = self.idle.lock().map(|mut p| p.pop()).unwrap_or(None);
            match pooled {
                Some(s) if !s.is_closed() => return Ok(s),
                Some(_) => continue,
                None => break,
            }
        }
        let stream = tokio::net::UnixStream::connect(&self.path).await.map_err(|e| self.unreachable(e))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(send)
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<T, CallError> {
        let exchange = async {
            let mut send = self.connection().await?;
            send.ready().await.map_err(|e| self.unreachable(e))?;
            let request = hyper::Request::builder()
                .method(method)
                .uri(format!("/v{VERSION}{path}"))
                .header("host", "esb-manager")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| self.unreachable(e))?;
            let response = send.send_request(request).await.map_err(|e| self.unreachable(e))?;
            let status = response.status();
            let bytes = response.into_body().collect().await.map_err(|e| self.unreachable(e))?.to_bytes();
            if let Ok(mut idle) = self.idle.lock() {
                if idle.len() < POOL {
                    idle.push(send);
                }
            }
            if status.is_success() {
                let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                serde_json::from_slice(body).map_err(|e| self.unreachable(format!("unreadable answer: {e}")))
            } else {
                match serde_json::from_slice::<ApiError>(&bytes) {
                    Ok(e) => Err(CallError::Refused(e)),
                    Err(_) => Err(self.unreachable(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)))),
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| self.unreachable(format!("no answer in {:?}", self.timeout)))?
    }

    fn json(value: &impl Serialize) -> Option<Vec<u8>> {
        serde_json::to_vec(value).ok()
    }

    /// Who the manager is; refuses a manager that speaks another version.
    pub async fn hello(&self) -> Result<Hello, CallError> {
        let hello: Hello = self.call("GET", "/hello", None).await?;
        if hello.version != VERSION {
            return Err(self
                .unreachable(format!("it speaks manager API v{}, this esb v{VERSION}; run the same esb version on both", hello.version)));
        }
        Ok(hello)
    }

    /// A lease on a container of `req.function`.
    pub async fn acquire(&self, req: &AcquireRequest) -> Result<Granted, CallError> {
        self.call("POST", "/acquire", Self::json(req)).await
    }

    /// Gives a lease back.
    pub async fn release(&self, req: &ReleaseRequest) -> Result<(), CallError> {
        self.call::<Option<()>>("POST", "/release", Self::json(req)).await.map(|_| ())
    }

    /// Hands an asynchronous invocation to the manager's event queue.
    pub async fn enqueue(&self, req: &crate::EnqueueRequest) -> Result<crate::Enqueued, CallError> {
        self.call("POST", "/enqueue", Self::json(req)).await
    }

    /// A leased container's output (RIE says there why a runtime failed).
    pub async fn explain(&self, req: &crate::ExplainRequest) -> Result<crate::Explained, CallError> {
        self.call("POST", "/explain", Self::json(req)).await
    }

    /// Re-leases in-flight containers after a manager restart.
    pub async fn claim(&self, req: &ClaimRequest) -> Result<Claimed, CallError> {
        self.call("POST", "/claim", Self::json(req)).await
    }
}
