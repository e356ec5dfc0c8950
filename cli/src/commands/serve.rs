//! `esb serve` and foreground `esb up`: the gateway and the manager in one process (`--role all`),
//! the dispatch to the split roles (`split.rs`), and the manager's half they share (`core`, build,
//! storage, log collector, actors, event sources (`triggers.rs`), and stopping them). The public listener's setup is
//! `front.rs`.
//!
//! Order: compile the template and write config; decide the listener (HTTPS by default, plain HTTP
//! only on loopback) and bind it before anything slow, so a taken port fails fast; load or generate
//! secrets (printing generated ones once); build what changed; start the actor tree (which adopts
//! running containers from labels); serve until Ctrl-C or SIGTERM; then drain: the listener closes,
//! in-flight requests and invocations finish within `--grace`, containers are removed (or kept with
//! `--keep`). A function whose image failed to build is left out with a warning; the others serve.

use super::front::{admin, announce, front, gateway_error, reload_on_hup, Front};
use super::{block_on, open_project};
use crate::cli::{Global, Role, ServeArgs};
use crate::output::Output;
use esb_actors::{Manager, ManagerArgs, RestartPolicy};
use esb_config::daemon::Daemon;
use esb_gateway::{Gateway, Limits};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub fn run(global: &Global, args: ServeArgs, out: &Output) -> anyhow::Result<()> {
    serve(global, &args, false, out)
}

/// Builds what changed (everything with `no_cache`), warns about each function left out because its
/// image failed, and returns the report.
pub(super) async fn build_images(
    rt: &esb_runtime::docker::DockerRuntime,
    ws: &esb_config::Workspace,
    project: &esb_config::Project,
    no_cache: bool,
    progress: &crate::progress::Progress,
    out: &Output,
) -> anyhow::Result<esb_images::Report> {
    let root = ws.template.parent().unwrap_or(Path::new("."));
    let options = esb_images::Options { images_dir: ws.images_dir.clone(), no_cache, ..Default::default() };
    let report = esb_images::build_project(rt, project, root, &ws.output_dir, &options, &|e| progress.event(e)).await?;
    progress.clear();
    for (what, e) in &report.failures {
        out.warnings(&[format!("{what} is left out: {}", e.to_string().lines().next().unwrap_or_default())]);
    }
    Ok(report)
}

/// The manager's half: containers, storage, logs. Built images, storage up, actors started.
pub(super) struct Core {
    pub rt: Arc<esb_runtime::docker::DockerRuntime>,
    pub logs: ractor::ActorRef<esb_actors::logs::LogMsg>,
    pub manager: Manager,
    pub current: super::reload::Current,
    pub triggers: esb_events::Sources,
}

/// Builds what changed, brings storage up, starts the log collector and the actor tree.
pub(super) async fn core(
    ws: &esb_config::Workspace,
    project: &esb_config::Project,
    args: &ServeArgs,
    no_cache: bool,
    out: &Output,
) -> anyhow::Result<Core> {
    let rt = esb_runtime::docker::DockerRuntime::connect().await?;
    // The start showed the project's warnings (or had shown them before): reloads add only new ones.
    let mut current = super::reload::Current { warned: project.warnings.iter().cloned().collect(), ..Default::default() };
    let configs = super::reload::configs(&rt, ws, project, args, no_cache, &mut current, out).await?;
    current.configs = configs.iter().map(|c| (c.function.clone(), c.clone())).collect();
    let rt = Arc::new(rt);
    let log_settings = ws.generator.as_ref().map(|g| g.logs.clone()).unwrap_or_default();
    if let Some(url) = log_settings.traces_url() {
        crate::telemetry::enable(&url)?;
    }
    // The collector starts first, so it tags the very first invocations too.
    let logs = esb_actors::logs::start(esb_actors::logs::LogArgs {
        project: ws.settings.project.clone(),
        rt: rt.clone(),
        dir: ws.output_dir.join("logs"),
        sink: log_settings.insert_url(),
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the log collector: {e}"))?;
    let manager = Manager::start(ManagerArgs {
        project: ws.settings.project.clone(),
        functions: configs,
        rt: rt.clone(),
        global_limit: args.global_limit,
        policy: RestartPolicy::default(),
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the manager: {e}"))?;
    let started = esb_events::start(rt.clone(), &event_options(ws, args), esb_events::Wiring { project, manager: &manager }).await?;
    out.warnings(&started.warnings);
    if !started.schedules.is_empty() && !out.json() {
        let speed = if args.schedule_speed > 1 { format!(" (clock x{})", args.schedule_speed) } else { String::new() };
        println!("  schedules{speed}: {}", started.schedules.join(", "));
    }
    Ok(Core { rt, logs, manager, current, triggers: started.sources })
}

/// The event sources' options, from the flags.
fn event_options(ws: &esb_config::Workspace, args: &ServeArgs) -> esb_events::Options {
    esb_events::Options {
        project: ws.settings.project.clone(),
        region: ws.settings.region.clone(),
        events_dir: ws.output_dir.join("events"),
        retry_base: Duration::from_secs(args.retry_delay),
        queue_capacity: args.event_queue,
        grace: Duration::from_secs(args.grace),
        schedules: (!args.no_schedules).then_some(args.schedule_speed.max(1)),
    }
}

/// Drains the functions (removing or keeping containers), stops the collector and, unless
/// `keep`, the storage services and the project network. Data stays in the volumes.
pub(super) async fn stop_core(
    manager: Manager,
    triggers: esb_events::Sources,
    rt: &esb_runtime::docker::DockerRuntime,
    logs: ractor::ActorRef<esb_actors::logs::LogMsg>,
    project: &str,
    args: &ServeArgs,
) -> anyhow::Result<()> {
    let stopping = std::time::Instant::now();
    println!(
        "esb serve: stopping; in-flight invocations get {} s, then the storage services get {} s",
        args.grace,
        esb_storage::service::STOP_GRACE.as_secs()
    );
    // No new events while the functions drain; running ones finish first.
    triggers.stop(Duration::from_secs(args.grace)).await;
    let reports = manager.shutdown(Duration::from_secs(args.grace), args.keep).await;
    // The removed containers' last lines reach the collector as their streams end.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = logs.stop_and_wait(None, Some(Duration::from_secs(5))).await;
    let (finished, cut, kept) = reports.values().fold((0, 0, 0), |(f, c, k), r| (f + r.finished, c + r.cut_off, k + r.kept));
    if !args.keep {
        // Only `esb down -v` deletes data.
        esb_storage::service::stop(rt, project).await?;
        // Still in use (a one-shot `esb invoke`, say): it stays, and the next stop removes it.
        if let Err(e) = esb_storage::service::remove_network(rt, project).await {
            tracing::debug!(error = %e, "the project network stays");
        }
    }
    println!(
        "esb serve: stopped in {:.1} s ({finished} in-flight finished, {cut} cut off, {kept} containers kept)",
        stopping.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Serves in the foreground; `no_cache` rebuilds every image first.
pub fn serve(global: &Global, args: &ServeArgs, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    let (global, args, daemon) = super::daemon_config::apply(global, args)?;
    let (global, args, daemon) = (&global, &args, daemon.as_ref());
    if args.watch && args.role != Role::All {
        anyhow::bail!("--watch needs the gateway and the manager in one process\n  hint: drop --role, or run `esb watch` for development");
    }
    match args.role {
        Role::All => all(global, args, daemon, no_cache, out),
        Role::Manager => super::split::manager(global, args, daemon, no_cache, out),
        Role::Gateway => super::split::gateway(global, args, daemon, out),
    }
}

/// The project, with the daemon config file's sections over generator.yml's.
pub(super) fn open(
    global: &Global,
    args: &ServeArgs,
    daemon: Option<&Daemon>,
    out: &Output,
) -> anyhow::Result<(esb_config::Workspace, esb_config::Project)> {
    // The name goes into everything compiled: settle whose it is first.
    super::identity::settle_before_open(global, out)?;
    let (mut ws, mut project) = open_project(global, &args.parameters, out, super::Open::Run)?;
    out.warnings(&super::env_vars::apply_file(&mut project, args.env_vars.as_deref())?);
    if let (Some(f), Some(port)) = (&args.debug_function, args.debug_port) {
        out.note(&super::debug::apply(&mut project, f, port)?);
    }
    super::daemon_config::overlay(&mut ws, daemon);
    Ok((ws, project))
}

fn all(global: &Global, args: &ServeArgs, daemon: Option<&Daemon>, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    let (ws, project) = open(global, args, daemon, out)?;
    // One esb per project, checked before anything is written or started.
    let mode = super::lock::mode_of(if args.watch { "watch" } else { "serve" });
    let mut lock = super::lock::ProjectLock::acquire(&ws.output_dir, mode, None).map_err(|b| super::lock::busy_error(b, mode))?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let Front { plan, tls, slot, auth, invoke_credentials, secrets } = front(&ws, args, out)?;
    block_on(async move {
        let listener = esb_gateway::server::bind(plan.addr).await.map_err(gateway_error)?;
        let addr = listener.local_addr()?;
        // Bound before anything is announced: a taken admin port stops the start before a client
        // is told the gateway is there (it was bound after, so clients saw a reset).
        let admin = admin(args, out, esb_gateway::admin::always_ready()).await?;
        let _ = lock.update(mode, Some(format!("{}://{addr}", if tls.is_some() { "https" } else { "http" })));
        let _lock = lock;
        let watch = if args.watch { Some(super::reload::Watch::start(&ws.template, &ws.output_dir).await?) } else { None };
        let Core { rt, logs, manager, current, triggers } = core(&ws, &project, args, no_cache, out).await?;
        let (router, names) = super::reload::routes(&project, &manager);
        let limits = Limits { shutdown_grace: Duration::from_secs(args.grace), ..Limits::default() };
        let routes = router.len();
        let gateway = Arc::new(Gateway::new(router, Arc::new(names), auth, limits, invoke_credentials).with_region(&ws.settings.region));
        let stop = stop_signal();
        announce(out, tls.is_some(), &secrets, addr, "", manager.status().await.len(), routes);
        let hup = reload_on_hup(ws.template.clone(), args.clone(), gateway.clone(), slot);
        let reloader = if let Some(watch) = watch {
            let watching = super::reload::Watching {
                template: ws.template.clone(),
                args: args.clone(),
                rt: rt.clone(),
                gateway: gateway.clone(),
                manager,
                current,
                triggers: triggers.clone(),
                json: out.json(),
            };
            Ok(super::reload::Reloader::start(watching, watch))
        } else {
            Err(manager)
        };
        esb_gateway::server::serve(listener, tls, gateway, stop).await;
        hup.abort();
        if let Some(a) = admin {
            a.abort();
        }
        let manager = match reloader {
            Ok(r) => r.stop().await?,
            Err(m) => m,
        };
        stop_core(manager, triggers, rt.as_ref(), logs, &ws.settings.project, args).await
    })
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: call it before telling anyone that esb is up. A supervisor (or a test) that
/// stops esb right after the "listening" line would otherwise hit the default action and kill
/// the process without its shutdown (containers, readers and storage left running).
pub(super) fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    async fn first(s: Option<Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let term = signal(SignalKind::terminate()).ok();
    let interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            _ = first(term) => {}
            _ = first(interrupt) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    /// A SIGTERM that arrives after `stop_signal()` is called but before its future is polled is
    /// kept for the future. Without the eager handler, the default action kills this test binary.
    #[tokio::test]
    async fn a_sigterm_before_the_first_poll_is_kept_for_the_stop_future() {
        let stop = super::stop_signal();
        let sent = std::process::Command::new("kill").args(["-TERM", &std::process::id().to_string()]).status().unwrap();
        assert!(sent.success());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), stop).await.expect("the stop future sees the earlier SIGTERM");
    }
}
