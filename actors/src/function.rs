//! FunctionActor: one per function. Owns that function's containers: idle (warm), busy (leased),
//! starting, and the callers waiting for one.
//!
//! Protocol: `Acquire` answers at once with a lease on an idle container, or queues the caller (and
//! starts a container if under the limit), or throttles; the caller invokes RIE itself and sends
//! `Release` with whether the container is still healthy. RIE crashes on a second concurrent
//! invocation, so a lease is exclusive: a container is in exactly one of idle/busy at any time.
//!
//! Must not: await Docker or RIE inside `handle`. Container starts and removals run in spawned tasks
//! that report back by message (`Started`), so one slow cold start never stalls other requests.
//!
//! Recovery: `pre_start` lists this function's containers by label and adopts the running ones
//! whose config hash matches and whose RIE answers; the rest are removed. A restarted actor (or a
//! restarted esb) therefore picks its warm containers up again instead of leaking or doubling them.

use crate::decide::{self, Decision, PoolView};
use crate::pool::PoolLink;
use esb_runtime::labels::{key, Role};
use esb_runtime::rie::RieClient;
use esb_runtime::{ContainerSpec, Labels, Runtime};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod swap;

/// The registered name of a function's actor: handles find it by this name across restarts.
pub fn actor_name(project: &str, function: &str) -> String {
    format!("esb/{project}/{function}")
}

/// The stop reason of a drained actor (the supervisor does not restart it).
pub const DRAINED: &str = "drained";

/// How often waiters' deadlines and idle containers are checked.
pub const TICK: Duration = Duration::from_millis(50);

/// Everything a FunctionActor needs to know about its function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// Project (labels, container names).
    pub project: String,
    /// Logical id.
    pub function: String,
    /// Image reference to run (`repo:c-<hash>`).
    pub image: String,
    /// `KEY=VALUE` environment.
    pub env: Vec<String>,
    /// Memory limit, MiB.
    pub memory_mb: u64,
    /// The function's Timeout.
    pub timeout: Duration,
    /// Concurrency limit (ReservedConcurrentExecutions or the default).
    pub limit: usize,
    /// Containers kept warm (ProvisionedConcurrencyConfig).
    pub min_warm: usize,
    /// Most callers waiting at once.
    pub queue_limit: usize,
    /// How long a caller may wait before it is throttled.
    pub queue_timeout: Duration,
    /// Idle time after which a container is stopped (scale to zero).
    pub idle_timeout: Duration,
    /// RIE's port in the container.
    pub rie_port: u16,
    /// How long a new container may take until RIE listens.
    pub ready_within: Duration,
    /// Hash of this function's config and image, as a label (recovery adopts only matching ones).
    pub config_hash: String,
    /// Bind mounts (`host:container[:ro]`): `esb watch` mounts live code at `/var/task`.
    pub binds: Vec<String>,
    /// The Docker network containers join (the project's, where storage is found by name).
    pub network: Option<String>,
    /// Published ports, (container port, host address, host port): only a function in debug
    /// mode has one (its debugger's, on loopback; its limit is then 1 container).
    pub ports: Vec<(u16, String, u16)>,
}

impl FunctionConfig {
    /// A small function `Fn` of `project` whose RIE listens on `rie_port` (limit 2, Timeout 3 s):
    /// for tests that drive FunctionActors on the fake runtime with the fake RIE
    /// ([`esb_runtime::fake::fake_rie`]), here and in crates built on the actors.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(project: &str, rie_port: u16) -> Self {
        FunctionConfig {
            project: project.into(),
            function: "Fn".into(),
            image: "esb-p/fn:c-1".into(),
            env: vec![],
            memory_mb: 128,
            timeout: Duration::from_secs(3),
            limit: 2,
            min_warm: 0,
            queue_limit: 10,
            queue_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            rie_port,
            ready_within: Duration::from_secs(2),
            config_hash: "h".into(),
            binds: vec![],
            ports: vec![],
            network: None,
        }
    }
}

/// A running container with RIE listening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Container id.
    pub id: String,
    /// RIE's address.
    pub addr: SocketAddr,
}

/// An exclusive right to invoke one container once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Lease number, unique per actor.
    pub id: u64,
    /// The container.
    pub container: Container,
    /// The container was started for this caller (a cold start), not reused.
    pub cold: bool,
}

/// Why no lease was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// At the concurrency limit with the queue full, or waited past the queue timeout.
    #[error("rate exceeded: {function} is at its concurrency limit of {limit} (TooManyRequestsException)")]
    Throttled {
        /// The function.
        function: String,
        /// Its limit.
        limit: usize,
    },
    /// esb's global container limit (all functions together) is reached.
    #[error("rate exceeded: esb's limit of concurrent containers is reached; {function} cannot scale out (TooManyRequestsException)")]
    GlobalLimit {
        /// The function.
        function: String,
    },
    /// The function is shutting down and takes no new invocations.
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
}

/// Counts, for status output and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Warm containers.
    pub idle: usize,
    /// Leased containers.
    pub busy: usize,
    /// Containers starting.
    pub starting: usize,
    /// Callers waiting.
    pub waiting: usize,
    /// Containers started since the actor began.
    pub started: u64,
    /// Containers removed since the actor began (broken, reaped).
    pub removed: u64,
}

/// Messages.
#[derive(Debug)]
pub enum FunctionMsg {
    /// A caller wants a container.
    Acquire(RpcReplyPort<Result<Lease, AcquireError>>),
    /// A caller is done with a lease; `healthy` is false after a timeout, crash or garbage answer.
    Release {
        /// The lease.
        lease: u64,
        /// Whether the container may be reused.
        healthy: bool,
    },
    /// After a manager restart: a caller (the split gateway) still invokes this container under a
    /// lease of the previous manager. If it was adopted as idle, it becomes busy under a new lease,
    /// so it is never handed to a second caller while RIE still serves the first.
    Claim {
        /// The container id.
        container: String,
        /// The new lease, or `None` when this actor does not hold the container idle.
        reply: RpcReplyPort<Option<Lease>>,
    },
    /// A start task finished, for the config with this `config_hash`.
    Started(Result<Container, StartError>, String),
    /// Hot reload: serve with this config from now on. When the code or environment changed
    /// (another `config_hash`), one container on the new code starts at once; until it is ready,
    /// containers on the old code keep serving (make before break, see [`swap`]), then they go.
    /// In-flight invocations finish on the old code, and no caller waits or is refused for a swap.
    Reconfigure(Arc<FunctionConfig>),
    /// Check deadlines and idle containers.
    Tick,
    /// Report counts.
    Stats(RpcReplyPort<Stats>),
    /// What one of this function's containers left (RIE's log says why a runtime failed; the
    /// engine says whether it was killed for memory), read before a broken container is released
    /// and removed. `None` if it cannot be read.
    Remains {
        /// The container id.
        container: String,
        /// Its output and OOM flag.
        reply: RpcReplyPort<Option<esb_runtime::rie::Remains>>,
    },
    /// Graceful stop: take no new work, let leased invocations finish until `deadline`, then reply
    /// and stop. With `keep`, idle containers are left running for the next esb to adopt.
    Drain {
        /// When in-flight invocations are cut off.
        deadline: Instant,
        /// Keep idle containers running.
        keep: bool,
        /// Answered when drained.
        reply: RpcReplyPort<DrainReport>,
    },
    /// Fault injection: the actor panics while handling this message, to exercise supervision
    /// (tests, and the fault-injection harness test engineers drive).
    InjectPanic,
}

/// Why a start task produced no container.
#[derive(Debug, Clone)]
pub enum StartError {
    /// The pool granted no slot.
    GlobalLimit,
    /// Creating, starting or reaching RIE failed.
    Failed(StartFailure),
}

/// What failed in a container's start, with the engine's or RIE's own error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StartFailure {
    /// The engine refused to create, start or inspect it.
    #[error("{0}")]
    Engine(Arc<esb_runtime::RuntimeError>),
    /// It stopped before it had an address.
    #[error("the container exited at once; see its logs")]
    ExitedAtOnce,
    /// RIE did not start listening in time.
    #[error("{0}")]
    NotReady(esb_runtime::rie::InvokeError),
}

impl From<esb_runtime::RuntimeError> for StartFailure {
    fn from(e: esb_runtime::RuntimeError) -> Self {
        StartFailure::Engine(Arc::new(e))
    }
}

/// What a drain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// Invocations in flight when the drain began that finished in time.
    pub finished: usize,
    /// Invocations still running at the deadline (their containers are removed).
    pub cut_off: usize,
    /// Idle containers left running (`keep`).
    pub kept: usize,
}

struct Draining {
    deadline: Instant,
    keep: bool,
    reply: RpcReplyPort<DrainReport>,
    in_flight: usize,
}

struct Waiter {
    reply: RpcReplyPort<Result<Lease, AcquireError>>,
    since: Instant,
}

/// The actor's state.
pub struct FunctionState {
    cfg: Arc<FunctionConfig>,
    rt: Arc<dyn Runtime>,
    client: RieClient,
    idle: Vec<(Container, Instant)>,
    busy: HashMap<u64, Container>,
    starting: usize,
    waiters: VecDeque<Waiter>,
    next_lease: u64,
    next_name: u64,
    instance: String,
    started: u64,
    removed: u64,
    draining: Option<Draining>,
    /// Leases on containers of a config replaced by [`FunctionMsg::Reconfigure`]: they retire
    /// or go on release (see [`swap`]).
    stale: std::collections::HashSet<u64>,
    /// Idle containers on replaced code, serving only until the current code is ready ([`swap`]).
    retiring: Vec<(Container, Instant)>,
    /// (idle, busy, starting, waiting) as last reported to the metrics.
    gauges: (usize, usize, usize, usize),
    keep_on_stop: bool,
    pool: Option<PoolLink>,
    /// After failed starts, prewarming waits until then (doubling backoff), so a broken engine or
    /// image does not turn the 50 ms tick into a hot loop of doomed starts.
    prewarm_after: Instant,
    prewarm_backoff: Duration,
}

/// First and longest wait before prewarming again after a failed start.
const PREWARM_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// The actor (stateless; see [`FunctionState`]).
pub struct FunctionActor;

impl FunctionState {
    fn view(&self) -> PoolView {
        PoolView {
            idle: self.idle.len(),
            busy: self.busy.len(),
            starting: self.starting,
            waiting: self.waiters.len(),
            limit: self.cfg.limit,
            queue_limit: self.cfg.queue_limit,
        }
    }

    /// Hands `c` to the oldest waiter still listening, else puts it in the idle list.
    fn give(&mut self, c: Container, cold: bool) {
        while let Some(w) = self.waiters.pop_front() {
            self.next_lease += 1;
            let lease = Lease { id: self.next_lease, container: c.clone(), cold };
            match w.reply.send(Ok(lease)) {
                Ok(()) => {
                    self.busy.insert(self.next_lease, c);
                    return;
                }
                Err(_) => continue, // that caller gave up; try the next
            }
        }
        self.idle.push((c, Instant::now()));
    }

    /// Starts containers for waiters not yet covered by a start, within the limit.
    fn ensure_starts(&mut self, myself: &ActorRef<FunctionMsg>) {
        let unclaimed = self.waiters.len().saturating_sub(self.starting);
        let room = self.cfg.limit.saturating_sub(self.busy.len() + self.starting + self.idle.len() + self.retiring.len());
        for _ in 0..unclaimed.min(room) {
            self.start(myself);
        }
    }

    fn start(&mut self, myself: &ActorRef<FunctionMsg>) {
        self.starting += 1;
        self.next_name += 1;
        let name = format!("esb-{}-{}-{}-{}", self.cfg.project, self.cfg.function.to_lowercase(), self.instance, self.next_name);
        let (rt, cfg, client, me, pool) = (self.rt.clone(), self.cfg.clone(), self.client.clone(), myself.clone(), self.pool.clone());
        tokio::spawn(async move {
            let result = match &pool {
                Some(p) if !p.reserve(&cfg.function).await => Err(StartError::GlobalLimit),
                _ => start_container(rt.as_ref(), &cfg, &client, name).await.map_err(StartError::Failed),
            };
            if let (Err(StartError::Failed(_)), Some(p)) = (&result, &pool) {
                p.free(&cfg.function);
            }
            // A start that outlived its actor (a drain that reached its deadline) must not leave
            // the container behind: nobody would ever remove it.
            if let Err(ractor::MessagingErr::SendErr(FunctionMsg::Started(Ok(c), _))) =
                me.send_message(FunctionMsg::Started(result, cfg.config_hash.clone()))
            {
                tracing::info!(function = %cfg.function, container = %c.id, "removing a container that finished starting after its function stopped");
                if let Err(e) = rt.remove_container(&c.id).await {
                    tracing::warn!(container = %c.id, error = %e, "could not remove a container");
                }
                if let Some(p) = pool {
                    p.free(&cfg.function);
                }
            }
        });
    }

    fn remove(&mut self, c: Container) {
        self.removed += 1;
        let (rt, pool, function) = (self.rt.clone(), self.pool.clone(), self.cfg.function.clone());
        tokio::spawn(async move {
            if let Err(e) = rt.remove_container(&c.id).await {
                tracing::warn!(container = %c.id, error = %e, "could not remove a container");
            }
            if let Some(p) = pool {
                p.free(&function);
            }
        });
    }

    fn stats(&self) -> Stats {
        Stats {
            idle: self.idle.len() + self.retiring.len(),
            busy: self.busy.len(),
            starting: self.starting,
            waiting: self.waiters.len(),
            started: self.started,
            removed: self.removed,
        }
    }

    /// Ends a drain when nothing is leased or starting any more, or the deadline passed: reports
    /// and stops. (A container still starting would otherwise report to a stopped actor.)
    fn check_drain(&mut self, myself: &ActorRef<FunctionMsg>) {
        let done = match &self.draining {
            Some(d) => (self.busy.is_empty() && self.starting == 0) || Instant::now() >= d.deadline,
            None => false,
        };
        if !done {
            return;
        }
        let Some(d) = self.draining.take() else { return };
        // Containers still leased at the deadline may still be running an invocation: RIE must
        // never see a second one, so they are removed (by `post_stop`, which awaits it), never
        // kept for adoption.
        let cut_off = self.busy.len();
        self.keep_on_stop = d.keep;
        let kept = if d.keep { self.idle.len() } else { 0 };
        let _ = d.reply.send(DrainReport { finished: d.in_flight - cut_off, cut_off, kept });
        myself.stop(Some(DRAINED.into()));
    }

    fn throttled(&self) -> AcquireError {
        AcquireError::Throttled { function: self.cfg.function.clone(), limit: self.cfg.limit }
    }
}

/// How long an adopted container's RIE may take to answer the recovery probe.
const ADOPT_PROBE: Duration = Duration::from_millis(500);

/// Finds this function's containers; returns the ones adopted (at most `limit`), removing the rest.
async fn recover(rt: &dyn Runtime, cfg: &FunctionConfig, client: &RieClient, pool: Option<&PoolLink>) -> (Vec<Container>, u64) {
    let filter = Labels::default().with(key::PROJECT, cfg.project.clone()).with(key::FUNCTION, cfg.function.clone()).role(Role::Function);
    let found = match rt.containers(&filter).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(function = %cfg.function, error = %e, "recovery scan failed; starting with no containers");
            return (vec![], 0);
        }
    };
    let (mut adopted, mut removed) = (vec![], 0);
    for info in found {
        let verdict =
            decide::classify_found(info.running, info.labels.get(key::VERSION), info.labels.get(key::CONFIG_HASH), &cfg.config_hash);
        let addr = info.ip.map(|ip| SocketAddr::new(ip, cfg.rie_port));
        let healthy = match (verdict, addr) {
            (decide::Found::Probe, Some(addr)) if adopted.len() < cfg.limit => client.wait_ready(addr, ADOPT_PROBE).await.is_ok(),
            _ => false,
        };
        // An adopted container takes a slot of the global limit like a started one.
        let healthy = healthy
            && match pool {
                Some(p) => p.reserve(&cfg.function).await,
                None => true,
            };
        match (healthy, addr) {
            (true, Some(addr)) => adopted.push(Container { id: info.id, addr }),
            _ => {
                removed += 1;
                if let Err(e) = rt.remove_container(&info.id).await {
                    tracing::warn!(container = %info.id, error = %e, "could not remove a stale container");
                }
            }
        }
    }
    if !adopted.is_empty() || removed > 0 {
        tracing::info!(function = %cfg.function, adopted = adopted.len(), removed, "recovered containers from labels");
    }
    (adopted, removed)
}

/// Creates, starts and waits for a container; removes it again if any step fails.
async fn start_container(rt: &dyn Runtime, cfg: &FunctionConfig, client: &RieClient, name: String) -> Result<Container, StartFailure> {
    let labels = Labels::new()
        .with(key::PROJECT, cfg.project.clone())
        .with(key::FUNCTION, cfg.function.clone())
        .role(Role::Function)
        .with(key::CONFIG_HASH, cfg.config_hash.clone())
        .created_now();
    let spec = ContainerSpec {
        name,
        image: cfg.image.clone(),
        env: cfg.env.clone(),
        labels,
        memory_mb: Some(cfg.memory_mb),
        binds: cfg.binds.clone(),
        network: cfg.network.clone(),
        ports: cfg.ports.clone(),
        ..Default::default()
    };
    let id = rt.create_container(&spec).await?;
    let ready = async {
        rt.start_container(&id).await?;
        let ip = rt.inspect_container(&id).await?.ip.ok_or(StartFailure::ExitedAtOnce)?;
        let addr = SocketAddr::new(ip, cfg.rie_port);
        client.wait_ready(addr, cfg.ready_within).await.map_err(StartFailure::NotReady)?;
        Ok::<_, StartFailure>(addr)
    };
    match ready.await {
        Ok(addr) => Ok(Container { id, addr }),
        Err(e) => {
            let _ = rt.remove_container(&id).await;
            Err(e)
        }
    }
}

impl Actor for FunctionActor {
    type Msg = FunctionMsg;
    type State = FunctionState;
    type Arguments = (Arc<FunctionConfig>, Arc<dyn Runtime>, Option<PoolLink>);

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, (cfg, rt, pool): Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(TICK, || FunctionMsg::Tick);
        let instance = format!(
            "{:x}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() % 0xffffff).unwrap_or(0)
        );
        let client = RieClient::new();
        let (adopted, removed) = recover(rt.as_ref(), &cfg, &client, pool.as_ref()).await;
        let mut state = FunctionState {
            cfg,
            rt,
            client,
            idle: vec![],
            busy: HashMap::new(),
            starting: 0,
            waiters: VecDeque::new(),
            next_lease: 0,
            next_name: 0,
            instance,
            started: 0,
            removed,
            draining: None,
            stale: Default::default(),
            retiring: Vec::new(),
            // Not a possible state: the first tick reports.
            gauges: (usize::MAX, 0, 0, 0),
            keep_on_stop: false,
            pool,
            prewarm_after: Instant::now(),
            prewarm_backoff: PREWARM_BACKOFF.0,
        };
        let now = Instant::now();
        state.idle.extend(adopted.into_iter().map(|c| (c, now)));
        for _ in 0..decide::prewarm(state.view(), state.cfg.min_warm) {
            state.start(&myself);
        }
        Ok(state)
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            FunctionMsg::Acquire(reply) if st.draining.is_some() => {
                let _ = reply.send(Err(AcquireError::Stopping { function: st.cfg.function.clone() }));
            }
            FunctionMsg::Acquire(reply) => match decide::on_acquire(st.view()) {
                Decision::UseIdle => {
                    // Idle containers exist only while nobody waits, so `give` hands this one to
                    // this caller (or, if it already gave up, back to the idle list).
                    if let Some((c, _)) = st.idle.pop() {
                        st.waiters.push_back(Waiter { reply, since: Instant::now() });
                        st.give(c, false);
                    }
                }
                // No container on the current code is idle: one on replaced code serves, if any
                // retires (a swap in progress), rather than this caller waiting or being refused.
                decision => match st.lease_retiring(Waiter { reply, since: Instant::now() }, &myself) {
                    Ok(()) => {}
                    Err(w) if decision == Decision::Throttle => {
                        let _ = w.reply.send(Err(st.throttled()));
                    }
                    Err(w) => {
                        st.waiters.push_back(w);
                        st.ensure_starts(&myself);
                    }
                },
            },
            FunctionMsg::Release { lease, healthy } => {
                if let Some(c) = st.busy.remove(&lease) {
                    if st.stale.remove(&lease) {
                        st.release_stale(c, healthy, &myself);
                    } else if healthy {
                        st.give(c, false);
                    } else {
                        st.remove(c);
                        st.ensure_starts(&myself);
                    }
                }
                st.check_drain(&myself);
            }
            FunctionMsg::Claim { container, reply } => {
                let lease = match st.idle.iter().position(|(c, _)| c.id == container) {
                    Some(i) => {
                        let (c, _) = st.idle.remove(i);
                        st.next_lease += 1;
                        st.busy.insert(st.next_lease, c.clone());
                        Some(Lease { id: st.next_lease, container: c, cold: false })
                    }
                    None => None,
                };
                let _ = reply.send(lease);
            }
            FunctionMsg::Drain { deadline, keep, reply } => {
                for w in st.waiters.drain(..) {
                    let _ = w.reply.send(Err(AcquireError::Stopping { function: st.cfg.function.clone() }));
                }
                // Containers on replaced code are never kept for the next esb.
                st.promote();
                st.draining = Some(Draining { deadline, keep, reply, in_flight: st.busy.len() });
                st.check_drain(&myself);
            }
            FunctionMsg::Started(Ok(c), hash) if hash != st.cfg.config_hash => {
                // Started for a config a later reload replaced: it retires (serving only until
                // the current code is ready).
                st.starting -= 1;
                st.started_stale(c, &myself);
                st.check_drain(&myself);
            }
            FunctionMsg::Reconfigure(cfg) => {
                let code_changed = cfg.config_hash != st.cfg.config_hash;
                tracing::info!(function = %cfg.function, code_changed, "reconfigured");
                st.cfg = cfg;
                if code_changed {
                    // Make before break: idle containers serve until one on the new code, which
                    // starts now, is ready.
                    st.retire(&myself);
                }
                st.ensure_starts(&myself);
            }
            FunctionMsg::Started(Ok(c), _) => {
                st.starting -= 1;
                st.started += 1;
                st.promote();
                st.prewarm_backoff = PREWARM_BACKOFF.0;
                st.give(c, true);
                // A container that finished starting during a drain is simply idle (kept or removed).
                st.check_drain(&myself);
            }
            FunctionMsg::Started(Err(err), _) => {
                st.starting -= 1;
                st.prewarm_after = Instant::now() + st.prewarm_backoff;
                st.prewarm_backoff = (st.prewarm_backoff * 2).min(PREWARM_BACKOFF.1);
                let function = st.cfg.function.clone();
                let error = match err {
                    StartError::GlobalLimit => AcquireError::GlobalLimit { function },
                    StartError::Failed(failure) => {
                        tracing::warn!(%function, reason = %failure, "container start failed");
                        AcquireError::StartFailed { function, reason: failure.to_string() }
                    }
                };
                // The waiter this start was for gets the reason, rather than waiting out its deadline.
                if let Some(w) = st.waiters.pop_front() {
                    let _ = w.reply.send(Err(error));
                }
                st.check_drain(&myself);
            }
            FunctionMsg::Tick if st.draining.is_some() => st.check_drain(&myself),
            FunctionMsg::Tick => {
                // Only on change: an idle function costs nothing per tick.
                let gauges = (st.idle.len() + st.retiring.len(), st.busy.len(), st.starting, st.waiters.len());
                if gauges != st.gauges {
                    st.gauges = gauges;
                    crate::metrics::containers(&st.cfg.function, gauges.0, gauges.1, gauges.2, gauges.3);
                }
                let now = Instant::now();
                while st.waiters.front().is_some_and(|w| now.duration_since(w.since) >= st.cfg.queue_timeout) {
                    if let Some(w) = st.waiters.pop_front() {
                        let _ = w.reply.send(Err(st.throttled()));
                    }
                }
                st.waiters.retain(|w| !w.reply.is_closed());
                st.tick_retiring(now, &myself);
                let reap = decide::to_reap(&st.idle, now, st.cfg.idle_timeout, st.cfg.min_warm);
                for c in reap {
                    st.idle.retain(|(i, _)| i.id != c.id);
                    st.remove(c);
                }
                if now >= st.prewarm_after {
                    for _ in 0..decide::prewarm(st.view(), st.cfg.min_warm) {
                        st.start(&myself);
                    }
                }
            }
            FunctionMsg::Stats(reply) => {
                let _ = reply.send(st.stats());
            }
            FunctionMsg::Remains { container, reply } => {
                // Only a container this function holds; read off the actor's loop (the engine may be
                // slow: the caller waits, not the actor).
                if st.busy.values().chain(st.idle.iter().chain(&st.retiring).map(|(c, _)| c)).any(|c| c.id == container) {
                    let rt = st.rt.clone();
                    tokio::spawn(async move {
                        let remains = match rt.logs(&container).await {
                            Ok(logs) => {
                                let oom_killed = rt.oom_killed(&container).await.unwrap_or(false);
                                Some(esb_runtime::rie::Remains { logs, oom_killed })
                            }
                            Err(_) => None,
                        };
                        let _ = reply.send(remains);
                    });
                } else {
                    let _ = reply.send(None);
                }
            }
            FunctionMsg::InjectPanic => panic!("fault injected into the actor of {}", st.cfg.function),
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        crate::metrics::function_stopped(&st.cfg.function);
        // Stopping the actor stops its function: no container outlives it unaccounted for, except
        // idle ones a drain was asked to keep (labelled, so the next esb adopts them).
        let idle = st.idle.drain(..).map(|(c, _)| c).filter(|_| !st.keep_on_stop);
        let retiring = st.retiring.drain(..).map(|(c, _)| c);
        let all: Vec<Container> = idle.chain(retiring).chain(st.busy.drain().map(|(_, c)| c)).collect();
        for c in all {
            let _ = st.rt.remove_container(&c.id).await;
            if let Some(p) = &st.pool {
                p.free(&st.cfg.function);
            }
        }
        Ok(())
    }
}
