//! Function images: the generated Dockerfile + code + host-resolved dependencies + layers.
//!
//! Owns: assembling a function's build context (`code/`, `deps/`, `layers/<id>/`, `Dockerfile`;
//! for an image function its own context and Dockerfile, see `container`), with `code/` made by
//! the function's build step (esbuild, cargo, go, Maven/Gradle, make) or taken as CodeUri is (a
//! directory, a zip, a single file), its content hash (context bytes + base image id), and
//! building it only when that hash has no image yet. Images are tagged `<repo>:c-<hash>` (what
//! runs) and `<repo>:<app tag>` (for people). A failed build leaves every earlier image in place,
//! so running functions are never affected.
//! Must not: generate Dockerfiles (esb-config does, but for image functions' rewrite) or run
//! containers.

use crate::base::Base;
use crate::context::Context;
use crate::events::{Event, Events, Status};
use crate::{cache, rootfs, ImageError};
use esb_config::model::{BaseImage, Build, Code, FunctionSpec, LayerBuild};
use esb_runtime::labels::{key, Role};
use esb_runtime::{BuildRequest, Labels, Runtime, RuntimeError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A function image that exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionImage {
    /// `<repo>:c-<hash>`: the exact image for this code.
    pub reference: String,
    /// Image id.
    pub id: String,
    /// Content hash (16 hex digits).
    pub content_hash: String,
    /// The base it was built on.
    pub base: String,
}

/// Where a function's inputs are.
pub struct Inputs<'a> {
    /// The template's directory (CodeUri and ContentUri are relative to it).
    pub root: &'a Path,
    /// The output dir holding the generated Dockerfile.
    pub output_dir: &'a Path,
    /// Project name (labels).
    pub project: &'a str,
}

/// The functions whose built image (as the manifest records it) no longer matches their code,
/// layers, Dockerfile or base: what `esb build` would rebuild. Functions never built are stale too.
pub async fn stale(
    rt: &dyn Runtime,
    inputs: &Inputs<'_>,
    functions: &std::collections::BTreeMap<String, FunctionSpec>,
    manifest: &std::collections::BTreeMap<String, FunctionImage>,
) -> Vec<String> {
    let mut out = vec![];
    for (id, spec) in functions {
        let current = match (manifest.get(id), assemble(inputs, id, spec, &|_| {})) {
            (Some(built), Ok(context)) => match rt.image(&built.base).await {
                Ok(Some(base)) => cache::sha256(&[context.as_slice(), base.id.as_bytes()].concat())[..16] == built.content_hash,
                _ => false,
            },
            _ => false,
        };
        if !current {
            out.push(id.clone());
        }
    }
    out
}

/// Builds (or finds) the image of function `id`.
pub async fn build(
    rt: &dyn Runtime,
    inputs: &Inputs<'_>,
    id: &str,
    spec: &FunctionSpec,
    base: &Base,
    no_cache: bool,
    events: &Events<'_>,
) -> Result<(FunctionImage, Status), ImageError> {
    // A build step can take minutes (a first cargo build compiles every crate): say it runs.
    let step = match &spec.build {
        Some(Build::Esbuild { .. }) => Some("bundling with esbuild".to_string()),
        Some(Build::Cargo { .. }) => Some("building with cargo (release, static); a first build compiles every crate".to_string()),
        Some(Build::Makefile) => Some(format!("make build-{id}")),
        Some(Build::Go { .. }) => Some(format!("building with Go {} (go build, static)", crate::rootfs::GO)),
        Some(Build::Maven { .. }) => Some("building with Maven (mvn package; a first build resolves every dependency)".to_string()),
        Some(Build::Gradle { .. }) => Some("building with Gradle (gradle build)".to_string()),
        None => None,
    };
    if let Some(text) = step {
        events(Event::Note { image: &spec.image, text: &text });
    }
    let context = assemble(inputs, id, spec, &|text| events(Event::Note { image: &spec.image, text }))?;
    let content_hash = cache::sha256(&[context.as_slice(), base.id.as_bytes()].concat())[..16].to_string();
    let (repo, app_tag) = spec.image.rsplit_once(':').unwrap_or((&spec.image, "latest"));
    let reference = format!("{repo}:c-{content_hash}");
    let image =
        |id: String| FunctionImage { reference: reference.clone(), id, content_hash: content_hash.clone(), base: base.reference.clone() };
    if !no_cache {
        if let Some(info) = rt.image(&reference).await? {
            events(Event::Done { image: &spec.image, status: Status::Cached, seconds: 0.0 });
            rt.tag_image(&info.id, &spec.image).await?;
            return Ok((image(info.id), Status::Cached));
        }
    }
    events(Event::Start { image: &spec.image, detail: id });
    let started = Instant::now();
    let mut build_args: std::collections::BTreeMap<String, String> = [("BASE_IMAGE".to_string(), base.reference.clone())].into();
    let (mut dockerfile, mut target) = (None, None);
    if let Code::Image(code) = &spec.code {
        build_args.extend(code.build_args.clone());
        dockerfile = Some(crate::container::DOCKERFILE.to_string());
        target = code.target.clone();
        if let (Some(from), false) = (&code.lambda_base, base.official) {
            let text = format!("FROM {from} is not on the engine (no registry is reachable): built on {}", base.reference);
            events(Event::Note { image: &spec.image, text: &text });
        }
    }
    let request = BuildRequest {
        context: context.into(),
        tags: vec![reference.clone(), format!("{repo}:{app_tag}")],
        build_args,
        labels: Labels::default(),
        no_cache,
        dockerfile,
        target,
    };
    let built = rt.build_image(request, &|line| events(Event::Line { image: &spec.image, text: line })).await;
    match built {
        Ok(image_id) => {
            events(Event::Done { image: &spec.image, status: Status::Built, seconds: started.elapsed().as_secs_f64() });
            Ok((image(image_id), Status::Built))
        }
        Err(e) => {
            events(Event::Done { image: &spec.image, status: Status::Failed, seconds: started.elapsed().as_secs_f64() });
            Err(match e {
                RuntimeError::BuildFailed { message, output } => ImageError::Build { function: id.to_string(), message, output },
                other => other.into(),
            })
        }
    }
}

/// `LABEL k="v" ...` for a Dockerfile.
pub fn label_line(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.0.iter().map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone()))).collect();
    format!("LABEL {}\n", pairs.join(" "))
}

/// The build context of a function: deterministic bytes (see `context`). `note` receives what a
/// build step says the reader should know (a fallback it took).
pub fn assemble(inputs: &Inputs<'_>, id: &str, spec: &FunctionSpec, note: &dyn Fn(&str)) -> Result<Vec<u8>, ImageError> {
    // Labels go in as one Dockerfile line: the `labels` build option costs one committed step each.
    let labels = Labels::new().role(Role::Function).with(key::PROJECT, inputs.project).with(key::FUNCTION, id);
    if let Code::Image(code) = &spec.code {
        let mut ctx = Context::new().skipping(inputs.output_dir);
        if let Some(context) = &code.context {
            ctx.tree("", &inputs.root.join(context))?;
        }
        let dockerfile = crate::container::dockerfile(code, inputs.root, &spec.base)? + &label_line(&labels);
        ctx.file(crate::container::DOCKERFILE, dockerfile.as_bytes(), 0o644)?;
        return ctx.finish();
    }
    let dockerfile_path = inputs.output_dir.join(&spec.dockerfile);
    let mut dockerfile =
        std::fs::read_to_string(&dockerfile_path).map_err(ImageError::io("reading (run `esb build` to generate it)", &dockerfile_path))?;
    dockerfile.push_str(&label_line(&labels));
    let mut ctx = Context::new().skipping(inputs.output_dir);
    ctx.file("Dockerfile", dockerfile.as_bytes(), 0o644)?;
    match &spec.code {
        Code::Dir { path } => {
            let dir = inputs.root.join(path);
            let scratch = || tempfile::tempdir().map_err(ImageError::io("creating", std::env::temp_dir()));
            match (&spec.build, &spec.base) {
                (Some(build @ Build::Esbuild { .. }), BaseImage::Node { version }) => {
                    let out = scratch()?;
                    crate::esbuild::bundle(id, &dir, build, version, out.path())?;
                    ctx.tree("code", out.path())?;
                }
                (Some(Build::Cargo { binary, features }), _) => {
                    let out = scratch()?;
                    crate::compiled::cargo(id, &dir, binary.as_deref(), features, out.path())?;
                    ctx.tree("code", out.path())?;
                }
                (build, BaseImage::Java { .. }) => {
                    let out = scratch()?;
                    crate::java_build::stage(id, &dir, build.as_ref(), inputs.root, out.path(), note)?;
                    ctx.tree("code", out.path())?;
                }
                (Some(Build::Go { module, package, artifacts }), _) => {
                    let out = scratch()?;
                    let artifacts = artifacts.as_ref().map(|a| inputs.root.join(a));
                    crate::golang::stage(id, &inputs.root.join(module), package, &spec.architecture, artifacts, out.path(), note)?;
                    ctx.tree("code", out.path())?;
                }
                (Some(Build::Makefile), _) => {
                    let out = scratch()?;
                    crate::compiled::make(id, &dir, out.path())?;
                    ctx.tree("code", out.path())?;
                }
                // A zip CodeUri, extracted as Lambda extracts it; a single source file, alone.
                (_, _) if dir.is_file() => {
                    let name = dir.file_name().unwrap_or_default().to_string_lossy().to_string();
                    if esb_config::model::is_archive(&name) {
                        let out = scratch()?;
                        crate::java_build::extract(&dir, out.path())?;
                        ctx.tree("code", out.path())?;
                    } else {
                        ctx.dir("code", 0o755)?;
                        let bytes = std::fs::read(&dir).map_err(ImageError::io("reading", &dir))?;
                        ctx.file(&format!("code/{name}"), &bytes, 0o644)?;
                    }
                }
                (_, BaseImage::Node { .. }) => {
                    ctx.tree("code", &dir)?;
                    if let Some(modules) = crate::npm::install(&dir)? {
                        ctx.tree("code/node_modules", &modules)?;
                    }
                }
                _ => ctx.tree("code", &dir)?,
            }
            if let BaseImage::Python { version } = &spec.base {
                // A makefile build installs what the function needs into its artifacts itself.
                let deps = if spec.build == Some(Build::Makefile) { None } else { requirements(&dir, version)? };
                match deps {
                    Some(deps) => ctx.tree("deps", &deps)?,
                    None => ctx.dir("deps", 0o755)?,
                }
            }
        }
        // Its own build context, returned above.
        Code::Image(_) => {}
        Code::Inline { source } => {
            ctx.dir("code", 0o755)?;
            let file = match spec.base {
                // Lambda's inline Node.js code (`ZipFile`) is index.js; the handler names its file.
                BaseImage::Node { .. } => format!("{}.js", spec.handler.rsplit_once('.').map(|(m, _)| m).unwrap_or("index")),
                _ => format!("{}.py", spec.handler.rsplit_once('.').map(|(m, _)| m.replace('.', "/")).unwrap_or_else(|| "index".into())),
            };
            ctx.file(&format!("code/{file}"), source.as_bytes(), 0o644)?;
            if matches!(spec.base, BaseImage::Python { .. }) {
                ctx.dir("deps", 0o755)?;
            }
        }
    }
    if !spec.layers.is_empty() {
        ctx.dir("layers", 0o755)?;
    }
    for layer in &spec.layers {
        let src = inputs.root.join(&layer.content_uri);
        let prefix = format!("layers/{}", layer.name);
        match layer.build {
            // As `sam build` lays a built layer out: Lambda's runtimes look in /opt/python and
            // /opt/nodejs/node_modules.
            Some(LayerBuild::Python) => {
                ctx.tree(&format!("{prefix}/python"), &src)?;
                if let BaseImage::Python { version } = &spec.base {
                    if let Some(deps) = requirements(&src, version)? {
                        ctx.tree(&format!("{prefix}/python"), &deps)?;
                    }
                }
            }
            Some(LayerBuild::Nodejs) => {
                ctx.tree(&format!("{prefix}/nodejs"), &src)?;
                if let Some(modules) = crate::npm::install(&src)? {
                    ctx.tree(&format!("{prefix}/nodejs/node_modules"), &modules)?;
                }
            }
            None => ctx.tree(&prefix, &src)?,
        }
    }
    tracing::debug!(function = id, "build context assembled");
    ctx.finish()
}

/// Resolves `requirements.txt` (if any) on the host into a cached target dir for CPython `python`,
/// keyed by its content and that version.
pub fn requirements(code_dir: &Path, python: &str) -> Result<Option<PathBuf>, ImageError> {
    let file = code_dir.join("requirements.txt");
    let Ok(text) = std::fs::read(&file) else { return Ok(None) };
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let key = cache::sha256(&[text.as_slice(), python.as_bytes()].concat())[..16].to_string();
    let target = cache::dir().join("deps").join(&key);
    if target.is_dir() {
        return Ok(Some(target));
    }
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".deps-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let output = Command::new("python3")
        .args(["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--no-warn-conflicts", "--quiet", "--target"])
        .arg(work.path())
        .args(rootfs::pip_platform_args(python))
        .arg("-r")
        .arg(&file)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .output()
        .map_err(|e| ImageError::Tool { tool: "pip".into(), reason: format!("cannot run `python3 -m pip`: {e}"), output: None })?;
    if !output.status.success() {
        return Err(ImageError::Tool {
            tool: "pip".into(),
            reason: format!("installing {} failed (binary wheels for Python {python} on x86_64 are needed)", file.display()),
            output: Some(crate::tail(&String::from_utf8_lossy(&output.stderr), 15)),
        });
    }
    let done = work.keep();
    std::fs::rename(&done, &target).map_err(ImageError::io("writing", &target))?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_runtime::fake::{Call, FakeRuntime, Faults};

    fn spec(code: &str) -> FunctionSpec {
        FunctionSpec {
            function_name: "F".into(),
            runtime: "provided.al2023".into(),
            base: BaseImage::Provided,
            handler: "bootstrap".into(),
            code: Code::Dir { path: code.into() },
            image: "esb-p/f:latest".into(),
            dockerfile: "functions/F/Dockerfile".into(),
            timeout: 3,
            memory_size: 128,
            architecture: "x86_64".into(),
            environment: Default::default(),
            reserved_concurrency: None,
            provisioned_concurrency: None,
            layers: vec![],
            schedules: vec![],
            s3_events: vec![],
            stream_events: vec![],
            async_invoke: Default::default(),
            build: None,
        }
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/bootstrap"), "v1").unwrap();
        std::fs::create_dir_all(dir.path().join(".esb/functions/F")).unwrap();
        std::fs::write(dir.path().join(".esb/functions/F/Dockerfile"), "FROM x\n").unwrap();
        dir
    }

    #[tokio::test]
    async fn unchanged_code_is_not_rebuilt_and_changed_code_is() {
        let dir = project();
        let rt = FakeRuntime::new();
        let inputs = Inputs { root: dir.path(), output_dir: &dir.path().join(".esb"), project: "p" };
        let base = Base { reference: "esb/base-provided:latest".into(), id: "sha256:b".into(), official: false };
        let (first, status) = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap();
        assert_eq!(status, Status::Built);
        assert!(first.reference.starts_with("esb-p/f:c-"));
        let (again, status) = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap();
        assert_eq!((status, &again), (Status::Cached, &first));
        assert_eq!(rt.builds().len(), 1);
        let (_, status) = build(&rt, &inputs, "F", &spec("src"), &base, true, &|_| {}).await.unwrap();
        assert_eq!(status, Status::Built, "--no-cache forces a build");
        std::fs::write(dir.path().join("src/bootstrap"), "v2").unwrap();
        let (changed, status) = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap();
        assert_eq!(status, Status::Built);
        assert_ne!(changed.content_hash, first.content_hash);
        let other_base = Base { id: "sha256:other".into(), ..base };
        let (rebased, _) = build(&rt, &inputs, "F", &spec("src"), &other_base, false, &|_| {}).await.unwrap();
        assert_ne!(rebased.content_hash, changed.content_hash, "a new base image changes the hash");
    }

    #[tokio::test]
    async fn an_image_is_stale_once_its_code_or_base_changes_after_the_build() {
        let dir = project();
        let rt = FakeRuntime::new();
        let base_id = rt.add_image("esb/base-provided:latest", Labels::new());
        let inputs = Inputs { root: dir.path(), output_dir: &dir.path().join(".esb"), project: "p" };
        let base = Base { reference: "esb/base-provided:latest".into(), id: base_id, official: false };
        let (built, _) = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap();
        let functions: std::collections::BTreeMap<String, FunctionSpec> = [("F".to_string(), spec("src"))].into();
        let manifest: std::collections::BTreeMap<String, FunctionImage> = [("F".to_string(), built)].into();
        assert!(stale(&rt, &inputs, &functions, &manifest).await.is_empty(), "just built");
        std::fs::write(dir.path().join("src/bootstrap"), "v2").unwrap();
        assert_eq!(stale(&rt, &inputs, &functions, &manifest).await, ["F"], "the code changed since");
        assert_eq!(stale(&rt, &inputs, &functions, &Default::default()).await, ["F"], "never built");
    }

    #[tokio::test]
    async fn a_failed_build_reports_the_step_output_and_keeps_the_old_image() {
        let dir = project();
        let rt = FakeRuntime::new();
        let inputs = Inputs { root: dir.path(), output_dir: &dir.path().join(".esb"), project: "p" };
        let base = Base { reference: "b".into(), id: "sha256:b".into(), official: false };
        let (old, _) = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap();
        std::fs::write(dir.path().join("src/bootstrap"), "v2").unwrap();
        rt.set_faults(Faults {
            build_fails: Some(("esb-p/f".into(), vec!["Step 3/4 : COPY code/ /var/task/".into(), "no such file".into()])),
            ..Default::default()
        });
        let err = build(&rt, &inputs, "F", &spec("src"), &base, false, &|_| {}).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("building the image of F failed") && text.contains("Step 3/4"), "{text}");
        assert!(rt.image(&old.reference).await.unwrap().is_some(), "the previous image is still there");
        assert!(!rt.calls().iter().any(|c| matches!(c, Call::Remove(_))));
    }

    #[test]
    fn a_single_file_codeuri_is_packaged_alone() {
        let dir = project();
        std::fs::write(dir.path().join("src/app.py"), "def handler(e, c): return 1\n").unwrap();
        let mut s = spec("src/app.py");
        s.base = BaseImage::Python { version: "3.11".into() };
        let ctx = assemble(&Inputs { root: dir.path(), output_dir: &dir.path().join(".esb"), project: "p" }, "F", &s, &|_| {}).unwrap();
        let names: Vec<String> =
            tar::Archive::new(&ctx[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "code/", "code/app.py", "deps/"]);
    }

    #[test]
    fn inline_code_becomes_the_handler_module() {
        let dir = project();
        let mut s = spec("src");
        s.code = Code::Inline { source: "def handler(e, c): return 1\n".into() };
        s.handler = "index.handler".into();
        s.base = BaseImage::Python { version: "3.11".into() };
        let ctx = assemble(&Inputs { root: dir.path(), output_dir: &dir.path().join(".esb"), project: "p" }, "F", &s, &|_| {}).unwrap();
        let names: Vec<String> =
            tar::Archive::new(&ctx[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["Dockerfile", "code/", "code/index.py", "deps/"]);
    }
}
