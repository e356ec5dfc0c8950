//! esb-actors: the manager.
//!
//! # Layout
//! - [`decide`]: the pool's rules as plain functions (reuse, scale out, queue, throttle, reap, prewarm).
//! - [`function`]: the FunctionActor, one per function, owning its containers and waiters.
//! - [`handle`]: [`FunctionHandle`], the typed door the gateway and CLI use to invoke a function.
//! - [`supervisor`]: the FunctionSupervisor, restarting FunctionActors one-for-one with an intensity limit.
//! - [`manager`]: the RootSupervisor and the [`Manager`] facade (start, status, shutdown).
//! - [`pool`]: the ContainerPool: the global container limit, clearing removed functions' containers.
//! - [`events`]: the EventQueue: asynchronous invocations, journaled, retried, failures recorded.
//! - [`scheduler`]: the Scheduler: Schedule events fired on a clock (the system's, or a fast one).
//! - [`watcher`]: the Watcher: project file changes, debounced into batches for the reload driver.
//! - [`logs`]: the LogCollector: function containers' output as JSON lines tagged with trace ids.
//! - [`metrics`]: invocations, throttles, cold starts, latencies, containers, reloads (Prometheus text).
//! - [`sink`]: forwarding those lines to a VictoriaLogs-compatible endpoint, bounded and retried.
//!
//! Built: RootSupervisor -> ContainerPool + FunctionSupervisor -> FunctionActors, over the `Runtime`
//! trait (Docker or the fake): leases, scale-out, queueing, throttling (per function and global),
//! reaping, recovery from labels, one-for-one restarts, graceful shutdown, hot reload (functions
//! added, removed and reconfigured in place). Still to come: the Provisioner actor.
//! The gateway holds no Docker handle: only actors do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decide;
pub mod events;
pub mod function;
pub mod handle;
pub mod logs;
pub mod manager;
pub mod metrics;
pub mod pool;
pub mod scheduler;
pub mod sink;
pub mod supervisor;
pub mod watcher;

pub use function::{AcquireError, DrainReport, FunctionActor, FunctionConfig, FunctionMsg, Stats};
pub use handle::{FunctionHandle, InvokeFailure, Leased, Reported};
pub use manager::{Manager, ManagerArgs};
pub use supervisor::{ApplyReport, FunctionStatus, FunctionSupervisor, RestartPolicy, SupervisorMsg};

#[cfg(test)]
mod tests;
