//! [`DockerRuntime`]: the [`Runtime`] over the Docker Engine API (bollard).
//!
//! Owns: connecting (the unix socket, or `DOCKER_HOST` as the docker CLI reads it: `unix://`,
//! `tcp://`; what esb cannot honour, `ssh://`, TLS and named contexts, is refused with a hint,
//! never silently replaced by the local socket), the API version negotiated so older engines work,
//! translating esb's requests to API calls, and streaming large bodies (build contexts, rootfs and
//! image tarballs) without holding whole files in memory where the API allows it.
//! Must not: decide anything (what to build, when to remove); callers do.

use crate::{BuildRequest, ContainerInfo, ContainerSpec, ImageInfo, Labels, Progress, Runtime, RuntimeError};
use async_trait::async_trait;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding, VolumeCreateRequest};
use bollard::query_parameters as q;
use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Build output lines kept for an error report.
const BUILD_TAIL: usize = 40;

/// The Docker engine.
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
}

/// Where the engine is, from the docker CLI's environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The default local socket (or Podman's rootless one).
    Local,
    /// `unix:///path`.
    Unix(String),
    /// `tcp://host:port` (plain HTTP).
    Tcp(String),
}

/// Reads `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and `DOCKER_CONTEXT` (through `var`) as the docker CLI
/// does, refusing what esb cannot honour with what to do instead.
pub fn endpoint(var: impl Fn(&str) -> Option<String>) -> Result<Endpoint, RuntimeError> {
    let refuse = |what: String| Err(RuntimeError::Unavailable(what));
    let host = var("DOCKER_HOST").filter(|h| !h.is_empty());
    let tls = var("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty() && v != "0");
    match host {
        None => match var("DOCKER_CONTEXT").filter(|c| !c.is_empty() && c != "default") {
            Some(c) => refuse(format!(
                "DOCKER_CONTEXT={c} is not read by esb
  hint: set DOCKER_HOST to that context's endpoint (`docker context inspect {c} -f '{{{{.Endpoints.docker.Host}}}}'`)"
            )),
            None => Ok(Endpoint::Local),
        },
        Some(h) if h.starts_with("unix://") => Ok(Endpoint::Unix(h)),
        Some(h) if h.starts_with("tcp://") || h.starts_with("http://") => {
            if tls {
                return refuse(format!(
                    "DOCKER_HOST={h} with DOCKER_TLS_VERIFY: esb does not speak TLS to the engine yet
  hint: reach it through an SSH tunnel to its socket (`ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST`, then DOCKER_HOST=unix:///tmp/docker.sock)"
                ));
            }
            Ok(Endpoint::Tcp(h))
        }
        Some(h) if h.starts_with("ssh://") => refuse(format!(
            "DOCKER_HOST={h}: esb does not connect over ssh:// itself
  hint: forward the remote socket (`ssh -NL /tmp/docker.sock:/var/run/docker.sock {}`), then DOCKER_HOST=unix:///tmp/docker.sock",
            h.trim_start_matches("ssh://")
        )),
        Some(h) => refuse(format!(
            "DOCKER_HOST={h} is not an address esb understands
  hint: use unix:///path/to/docker.sock or tcp://host:2375"
        )),
    }
}

impl DockerRuntime {
    /// Connects where the environment says ([`endpoint`]) and negotiates the API version, so
    /// engines older than bollard's default API work.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let unavailable = |e: bollard::errors::Error| RuntimeError::Unavailable(e.to_string());
        let docker = match endpoint(|k| std::env::var(k).ok())? {
            Endpoint::Local => Docker::connect_with_unix_defaults().map_err(unavailable)?,
            Endpoint::Unix(h) => Docker::connect_with_unix(&h, 120, bollard::API_DEFAULT_VERSION).map_err(unavailable)?,
            Endpoint::Tcp(h) => Docker::connect_with_http(&h, 120, bollard::API_DEFAULT_VERSION).map_err(unavailable)?,
        };
        let docker = docker.negotiate_version().await.map_err(|e| RuntimeError::Unavailable(e.to_string()))?;
        Ok(DockerRuntime { docker })
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError + '_ {
    move |source| RuntimeError::Io { path: path.display().to_string(), source }
}

/// Whether a container's memory reached its limit: the peak (cgroup v1's `max_usage`) at the
/// limit, or an `oom_kill` count where the engine reports one. cgroup v2 engines without either
/// cannot tell, and say no.
fn memory_limit_reached(m: &bollard::models::ContainerMemoryStats) -> bool {
    let killed = m.stats.as_ref().and_then(|s| s.get("oom_kill")).is_some_and(|n| *n > 0);
    let peaked = matches!((m.max_usage, m.limit), (Some(peak), Some(limit)) if limit > 0 && peak >= limit);
    killed || peaked
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Endpoint, RuntimeError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        endpoint(|k| map.get(k).cloned())
    }

    #[test]
    fn docker_host_is_honoured_or_refused_never_ignored() {
        assert_eq!(with(&[]).unwrap(), Endpoint::Local);
        assert_eq!(with(&[("DOCKER_HOST", "unix:///tmp/d.sock")]).unwrap(), Endpoint::Unix("unix:///tmp/d.sock".into()));
        assert_eq!(with(&[("DOCKER_HOST", "tcp://10.0.0.5:2375")]).unwrap(), Endpoint::Tcp("tcp://10.0.0.5:2375".into()));
        assert_eq!(with(&[("DOCKER_CONTEXT", "default")]).unwrap(), Endpoint::Local);
        for (vars, says) in [
            (vec![("DOCKER_HOST", "ssh://me@edge")], "ssh -NL"),
            (vec![("DOCKER_HOST", "tcp://10.0.0.5:2376"), ("DOCKER_TLS_VERIFY", "1")], "TLS"),
            (vec![("DOCKER_CONTEXT", "edge")], "DOCKER_CONTEXT=edge"),
            (vec![("DOCKER_HOST", "npipe:////./pipe/docker")], "not an address"),
        ] {
            let e = with(&vars).unwrap_err().to_string();
            assert!(e.contains(says), "{vars:?}: {e}");
        }
    }
}

/// A file as a stream of 1 MiB chunks (wrap with `bollard::body_try_stream`; bollard's body type is private).
async fn file_stream(path: &Path) -> Result<tokio_util::io::ReaderStream<tokio::fs::File>, RuntimeError> {
    let file = tokio::fs::File::open(path).await.map_err(io_err(path))?;
    Ok(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20))
}

/// The network named in Docker's "network X is ambiguous (N matches found on name)".
fn ambiguous_network(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("network ")?;
    rest.split_once(" is ambiguous").map(|(name, _)| name)
}

fn image_info(i: bollard::models::ImageInspect) -> ImageInfo {
    ImageInfo {
        id: i.id.unwrap_or_default(),
        tags: i.repo_tags.unwrap_or_default(),
        size: i.size.unwrap_or(0).max(0) as u64,
        labels: i.config.and_then(|c| c.labels).map(Labels::from).unwrap_or_default(),
    }
}

impl DockerRuntime {
    async fn create_container_once(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        let host_config = HostConfig {
            memory: spec.memory_mb.map(|m| (m * 1024 * 1024) as i64),
            // Same as the memory limit: no swap, so an over-limit function is OOM-killed like on Lambda.
            memory_swap: spec.memory_mb.map(|m| (m * 1024 * 1024) as i64),
            network_mode: spec.network.clone(),
            binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
            port_bindings: (!spec.ports.is_empty()).then(|| {
                spec.ports
                    .iter()
                    .map(|(c, ip, h)| {
                        (format!("{c}/tcp"), Some(vec![PortBinding { host_ip: Some(ip.clone()), host_port: Some(h.to_string()) }]))
                    })
                    .collect()
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.clone()),
            labels: Some(spec.labels.0.clone().into_iter().collect()),
            cmd: spec.cmd.clone(),
            working_dir: spec.working_dir.clone(),
            exposed_ports: (!spec.ports.is_empty()).then(|| spec.ports.iter().map(|(c, _, _)| format!("{c}/tcp")).collect()),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = q::CreateContainerOptions { name: Some(spec.name.clone()), ..Default::default() };
        Ok(self.docker.create_container(Some(options), body).await?.id)
    }

    /// Removes all but the oldest network named `name`; how many there were.
    async fn dedupe_network(&self, name: &str) -> Result<usize, RuntimeError> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let list = self.docker.list_networks(Some(q::ListNetworksOptions { filters: Some(filters) })).await?;
        let mut same: Vec<_> = list.into_iter().filter(|n| n.name.as_deref() == Some(name)).collect();
        same.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        for extra in same.iter().skip(1) {
            if let Some(id) = &extra.id {
                let _ = self.docker.remove_network(id).await;
            }
        }
        Ok(same.len())
    }
}

#[async_trait]
impl Runtime for DockerRuntime {
    async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker.ping().await.map(|_| ()).map_err(|e| RuntimeError::Unavailable(e.to_string()))
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => Ok(Some(image_info(i))),
            Err(e) => match RuntimeError::from(e) {
                RuntimeError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn images_with_label(&self, key: &str) -> Result<Vec<ImageInfo>, RuntimeError> {
        let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
        let list = self.docker.list_images(Some(q::ListImagesOptions { filters: Some(filters), ..Default::default() })).await?;
        Ok(list
            .into_iter()
            .map(|s| ImageInfo {
                id: s.id,
                tags: s.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                size: s.size.max(0) as u64,
                labels: Labels::from(s.labels),
            })
            .collect())
    }

    async fn build_image(&self, req: BuildRequest, progress: Progress<'_>) -> Result<String, RuntimeError> {
        let Some(first) = req.tags.first().cloned() else {
            return Err(RuntimeError::Engine("a build needs at least one tag".into()));
        };
        let options = q::BuildImageOptions {
            dockerfile: req.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()),
            target: req.target.clone().unwrap_or_default(),
            t: Some(first.clone()),
            rm: true,
            forcerm: true,
            nocache: req.no_cache,
            buildargs: Some(req.build_args.into_iter().collect()),
            labels: Some(req.labels.0.into_iter().collect()),
            ..Default::default()
        };
        let mut stream = self.docker.build_image(options, None, Some(bollard::body_full(req.context)));
        let mut tail: Vec<String> = vec![];
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            progress(line);
                            tail.push(line.to_string());
                            if tail.len() > BUILD_TAIL {
                                tail.remove(0);
                            }
                        }
                    }
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(RuntimeError::BuildFailed { message, output: tail });
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(RuntimeError::BuildFailed { message: error, output: tail });
                }
                Err(e) => return Err(e.into()),
            }
        }
        let id = self.image(&first).await?.ok_or_else(|| RuntimeError::NotFound(first.clone()))?.id;
        for extra in &req.tags[1..] {
            self.tag_image(&id, extra).await?;
        }
        Ok(id)
    }

    async fn tag_image(&self, source: &str, reference: &str) -> Result<(), RuntimeError> {
        let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        Ok(self.docker.tag_image(source, Some(q::TagImageOptions { repo: Some(repo.into()), tag: Some(tag.into()) })).await?)
    }

    async fn import_rootfs(&self, tarball: &Path, reference: &str) -> Result<String, RuntimeError> {
        let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        let options =
            q::CreateImageOptions { from_src: Some("-".into()), repo: Some(repo.into()), tag: Some(tag.into()), ..Default::default() };
        let mut stream = self.docker.create_image(Some(options), Some(bollard::body_try_stream(file_stream(tarball).await?)), None);
        while let Some(item) = stream.next().await {
            item?;
        }
        Ok(self.image(reference).await?.ok_or_else(|| RuntimeError::NotFound(reference.into()))?.id)
    }

    async fn load_images(&self, tarball: &Path) -> Result<(), RuntimeError> {
        let mut stream = self.docker.import_image(
            q::ImportImageOptions { quiet: true, ..Default::default() },
            bollard::body_try_stream(file_stream(tarball).await?),
            None,
        );
        while let Some(item) = stream.next().await {
            item?;
        }
        Ok(())
    }

    async fn save_images(&self, references: &[String], out: &Path) -> Result<(), RuntimeError> {
        let refs: Vec<&str> = references.iter().map(String::as_str).collect();
        let tmp = out.with_extension("tar.partial");
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io_err(&tmp))?;
        let mut stream = self.docker.export_images(&refs);
        while let Some(chunk) = stream.try_next().await? {
            file.write_all(&chunk).await.map_err(io_err(&tmp))?;
        }
        file.sync_all().await.map_err(io_err(&tmp))?;
        tokio::fs::rename(&tmp, out).await.map_err(io_err(out))
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        match self.create_container_once(spec).await {
            // A network created twice at once (see `create_network`): keep one, try again.
            Err(RuntimeError::Engine(m)) => match ambiguous_network(&m) {
                Some(name) => {
                    self.dedupe_network(name).await?;
                    self.create_container_once(spec).await
                }
                None => Err(RuntimeError::Engine(m)),
            },
            other => other,
        }
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        // Docker resolves the container's network by name again at start: a second network of that
        // name (see `create_network`) makes the start fail as "ambiguous" until it is gone.
        let mut tries = 0;
        loop {
            match self.docker.start_container(id, None::<q::StartContainerOptions>).await.map_err(RuntimeError::from) {
                Err(RuntimeError::Engine(m)) if tries < 3 => match ambiguous_network(&m) {
                    Some(name) => {
                        tries += 1;
                        self.dedupe_network(name).await?;
                    }
                    None => return Err(RuntimeError::Engine(m)),
                },
                other => return other,
            }
        }
    }

    async fn oom_killed(&self, id: &str) -> Result<bool, RuntimeError> {
        let info = self.inspect_container(id).await?;
        if info.oom_killed || !info.running {
            return Ok(info.oom_killed);
        }
        // Still running (RIE survives its runtime): the memory cgroup's peak says whether the
        // limit was reached. One sample, no two-cycle wait.
        let options = q::StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let Some(stats) = self.docker.stats(id, Some(options)).next().await.transpose()? else { return Ok(false) };
        Ok(stats.memory_stats.as_ref().is_some_and(memory_limit_reached))
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        let c = self.docker.inspect_container(id, None::<q::InspectContainerOptions>).await?;
        let state = c.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let published: Vec<(u16, u16)> = c
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.as_ref())
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|(k, v)| {
                        let container = k.strip_suffix("/tcp")?.parse().ok()?;
                        let host = v.as_ref()?.iter().find_map(|b| b.host_port.as_ref()?.parse().ok())?;
                        Some((container, host))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ip = c
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| nets.into_values().find_map(|e| e.ip_address.filter(|a| !a.is_empty())))
            .and_then(|a| a.parse().ok());
        Ok(ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
            labels: c.config.and_then(|c| c.labels).map(Labels::from).unwrap_or_default(),
            running,
            exit_code: if running { None } else { state.exit_code },
            oom_killed: state.oom_killed.unwrap_or(false),
            ip: if running { ip } else { None },
            published: if running { published } else { vec![] },
        })
    }

    async fn containers(&self, labels: &Labels) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let filters = HashMap::from([("label".to_string(), labels.0.iter().map(|(k, v)| format!("{k}={v}")).collect())]);
        let list =
            self.docker.list_containers(Some(q::ListContainersOptions { all: true, filters: Some(filters), ..Default::default() })).await?;
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            if let Some(id) = c.id {
                match self.inspect_container(&id).await {
                    Ok(info) => out.push(info),
                    Err(RuntimeError::NotFound(_)) => {} // removed meanwhile
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    async fn logs(&self, id: &str) -> Result<String, RuntimeError> {
        let options = q::LogsOptions { stdout: true, stderr: true, tail: "all".into(), ..Default::default() };
        let chunks: Vec<_> = self.docker.logs(id, Some(options)).try_collect().await?;
        Ok(chunks.iter().map(|c| String::from_utf8_lossy(&c.clone().into_bytes()).to_string()).collect())
    }

    fn follow_logs(&self, id: &str) -> crate::LogStream {
        use futures_util::StreamExt;
        let options =
            q::LogsOptions { stdout: true, stderr: true, follow: true, timestamps: true, tail: "all".into(), ..Default::default() };
        self.docker
            .logs(id, Some(options))
            .map(|chunk| chunk.map(|c| String::from_utf8_lossy(&c.into_bytes()).to_string()).map_err(RuntimeError::from))
            .boxed()
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let options = q::StopContainerOptions { t: Some(grace.as_secs() as i32), ..Default::default() };
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()), // already stopped
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        let options = q::RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) => match RuntimeError::from(e) {
                RuntimeError::NotFound(_) => Ok(()),
                // "removal already in progress" is success for our purposes.
                RuntimeError::Engine(m) if m.starts_with("409") => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError> {
        let req = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.0.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker.create_volume(req).await?;
        Ok(())
    }

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError> {
        if self.dedupe_network(name).await? > 0 {
            return Ok(());
        }
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(labels.0.clone().into_iter().collect()),
            ..Default::default()
        };
        self.docker.create_network(req).await?;
        // Docker does not refuse a second network of the same name: two esb commands starting at
        // once can both create one. All of them keep the oldest.
        self.dedupe_network(name).await?;
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) => match RuntimeError::from(e) {
                RuntimeError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn volumes(&self, labels: &Labels) -> Result<Vec<String>, RuntimeError> {
        let filters = HashMap::from([("label".to_string(), labels.0.iter().map(|(k, v)| format!("{k}={v}")).collect())]);
        let list = self.docker.list_volumes(Some(q::ListVolumesOptions { filters: Some(filters) })).await?;
        Ok(list.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect())
    }

    async fn volume_labels(&self, name: &str) -> Result<Option<Labels>, RuntimeError> {
        match self.docker.inspect_volume(name).await {
            Ok(v) => Ok(Some(Labels(v.labels.into_iter().collect()))),
            Err(e) => match RuntimeError::from(e) {
                RuntimeError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        match self.docker.remove_volume(name, Some(q::RemoveVolumeOptions { force: true })).await {
            Ok(()) => Ok(()),
            Err(e) => match RuntimeError::from(e) {
                RuntimeError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ambiguous_network_is_read_from_dockers_message() {
        assert_eq!(super::ambiguous_network("400: network esb-faults is ambiguous (2 matches found on name)"), Some("esb-faults"));
        assert_eq!(super::ambiguous_network("404: No such container: abc"), None);
    }

    #[test]
    fn a_memory_peak_at_the_limit_or_an_oom_kill_count_is_an_oom() {
        use bollard::models::ContainerMemoryStats as M;
        let mb = 1 << 20;
        // As Docker 20.10 on cgroup v1 reported a runtime killed by a 400 MB string in 128 MB.
        assert!(super::memory_limit_reached(&M { usage: Some(3 * mb), max_usage: Some(128 * mb), limit: Some(128 * mb), ..M::default() }));
        assert!(!super::memory_limit_reached(&M { max_usage: Some(90 * mb), limit: Some(128 * mb), ..M::default() }));
        let v2 = M { usage: Some(mb), limit: Some(128 * mb), stats: Some([("oom_kill".to_string(), 1)].into()), ..M::default() };
        assert!(super::memory_limit_reached(&v2));
        assert!(!super::memory_limit_reached(&M::default()), "an engine that reports nothing says no");
    }
}
