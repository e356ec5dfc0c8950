//! `Metadata.BuildMethod`: the build step `sam build` would run for a function or a layer, and
//! which of them esb runs itself.
//!
//! Owns: reading BuildMethod and BuildProperties into [`Build`](crate::model::Build) and
//! [`LayerBuild`](crate::model::LayerBuild). Must not: look at CodeUri's files (`bootstrap`,
//! `java` and `sam_build` settle what the files decide).

use crate::error::Sink;
use crate::model::{BaseImage, FunctionSpec};
use crate::yaml::Value;

/// Whether esb runs `BuildMethod` `method` for `spec` itself: its own steps (esbuild, cargo,
/// make) and the runtime's own (python3.x, nodejsNN.x: requirements.txt, npm). The others are
/// `sam build`'s to run (see `sam_build`).
pub(crate) fn esb_runs(method: &str, spec: &FunctionSpec) -> bool {
    match method {
        "esbuild" | "makefile" => true,
        "rust-cargolambda" | "go1.x" => matches!(spec.base, BaseImage::Provided),
        m => m == spec.runtime || m.starts_with("python") || m.starts_with("nodejs"),
    }
}

/// `Metadata.BuildMethod` of a function resource: the build step `sam build` would run.
pub(crate) fn build_method(
    id: &str,
    metadata: Option<&crate::yaml::Node>,
    spec: &FunctionSpec,
    sink: &mut Sink,
) -> Option<crate::model::Build> {
    let meta = metadata?;
    let method = meta.get("BuildMethod")?.as_scalar_str()?;
    let props = meta.get("BuildProperties");
    let field = |k: &str| props.and_then(|p| p.get(k));
    let text = |k: &str| field(k).and_then(|n| n.as_scalar_str());
    let list = |k: &str| -> Vec<String> {
        match field(k).map(|n| &n.value) {
            Some(Value::Seq(items)) => items.iter().filter_map(|i| i.as_scalar_str()).collect(),
            Some(_) => text(k).into_iter().flat_map(|s| s.split(',').map(|p| p.trim().to_string()).collect::<Vec<_>>()).collect(),
            None => vec![],
        }
    };
    let flag = |k: &str| text(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    match method.as_str() {
        "esbuild" if matches!(spec.base, BaseImage::Node { .. }) => {
            let mut entry_points = list("EntryPoints");
            if entry_points.is_empty() {
                let module = spec.handler.rsplit_once('.').map(|(m, _)| m).unwrap_or("app");
                entry_points.push(format!("{module}.ts"));
            }
            Some(crate::model::Build::Esbuild {
                entry_points,
                target: text("Target"),
                format: text("Format"),
                sourcemap: flag("Sourcemap"),
                minify: flag("Minify"),
                external: list("External"),
                out_extension: list("OutExtension"),
            })
        }
        "esbuild" => {
            sink.warn(format!("function {id}: BuildMethod esbuild is for Node.js functions; ignored for {}", spec.runtime));
            None
        }
        "rust-cargolambda" if matches!(spec.base, BaseImage::Provided) => {
            Some(crate::model::Build::Cargo { binary: text("Binary"), features: list("Features") })
        }
        "makefile" => Some(crate::model::Build::Makefile),
        m if esb_runs(m, spec) => None,
        other => {
            sink.warn(format!(
                "function {id}: BuildMethod {other} is not run by esb yet; CodeUri is packaged as it is \
                 (run `sam build` where its toolchain is: esb then runs .aws-sam/build/{id})"
            ));
            None
        }
    }
}

/// `Metadata.BuildMethod` of a layer: `sam build` installs a Python layer's requirements.txt
/// with it under `python/` and puts a Node.js layer under `nodejs/`; without one, ContentUri is
/// the layer as it is.
pub(crate) fn layer_build(id: &str, metadata: Option<&crate::yaml::Node>, sink: &mut Sink) -> Option<crate::model::LayerBuild> {
    let method = metadata?.get("BuildMethod")?.as_scalar_str()?;
    if method.starts_with("python") {
        Some(crate::model::LayerBuild::Python)
    } else if method.starts_with("nodejs") {
        Some(crate::model::LayerBuild::Nodejs)
    } else {
        sink.warn(format!(
            "layer {id}: BuildMethod {method} is not run by esb yet; its ContentUri is used as /opt as it is (build it first, e.g. with `sam build`)"
        ));
        None
    }
}
