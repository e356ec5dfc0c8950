//! Configuring the functions and routes from the project files, at start and on every change
//! (`esb serve --watch`, `esb watch`, `esb up --watch`).
//!
//! Owns: turning the workspace into function configs (build what changed, start or adopt storage
//! and provision it, the environment functions get), the routes and the names the gateway invokes
//! by, and the reload loop: the Watcher's batches -> recompile -> rebuild what changed -> apply to the
//! manager -> swap the gateway's routes. A change that fails (a template error, a failed build)
//! is reported and the previous version keeps serving: a function whose new image failed keeps its
//! old config. Must not: bind listeners or handle requests (serve), or touch containers directly
//! (the manager does).

use super::live::{self, Live};
use super::storage;
use crate::cli::ServeArgs;
use crate::output::Output;
use crate::progress::Progress;
use esb_actors::{FunctionConfig, FunctionHandle, Manager};
use esb_config::model::FunctionSpec;
use esb_config::{Project, Workspace};
use esb_gateway::{Functions, Gateway};
use esb_runtime::docker::DockerRuntime;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Callers that may wait per function, and how long.
const QUEUE_LIMIT: usize = 100;
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the functions are configured with now: the last reload's result.
#[derive(Default)]
pub(super) struct Current {
    /// Every function's config, by logical id.
    pub configs: BTreeMap<String, FunctionConfig>,
    /// The storage resources, and the environment that reaches them; a reload whose resources
    /// did not change reuses it without touching storage.
    pub storage: Option<(esb_config::model::ResourcesFile, Vec<(String, String)>)>,
    /// Functions running live code (watch mode), by logical id.
    pub lives: BTreeMap<String, Live>,
    /// Live functions whose code changed since their image was built.
    pub unbaked: BTreeSet<String>,
    /// Warnings already shown in this session: a reload names only new ones.
    pub warned: BTreeSet<String>,
}

/// Builds what changed, brings storage up (unless `current` has the same resources), and returns
/// every function's config. A function whose image failed keeps its current config when it has
/// one (it goes on serving the old code).
pub(super) async fn configs(
    rt: &DockerRuntime,
    ws: &Workspace,
    project: &Project,
    args: &ServeArgs,
    no_cache: bool,
    current: &mut Current,
    out: &Output,
) -> anyhow::Result<Vec<FunctionConfig>> {
    let progress = &Progress::new(out.json());
    let mut failed = vec![];
    let images = if args.no_build && current.configs.is_empty() {
        esb_images::read_manifest(&ws.output_dir)
    } else {
        let report = super::serve::build_images(rt, ws, project, no_cache, progress, out).await?;
        failed = report.failures.iter().map(|(what, _)| what.clone()).collect();
        // The manifest is read after the build: it names the images just built.
        let mut images = esb_images::read_manifest(&ws.output_dir);
        images.retain(|id, _| report.functions.contains_key(id));
        images
    };
    // Storage first: functions are configured with its endpoints.
    let storage_env = match &current.storage {
        Some((resources, env)) if *resources == project.resources => env.clone(),
        _ => {
            let settings = ws.generator.as_ref().map(|g| g.storage.clone()).unwrap_or_default();
            let (_, env) = storage::up(rt, project, &ws.settings.project, &ws.settings.region, &settings, progress, out).await?;
            current.storage = Some((project.resources.clone(), env.clone()));
            env
        }
    };
    let mut configs = vec![];
    current.lives.clear();
    for (id, spec) in &project.functions.functions {
        match (images.get(id), current.configs.get(id)) {
            (Some(img), _) => {
                let live = if args.watch { super::live::live(ws, id, spec) } else { None };
                let cfg =
                    function_config(&ws.settings.project, &ws.settings.region, id, spec, &img.reference, &storage_env, args, live.as_ref());
                configs.push(cfg);
                current.unbaked.remove(id);
                if let Some(l) = live {
                    current.lives.insert(id.clone(), l);
                }
            }
            (None, Some(old)) if failed.iter().any(|f| f == id) => {
                out.warnings(&[format!("{id} keeps serving its previous version until its image builds")]);
                configs.push(old.clone());
            }
            (None, _) => {}
        }
    }
    Ok(configs)
}

/// The gateway's view of `project`: its routes, and every name a caller may use (the logical id
/// and the FunctionName) mapped to the manager's handles.
pub(super) fn routes(project: &Project, manager: &Manager) -> (esb_gateway::router::Router, Functions) {
    let mut names = Functions::new();
    for (id, spec) in &project.functions.functions {
        if let Some(h) = manager.function(id) {
            names.insert(id.clone(), h.clone());
            names.insert(spec.function_name.clone(), FunctionHandle::clone(h));
        }
    }
    (esb_gateway::router::Router::new(&project.routing), names)
}

/// A function's config. `live`: its code is mounted from the project (watch mode), and the code's
/// hash stands in for the image in the config hash, so the image rebuilt later with the same code
/// does not replace containers that already run it.
#[allow(clippy::too_many_arguments)]
pub(super) fn function_config(
    project: &str,
    region: &str,
    id: &str,
    spec: &FunctionSpec,
    image: &str,
    extra_env: &[(String, String)],
    args: &ServeArgs,
    live: Option<&Live>,
) -> FunctionConfig {
    let env: Vec<String> =
        esb_config::lambda_env::lambda_env(spec, region, extra_env).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Containers are adopted after a restart only when what they run is exactly what would start now.
    let runs = live.map(|l| format!("live:{}:{}", l.hash, l.binds().join(","))).unwrap_or_else(|| image.to_string());
    let network = esb_storage::service::network(project);
    let config_hash =
        esb_images::cache::sha256(format!("{runs}|{env:?}|{}|{}|{network}", spec.memory_size, spec.timeout).as_bytes())[..16].to_string();
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
        binds: live.map(|l| l.binds()).unwrap_or_default(),
        network: Some(network),
        // Debug mode (see `super::debug`): the debugger's port, on loopback only.
        ports: spec
            .environment
            .get(super::debug::PORT_VAR)
            .and_then(|p| p.parse().ok())
            .filter(|_| args.debug_function.is_some())
            .map(|p: u16| (p, "127.0.0.1".to_string(), p))
            .into_iter()
            .collect(),
    }
}

/// The reload loop, running beside the gateway; [`Reloader::stop`] hands the manager back.
pub(super) struct Reloader {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Manager>,
}

/// What the loop needs.
pub(super) struct Watching {
    pub template: PathBuf,
    pub args: ServeArgs,
    pub rt: Arc<DockerRuntime>,
    pub gateway: Arc<Gateway>,
    pub manager: Manager,
    pub current: Current,
    pub triggers: esb_events::Sources,
    pub json: bool,
}

/// A watch on the project, made before anything is started (so a failure to watch leaves nothing
/// running): the directory, the Watcher, and its batches.
pub(super) struct Watch {
    root: PathBuf,
    watcher: esb_actors::watcher::WatcherRef,
    batches: tokio::sync::mpsc::UnboundedReceiver<Vec<PathBuf>>,
}

impl Watch {
    /// Watches the template's directory (without the output dir).
    pub async fn start(template: &Path, output_dir: &Path) -> anyhow::Result<Watch> {
        // `-t template.yaml` has the parent "": that is the current directory.
        let parent = template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let root = std::fs::canonicalize(parent)?;
        let ignore = vec![std::fs::canonicalize(output_dir).unwrap_or_else(|_| output_dir.to_path_buf())];
        let (watcher, batches) =
            esb_actors::watcher::watch(&root, ignore).await.map_err(|e| anyhow::anyhow!("watching {}: {e}", root.display()))?;
        Ok(Watch { root, watcher, batches })
    }
}

impl Reloader {
    /// Runs the reload loop on `watch`'s batches.
    pub fn start(w: Watching, watch: Watch) -> Reloader {
        let Watch { root, watcher, mut batches } = watch;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut w = w;
            let out = Output::new(w.json);
            event(&out, "watching", &format!("watching {} for changes", root.display()), serde_json::json!({ "root": root }));
            loop {
                let mut batch = tokio::select! {
                    _ = &mut stopped => break,
                    b = batches.recv() => match b { Some(b) => b, None => break },
                };
                // Changes that arrived meanwhile are part of this reload.
                while let Ok(more) = batches.try_recv() {
                    batch.extend(more);
                }
                batch.sort();
                batch.dedup();
                reload(&mut w, &root, &batch, &out).await;
            }
            watcher.stop(None);
            if !w.current.unbaked.is_empty() {
                let list: Vec<String> = w.current.unbaked.iter().cloned().collect();
                event(
                    &out,
                    "unbaked",
                    &format!(
                        "the images of {} still hold older code; `esb build` bakes in the current code (esb serve and esb up do too)",
                        list.join(", ")
                    ),
                    serde_json::json!({ "functions": list }),
                );
            }
            w.manager
        });
        Reloader { stop, task }
    }

    /// Stops watching and returns the manager (for the shutdown drain).
    pub async fn stop(self) -> anyhow::Result<Manager> {
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

/// One line for humans, or one JSON event.
fn event(out: &Output, kind: &str, line: &str, fields: serde_json::Value) {
    if out.json() {
        let mut v = serde_json::json!({ "event": kind });
        if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
            o.extend(f.clone());
        }
        println!("{v}");
    } else {
        println!("watch: {line}");
    }
}

async fn reload(w: &mut Watching, root: &Path, batch: &[PathBuf], out: &Output) {
    let started = Instant::now();
    let shown: Vec<String> = batch.iter().map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string()).collect();
    event(out, "changed", &format!("{} changed; reloading", shown.join(", ")), serde_json::json!({ "paths": shown }));
    let params = w.args.parameters.iter().cloned().collect();
    let opened = Workspace::open(&w.template, &params).map_err(anyhow::Error::from).and_then(|ws| {
        let mut project = ws.compile()?;
        let unknown = super::env_vars::apply_file(&mut project, w.args.env_vars.as_deref())?;
        if let (Some(f), Some(port)) = (&w.args.debug_function, w.args.debug_port) {
            super::debug::apply(&mut project, f, port)?;
        }
        project.warnings.extend(unknown);
        esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
        Ok((ws, project))
    });
    let (ws, project) = match opened {
        Ok(p) => p,
        Err(e) => return failed(out, &e),
    };
    // A reload names only warnings this session has not shown yet.
    let new: Vec<String> = project.warnings.iter().filter(|x| !w.current.warned.contains(*x)).cloned().collect();
    w.current.warned.extend(new.iter().cloned());
    out.warnings(&new);
    if let Some(touched) = live::code_only(batch, &w.current.lives, &live::never_code(&ws)) {
        if live_reload(w, &ws, &project, &touched, started, out).await {
            return;
        }
    }
    let configs = match configs(&w.rt, &ws, &project, &w.args, false, &mut w.current, out).await {
        Ok(c) => c,
        Err(e) => return failed(out, &e),
    };
    let report = match w.manager.apply(configs.clone(), Duration::from_secs(w.args.grace)).await {
        Ok(r) => r,
        Err(e) => return failed(out, &anyhow::anyhow!("the manager did not take the new functions: {e}")),
    };
    let (router, names) = routes(&project, &w.manager);
    let count = router.len();
    w.gateway.reload(router, Arc::new(names));
    out.warnings(&w.triggers.reload(esb_events::Wiring { project: &project, manager: &w.manager }));
    esb_actors::metrics::reload(true);
    w.current.configs = configs.into_iter().map(|c| (c.function.clone(), c)).collect();
    let ms = started.elapsed().as_millis() as u64;
    let list = |what: &str, l: &[String]| if l.is_empty() { format!("0 {what}") } else { format!("{} {what} ({})", l.len(), l.join(", ")) };
    event(
        out,
        "reloaded",
        &format!(
            "reloaded in {:.1} s: {}, {}, {}; {count} routes",
            ms as f64 / 1000.0,
            list("added", &report.added),
            list("removed", &report.removed),
            list("changed", &report.changed)
        ),
        serde_json::json!({ "ms": ms, "added": report.added, "removed": report.removed, "changed": report.changed, "routes": count }),
    );
}

/// A change to live code only: the touched functions get new containers on the mounted code, with
/// no image build. False when it cannot be done that way (a full reload follows).
async fn live_reload(
    w: &mut Watching,
    ws: &Workspace,
    project: &Project,
    touched: &BTreeSet<String>,
    started: Instant,
    out: &Output,
) -> bool {
    let storage_env = w.current.storage.as_ref().map(|(_, env)| env.clone()).unwrap_or_default();
    let mut configs = w.current.configs.clone();
    let mut lives = vec![];
    for id in touched {
        let (Some(spec), Some(old)) = (project.functions.functions.get(id), configs.get(id)) else { return false };
        let Some(l) = live::live(ws, id, spec) else { return false };
        let cfg = function_config(&ws.settings.project, &ws.settings.region, id, spec, &old.image, &storage_env, &w.args, Some(&l));
        configs.insert(id.clone(), cfg);
        lives.push((id.clone(), l));
    }
    let report = match w.manager.apply(configs.values().cloned().collect(), Duration::from_secs(w.args.grace)).await {
        Ok(r) => r,
        Err(e) => {
            failed(out, &anyhow::anyhow!("the manager did not take the new code: {e}"));
            return true;
        }
    };
    esb_actors::metrics::reload(true);
    out.warnings(&w.triggers.reload(esb_events::Wiring { project, manager: &w.manager }));
    w.current.configs = configs;
    for (id, l) in lives {
        w.current.lives.insert(id.clone(), l);
        w.current.unbaked.insert(id);
    }
    let ms = started.elapsed().as_millis() as u64;
    event(
        out,
        "reloaded",
        &format!("reloaded in {:.1} s: new code for {} (live, no image build)", ms as f64 / 1000.0, report.changed.join(", ")),
        serde_json::json!({ "ms": ms, "added": [], "removed": [], "changed": report.changed, "live": true }),
    );
    true
}

fn failed(out: &Output, e: &anyhow::Error) {
    esb_actors::metrics::reload(false);
    if out.json() {
        println!("{}", serde_json::json!({ "event": "reload-failed", "error": format!("{e:#}") }));
    } else {
        out.error(e);
        println!("watch: the change was not applied; still serving the previous version");
    }
}
