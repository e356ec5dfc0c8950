//! [`FakeRuntime`]: an in-memory [`Runtime`] for unit tests.
//!
//! Owns: a pretend engine (images by reference, containers by id) that records every call and can be
//! told to fail: engine unavailable, builds failing with given output, container starts failing or
//! slow, a container dying. Must not: be used outside tests of esb's own logic; it does not run code.

use crate::{BuildRequest, ContainerInfo, ContainerSpec, ImageInfo, Labels, Progress, Runtime, RuntimeError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `build_image` with these tags.
    Build(Vec<String>),
    /// `import_rootfs` to this reference.
    Import(String),
    /// `load_images` of this file.
    Load(String),
    /// `save_images` of these references.
    Save(Vec<String>),
    /// `create_container` with this name.
    Create(String),
    /// `start_container`.
    Start(String),
    /// `stop_container`.
    Stop(String),
    /// `remove_container`.
    Remove(String),
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Every call fails with [`RuntimeError::Unavailable`].
    pub unavailable: bool,
    /// Builds whose first tag contains this text fail, with this output.
    pub build_fails: Option<(String, Vec<String>)>,
    /// Container starts fail.
    pub start_fails: bool,
    /// Container starts take this long.
    pub start_delay: Option<Duration>,
}

#[derive(Debug, Default)]
struct State {
    ip: Option<IpAddr>,
    images: BTreeMap<String, ImageInfo>,
    containers: BTreeMap<String, ContainerInfo>,
    volumes: BTreeMap<String, Labels>,
    networks: BTreeMap<String, Labels>,
    calls: Vec<Call>,
    faults: Faults,
    next: u64,
    /// What every container's log holds, when a test set it.
    logs: Option<String>,
}

/// The fake engine.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
}

impl FakeRuntime {
    /// Every container's log reads `text` from now on (e.g. RIE's line naming a runtime failure).
    pub fn set_logs(&self, text: &str) {
        self.with(|s| s.logs = Some(text.to_string()));
    }

    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a test already panicked; keep going with its state.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// An engine whose running containers all have address `ip` (tests point it at a fake RIE on
    /// loopback).
    pub fn with_ip(ip: IpAddr) -> Self {
        let rt = Self::default();
        rt.with(|s| s.ip = Some(ip));
        rt
    }

    /// Adds an image under `reference`; returns its id.
    pub fn add_image(&self, reference: &str, labels: Labels) -> String {
        self.with(|s| {
            s.next += 1;
            let id = format!("sha256:{:064x}", s.next);
            s.images.insert(reference.into(), ImageInfo { id: id.clone(), tags: vec![reference.into()], size: 1000, labels });
            id
        })
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Faults) {
        self.with(|s| s.faults = faults);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.with(|s| s.calls.clone())
    }

    /// The tags of every build so far.
    pub fn builds(&self) -> Vec<Vec<String>> {
        self.calls().into_iter().filter_map(|c| if let Call::Build(t) = c { Some(t) } else { None }).collect()
    }

    /// Flags a running container as the engine does when the kernel killed a process in it for
    /// its memory limit (the runtime died; RIE, its first process, may keep running).
    pub fn flag_oom(&self, id: &str) {
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(id) {
                c.oom_killed = true;
            }
        });
    }

    /// Makes a running container exit as if it died (`oom`: killed for memory).
    pub fn kill(&self, id: &str, oom: bool) {
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(id) {
                c.running = false;
                c.exit_code = Some(if oom { 137 } else { 2 });
                c.oom_killed = oom;
                c.ip = None;
            }
        });
    }

    fn check(&self) -> Result<(), RuntimeError> {
        if self.with(|s| s.faults.unavailable) {
            Err(RuntimeError::Unavailable("fake engine is down".into()))
        } else {
            Ok(())
        }
    }

    fn record(&self, call: Call) -> Result<(), RuntimeError> {
        self.check()?;
        self.with(|s| s.calls.push(call));
        Ok(())
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    async fn ping(&self) -> Result<(), RuntimeError> {
        self.check()
    }

    async fn image(&self, reference: &str) -> Result<Option<ImageInfo>, RuntimeError> {
        self.check()?;
        Ok(self.with(|s| s.images.get(reference).cloned().or_else(|| s.images.values().find(|i| i.id == reference).cloned())))
    }

    async fn images_with_label(&self, key: &str) -> Result<Vec<ImageInfo>, RuntimeError> {
        self.check()?;
        Ok(self.with(|s| s.images.values().filter(|i| i.labels.0.contains_key(key)).cloned().collect()))
    }

    async fn build_image(&self, req: BuildRequest, progress: Progress<'_>) -> Result<String, RuntimeError> {
        self.record(Call::Build(req.tags.clone()))?;
        let failure = self.with(|s| s.faults.build_fails.clone());
        if let Some((needle, output)) = failure {
            if req.tags.first().is_some_and(|t| t.contains(&needle)) {
                output.iter().for_each(|l| progress(l));
                return Err(RuntimeError::BuildFailed { message: "fake build failure".into(), output });
            }
        }
        progress("Step 1/1 : FROM fake");
        let first = req.tags.first().cloned().unwrap_or_default();
        let id = self.add_image(&first, req.labels.clone());
        for t in &req.tags[1..] {
            self.tag_image(&first, t).await?;
        }
        Ok(id)
    }

    async fn tag_image(&self, source: &str, reference: &str) -> Result<(), RuntimeError> {
        self.check()?;
        self.with(|s| {
            let info = s.images.get(source).cloned().or_else(|| s.images.values().find(|i| i.id == source).cloned());
            match info {
                Some(mut i) => {
                    i.tags = vec![reference.into()];
                    s.images.insert(reference.into(), i);
                    Ok(())
                }
                None => Err(RuntimeError::NotFound(source.into())),
            }
        })
    }

    async fn import_rootfs(&self, tarball: &Path, reference: &str) -> Result<String, RuntimeError> {
        self.record(Call::Import(reference.into()))?;
        if !tarball.exists() {
            return Err(RuntimeError::Io { path: tarball.display().to_string(), source: std::io::ErrorKind::NotFound.into() });
        }
        Ok(self.add_image(reference, Labels::default()))
    }

    async fn load_images(&self, tarball: &Path) -> Result<(), RuntimeError> {
        self.record(Call::Load(tarball.display().to_string()))
    }

    async fn save_images(&self, references: &[String], out: &Path) -> Result<(), RuntimeError> {
        self.record(Call::Save(references.to_vec()))?;
        std::fs::write(out, b"fake image tarball").map_err(|source| RuntimeError::Io { path: out.display().to_string(), source })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, RuntimeError> {
        self.record(Call::Create(spec.name.clone()))?;
        self.with(|s| {
            if s.containers.values().any(|c| c.name == spec.name) {
                return Err(RuntimeError::Engine(format!("409: name {} in use", spec.name)));
            }
            s.next += 1;
            let id = format!("c{:011}", s.next);
            let info = ContainerInfo {
                id: id.clone(),
                name: spec.name.clone(),
                labels: spec.labels.clone(),
                running: false,
                exit_code: None,
                oom_killed: false,
                ip: None,
                published: vec![],
            };
            s.containers.insert(id.clone(), info);
            Ok(id)
        })
    }

    async fn start_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(Call::Start(id.into()))?;
        let faults = self.with(|s| s.faults.clone());
        if let Some(d) = faults.start_delay {
            tokio::time::sleep(d).await;
        }
        if faults.start_fails {
            return Err(RuntimeError::Engine("fake start failure".into()));
        }
        self.with(|s| match s.containers.get_mut(id) {
            Some(c) if c.running => Err(RuntimeError::Engine(format!("304: {id} already started"))),
            Some(c) => {
                c.running = true;
                c.ip = Some(s.ip.unwrap_or(IpAddr::V4(Ipv4Addr::new(172, 17, 0, 2))));
                Ok(())
            }
            None => Err(RuntimeError::NotFound(id.into())),
        })
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerInfo, RuntimeError> {
        self.check()?;
        self.with(|s| s.containers.get(id).cloned()).ok_or_else(|| RuntimeError::NotFound(id.into()))
    }

    async fn containers(&self, labels: &Labels) -> Result<Vec<ContainerInfo>, RuntimeError> {
        self.check()?;
        Ok(self.with(|s| s.containers.values().filter(|c| c.labels.matches(labels)).cloned().collect()))
    }

    async fn logs(&self, id: &str) -> Result<String, RuntimeError> {
        self.check()?;
        Ok(self.with(|s| s.logs.clone()).unwrap_or_else(|| format!("fake logs of {id}\n")))
    }

    fn follow_logs(&self, id: &str) -> crate::LogStream {
        use futures_util::StreamExt;
        let line = format!("2026-01-01T00:00:00.000000000Z fake logs of {id}\n");
        futures_util::stream::iter(vec![Ok(line)]).boxed()
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<(), RuntimeError> {
        self.record(Call::Stop(id.into()))?;
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(id) {
                c.running = false;
                c.exit_code = Some(0);
                c.ip = None;
            }
        });
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(Call::Remove(id.into()))?;
        self.with(|s| s.containers.remove(id));
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError> {
        self.with(|s| {
            s.volumes.entry(name.to_string()).or_insert_with(|| labels.clone());
        });
        Ok(())
    }

    async fn volumes(&self, labels: &Labels) -> Result<Vec<String>, RuntimeError> {
        Ok(self.with(|s| s.volumes.iter().filter(|(_, l)| l.matches(labels)).map(|(n, _)| n.clone()).collect()))
    }

    async fn volume_labels(&self, name: &str) -> Result<Option<Labels>, RuntimeError> {
        Ok(self.with(|s| s.volumes.get(name).cloned()))
    }

    async fn remove_volume(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|s| s.volumes.remove(name));
        Ok(())
    }

    async fn create_network(&self, name: &str, labels: &Labels) -> Result<(), RuntimeError> {
        self.with(|s| {
            s.networks.entry(name.to_string()).or_insert_with(|| labels.clone());
        });
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), RuntimeError> {
        self.with(|s| s.networks.remove(name));
        Ok(())
    }
}

impl FakeRuntime {
    /// Names of the networks that exist.
    pub fn networks(&self) -> Vec<String> {
        self.with(|s| s.networks.keys().cloned().collect())
    }
}

/// Starts a fake RIE on loopback; returns its port. Its answers are steered by the event:
/// `{"sleep_ms": N}` answers late, `{"die": true}` closes without answering (a crashed container),
/// `{"timeout": true}` answers RIE's timeout text, `{"garbage": true}` answers HTTP 500; anything
/// else is echoed as `{"echo": <event>}`.
pub async fn fake_rie() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_rie(sock));
        }
    });
    port
}

async fn serve_rie(sock: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut reader = tokio::io::BufReader::new(sock);
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(ms) = event["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if event["die"] == true {
            return;
        }
        let (status, answer) = if event["timeout"] == true {
            ("200 OK", "Task timed out after 1.00 seconds".to_string())
        } else if event["garbage"] == true {
            ("500 Internal Server Error", "oops".to_string())
        } else {
            ("200 OK", format!("{{\"echo\":{}}}", String::from_utf8_lossy(&body)))
        };
        let response = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{answer}", answer.len());
        if reader.get_mut().write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn containers_live_and_die_in_memory() {
        let rt = FakeRuntime::new();
        let labels = Labels::new().with(crate::labels::key::PROJECT, "p");
        let id = rt.create_container(&ContainerSpec { name: "p-f-1".into(), labels: labels.clone(), ..Default::default() }).await.unwrap();
        rt.start_container(&id).await.unwrap();
        assert!(rt.inspect_container(&id).await.unwrap().running);
        rt.kill(&id, true);
        let info = rt.inspect_container(&id).await.unwrap();
        assert!(!info.running && info.oom_killed);
        assert_eq!(rt.containers(&labels).await.unwrap().len(), 1);
        rt.remove_container(&id).await.unwrap();
        assert!(rt.containers(&labels).await.unwrap().is_empty());
        rt.create_container(&ContainerSpec { name: "p-f-2".into(), ..Default::default() }).await.unwrap();
        let dup = rt.create_container(&ContainerSpec { name: "p-f-2".into(), ..Default::default() }).await;
        assert!(matches!(dup, Err(RuntimeError::Engine(m)) if m.starts_with("409")), "names are unique, as in Docker");
    }

    #[tokio::test]
    async fn faults_are_injected() {
        let rt = FakeRuntime::new();
        rt.set_faults(Faults { build_fails: Some(("bad".into(), vec!["Step 2/3 : RUN false".into()])), ..Default::default() });
        let err = rt.build_image(BuildRequest { tags: vec!["bad:1".into()], ..Default::default() }, &|_| {}).await.unwrap_err();
        assert!(matches!(err, RuntimeError::BuildFailed { ref output, .. } if output[0].contains("RUN false")));
        rt.set_faults(Faults { unavailable: true, ..Default::default() });
        assert!(matches!(rt.ping().await, Err(RuntimeError::Unavailable(_))));
    }
}
