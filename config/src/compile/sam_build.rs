//! `sam build` output next to the template (`.aws-sam/build/<LogicalId>/`): the artifacts of a
//! function esb cannot build itself (a `BuildMethod` esb does not run, such as `dotnet7`, or a
//! custom runtime whose CodeUri has no `bootstrap`, Cargo package or Go source), so users
//! with toolchains esb does not run can still serve those functions. Said once per build.
//!
//! Owns: deciding when a function's code is its `sam build` artifacts.
//! Must not: run `sam` or read the artifacts (the image build and `bootstrap` do).

use crate::error::Sink;
use crate::model::{BaseImage, Code, FunctionSpec};
use std::path::Path;

/// Where `sam build` puts a function's artifacts, relative to the template's directory.
pub(crate) fn artifacts_dir(id: &str) -> String {
    format!(".aws-sam/build/{id}")
}

/// Points `spec` at its `sam build` artifacts when esb cannot build it and they are there; true
/// when it did (the function then has no build step of its own).
pub(crate) fn use_artifacts(id: &str, method: Option<&str>, spec: &mut FunctionSpec, root: &Path, sink: &mut Sink) -> bool {
    let Code::Dir { path } = &spec.code else { return false };
    let why = match method {
        Some(m) if !super::build_method::esb_runs(m, spec) => format!("esb does not run BuildMethod {m}"),
        None if spec.base == BaseImage::Provided
            && !root.join(path).join("bootstrap").is_file()
            && !root.join(path).join("Cargo.toml").is_file()
            && !super::bootstrap::go_source(&root.join(path))
            && spec.runtime != "go1.x" =>
        {
            format!("{path} has no `bootstrap`")
        }
        _ => return false,
    };
    let built = artifacts_dir(id);
    if !root.join(&built).is_dir() {
        return false;
    }
    sink.warn(format!("function {id}: runs the `sam build` artifacts in {built} ({why}); run `sam build` again after changing its code"));
    spec.code = Code::Dir { path: built };
    true
}
