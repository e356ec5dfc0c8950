//! `esb build [--dry-run] [--no-cache] [--config-only] [FUNCTION...]`: template -> generated config
//! under the output dir -> function images (bases built or loaded first, unchanged images skipped).

use super::{open_project, show, Open};
use crate::cli::{BuildArgs, Global};
use crate::output::Output;
use crate::progress::Progress;
use esb_config::generate::{self, FileStatus};
use esb_config::model::{Code, Route};
use esb_config::Project;
use esb_images::{Report, Status};
use serde_json::json;
use std::time::Instant;

pub fn run(global: &Global, args: BuildArgs, out: &Output) -> anyhow::Result<()> {
    let (ws, project) = open_project(global, &args.parameters, out, if args.dry_run { Open::Plan } else { Open::RunShowingAllWarnings })?;
    let rendered = generate::render(&project)?;
    let files = if args.dry_run { generate::plan(&ws.output_dir, &rendered) } else { generate::write(&ws.output_dir, &rendered)? };
    if let Some(unknown) = args.functions.iter().find(|f| !project.functions.functions.contains_key(*f)) {
        anyhow::bail!(
            "no function `{unknown}` in the template (functions: {})",
            project.functions.functions.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let images = if args.dry_run || args.config_only {
        None
    } else {
        let started = Instant::now();
        let progress = Progress::new(out.json());
        let options = esb_images::Options { no_cache: args.no_cache, images_dir: ws.images_dir.clone(), only: args.functions.clone() };
        let root = ws.template.parent().unwrap_or(std::path::Path::new(".")).to_path_buf();
        let report = super::block_on(async {
            let rt = esb_runtime::docker::DockerRuntime::connect().await?;
            Ok::<_, anyhow::Error>(esb_images::build_project(&rt, &project, &root, &ws.output_dir, &options, &|e| progress.event(e)).await?)
        })?;
        progress.clear();
        Some((report, started.elapsed()))
    };

    if out.json() {
        let (built, failures, tarballs) = match &images {
            Some((r, _)) => (
                json!(r
                    .functions
                    .iter()
                    .map(|(id, (img, st))| (id.clone(), json!({"image": img.reference, "id": img.id, "base": img.base, "status": st})))
                    .collect::<serde_json::Map<_, _>>()),
                json!(r.failures.iter().map(|(what, e)| json!({"target": what, "error": e.to_string()})).collect::<Vec<_>>()),
                json!(r.loaded.iter().map(|(file, st)| json!({"file": file, "status": st})).collect::<Vec<_>>()),
            ),
            None => (json!({}), json!([]), json!([])),
        };
        out.emit(&json!({
            "template": ws.template,
            "project": ws.settings.project,
            "output_dir": ws.output_dir,
            "dry_run": args.dry_run,
            "functions": project.functions.functions,
            "routes": project.routing.routes,
            "apis": project.routing.apis,
            "tables": project.resources.tables,
            "buckets": project.resources.buckets,
            "files": files.iter().map(|(path, status)| json!({"path": path, "status": status})).collect::<Vec<_>>(),
            "images_built": images.is_some(),
            "images": built,
            "tarballs": tarballs,
            "failures": failures,
            "warnings": project.warnings,
            "left_out": project.left_out,
            "missing_parameters": project.missing_parameters,
        }));
        nothing_runs(&project)?;
        return fail_on(&images);
    }
    out.say(format!("{} {} (project {})", if args.dry_run { "Would build" } else { "Built" }, show(&ws.template), ws.settings.project));
    out.say(format!("  {}", counts(&project)));
    for (id, why) in &project.left_out {
        out.say(format!("  left out: {id}: {why}"));
    }
    if !project.missing_parameters.is_empty() {
        let names: Vec<String> = project.missing_parameters.iter().map(|m| format!("{} (stand-in `{}`)", m.name, m.stand_in)).collect();
        out.say(format!("  parameters without a value, to give before a build runs: {}", names.join(", ")));
    }
    nothing_runs(&project)?;
    if args.dry_run {
        details(&project, out);
    }
    let count = |s: FileStatus| files.iter().filter(|(_, st)| *st == s).count();
    let (created, updated, unchanged, removed) =
        (count(FileStatus::Created), count(FileStatus::Updated), count(FileStatus::Unchanged), count(FileStatus::Removed));
    let verb = if args.dry_run { "would write" } else { "wrote" };
    let mut line = format!("  {}: {verb} {}, {unchanged} unchanged", show(&ws.output_dir), created + updated);
    if removed > 0 {
        line.push_str(&format!(", {} {removed} stale", if args.dry_run { "would remove" } else { "removed" }));
    }
    out.say(line);
    if args.dry_run {
        for (path, status) in files.iter().filter(|(_, s)| *s != FileStatus::Unchanged) {
            out.say(format!("    {:<9} {path}", format!("{status:?}").to_lowercase()));
        }
        out.say("Nothing was written and no image was built (--dry-run).");
        return Ok(());
    }
    match &images {
        None => out.say("Config generated (--config-only: no images built)."),
        Some((report, elapsed)) => summary(report, *elapsed, out),
    }
    fail_on(&images)
}

fn summary(report: &Report, elapsed: std::time::Duration, out: &Output) {
    let count = |s: Status| report.functions.values().filter(|(_, st)| *st == s).count();
    let loaded = report.loaded.iter().filter(|(_, s)| *s == Status::Loaded).count();
    let mut line = format!("  images: {} built, {} unchanged", count(Status::Built), count(Status::Cached));
    if loaded > 0 {
        line.push_str(&format!(", {loaded} tarball(s) loaded"));
    }
    if !report.failures.is_empty() {
        line.push_str(&format!(", {} failed", report.failures.len()));
    }
    out.say(format!("{line} ({:.1}s)", elapsed.as_secs_f64()));
    for base in report.bases.values().filter(|b| b.official) {
        out.say(format!("  using the official base image {} found locally", base.reference));
    }
}

/// A template whose functions are all left out is a failed build, not "0 functions" and a gateway
/// that answers 404 to everything (issue 20).
fn nothing_runs(project: &Project) -> anyhow::Result<()> {
    if project.functions.functions.is_empty() && !project.left_out.is_empty() {
        anyhow::bail!("none of the template's {} function(s) can run here (each is listed above with its reason)", project.left_out.len());
    }
    Ok(())
}

/// Failed image builds make the command fail, after everything else was reported.
fn fail_on(images: &Option<(Report, std::time::Duration)>) -> anyhow::Result<()> {
    let Some((report, _)) = images else { return Ok(()) };
    if report.failures.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = report.failures.iter().map(|(what, e)| format!("{what}: {e}")).collect();
    anyhow::bail!("{} image build(s) failed; earlier images are unchanged and still usable\n{}", report.failures.len(), text.join("\n"))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn counts(p: &Project) -> String {
    let schedules: usize = p.functions.functions.values().map(|f| f.schedules.len()).sum();
    let s3: usize = p.functions.functions.values().map(|f| f.s3_events.len()).sum();
    let mut parts = vec![
        plural(p.functions.functions.len(), "function"),
        plural(p.routing.routes.len(), "route"),
        plural(p.resources.tables.len(), "table"),
        plural(p.resources.buckets.len(), "bucket"),
        plural(schedules, "schedule"),
    ];
    if s3 > 0 {
        parts.push(plural(s3, "S3 event"));
    }
    let streams: usize = p.functions.functions.values().map(|f| f.stream_events.len()).sum();
    if streams > 0 {
        parts.push(plural(streams, "stream"));
    }
    parts.join(", ")
}

fn details(p: &Project, out: &Output) {
    out.heading("Functions (image <- base)");
    for (id, f) in &p.functions.functions {
        let code = match &f.code {
            Code::Dir { path } => path.clone(),
            Code::Inline { .. } => "inline".into(),
            Code::Image(c) => match (&c.uri, &c.context) {
                (Some(uri), _) => format!("image {uri}"),
                (None, context) => format!("image from {}/{}", context.as_deref().unwrap_or("."), c.dockerfile),
            },
        };
        out.say(format!("  {id:<22} {:<16} {} <- {}  ({code}, {}s, {} MB)", f.runtime, f.image, f.base.image(), f.timeout, f.memory_size));
    }
    out.heading("Routes");
    for r in &p.routing.routes {
        out.say(format!("  {:<7} {:<28} -> {:<20} {}", r.method, r.path, r.function, route_notes(p, r)));
    }
    if !p.resources.tables.is_empty() {
        out.heading("Tables");
        for (id, t) in &p.resources.tables {
            let keys: Vec<String> = t.key_schema.iter().map(|k| format!("{} {}", k.attribute_name, k.key_type)).collect();
            out.say(format!(
                "  {id:<22} {:<24} {}  [{}]{}",
                t.table_name,
                t.billing_mode,
                keys.join(", "),
                if t.global_secondary_indexes.is_empty() { String::new() } else { format!(" +{} GSI", t.global_secondary_indexes.len()) }
            ));
        }
    }
    if !p.resources.buckets.is_empty() {
        out.heading("Buckets");
        for (id, b) in &p.resources.buckets {
            out.say(format!("  {id:<22} {}{}", b.bucket_name, if b.versioning { "  (versioned)" } else { "" }));
        }
    }
    let schedules: Vec<_> = p.functions.functions.iter().flat_map(|(id, f)| f.schedules.iter().map(move |s| (id, s))).collect();
    if !schedules.is_empty() {
        out.heading("Schedules");
        for (id, s) in schedules {
            out.say(format!("  {:<22} {}{}", format!("{id}.{}", s.name), s.expression, if s.enabled { "" } else { "  (disabled)" }));
        }
    }
}

fn route_notes(p: &Project, r: &Route) -> String {
    let stage = p.routing.apis.get(&r.api).map(|a| a.stage.as_str()).unwrap_or("?");
    let mut notes = format!("{} stage {stage}, payload {}", r.api, r.payload_version);
    if let Some(a) = &r.authorizer {
        notes.push_str(&format!(", auth {a}"));
    }
    if r.api_key_required {
        notes.push_str(", api key");
    }
    notes
}
