//! The listener: TCP accept, TLS handshake, HTTP/1.1 and HTTP/2 connections, graceful shutdown.
//!
//! Owns: binding (with a hint when it fails), the connection limits (all clients, and each client
//! address's share, and closing the longest-idle connection when a newcomer finds every slot
//! taken), every phase's timeout (TLS handshake, first request, request headers,
//! keep-alive idle for HTTP/1.1 and HTTP/2 alike), HTTP/2 header-list limits, and shutdown: stop
//! accepting, let every connection finish its in-flight requests within
//! [`crate::Limits::shutdown_grace`], then return. Must not: look inside requests (the [`Gateway`] does).
//!
//! Each connection runs under a watchdog that knows how many requests are in flight and when the
//! last one ended: a connection with none in flight past its deadline is shut down gracefully (an
//! HTTP/2 GOAWAY, or closing an idle HTTP/1.1 connection). hyper alone bounds neither the wait
//! for the first bytes (the HTTP/1-or-2 detection reads them with no timer) nor an HTTP/2
//! connection kept alive by pings: 1,100 such connections once took all 1,024 slots (issue 19).

use crate::header_case::Recorder;
use crate::{Gateway, GatewayError, Limits};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Binds `addr`, with a hint on failure.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, GatewayError> {
    TcpListener::bind(addr).await.map_err(|source| GatewayError::Bind { addr, source })
}

// === per-client shares ===

/// Connections per client address.
#[derive(Default)]
struct Shares {
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in its client's share; given back on drop.
struct Share {
    shares: Arc<Shares>,
    ip: IpAddr,
}

impl Shares {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Share> {
        let mut m = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Share { shares: self.clone(), ip })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut m = self.shares.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

// === eviction ===

/// The live connections, so that when every slot is taken the one quiet the longest (no request in
/// flight) can be closed for a newcomer: idle connections are the cheapest thing to shed.
#[derive(Default)]
struct Registry {
    next: AtomicUsize,
    live: Mutex<HashMap<usize, Entry>>,
}

/// A live connection: what it is doing, and how to tell it to close.
type Entry = (Arc<Activity>, Arc<tokio::sync::Notify>);

/// A connection's entry; removed on drop.
struct Registered {
    registry: Arc<Registry>,
    id: usize,
}

impl Registry {
    fn add(self: &Arc<Self>, activity: Arc<Activity>, evict: Arc<tokio::sync::Notify>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (activity, evict));
        Registered { registry: self.clone(), id }
    }

    /// Closes the connection quiet the longest; false when every one has a request in flight.
    fn evict_one(&self) -> bool {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let oldest = live
            .iter()
            .filter(|(_, (a, _))| a.in_flight.load(Ordering::SeqCst) == 0)
            .min_by_key(|(_, (a, _))| *a.quiet_since.lock().unwrap_or_else(|p| p.into_inner()))
            .map(|(id, _)| *id);
        // Removed at once, so the next newcomer picks another one.
        match oldest.and_then(|id| live.remove(&id)) {
            Some((_, evict)) => {
                evict.notify_one();
                true
            }
            None => false,
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// How long a newcomer waits for a slot an eviction frees (or one that ends) before it is closed.
const SLOT_WAIT: Duration = Duration::from_secs(2);

// === activity ===

/// What the watchdog reads: requests in flight and when the connection last went quiet.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicUsize,
    quiet_since: Mutex<Instant>,
}

/// Counts a request as in flight until dropped.
struct InFlight(Arc<Activity>);

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity { in_flight: AtomicUsize::new(0), served: AtomicUsize::new(0), quiet_since: Mutex::new(Instant::now()) })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection, quiet now, passes its deadline; `None` while a request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = *self.quiet_since.lock().unwrap_or_else(|p| p.into_inner());
        let wait = if self.served.load(Ordering::SeqCst) == 0 { limits.first_request_timeout } else { limits.idle_timeout };
        Some(since + wait)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.served.fetch_add(1, Ordering::SeqCst);
        *self.0.quiet_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves `gateway` on `listener` (TLS when `tls` is set) until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    gateway: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let forwarded = crate::event::Forwarded {
        proto: if tls.is_some() { "https" } else { "http" },
        port: listener.local_addr().map(|a| a.port()).unwrap_or(443),
    };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let limits = gateway.limits.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let shares = Arc::new(Shares::default());
    // Every connection holds a clone of `done`; the drain waits for all of them to be dropped.
    let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size((limits.max_header_bytes * 2) as u32)
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    tokio::pin!(shutdown);
    let registry = Arc::new(Registry::default());
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(share) = shares.take(peer.ip(), limits.max_connections_per_client) else {
            tracing::debug!(%peer, limit = limits.max_connections_per_client, "connection refused: the client holds its share");
            drop(stream);
            continue;
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Every slot is taken: close the connection idle the longest, and wait briefly for
                // a slot; a newcomer never waits behind connections that send nothing.
                let evicted = registry.evict_one();
                match tokio::time::timeout(SLOT_WAIT, permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        tracing::warn!(%peer, evicted, "connection refused: every slot has a request in flight");
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let evict = Arc::new(tokio::sync::Notify::new());
        let registered = registry.add(activity.clone(), evict.clone());
        let gw = gateway.clone();
        let seen = activity.clone();
        let heads = crate::header_case::Heads::default();
        let spelled = heads.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let (gw, guard) = (gw.clone(), seen.begin());
            req.extensions_mut().insert(forwarded);
            if req.version() < http::Version::HTTP_2 {
                if let Some(s) = spelled.take_for(req.headers()) {
                    req.extensions_mut().insert(s);
                }
            }
            async move {
                let response = gw.handle(req, peer).await;
                drop(guard);
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let conn = Conn { builder: builder.clone(), limits: limits.clone(), activity, stopping: stopping.clone(), evict, peer };
        let acceptor = acceptor.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let _held = (permit, share, done, registered);
            match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(conn.limits.handshake_timeout, acceptor.accept(stream));
                    let tls = tokio::select! {
                        r = handshake => match r {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        _ = conn.evict.notified() => return tracing::debug!(%peer, "connection closed in its TLS handshake for a newcomer"),
                    };
                    conn.run(TokioIo::new(Recorder::new(tls, heads)), service).await
                }
                None => conn.run(TokioIo::new(Recorder::new(stream, heads)), service).await,
            }
        });
    }
    drop(listener);
    drop(done);
    let _ = stop.send(true);
    tokio::select! {
        _ = all_done.recv() => tracing::debug!("all connections closed"),
        _ = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("connections still open after the shutdown grace period; closing them"),
    }
}

/// One accepted connection and what its watchdog needs.
struct Conn {
    builder: auto::Builder<TokioExecutor>,
    limits: Limits,
    activity: Arc<Activity>,
    stopping: tokio::sync::watch::Receiver<bool>,
    evict: Arc<tokio::sync::Notify>,
    peer: SocketAddr,
}

/// A closed connection gets this long to finish writing before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Conn {
    async fn run<I, S>(mut self, io: I, service: S)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        S: hyper::service::Service<
                hyper::Request<hyper::body::Incoming>,
                Response = hyper::Response<crate::response::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let conn = self.builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut closing: Option<Instant> = None;
        loop {
            let wake = match closing {
                Some(at) => at,
                None => self.activity.deadline(&self.limits).unwrap_or_else(|| Instant::now() + Duration::from_secs(1)),
            };
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended");
                    }
                    return;
                }
                _ = self.stopping.changed(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + self.limits.shutdown_grace);
                }
                _ = self.evict.notified() => {
                    if self.activity.in_flight.load(Ordering::SeqCst) == 0 {
                        return tracing::debug!(peer = %self.peer, "idle connection closed for a newcomer (every slot was taken)");
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if closing.is_some() {
                        return tracing::debug!(peer = %self.peer, "connection dropped after its close grace");
                    }
                    if self.activity.deadline(&self.limits).is_some_and(|d| d <= Instant::now()) {
                        let first = self.activity.served.load(Ordering::SeqCst) == 0;
                        tracing::debug!(peer = %self.peer, first, "idle connection closed");
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
    }
}
