//! `esb up`, `esb down`, `esb status`: the project's daemon and containers, found by label.
//!
//! `up` builds what changed (`--build`: everything, no cache) and serves in the foreground, or with
//! `-d` runs the split daemon as two containers of `esb/daemon:<hash>` (built from this very
//! executable) on the project network: `esb-<p>-manager` (`serve --role manager --no-build`, the
//! Docker socket mounted, nothing published) and `esb-<p>-gateway` (`serve --role gateway`, the
//! gateway port published, no Docker socket). They talk over the manager socket in the project's
//! output dir, mounted in both. `up -d` restarts whichever half is not running and leaves the other
//! alone. `down` stops the gateway, then the manager (SIGTERM: it drains and removes its function
//! containers), then removes anything of the project left over. `status` lists them. Only
//! containers labelled `esb.project=<this project>` are ever touched.

use super::{block_on, show};
use crate::cli::{DownArgs, Global, ResetArgs, UpArgs};
use crate::output::Output;
use esb_runtime::labels::{key, Role};
use esb_runtime::{ContainerInfo, ContainerSpec, Labels, Runtime};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long `up -d` waits for the daemon to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

fn project_filter(project: &str) -> Labels {
    Labels::default().with(key::PROJECT, project)
}

fn daemon_name(project: &str, part: &str) -> String {
    format!("esb-{project}-{part}")
}

async fn daemons(rt: &dyn Runtime, project: &str) -> anyhow::Result<Vec<ContainerInfo>> {
    Ok(rt.containers(&project_filter(project).role(Role::Daemon)).await?)
}

pub fn up(global: &Global, args: UpArgs, out: &Output) -> anyhow::Result<()> {
    if !args.detach {
        return super::serve::serve(global, &args.serve, args.build, out);
    }
    let (global, serve, daemon) = super::daemon_config::apply(global, &args.serve)?;
    let (global, serve) = (&global, &serve);
    if serve.watch {
        anyhow::bail!("esb up -d does not watch yet (the daemon container cannot build images)\n  hint: run `esb watch` (or `esb up --watch`) in the foreground while you edit");
    }
    if serve.debug_function.is_some() {
        anyhow::bail!("esb up -d cannot hold a function under a debugger (its port would be the manager container's)\n  hint: run `esb up --debug-function F --debug-port P` (or `esb watch ...`) in the foreground");
    }
    if serve.http.is_some() {
        anyhow::bail!("esb up -d serves HTTPS only\n  hint: drop --http, or run `esb serve --http ...` in the foreground");
    }
    let (ws, project) = super::serve::open(global, serve, daemon.as_ref(), out)?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
    let listen = super::front::listen_addr(serve, &settings)?;
    let config = serve.config.as_deref().map(std::fs::canonicalize).transpose()?;
    if listen.port() == 0 {
        anyhow::bail!("esb up -d needs a fixed port to publish\n  hint: --listen 0.0.0.0:8443");
    }
    if serve.admin.is_some_and(|a| a.port() == 0 || a.port() == listen.port()) {
        anyhow::bail!("esb up -d needs its own fixed port for --admin to publish\n  hint: --admin 127.0.0.1:9100");
    }
    // Secrets are made here, so generated passwords are shown in this terminal, not in a container log.
    let secrets =
        esb_gateway::secrets::Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(super::front::gateway_error)?;
    super::front::report_created(&secrets.created, out);
    let dir = std::fs::canonicalize(ws.generator_path.parent().unwrap_or(std::path::Path::new(".")))?;
    let template = std::fs::canonicalize(&ws.template)?;
    std::fs::create_dir_all(&ws.output_dir)?;
    let output_dir = std::fs::canonicalize(&ws.output_dir)?;
    let socket = esb_api::default_socket(&output_dir);
    esb_api::check_socket_path(&socket).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(h) = super::lock::holder(&output_dir).filter(|h| h.foreground()) {
        anyhow::bail!(
            "{} already runs this project; a daemon beside it would take over its containers\n  hint: stop it first (Ctrl-C in its terminal, or `kill {}`)",
            h.describe(),
            h.pid
        );
    }
    block_on(async move {
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        let mut running = std::collections::BTreeMap::new();
        for d in daemons(&rt, &ws.settings.project).await? {
            let part = d.labels.get(key::PART).unwrap_or("").to_string();
            if d.running && (part == "gateway" || part == "manager") {
                running.insert(part, d);
            } else {
                // Exited, or from an esb before the split: replaced.
                rt.remove_container(&d.id).await?;
            }
        }
        let wanted = {
            let host = if listen.ip().is_unspecified() { "localhost".to_string() } else { listen.ip().to_string() };
            format!("https://{host}:{}", listen.port())
        };
        if let Some(g) = running.get("gateway") {
            let current = g.labels.get(key::URL).unwrap_or("?").to_string();
            if current != wanted {
                // The settings of the gateway half changed (`--listen`): that half is restarted,
                // the manager and its warm containers stay.
                out.say(format!("esb up: the gateway moves from {current} to {wanted}; restarting it"));
                rt.stop_container(&g.id, Duration::from_secs(45)).await?;
                rt.remove_container(&g.id).await?;
                running.remove("gateway");
            }
        }
        if let Some(g) = running.get("gateway").filter(|_| running.contains_key("manager")) {
            let url = g.labels.get(key::URL).unwrap_or("?").to_string();
            let (gateway, manager) = (daemon_name(&ws.settings.project, "gateway"), daemon_name(&ws.settings.project, "manager"));
            if out.json() {
                println!("{}", json!({ "event": "up", "already_running": true, "gateway": gateway, "manager": manager, "url": url }));
            } else {
                out.say(format!("esb up: already running ({gateway} and {manager}); API Gateway on {url}"));
            }
            return Ok(());
        }
        if !running.contains_key("gateway") {
            // A port another process holds is found here, before anything is started: Docker
            // would only say so with a raw 500 after the manager was already up.
            let probe = if listen.ip().is_unspecified() { SocketAddr::from(([0, 0, 0, 0], listen.port())) } else { listen };
            // Only "in use" counts: a user who may not bind a low port still gets it from the
            // engine, which publishes as root.
            if let Err(e) = std::net::TcpListener::bind(probe).map(drop).or_else(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => Err(e),
                _ => Ok(()),
            }) {
                anyhow::bail!(
                    "cannot listen on {probe}: {e}\n  hint: another process listens on port {}; pick another with --listen, or stop it (`ss -ltnp 'sport = :{}'` names it)",
                    listen.port(),
                    listen.port()
                );
            }
        }
        let progress = crate::progress::Progress::new(out.json());
        super::serve::build_images(&rt, &ws, &project, args.build, &progress, out).await?;
        let storage = ws.generator.as_ref().map(|g| g.storage.clone()).unwrap_or_default();
        super::storage::images(&rt, &project, &storage, &progress).await?;
        let image = esb_images::daemon::ensure(&rt, &std::env::current_exe()?).await?;
        let host = if listen.ip().is_unspecified() { "localhost".to_string() } else { listen.ip().to_string() };
        let url = format!("https://{host}:{}", listen.port());
        // Both halves see the project (template, generated config, secrets, the manager socket) at
        // the same path as the host does.
        let mut binds = vec![format!("{0}:{0}", dir.display())];
        for extra in
            [template.parent(), Some(output_dir.as_path()), serve.tls_cert.as_deref(), serve.tls_key.as_deref(), serve.env_vars.as_deref()]
                .into_iter()
                .flatten()
        {
            let p = std::fs::canonicalize(extra)?;
            let p = if p.is_file() { p.parent().map(|d| d.to_path_buf()).unwrap_or(p) } else { p };
            if !p.starts_with(&dir) && !binds.iter().any(|b| b.starts_with(&format!("{}:", p.display()))) {
                // Only the output dir (generated config, secrets, the manager socket) is written.
                let mode = if p == output_dir { "" } else { ":ro" };
                binds.push(format!("{0}:{0}{mode}", p.display()));
            }
        }
        let common = |role: &str| {
            let mut cmd: Vec<String> = vec!["serve".into(), "-t".into(), template.display().to_string(), "--role".into(), role.into()];
            cmd.extend(["--grace".into(), serve.grace.to_string(), "--manager-socket".into(), socket.display().to_string()]);
            for (k, v) in &serve.parameters {
                cmd.extend(["-p".into(), format!("{k}={v}")]);
            }
            if let Some(f) = serve.env_vars.as_deref().and_then(|f| std::fs::canonicalize(f).ok()) {
                cmd.extend(["--env-vars".into(), f.display().to_string()]);
            }
            // Its users, storage and logs sections; everything else is already in the flags.
            if let Some(c) = &config {
                cmd.extend(["--config".into(), c.display().to_string()]);
            }
            cmd
        };
        // The manager: the Docker socket, no published port, its API only on the unix socket.
        let mut manager_cmd = common("manager");
        manager_cmd.extend(["--no-build".into(), "--idle-timeout".into(), serve.idle_timeout.to_string()]);
        manager_cmd.extend(["--default-concurrency".into(), serve.default_concurrency.to_string()]);
        manager_cmd.extend(["--global-limit".into(), serve.global_limit.to_string()]);
        manager_cmd.extend(["--retry-delay".into(), serve.retry_delay.to_string(), "--event-queue".into(), serve.event_queue.to_string()]);
        manager_cmd.extend(["--schedule-speed".into(), serve.schedule_speed.to_string()]);
        if serve.no_schedules {
            manager_cmd.push("--no-schedules".into());
        }
        if serve.keep {
            manager_cmd.push("--keep".into());
        }
        let mut manager_binds = vec!["/var/run/docker.sock:/var/run/docker.sock".to_string()];
        manager_binds.extend(binds.iter().cloned());
        // The gateway: the published port(s), no Docker socket.
        let mut gateway_cmd = common("gateway");
        gateway_cmd.extend(["--listen".into(), format!("0.0.0.0:{}", listen.port())]);
        let mut ports = vec![(listen.port(), listen.ip().to_string(), listen.port())];
        if let Some(admin) = serve.admin {
            // Inside the container it listens on every interface; the host side keeps the address
            // asked for (loopback by default in the docs), so /metrics is not published further.
            gateway_cmd.extend(["--admin".into(), format!("0.0.0.0:{}", admin.port())]);
            ports.push((admin.port(), admin.ip().to_string(), admin.port()));
        }
        if let (Some(c), Some(k)) = (&serve.tls_cert, &serve.tls_key) {
            gateway_cmd.extend(["--tls-cert".into(), std::fs::canonicalize(c)?.display().to_string()]);
            gateway_cmd.extend(["--tls-key".into(), std::fs::canonicalize(k)?.display().to_string()]);
        }
        esb_storage::service::ensure_network(&rt, &ws.settings.project).await?;
        let parts = [
            ("manager", manager_cmd, manager_binds, vec![], "manager API on"),
            ("gateway", gateway_cmd, binds.clone(), ports, "Lambda Invoke API on"),
        ];
        // What this run starts is removed again if any part fails: never a half-started daemon.
        let mut started: Vec<(String, String)> = vec![];
        let result: anyhow::Result<()> = async {
            for (part, cmd, binds, ports, ready) in parts {
                if running.contains_key(part) {
                    continue;
                }
                let name = daemon_name(&ws.settings.project, part);
                let mut labels = project_filter(&ws.settings.project)
                    .role(Role::Daemon)
                    .with(key::PART, part)
                    .with(key::VERSION, esb_runtime::labels::SCHEMA)
                    .created_now();
                if part == "gateway" {
                    labels = labels.with(key::URL, url.clone());
                }
                let spec = ContainerSpec {
                    name: name.clone(),
                    image: image.clone(),
                    // ESB_DAEMON: the manager's project lock says `up -d` (see commands::lock).
                    env: vec!["NO_COLOR=1".into(), "ESB_LOG_FORMAT=json".into(), format!("{}=1", super::lock::DAEMON_ENV)],
                    labels,
                    cmd: Some(cmd),
                    binds,
                    ports,
                    // With the function and storage containers: the gateway invokes RIE there, the
                    // manager reaches storage there.
                    network: Some(esb_storage::service::network(&ws.settings.project)),
                    working_dir: Some(dir.display().to_string()),
                    ..Default::default()
                };
                let id = rt.create_container(&spec).await?;
                started.push((id.clone(), name.clone()));
                rt.start_container(&id).await?;
                wait_ready(&rt, &id, &name, ready).await?;
                if part == "gateway" {
                    // Listening inside the container is not yet answering on the host: "running" is
                    // said only once the published port takes connections.
                    let host = if listen.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], listen.port())) } else { listen };
                    wait_published(&rt, &id, &name, host).await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            for (id, name) in started.iter().rev() {
                let _ = rt.stop_container(id, Duration::from_secs(10)).await;
                if let Err(r) = rt.remove_container(id).await {
                    tracing::warn!(container = %name, error = %r, "could not remove a daemon container after a failed start");
                }
            }
            return Err(e.context(format!("esb up -d failed; removed what it had started ({} containers)", started.len())));
        }
        if out.json() {
            println!(
                "{}",
                json!({ "event": "up", "gateway": daemon_name(&ws.settings.project, "gateway"), "manager": daemon_name(&ws.settings.project, "manager"), "url": url })
            );
        } else {
            out.say(format!("esb up: running; API Gateway on {url}"));
            out.say(format!(
                "  gateway {} (no Docker access), manager {} (not published)",
                daemon_name(&ws.settings.project, "gateway"),
                daemon_name(&ws.settings.project, "manager")
            ));
            out.say(format!("  secrets in {}; `esb status` shows it, `esb down` stops it", show(&ws.output_dir.join("secrets"))));
        }
        Ok(())
    })
}

/// Waits until the container's log has `ready`; fails with its last lines if it exits or hangs.
async fn wait_ready(rt: &dyn Runtime, id: &str, name: &str, ready: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let logs = rt.logs(id).await.unwrap_or_default();
        if logs.contains(ready) {
            return Ok(());
        }
        check_alive(rt, id, name, started, "did not become ready in time", &logs).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `addr` on the host accepts a connection (the gateway's published port); fails with
/// the container's last lines if it exits or the port stays closed.
async fn wait_published(rt: &dyn Runtime, id: &str, name: &str, addr: SocketAddr) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await {
            return Ok(());
        }
        let logs = rt.logs(id).await.unwrap_or_default();
        check_alive(rt, id, name, started, &format!("is ready but {addr} does not take connections"), &logs).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails, with the log's last lines, when the container exited or `started` is too long ago.
async fn check_alive(rt: &dyn Runtime, id: &str, name: &str, started: Instant, late: &str, logs: &str) -> anyhow::Result<()> {
    let info = rt.inspect_container(id).await?;
    if info.running && started.elapsed() <= READY_TIMEOUT {
        return Ok(());
    }
    let tail: Vec<&str> = logs.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    anyhow::bail!(
        "the daemon container {name} {}\n--- its log (last lines) ---\n{}\n  hint: `docker logs {name}` has the whole log; `esb down` removes it",
        if info.running { late } else { "exited" },
        tail.join("\n")
    );
}

/// The project's name, without compiling the template (so status and down stay quiet and work even
/// when the template is broken).
fn project_name(global: &Global) -> anyhow::Result<String> {
    let template = super::find_template(global)?;
    Ok(esb_config::Workspace::open(&template, &Default::default())?.settings.project)
}

pub fn down(global: &Global, args: DownArgs, out: &Output) -> anyhow::Result<()> {
    let ws = esb_config::Workspace::open(&super::find_template(global)?, &Default::default())?;
    if let Some(h) = super::lock::holder(&ws.output_dir).filter(|h| h.foreground()) {
        // Its network and storage would go from under it (it answered 502 from then on).
        anyhow::bail!(
            "{} runs this project in a terminal; `esb down` would pull its network and storage from under it\n  hint: stop it there (Ctrl-C, or `kill {}`): it removes its containers itself",
            h.describe(),
            h.pid
        );
    }
    let project = ws.settings.project.clone();
    block_on(async move {
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        let mut stopped = 0;
        // Counted first: the daemon's manager stops the storage it started as it exits.
        let storage_running = rt.containers(&project_filter(&project).role(Role::Storage)).await?.iter().filter(|c| c.running).count();
        let mut found = daemons(&rt, &project).await?;
        if !found.is_empty() {
            out.say(format!("esb down: stopping the daemon ({} containers; in-flight requests drain first)", found.len()));
        }
        // The gateway first: it stops taking requests while the manager can still release leases.
        found.sort_by_key(|d| d.labels.get(key::PART) != Some("gateway"));
        for d in found {
            // SIGTERM: the daemon drains in-flight requests and removes its function containers.
            if d.running {
                rt.stop_container(&d.id, Duration::from_secs(45)).await?;
            }
            rt.remove_container(&d.id).await?;
            stopped += 1;
        }
        let mut removed = 0;
        for c in rt.containers(&project_filter(&project)).await? {
            if c.labels.get_role().is_some_and(Role::runs_functions) {
                if c.running {
                    rt.stop_container(&c.id, Duration::from_secs(5)).await?;
                }
                rt.remove_container(&c.id).await?;
                removed += 1;
            }
        }
        if storage_running > 0 {
            out.say(format!("esb down: stopping {storage_running} storage services (their data is synced)"));
        }
        let storage = esb_storage::service::stop(&rt, &project).await?.max(storage_running);
        if let Err(e) = esb_storage::service::remove_network(&rt, &project).await {
            out.warnings(&[format!("the network {} stays: {e}", esb_storage::service::network(&project))]);
        }
        let volumes = if args.volumes { esb_storage::service::remove_volumes(&rt, &project).await? } else { vec![] };
        if args.volumes {
            // Queued asynchronous events, the failure log and the S3 notification cursor are data
            // too (the cursor would point past the new, empty S3 volume's changes).
            let events = super::find_template(global)
                .ok()
                .and_then(|t| esb_config::Workspace::open(&t, &Default::default()).ok())
                .map(|ws| ws.output_dir.join("events"));
            if let Some(dir) = events.filter(|d| d.exists()) {
                std::fs::remove_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            }
        }
        if out.json() {
            println!(
                "{}",
                json!({ "daemons": stopped, "containers_removed": removed, "storage_stopped": storage, "volumes_removed": volumes })
            );
        } else {
            let data = if args.volumes {
                format!("{} data volumes deleted", volumes.len())
            } else {
                "data volumes kept; -v deletes them".to_string()
            };
            out.say(format!(
                "esb down: {stopped} daemon containers stopped, {storage} storage services stopped, {removed} leftover containers removed ({data})"
            ));
        }
        Ok(())
    })
}

/// `esb reset`: asks (unless `-y`), deletes the project's containers and data volumes, then `up --build`.
pub fn reset(global: &Global, mut args: ResetArgs, out: &Output) -> anyhow::Result<()> {
    let project = project_name(global)?;
    if !args.yes {
        if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            anyhow::bail!("esb reset deletes every S3 object and DynamoDB item of project {project}\n  hint: run it in a terminal to confirm, or pass -y");
        }
        let confirmed = dialoguer::Confirm::new()
            .with_prompt(format!("Delete every S3 object and DynamoDB item of project {project}, then rebuild and start?"))
            .default(false)
            .interact()?;
        if !confirmed {
            out.say("esb reset: nothing deleted");
            return Ok(());
        }
    }
    down(global, DownArgs { volumes: true }, out)?;
    args.up.build = true;
    up(global, args.up, out)
}

/// The template's enabled schedules and when each fires next, from now (a rate counts from the
/// daemon's start, which only the daemon knows: shown as its period). Empty when the template does
/// not compile (status must work on a broken template).
fn schedules(project: Option<&esb_config::Project>) -> Vec<(String, String, Option<String>)> {
    let Some(project) = project else { return vec![] };
    let now = chrono::Utc::now();
    let mut list = vec![];
    for (id, spec) in &project.functions.functions {
        for s in spec.schedules.iter().filter(|s| s.enabled) {
            let next = match esb_config::schedule::parse(&s.expression) {
                Ok(esb_config::schedule::Expr::Cron(c)) => c.next_after(now).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
                _ => None,
            };
            list.push((format!("{id}.{}", s.name), s.expression.clone(), next));
        }
    }
    list
}

pub fn status(global: &Global, out: &Output) -> anyhow::Result<()> {
    let ws = esb_config::Workspace::open(&super::find_template(global)?, &Default::default())?;
    let project = ws.settings.project.clone();
    // A broken template still gets a status (without schedules and left-out functions).
    let compiled = ws.compile().ok();
    let schedules = schedules(compiled.as_ref());
    let left_out = compiled.map(|p| p.left_out).unwrap_or_default();
    let events_dir = ws.output_dir.join("events");
    let lanes: Vec<_> = super::events::lanes(&events_dir).into_iter().filter(|(_, (q, _, r))| q + r > 0).collect();
    let failed = super::events::failures(&events_dir).len();
    let redrive_pending = esb_events::spool::pending(&events_dir);
    let foreground = super::lock::holder(&ws.output_dir).filter(|h| h.foreground());
    block_on(async move {
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        let all = rt.containers(&project_filter(&project)).await?;
        let part = |p: &str| all.iter().find(|c| c.labels.get_role() == Some(Role::Daemon) && c.labels.get(key::PART) == Some(p));
        let (daemon, manager) = (part("gateway"), part("manager"));
        let mut functions: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for c in all.iter().filter(|c| c.labels.get_role() == Some(Role::Function)) {
            let e = functions.entry(c.labels.get(key::FUNCTION).unwrap_or("?").to_string()).or_default();
            e.0 += usize::from(c.running);
            e.1 += 1;
        }
        let storage = esb_storage::service::endpoints(&rt, &project).await?;
        if out.json() {
            let s: Vec<_> = storage
                .iter()
                .map(|e| json!({ "service": e.service, "engine": e.engine, "endpoint": e.host, "internal": e.internal, "container": e.container }))
                .collect();
            let d = daemon.map(
                |d| json!({ "name": d.name, "running": d.running, "url": d.labels.get(key::URL), "created": d.labels.get(key::CREATED) }),
            );
            let m = manager.map(|m| json!({ "name": m.name, "running": m.running, "created": m.labels.get(key::CREATED) }));
            let f: Vec<_> = functions.iter().map(|(k, (r, t))| json!({ "function": k, "running": r, "containers": t })).collect();
            let sch: Vec<_> = schedules.iter().map(|(n, e, next)| json!({ "schedule": n, "expression": e, "next": next })).collect();
            let ev: serde_json::Map<String, serde_json::Value> =
                lanes.iter().map(|(f, (q, r, i))| (f.clone(), json!({ "queued": q, "retrying": r, "running": i }))).collect();
            println!(
                "{}",
                json!({ "project": project, "daemon": d, "manager": m, "foreground": foreground, "storage": s, "functions": f, "schedules": sch,
                        "left_out": left_out, "events": { "waiting": ev, "failed": failed, "redrive_pending": redrive_pending } })
            );
            return Ok(());
        }
        let state = |running: bool| if running { "running" } else { "exited" };
        if let Some(h) = &foreground {
            out.say(format!("serving   {}", h.describe()));
        }
        match (daemon, &foreground) {
            (None, Some(_)) => {}
            (daemon, _) => match daemon {
                Some(d) => {
                    out.say(format!("gateway   {} ({}) API Gateway on {}", d.name, state(d.running), d.labels.get(key::URL).unwrap_or("?")))
                }
                None => out.say("gateway   not running (start it with `esb up -d`)"),
            },
        }
        match (manager, &foreground) {
            (Some(m), _) => out.say(format!("manager   {} ({}) with the Docker socket, not published", m.name, state(m.running))),
            (None, Some(_)) => {}
            (None, None) => out.say("manager   not running (start it with `esb up -d`)"),
        }
        for e in &storage {
            out.say(format!(
                "storage   {} ({}) on {} (functions use {})",
                e.service,
                e.engine,
                e.host.as_deref().unwrap_or("-"),
                e.internal
            ));
        }
        if functions.is_empty() {
            out.say("functions no containers (they start on the first request)");
        }
        for (f, (running, total)) in &functions {
            out.say(format!("function  {f}: {running} running of {total}"));
        }
        for (f, why) in &left_out {
            out.say(format!("left out  {f}: {why}"));
        }
        for (name, expression, next) in &schedules {
            let when = next.as_ref().map(|n| format!("next {n}")).unwrap_or_else(|| "counted from the daemon's start".into());
            out.say(format!("schedule  {name} {expression}: {when}"));
        }
        for (f, (queued, retrying, running)) in &lanes {
            out.say(format!("events    {f}: {queued} queued ({retrying} retrying), {running} running"));
        }
        if failed > 0 {
            out.say(format!("events    {failed} failed in total (`esb events` shows them)"));
        }
        if redrive_pending > 0 {
            out.say(format!("events    {redrive_pending} redriven, waiting for the manager to queue them"));
        }
        Ok(())
    })
}
