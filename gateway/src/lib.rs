//! esb-gateway: esb's public surface, an API-Gateway-compatible HTTPS server.
//!
//! A request flows `server` (TLS, HTTP/1.1 + HTTP/2, connection limits) -> `handler` (trace id,
//! limits, built-in endpoints, CORS preflight, `router`, `auth`, `event`) -> an [`Invoker`] (the
//! function actors) -> `response` (Lambda result -> HTTP). The gateway holds no Docker handle:
//! invocations go to function actors through `esb_actors::FunctionHandle`. Secrets (TLS key, token
//! signing key, API key, admin password) are generated on first start by `secrets`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod cors;
pub mod event;
mod function_url;
pub mod handler;
#[cfg(test)]
mod handler_tests;
pub mod header_case;
pub mod invoke_api;
pub mod lambda_auth;
pub mod response;
pub mod router;
pub mod secrets;
pub mod server;
pub mod sigv4;
pub mod tls;
pub mod trace;

use async_trait::async_trait;
use bytes::Bytes;
use esb_actors::events::EnqueueError;
use esb_actors::{FunctionHandle, InvokeFailure};
use esb_runtime::rie::Invocation;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use handler::Gateway;

/// Errors of the gateway crate.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Certificates and keys.
    #[error("TLS: {0}")]
    Tls(String),
    /// Users, passwords, tokens.
    #[error("auth: {0}")]
    Auth(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl GatewayError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            GatewayError::Bind { addr, source } if source.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
                "ports below 1024 need root or CAP_NET_BIND_SERVICE (sudo setcap cap_net_bind_service=+ep \"$(command -v esb)\"), or listen on another port: --listen {}:8443",
                addr.ip()
            )),
            GatewayError::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => Some(format!(
                "another process listens on port {}: find it with `ss -ltnp 'sport = :{}'`, stop it, or use --listen with another port",
                addr.port(),
                addr.port()
            )),
            GatewayError::Tls(_) => Some("gateway.tls_cert and gateway.tls_key in generator.yml must be a PEM certificate chain and its key".into()),
            _ => None,
        }
    }
}

/// Runs functions for the gateway: the seam between HTTP and the function actors.
#[async_trait]
pub trait Invoker: Send + Sync + 'static {
    /// Invokes `function` (logical id or FunctionName); `None` when no such function runs.
    async fn invoke(&self, function: &str, payload: Bytes, trace_id: &str) -> Option<Result<Invocation, InvokeFailure>>;
    /// True when `function` is running.
    fn has(&self, function: &str) -> bool;
    /// Accepts an asynchronous invocation of `function` (journaled before this returns); answers
    /// its request id.
    async fn enqueue(&self, function: &str, payload: String, trace_id: &str) -> Result<String, EnqueueError>;
}

/// Function handles by every name they answer to (logical id and FunctionName).
pub type Functions = BTreeMap<String, FunctionHandle>;

#[async_trait]
impl Invoker for Functions {
    async fn invoke(&self, function: &str, payload: Bytes, trace_id: &str) -> Option<Result<Invocation, InvokeFailure>> {
        let handle = self.get(function)?.clone();
        Some(handle.invoke(payload, Some(trace_id)).await)
    }

    fn has(&self, function: &str) -> bool {
        self.contains_key(function)
    }

    async fn enqueue(&self, function: &str, payload: String, trace_id: &str) -> Result<String, EnqueueError> {
        let handle = self.get(function).ok_or_else(|| EnqueueError::UnknownFunction { function: function.to_string() })?;
        handle.enqueue(payload, trace_id).await
    }
}

/// Request limits, API Gateway's by default.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (API Gateway: 10 MB) -> 413.
    pub max_body: usize,
    /// Largest total size of request header names and values (API Gateway: 10240 bytes) -> 431.
    pub max_header_bytes: usize,
    /// Integration timeout of routes without `TimeoutInMillis` (API Gateway: 29 s) -> 504.
    pub route_timeout: Duration,
    /// Time a client has to send its request headers (slow-client protection).
    pub header_read_timeout: Duration,
    /// Time a client has to send its whole body (slow-client protection) -> 408.
    pub body_read_timeout: Duration,
    /// Time a client has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Connections one client address may hold at once; more are closed at accept, so one client
    /// cannot take every slot.
    pub max_connections_per_client: usize,
    /// Time a new connection has to send its first request (after TLS), HTTP/1.1 or HTTP/2.
    pub first_request_timeout: Duration,
    /// Time a connection may sit with no request in flight before it is closed (keep-alive idle;
    /// an HTTP/2 connection that only answers pings counts as idle).
    pub idle_timeout: Duration,
    /// How long in-flight requests get on shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 10 * 1024 * 1024,
            max_header_bytes: 10 * 1024,
            route_timeout: Duration::from_secs(29),
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_client: 256,
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
