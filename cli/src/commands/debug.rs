//! Debug mode, as `sam local invoke -d` / `start-api -d --debug-function`: a function runs under
//! its runtime's debugger on 127.0.0.1:PORT and waits for one to attach (esb's Node.js runtime
//! client opens the inspector, the Python launcher opens debugpy when the function ships it; both
//! read `ESB_DEBUG_PORT`), with no timeout worth the name and, under `serve`/`watch`, one
//! container, so every request reaches the process the debugger holds.
//!
//! Owns: checking that the function can be debugged and rewriting its compiled spec (and its
//! routes' integration timeout) for it. Must not: publish the port anywhere but loopback: whoever
//! reaches a debugger runs code in the function.

use esb_config::model::{BaseImage, FunctionSpec};
use esb_config::Project;

/// How long a function under a debugger may take: someone is stepping through it.
pub(super) const TIMEOUT_SECONDS: u32 = 12 * 3600;

/// The environment variable the runtime clients read.
pub(super) const PORT_VAR: &str = "ESB_DEBUG_PORT";

/// What attaches to `spec`'s debugger, for the note printed while it waits; an error for runtimes
/// without one.
pub(super) fn how(spec: &FunctionSpec, port: u16) -> anyhow::Result<String> {
    Ok(match spec.base {
        BaseImage::Node { .. } => format!("the Node.js inspector (VS Code: \"attach\", port {port}, remoteRoot /var/task)"),
        BaseImage::Python { .. } => {
            format!("debugpy, if the function ships it in requirements.txt (VS Code: \"attach\" with debugpy, port {port}, remoteRoot /var/task)")
        }
        _ => anyhow::bail!("a debugger port works for Node.js and Python functions; {} is a custom runtime", spec.runtime),
    })
}

/// Puts `spec` in debug mode on `port`.
pub(super) fn apply_spec(spec: &mut FunctionSpec, port: u16) {
    spec.timeout = TIMEOUT_SECONDS;
    spec.reserved_concurrency = Some(1);
    spec.provisioned_concurrency = None;
    spec.environment.insert(PORT_VAR.into(), port.to_string());
    if matches!(spec.base, BaseImage::Python { .. }) {
        // debugpy's warning about frozen stdlib modules, on every start: the stdlib is not what
        // one debugs in a function.
        spec.environment.insert("PYDEVD_DISABLE_FILE_VALIDATION".into(), "1".into());
    }
}

/// `serve`/`watch --debug-function F --debug-port P`: F in debug mode, its routes waiting as long
/// as it does. Returns the note to print.
pub(super) fn apply(project: &mut Project, function: &str, port: u16) -> anyhow::Result<String> {
    let (id, spec) = project
        .functions
        .functions
        .iter_mut()
        .find(|(id, f)| id.as_str() == function || f.function_name == function)
        .ok_or_else(|| anyhow::anyhow!("--debug-function {function}: no such function in the template"))?;
    let how = how(spec, port)?;
    apply_spec(spec, port);
    let id = id.clone();
    for r in project.routing.routes.iter_mut().filter(|r| r.function == id) {
        r.timeout_ms = Some(TIMEOUT_SECONDS * 1000);
    }
    Ok(format!("{id} waits for a debugger on 127.0.0.1:{port} at its first request: {how}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_mode_is_one_container_without_timeout_for_node_and_python_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/app.js"), "exports.handler = async () => 1;").unwrap();
        let t = dir.path().join("template.yaml");
        std::fs::write(
            &t,
            "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/\n      Handler: app.handler\n      Runtime: nodejs20.x\n      Events: {A: {Type: HttpApi, Properties: {Path: /f, Method: get}}}\n  P:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: src/, Handler: bootstrap, Runtime: provided.al2023}\n",
        )
        .unwrap();
        let settings =
            esb_config::Settings { project: "p".into(), tag: "latest".into(), region: "us-east-1".into(), parameters: Default::default() };
        let mut project = esb_config::compile::compile_file(&t, &settings).unwrap();
        let note = apply(&mut project, "F", 9229).unwrap();
        assert!(note.contains("127.0.0.1:9229") && note.contains("inspector"), "{note}");
        let f = &project.functions.functions["F"];
        assert_eq!(
            (f.timeout, f.reserved_concurrency, f.environment.get(PORT_VAR).map(String::as_str)),
            (TIMEOUT_SECONDS, Some(1), Some("9229"))
        );
        assert_eq!(project.routing.routes[0].timeout_ms, Some(TIMEOUT_SECONDS * 1000), "the route waits as long as the function");
        assert!(apply(&mut project, "P", 9229).unwrap_err().to_string().contains("custom runtime"));
        assert!(apply(&mut project, "Nope", 9229).unwrap_err().to_string().contains("no such function"));
    }
}
