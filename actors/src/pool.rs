//! ContainerPool: the project-wide view of containers.
//!
//! Owns: the global container limit (every function's containers together, like Lambda's account
//! concurrency), by reservation: a FunctionActor reserves a slot before it creates (or adopts) a
//! container and frees it after removing one. At start it removes the containers of functions that
//! are no longer in the template. Must not: start or stop function containers itself (FunctionActors
//! own theirs), or touch containers without this project's labels.

use esb_runtime::labels::{key, Role};
use esb_runtime::{Labels, Runtime};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Slots in use.
    pub used: usize,
    /// The limit.
    pub limit: usize,
    /// Slots by function.
    pub by_function: BTreeMap<String, usize>,
    /// Containers of removed functions cleared at start.
    pub cleared: usize,
}

/// Messages.
#[derive(Debug)]
pub enum PoolMsg {
    /// A slot for one more container of `function`: true when granted.
    Reserve(String, RpcReplyPort<bool>),
    /// `function` removed a container (or never created the one it reserved for).
    Free(String),
    /// Counts.
    Stats(RpcReplyPort<PoolStats>),
}

/// What the pool starts from.
pub struct PoolArgs {
    /// Project.
    pub project: String,
    /// The functions in the template (containers of others are removed).
    pub functions: BTreeSet<String>,
    /// Global limit.
    pub limit: usize,
    /// The engine.
    pub rt: Arc<dyn Runtime>,
}

/// The pool.
pub struct ContainerPool;

impl Actor for ContainerPool {
    type Msg = PoolMsg;
    type State = PoolStats;
    type Arguments = PoolArgs;

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, args: PoolArgs) -> Result<Self::State, ActorProcessingErr> {
        let filter = Labels::default().with(key::PROJECT, args.project.clone()).role(Role::Function);
        let mut cleared = 0;
        match args.rt.containers(&filter).await {
            Ok(found) => {
                for c in found {
                    let known = c.labels.get(key::FUNCTION).is_some_and(|f| args.functions.contains(f));
                    if !known {
                        cleared += 1;
                        if let Err(e) = args.rt.remove_container(&c.id).await {
                            tracing::warn!(container = %c.id, error = %e, "could not remove a removed function's container");
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "project scan failed; nothing cleared"),
        }
        Ok(PoolStats { limit: args.limit, cleared, ..Default::default() })
    }

    async fn handle(&self, _myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Reserve(function, reply) => {
                let granted = st.used < st.limit;
                if granted {
                    st.used += 1;
                    *st.by_function.entry(function).or_default() += 1;
                }
                let _ = reply.send(granted);
            }
            PoolMsg::Free(function) => {
                if let Some(n) = st.by_function.get_mut(&function).filter(|n| **n > 0) {
                    *n -= 1;
                    st.used -= 1;
                }
            }
            PoolMsg::Stats(reply) => {
                let _ = reply.send(st.clone());
            }
        }
        Ok(())
    }
}

/// A FunctionActor's link to the pool (absent when there is no global limit, e.g. in unit tests).
#[derive(Debug, Clone)]
pub struct PoolLink {
    /// The pool.
    pub pool: ActorRef<PoolMsg>,
}

impl PoolLink {
    /// Reserves a slot; a pool that does not answer counts as no slot.
    pub async fn reserve(&self, function: &str) -> bool {
        let answer = self.pool.call(|reply| PoolMsg::Reserve(function.to_string(), reply), Some(std::time::Duration::from_secs(5))).await;
        matches!(answer, Ok(ractor::rpc::CallResult::Success(true)))
    }

    /// Frees a slot.
    pub fn free(&self, function: &str) {
        let _ = self.pool.cast(PoolMsg::Free(function.to_string()));
    }
}
