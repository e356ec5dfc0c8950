//! Plain values passed to and returned by [`crate::Runtime`].

use crate::Labels;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// An image as esb sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:...`.
    pub id: String,
    /// `repo:tag` references.
    pub tags: Vec<String>,
    /// Bytes.
    pub size: u64,
    /// Labels from the image config.
    pub labels: Labels,
}

/// An image build.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// An uncompressed tar with `Dockerfile` at its root.
    pub context: Bytes,
    /// References to tag the result with (at least one).
    pub tags: Vec<String>,
    /// `ARG` values.
    pub build_args: BTreeMap<String, String>,
    /// Labels added to the image.
    pub labels: Labels,
    /// Ignore the engine's layer cache.
    pub no_cache: bool,
    /// The Dockerfile's path in the context (`Dockerfile` when `None`).
    pub dockerfile: Option<String>,
    /// The stage to build (`--target`); the last when `None`.
    pub target: Option<String>,
}

/// A container to create.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container name (deterministic per project).
    pub name: String,
    /// Image reference or id.
    pub image: String,
    /// `KEY=VALUE` pairs.
    pub env: Vec<String>,
    /// Labels.
    pub labels: Labels,
    /// Memory limit in MiB.
    pub memory_mb: Option<u64>,
    /// Overrides the image's CMD.
    pub cmd: Option<Vec<String>>,
    /// Network to attach to (the engine's default bridge when `None`).
    pub network: Option<String>,
    /// Bind mounts, `host:container[:ro]` (the daemon container only; functions get none).
    pub binds: Vec<String>,
    /// Published ports: (container port, host address, host port) (the daemon container only).
    pub ports: Vec<(u16, String, u16)>,
    /// Working directory.
    pub working_dir: Option<String>,
}

/// A container's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// True while running.
    pub running: bool,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Killed for exceeding its memory limit.
    pub oom_killed: bool,
    /// Its address on its network, while running.
    pub ip: Option<IpAddr>,
    /// Published TCP ports while running: (container port, host port).
    pub published: Vec<(u16, u16)>,
}
