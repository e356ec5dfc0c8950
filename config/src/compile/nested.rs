//! Nested applications: `AWS::Serverless::Application` (`Location`) and
//! `AWS::CloudFormation::Stack` (`TemplateURL`) whose template is a local file run in the same esb
//! project, as `sam local` runs them.
//!
//! Owns: finding and compiling the child template (its parameters from the parent, a depth limit,
//! cycles refused), its outputs as the parent's `!GetAtt App.Outputs.Name`, and merging what it
//! runs into the parent under the child's logical id (`App.Function`, physical names `App-Name`).
//! Must not: fetch a remote template (Serverless Application Repository, S3, HTTPS: those are
//! named and not run) or compile resources itself (the child is compiled by `compile` like any
//! template).

use super::{compile_nested, Nesting, Outputs, Project, Settings};
use crate::error::{ConfigError, Sink};
use crate::intrinsics::Context;
use crate::model::{Code, FunctionSpec, Route, UnavailableRoute};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Resource types whose template esb loads and runs when it is local.
pub(crate) const TYPES: &[&str] = &["AWS::Serverless::Application", "AWS::CloudFormation::Stack"];

/// Templates nested deeper than this are refused (CloudFormation's own limit is 5 levels of
/// nesting below the root, a little more here does no harm).
const MAX_DEPTH: usize = 8;

/// A child template, compiled.
pub(crate) struct Child {
    /// The nesting resource's logical id.
    pub id: String,
    /// The child template's directory, relative to the parent's (`.` when the same).
    pub dir: String,
    /// What it runs.
    pub project: Project,
    /// The line of the nesting resource (where the child's missing parameters are reported).
    pub line: usize,
}

/// Compiles the local child template of nested resource `id`, or says why it is not run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compile_child(
    id: &str,
    ty: &str,
    node: &Node,
    ctx: &Context,
    root: &Path,
    settings: &Settings,
    nesting: &Nesting,
    sink: &mut Sink,
) -> Option<Child> {
    let key = if ty == "AWS::Serverless::Application" { "Location" } else { "TemplateURL" };
    let ppath = format!("Resources.{id}.Properties");
    let props = node.get("Properties");
    let Some(loc_node) = props.and_then(|p| p.get(key)) else {
        sink.error(
            Some(node.line),
            &format!("{ppath}.{key}"),
            format!("{ty} {id} has no {key}"),
            Some("point it at the child template file"),
        );
        return None;
    };
    if loc_node.as_map().is_some_and(|m| m.iter().any(|(k, _)| k == "ApplicationId")) {
        sink.warn_at(
            loc_node.line,
            format!("nested application {id} comes from the Serverless Application Repository, which esb cannot reach; it is not run (put its template next to yours and give Location as a file path)"),
        );
        return None;
    }
    let location = ctx.resolve_string(loc_node, &format!("{ppath}.{key}"), sink).ok()??;
    if location.contains("://") {
        sink.warn_at(
            loc_node.line,
            format!("nested stack {id}'s template is remote ({location}); esb runs only local templates, so it is not run (download it and give {key} as a file path)"),
        );
        return None;
    }
    let file = root.join(&location);
    if !file.is_file() {
        sink.error(
            Some(loc_node.line),
            &format!("{ppath}.{key}"),
            format!("nested template `{location}` is not a file (looked at {})", file.display()),
            Some("give the child template's path relative to this template"),
        );
        return None;
    }
    let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
    if nesting.chain.contains(&canonical) {
        sink.error(
            Some(loc_node.line),
            &format!("{ppath}.{key}"),
            format!("nested template `{location}` includes itself"),
            Some("a template cannot nest itself, directly or through another"),
        );
        return None;
    }
    if nesting.chain.len() >= MAX_DEPTH {
        sink.error(Some(loc_node.line), &format!("{ppath}.{key}"), format!("nested templates are more than {MAX_DEPTH} levels deep"), None);
        return None;
    }
    let mut parameters = parameters(props.and_then(|p| p.get("Parameters")), ctx, &format!("{ppath}.Parameters"), sink);
    // `--parameter App.Name=value` (or generator.yml's `App.Name`) reaches the child's `Name`.
    for (name, value) in &settings.parameters {
        if let Some(own) = name.strip_prefix(&format!("{id}.")) {
            parameters.insert(own.to_string(), value.clone());
        }
    }
    let child_settings = Settings { parameters, ..settings.clone() };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            sink.error(
                Some(loc_node.line),
                &format!("{ppath}.{key}"),
                format!("cannot read nested template {}: {e}", file.display()),
                None,
            );
            return None;
        }
    };
    let child_nesting = Nesting { chain: [nesting.chain.clone(), vec![canonical]].concat(), prefix: format!("{}{id}-", nesting.prefix) };
    match compile_nested(&file, &text, &child_settings, &child_nesting) {
        Ok(project) => {
            // The child's parameters without a value are the parent's, as `App.Name`: a plan shows
            // them, a run refuses them (like the root template's own).
            for m in &project.missing_parameters {
                sink.warn_at(
                    node.line,
                    format!("nested template {location} gets no value for its parameter `{}`: pass it in Resources.{id}.Properties.Parameters or as --parameter {id}.{}=VALUE", m.name, m.name),
                );
            }
            for w in &project.warnings {
                sink.warn(format!("{id}: {w}"));
            }
            let dir = Path::new(&location).parent().map(normalize).unwrap_or_else(|| ".".into());
            Some(Child { id: id.to_string(), dir, project, line: node.line })
        }
        Err(ConfigError::Invalid(d)) => {
            // The child's own diagnostics name its file and lines.
            sink.errors.extend(d.0);
            None
        }
        Err(e) => {
            sink.error(Some(loc_node.line), &format!("{ppath}.{key}"), format!("nested template {location}: {e}"), None);
            None
        }
    }
}

/// The parent's `Parameters` for the child, resolved: a list is passed comma-joined, as
/// CloudFormation passes a CommaDelimitedList.
fn parameters(node: Option<&Node>, ctx: &Context, path: &str, sink: &mut Sink) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in node.and_then(Node::as_map).unwrap_or_default() {
        let at = format!("{path}.{name}");
        // A value esb cannot know here (another nested stack's output that depends on what esb
        // does not run, an export) leaves the child's parameter without a value: the child's
        // missing parameters are the parent's to give (`App.Name`).
        let mut scratch = Sink::new(&sink.file);
        let resolved = ctx.resolve(value, &at, &mut scratch);
        if scratch.errors.len() > scratch.unknowable.len() {
            sink.errors.extend(scratch.errors);
            continue;
        }
        for w in scratch.warnings {
            sink.warn(w);
        }
        for e in scratch.errors {
            sink.warn_at(e.line.unwrap_or(value.line), &e.message);
        }
        let Ok(Some(v)) = resolved else { continue };
        let text = match &v.value {
            Value::Seq(items) => items.iter().filter_map(Node::as_scalar_str).collect::<Vec<_>>().join(","),
            _ => match v.as_scalar_str() {
                Some(s) => s,
                None => {
                    sink.error(
                        Some(value.line),
                        &at,
                        format!("a nested stack's parameter is a string or a list, found {}", v.kind()),
                        None,
                    );
                    continue;
                }
            },
        };
        out.insert(name.clone(), text);
    }
    out
}

/// `a/./b/` -> `a/b`; `.` for nothing.
fn normalize(p: &Path) -> String {
    let parts: Vec<String> =
        p.components().filter(|c| !matches!(c, Component::CurDir)).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// `dir/path`, for a path relative to the child's directory.
fn rebase(dir: &str, path: &str) -> String {
    if dir == "." {
        return path.to_string();
    }
    normalize(&PathBuf::from(dir).join(path))
}

/// The key of child function (or API, table, bucket) `id` of nested resource `app`.
pub(crate) fn key(app: &str, id: &str) -> String {
    format!("{app}.{id}")
}

/// Adds what `child` runs to the parent's outputs, under its keys, with paths relative to the
/// parent's directory. Its outputs become `!GetAtt App.Outputs.Name` (see `outputs`).
pub(crate) fn merge(
    child: Child,
    out: &mut Outputs,
    routes: &mut Vec<Route>,
    unavailable: &mut Vec<UnavailableRoute>,
    missing: &mut Vec<super::MissingParameter>,
    sink: &mut Sink,
) {
    let Child { id: app, dir, project, line } = child;
    for m in project.missing_parameters {
        missing.push(super::MissingParameter { name: key(&app, &m.name), line, stand_in: m.stand_in });
    }
    let rename = |f: &str| key(&app, f);
    for (fid, mut spec) in project.functions.functions {
        let k = rename(&fid);
        rebase_function(&mut spec, &dir, &k);
        for target in [&mut spec.async_invoke.on_success, &mut spec.async_invoke.on_failure].into_iter().flatten() {
            *target = rename(target);
        }
        out.functions.insert(k, spec);
    }
    for (aid, api) in project.routing.apis {
        out.api_specs.insert(rename(&aid), api);
    }
    for mut r in project.routing.routes {
        r.api = rename(&r.api);
        r.function = rename(&r.function);
        r.source = rename(&r.source);
        if let Some(other) = routes.iter().find(|o| o.method == r.method && o.path == r.path) {
            sink.warn(format!(
                "route {} {} of {} is also served by {}: esb serves every API on one host, so the first one answers",
                r.method, r.path, r.function, other.function
            ));
        }
        routes.push(r);
    }
    for mut u in project.routing.function_urls {
        u.function = rename(&u.function);
        u.id = format!("{}-{}", app.to_ascii_lowercase(), u.id);
        out.urls.push(u);
    }
    for mut u in project.routing.unavailable {
        u.function = rename(&u.function);
        unavailable.push(u);
    }
    for (tid, t) in project.resources.tables {
        out.tables.insert(rename(&tid), t);
    }
    for (bid, b) in project.resources.buckets {
        out.buckets.insert(rename(&bid), b);
    }
    for (fid, why) in project.left_out {
        sink.left_out.insert(rename(&fid), why);
    }
}

/// A child function's paths, relative to the parent's directory, and its image and Dockerfile
/// under its new key.
fn rebase_function(spec: &mut FunctionSpec, dir: &str, key: &str) {
    match &mut spec.code {
        Code::Dir { path } => *path = rebase(dir, path),
        Code::Image(image) => {
            if let Some(c) = &mut image.context {
                *c = rebase(dir, c);
            }
        }
        Code::Inline { .. } => {}
    }
    for layer in &mut spec.layers {
        layer.content_uri = rebase(dir, &layer.content_uri);
    }
    match &mut spec.build {
        Some(crate::model::Build::Go { module, artifacts, .. }) => {
            *module = rebase(dir, module);
            if let Some(a) = artifacts {
                *a = rebase(dir, a);
            }
        }
        Some(crate::model::Build::Maven { artifacts: Some(a), .. } | crate::model::Build::Gradle { artifacts: Some(a), .. }) => {
            *a = rebase(dir, a);
        }
        _ => {}
    }
    if let Some((repo, tag)) = spec.image.rsplit_once(':') {
        if let Some((project, _)) = repo.split_once('/') {
            spec.image = format!("{project}/{}:{tag}", super::functions::docker_name(key));
        }
    }
    spec.dockerfile = format!("functions/{key}/Dockerfile");
}

/// The child's `Outputs`, evaluated in its own context where they can be: what the parent's
/// `!GetAtt App.Outputs.Name` gives. An output esb cannot evaluate is left out (the parent's
/// GetAtt of it is then a value esb cannot know).
pub(crate) fn outputs(doc: &Node, ctx: &Context, file: &Path) -> BTreeMap<String, String> {
    let mut scratch = Sink::new(file);
    let mut out = BTreeMap::new();
    for (name, o) in doc.get("Outputs").and_then(Node::as_map).unwrap_or_default() {
        if let Some(value) = o.get("Value") {
            if let Ok(Some(v)) = ctx.resolve_string(value, &format!("Outputs.{name}.Value"), &mut scratch) {
                out.insert(name.clone(), v);
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "nested_tests.rs"]
mod tests;
