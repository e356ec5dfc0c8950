//! esb-runtime: the container runtime esb drives, and the client that talks to RIE inside it.
//!
//! # Layout
//! - [`Runtime`]: the operations esb needs (images: inspect, build, import, load, save, tag;
//!   containers: create, start, inspect, list by label, logs, stop, remove), shaped by esb, not by
//!   the Docker API. Implementations: [`docker::DockerRuntime`] (bollard) and [`fake::FakeRuntime`]
//!   (in memory, records calls, injects faults) for unit tests of everything above this crate.
//! - [`labels`]: the one typed place for `esb.*` labels.
//! - [`rie`]: invoking a function in an RIE container over HTTP and classifying what comes back.
//!
//! Must not: know about templates or esb's config files; callers pass plain values.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod docker;
pub mod error;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod labels;
pub mod rie;
mod types;

pub use error::RuntimeError;
pub use labels::{Labels, Role};
pub use types::*;

use async_trait::async_trait;
use std::path::Path;
use std::time::Duration;

/// A container's output as it arrives (see [`Runtime::follow_logs`]).
pub type LogStream = futures_util::stream::BoxStream<'static, Result<String, RuntimeError>>;

/// Receives build output lines as they arrive (for progress display).
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// What esb asks of a container engine.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// Checks that the engine answers.
    async fn ping(&self) -> Result<(), RuntimeError>;
    /// Inspects an image by reference or id; `None` when absent.
    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, RuntimeError>;
    /// Images carrying label `key` (any value).
    async fn images_with_label(&self, key: &str) -> Result<Vec<ImageInfo>, RuntimeError>;
    /// Builds an image from a tar build context; returns the image id. Tags every `req.tags`.
    async fn build_image(&self, req: BuildRequest, progress: Progress<'_>) -> Result<String, RuntimeError>;
    /// Points `reference` (`repo:tag`) at image `source` (id or reference).
    async fn tag_image(&self, source: &str, reference: &str) -> Result<(), RuntimeError>;
    /// `docker import`: a root filesystem tarball becomes an image; returns its id.
    async fn import_rootfs(&self, tarball: &Path, reference: &str) -> Result<String, RuntimeError>;
    /// `docker load`: images from a `docker save` tarball.
    async fn load_images(&self, tarball: &Path) -> Result<(), RuntimeError>;
    /// `docker save`: writes `references` into one tarball at `out`.
    async fn save_images(&self, references: &[String], out: &Path) -> Result<(), RuntimeError>;
    /// Creates a container; returns its id.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError>;
    /// Starts a created container.
    async fn start_container(&self, id: &str) -> Result<(), RuntimeError>;
    /// The container's current state.
    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError>;
    /// Whether the kernel killed a process in the container for its memory limit. The engine's
    /// `OOMKilled` says so only once the container has exited (Docker 20.10 leaves it false while
    /// RIE, the first process, keeps running after the runtime was killed); an engine that can
    /// tell more (the memory cgroup's peak reaching the limit) overrides this.
    async fn oom_killed(&self, id: &str) -> Result<bool, RuntimeError> {
        Ok(self.inspect_container(id).await?.oom_killed)
    }
    /// Containers (running or not) carrying every one of `labels`.
    async fn containers(&self, labels: &Labels) -> Result<Vec<ContainerInfo>, RuntimeError>;
    /// Everything the container wrote to stdout and stderr so far.
    async fn logs(&self, id: &str) -> Result<String, RuntimeError>;
    /// Follows a container's output (stdout and stderr) from its start until it stops: chunks as
    /// the engine delivers them, each `<RFC 3339 timestamp> <text>` (a chunk may hold part of a
    /// line, or several).
    fn follow_logs(&self, id: &str) -> LogStream;
    /// Stops the container, killing it after `grace`.
    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
    /// Removes the container (force: a running one is killed). Absent is not an error.
    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError>;
    /// Creates the named volume with `labels`; an existing one is kept as it is.
    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError>;
    /// Names of the volumes carrying every one of `labels`.
    async fn volumes(&self, labels: &Labels) -> Result<Vec<String>, RuntimeError>;
    /// The labels of the named volume; `None` when there is no such volume.
    async fn volume_labels(&self, name: &str) -> Result<Option<Labels>, RuntimeError>;
    /// Removes the volume and its data. Absent is not an error.
    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError>;
    /// Creates the named bridge network with `labels` (containers on it find each other by
    /// name); an existing one is kept as it is.
    async fn create_network(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError>;
    /// Removes the network. Absent is not an error; one still in use is an error.
    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError>;
}
