//! esb-actors: the manager.
//!
//! # Layout
//! - [`decide`]: the pool's rules as plain functions (reuse, scale out, queue, throttle, reap, prewarm).
//! - [`function`]: the FunctionActor, one per function, owning its containers and waiters.
//! - [`handle`]: [`FunctionHandle`], the typed door the gateway and CLI use to invoke a function.
//!
//! Built so far: the FunctionActor and its invoke path over the `Runtime` trait (Docker or the fake).
//! Still to come (issue 5): the RootSupervisor/FunctionSupervisor tree with restart intensity, the
//! ContainerPool (global limit, the recovery scan adopting labelled containers), graceful shutdown.
//! The gateway holds no Docker handle: only actors do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decide;
pub mod function;
pub mod handle;

pub use function::{AcquireError, FunctionActor, FunctionConfig, FunctionMsg, Stats};
pub use handle::{FunctionHandle, InvokeFailure};

#[cfg(test)]
mod tests;
