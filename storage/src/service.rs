//! Storage services as containers: start or adopt, wait until ready, stop; volumes.
//!
//! Owns: the S3 service container `esb-<project>-s3` (labels `esb.project`, `esb.role=storage`,
//! `esb.service=s3`, `esb.config-hash` = its image) with its data in the named volume
//! `esb-<project>-s3` (labelled the same), adopting a running one with the same image instead of
//! restarting it, publishing its port on the host's loopback for the developer's own tools, and
//! removing containers and (only when asked) volumes by label. Must not: create buckets (`provision`).

use crate::StorageError;
use esb_runtime::labels::key;
use esb_runtime::{ContainerInfo, ContainerSpec, Labels, Runtime};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The S3 service's port inside its container.
pub const S3_PORT: u16 = 9000;
/// The DynamoDB service's port inside its container.
pub const DYNAMODB_PORT: u16 = 8000;

/// A service's port inside its container.
pub fn port_of(service: &str) -> u16 {
    match service {
        "dynamodb" => DYNAMODB_PORT,
        _ => S3_PORT,
    }
}

/// Where a service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `s3`.
    pub service: String,
    /// For functions: `http://<container ip>:<port>` on the bridge network.
    pub internal: String,
    /// For the developer: `http://127.0.0.1:<published port>`.
    pub host: Option<String>,
    /// The container's name.
    pub container: String,
}

fn labels(project: &str, service: &str) -> Labels {
    Labels::new().with(key::PROJECT, project).with(key::ROLE, "storage").with(key::SERVICE, service)
}

fn endpoint(info: &ContainerInfo, service: &str, port: u16) -> Option<Endpoint> {
    let ip = info.ip?;
    Some(Endpoint {
        service: service.into(),
        internal: format!("http://{}", SocketAddr::new(ip, port)),
        host: info.published.iter().find(|(c, _)| *c == port).map(|(_, h)| format!("http://127.0.0.1:{h}")),
        container: info.name.clone(),
    })
}

/// Starts (or adopts) the S3 service of `project`, running `image` (an esb image: its entrypoint is
/// esb), published on the host's `127.0.0.1:host_port` (0 picks a free port).
pub async fn start_s3(rt: &dyn Runtime, project: &str, image: &str, host_port: u16) -> Result<Endpoint, StorageError> {
    let cmd = vec!["storage-s3".into(), "--root".into(), "/data".into(), "--listen".into(), format!("0.0.0.0:{S3_PORT}")];
    start(rt, project, "s3", image, cmd, host_port).await
}

/// Starts (or adopts) the DynamoDB service of `project` (the journalled moto image).
pub async fn start_dynamodb(rt: &dyn Runtime, project: &str, image: &str, host_port: u16) -> Result<Endpoint, StorageError> {
    let cmd = vec!["--journal".into(), "/data/journal.jsonl".into(), "--port".into(), DYNAMODB_PORT.to_string()];
    start(rt, project, "dynamodb", image, cmd, host_port).await
}

async fn start(
    rt: &dyn Runtime,
    project: &str,
    service: &str,
    image: &str,
    cmd: Vec<String>,
    host_port: u16,
) -> Result<Endpoint, StorageError> {
    let name = format!("esb-{project}-{service}");
    let port = port_of(service);
    let wanted = labels(project, service).with(key::CONFIG_HASH, image);
    for c in rt.containers(&labels(project, service)).await? {
        if c.running && c.labels.get(key::CONFIG_HASH) == Some(image) {
            if let Some(e) = endpoint(&c, service, port) {
                tracing::info!(container = %c.name, "adopted the running {service} service");
                return Ok(e);
            }
        }
        rt.remove_container(&c.id).await?;
    }
    rt.create_volume(&name, &labels(project, service)).await?;
    let spec = ContainerSpec {
        name: name.clone(),
        image: image.to_string(),
        env: vec!["ESB_LOG_FORMAT=json".into(), "NO_COLOR=1".into()],
        labels: wanted.created_now(),
        cmd: Some(cmd),
        binds: vec![format!("{name}:/data")],
        ports: vec![(port, "127.0.0.1".into(), host_port)],
        ..Default::default()
    };
    let id = rt.create_container(&spec).await?;
    rt.start_container(&id).await?;
    let started = Instant::now();
    // A long journal takes a while to replay before the service listens.
    let limit = Duration::from_secs(60);
    loop {
        let info = rt.inspect_container(&id).await?;
        if let Some(ip) = info.ip {
            if tokio::net::TcpStream::connect(SocketAddr::new(ip, port)).await.is_ok() {
                return endpoint(&info, service, port).ok_or_else(|| StorageError::S3("no address".into()));
            }
        }
        if !info.running || started.elapsed() > limit {
            let logs = rt.logs(&id).await.unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(StorageError::NotReady {
                service: service.into(),
                container: name,
                reason: if info.running {
                    format!("not listening after {} s", limit.as_secs())
                } else {
                    format!("it exited: {}", tail.join(" | "))
                },
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The running storage services of `project`.
pub async fn endpoints(rt: &dyn Runtime, project: &str) -> Result<Vec<Endpoint>, StorageError> {
    let list = rt.containers(&Labels::default().with(key::PROJECT, project).with(key::ROLE, "storage")).await?;
    Ok(list
        .iter()
        .filter(|c| c.running)
        .filter_map(|c| {
            let service = c.labels.get(key::SERVICE).unwrap_or("?");
            endpoint(c, service, port_of(service))
        })
        .collect())
}

/// Stops and removes the storage containers of `project`; volumes stay. Returns how many.
pub async fn stop(rt: &dyn Runtime, project: &str) -> Result<usize, StorageError> {
    let list = rt.containers(&Labels::default().with(key::PROJECT, project).with(key::ROLE, "storage")).await?;
    for c in &list {
        if c.running {
            rt.stop_container(&c.id, Duration::from_secs(10)).await?;
        }
        rt.remove_container(&c.id).await?;
    }
    Ok(list.len())
}

/// Removes the data volumes of `project` (only volumes labelled with it). Returns their names.
pub async fn remove_volumes(rt: &dyn Runtime, project: &str) -> Result<Vec<String>, StorageError> {
    let names = rt.volumes(&Labels::default().with(key::PROJECT, project)).await?;
    for n in &names {
        rt.remove_volume(n).await?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_runtime::fake::FakeRuntime;

    #[tokio::test]
    async fn volumes_are_removed_only_for_the_project() {
        let rt = FakeRuntime::new();
        rt.create_volume("esb-a-s3", &labels("a", "s3")).await.unwrap();
        rt.create_volume("esb-b-s3", &labels("b", "s3")).await.unwrap();
        rt.create_volume("unrelated", &Labels::default()).await.unwrap();
        assert_eq!(remove_volumes(&rt, "a").await.unwrap(), ["esb-a-s3"]);
        let left = rt.volumes(&Labels::default()).await.unwrap();
        assert_eq!(left, ["esb-b-s3", "unrelated"]);
    }

    #[tokio::test]
    async fn a_service_that_exits_is_reported_with_its_container() {
        let rt = FakeRuntime::new();
        rt.set_faults(esb_runtime::fake::Faults { start_fails: true, ..Default::default() });
        let err = start_s3(&rt, "p", "esb/daemon:x", 0).await.unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
