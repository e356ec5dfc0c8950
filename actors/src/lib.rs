//! esb-actors: the manager.
//!
//! # Layout
//! - [`decide`]: the pool's rules as plain functions (reuse, scale out, queue, throttle, reap, prewarm).
//! - [`function`]: the FunctionActor, one per function, owning its containers and waiters.
//! - [`handle`]: [`FunctionHandle`], the typed door the gateway and CLI use to invoke a function.
//! - [`supervisor`]: the FunctionSupervisor, restarting FunctionActors one-for-one with an intensity limit.
//!
//! Built so far: FunctionSupervisor -> FunctionActors, their invoke path and recovery from labels, over
//! the `Runtime` trait (Docker or the fake). Still to come (issue 5): the RootSupervisor with a
//! ContainerPool (a global container limit, one recovery scan for all functions, leftover `esb invoke`
//! containers) and graceful shutdown with a drain deadline.
//! The gateway holds no Docker handle: only actors do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decide;
pub mod function;
pub mod handle;
pub mod supervisor;

pub use function::{AcquireError, DrainReport, FunctionActor, FunctionConfig, FunctionMsg, Stats};
pub use handle::{FunctionHandle, InvokeFailure};
pub use supervisor::{FunctionStatus, FunctionSupervisor, RestartPolicy, SupervisorMsg};

#[cfg(test)]
mod tests;
