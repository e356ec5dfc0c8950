//! The gateway's side of the split: an [`Invoker`] that leases containers from the manager over the
//! socket and invokes RIE in them itself.
//!
//! Owns: the containers this gateway is invoking right now (`in_flight`), the containers it last
//! gave back healthy (`known_idle`, a hint for manager outages), and the manager epoch it last saw.
//!
//! Manager restarts: while the manager is unreachable, a request takes a container this gateway
//! knows to be idle (it released it healthy, and nobody else leases from this manager); only a
//! request that needs a new container waits, up to `wait`, then gets 503. When the manager answers
//! again with a new epoch, the in-flight containers are claimed before anything else is acquired,
//! so the new manager (which adopted them as idle from their labels) never hands one out twice.
//! Must not: start, stop or choose containers (the manager does).

use crate::client::{CallError, Client};
use crate::{AcquireRequest, ApiError, ClaimRequest, EnqueueRequest, Held, ReleaseRequest};
use async_trait::async_trait;
use bytes::Bytes;
use esb_actors::events::EnqueueError;
use esb_actors::handle::{healthy_after, outcome_of};
use esb_actors::InvokeFailure;
use esb_gateway::Invoker;
use esb_runtime::rie::{Invocation, InvokeError, RieClient};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A known-idle container older than this is not trusted (the manager may have reaped it).
const KNOWN_IDLE_FOR: Duration = Duration::from_secs(300);

/// A container this gateway may invoke.
#[derive(Debug, Clone)]
struct Slot {
    function: String,
    container: String,
    addr: SocketAddr,
    timeout: Duration,
}

#[derive(Default)]
struct State {
    /// Last epoch seen; `None` before the first lease.
    epoch: Option<String>,
    /// Containers being invoked, with their lease and the epoch it belongs to (`None`: taken
    /// while the manager was away). A lease of an older epoch is never released: the manager that
    /// gave it is gone, and its id may name another lease now.
    in_flight: HashMap<String, (Slot, Option<(String, u64)>)>,
    /// Containers released healthy, newest last, per function.
    known_idle: HashMap<String, Vec<(Slot, Instant)>>,
}

/// Invokes functions through a manager reached at a unix socket.
pub struct Remote {
    client: Arc<Client>,
    rie: RieClient,
    functions: BTreeSet<String>,
    state: Arc<Mutex<State>>,
    wait: Duration,
}

impl Remote {
    /// An invoker for `functions` (every name they answer to) through `client`; a request that
    /// needs the manager while it is away waits up to `wait`, then gets 503.
    pub fn new(client: Arc<Client>, functions: BTreeSet<String>, wait: Duration) -> Self {
        Remote { client, rie: RieClient::new(), functions, state: Arc::new(Mutex::new(State::default())), wait }
    }

    /// True when the manager answers (readiness).
    pub async fn manager_ready(&self) -> Result<(), String> {
        self.client.hello().await.map(|_| ()).map_err(|e| e.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims this gateway's in-flight containers from a manager with a new epoch.
    async fn claim(&self, epoch: String) -> Result<(), CallError> {
        let held: Vec<Held> =
            self.lock().in_flight.values().map(|(s, _)| Held { function: s.function.clone(), container: s.container.clone() }).collect();
        let claimed = self.client.claim(&ClaimRequest { held }).await?;
        let mut late = vec![];
        {
            let mut st = self.lock();
            for (container, lease) in claimed.leases {
                match st.in_flight.get_mut(&container) {
                    Some((_, l)) => *l = Some((claimed.epoch.clone(), lease)),
                    // Finished while the claim was on its way: it is idle, give it back.
                    None => late.push((container, lease)),
                }
            }
            // What the old manager knew idle, the new one adopted; the hint is stale now.
            st.known_idle.clear();
            st.epoch = Some(claimed.epoch.clone());
            if claimed.epoch != epoch {
                tracing::info!(epoch = %claimed.epoch, "the manager restarted again during the claim");
            }
        }
        for (container, lease) in late {
            let _ = self.client.release(&ReleaseRequest { lease, container, healthy: true }).await;
        }
        tracing::info!(epoch = %epoch, "claimed in-flight containers from a restarted manager");
        Ok(())
    }

    /// A container for `function`: from the manager, or while it is away, one known to be idle.
    async fn take(&self, function: &str, trace_id: &str) -> Result<(Slot, Option<(String, u64)>, bool), InvokeFailure> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            let epoch = self.lock().epoch.clone();
            let req = AcquireRequest { function: function.to_string(), trace_id: Some(trace_id.to_string()), epoch };
            match self.client.acquire(&req).await {
                Ok(g) => {
                    let slot = Slot {
                        function: function.to_string(),
                        container: g.container,
                        addr: g.addr,
                        timeout: Duration::from_millis(g.timeout_ms),
                    };
                    let mut st = self.lock();
                    if st.epoch.is_none() {
                        st.epoch = Some(g.epoch.clone());
                    }
                    if let Some(list) = st.known_idle.get_mut(function) {
                        list.retain(|(s, _)| s.container != slot.container);
                    }
                    return Ok((slot, Some((g.epoch, g.lease)), g.cold));
                }
                Err(CallError::Refused(ApiError::NewEpoch { epoch })) => {
                    if let Err(e) = self.claim(epoch).await {
                        if started.elapsed() >= self.wait {
                            return Err(InvokeFailure::Unavailable(format!("{function} (claiming in-flight containers failed: {e})")));
                        }
                        tracing::warn!(error = %e, "claiming in-flight containers failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(250));
                    }
                }
                Err(CallError::Refused(e)) => return Err(e.into_failure()),
                Err(CallError::Unreachable { why, .. }) => {
                    if let Some(slot) = self.known_idle(function).await {
                        tracing::debug!(function, container = %slot.container, "manager away; using a container known to be idle");
                        return Ok((slot, None, false));
                    }
                    if started.elapsed() >= self.wait {
                        tracing::warn!(function, %why, "the manager is unreachable; answering 503");
                        return Err(InvokeFailure::Unavailable(format!("{function} (the manager is unreachable: {why})")));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// A container this gateway released healthy recently and that still accepts connections.
    async fn known_idle(&self, function: &str) -> Option<Slot> {
        loop {
            let slot = {
                let mut st = self.lock();
                let list = st.known_idle.get_mut(function)?;
                list.retain(|(_, at)| at.elapsed() < KNOWN_IDLE_FOR);
                list.pop()?.0
            };
            if self.rie.wait_ready(slot.addr, Duration::from_millis(200)).await.is_ok() {
                return Some(slot);
            }
        }
    }

    /// Takes the container off the in-flight list (into the known-idle list if healthy); returns
    /// its lease, if the current manager knows one.
    fn finished(&self, container: &str, healthy: bool) -> Option<ReleaseRequest> {
        let mut st = self.lock();
        let (slot, lease) = st.in_flight.remove(container)?;
        let release = match lease {
            Some((epoch, lease)) if st.epoch.as_deref() == Some(epoch.as_str()) => {
                Some(ReleaseRequest { lease, container: container.to_string(), healthy })
            }
            _ => None,
        };
        if healthy {
            st.known_idle.entry(slot.function.clone()).or_default().push((slot, Instant::now()));
        }
        release
    }

    /// Releases `lease`, retrying in the background while the manager is away. A lease that cannot
    /// be released expires at the manager (and the container is replaced); a manager that restarted
    /// meanwhile never knew it.
    async fn release(client: Arc<Client>, req: ReleaseRequest) {
        let unreachable = |r: Result<(), CallError>| matches!(r, Err(CallError::Unreachable { .. }));
        if !unreachable(client.release(&req).await) {
            return;
        }
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(50);
            for _ in 0..4 {
                tokio::time::sleep(delay).await;
                delay *= 4;
                if !unreachable(client.release(&req).await) {
                    return;
                }
            }
        });
    }
}

impl Remote {
    /// `e` with the runtime's own reason, which the manager reads from the container's log.
    async fn explain(&self, container: &str, e: InvokeError) -> InvokeError {
        // The runtime posted its own reason (init/error): the log is not needed.
        let e = e.explained("");
        if !e.wants_remains() {
            return e;
        }
        let lease = self.lock().in_flight.get(container).and_then(|(_, l)| l.as_ref().map(|(_, id)| *id));
        let Some(lease) = lease else { return e };
        match self.client.explain(&crate::ExplainRequest { lease, container: container.to_string() }).await {
            Ok(crate::Explained { logs: Some(logs), oom_killed }) => e.diagnosed(&esb_runtime::rie::Remains { logs, oom_killed }),
            _ => e,
        }
    }
}

/// Gives the container back as unhealthy if the invocation is cancelled.
struct InFlight<'a> {
    remote: &'a Remote,
    container: Option<String>,
}

impl InFlight<'_> {
    /// Releases before the caller answers, so its next request finds the container idle.
    async fn finish(mut self, healthy: bool) {
        if let Some(c) = self.container.take() {
            if let Some(req) = self.remote.finished(&c, healthy) {
                Remote::release(self.remote.client.clone(), req).await;
            }
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            if let Some(req) = self.remote.finished(&c, false) {
                tokio::spawn(Remote::release(self.remote.client.clone(), req));
            }
        }
    }
}

#[async_trait]
impl Invoker for Remote {
    async fn invoke(&self, function: &str, payload: Bytes, trace_id: &str) -> Option<Result<Invocation, InvokeFailure>> {
        if !self.functions.contains(function) {
            return None;
        }
        let asked = Instant::now();
        let (slot, lease, cold) = match self.take(function, trace_id).await {
            Ok(t) => t,
            Err(e) => {
                if matches!(
                    e,
                    InvokeFailure::Acquire(esb_actors::AcquireError::Throttled { .. } | esb_actors::AcquireError::GlobalLimit { .. })
                ) {
                    esb_actors::metrics::throttled(function);
                }
                return Some(Err(e));
            }
        };
        esb_actors::metrics::leased(function, asked.elapsed(), cold);
        let (container, addr, deadline) = (slot.container.clone(), slot.addr, slot.timeout + esb_runtime::rie::TIMEOUT_GRACE);
        self.lock().in_flight.insert(container.clone(), (slot, lease));
        let guard = InFlight { remote: self, container: Some(container.clone()) };
        let started = Instant::now();
        let result = self.rie.invoke(addr, payload, Some(trace_id), deadline).await;
        esb_actors::metrics::invocation(function, outcome_of(&result), started.elapsed());
        let healthy = healthy_after(&result);
        let result = match result {
            Err(e) if e.runtime_failed() => Err(self.explain(&container, e).await),
            r => r,
        };
        guard.finish(healthy).await;
        Some(result.map_err(InvokeFailure::from))
    }

    fn has(&self, function: &str) -> bool {
        self.functions.contains(function)
    }

    /// The manager journals the event; while it is away this waits up to `wait` (nothing is
    /// accepted that is not on the manager's disk), then refuses with 503.
    async fn enqueue(&self, function: &str, payload: String, trace_id: &str) -> Result<String, EnqueueError> {
        if !self.functions.contains(function) {
            return Err(EnqueueError::UnknownFunction { function: function.to_string() });
        }
        let req = EnqueueRequest { function: function.to_string(), payload, trace_id: trace_id.to_string() };
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            match self.client.enqueue(&req).await {
                Ok(e) => return Ok(e.id),
                Err(CallError::Refused(ApiError::NotQueued { reason })) => return Err(reason),
                Err(CallError::Refused(ApiError::UnknownFunction { function })) => return Err(EnqueueError::UnknownFunction { function }),
                Err(e) => {
                    if started.elapsed() + delay > self.wait {
                        tracing::warn!(function, error = %e, "the manager did not take an asynchronous event");
                        return Err(EnqueueError::Unavailable);
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}
