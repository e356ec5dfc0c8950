//! `esb serve` and foreground `esb up`: the gateway and the manager in one process.
//!
//! Order: compile the template and write config; decide the listener (HTTPS by default, plain HTTP
//! only on loopback) and bind it before anything slow, so a taken port fails fast; load or generate
//! secrets (printing generated ones once); build what changed; start the actor tree (which adopts
//! running containers from labels); serve until Ctrl-C or SIGTERM; then drain: the listener closes,
//! in-flight requests and invocations finish within `--grace`, containers are removed (or kept with
//! `--keep`). A function whose image failed to build is left out with a warning; the others serve.

use super::{block_on, open_project, show};
use crate::cli::{Global, ServeArgs};
use crate::output::Output;
use esb_actors::{FunctionConfig, FunctionHandle, Manager, ManagerArgs, RestartPolicy};
use esb_config::generator::GatewaySettings;
use esb_config::model::FunctionSpec;
use esb_gateway::auth::{ApiKeys, Auth, Tokens, User, Users};
use esb_gateway::secrets::{Created, Secrets, ADMIN_USER};
use esb_gateway::{Functions, Gateway, Limits};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Callers that may wait per function, and how long.
const QUEUE_LIMIT: usize = 100;
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);
/// The documented default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:443";
/// Access key id of the Lambda Invoke API's SigV4 credentials (the secret is the API key).
pub const INVOKE_KEY_ID: &str = "esb";

pub fn run(global: &Global, args: ServeArgs, out: &Output) -> anyhow::Result<()> {
    serve(global, &args, false, out)
}

/// Where to listen and how.
struct Listen {
    addr: SocketAddr,
    /// (certificate, key) files given by the operator; `None` uses the generated pair.
    tls: Option<Option<(PathBuf, PathBuf)>>,
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

/// Serves in the foreground; `no_cache` rebuilds every image first.
pub fn serve(global: &Global, args: &ServeArgs, no_cache: bool, out: &Output) -> anyhow::Result<()> {
    let (ws, project) = open_project(global, &args.parameters, out)?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let settings = ws.generator.as_ref().map(|g| g.gateway.clone()).unwrap_or_default();
    let base = ws.generator_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let plan = listen_plan(args, &settings, &base)?;
    let secrets = Secrets::load_or_create(&ws.output_dir.join("secrets"), &[]).map_err(gateway_error)?;
    let tls = match &plan.tls {
        None => None,
        Some(None) => Some(
            esb_gateway::tls::server_config(&secrets.tls_cert_pem, &secrets.tls_key_pem, "the generated certificate")
                .map_err(gateway_error)?,
        ),
        Some(Some((cert, key))) => {
            let (c, k) = esb_gateway::tls::load_files(cert, key).map_err(gateway_error)?;
            Some(esb_gateway::tls::server_config(&c, &k, &cert.display().to_string()).map_err(gateway_error)?)
        }
    };
    let auth = Auth::new(
        Tokens::new(&secrets.signing_key_pem, &ws.settings.project).map_err(gateway_error)?,
        users(&secrets, &settings)?,
        ApiKeys::new(&[secrets.api_key.as_str()]),
    );
    let invoke_credentials = tls
        .as_ref()
        .map(|_| esb_gateway::sigv4::Credentials { access_key_id: INVOKE_KEY_ID.into(), secret_access_key: secrets.api_key.clone() });
    report_created(&secrets.created, out);
    block_on(async move {
        let listener = esb_gateway::server::bind(plan.addr).await.map_err(gateway_error)?;
        let addr = listener.local_addr()?;
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        let progress = crate::progress::Progress::new(out.json());
        let images = if args.no_build {
            esb_images::read_manifest(&ws.output_dir)
        } else {
            let report = build_images(&rt, &ws, &project, no_cache, &progress, out).await?;
            let mut images = esb_images::read_manifest(&ws.output_dir);
            images.retain(|id, _| report.functions.contains_key(id));
            images
        };
        // Storage first: functions are configured with its endpoints.
        let storage_settings = ws.generator.as_ref().map(|g| g.storage.clone()).unwrap_or_default();
        let (_storage, storage_env) =
            super::storage::up(&rt, &project, &ws.settings.project, &ws.settings.region, &storage_settings, &progress, out).await?;
        let configs: Vec<FunctionConfig> = project
            .functions
            .functions
            .iter()
            .filter_map(|(id, spec)| {
                images
                    .get(id)
                    .map(|img| function_config(&ws.settings.project, &ws.settings.region, id, spec, &img.reference, &storage_env, args))
            })
            .collect();
        let rt = Arc::new(rt);
        let manager = Manager::start(ManagerArgs {
            project: ws.settings.project.clone(),
            functions: configs,
            rt: rt.clone(),
            global_limit: args.global_limit,
            policy: RestartPolicy::default(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("starting the manager: {e}"))?;
        // Every name a caller may use: the logical id and the FunctionName.
        let mut names = Functions::new();
        for (id, spec) in &project.functions.functions {
            if let Some(h) = manager.function(id) {
                names.insert(id.clone(), h.clone());
                names.insert(spec.function_name.clone(), FunctionHandle::clone(h));
            }
        }
        let router = esb_gateway::router::Router::new(&project.routing);
        let limits = Limits { shutdown_grace: Duration::from_secs(args.grace), ..Limits::default() };
        let routes = router.len();
        let gateway = Arc::new(Gateway { router, auth, invoker: Arc::new(names), limits, invoke_credentials });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shown = if addr.ip().is_unspecified() { format!("localhost:{}", addr.port()) } else { addr.to_string() };
        let functions = manager.status().await.len();
        if out.json() {
            println!(
                "{}",
                serde_json::json!({ "event": "ready", "url": format!("{scheme}://{shown}"), "functions": functions, "routes": routes })
            );
        } else {
            println!("esb serve: {functions} functions, {routes} routes");
            println!("  API Gateway on {scheme}://{shown} (listening on {addr})");
            println!("  Lambda Invoke API on {scheme}://{shown}");
            if tls.is_some() {
                println!("  (SigV4: access key id `{INVOKE_KEY_ID}`, secret = the API key in {})", show(&secrets.dir.join("api-key")));
            }
        }
        let _ = std::io::stdout().flush();
        esb_gateway::server::serve(listener, tls, gateway, stop_signal()).await;
        println!("esb serve: stopping; in-flight invocations get {} s", args.grace);
        let reports = manager.shutdown(Duration::from_secs(args.grace), args.keep).await;
        let (finished, cut, kept) = reports.values().fold((0, 0, 0), |(f, c, k), r| (f + r.finished, c + r.cut_off, k + r.kept));
        if !args.keep {
            // Data stays in the volumes; only `esb down -v` deletes it.
            esb_storage::service::stop(rt.as_ref(), &ws.settings.project).await?;
        }
        println!("esb serve: stopped ({finished} in-flight finished, {cut} cut off, {kept} containers kept)");
        Ok(())
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

fn function_config(
    project: &str,
    region: &str,
    id: &str,
    spec: &FunctionSpec,
    image: &str,
    extra_env: &[(String, String)],
    args: &ServeArgs,
) -> FunctionConfig {
    let env: Vec<String> =
        esb_config::lambda_env::lambda_env(spec, region, extra_env).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Containers are adopted after a restart only when what they run is exactly what would start now.
    let config_hash =
        esb_images::cache::sha256(format!("{image}|{env:?}|{}|{}", spec.memory_size, spec.timeout).as_bytes())[..16].to_string();
    FunctionConfig {
        project: project.to_string(),
        function: id.to_string(),
        image: image.to_string(),
        env,
        memory_mb: spec.memory_size as u64,
        timeout: Duration::from_secs(spec.timeout as u64),
        limit: spec.reserved_concurrency.map(|r| r as usize).unwrap_or(args.default_concurrency),
        min_warm: spec.provisioned_concurrency.unwrap_or(0) as usize,
        queue_limit: QUEUE_LIMIT,
        queue_timeout: QUEUE_TIMEOUT,
        idle_timeout: Duration::from_secs(args.idle_timeout),
        rie_port: esb_runtime::rie::PORT,
        ready_within: Duration::from_secs(10),
        config_hash,
    }
}
