//! `compile()`: a SAM template's text -> a [`Project`] (functions, routes, tables, buckets).
//!
//! Owns: the order of compilation (Parameters -> Conditions -> resource names -> Globals ->
//! intrinsics -> per-type compilers -> routes -> cross-resource checks) and collecting every error
//! before failing. Must not: write files (see `generate`) or touch Docker.
//!
//! Physical names are resolved in two passes: first every resource gets its default name (the
//! logical id; lower-cased for buckets), then explicit `FunctionName`/`TableName`/`BucketName`
//! properties are evaluated against those defaults. A name property that refers to another
//! resource's *explicit* name therefore sees its default; real templates do not do that.

mod api_sources;
mod apis;
mod asynchronous;
mod bootstrap;
mod build_method;
mod cfn_apis;
mod events;
mod function_urls;
mod functions;
mod generated;
mod globals;
pub mod image;
mod include;
mod java;
mod java_regex;
mod needed;
mod nested;
mod openapi;
mod params;
mod props;
mod sam_build;
mod storage;
mod typos;

pub use events::check_schedule;
pub use functions::base_for_runtime;
pub use params::{declared as declared_parameters, MissingParameter, ParamInfo};
pub use storage::check_bucket_name;

use crate::error::{ConfigError, Diagnostic, Diagnostics, Sink};
use crate::intrinsics::{evaluate_conditions, Context, ResourceRef};
use crate::model::*;
use crate::yaml::{self, Node, Value};
use props::Props;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Account id used for ARNs (the one LocalStack and SAM CLI use).
pub const LOCAL_ACCOUNT: &str = "123456789012";
/// Default region.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Project-level settings (from generator.yml and the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Project name: labels, `AWS::StackName`, image names.
    pub project: String,
    /// Image tag for function images.
    pub tag: String,
    /// `AWS::Region`.
    pub region: String,
    /// Parameter overrides.
    pub parameters: BTreeMap<String, String>,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The template file.
    pub template: PathBuf,
    /// `functions.yml` content.
    pub functions: FunctionsFile,
    /// `routing.yml` content.
    pub routing: RoutingFile,
    /// `resources.yml` content.
    pub resources: ResourcesFile,
    /// Warnings, each once.
    pub warnings: Vec<String>,
    /// Functions of the template esb cannot run, with the reason (see [`crate::runtimes`]).
    pub left_out: BTreeMap<String, String>,
    /// Parameters without a value, compiled with stand-ins: a plan shows them, a run refuses them.
    pub missing_parameters: Vec<MissingParameter>,
    /// The template's `Outputs` that esb could evaluate (a nested template's feed its parent).
    pub outputs: BTreeMap<String, String>,
}

/// Where a template sits among nested templates: the files above it (cycles are refused) and the
/// prefix of its resources' default physical names (`App-`; empty for the root template).
#[derive(Debug, Clone, Default)]
pub(crate) struct Nesting {
    chain: Vec<PathBuf>,
    prefix: String,
}

const TOP_LEVEL: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Transform",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Globals",
    "Resources",
    "Outputs",
    "Rules",
];

/// Resource types esb knows and deliberately does nothing with (no warning).
const SILENT_TYPES: &[&str] = &[
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
];

/// Reads and compiles the template at `path`.
pub fn compile_file(path: &Path, settings: &Settings) -> Result<Project, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(ConfigError::io("reading", path))?;
    compile(path, &text, settings)
}

/// Compiles template `text`; `path` names the file in errors and anchors relative CodeUris.
pub fn compile(path: &Path, text: &str, settings: &Settings) -> Result<Project, ConfigError> {
    compile_nested(path, text, settings, &Nesting::default())
}

/// [`compile`] for a template at `nesting` (the root template, or a nested application's).
fn compile_nested(path: &Path, text: &str, settings: &Settings, nesting: &Nesting) -> Result<Project, ConfigError> {
    let mut sink = Sink::new(path);
    let root_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut doc = match yaml::parse_document(text) {
        Ok((doc, duplicates)) => {
            for d in duplicates {
                sink.warn_at(
                    d.kept,
                    format!("key `{}` is also given at line {}; the last one is used, as CloudFormation does (remove one)", d.key, d.first),
                );
            }
            doc
        }
        Err(e) => {
            return Err(ConfigError::Invalid(Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: e.line,
                path: String::new(),
                message: format!("YAML syntax: {}", e.message),
                hint: Some("fix the YAML at that line (indentation, quotes, brackets)".into()),
            }])))
        }
    };
    // CloudFormation runs AWS::Include before anything else reads the template.
    include::expand(&mut doc, &root_dir, &mut sink);
    if doc.as_map().is_none() {
        sink.error(Some(doc.line), "", format!("a template is a mapping with a Resources section, found {}", doc.kind()), None);
        return Err(sink.into_error());
    }
    for (k, _) in doc.as_map().unwrap_or_default() {
        if !TOP_LEVEL.contains(&k.as_str()) {
            sink.warn(format!("top-level section `{k}` is not part of a SAM template; ignored"));
        }
    }
    let Some(resources) = doc.get("Resources").and_then(|r| r.as_map()) else {
        sink.error(
            Some(doc.line),
            "Resources",
            "the template has no Resources mapping",
            Some("add a Resources section with at least one AWS::Serverless::Function"),
        );
        return Err(sink.into_error());
    };

    let mut missing_parameters = vec![];
    let mut ctx = Context {
        params: params::resolve(doc.get("Parameters"), &settings.parameters, &mut missing_parameters, &mut sink),
        region: settings.region.clone(),
        account: LOCAL_ACCOUNT.into(),
        stack: settings.project.clone(),
        mappings: doc.get("Mappings").cloned(),
        ..Context::default()
    };
    if let Some(g) = doc.get("Globals") {
        typos::check_globals(g, &mut sink);
    }
    if nesting.chain.is_empty() {
        for m in &missing_parameters {
            sink.warn_at(
                m.line,
                format!(
                    "parameter `{}` has no Default and no value was given; using `{}` locally (set it in generator.yml under `parameters:` or pass --parameter {}=VALUE)",
                    m.name, m.stand_in, m.name
                ),
            );
        }
    }
    ctx.stand_ins = missing_parameters.iter().map(|m| m.name.clone()).collect();
    ctx.conditions = evaluate_conditions(&ctx, doc.get("Conditions"), &mut sink);

    // `Fn::ForEach` loops (the AWS::LanguageExtensions transform) stand for the entries they make.
    let expanded;
    let resources = if resources.iter().any(|(k, _)| k.starts_with("Fn::ForEach::")) {
        let section = doc.get("Resources").cloned().unwrap_or_else(|| Node::new(Value::Map(vec![]), doc.line));
        expanded = crate::intrinsics::expand_loops(&section, "Resources", &ctx, &mut sink);
        expanded.as_map().unwrap_or_default()
    } else {
        resources
    };

    // Pass 1: which resources exist, their types and default names.
    let mut active: Vec<(&String, String, &Node)> = vec![];
    for (id, node) in resources {
        let rpath = format!("Resources.{id}");
        let Some(ty) = node.get("Type").and_then(Node::as_str) else {
            sink.error(
                Some(node.line),
                &format!("{rpath}.Type"),
                format!("resource {id} has no Type"),
                Some("every resource needs a Type, e.g. AWS::Serverless::Function"),
            );
            continue;
        };
        typos::check_resource(id, ty, node, &mut sink);
        if let Some(cond) = node.get("Condition") {
            let name = cond.as_scalar_str().unwrap_or_default();
            match ctx.conditions.get(&name) {
                Some(true) => {}
                Some(false) => {
                    ctx.excluded.insert(id.clone());
                    continue;
                }
                None => {
                    sink.error(
                        Some(cond.line),
                        &format!("{rpath}.Condition"),
                        format!("condition `{name}` is not defined (or failed to evaluate)"),
                        Some("declare it under Conditions"),
                    );
                    continue;
                }
            }
        }
        let prefixed = format!("{}{id}", nesting.prefix);
        let default = if ty == "AWS::S3::Bucket" { prefixed.to_lowercase() } else { prefixed.clone() };
        let physical = if ty == "AWS::Serverless::LayerVersion" || ty == "AWS::Lambda::LayerVersion" {
            format!("arn:aws:lambda:{}:{}:layer:{prefixed}:1", ctx.region, ctx.account)
        } else {
            default
        };
        ctx.resources.insert(id.clone(), ResourceRef { kind: ty.to_string(), physical });
        active.push((id, ty.to_string(), node));
    }
    // Then the names the SAM transform generates (never over a declared resource).
    for (id, ty, node) in &active {
        generated::add(&mut ctx, id, ty, node, doc.get("Globals"));
    }
    // Pass 2: explicit names.
    let mut explicit = BTreeMap::new();
    for (id, ty, node) in &active {
        let key = match ty.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => "FunctionName",
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => "TableName",
            "AWS::S3::Bucket" => "BucketName",
            _ => continue,
        };
        if let Some(n) = node.get("Properties").and_then(|p| p.get(key)) {
            let path = format!("Resources.{id}.Properties.{key}");
            if let Ok(Some(name)) = ctx.resolve_string(n, &path, &mut sink) {
                explicit.insert((*id).clone(), name);
            }
        }
    }
    for (id, name) in explicit {
        if let Some(r) = ctx.resources.get_mut(&id) {
            r.physical = name;
        }
    }

    // Nested templates that are local files, compiled with the parameters given here; their
    // outputs are this template's `!GetAtt App.Outputs.Name`.
    let mut children = vec![];
    for (id, ty, node) in &active {
        if nested::TYPES.contains(&ty.as_str()) {
            if let Some(child) = nested::compile_child(id, ty, node, &ctx, &root_dir, settings, nesting, &mut sink) {
                for (name, value) in &child.project.outputs {
                    ctx.resources.insert(format!("{id}.Outputs.{name}"), ResourceRef { kind: ty.clone(), physical: value.clone() });
                }
                children.push(child);
            }
        }
    }

    // Resolve each resource's properties with Globals merged.
    let globals = doc.get("Globals");
    let mut resolved: Vec<(String, String, String, Node)> = vec![];
    for (id, ty, node) in &active {
        if !needed::RUN_TYPES.contains(&ty.as_str()) {
            // Not run: its properties are not read, so nothing in them can fail the template.
            if !SILENT_TYPES.contains(&ty.as_str()) && !nested::TYPES.contains(&ty.as_str()) && !cfn_apis::TYPES.contains(&ty.as_str()) {
                sink.warn(format!("resource type {ty} is not run locally; resources of this type are ignored"));
            }
            continue;
        }
        let ppath = format!("Resources.{id}.Properties");
        let empty = Node::new(Value::Map(vec![]), node.line);
        let raw = node.get("Properties").unwrap_or(&empty);
        if raw.as_map().is_none() && raw.value != Value::Null {
            sink.error(Some(raw.line), &ppath, format!("expected a mapping, found {}", raw.kind()), None);
            continue;
        }
        let raw = if raw.value == Value::Null { &empty } else { raw };
        let merged = match globals::section_for(globals, ty) {
            Some(g) => globals::merge(g, raw),
            None => raw.clone(),
        };
        if let Ok(Some(props)) = needed::resolve(&ctx, ty, &merged, &ppath, &mut sink) {
            resolved.push(((*id).clone(), ty.clone(), ppath, props));
        }
    }

    let mut out = Outputs::default();
    let mut definitions = vec![];
    for (id, ty, ppath, props) in &resolved {
        let physical = ctx.resources.get(id).map(|r| r.physical.clone()).unwrap_or_default();
        let p = Props::new(props, ppath);
        match ty.as_str() {
            "AWS::Serverless::Api" | "AWS::Serverless::HttpApi" => {
                let kind = if ty == "AWS::Serverless::Api" { ApiKind::Rest } else { ApiKind::Http };
                out.apis.insert(id.clone(), apis::compile(kind, p, false, &mut sink));
                definitions.extend(definition(id, kind, &p, &root_dir, &mut sink));
            }
            "AWS::DynamoDB::Table" => out.tables.extend(storage::table(id, &physical, p, &mut sink).map(|t| (id.clone(), t))),
            "AWS::Serverless::SimpleTable" => out.tables.extend(storage::simple_table(&physical, p, &mut sink).map(|t| (id.clone(), t))),
            "AWS::S3::Bucket" => out.buckets.extend(storage::bucket(&physical, p, &mut sink).map(|b| (id.clone(), b))),
            "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion" => {
                let key = if ty == "AWS::Serverless::LayerVersion" { "ContentUri" } else { "Content" };
                match p.get(key).and_then(Node::as_scalar_str).filter(|uri| !needed::is_placeholder(uri)) {
                    Some(uri) => {
                        let metadata = active.iter().find(|(i, ..)| *i == id).and_then(|(_, _, node)| node.get("Metadata"));
                        let build = build_method::layer_build(id, metadata, &mut sink);
                        let content_uri = uri.trim_start_matches("./").trim_end_matches('/').to_string();
                        out.layers.insert(physical.clone(), Layer { name: id.clone(), content_uri, build });
                    }
                    None => sink.warn(format!("layer {id} has no local {key} directory; functions using it get no /opt content")),
                }
            }
            _ => {}
        }
    }
    let mut events = vec![];
    let mut s3_events = vec![];
    let mut stream_events = vec![];
    let mut lines = BTreeMap::new();
    let mut unavailable = vec![];
    for (id, ty, ppath, props) in &resolved {
        let lambda;
        let props = match ty.as_str() {
            "AWS::Serverless::Function" => props,
            // Plain CloudFormation runs like a Serverless function with the same properties.
            "AWS::Lambda::Function" => match functions::from_lambda(id, props, &mut sink) {
                Some(p) => {
                    lambda = p;
                    &lambda
                }
                None => continue,
            },
            _ => continue,
        };
        let physical = ctx.resources.get(id).map(|r| r.physical.clone()).unwrap_or_default();
        let metadata = active.iter().find(|(i, ..)| *i == id).and_then(|(_, _, node)| node.get("Metadata"));
        let method = metadata.and_then(|m| m.get("BuildMethod")).and_then(|m| m.as_scalar_str());
        if let Some((mut spec, ev)) =
            functions::compile(id, &physical, Props::new(props, ppath), settings, &root_dir, &out.layers, metadata, &mut sink)
        {
            if !sam_build::use_artifacts(id, method.as_deref(), &mut spec, &root_dir, &mut sink) {
                spec.build = build_method::build_method(id, metadata, &spec, &mut sink);
            }
            bootstrap::settle(id, &mut spec, method.as_deref(), &root_dir, &mut sink);
            java::settle(id, &mut spec, &root_dir, &mut sink);
            out.urls.extend(function_urls::url(id, &Props::new(props, ppath), &mut sink));
            out.functions.insert(id.clone(), spec);
            events.extend(ev.http);
            s3_events.extend(ev.s3.into_iter().map(|(e, line)| (id.clone(), e, line)));
            stream_events.extend(ev.streams.into_iter().map(|(e, line)| (id.clone(), e, line)));
            lines.insert(id.clone(), props.get("EventInvokeConfig").map_or(props.line, |n| n.line));
        } else if let Some(reason) = sink.left_out.get(id.as_str()) {
            unavailable.extend(events::unavailable_routes(id, props, reason));
        }
    }
    // Routes from the APIs' own definitions: OpenAPI and CloudFormation API resources.
    api_sources::add(&active, &ctx, definitions, &mut events, &mut out, &mut sink);
    asynchronous::resolve(&mut out.functions, &lines, &mut sink);
    for (id, e, line) in s3_events {
        if !out.buckets.values().any(|b| b.bucket_name == e.bucket) {
            sink.error(
                Some(line),
                &format!("Resources.{id}.Properties.Events.{}.Properties.Bucket", e.name),
                format!("S3 event {} names bucket `{}`, which is not an AWS::S3::Bucket of this template", e.name, e.bucket),
                Some("S3 events need a bucket declared in the same template: `Bucket: !Ref MyBucket`"),
            );
        }
    }
    for (id, e, line) in stream_events {
        match out.tables.values().find(|t| t.table_name == e.table) {
            Some(t) if t.stream_view_type.is_some() => {}
            found => sink.error(
                Some(line),
                &format!("Resources.{id}.Properties.Events.{}.Properties.Stream", e.name),
                if found.is_some() {
                    format!("DynamoDB event {} follows table `{}`, which has no stream", e.name, e.table)
                } else {
                    format!("DynamoDB event {} follows table `{}`, which is not an AWS::DynamoDB::Table of this template", e.name, e.table)
                },
                Some("declare the table in this template with `StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}` and use `Stream: !GetAtt MyTable.StreamArn`"),
            ),
        }
    }
    for (kind, id, section) in [(ApiKind::Rest, apis::IMPLICIT_REST, "Api"), (ApiKind::Http, apis::IMPLICIT_HTTP, "HttpApi")] {
        if events.iter().any(|e| e.kind == kind && e.api.is_none()) && !out.apis.contains_key(id) {
            let gpath = format!("Globals.{section}");
            let g = globals.and_then(|g| g.get(section)).filter(|g| g.as_map().is_some());
            let resolved_globals = g.and_then(|g| ctx.resolve(g, &gpath, &mut sink).ok().flatten());
            let api = apis::implicit(kind, resolved_globals.as_ref().map(|n| Props::new(n, &gpath)), &mut sink);
            out.apis.insert(id.to_string(), api);
        }
    }
    apis::bind_authorizers(&mut out.apis, &out.functions, &mut sink);
    let other_apis: BTreeMap<String, String> = active
        .iter()
        .filter(|(_, ty, _)| ty.starts_with("AWS::ApiGateway::RestApi") || ty.starts_with("AWS::ApiGatewayV2::Api"))
        .map(|(id, ty, _)| ((*id).clone(), ty.clone()))
        .collect();
    let mut routes = apis::routes(&events, &out.apis, &other_apis, &mut sink);
    apis::iam_authorizers(&routes, &mut out.apis);
    for child in children {
        nested::merge(child, &mut out, &mut routes, &mut unavailable, &mut missing_parameters, &mut sink);
    }
    unique_names(&resolved, &out, &mut sink);
    let outputs = nested::outputs(&doc, &ctx, path);

    let (warnings, left_out) = sink.into_result()?;
    Ok(Project {
        template: path.to_path_buf(),
        functions: FunctionsFile { version: SCHEMA_VERSION, project: settings.project.clone(), functions: out.functions },
        routing: RoutingFile {
            version: SCHEMA_VERSION,
            apis: out.apis.into_iter().map(|(k, a)| (k, a.spec)).chain(out.api_specs).collect(),
            routes,
            unavailable,
            function_urls: out.urls,
        },
        resources: ResourcesFile { version: SCHEMA_VERSION, tables: out.tables, buckets: out.buckets },
        warnings,
        left_out,
        missing_parameters,
        outputs,
    })
}

/// An API's OpenAPI definition: its `DefinitionBody`, or the local file its `DefinitionUri` names.
fn definition(id: &str, kind: ApiKind, p: &Props, root: &Path, sink: &mut Sink) -> Option<openapi::Definition> {
    let merge = p.bool("MergeDefinitions", sink).unwrap_or(false);
    if let Some(body) = p.get("DefinitionBody").filter(|b| b.as_map().is_some()) {
        return Some(openapi::Definition { api: id.to_string(), kind, body: body.clone(), origin: p.at("DefinitionBody"), merge });
    }
    let uri = p.get("DefinitionUri")?;
    let Some(file) = uri.as_scalar_str() else {
        sink.warn_at(
            uri.line,
            format!("{}: a DefinitionUri in S3 is not read; its routes are not served (point it at a local file)", p.at("DefinitionUri")),
        );
        return None;
    };
    let body = openapi::load_uri(&file, root, uri.line, sink)?;
    Some(openapi::Definition { api: id.to_string(), kind, body, origin: file, merge })
}

#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) functions: BTreeMap<String, FunctionSpec>,
    pub(crate) apis: BTreeMap<String, apis::Api>,
    /// Nested templates' APIs, compiled already.
    pub(crate) api_specs: BTreeMap<String, ApiSpec>,
    /// Function URLs.
    pub(crate) urls: Vec<FunctionUrl>,
    pub(crate) tables: BTreeMap<String, TableSpec>,
    pub(crate) buckets: BTreeMap<String, BucketSpec>,
    /// Layer ARN (what `!Ref Layer` gives) -> layer.
    pub(crate) layers: BTreeMap<String, Layer>,
}

/// Two resources of one kind may not share a physical name.
fn unique_names(resolved: &[(String, String, String, Node)], out: &Outputs, sink: &mut Sink) {
    let line_of = |id: &str| resolved.iter().find(|(i, ..)| i == id).map(|(_, _, _, n)| n.line);
    let mut check = |kind: &str, key: &str, names: Vec<(&String, &String)>| {
        let mut seen: BTreeMap<&String, &String> = BTreeMap::new();
        for (id, name) in names {
            if let Some(first) = seen.insert(name, id) {
                sink.error(
                    line_of(id),
                    &format!("Resources.{id}.Properties.{key}"),
                    format!("{kind} name `{name}` is also used by {first}"),
                    Some("give each one its own name"),
                );
            }
        }
    };
    check("function", "FunctionName", out.functions.iter().map(|(id, f)| (id, &f.function_name)).collect());
    check("table", "TableName", out.tables.iter().map(|(id, t)| (id, &t.table_name)).collect());
    check("bucket", "BucketName", out.buckets.iter().map(|(id, b)| (id, &b.bucket_name)).collect());
}

#[cfg(test)]
mod tests;
