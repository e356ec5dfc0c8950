//! `esb serve --http ADDR`: the manager and the Lambda Invoke API in the foreground.
//!
//! Builds what changed, starts the actor tree (which adopts running containers from labels), serves
//! `POST /2015-03-31/functions/{name}/invocations` until Ctrl-C or SIGTERM, then drains: new requests
//! are refused, in-flight ones finish within `--grace`, containers are removed (or kept with `--keep`).
//! A function whose image failed to build is left out with a warning; the others serve.

use super::{block_on, open_project};
use crate::cli::{Global, ServeArgs};
use crate::output::Output;
use esb_actors::{FunctionConfig, FunctionHandle, Manager, ManagerArgs, RestartPolicy};
use esb_config::model::FunctionSpec;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// Callers that may wait per function, and how long.
const QUEUE_LIMIT: usize = 100;
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(global: &Global, args: ServeArgs, out: &Output) -> anyhow::Result<()> {
    if !args.http.ip().is_loopback() {
        anyhow::bail!(
            "plain HTTP is only served on loopback, not {}\n  hint: use 127.0.0.1; the public HTTPS gateway comes with the gateway issue",
            args.http
        );
    }
    let (ws, project) = open_project(global, &args.parameters, out)?;
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let root = ws.template.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
    block_on(async move {
        let rt = esb_runtime::docker::DockerRuntime::connect().await?;
        let progress = crate::progress::Progress::new(out.json());
        let options = esb_images::Options { images_dir: ws.images_dir.clone(), ..Default::default() };
        let report = esb_images::build_project(&rt, &project, &root, &ws.output_dir, &options, &|e| progress.event(e)).await?;
        progress.clear();
        for (what, e) in &report.failures {
            out.warnings(&[format!("{what} is left out: {}", e.to_string().lines().next().unwrap_or_default())]);
        }
        let images = esb_images::read_manifest(&ws.output_dir);
        let configs: Vec<FunctionConfig> = project
            .functions
            .functions
            .iter()
            .filter(|(id, _)| report.functions.contains_key(*id))
            .filter_map(|(id, spec)| {
                images.get(id).map(|img| function_config(&ws.settings.project, &ws.settings.region, id, spec, &img.reference, &args))
            })
            .collect();
        let manager = Manager::start(ManagerArgs {
            project: ws.settings.project.clone(),
            functions: configs,
            rt: Arc::new(rt),
            global_limit: args.global_limit,
            policy: RestartPolicy::default(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("starting the manager: {e}"))?;
        // Every name a caller may use: the logical id and the FunctionName.
        let mut names: BTreeMap<String, FunctionHandle> = BTreeMap::new();
        for (id, spec) in &project.functions.functions {
            if let Some(h) = manager.function(id) {
                names.insert(id.clone(), h.clone());
                names.insert(spec.function_name.clone(), h.clone());
            }
        }
        let listener =
            tokio::net::TcpListener::bind(args.http).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.http))?;
        let addr = listener.local_addr()?;
        println!("esb serve: {} functions; Lambda Invoke API on http://{addr}", manager.status().await.len());
        let _ = std::io::stdout().flush();
        esb_gateway::invoke_api::serve(listener, Arc::new(names), stop_signal()).await;
        println!("esb serve: stopping; in-flight invocations get {} s", args.grace);
        let reports = manager.shutdown(Duration::from_secs(args.grace), args.keep).await;
        let (finished, cut, kept) = reports.values().fold((0, 0, 0), |(f, c, k), r| (f + r.finished, c + r.cut_off, k + r.kept));
        println!("esb serve: stopped ({finished} in-flight finished, {cut} cut off, {kept} containers kept)");
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn function_config(project: &str, region: &str, id: &str, spec: &FunctionSpec, image: &str, args: &ServeArgs) -> FunctionConfig {
    let env: Vec<String> = esb_config::lambda_env::lambda_env(spec, region, &[]).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
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
