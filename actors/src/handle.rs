//! [`FunctionHandle`]: the typed door to a FunctionActor, for the gateway and the CLI.
//!
//! Owns: the invoke path (acquire a lease, invoke RIE in the caller's task, release with the
//! container's health) and the rule that a lease is always released: a drop guard releases it as
//! unhealthy when the caller is cancelled mid-invocation (the container's state is then unknown, so
//! it is replaced, never reused). Callers never build actor messages themselves.

use crate::function::{AcquireError, FunctionConfig, FunctionMsg, Lease, Stats};
use crate::logs::LogMsg;
use bytes::Bytes;
use esb_runtime::rie::{Invocation, InvokeError, Outcome, Remains, RieClient};
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long a broken container's log is read again until it says why the runtime failed.
const FAILURE_LOG_WAIT: Duration = Duration::from_secs(2);

/// Why an invocation produced no function result.
#[derive(Debug, thiserror::Error)]
pub enum InvokeFailure {
    /// No container could be had (throttled, or starting one failed).
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    /// The container failed during the invocation (it has been replaced).
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    /// The function's actor is gone (shutting down).
    #[error("the function {0} is not running (esb is stopping or restarting it)")]
    Unavailable(String),
}

/// How an invocation ended, as the metrics and spans name it.
pub fn outcome_of(result: &Result<Invocation, InvokeError>) -> &'static str {
    match result {
        Ok(inv) => match inv.outcome {
            Outcome::Success => "success",
            Outcome::FunctionError { .. } => "error",
            Outcome::Timeout { .. } => "timeout",
        },
        Err(_) => "failed",
    }
}

/// Whether the container may serve again: not after a crash, garbage or a timeout.
pub fn healthy_after(result: &Result<Invocation, InvokeError>) -> bool {
    matches!(result, Ok(inv) if !matches!(inv.outcome, Outcome::Timeout { .. }))
}

/// An invocation's result as Lambda reports it to its caller: the one mapping the Invoke API,
/// the event queue and the stream readers share.
#[derive(Debug)]
pub enum Reported {
    /// The function's result.
    Success(Bytes),
    /// `X-Amz-Function-Error: Unhandled` with this payload: the function's own error, Lambda's
    /// `Sandbox.Timedout`, or the runtime's failure (`Runtime.OutOfMemory`, `Runtime.ExitError`...).
    Unhandled(Bytes),
    /// The function did not run (throttled, unavailable, stopping): not an attempt.
    NotRun(InvokeFailure),
}

impl Reported {
    /// Maps one invocation's result.
    pub fn of(result: Result<Invocation, InvokeFailure>) -> Reported {
        let error = |kind: &str, message: &str| {
            Reported::Unhandled(Bytes::from(serde_json::json!({ "errorType": kind, "errorMessage": message }).to_string()))
        };
        match result {
            Ok(inv) => match inv.outcome {
                Outcome::Success => Reported::Success(inv.body),
                Outcome::FunctionError { .. } => Reported::Unhandled(inv.body),
                Outcome::Timeout { message } => error("Sandbox.Timedout", &message),
            },
            Err(InvokeFailure::Invoke(e)) => error(e.error_type(), &e.to_string()),
            Err(e) => Reported::NotRun(e),
        }
    }
}

/// An exclusive lease on one container, released exactly once: by [`Leased::release`], or as
/// unhealthy when dropped (a cancelled caller leaves the container in an unknown state).
pub struct Leased {
    /// The container to invoke.
    pub container: crate::function::Container,
    /// The container was started for this caller.
    pub cold: bool,
    guard: LeaseGuard,
}

impl Leased {
    /// Gives the container back; `healthy` false retires it.
    pub fn release(self, healthy: bool) {
        self.guard.release(healthy)
    }

    /// What the container left (its output, and whether the engine killed it for memory),
    /// through its actor (which holds the engine), within a few seconds; `None` if it cannot be
    /// read. Read it before releasing a broken container: RIE answers a bare 502 (or the container
    /// dies) and logs why. RIE may answer before the engine has its log line or its OOM flag, so
    /// this reads again, for up to [`FAILURE_LOG_WAIT`], until they say all they will
    /// ([`esb_runtime::rie::Remains::complete`]).
    pub fn remains(&self) -> impl std::future::Future<Output = Option<Remains>> + Send + 'static {
        let (actor, id) = (self.guard.actor.clone(), self.container.id.clone());
        async move {
            let deadline = tokio::time::Instant::now() + FAILURE_LOG_WAIT;
            loop {
                let remains =
                    match actor.call(|reply| FunctionMsg::Remains { container: id.clone(), reply }, Some(Duration::from_secs(3))).await {
                        Ok(ractor::rpc::CallResult::Success(remains)) => remains,
                        _ => None,
                    };
                match remains {
                    Some(r) if !r.complete() && tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    other => return other,
                }
            }
        }
    }
}

/// A container id as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A cheap, cloneable handle to one function. It finds the function's actor by its registered
/// name on every call, so it keeps working across actor restarts.
#[derive(Clone)]
pub struct FunctionHandle {
    name: String,
    /// The registered name of the project's LogCollector.
    logs: String,
    client: RieClient,
    cfg: Arc<FunctionConfig>,
}

/// Releases a lease exactly once; as unhealthy if dropped before [`LeaseGuard::release`].
struct LeaseGuard {
    actor: ActorRef<FunctionMsg>,
    lease: Option<Lease>,
}

impl LeaseGuard {
    fn release(mut self, healthy: bool) {
        if let Some(lease) = self.lease.take() {
            let _ = self.actor.cast(FunctionMsg::Release { lease: lease.id, healthy });
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            let _ = self.actor.cast(FunctionMsg::Release { lease: lease.id, healthy: false });
        }
    }
}

impl FunctionHandle {
    /// A handle to the FunctionActor registered for `cfg` (see [`crate::function::actor_name`]).
    pub fn new(cfg: Arc<FunctionConfig>) -> Self {
        FunctionHandle {
            name: crate::function::actor_name(&cfg.project, &cfg.function),
            logs: crate::logs::collector_name(&cfg.project),
            client: RieClient::new(),
            cfg,
        }
    }

    /// The actor currently serving the function, if one is running.
    pub fn actor_ref(&self) -> Option<ActorRef<FunctionMsg>> {
        ActorRef::where_is(&self.name)
    }

    /// The function's config.
    pub fn config(&self) -> &FunctionConfig {
        &self.cfg
    }

    /// Invokes the function once. A timeout, crash or garbage answer retires the container.
    pub async fn invoke(&self, payload: Bytes, trace_id: Option<&str>) -> Result<Invocation, InvokeFailure> {
        let function = self.cfg.function.as_str();
        let leased = self.lease(trace_id).await?;
        let started = std::time::Instant::now();
        let invoke_span =
            tracing::info_span!("invoke", function, container = %short(&leased.container.id), outcome = tracing::field::Empty);
        let result = self
            .client
            .invoke(leased.container.addr, payload, trace_id, self.cfg.timeout + esb_runtime::rie::TIMEOUT_GRACE)
            .instrument(invoke_span.clone())
            .await;
        let outcome = outcome_of(&result);
        invoke_span.record("outcome", outcome);
        crate::metrics::invocation(function, outcome, started.elapsed());
        let healthy = healthy_after(&result);
        let result = match result {
            Err(e) if e.runtime_failed() => {
                // The runtime may have posted its own reason (init/error, or RIE's exit report).
                let e = e.explained("");
                Err(match e.wants_remains() {
                    true => match leased.remains().await {
                        Some(remains) => e.diagnosed(&remains),
                        None => e,
                    },
                    false => e,
                })
            }
            r => r,
        };
        leased.release(healthy);
        Ok(result?)
    }

    /// Accepts an asynchronous invocation: the project's EventQueue journals it and runs it later
    /// (with retries). Answers the event's request id once it is on disk.
    pub async fn enqueue(&self, payload: String, trace_id: &str) -> Result<String, crate::events::EnqueueError> {
        crate::events::enqueue(&self.cfg.project, &self.cfg.function, payload, trace_id).await
    }

    /// An exclusive lease on a container of this function, for a caller that invokes RIE itself
    /// (the split gateway, through the manager API). Counts queue wait and cold start; tags the
    /// container's next log lines with `trace_id`. Dropping the [`Leased`] releases it as unhealthy.
    pub async fn lease(&self, trace_id: Option<&str>) -> Result<Leased, InvokeFailure> {
        let function = self.cfg.function.as_str();
        let asked = std::time::Instant::now();
        // Spans (children of the caller's, e.g. the gateway's request span): waiting for a
        // container (queue and cold start), then the call into the container.
        let acquire_span = tracing::info_span!("acquire", function, cold = tracing::field::Empty);
        let (actor, lease) = match self.acquire().instrument(acquire_span.clone()).await {
            Ok(l) => l,
            Err(e) => {
                if matches!(e, InvokeFailure::Acquire(AcquireError::Throttled { .. } | AcquireError::GlobalLimit { .. })) {
                    crate::metrics::throttled(function);
                }
                return Err(e);
            }
        };
        acquire_span.record("cold", lease.cold);
        crate::metrics::leased(function, asked.elapsed(), lease.cold);
        self.tag(&lease.container.id, trace_id);
        Ok(Leased { container: lease.container.clone(), cold: lease.cold, guard: LeaseGuard { actor, lease: Some(lease) } })
    }

    /// After a manager restart: takes over `container`, which a caller still invokes under a lease
    /// of the previous manager, if this function's actor holds it idle.
    pub async fn claim(&self, container: &str) -> Option<Leased> {
        let actor = self.actor_ref()?;
        let id = container.to_string();
        match actor.call(|reply| FunctionMsg::Claim { container: id, reply }, Some(Duration::from_secs(5))).await {
            Ok(ractor::rpc::CallResult::Success(Some(lease))) => {
                Some(Leased { container: lease.container.clone(), cold: false, guard: LeaseGuard { actor, lease: Some(lease) } })
            }
            _ => None,
        }
    }

    /// The LogCollector tags the container's next invocation's lines with this trace id.
    fn tag(&self, container: &str, trace_id: Option<&str>) {
        if let (Some(trace), Some(logs)) = (trace_id, ActorRef::<LogMsg>::where_is(self.logs.clone())) {
            let _ = logs.cast(LogMsg::Invocation { container: container.to_string(), trace_id: trace.to_string() });
        }
    }

    /// A lease, and the actor that gave it (the one to release it to, even if a restart follows).
    async fn acquire(&self) -> Result<(ActorRef<FunctionMsg>, Lease), InvokeFailure> {
        let actor = self.actor_ref().ok_or_else(|| InvokeFailure::Unavailable(self.cfg.function.clone()))?;
        // The actor answers a waiter by its queue deadline; the RPC timeout is only a backstop.
        let backstop = self.cfg.queue_timeout + self.cfg.ready_within + Duration::from_secs(5);
        let answer = actor.call(FunctionMsg::Acquire, Some(backstop)).await;
        match answer {
            Ok(ractor::rpc::CallResult::Success(result)) => Ok((actor, result?)),
            _ => Err(InvokeFailure::Unavailable(self.cfg.function.clone())),
        }
    }

    /// Gracefully stops the function's actor (see [`FunctionMsg::Drain`]); `None` if none runs.
    pub async fn drain(&self, grace: Duration, keep: bool) -> Option<crate::function::DrainReport> {
        let actor = self.actor_ref()?;
        let deadline = std::time::Instant::now() + grace;
        let report = match actor.call(|reply| FunctionMsg::Drain { deadline, keep, reply }, Some(grace + Duration::from_secs(5))).await {
            Ok(ractor::rpc::CallResult::Success(report)) => Some(report),
            _ => None,
        };
        // The report comes before the actor's post_stop removes its containers: wait for that too,
        // so a caller that exits next leaves nothing behind.
        let _ = actor.wait(Some(Duration::from_secs(30))).await;
        report
    }

    /// Current counts, if the function's actor is running.
    pub async fn stats(&self) -> Option<Stats> {
        let actor = self.actor_ref()?;
        match actor.call(FunctionMsg::Stats, Some(Duration::from_secs(5))).await {
            Ok(ractor::rpc::CallResult::Success(s)) => Some(s),
            _ => None,
        }
    }
}
