//! FunctionSupervisor: starts one FunctionActor per function, linked, and restarts them.
//!
//! ```text
//! FunctionSupervisor
//!  ├─ FunctionActor "esb/<project>/<f1>"
//!  └─ FunctionActor "esb/<project>/<f2>"
//! ```
//!
//! Owns: one-for-one restarts with an intensity limit. A FunctionActor that fails (an error or a
//! panic in `handle`) is restarted after a backoff that doubles with each recent failure; a restarted
//! actor rebuilds its view from Docker labels (it adopts its running containers). More than
//! `max_restarts` failures within `window` and the function is left down and reported as failed, not
//! restarted in a hot loop; the other functions keep serving (an edge daemon must not fall over
//! because one function's actor keeps failing). Handles find actors by name, so they survive restarts.
//! Must not: touch containers itself.

use crate::function::{actor_name, DrainReport, FunctionActor, FunctionConfig, FunctionMsg};
use crate::handle::FunctionHandle;
use crate::pool::PoolLink;
use esb_runtime::Runtime;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stop reason of a drained FunctionActor.
pub const DRAINED: &str = crate::function::DRAINED;

/// Restart intensity and backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Most restarts within `window` before the function is left down.
    pub max_restarts: usize,
    /// The window restarts are counted in.
    pub window: Duration,
    /// Backoff before the first restart; doubles per recent failure.
    pub backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            window: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The backoff before restart number `recent` (1-based) within the window.
pub fn backoff(policy: &RestartPolicy, recent: usize) -> Duration {
    let factor = 1u32 << (recent.saturating_sub(1)).min(16) as u32;
    (policy.backoff * factor).min(policy.max_backoff)
}

/// A function's supervision state, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionStatus {
    /// An actor is running for it.
    pub running: bool,
    /// Restarts within the current window.
    pub recent_restarts: usize,
    /// Left down after too many failures; the last failure's reason.
    pub failed: Option<String>,
}

/// Messages.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// Start the function's actor again (sent to self after a backoff).
    Restart(String),
    /// Report every function's status.
    Status(RpcReplyPort<BTreeMap<String, FunctionStatus>>),
    /// Hot reload: make the set of functions `configs`. New ones get an actor, removed ones are
    /// drained (in flight finishes within `grace`) and stopped, changed ones are reconfigured in
    /// place (see [`FunctionMsg::Reconfigure`]).
    Apply {
        /// Every function, as it should be from now on.
        configs: Vec<Arc<FunctionConfig>>,
        /// How long a removed function's in-flight invocations may take.
        grace: Duration,
        /// What changed.
        reply: RpcReplyPort<ApplyReport>,
    },
    /// Graceful shutdown: drain every function (in flight finishes within `grace`), then stop.
    /// With `keep`, idle containers stay running for the next esb to adopt (`esb up -d` restarts).
    Shutdown {
        /// How long in-flight invocations may take.
        grace: Duration,
        /// Keep idle containers.
        keep: bool,
        /// The drain report of each function.
        reply: RpcReplyPort<BTreeMap<String, DrainReport>>,
    },
}

/// What a [`SupervisorMsg::Apply`] did, by logical id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Functions that got an actor.
    pub added: Vec<String>,
    /// Functions drained and stopped.
    pub removed: Vec<String>,
    /// Functions reconfigured (new code, environment or limits).
    pub changed: Vec<String>,
}

struct Entry {
    cfg: Arc<FunctionConfig>,
    actor: Option<ActorRef<FunctionMsg>>,
    failures: VecDeque<Instant>,
    failed: Option<String>,
}

/// The supervisor's state.
pub struct SupervisorState {
    rt: Arc<dyn Runtime>,
    pool: Option<PoolLink>,
    policy: RestartPolicy,
    functions: BTreeMap<String, Entry>,
}

/// The supervisor.
pub struct FunctionSupervisor;

async fn start_child(
    myself: &ActorRef<SupervisorMsg>,
    rt: &Arc<dyn Runtime>,
    pool: &Option<PoolLink>,
    cfg: &Arc<FunctionConfig>,
) -> Result<ActorRef<FunctionMsg>, ActorProcessingErr> {
    let name = actor_name(&cfg.project, &cfg.function);
    let args = (cfg.clone(), rt.clone(), pool.clone());
    let (actor, _) = Actor::spawn_linked(Some(name), FunctionActor, args, myself.get_cell()).await?;
    Ok(actor)
}

impl SupervisorState {
    fn function_of(&self, cell: &ActorCell) -> Option<String> {
        self.functions.iter().find(|(_, e)| e.actor.as_ref().is_some_and(|a| a.get_id() == cell.get_id())).map(|(f, _)| f.clone())
    }

    /// Records a failure of `function` and schedules a restart, unless the intensity is exceeded.
    fn on_failure(&mut self, myself: &ActorRef<SupervisorMsg>, function: &str, reason: String) {
        let policy = self.policy;
        let Some(entry) = self.functions.get_mut(function) else { return };
        entry.actor = None;
        let now = Instant::now();
        entry.failures.push_back(now);
        while entry.failures.front().is_some_and(|t| now.duration_since(*t) > policy.window) {
            entry.failures.pop_front();
        }
        let recent = entry.failures.len();
        if recent > policy.max_restarts {
            tracing::error!(function, %reason, recent, "function actor keeps failing; leaving it down");
            entry.failed = Some(reason);
            return;
        }
        let delay = backoff(&policy, recent);
        tracing::warn!(function, %reason, ?delay, "function actor failed; restarting");
        let name = function.to_string();
        myself.send_after(delay, move || SupervisorMsg::Restart(name));
    }
}

impl Actor for FunctionSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = (Vec<Arc<FunctionConfig>>, Arc<dyn Runtime>, RestartPolicy, Option<PoolLink>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (configs, rt, policy, pool): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut functions = BTreeMap::new();
        for cfg in configs {
            let actor = start_child(&myself, &rt, &pool, &cfg).await?;
            functions.insert(cfg.function.clone(), Entry { cfg, actor: Some(actor), failures: VecDeque::new(), failed: None });
        }
        Ok(SupervisorState { rt, pool, policy, functions })
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Restart(function) => {
                let Some(entry) = st.functions.get(&function) else { return Ok(()) };
                if entry.actor.is_some() || entry.failed.is_some() {
                    return Ok(());
                }
                let cfg = entry.cfg.clone();
                match start_child(&myself, &st.rt, &st.pool, &cfg).await {
                    Ok(actor) => {
                        if let Some(e) = st.functions.get_mut(&function) {
                            e.actor = Some(actor);
                        }
                    }
                    Err(e) => st.on_failure(&myself, &function, format!("restart failed: {e}")),
                }
            }
            SupervisorMsg::Shutdown { grace, keep, reply } => {
                // Drains run in a task: the supervisor keeps answering (Status) while they finish.
                let handles: Vec<(String, FunctionHandle)> =
                    st.functions.iter().map(|(f, e)| (f.clone(), FunctionHandle::new(e.cfg.clone()))).collect();
                let me = myself.clone();
                tokio::spawn(async move {
                    let drains: Vec<_> =
                        handles.into_iter().map(|(f, h)| tokio::spawn(async move { (f, h.drain(grace, keep).await) })).collect();
                    let mut reports = BTreeMap::new();
                    for d in drains {
                        if let Ok((f, Some(report))) = d.await {
                            reports.insert(f, report);
                        }
                    }
                    let _ = reply.send(reports);
                    me.stop(Some("shutdown".into()));
                });
            }
            SupervisorMsg::Apply { configs, grace, reply } => {
                let mut report = ApplyReport::default();
                let wanted: BTreeMap<String, Arc<FunctionConfig>> = configs.into_iter().map(|c| (c.function.clone(), c)).collect();
                let gone: Vec<String> = st.functions.keys().filter(|f| !wanted.contains_key(*f)).cloned().collect();
                for f in gone {
                    if let Some(entry) = st.functions.remove(&f) {
                        // Removed from the map first, so its termination is not taken for a failure.
                        let handle = FunctionHandle::new(entry.cfg.clone());
                        tokio::spawn(async move { handle.drain(grace, false).await });
                        report.removed.push(f);
                    }
                }
                for (f, cfg) in wanted {
                    match st.functions.get_mut(&f) {
                        Some(entry) if entry.cfg == cfg => {}
                        Some(entry) => {
                            entry.cfg = cfg.clone();
                            match &entry.actor {
                                Some(actor) => {
                                    let _ = actor.cast(FunctionMsg::Reconfigure(cfg));
                                }
                                // Left down after failures: the new config deserves a fresh try.
                                None => {
                                    entry.failed = None;
                                    entry.failures.clear();
                                    let name = f.clone();
                                    myself.send_message(SupervisorMsg::Restart(name))?;
                                }
                            }
                            report.changed.push(f);
                        }
                        None => {
                            match start_child(&myself, &st.rt, &st.pool, &cfg).await {
                                Ok(actor) => {
                                    st.functions
                                        .insert(f.clone(), Entry { cfg, actor: Some(actor), failures: VecDeque::new(), failed: None });
                                }
                                Err(e) => {
                                    st.functions.insert(f.clone(), Entry { cfg, actor: None, failures: VecDeque::new(), failed: None });
                                    st.on_failure(&myself, &f, format!("start failed: {e}"));
                                }
                            }
                            report.added.push(f);
                        }
                    }
                }
                let _ = reply.send(report);
            }
            SupervisorMsg::Status(reply) => {
                let status = st
                    .functions
                    .iter()
                    .map(|(f, e)| {
                        (
                            f.clone(),
                            FunctionStatus { running: e.actor.is_some(), recent_restarts: e.failures.len(), failed: e.failed.clone() },
                        )
                    })
                    .collect();
                let _ = reply.send(status);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => {
                if let Some(function) = st.function_of(&cell) {
                    st.on_failure(&myself, &function, err.to_string());
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let Some(function) = st.function_of(&cell) else { return Ok(()) };
                if reason.as_deref() == Some(DRAINED) {
                    // A deliberate, graceful stop: not a failure, no restart.
                    if let Some(e) = st.functions.get_mut(&function) {
                        e.actor = None;
                    }
                } else {
                    // A child that stops on its own otherwise is restarted like a failure.
                    st.on_failure(&myself, &function, reason.unwrap_or_else(|| "stopped".into()));
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        // Stop children first (each removes its containers), so nothing outlives the supervisor.
        for entry in st.functions.values_mut() {
            if let Some(actor) = entry.actor.take() {
                let _ = actor.stop_and_wait(None, Some(Duration::from_secs(30))).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RestartPolicy { backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(700), ..Default::default() };
        let got: Vec<u128> = (1..=5).map(|n| backoff(&p, n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 700, 700]);
    }
}
