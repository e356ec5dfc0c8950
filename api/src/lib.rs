//! esb-api: the manager API, between a gateway without Docker access and the manager that has it.
//!
//! In split mode (`esb serve --role gateway|manager`, and `esb up -d`) the public gateway holds no
//! Docker socket. For each invocation it asks the manager for a lease on a function container
//! (`acquire`), invokes RIE in that container itself, and gives the lease back with the outcome
//! (`release`), the data flow DESIGN.md draws. This crate is that protocol, for both sides:
//!
//! - the wire types (this module): versioned under `/v1`, JSON over HTTP/1.1 on a unix socket whose
//!   file permissions (0600 in a 0700 directory) are the access control; it is never on a network;
//! - [`server`]: the manager's side, serving leases from the FunctionActors;
//! - [`client`]: a pooled HTTP client for the socket;
//! - [`remote`]: the gateway's side, an [`esb_gateway::Invoker`] that survives manager restarts.
//!
//! Restarts: every manager process has an `epoch`. A gateway that sees a new epoch first `claim`s the
//! containers it is still invoking (the new manager adopted them as idle from their labels), so they
//! are never handed to a second caller while RIE still serves the first (RIE crashes on that). A
//! lease the gateway never releases (the gateway was killed) expires after the function's timeout and
//! the container is replaced.
//!
//! Must not: decide anything about containers (the FunctionActors do) or speak HTTP to the public.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod remote;
pub mod server;
#[cfg(test)]
mod tests;

use esb_actors::{AcquireError, InvokeFailure};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The protocol version; the path prefix is `/v{VERSION}`. A change that an older peer cannot
/// read gets a new version, and both sides refuse a version they do not speak.
pub const VERSION: u32 = 1;

/// `GET /v1/hello`: who the manager is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// [`VERSION`].
    pub version: u32,
    /// This manager process (a new one after every restart).
    pub epoch: String,
    /// The project.
    pub project: String,
    /// Functions served (logical ids).
    pub functions: Vec<String>,
}

/// `POST /v1/acquire`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AcquireRequest {
    /// Logical id or FunctionName.
    pub function: String,
    /// Tags the container's log lines of this invocation.
    pub trace_id: Option<String>,
    /// The manager epoch the caller last saw (`None`: a caller that holds no lease).
    pub epoch: Option<String>,
}

/// A lease: the right to invoke one container once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Granted {
    /// Lease id (per manager epoch).
    pub lease: u64,
    /// Container id.
    pub container: String,
    /// RIE's address on the project network.
    pub addr: SocketAddr,
    /// The function's Timeout, in milliseconds.
    pub timeout_ms: u64,
    /// A container was started for this lease.
    pub cold: bool,
    /// The manager's epoch.
    pub epoch: String,
}

/// `POST /v1/release`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The lease.
    pub lease: u64,
    /// Its container: a lease id that does not belong to it is ignored (a stale id never frees
    /// somebody else's container).
    pub container: String,
    /// False after a timeout, a crash or a garbage answer: the container is replaced.
    pub healthy: bool,
}

/// `POST /v1/explain`: why the runtime in a leased container failed, asked by the holder of the
/// lease before it releases it (the gateway has no engine to read RIE's log from).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExplainRequest {
    /// The lease.
    pub lease: u64,
    /// Its container.
    pub container: String,
}

/// The answer to an explain: RIE's log and the engine's OOM flag, when the manager could read them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Explained {
    /// The container's output (at most its last 64 KiB), or `None`.
    pub logs: Option<String>,
    /// The engine killed the container (or a process in it) for its memory limit.
    #[serde(default)]
    pub oom_killed: bool,
}

/// A container a caller is invoking.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Held {
    /// Logical id.
    pub function: String,
    /// Container id.
    pub container: String,
}

/// `POST /v1/claim`: the caller's in-flight containers, after it saw a new epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The containers.
    pub held: Vec<Held>,
}

/// The answer to a claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claimed {
    /// The epoch the caller now knows.
    pub epoch: String,
    /// New lease ids by container id; containers the manager does not hold idle are left out.
    pub leases: Vec<(String, u64)>,
}

/// `POST /v1/enqueue`: an asynchronous invocation for the manager's event queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnqueueRequest {
    /// Logical id or FunctionName.
    pub function: String,
    /// The JSON payload.
    pub payload: String,
    /// The trace id it carries.
    pub trace_id: String,
}

/// The answer to an enqueue: the event is on the manager's disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enqueued {
    /// The event's request id.
    pub id: String,
}

/// Why the manager refused; the body of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ApiError {
    /// The function is at its concurrency limit.
    #[error("rate exceeded: {function} is at its concurrency limit of {limit} (TooManyRequestsException)")]
    Throttled {
        /// The function.
        function: String,
        /// Its limit.
        limit: usize,
    },
    /// esb's global container limit is reached.
    #[error("rate exceeded: esb's limit of concurrent containers is reached; {function} cannot scale out")]
    GlobalLimit {
        /// The function.
        function: String,
    },
    /// The function is shutting down.
    #[error("{function} is shutting down and takes no new invocations")]
    Stopping {
        /// The function.
        function: String,
    },
    /// A container could not be started.
    #[error("could not start a container for {function}: {reason}")]
    StartFailed {
        /// The function.
        function: String,
        /// Why.
        reason: String,
    },
    /// The manager serves no such function.
    #[error("the manager serves no function {function}")]
    UnknownFunction {
        /// The function.
        function: String,
    },
    /// The function's actor is not running.
    #[error("the function {function} is not running (esb is stopping or restarting it)")]
    Unavailable {
        /// The function.
        function: String,
    },
    /// The manager restarted since the caller's last lease: claim in-flight containers first.
    #[error("the manager restarted (epoch {epoch}); claim in-flight containers first")]
    NewEpoch {
        /// The current epoch.
        epoch: String,
    },
    /// The event queue did not accept the event.
    #[error("{reason}")]
    NotQueued {
        /// Why.
        reason: esb_actors::events::EnqueueError,
    },
    /// The request could not be read.
    #[error("bad request: {message}")]
    BadRequest {
        /// What was wrong.
        message: String,
    },
}

impl ApiError {
    /// The HTTP status the manager answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Throttled { .. } | ApiError::GlobalLimit { .. } => 429,
            ApiError::Stopping { .. } | ApiError::Unavailable { .. } => 503,
            ApiError::StartFailed { .. } => 502,
            ApiError::UnknownFunction { .. } => 404,
            ApiError::NewEpoch { .. } => 409,
            ApiError::BadRequest { .. } => 400,
            ApiError::NotQueued { reason } => match reason {
                esb_actors::events::EnqueueError::Full { .. } => 429,
                esb_actors::events::EnqueueError::UnknownFunction { .. } => 404,
                _ => 503,
            },
        }
    }

    /// From the manager's own failure.
    pub fn from_failure(function: &str, e: InvokeFailure) -> Self {
        match e {
            InvokeFailure::Acquire(AcquireError::Throttled { function, limit }) => ApiError::Throttled { function, limit },
            InvokeFailure::Acquire(AcquireError::GlobalLimit { function }) => ApiError::GlobalLimit { function },
            InvokeFailure::Acquire(AcquireError::Stopping { function }) => ApiError::Stopping { function },
            InvokeFailure::Acquire(AcquireError::StartFailed { function, reason }) => ApiError::StartFailed { function, reason },
            InvokeFailure::Unavailable(function) => ApiError::Unavailable { function },
            // Acquiring never invokes.
            InvokeFailure::Invoke(e) => ApiError::StartFailed { function: function.to_string(), reason: e.to_string() },
        }
    }

    /// Back into the failure the gateway maps to HTTP, so split and single-process answers match.
    pub fn into_failure(self) -> InvokeFailure {
        match self {
            ApiError::Throttled { function, limit } => InvokeFailure::Acquire(AcquireError::Throttled { function, limit }),
            ApiError::GlobalLimit { function } => InvokeFailure::Acquire(AcquireError::GlobalLimit { function }),
            ApiError::Stopping { function } => InvokeFailure::Acquire(AcquireError::Stopping { function }),
            ApiError::StartFailed { function, reason } => InvokeFailure::Acquire(AcquireError::StartFailed { function, reason }),
            ApiError::UnknownFunction { function } | ApiError::Unavailable { function } => InvokeFailure::Unavailable(function),
            ApiError::NewEpoch { .. } | ApiError::BadRequest { .. } | ApiError::NotQueued { .. } => {
                InvokeFailure::Unavailable(self.to_string())
            }
        }
    }
}

/// The manager socket of a project whose output dir is `output_dir`, unless configured.
pub fn default_socket(output_dir: &Path) -> PathBuf {
    output_dir.join("run").join("manager.sock")
}

/// Unix socket paths are limited to 107 bytes by the kernel (`sun_path`).
pub const MAX_SOCKET_PATH: usize = 107;

/// Checks that `path` fits a unix socket address, with a hint when it does not.
pub fn check_socket_path(path: &Path) -> Result<(), String> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "the manager socket path {} is {len} bytes; unix sockets allow {MAX_SOCKET_PATH}\n  hint: pass a shorter --manager-socket, e.g. /run/esb/manager.sock",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn errors_are_tagged_json_and_round_trip_into_the_same_gateway_failure() {
        let e = ApiError::Throttled { function: "F".into(), limit: 2 };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(json, r#"{"error":"throttled","function":"F","limit":2}"#);
        assert_eq!(serde_json::from_str::<ApiError>(&json).unwrap(), e);
        assert_eq!(e.status(), 429);
        let back = e.into_failure();
        assert!(matches!(back, InvokeFailure::Acquire(AcquireError::Throttled { limit: 2, .. })), "{back:?}");
        let stop = ApiError::from_failure("F", InvokeFailure::Acquire(AcquireError::Stopping { function: "F".into() }));
        assert_eq!(stop, ApiError::Stopping { function: "F".into() });
        assert_eq!(stop.status(), 503);
        assert_eq!(ApiError::NewEpoch { epoch: "e".into() }.status(), 409);
    }

    #[test]
    fn socket_paths_past_the_kernel_limit_are_refused_with_a_hint() {
        assert!(check_socket_path(Path::new("/tmp/p/.esb/run/manager.sock")).is_ok());
        let long = PathBuf::from(format!("/{}/manager.sock", "d".repeat(120)));
        let e = check_socket_path(&long).unwrap_err();
        assert!(e.contains("107") && e.contains("--manager-socket"), "{e}");
    }
}
