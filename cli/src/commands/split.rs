//! `esb serve --role manager` and `esb serve --role gateway`: the two halves of the edge daemon.
//!
//! The manager owns Docker: it builds (unless `--no-build`), brings storage up, runs the actor tree
//! and answers the manager API on a unix socket (0600, in a 0700 directory), and nothing else: no
//! public listener. The gateway owns the public listener: TLS, auth, routes, events. It never
//! connects to Docker; it leases containers from the manager over the socket and invokes RIE in
//! them itself (`esb_api::remote`). Either can restart without the other: the manager adopts the
//! running containers from their labels, and the gateway carries on with containers it knows to be
//! idle while the manager is away (see `esb_api` for the protocol).

use super::block_on;
use super::front::{admin, announce, front, gateway_error, Front};
use super::serve::{core, stop_core, stop_signal, Core};
use crate::cli::{Global, ServeArgs};
use crate::output::Output;
use esb_config::daemon::Daemon;
use esb_gateway::{Gateway, Limits};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long one manager API call may take: an acquire waits in the function's queue and for a
/// cold start; the gateway's route timeout (29 s) ends a request earlier anyway.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn socket(ws: &esb_config::Workspace, args: &ServeArgs) -> anyhow::Result<PathBuf> {
    let path = args.manager_socket.clone().unwrap_or_else(|| esb_api::default_socket(&ws.output_dir));
    esb_api::check_socket_path(&path).map_err(|e| anyhow::anyhow!(e))?;
    Ok(path)
}

/// The manager: Docker, storage, containers, the manager socket.
pub fn manager(global: &Global, args: &ServeArgs, daemon: Option<&Daemon>, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    if args.http.is_some() || args.listen.is_some() || args.tls_cert.is_some() {
        anyhow::bail!(
            "--role manager has no public listener (--http, --listen and --tls-* belong to the gateway)\n  hint: pass them to `esb serve --role gateway`"
        );
    }
    let (ws, project) = super::serve::open(global, args, daemon, out)?;
    // The manager owns the project's containers: one per project (the daemon's runs in a container).
    let mode = super::lock::mode_of("manager");
    let lock = super::lock::ProjectLock::acquire(&ws.output_dir, mode, None).map_err(|b| super::lock::busy_error(b, mode))?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let socket = socket(&ws, args)?;
    block_on(async move {
        let _lock = lock;
        let listener = esb_api::server::bind(&socket)
            .await
            .map_err(|e| anyhow::anyhow!("cannot serve the manager API on {}: {e}", socket.display()))?;
        let Core { rt, logs, manager, triggers, .. } = core(&ws, &project, args, no_cache, out).await?;
        let (_, names) = super::reload::routes(&project, &manager);
        let api = esb_api::server::ApiServer::new(&ws.settings.project, names);
        let functions = manager.status().await.len();
        let stop = stop_signal();
        if out.json() {
            println!("{}", serde_json::json!({ "event": "ready", "role": "manager", "functions": functions, "socket": socket }));
        } else {
            println!("esb serve: manager for {functions} functions");
            println!("  manager API on unix:{} (epoch {})", socket.display(), api.epoch());
        }
        let _ = std::io::stdout().flush();
        let admin = admin(args, out, esb_gateway::admin::always_ready()).await?;
        // The API keeps answering while the functions drain, so the gateway's releases arrive.
        let serving = tokio::spawn(api.clone().serve(listener, std::future::pending()));
        // `systemctl reload esb` signals every process of the unit: the manager must not die of it.
        let hup = tokio::spawn(async {
            let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: the manager has nothing to reload (restart it to apply template changes)");
            }
        });
        stop.await;
        if let Some(a) = admin {
            a.abort();
        }
        let stopped = stop_core(manager, triggers, rt.as_ref(), logs, &ws.settings.project, args).await;
        serving.abort();
        hup.abort();
        let _ = std::fs::remove_file(&socket);
        stopped
    })
}

/// The gateway: the public listener, without Docker access.
pub fn gateway(global: &Global, args: &ServeArgs, daemon: Option<&Daemon>, out: &Output) -> anyhow::Result<()> {
    let (ws, project) = super::serve::open(global, args, daemon, out)?;
    let Front { plan, tls, slot, auth, invoke_credentials, secrets } = front(&ws, args, out)?;
    let socket = socket(&ws, args)?;
    let log_settings = ws.generator.as_ref().map(|g| g.logs.clone()).unwrap_or_default();
    block_on(async move {
        if let Some(url) = log_settings.traces_url() {
            crate::telemetry::enable(&url)?;
        }
        let listener = esb_gateway::server::bind(plan.addr).await.map_err(gateway_error)?;
        let addr = listener.local_addr()?;
        let client = Arc::new(esb_api::client::Client::new(&socket, CALL_TIMEOUT));
        let names: BTreeSet<String> =
            project.functions.functions.iter().flat_map(|(id, spec)| [id.clone(), spec.function_name.clone()]).collect();
        let remote = Arc::new(esb_api::remote::Remote::new(client, names, Duration::from_secs(args.manager_wait)));
        let router = esb_gateway::router::Router::new(&project.routing);
        let routes = router.len();
        let limits = Limits { shutdown_grace: Duration::from_secs(args.grace), ..Limits::default() };
        let gateway = Arc::new(Gateway::new(router, remote.clone(), auth, limits, invoke_credentials).with_region(&ws.settings.region));
        if let Err(e) = remote.manager_ready().await {
            out.warnings(&[format!(
                "the manager does not answer yet ({e}); requests that need it wait up to {} s, then get 503",
                args.manager_wait
            )]);
        }
        // Bound before the gateway is announced (see serve.rs).
        let ready: esb_gateway::admin::Ready = {
            let remote = remote.clone();
            Arc::new(move || {
                let remote = remote.clone();
                Box::pin(async move { remote.manager_ready().await })
            })
        };
        let admin = admin(args, out, ready).await?;
        let stop = stop_signal();
        announce(out, tls.is_some(), &secrets, addr, "gateway for ", project.functions.functions.len(), routes);
        if !out.json() {
            println!("  manager at unix:{}", socket.display());
            let _ = std::io::stdout().flush();
        }
        let hup = super::front::reload_on_hup(ws.template.clone(), args.clone(), gateway.clone(), slot);
        esb_gateway::server::serve(listener, tls, gateway, stop).await;
        hup.abort();
        if let Some(a) = admin {
            a.abort();
        }
        println!("esb serve: gateway stopped");
        Ok(())
    })
}
