//! `esb invoke <function> [--event FILE|-]`: one invocation in a fresh container, like
//! `sam local invoke`: builds the image if needed, starts a container, invokes it once through RIE,
//! prints the result (stdout) and the function's logs (stderr), and removes the container, also on
//! Ctrl-C. Exit status 0 when the function succeeded, 1 when it raised, timed out or died.

use super::{block_on, open_project};
use crate::cli::{Global, InvokeArgs};
use crate::output::{Output, Silent};
use anyhow::Context as _;
use bytes::Bytes;
use esb_config::model::FunctionSpec;
use esb_runtime::docker::DockerRuntime;
use esb_runtime::labels::{key, Role};
use esb_runtime::rie::{self, Outcome, RieClient, PORT};
use esb_runtime::{ContainerSpec, Labels, Runtime};
use serde_json::json;
use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How long RIE may take to listen after the container starts.
const READY_WITHIN: Duration = Duration::from_secs(10);

pub fn run(global: &Global, args: InvokeArgs, out: &Output) -> anyhow::Result<()> {
    let (ws, mut project) = open_project(global, &args.parameters, out, super::Open::Run)?;
    out.warnings(&super::env_vars::apply_file(&mut project, args.env_vars.as_deref())?);
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project)?)?;
    let functions = &project.functions.functions;
    // A nested application's function is `App.Fn`; SAM CLI writes it `App/Fn`.
    let wanted = args.function.replace('/', ".");
    let (id, spec) = functions.iter().find(|(id, f)| **id == wanted || f.function_name == args.function).ok_or_else(|| {
        anyhow::anyhow!(
            "no function `{}` in the template\n  hint: functions are {}",
            args.function,
            functions.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let event = read_event(args.event.as_deref())?;
    let root = ws.template.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();

    let result = block_on(async {
        let rt = DockerRuntime::connect().await?;
        let image = if args.no_build {
            esb_images::read_manifest(&ws.output_dir)
                .remove(id)
                .map(|i| i.reference)
                .with_context(|| format!("{id} has no image yet; run `esb build` (or drop --no-build)"))?
        } else {
            let progress = crate::progress::Progress::new(out.json());
            let options = esb_images::Options { images_dir: ws.images_dir.clone(), only: vec![id.clone()], ..Default::default() };
            let mut report = esb_images::build_project(&rt, &project, &root, &ws.output_dir, &options, &|e| progress.event(e)).await?;
            progress.clear();
            if let Some((_, e)) = report.failures.pop() {
                return Err(e.into());
            }
            report.functions.remove(id).map(|(i, _)| i.reference).context("image build produced nothing")?
        };
        // The project's storage, when it is running (`esb up -d`, `esb serve`): the one-shot
        // function reaches the same buckets and tables; `--env` still wins.
        let running = esb_storage::service::endpoints(&rt, &ws.settings.project).await.unwrap_or_default();
        let needs = !project.resources.buckets.is_empty() || !project.resources.tables.is_empty();
        if needs && running.is_empty() {
            out.warnings(&["the project's storage is not running, so S3 and DynamoDB calls will fail (`esb up -d` starts it)".into()]);
        }
        let mut extra = super::storage::function_env(&running);
        let mut spec = spec.clone();
        if let Some(port) = args.debug_port {
            debug_mode(&mut spec, port, out)?;
        }
        extra.extend(args.env.iter().cloned());
        let env = esb_config::lambda_env::lambda_env(&spec, &ws.settings.region, &extra);
        invoke_once(&rt, &ws.settings.project, id, &spec, &image, env, event).await
    })?;
    report(id, &result, global.verbose > 0, out)
}

/// `-d PORT`: the function in debug mode (see [`super::debug`]) for this one run.
fn debug_mode(spec: &mut FunctionSpec, port: u16, out: &Output) -> anyhow::Result<()> {
    let how = super::debug::how(spec, port)?;
    super::debug::apply_spec(spec, port);
    out.note(&format!("waiting for a debugger on 127.0.0.1:{port}: {how}"));
    Ok(())
}

fn read_event(source: Option<&str>) -> anyhow::Result<Bytes> {
    let text = match source {
        None => "{}".to_string(),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the event from stdin")?;
            s
        }
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading the event file {path}"))?,
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .with_context(|| format!("the event ({}) is not valid JSON", source.unwrap_or("{}")))?;
    Ok(Bytes::from(text))
}

/// What one invocation produced.
struct Run {
    image: String,
    container: String,
    trace_id: String,
    body: Bytes,
    outcome: Result<Outcome, esb_runtime::rie::InvokeError>,
    oom: bool,
    logs: String,
    start: Duration,
    ready: Duration,
    invoke: Duration,
}

async fn invoke_once(
    rt: &DockerRuntime,
    project: &str,
    id: &str,
    spec: &FunctionSpec,
    image: &str,
    env: std::collections::BTreeMap<String, String>,
    event: Bytes,
) -> anyhow::Result<Run> {
    // Debug mode (`-d`) put its port into the environment.
    let debug_port: Option<u16> = env.get(super::debug::PORT_VAR).and_then(|p| p.parse().ok());
    let unique = format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
    );
    let container = ContainerSpec {
        name: format!("esb-{project}-invoke-{}-{unique}", esb_config::generator::sanitize_name(id)),
        image: image.to_string(),
        env: env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels: Labels::new().with(key::PROJECT, project).with(key::FUNCTION, id).role(Role::Invoke).created_now(),
        memory_mb: Some(spec.memory_size as u64),
        network: Some(esb_storage::service::network(project)),
        // The debugger's port, on loopback only: it runs code for whoever connects.
        ports: debug_port.map(|p| (p, "127.0.0.1".to_string(), p)).into_iter().collect(),
        ..Default::default()
    };
    esb_storage::service::ensure_network(rt, project).await?;
    let trace_id = esb_runtime::rie::new_trace_id();
    let t0 = Instant::now();
    let cid = rt.create_container(&container).await?;
    let work = async {
        rt.start_container(&cid).await?;
        let start = t0.elapsed();
        let info = rt.inspect_container(&cid).await?;
        let ip = info.ip.context("the container has no network address (did it exit at once? see its logs)")?;
        let addr = SocketAddr::new(ip, PORT);
        let client = RieClient::new();
        client.wait_ready(addr, READY_WITHIN).await?;
        let ready = t0.elapsed();
        let deadline = Duration::from_secs(spec.timeout as u64) + esb_runtime::rie::TIMEOUT_GRACE;
        let outcome = client.invoke(addr, event, Some(&trace_id), deadline).await;
        let invoke = t0.elapsed();
        let (body, outcome) = match outcome {
            Ok(inv) => (inv.body, Ok(inv.outcome)),
            Err(e) => (Bytes::new(), Err(e)),
        };
        // Only a runtime that died can have been killed for memory (the check reads the engine's
        // memory statistics: not paid on every invocation).
        let oom = outcome.is_err() && rt.oom_killed(&cid).await.unwrap_or(false);
        // The engine copies a container's output asynchronously: wait (briefly) for RIE's closing
        // lines of this invocation, so the function's last lines are not cut off under load.
        let mut logs = String::new();
        for _ in 0..20 {
            logs = rt.logs(&cid).await.unwrap_or_default();
            if logs.contains("REPORT RequestId") || logs.contains("END RequestId") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<_, anyhow::Error>(Run {
            image: image.to_string(),
            container: cid.clone(),
            trace_id: trace_id.clone(),
            body,
            outcome,
            oom,
            logs,
            start,
            ready,
            invoke,
        })
    };
    let result = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    // Always remove the container, whatever happened above.
    if let Err(e) = rt.remove_container(&cid).await {
        tracing::warn!(container = %cid, error = %e, "could not remove the invoke container");
    }
    result
}

fn report(id: &str, r: &Run, verbose: bool, out: &Output) -> anyhow::Result<()> {
    let (kind, error_type, error_message) = match (&r.outcome, r.oom) {
        (_, true) => ("error", rie::OUT_OF_MEMORY.to_string(), rie::OUT_OF_MEMORY_REASON.to_string()),
        (Ok(Outcome::Success), _) => ("success", String::new(), String::new()),
        (Ok(Outcome::FunctionError { error_type, error_message }), _) => ("error", error_type.clone(), error_message.clone()),
        (Ok(Outcome::Timeout { message }), _) => ("timeout", "Task.TimedOut".to_string(), message.clone()),
        // The runtime's own reason: its init error, or RIE's log (RIE answers a bare 502).
        (Err(e), _) => match e.clone().explained(&r.logs) {
            esb_runtime::rie::InvokeError::Runtime { kind, reason, cause } => ("error", kind, format!("{reason} ({cause})")),
            other => ("error", "Runtime.Died".to_string(), other.to_string()),
        },
    };
    let ms = |d: Duration| d.as_millis() as u64;
    if out.json() {
        let payload = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&r.body)));
        out.emit(&json!({
            "function": id,
            "outcome": kind,
            "error_type": (!error_type.is_empty()).then_some(&error_type),
            "error_message": (!error_message.is_empty()).then_some(&error_message),
            "payload": payload,
            "logs": r.logs,
            "image": r.image,
            "container": r.container,
            "trace_id": r.trace_id,
            "timings_ms": {"container_start": ms(r.start), "rie_ready": ms(r.ready), "total": ms(r.invoke)},
        }));
    } else {
        // RIE's own `(rapid)` lines are noise unless asked for (-v); the function's output and
        // START/END/REPORT stay.
        for line in r.logs.lines().filter(|l| verbose || !l.contains("] (rapid) ")) {
            eprintln!("{line}");
        }
        if !r.body.is_empty() {
            println!("{}", String::from_utf8_lossy(&r.body));
        }
        let timing = format!("{} ms: container start {} ms, RIE ready {} ms; trace {}", ms(r.invoke), ms(r.start), ms(r.ready), r.trace_id);
        match kind {
            "success" => eprintln!("esb: {id} succeeded in {timing}"),
            _ => eprintln!(
                "esb: {id} {}: {error_type}: {error_message}\nesb: after {timing}",
                if kind == "timeout" { "timed out" } else { "failed" }
            ),
        }
    }
    if kind == "success" {
        Ok(())
    } else {
        Err(Silent(1).into())
    }
}
