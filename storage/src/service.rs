//! Storage services as containers: start or adopt, wait until ready, stop; volumes.
//!
//! Owns: the service containers `esb-<project>-<service>` (labels `esb.project`, `esb.role=storage`,
//! `esb.service`, `esb.engine`, `esb.config-hash` = the plan's fingerprint) with their data in named
//! volumes (labelled the same; see [`Plan::volume`]), adopting a running one with the same plan
//! instead of restarting it, publishing its port on the host's loopback for the developer's own tools, and
//! removing containers and (only when asked) volumes by label, and the project's network
//! (`esb-<project>`, a bridge where functions reach the services by container name, so a service
//! that restarts on another address is still found). Must not: create buckets or tables
//! (`provision`) or choose engines (`engines`).

use crate::engines::Plan;
use crate::StorageError;
use esb_runtime::labels::{key, Role};
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
    /// For functions: `http://<container name>:<port>` on the project's network.
    pub internal: String,
    /// For esb itself (provisioning): `http://<container ip>:<port>`, reachable from the host.
    pub direct: String,
    /// For the developer: `http://127.0.0.1:<published port>`.
    pub host: Option<String>,
    /// The container's name.
    pub container: String,
    /// `builtin`, `rustfs`, `alternator`.
    pub engine: String,
}

/// The project's network: storage services, function containers and the daemon join it.
pub fn network(project: &str) -> String {
    format!("esb-{project}")
}

/// Creates the project's network when it is missing.
pub async fn ensure_network(rt: &dyn Runtime, project: &str) -> Result<(), StorageError> {
    Ok(rt.create_network(&network(project), &Labels::new().with(key::PROJECT, project)).await?)
}

/// Removes the project's network (after its containers are gone).
pub async fn remove_network(rt: &dyn Runtime, project: &str) -> Result<(), StorageError> {
    Ok(rt.remove_network(&network(project)).await?)
}

fn labels(project: &str, service: &str) -> Labels {
    Labels::new().with(key::PROJECT, project).role(Role::Storage).with(key::SERVICE, service)
}

fn endpoint(info: &ContainerInfo, service: &str, port: u16) -> Option<Endpoint> {
    let ip = info.ip?;
    Some(Endpoint {
        service: service.into(),
        internal: format!("http://{}:{port}", info.name),
        direct: format!("http://{}", SocketAddr::new(ip, port)),
        host: info.published.iter().find(|(c, _)| *c == port).map(|(_, h)| format!("http://127.0.0.1:{h}")),
        container: info.name.clone(),
        engine: info.labels.get(key::ENGINE).unwrap_or("builtin").to_string(),
    })
}

/// Starts (or adopts) the storage service `plan` describes for `project`: a running container with
/// the same plan is adopted, any other is replaced; the data volume is created when missing.
pub async fn start(rt: &dyn Runtime, project: &str, plan: &Plan) -> Result<Endpoint, StorageError> {
    let service = plan.service;
    let name = format!("esb-{project}-{service}");
    // The network is part of what runs: a container from before esb used one is replaced.
    let fingerprint = format!("{}|net:{}", plan.fingerprint(), network(project));
    let wanted = labels(project, service).with(key::CONFIG_HASH, fingerprint.clone()).with(key::ENGINE, plan.engine);
    for c in rt.containers(&labels(project, service)).await? {
        if c.running && c.labels.get(key::CONFIG_HASH) == Some(fingerprint.as_str()) {
            if let Some(e) = endpoint(&c, service, plan.port) {
                tracing::info!(container = %c.name, engine = plan.engine, "adopted the running {service} service");
                return Ok(e);
            }
        }
        rt.remove_container(&c.id).await?;
    }
    let volume = plan.volume(project);
    ensure_network(rt, project).await?;
    rt.create_volume(&volume, &labels(project, service).with(key::ENGINE, plan.engine)).await?;
    let spec = ContainerSpec {
        name: name.clone(),
        image: plan.image.clone(),
        env: plan.env.clone(),
        labels: wanted.created_now(),
        cmd: Some(plan.cmd.clone()),
        binds: vec![format!("{volume}:{}", plan.data_dir)],
        ports: vec![(plan.port, "127.0.0.1".into(), plan.host_port)],
        network: Some(network(project)),
        ..Default::default()
    };
    let id = rt.create_container(&spec).await?;
    if let Err(e) = rt.start_container(&id).await {
        // A fixed host port that is taken fails here; leave no stopped container behind.
        let _ = rt.remove_container(&id).await;
        return Err(StorageError::NotReady {
            service: service.into(),
            container: name,
            reason: if plan.host_port != 0 {
                format!("{e} (is 127.0.0.1:{} in use? storage.{service}.host_port in generator.yml sets it)", plan.host_port)
            } else {
                e.to_string()
            },
        });
    }
    let started = Instant::now();
    loop {
        let info = rt.inspect_container(&id).await?;
        if let Some(ip) = info.ip {
            if tokio::net::TcpStream::connect(SocketAddr::new(ip, plan.port)).await.is_ok() {
                tracing::info!(container = %name, engine = plan.engine, ms = started.elapsed().as_millis() as u64, "{service} service ready");
                return endpoint(&info, service, plan.port).ok_or_else(|| StorageError::S3("no address".into()));
            }
        }
        if !info.running || started.elapsed() > plan.ready_within {
            let logs = rt.logs(&id).await.unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
            return Err(StorageError::NotReady {
                service: service.into(),
                container: name,
                reason: if info.running {
                    format!("not listening after {} s", plan.ready_within.as_secs())
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
    let list = rt.containers(&Labels::default().with(key::PROJECT, project).role(Role::Storage)).await?;
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
    let list = rt.containers(&Labels::default().with(key::PROJECT, project).role(Role::Storage)).await?;
    // Side by side: each has synced what it acknowledged (the S3 store, the DynamoDB journal), so
    // a service slow to exit is killed after a few seconds instead of holding `down` up in turn.
    let stops = list.iter().map(|c| async move {
        if c.running {
            rt.stop_container(&c.id, STOP_GRACE).await?;
        }
        rt.remove_container(&c.id).await
    });
    for r in futures_util::future::join_all(stops).await {
        r?;
    }
    Ok(list.len())
}

/// How long a storage service gets to exit on SIGTERM before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(4);

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
    async fn functions_find_a_service_by_name_and_esb_by_address() {
        let info = ContainerInfo {
            id: "c1".into(),
            name: "esb-p-dynamodb".into(),
            labels: Labels::default(),
            running: true,
            exit_code: None,
            oom_killed: false,
            ip: Some("172.20.0.3".parse().unwrap()),
            published: vec![(DYNAMODB_PORT, 49153)],
        };
        let e = endpoint(&info, "dynamodb", DYNAMODB_PORT).unwrap();
        assert_eq!(e.internal, "http://esb-p-dynamodb:8000", "stable when the service restarts on another address");
        assert_eq!(e.direct, "http://172.20.0.3:8000");
        assert_eq!(e.host.as_deref(), Some("http://127.0.0.1:49153"));
        let rt = FakeRuntime::new();
        ensure_network(&rt, "p").await.unwrap();
        ensure_network(&rt, "p").await.unwrap();
        assert_eq!(rt.networks(), ["esb-p"]);
        remove_network(&rt, "p").await.unwrap();
        assert!(rt.networks().is_empty());
    }

    #[tokio::test]
    async fn a_service_that_exits_is_reported_with_its_container() {
        let rt = FakeRuntime::new();
        rt.set_faults(esb_runtime::fake::Faults { start_fails: true, ..Default::default() });
        let plan = crate::engines::builtin_s3("esb/daemon:x", &Default::default(), "us-east-1");
        let err = start(&rt, "p", &plan).await.unwrap_err();
        assert!(err.to_string().contains("esb-p-s3"), "{err}");
        assert!(rt.containers(&Labels::default()).await.unwrap().is_empty(), "no stopped container is left behind");
    }
}
