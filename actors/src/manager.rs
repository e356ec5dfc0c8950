//! The RootSupervisor and the [`Manager`] facade that starts and stops the whole tree.
//!
//! ```text
//! RootSupervisor
//!  ├─ ContainerPool        global limit, clears removed functions' containers at start
//!  └─ FunctionSupervisor   one-for-one restarts of
//!      └─ FunctionActor(f) one per function
//! ```
//!
//! Owns: the order of start (pool first, so FunctionActors can reserve while they adopt) and of
//! shutdown (drain functions, then stop the pool), and escalation at the top: if the pool or the
//! FunctionSupervisor itself fails, the root stops everything and says why, so the process can exit
//! and its service manager restart esb, whose recovery then adopts the running containers. Provisioner,
//! Watcher and LogCollector will hang here as their issues land.

use crate::function::{DrainReport, FunctionConfig};
use crate::handle::FunctionHandle;
use crate::pool::{ContainerPool, PoolArgs, PoolLink, PoolMsg, PoolStats};
use crate::supervisor::{ApplyReport, FunctionStatus, FunctionSupervisor, RestartPolicy, SupervisorMsg};
use esb_runtime::Runtime;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What the manager runs.
pub struct ManagerArgs {
    /// Project.
    pub project: String,
    /// The functions.
    pub functions: Vec<FunctionConfig>,
    /// The engine.
    pub rt: Arc<dyn Runtime>,
    /// Containers across all functions.
    pub global_limit: usize,
    /// FunctionActor restarts.
    pub policy: RestartPolicy,
}

/// Messages to the root.
#[derive(Debug)]
pub enum RootMsg {
    /// Drain every function, then stop the tree.
    Shutdown {
        /// Grace for in-flight invocations.
        grace: Duration,
        /// Keep idle containers for adoption.
        keep: bool,
        /// Drain reports by function.
        reply: RpcReplyPort<BTreeMap<String, DrainReport>>,
    },
}

/// The root's state: its two children.
pub struct RootState {
    pool: ActorRef<PoolMsg>,
    functions: ActorRef<SupervisorMsg>,
    shutting_down: bool,
}

/// The root of the tree.
pub struct RootSupervisor;

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = ManagerArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: ManagerArgs) -> Result<Self::State, ActorProcessingErr> {
        let names = args.functions.iter().map(|f| f.function.clone()).collect();
        let pool_args = PoolArgs { project: args.project.clone(), functions: names, limit: args.global_limit, rt: args.rt.clone() };
        let (pool, _) = Actor::spawn_linked(None, ContainerPool, pool_args, myself.get_cell()).await?;
        let link = Some(PoolLink { pool: pool.clone() });
        let configs = args.functions.into_iter().map(Arc::new).collect();
        let sup_args = (configs, args.rt, args.policy, link);
        let (functions, _) = Actor::spawn_linked(None, FunctionSupervisor, sup_args, myself.get_cell()).await?;
        Ok(RootState { pool, functions, shutting_down: false })
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Shutdown { grace, keep, reply } => {
                st.shutting_down = true;
                let (functions, pool) = (st.functions.clone(), st.pool.clone());
                tokio::spawn(async move {
                    let call =
                        functions.call(|reply| SupervisorMsg::Shutdown { grace, keep, reply }, Some(grace + Duration::from_secs(10))).await;
                    let reports = match call {
                        Ok(ractor::rpc::CallResult::Success(r)) => r,
                        _ => BTreeMap::new(),
                    };
                    let _ = functions.stop_and_wait(None, Some(Duration::from_secs(10))).await;
                    let _ = pool.stop_and_wait(None, Some(Duration::from_secs(5))).await;
                    let _ = reply.send(reports);
                    myself.stop(Some("shutdown".into()));
                });
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
        let (who, why) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell.get_id(), err.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell.get_id(), reason.clone().unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        if st.shutting_down {
            return Ok(());
        }
        let part = if who == st.pool.get_id() { "the container pool" } else { "the function supervisor" };
        tracing::error!(part, reason = %why, "a core part of the manager stopped; stopping the manager (restart esb to recover)");
        myself.stop(Some(format!("{part} stopped: {why}")));
        Ok(())
    }
}

/// The running manager.
pub struct Manager {
    root: ActorRef<RootMsg>,
    handles: BTreeMap<String, FunctionHandle>,
}

impl Manager {
    /// Starts the tree: recovery runs during start, so the returned manager has adopted what it could.
    pub async fn start(args: ManagerArgs) -> Result<Manager, ActorProcessingErr> {
        let handles = args.functions.iter().map(|f| (f.function.clone(), FunctionHandle::new(Arc::new(f.clone())))).collect();
        let (root, _) = Actor::spawn(None, RootSupervisor, args).await.map_err(|e| Box::new(e) as ActorProcessingErr)?;
        Ok(Manager { root, handles })
    }

    /// The handle of a function by logical id.
    pub fn function(&self, id: &str) -> Option<&FunctionHandle> {
        self.handles.get(id)
    }

    /// The root's child that takes messages of type `M`.
    pub(crate) fn child<M: ractor::Message>(&self) -> Option<ActorRef<M>> {
        self.root.get_children().into_iter().find(|c| c.is_message_type_of::<M>() == Some(true)).map(Into::into)
    }

    /// False once the tree has stopped (after a shutdown, or after escalating a core failure): the
    /// process hosting it should then exit so its service manager restarts esb.
    pub fn is_running(&self) -> bool {
        !matches!(self.root.get_status(), ractor::ActorStatus::Stopped | ractor::ActorStatus::Stopping)
    }

    /// Every function's supervision status.
    pub async fn status(&self) -> BTreeMap<String, FunctionStatus> {
        let Some(sup) = self.child::<SupervisorMsg>() else { return BTreeMap::new() };
        ractor::call_t!(sup, SupervisorMsg::Status, 5000).unwrap_or_default()
    }

    /// The pool's counts.
    pub async fn pool(&self) -> Option<PoolStats> {
        let pool = self.child::<PoolMsg>()?;
        ractor::call_t!(pool, PoolMsg::Stats, 5000).ok()
    }

    /// Hot reload: makes the set of functions `configs` (see [`SupervisorMsg::Apply`]) and returns
    /// what changed; handles are replaced, so callers must take new ones from [`Manager::function`].
    pub async fn apply(&mut self, configs: Vec<FunctionConfig>, grace: Duration) -> Result<ApplyReport, ActorProcessingErr> {
        let sup = self.child::<SupervisorMsg>().ok_or("the supervisor is not running")?;
        let arcs: Vec<Arc<FunctionConfig>> = configs.into_iter().map(Arc::new).collect();
        let report =
            match sup.call(|reply| SupervisorMsg::Apply { configs: arcs.clone(), grace, reply }, Some(Duration::from_secs(60))).await? {
                ractor::rpc::CallResult::Success(r) => r,
                other => return Err(format!("the supervisor did not answer: {other:?}").into()),
            };
        self.handles = arcs.into_iter().map(|c| (c.function.clone(), FunctionHandle::new(c))).collect();
        Ok(report)
    }

    /// Drains every function (in flight finishes within `grace`) and stops the tree.
    pub async fn shutdown(self, grace: Duration, keep: bool) -> BTreeMap<String, DrainReport> {
        let reports = match self.root.call(|reply| RootMsg::Shutdown { grace, keep, reply }, Some(grace + Duration::from_secs(30))).await {
            Ok(ractor::rpc::CallResult::Success(r)) => r,
            _ => BTreeMap::new(),
        };
        let _ = self.root.stop_and_wait(None, Some(Duration::from_secs(10))).await;
        reports
    }
}
