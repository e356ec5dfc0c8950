//! esb-actors: the manager (not built yet).
//!
//! This crate will hold the ractor supervision tree described in `DESIGN.md` ("actors"):
//! RootSupervisor, ContainerPool, FunctionSupervisor with one FunctionActor per function,
//! Provisioner, Watcher and LogCollector, over a `Runtime` trait with a Docker implementation
//! (bollard) and an in-memory fake for tests. It reads `functions.yml` and `resources.yml`
//! produced by esb-config. Nothing here runs yet; see the open issues for the manager.
#![forbid(unsafe_code)]
