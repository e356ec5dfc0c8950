//! `esb serve` and foreground `esb up`: the gateway and the manager in one process.
//!
//! Order: compile the template and write config; decide the listener (HTTPS by default, plain HTTP
//! only on loopback) and bind it before anything slow, so a taken port fails fast; load or generate
//! secrets (printing generated ones once); build what changed; start the actor tree (which adopts
//! running containers from labels); serve until Ctrl-C or SIGTERM; then drain: the listener closes,
//! in-flight requests and invocations finish within `--grace`, containers are removed (or kept with
//! `--keep`). A function whose image failed to build is left out with a warning; the others serve.

use super::{block_on, open_project, show};
use crate::cli::{Global, Role, ServeArgs};
use crate::output::Output;
use esb_actors::{Manager, ManagerArgs, RestartPolicy};
use esb_config::generator::GatewaySettings;
use esb_gateway::auth::{ApiKeys, Auth, Tokens, User, Users};
use esb_gateway::secrets::{Created, Secrets, ADMIN_USER};
use esb_gateway::{Gateway, Limits};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The documented default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:443";
/// Access key id of the Lambda Invoke API's SigV4 credentials (the secret is the API key).
pub const INVOKE_KEY_ID: &str = "esb";

pub fn run(global: &Global, args: ServeArgs, out: &Output) -> anyhow::Result<()> {
    serve(global, &args, false, out)
}

/// Where to listen and how.
pub(super) struct Listen {
    pub addr: SocketAddr,
    /// (certificate, key) files given by the operator; `None` uses the generated pair.
    pub tls: Option<Option<(PathBuf, PathBuf)>>,
}

fn listen_plan(args: &ServeArgs, settings: &GatewaySettings, base: &Path) -> anyhow::Result<Listen> {
    if let Some(addr) = args.http {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "plain HTTP is only served on loopback, not {addr}\n  hint: use 127.0.0.1:{port}, or drop --http to serve HTTPS on any address",
                port = addr.port()
            );
        }
        return Ok(Listen { addr, tls: None });
    }
    let addr = listen_addr(args, settings)?;
    let files = match (&args.tls_cert, &args.tls_key, &settings.tls_cert, &settings.tls_key) {
        (Some(c), Some(k), _, _) => Some((c.clone(), k.clone())),
        (_, _, Some(c), Some(k)) => Some((base.join(c), base.join(k))),
        (_, _, Some(_), None) | (_, _, None, Some(_)) => {
            anyhow::bail!(
                "generator.yml gateway: tls_cert and tls_key go together\n  hint: set both, or neither to use a generated certificate"
            )
        }
        _ => None,
    };
    Ok(Listen { addr, tls: Some(files) })
}

/// The HTTPS address: `--listen`, else generator.yml `gateway.listen`, else [`DEFAULT_LISTEN`].
pub(super) fn listen_addr(args: &ServeArgs, settings: &GatewaySettings) -> anyhow::Result<SocketAddr> {
    Ok(match (&args.listen, &settings.listen) {
        (Some(a), _) => *a,
        (None, Some(s)) => {
            s.parse().map_err(|_| anyhow::anyhow!("generator.yml gateway.listen `{s}` is not an address like 0.0.0.0:443"))?
        }
        (None, None) => DEFAULT_LISTEN.parse()?,
    })
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

fn users(secrets: &Secrets, settings: &GatewaySettings) -> anyhow::Result<Users> {
    let mut list = vec![User { username: ADMIN_USER.into(), hash: secrets.admin_hash.clone(), groups: vec!["admin".into()], email: None }];
    for u in &settings.users {
        if u.username == ADMIN_USER {
            anyhow::bail!("generator.yml gateway.users: `admin` is esb's generated user\n  hint: pick another username");
        }
        list.push(User { username: u.username.clone(), hash: u.password_hash.clone(), groups: u.groups.clone(), email: u.email.clone() });
    }
    Users::new(list).map_err(|e| anyhow::anyhow!("generator.yml {e}"))
}

pub(super) fn report_created(created: &[Created], out: &Output) {
    if created.is_empty() || out.json() {
        return;
    }
    println!("esb: generated on first start (kept 0600 in the secrets directory):");
    for c in created {
        match c {
            Created::AdminPassword(p, path) => println!("  admin password   {p}   (user `admin`; {})", show(path)),
            Created::ApiKey(k, path) => println!("  API key          {k}   ({})", show(path)),
            Created::Certificate(path) => println!("  TLS certificate  {} (self-signed; trust it or pass --tls-cert)", show(path)),
            Created::SigningKey(path) => println!("  token key        {}", show(path)),
        }
    }
}

pub(super) fn gateway_error(e: esb_gateway::GatewayError) -> anyhow::Error {
    match e.hint() {
        Some(h) => anyhow::anyhow!("{e}\n  hint: {h}"),
        None => anyhow::anyhow!("{e}"),
    }
}

/// What the public listener needs: where, TLS, auth, the Invoke API's credentials.
pub(super) struct Front {
    pub plan: Listen,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where SIGHUP puts a new certificate.
    pub slot: Option<Arc<esb_gateway::tls::CertSlot>>,
    pub auth: Auth,
    pub invoke_credentials: Option<esb_gateway::sigv4::Credentials>,
    pub secrets: Secrets,
}

/// Loads (or on first start creates) the secrets and makes the listener's TLS and auth from them.
pub(super) fn front(ws: &esb_config::Workspace, args: &ServeArgs, out: &Output) -> anyhow::Result<Front> {
    let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
    let base = ws.generator_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let plan = listen_plan(args, &settings, &base)?;
    let secrets = Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(gateway_error)?;
    let (tls, slot) = match certificate(&plan, &secrets)? {
        Some((cert, key, origin)) => {
            let (config, slot) = esb_gateway::tls::reloadable(&cert, &key, &origin).map_err(gateway_error)?;
            (Some(config), Some(slot))
        }
        None => (None, None),
    };
    let auth = make_auth(ws, &secrets, &settings)?;
    let invoke_credentials = tls
        .as_ref()
        .map(|_| esb_gateway::sigv4::Credentials { access_key_id: INVOKE_KEY_ID.into(), secret_access_key: secrets.api_key.clone() });
    report_created(&secrets.created, out);
    Ok(Front { plan, tls, slot, auth, invoke_credentials, secrets })
}

/// A certificate chain and key (PEM), and where they came from.
type Pem = (String, String, String);

/// The certificate and key to serve, `None` for plain HTTP.
fn certificate(plan: &Listen, secrets: &Secrets) -> anyhow::Result<Option<Pem>> {
    Ok(match &plan.tls {
        None => None,
        Some(None) => Some((secrets.tls_cert_pem.clone(), secrets.tls_key_pem.clone(), "the generated certificate".into())),
        Some(Some((cert, key))) => {
            let (c, k) = esb_gateway::tls::load_files(cert, key).map_err(gateway_error)?;
            Some((c, k, cert.display().to_string()))
        }
    })
}

/// Tokens (with the key retired by the last rotation, during its grace period), users, API keys.
fn make_auth(ws: &esb_config::Workspace, secrets: &Secrets, settings: &GatewaySettings) -> anyhow::Result<Auth> {
    let mut tokens = Tokens::new(&secrets.signing_key_pem, &ws.settings.project).map_err(gateway_error)?;
    if let Some((pem, until)) = &secrets.previous_signing_key {
        tokens = tokens.with_previous(pem, *until).map_err(gateway_error)?;
    }
    Ok(Auth::new(tokens, users(secrets, settings)?, ApiKeys::new(&[secrets.api_key.as_str()])))
}

/// On every SIGHUP: re-reads the daemon config file and generator.yml (users, certificate files) and the secrets (a rotated
/// signing key, a new admin password, a renewed certificate) and applies them from the next request
/// and handshake on; open connections are not touched. A reload that fails changes nothing.
/// Listen addresses, roles and limits need a restart.
pub(super) fn reload_on_hup(
    template: PathBuf,
    args: ServeArgs,
    gateway: Arc<Gateway>,
    slot: Option<Arc<esb_gateway::tls::CertSlot>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            let reread = || -> anyhow::Result<(Auth, Option<Pem>)> {
                let (_, args, daemon) =
                    super::daemon_config::apply(&Global { template: Some(template.clone()), json: false, verbose: 0 }, &args)?;
                let mut ws = esb_config::Workspace::open(&template, &args.parameters.iter().cloned().collect())?;
                super::daemon_config::overlay(&mut ws, daemon.as_ref());
                let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
                let base = ws.generator_path.parent().unwrap_or(Path::new(".")).to_path_buf();
                let plan = listen_plan(&args, &settings, &base)?;
                let secrets = Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(gateway_error)?;
                Ok((make_auth(&ws, &secrets, &settings)?, certificate(&plan, &secrets)?))
            };
            let applied = reread().and_then(|(auth, cert)| {
                if let (Some(slot), Some((c, k, origin))) = (&slot, &cert) {
                    slot.replace(c, k, origin).map_err(gateway_error)?;
                }
                gateway.set_auth(auth);
                Ok(())
            });
            match applied {
                Ok(()) => {
                    tracing::info!("reloaded on SIGHUP");
                    println!("esb serve: reloaded (certificate, token keys, users)");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP reload failed");
                    println!("esb serve: reload failed; still serving the previous configuration\n{e:#}");
                }
            }
            let _ = std::io::stdout().flush();
        }
    })
}

/// The "ready" lines (`up -d` waits for "Lambda Invoke API on").
pub(super) fn announce(out: &Output, tls: bool, secrets: &Secrets, addr: SocketAddr, what: &str, functions: usize, routes: usize) {
    let scheme = if tls { "https" } else { "http" };
    let shown = if addr.ip().is_unspecified() { format!("localhost:{}", addr.port()) } else { addr.to_string() };
    if out.json() {
        println!(
            "{}",
            serde_json::json!({ "event": "ready", "url": format!("{scheme}://{shown}"), "functions": functions, "routes": routes })
        );
    } else {
        println!("esb serve: {what}{functions} functions, {routes} routes");
        println!("  API Gateway on {scheme}://{shown} (listening on {addr})");
        println!("  Lambda Invoke API on {scheme}://{shown}");
        if tls {
            println!("  (SigV4: access key id `{INVOKE_KEY_ID}`, secret = the API key in {})", show(&secrets.dir.join("api-key")));
        }
    }
    let _ = std::io::stdout().flush();
}

/// The admin listener (`--admin`), if asked for.
pub(super) async fn admin(
    args: &ServeArgs,
    out: &Output,
    ready: esb_gateway::admin::Ready,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(a) = args.admin else { return Ok(None) };
    let l = esb_gateway::server::bind(a).await.map_err(gateway_error)?;
    let shown = l.local_addr()?;
    if !out.json() {
        println!("  metrics on http://{shown}/metrics (health: /healthz, /readyz)");
        let _ = std::io::stdout().flush();
    }
    Ok(Some(tokio::spawn(esb_gateway::admin::serve(l, Arc::new(esb_actors::metrics::render), ready))))
}

/// The manager's half: containers, storage, logs. Built images, storage up, actors started.
pub(super) struct Core {
    pub rt: Arc<esb_runtime::docker::DockerRuntime>,
    pub logs: ractor::ActorRef<esb_actors::logs::LogMsg>,
    pub manager: Manager,
    pub current: super::reload::Current,
    pub scheduler: Option<ractor::ActorRef<esb_actors::scheduler::SchedulerMsg>>,
}

/// Starts the Scheduler for the template's enabled schedules (unless `--no-schedules`) and says
/// when each fires first.
async fn schedules(
    project: &esb_config::Project,
    ws: &esb_config::Workspace,
    manager: &Manager,
    args: &ServeArgs,
    out: &Output,
) -> anyhow::Result<Option<ractor::ActorRef<esb_actors::scheduler::SchedulerMsg>>> {
    if args.no_schedules {
        return Ok(None);
    }
    let mut entries = vec![];
    for (id, spec) in &project.functions.functions {
        let Some(handle) = manager.function(id) else { continue };
        for s in spec.schedules.iter().filter(|s| s.enabled) {
            // Checked at compile time; a failure here would be a bug, reported rather than fatal.
            match esb_config::schedule::parse(&s.expression) {
                Ok(expr) => entries.push(esb_actors::scheduler::Entry {
                    function: handle.clone(),
                    event: s.name.clone(),
                    expression: s.expression.clone(),
                    expr,
                    input: s.input.clone(),
                }),
                Err(e) => out.warnings(&[format!("{id}.{}: schedule `{}` not run: {e}", s.name, s.expression)]),
            }
        }
    }
    let clock: Arc<dyn esb_actors::scheduler::Clock> = if args.schedule_speed > 1 {
        Arc::new(esb_actors::scheduler::FastClock::new(args.schedule_speed))
    } else {
        Arc::new(esb_actors::scheduler::SystemClock)
    };
    let shown: Vec<String> = entries.iter().map(|e| format!("{}.{} {}", e.function.config().function, e.event, e.expression)).collect();
    let actor = esb_actors::scheduler::start(esb_actors::scheduler::SchedulerArgs {
        project: ws.settings.project.clone(),
        region: ws.settings.region.clone(),
        entries,
        clock,
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the scheduler: {e}"))?;
    if actor.is_some() && !out.json() {
        let speed = if args.schedule_speed > 1 { format!(" (clock x{})", args.schedule_speed) } else { String::new() };
        println!("  schedules{speed}: {}", shown.join(", "));
    }
    Ok(actor)
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
    let mut current = super::reload::Current::default();
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
    let scheduler = schedules(project, ws, &manager, args, out).await?;
    Ok(Core { rt, logs, manager, current, scheduler })
}

/// Drains the functions (removing or keeping containers), stops the collector and, unless
/// `keep`, the storage services and the project network. Data stays in the volumes.
pub(super) async fn stop_core(
    manager: Manager,
    scheduler: Option<ractor::ActorRef<esb_actors::scheduler::SchedulerMsg>>,
    rt: &esb_runtime::docker::DockerRuntime,
    logs: ractor::ActorRef<esb_actors::logs::LogMsg>,
    project: &str,
    args: &ServeArgs,
) -> anyhow::Result<()> {
    println!("esb serve: stopping; in-flight invocations get {} s", args.grace);
    // No new scheduled invocations while the functions drain.
    if let Some(s) = scheduler {
        s.stop(None);
    }
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
    println!("esb serve: stopped ({finished} in-flight finished, {cut} cut off, {kept} containers kept)");
    Ok(())
}

/// Serves in the foreground; `no_cache` rebuilds every image first.
pub fn serve(global: &Global, args: &ServeArgs, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    let (global, args, _) = super::daemon_config::apply(global, args)?;
    let (global, args) = (&global, &args);
    if args.watch && args.role != Role::All {
        anyhow::bail!("--watch needs the gateway and the manager in one process\n  hint: drop --role, or run `esb watch` for development");
    }
    match args.role {
        Role::All => all(global, args, no_cache, out),
        Role::Manager => super::split::manager(global, args, no_cache, out),
        Role::Gateway => super::split::gateway(global, args, out),
    }
}

/// The project, with the daemon config file's sections over generator.yml's.
pub(super) fn open(global: &Global, args: &ServeArgs, out: &Output) -> anyhow::Result<(esb_config::Workspace, esb_config::Project)> {
    let (mut ws, project) = open_project(global, &args.parameters, out)?;
    let daemon = match &args.config {
        Some(path) => Some(esb_config::daemon::Daemon::load(path)?),
        None => None,
    };
    super::daemon_config::overlay(&mut ws, daemon.as_ref());
    Ok((ws, project))
}

fn all(global: &Global, args: &ServeArgs, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    let (ws, project) = open(global, args, out)?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let Front { plan, tls, slot, auth, invoke_credentials, secrets } = front(&ws, args, out)?;
    block_on(async move {
        let listener = esb_gateway::server::bind(plan.addr).await.map_err(gateway_error)?;
        let addr = listener.local_addr()?;
        let watch = if args.watch { Some(super::reload::Watch::start(&ws.template, &ws.output_dir).await?) } else { None };
        let Core { rt, logs, manager, current, scheduler } = core(&ws, &project, args, no_cache, out).await?;
        let (router, names) = super::reload::routes(&project, &manager);
        let limits = Limits { shutdown_grace: Duration::from_secs(args.grace), ..Limits::default() };
        let routes = router.len();
        let gateway = Arc::new(Gateway::new(router, Arc::new(names), auth, limits, invoke_credentials));
        announce(out, tls.is_some(), &secrets, addr, "", manager.status().await.len(), routes);
        let hup = reload_on_hup(ws.template.clone(), args.clone(), gateway.clone(), slot);
        let admin = admin(args, out, esb_gateway::admin::always_ready()).await?;
        let reloader = if let Some(watch) = watch {
            let watching = super::reload::Watching {
                template: ws.template.clone(),
                args: args.clone(),
                rt: rt.clone(),
                gateway: gateway.clone(),
                manager,
                current,
                json: out.json(),
            };
            Ok(super::reload::Reloader::start(watching, watch))
        } else {
            Err(manager)
        };
        esb_gateway::server::serve(listener, tls, gateway, stop_signal()).await;
        hup.abort();
        if let Some(a) = admin {
            a.abort();
        }
        let manager = match reloader {
            Ok(r) => r.stop().await?,
            Err(m) => m,
        };
        stop_core(manager, scheduler, rt.as_ref(), logs, &ws.settings.project, args).await
    })
}

/// Ctrl-C or SIGTERM.
pub(super) async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
