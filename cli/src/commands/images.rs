//! `esb images list` and `esb images export [--dir DIR]`.
//!
//! Export writes one `docker save` tarball per image this project needs (its bases, official or
//! esb's, and its function images as last built) into the project's images dir, which `esb build`
//! loads at an air-gapped site before building anything.

use super::{block_on, find_template};
use crate::cli::{Global, ImagesCommand};
use crate::output::Output;
use esb_runtime::docker::DockerRuntime;
use esb_runtime::labels::key;
use esb_runtime::Runtime;
use serde_json::json;

pub fn run(global: &Global, cmd: ImagesCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        ImagesCommand::List => list(out),
        ImagesCommand::Export { dir } => export(global, dir, out),
    }
}

fn list(out: &Output) -> anyhow::Result<()> {
    let mut images = block_on(async { Ok(DockerRuntime::connect().await?.images_with_label(key::ROLE).await?) })?;
    images.sort_by(|a, b| a.tags.cmp(&b.tags));
    if out.json() {
        out.emit(&json!(images
            .iter()
            .map(|i| json!({"id": i.id, "tags": i.tags, "size": i.size, "role": i.labels.get(key::ROLE), "project": i.labels.get(key::PROJECT), "function": i.labels.get(key::FUNCTION)}))
            .collect::<Vec<_>>()));
        return Ok(());
    }
    out.say(format!("{:<52} {:<9} {:>8}  {}", "IMAGE", "ROLE", "SIZE", "ID"));
    for i in &images {
        let role = i.labels.get(key::ROLE).unwrap_or("-");
        let id = i.id.trim_start_matches("sha256:").chars().take(12).collect::<String>();
        for tag in if i.tags.is_empty() { vec!["<untagged>".to_string()] } else { i.tags.clone() } {
            out.say(format!("{tag:<52} {role:<9} {:>6} MB  {id}", i.size / 1_000_000));
        }
    }
    if images.is_empty() {
        out.say("No esb images yet; `esb build` makes them.");
    }
    Ok(())
}

fn export(global: &Global, dir: Option<std::path::PathBuf>, out: &Output) -> anyhow::Result<()> {
    let template = find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &Default::default())?;
    let manifest = esb_images::read_manifest(&ws.output_dir);
    if manifest.is_empty() {
        anyhow::bail!("this project has no built images yet\n  hint: run `esb build` first");
    }
    let mut references: Vec<String> = manifest.values().flat_map(|i| [i.base.clone(), i.reference.clone()]).collect();
    references.sort();
    references.dedup();
    let dir = dir.unwrap_or_else(|| ws.images_dir.clone());
    let project = ws.compile()?;
    let (files, stale) = block_on(async {
        let rt = DockerRuntime::connect().await?;
        let root = ws.template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let inputs = esb_images::function::Inputs { root, output_dir: &ws.output_dir, project: &ws.settings.project };
        let stale = esb_images::function::stale(&rt, &inputs, &project.functions.functions, &manifest).await;
        Ok::<_, anyhow::Error>((esb_images::tarballs::export(&rt, &references, &dir).await?, stale))
    })?;
    if !stale.is_empty() {
        // Exported all the same (the operator may want exactly what was built), but never silently.
        out.warnings(&[format!(
            "the exported images of {} are older than the project's code, layers or base (changed since the last `esb build`); run `esb build` first to export what the project is now",
            stale.join(", ")
        )]);
    }
    let sizes: Vec<(String, u64)> =
        files.iter().map(|f| (f.display().to_string(), std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))).collect();
    if out.json() {
        out.emit(
            &json!({"dir": dir, "stale": stale, "files": sizes.iter().map(|(f, s)| json!({"file": f, "size": s})).collect::<Vec<_>>()}),
        );
    } else {
        for (file, size) in &sizes {
            out.say(format!("{:>6} MB  {file}", size / 1_000_000));
        }
        out.say(format!("Wrote {} tarball(s) to {}; `esb build` loads them from there.", sizes.len(), dir.display()));
    }
    Ok(())
}
