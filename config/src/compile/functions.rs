//! `AWS::Serverless::Function`: properties -> [`FunctionSpec`] (events are read by `events`).
//!
//! Owns: Lambda's property rules (Timeout, MemorySize, reserved env names, concurrency), the runtime ->
//! base image mapping, CodeUri/InlineCode and local layers. Must not: decide routing.

use super::props::Props;
use super::Settings;
use crate::error::Sink;
use crate::model::{BaseImage, Code, FunctionSpec, Layer};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::path::Path;

const DEFAULT_TIMEOUT: u64 = 3;
const DEFAULT_MEMORY: u64 = 128;

const USED: &[&str] = &[
    "FunctionName",
    "Handler",
    "Runtime",
    "CodeUri",
    "InlineCode",
    "Environment",
    "Timeout",
    "MemorySize",
    "Architectures",
    "ReservedConcurrentExecutions",
    "ProvisionedConcurrencyConfig",
    "Layers",
    "Events",
    "PackageType",
    "EventInvokeConfig",
    "DeadLetterQueue",
    "FunctionUrlConfig",
];
/// Valid SAM properties that mean nothing for a local run (others that esb does not emulate, such
/// as FunctionUrlConfig and VpcConfig, are said once per build: `Props::check_keys`).
const IGNORED: &[&str] = &[
    "Description",
    "Role",
    "Policies",
    "PermissionsBoundary",
    "Tracing",
    "Tags",
    "AutoPublishAlias",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
    "KmsKeyArn",
    "CodeSigningConfigArn",
    "ImageConfig",
    "ImageUri",
    "EphemeralStorage",
    "RuntimeManagementConfig",
    "LoggingConfig",
    "RecursiveLoop",
    "AssumeRolePolicyDocument",
    "Metadata",
    "VersionDescription",
    "VersionPruningPolicy",
    "PropagateTags",
    "RolePath",
    "SourceKMSKeyArn",
    "Connectors",
];

/// Environment variables Lambda reserves for itself.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Maps a Lambda runtime to the base image esb builds it on (see [`crate::runtimes`]).
pub fn base_for_runtime(runtime: &str) -> Option<BaseImage> {
    match crate::runtimes::lookup(runtime) {
        crate::runtimes::Lookup::Runs(e) => Some(e.base()),
        _ => None,
    }
}

/// Docker repository names allow `[a-z0-9._-]`.
pub(crate) fn docker_name(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// A compiled function and its events that need the whole template to check (HTTP events for
/// routing; S3 and stream events, with their lines, against the buckets and tables).
pub(crate) type Compiled = (FunctionSpec, super::events::Events);

/// Compiles one function. `layers` maps a layer's Ref value to (logical id, ContentUri);
/// `metadata` is the resource's (its BuildMethod, or an image function's Docker settings).
#[allow(clippy::too_many_arguments)]
pub(crate) fn compile(
    id: &str,
    physical: &str,
    props: Props,
    settings: &Settings,
    root: &Path,
    layers: &BTreeMap<String, Layer>,
    metadata: Option<&Node>,
    sink: &mut Sink,
) -> Option<Compiled> {
    let what = format!("function {id}");
    props.check_keys(USED, IGNORED, "AWS::Serverless::Function", sink);
    let (runtime, base, handler, code) = if props.string("PackageType", sink).as_deref() == Some("Image") {
        let f = super::image::compile(id, &props, metadata, root, sink)?;
        (f.runtime, f.base, f.handler, f.code)
    } else {
        // A makefile builds its code, so CodeUri need not hold the handler's file.
        let made = metadata.and_then(|m| m.get("BuildMethod")).and_then(|m| m.as_scalar_str()).as_deref() == Some("makefile");
        zip_function(id, &what, &props, root, made, sink)?
    };
    let timeout = props.uint("Timeout", 1, 900, sink).unwrap_or(DEFAULT_TIMEOUT);
    let memory = props.uint("MemorySize", 128, 10240, sink).unwrap_or(DEFAULT_MEMORY);
    let architecture = match props.strings("Architectures", sink).as_slice() {
        [] => "x86_64".to_string(),
        [a] if a == "x86_64" || a == "arm64" => a.clone(),
        other => {
            sink.error(
                Some(props.node.line),
                &props.at("Architectures"),
                format!("Architectures must be [x86_64] or [arm64], found {other:?}"),
                None,
            );
            "x86_64".to_string()
        }
    };
    if architecture == "arm64" && std::env::consts::ARCH == "x86_64" {
        sink.warn(format!("{what}: arm64 function built for this machine's x86_64 architecture"));
    }
    let environment = environment(&props, sink);
    let reserved = props.uint("ReservedConcurrentExecutions", 0, 1000, sink).map(|n| n as u32);
    let provisioned = props.map("ProvisionedConcurrencyConfig", sink).and_then(|n| {
        let path = props.at("ProvisionedConcurrencyConfig");
        Props::new(n, &path).uint("ProvisionedConcurrentExecutions", 0, 1000, sink).map(|n| n as u32)
    });
    if let (Some(r), Some(p)) = (reserved, provisioned) {
        if p > r {
            sink.error(
                Some(props.node.line),
                &props.at("ProvisionedConcurrencyConfig"),
                format!("provisioned concurrency {p} exceeds ReservedConcurrentExecutions {r}"),
                Some("lower the provisioned count or raise the reserved limit"),
            );
        }
    }
    let mut function_layers = vec![];
    for layer in props.strings("Layers", sink) {
        match layers.get(&layer) {
            Some(l) => function_layers.push(l.clone()),
            None => sink.warn(format!("{what}: layer `{layer}` is not a local AWS::Serverless::LayerVersion; ignored")),
        }
    }
    let mut events = super::events::compile(id, &props, sink);
    let async_invoke = super::asynchronous::compile(&what, &props, sink);
    let image = format!("esb-{}/{}:{}", docker_name(&settings.project), docker_name(id), settings.tag);
    let spec = FunctionSpec {
        function_name: physical.to_string(),
        runtime,
        base,
        handler,
        code,
        image,
        dockerfile: format!("functions/{id}/Dockerfile"),
        timeout: timeout as u32,
        memory_size: memory as u32,
        architecture,
        environment,
        reserved_concurrency: reserved,
        provisioned_concurrency: provisioned,
        layers: function_layers,
        schedules: std::mem::take(&mut events.schedules),
        s3_events: events.s3.iter().map(|(e, _)| e.clone()).collect(),
        stream_events: events.streams.iter().map(|(e, _)| e.clone()).collect(),
        async_invoke,
        build: None,
    };
    Some((spec, events))
}

/// A zip-packaged function's runtime, base, handler and code.
fn zip_function(
    id: &str,
    what: &str,
    props: &Props,
    root: &Path,
    made: bool,
    sink: &mut Sink,
) -> Option<(String, BaseImage, String, Code)> {
    let runtime = props.required("Runtime", what, "set Runtime (e.g. python3.14) on the function or in Globals.Function", sink)?;
    let entry = match crate::runtimes::lookup(&runtime) {
        crate::runtimes::Lookup::Runs(e) => e,
        crate::runtimes::Lookup::NotYet(why) => {
            sink.left_out(id, format!("runtime {runtime}: {why}"));
            return None;
        }
        crate::runtimes::Lookup::Unknown(nearest) => {
            let line = props.get("Runtime").map(|n| n.line).unwrap_or(props.node.line);
            let hint = match nearest {
                Some(n) => format!("did you mean `{n}`?"),
                None => "use a Lambda runtime id: python3.9 to python3.14, nodejs18.x to nodejs24.x, provided.al2023".into(),
            };
            sink.error(Some(line), &props.at("Runtime"), format!("`{runtime}` is not a Lambda runtime"), Some(&hint));
            return None;
        }
    };
    let base = entry.base();
    if let Some(note) = entry.nearest_note() {
        sink.warn(note);
    }
    let handler = match base {
        BaseImage::Provided | BaseImage::ProvidedGlibc => props.string("Handler", sink).unwrap_or_else(|| "bootstrap".into()),
        BaseImage::Python { .. } => props.required("Handler", what, "set Handler to module.function, e.g. `Handler: app.handler`", sink)?,
        BaseImage::Node { .. } => props.required("Handler", what, "set Handler to file.function, e.g. `Handler: app.handler`", sink)?,
        BaseImage::Java { .. } => {
            let hint = "set Handler to package.Class::method or package.Class, e.g. `Handler: example.App::handleRequest`";
            let handler = props.required("Handler", what, hint, sink)?;
            if !super::java::handler_is_valid(&handler) {
                let line = props.get("Handler").map(|n| n.line).unwrap_or(props.node.line);
                sink.error(Some(line), &props.at("Handler"), format!("`{handler}` is not a Java handler"), Some(hint));
                return None;
            }
            handler
        }
    };
    let code = code(id, props, &base, &handler, root, made, sink)?;
    Some((runtime, base, handler, code))
}

fn code(id: &str, props: &Props, base: &BaseImage, handler: &str, root: &Path, made: bool, sink: &mut Sink) -> Option<Code> {
    if let Some(inline) = props.string("InlineCode", sink) {
        if let Some(uri) = props.get("CodeUri") {
            // The reference translator takes InlineCode over CodeUri (often a Globals CodeUri).
            sink.warn_at(uri.line, format!("function {id} has both InlineCode and CodeUri: InlineCode is used, as SAM uses it"));
        }
        return Some(Code::Inline { source: inline });
    }
    let dot = Node::new(Value::String(".".into()), props.node.line);
    let node = match props.get("CodeUri") {
        Some(node) => node,
        None => {
            // SAM CLI builds a function without CodeUri from the template's directory.
            sink.warn_at(
                props.node.line,
                format!("function {id} has no CodeUri; its code is the template's directory, as SAM CLI takes it (set CodeUri to say which directory)"),
            );
            &dot
        }
    };
    let Some(uri) = node.as_scalar_str() else {
        sink.left_out(
            id,
            format!("line {}: CodeUri points at S3; esb builds from local code (set CodeUri to a local directory)", node.line),
        );
        return None;
    };
    let rel = normalize_rel(&uri);
    if uri.starts_with("s3://") {
        sink.left_out(
            id,
            format!("line {}: CodeUri `{uri}` is in S3; esb builds from local code (set CodeUri to a local directory)", node.line),
        );
        return None;
    }
    let dir = root.join(&rel);
    // A zip (for Java also a jar, or a zip with classes and lib/*.jar) is the code, extracted as
    // Lambda extracts it.
    if dir.is_file() && crate::model::is_archive(&rel) {
        return Some(Code::Dir { path: rel });
    }
    // A single source file is packaged alone, as `aws cloudformation package` zips it.
    if dir.is_file() && matches!(base, BaseImage::Python { .. } | BaseImage::Node { .. }) {
        let stem = dir.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let module = handler.rsplit_once('.').map(|(m, _)| m).unwrap_or_default();
        if module != stem {
            sink.warn(format!(
                "function {id}: CodeUri {uri} is one file, and Handler `{handler}` names module `{module}`, not `{stem}`; \
                 invoking it will fail to import the handler"
            ));
        }
        return Some(Code::Dir { path: rel });
    }
    // `CodeUri: target/app.zip` before `mvn package` made it: the Maven or Gradle project above
    // it is the code (see `java::settle`).
    if matches!(base, BaseImage::Java { .. })
        && !dir.exists()
        && crate::model::is_archive(&rel)
        && super::java::project_of(root, &rel).is_some()
    {
        return Some(Code::Dir { path: rel });
    }
    if !dir.is_dir() {
        let what = if dir.exists() { "is not a directory" } else { "does not exist" };
        // `ProducerFunction/` for `producerFunction/`: the directory the user meant, if one is close.
        let wanted = rel.trim_end_matches('/');
        let (parent, leaf) = wanted.rsplit_once('/').unwrap_or(("", wanted));
        let siblings: Vec<String> = std::fs::read_dir(root.join(parent))
            .map(|d| d.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let near = crate::error::closest(leaf, siblings.iter().map(String::as_str))
            .map(|n| format!("; did you mean `{}`?", if parent.is_empty() { n.to_string() } else { format!("{parent}/{n}") }))
            .unwrap_or_default();
        // The template is valid (the reference translator does not look at files): the function
        // is left out, named with the reason, and the rest of the template runs.
        let expected = if matches!(base, BaseImage::Java { .. }) {
            "a directory (a Maven or Gradle project, or classes and lib/*.jar), a .jar or a .zip"
        } else {
            "a directory"
        };
        let file = sink.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        sink.left_out(
            id,
            format!(
                "{file}:{}: CodeUri `{uri}` {what} ({}){near}; CodeUri is {expected} relative to the template's directory",
                node.line,
                dir.display()
            ),
        );
        return None;
    }
    match base {
        // What the makefile puts in ARTIFACTS_DIR is the code: nothing to check before it runs.
        _ if made => {}
        BaseImage::Python { .. } => {
            let module = handler.rsplit_once('.').map(|(m, _)| m.replace('.', "/")).unwrap_or_default();
            if !dir.join(format!("{module}.py")).is_file() && !dir.join(&module).join("__init__.py").is_file() {
                sink.warn(format!("function {id}: Handler `{handler}` needs {module}.py in {uri}, which is not there; invoking it will fail with Runtime.ImportModuleError"));
            }
        }
        BaseImage::Node { .. } => {
            node_code(id, uri.as_str(), &dir, handler, sink);
            if props.get("Layers").is_none() {
                aws_sdk_imports(id, uri.as_str(), &dir, sink);
            }
        }
        // Checked with the build step known (see `bootstrap` and `java`).
        BaseImage::Provided | BaseImage::ProvidedGlibc | BaseImage::Java { .. } => {}
    }
    Some(Code::Dir { path: rel })
}

/// An `AWS::Lambda::Function`'s properties as the `AWS::Serverless::Function` properties that
/// mean the same: `Code.ZipFile` is `InlineCode`, a local `Code` path (a template before `aws
/// cloudformation package`) is `CodeUri`; `Code` in S3 or an image is left out, with the reason.
pub(crate) fn from_lambda(id: &str, props: &crate::yaml::Node, sink: &mut Sink) -> Option<crate::yaml::Node> {
    let entries = props.as_map().unwrap_or_default();
    let mut out: Vec<(String, Node)> = vec![];
    for (k, v) in entries {
        match k.as_str() {
            "Code" => match (&v.value, v.get("ZipFile")) {
                (Value::String(_), _) => out.push(("CodeUri".into(), v.clone())),
                (_, Some(zip)) => out.push(("InlineCode".into(), zip.clone())),
                _ if v.get("ImageUri").is_some() => {
                    sink.left_out(id, "PackageType Image (container image functions) is not supported yet");
                    return None;
                }
                _ => {
                    sink.left_out(id, "its Code is in S3; esb builds from local code (a local path or Code.ZipFile)");
                    return None;
                }
            },
            // CloudFormation-only properties with no local meaning.
            "DeadLetterConfig" | "TracingConfig" => {}
            _ => out.push((k.clone(), v.clone())),
        }
    }
    Some(Node::new(Value::Map(out), props.line))
}

/// Checks a Node.js function's code as `sam build` would notice: the handler's file, and
/// dependencies that are declared but not installed (npm is not reachable offline).
fn node_code(id: &str, uri: &str, dir: &Path, handler: &str, sink: &mut Sink) {
    let module = handler.rsplit_once('.').map(|(m, _)| m).unwrap_or_default();
    // A .ts file is built by `BuildMethod: esbuild` (read after the properties).
    if !["js", "mjs", "cjs", "ts"].iter().any(|ext| dir.join(format!("{module}.{ext}")).is_file()) {
        sink.warn(format!(
            "function {id}: Handler `{handler}` needs {module}.js (or .mjs, .cjs) in {uri}, which is not there; invoking it will fail with Runtime.ImportModuleError"
        ));
    }
    let missing = crate::node_packages::missing(dir);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        sink.warn(format!(
            "function {id}: package.json in {uri} depends on {}, which is not in {uri}/node_modules; unless npm on this host reaches a registry (esb then runs `npm ci --omit=dev` at build time), importing it will fail. \
             Vendor it: run `npm ci --omit=dev` in {uri} on a machine that reaches a registry, or ship it in a layer (nodejs/node_modules)",
            names.join(", ")
        ));
    }
}

/// Lambda's Node.js runtimes preinstall the AWS SDK (`@aws-sdk/*` v3, `aws-sdk` v2 on old ones),
/// so code often imports it without shipping it; here nothing preinstalls it and npm is not
/// reachable. Names the first such import in CodeUri's own files (not node_modules) whose package
/// is not in CodeUri's node_modules, at build time rather than as a runtime failure. Every compile
/// runs this (status, reloads), so it reads at most 200 source files of at most 256 KiB each.
fn aws_sdk_imports(id: &str, uri: &str, dir: &Path, sink: &mut Sink) {
    let Ok(import) = regex::Regex::new(r#"(?:from\s*|require\s*\(\s*|import\s*\(\s*|import\s+)["'](@aws-sdk/[a-z0-9-]+|aws-sdk)["'/]"#)
    else {
        return;
    };
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "node_modules" && !name.starts_with('.') && stack.len() < 64 {
                    stack.push(path);
                }
                continue;
            }
            if !["js", "mjs", "cjs", "ts"].iter().any(|x| name.ends_with(&format!(".{x}"))) {
                continue;
            }
            if seen >= 200 {
                return;
            }
            // Bundles and generated files are large and are not where a handler imports the SDK.
            if e.metadata().map_or(true, |m| m.len() > 256 << 10) {
                continue;
            }
            seen += 1;
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            if let Some(m) = import.captures(&text).and_then(|c| c.get(1)) {
                let package = m.as_str();
                if !dir.join("node_modules").join(package).is_dir() {
                    let file = Path::new(uri).join(path.strip_prefix(dir).unwrap_or(&path));
                    let modules = Path::new(uri).join("node_modules");
                    let (file, modules) = (file.display(), modules.display());
                    sink.warn(format!(
                        "function {id}: {file} imports {package}, which Lambda preinstalls but esb cannot (no npm registry here), and it is not in {modules}: \
                         invoking it will fail with Runtime.ImportModuleError. Vendor it: `npm install {package}` in {uri} on a machine that reaches a registry \
                         (or bundle it with `BuildMethod: esbuild`), or ship it in a layer under nodejs/node_modules"
                    ));
                    return;
                }
            }
        }
    }
}

/// `./src/x/` -> `src/x`; `.` -> `.`.
pub(crate) fn normalize_rel(uri: &str) -> String {
    let parts: Vec<&str> = uri.split(['/', '\\']).filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn environment(props: &Props, sink: &mut Sink) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(env) = props.map("Environment", sink) else { return out };
    let path = props.at("Environment");
    let Some(vars) = Props::new(env, &path).map("Variables", sink) else { return out };
    let vpath = format!("{path}.Variables");
    for (k, v) in vars.as_map().unwrap_or_default() {
        let kpath = format!("{vpath}.{k}");
        if RESERVED_ENV.contains(&k.as_str()) {
            sink.error(
                Some(v.line),
                &kpath,
                format!("environment variable `{k}` is reserved by Lambda"),
                Some("rename it; Lambda sets this one itself"),
            );
            continue;
        }
        let valid = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            sink.error(
                Some(v.line),
                &kpath,
                format!("`{k}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, starting with a letter"),
            );
            continue;
        }
        match &v.value {
            Value::Null => {
                out.insert(k.clone(), String::new());
            }
            _ => match v.as_scalar_str() {
                Some(s) => {
                    out.insert(k.clone(), s);
                }
                None => sink.error(
                    Some(v.line),
                    &kpath,
                    format!("expected a string, found {}", v.kind()),
                    Some("environment values are strings; use !Sub or !Join to build one"),
                ),
            },
        }
    }
    out
}
