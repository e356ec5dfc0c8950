//! The manager's side of the manager API: leases from the FunctionActors, over a unix socket.
//!
//! Owns: the socket (created 0600 in a 0700 directory, a stale one replaced, a live one refused),
//! the leases handed out to callers, and their expiry: a lease not released within the function's
//! Timeout plus [`LEASE_SLACK`] (its caller died) is released as unhealthy, so the container, whose
//! RIE may still be busy, is replaced and never handed out twice. Must not: decide about containers
//! (the FunctionActors do) or invoke anything.

use crate::{AcquireRequest, ApiError, ClaimRequest, Claimed, Granted, Hello, ReleaseRequest, VERSION};
use arc_swap::ArcSwap;
use bytes::Bytes;
use esb_actors::{FunctionHandle, Leased};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UnixListener;

/// Past the function's Timeout, how long a lease may stay unreleased.
pub const LEASE_SLACK: Duration = Duration::from_secs(10);
/// Largest request body (a claim lists at most a few thousand containers).
const MAX_BODY: usize = 1 << 20;

/// Function handles by every name they answer to.
pub type Functions = BTreeMap<String, FunctionHandle>;

struct Outstanding {
    leased: Leased,
    until: Instant,
}

/// The manager API's state.
pub struct ApiServer {
    epoch: String,
    project: String,
    functions: ArcSwap<Functions>,
    leases: Mutex<HashMap<u64, Outstanding>>,
    next: AtomicU64,
}

/// Binds the socket at `path`: its directory is made 0700, the socket 0600. A leftover socket of a
/// dead manager is replaced; one a live manager answers on is an error.
pub async fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    crate::check_socket_path(path).map_err(std::io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if path.exists() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("a manager already answers on {}; stop it first (`esb down`), or pass another --manager-socket", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

impl ApiServer {
    /// A server for `functions` of `project`, with a fresh epoch.
    pub fn new(project: &str, functions: Functions) -> Arc<Self> {
        Arc::new(ApiServer {
            epoch: uuid::Uuid::new_v4().simple().to_string(),
            project: project.to_string(),
            functions: ArcSwap::from_pointee(functions),
            leases: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        })
    }

    /// This process's epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Serves `functions` from the next request on (hot reload).
    pub fn reload(&self, functions: Functions) {
        self.functions.store(Arc::new(functions));
    }

    /// The outstanding leases. A poisoned lock is taken over: dropping its leases instead would
    /// release containers still being invoked.
    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Outstanding>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Leases handed out and not yet released.
    pub fn outstanding(&self) -> usize {
        self.leases().len()
    }

    fn hello(&self) -> Hello {
        let mut functions: Vec<String> = self.functions.load().values().map(|h| h.config().function.clone()).collect();
        functions.sort();
        functions.dedup();
        Hello { version: VERSION, epoch: self.epoch.clone(), project: self.project.clone(), functions }
    }

    fn keep(&self, leased: Leased, timeout: Duration) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + timeout + LEASE_SLACK;
        self.leases().insert(id, Outstanding { leased, until });
        id
    }

    async fn acquire(&self, req: AcquireRequest) -> Result<Granted, ApiError> {
        if req.epoch.as_deref().is_some_and(|e| e != self.epoch) {
            return Err(ApiError::NewEpoch { epoch: self.epoch.clone() });
        }
        let handle =
            self.functions.load().get(&req.function).cloned().ok_or(ApiError::UnknownFunction { function: req.function.clone() })?;
        let leased = handle.lease(req.trace_id.as_deref()).await.map_err(|e| ApiError::from_failure(&req.function, e))?;
        let timeout = handle.config().timeout;
        let (container, addr, cold) = (leased.container.id.clone(), leased.container.addr, leased.cold);
        let lease = self.keep(leased, timeout);
        Ok(Granted { lease, container, addr, timeout_ms: timeout.as_millis() as u64, cold, epoch: self.epoch.clone() })
    }

    fn release(&self, req: ReleaseRequest) {
        let held = {
            let mut l = self.leases();
            match l.get(&req.lease) {
                Some(o) if o.leased.container.id == req.container => l.remove(&req.lease),
                Some(_) => {
                    tracing::warn!(lease = req.lease, container = %req.container, "a release named another container's lease; ignored");
                    None
                }
                None => None,
            }
        };
        if let Some(o) = held {
            o.leased.release(req.healthy);
        }
    }

    /// The output of a leased container, for the lease's holder only.
    async fn explain(&self, req: crate::ExplainRequest) -> crate::Explained {
        const MAX: usize = 64 << 10;
        let remains = {
            let l = self.leases();
            match l.get(&req.lease) {
                Some(o) if o.leased.container.id == req.container => Some(o.leased.remains()),
                _ => None,
            }
        };
        let Some(remains) = (match remains {
            Some(read) => read.await,
            None => None,
        }) else {
            return crate::Explained { logs: None, oom_killed: false };
        };
        let mut text = remains.logs;
        if text.len() > MAX {
            let mut cut = text.len() - MAX;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text.drain(..cut);
        }
        crate::Explained { logs: Some(text), oom_killed: remains.oom_killed }
    }

    async fn claim(&self, req: ClaimRequest) -> Claimed {
        let mut leases = vec![];
        for held in req.held {
            let Some(handle) = self.functions.load().get(&held.function).cloned() else { continue };
            if let Some(leased) = handle.claim(&held.container).await {
                tracing::info!(function = %held.function, container = %held.container, "claimed an in-flight container after a restart");
                leases.push((held.container, self.keep(leased, handle.config().timeout)));
            }
        }
        Claimed { epoch: self.epoch.clone(), leases }
    }

    async fn enqueue(&self, req: crate::EnqueueRequest) -> Result<crate::Enqueued, ApiError> {
        let handle =
            self.functions.load().get(&req.function).cloned().ok_or(ApiError::UnknownFunction { function: req.function.clone() })?;
        let id = handle.enqueue(req.payload, &req.trace_id).await.map_err(|reason| ApiError::NotQueued { reason })?;
        Ok(crate::Enqueued { id })
    }

    /// Releases, as unhealthy, leases past their deadline; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let expired: Vec<Outstanding> = {
            let mut l = self.leases();
            let ids: Vec<u64> = l.iter().filter(|(_, o)| o.until <= now).map(|(id, _)| *id).collect();
            ids.iter().filter_map(|id| l.remove(id)).collect()
        };
        for o in &expired {
            tracing::warn!(container = %o.leased.container.id, "a lease was never released (its gateway stopped?); the container is replaced");
        }
        let n = expired.len();
        drop(expired);
        n
    }

    async fn route(&self, method: &Method, path: &str, body: Bytes) -> Result<Response<Full<Bytes>>, ApiError> {
        fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
            serde_json::from_slice(body).map_err(|e| ApiError::BadRequest { message: e.to_string() })
        }
        let prefix = format!("/v{VERSION}");
        let Some(path) = path.strip_prefix(&prefix) else {
            return Err(ApiError::BadRequest { message: format!("this manager speaks {prefix}/, not {path}") });
        };
        let value = match (method.as_str(), path) {
            ("GET", "/hello") => serde_json::to_value(self.hello()),
            ("POST", "/acquire") => serde_json::to_value(self.acquire(parse(&body)?).await?),
            ("POST", "/release") => {
                self.release(parse(&body)?);
                Ok(serde_json::Value::Null)
            }
            ("POST", "/claim") => serde_json::to_value(self.claim(parse(&body)?).await),
            ("POST", "/explain") => serde_json::to_value(self.explain(parse(&body)?).await),
            ("POST", "/enqueue") => serde_json::to_value(self.enqueue(parse(&body)?).await?),
            _ => return Err(ApiError::BadRequest { message: format!("no route {method} {prefix}{path}") }),
        };
        let body = value.map_err(|e| ApiError::BadRequest { message: e.to_string() })?;
        Ok(answer(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()))
    }

    /// Serves the API on `listener` until `shutdown` resolves; expires unreleased leases meanwhile.
    pub async fn serve(self: Arc<Self>, listener: UnixListener, shutdown: impl std::future::Future<Output = ()>) {
        let expiry = {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    me.expire(Instant::now());
                }
            })
        };
        tokio::pin!(shutdown);
        // Connections end with the server (dropping the set aborts them), as with a killed process.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let stream = tokio::select! {
                a = listener.accept() => match a {
                    Ok((s, _)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "manager API accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            while connections.try_join_next().is_some() {}
            let me = self.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let me = me.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let response = match Limited::new(body, MAX_BODY).collect().await {
                            Ok(b) => me.route(&parts.method, parts.uri.path(), b.to_bytes()).await,
                            Err(e) => Err(ApiError::BadRequest { message: format!("body: {e}") }),
                        };
                        Ok::<_, std::convert::Infallible>(response.unwrap_or_else(|e| {
                            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                            answer(status, serde_json::to_vec(&e).unwrap_or_default())
                        }))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
        expiry.abort();
    }
}

fn answer(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
    r
}
