//! End to end against the real Docker engine: images built from nothing (RIE from its wheel, bases
//! from debootstrap/scratch), functions run in real RIE containers with `esb invoke`.
//!
//! These tests need Docker and fail without it: CI has Docker, so they always run there.

use esb_tests::{example_project, faults_project, run_esb, text};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

fn esb(dir: &Path, args: &[&str]) -> Output {
    run_esb(env!("CARGO_BIN_EXE_esb"), dir, args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr)))
}

/// The fault fixtures, copied once per test process and built once (bases included).
fn faults() -> &'static Path {
    static PROJECT: OnceLock<tempfile::TempDir> = OnceLock::new();
    PROJECT
        .get_or_init(|| {
            let project = faults_project();
            let out = esb(project.path(), &["build"]);
            assert!(out.status.success(), "esb build failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
            project
        })
        .path()
}

/// `esb invoke --json` in `dir`; returns (exit code, document).
fn invoke(dir: &Path, function: &str, event: &str, extra: &[&str]) -> (i32, Value) {
    let event_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(event_file.path(), event).unwrap();
    let mut args = vec!["invoke", function, "--json", "--no-build", "--event", event_file.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = esb(dir, &args);
    (out.status.code().unwrap_or(-1), json(&out))
}

/// The container an `esb invoke --json` used is gone (removed on every path).
fn container_removed(doc: &Value) {
    let id = doc["container"].as_str().unwrap_or_else(|| panic!("no container id in {doc}"));
    let out = Command::new("docker").args(["inspect", id]).output().unwrap();
    assert!(!out.status.success(), "container {id} was left behind");
}

#[test]
fn a_custom_runtime_function_runs_in_rie_with_lambdas_environment() {
    let (code, doc) = invoke(faults(), "Echo", r#"{"hello": "world"}"#, &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["outcome"], "success");
    let p = &doc["payload"];
    assert_eq!(p["echo"]["hello"], "world");
    assert_eq!(p["env"]["AWS_LAMBDA_FUNCTION_NAME"], "Echo");
    assert_eq!(p["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(p["env"]["GREETING"], "hi");
    assert_eq!(p["env"]["_HANDLER"], "bootstrap");
    assert_eq!(p["traceId"], doc["trace_id"], "the trace id reaches the function");
    assert!(doc["logs"].as_str().unwrap().contains("echo: request"), "the function's logs come back");
    container_removed(&doc);
}

#[test]
fn the_trace_id_reaches_a_python_function_as_x_amzn_trace_id() {
    let (code, doc) = invoke(faults(), "Env", "{}", &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["payload"]["trace"], doc["trace_id"], "{doc}");
    assert_eq!(doc["payload"]["function"], "Env");
    assert_eq!(doc["payload"]["task_root"], "/var/task");
    assert_eq!(doc["payload"]["six"], "1.16.0", "requirements.txt was installed into the image");
}

#[test]
fn a_python_exception_comes_back_as_the_lambda_error_shape() {
    let (code, doc) = invoke(faults(), "Boom", r#"{"why": "testing"}"#, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["outcome"], "error");
    assert_eq!(doc["error_type"], "ValueError");
    assert_eq!(doc["payload"]["errorType"], "ValueError");
    assert_eq!(doc["payload"]["errorMessage"], "boom: testing");
    assert!(doc["payload"]["stackTrace"].is_array());
}

#[test]
fn a_custom_runtime_error_is_a_function_error() {
    let (code, doc) = invoke(faults(), "Echo", r#"{"action": "fail", "errorType": "Custom.Bad", "message": "no"}"#, &[]);
    assert_eq!((code, doc["error_type"].as_str(), doc["error_message"].as_str()), (1, Some("Custom.Bad"), Some("no")), "{doc}");
}

#[test]
fn handlers_past_their_timeout_are_reported_as_timeouts() {
    let (code, doc) = invoke(faults(), "Slow", r#"{"seconds": 3}"#, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["outcome"], "timeout", "{doc}");
    container_removed(&doc);
    assert!(doc["error_message"].as_str().unwrap().contains("Task timed out after 1.00 seconds"), "{doc}");
    let (code, doc) = invoke(faults(), "Echo", r#"{"action": "sleep", "seconds": 4}"#, &[]);
    assert_eq!((code, doc["outcome"].as_str()), (1, Some("timeout")), "{doc}");
}

#[test]
fn a_runtime_that_dies_mid_invocation_is_an_error_not_a_hang() {
    let (code, doc) = invoke(faults(), "Echo", r#"{"action": "exit"}"#, &[]);
    assert_eq!(code, 1);
    assert_eq!(doc["outcome"], "error", "{doc}");
    assert!(doc["error_type"].as_str().unwrap().starts_with("Runtime."), "{doc}");
    container_removed(&doc);
}

#[test]
fn bad_events_and_unknown_functions_fail_before_any_container_starts() {
    let out = esb(faults(), &["invoke", "Nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no function `Nope`") && text(&out.stderr).contains("Echo"), "{}", text(&out.stderr));
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "{not json").unwrap();
    let out = esb(faults(), &["invoke", "Echo", "--event", bad.path().to_str().unwrap()]);
    assert!(text(&out.stderr).contains("is not valid JSON"), "{}", text(&out.stderr));
}

#[test]
fn a_second_build_builds_nothing_and_one_changed_function_rebuilds_alone() {
    faults(); // bases exist
    let project = faults_project();
    let first = esb(project.path(), &["build", "--json"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let again = json(&esb(project.path(), &["build", "--json"]));
    let statuses = |doc: &Value| -> Vec<(String, String)> {
        doc["images"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v["status"].as_str().unwrap().to_string())).collect()
    };
    let cached = |name: &str| (name.to_string(), "cached".to_string());
    assert_eq!(statuses(&again), [cached("Boom"), cached("Echo"), cached("Env"), cached("Slow")]);
    // Unique code each run: images are content-addressed, so code seen before would be "cached".
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::fs::write(project.path().join("functions/boom/app.py"), format!("def handler(e, c):\n    raise KeyError('changed {nonce}')\n"))
        .unwrap();
    let changed = json(&esb(project.path(), &["build", "--json"]));
    assert_eq!(statuses(&changed), [("Boom".into(), "built".into()), cached("Echo"), cached("Env"), cached("Slow")]);
    let (_, doc) = invoke(project.path(), "Boom", "{}", &[]);
    assert_eq!(doc["error_type"], "KeyError", "the new code runs: {doc}");
}

#[test]
fn a_failing_build_keeps_the_previous_image_usable() {
    faults();
    let project = faults_project();
    assert!(esb(project.path(), &["build", "Echo"]).status.success());
    // New code that cannot be packed (a dangling symlink) makes this build fail...
    std::os::unix::fs::symlink("/nonexistent/target", project.path().join("functions/echo/broken")).unwrap();
    let out = esb(project.path(), &["build", "Echo"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1 image build(s) failed") && stderr.contains("functions/echo/broken"), "{stderr}");
    // ...and the last good image is still the one that runs.
    let (code, doc) = invoke(project.path(), "Echo", "{}", &[]);
    assert_eq!((code, doc["outcome"].as_str()), (0, Some("success")), "{doc}");
    // A broken template fails before any build, naming the line.
    let template = project.path().join("template.yaml");
    std::fs::write(&template, std::fs::read_to_string(&template).unwrap().replace("MemorySize: 128", "MemorySize: 64")).unwrap();
    let out = esb(project.path(), &["build", "Echo"]);
    assert!(
        text(&out.stderr).contains("template.yaml:13: Resources.Echo.Properties.MemorySize: 64 is out of range"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_example_projects_python_functions_run_with_their_layer_and_boto3() {
    let project = example_project();
    let out = esb(project.path(), &["build"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let api_event = r#"{"httpMethod": "GET", "path": "/hello", "queryStringParameters": {"name": "esb"}, "requestContext": {}}"#;
    let (code, doc) = invoke(project.path(), "HelloFunction", api_event, &[]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["payload"]["statusCode"], 200);
    let body: Value = serde_json::from_str(doc["payload"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello, esb!");
    assert_eq!(body["stage"], "dev");

    let claims = r#"{"requestContext": {"authorizer": {"claims": {"cognito:username": "alice"}}}}"#;
    let (code, doc) = invoke(project.path(), "WhoamiFunction", claims, &[]);
    assert_eq!(code, 0, "{doc}");
    assert!(doc["payload"]["body"].as_str().unwrap().contains("\"username\": \"alice\""), "{doc}");

    // Storage services come with the storage issue; here boto3 (from the base image) must at least
    // import, sign and try the endpoint it is given: a closed local port fails fast and clearly.
    let closed = ["--env", "AWS_ENDPOINT_URL=http://127.0.0.1:9", "--env", "AWS_MAX_ATTEMPTS=1"];
    let (code, doc) = invoke(project.path(), "ItemsFunction", r#"{"httpMethod": "GET", "pathParameters": null}"#, &closed);
    assert_eq!((code, doc["error_type"].as_str()), (1, Some("EndpointConnectionError")), "{doc}");
    let put = r#"{"httpMethod": "PUT", "pathParameters": {"key": "a.txt"}, "body": "hi"}"#;
    let (code, doc) = invoke(project.path(), "FilesFunction", put, &closed);
    assert_eq!((code, doc["error_type"].as_str()), (1, Some("EndpointConnectionError")), "{doc}");
    container_removed(&doc);
}

#[test]
fn exported_tarballs_bring_a_deleted_image_back_without_building() {
    faults();
    let project = faults_project();
    // Its own project name, so deleting its image cannot disturb the other tests.
    std::fs::write(project.path().join("generator.yml"), "app:\n  name: exporttest\npaths:\n  sam_template: template.yaml\n").unwrap();
    let built = json(&esb(project.path(), &["build", "Echo", "--json"]));
    let reference = built["images"]["Echo"]["image"].as_str().expect("built Echo").to_string();
    let tarballs = tempfile::tempdir().unwrap();
    let out = esb(project.path(), &["images", "export", "--json", "--dir", tarballs.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files: Vec<String> = json(&out)["files"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap().to_string()).collect();
    assert_eq!(files.len(), 2, "the base and the function: {files:?}");
    assert!(files.iter().any(|f| f.ends_with("esb_base-provided_latest.tar")), "{files:?}");

    let listed = json(&esb(project.path(), &["images", "list", "--json"]));
    // The image this build made (earlier runs on the same engine may have left others).
    let echo =
        listed.as_array().unwrap().iter().find(|i| i["tags"].as_array().unwrap().iter().any(|t| t == &reference)).expect("listed").clone();
    let rmi = Command::new("docker")
        .args(["rmi", "-f"])
        .args(echo["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()))
        .output()
        .unwrap();
    assert!(rmi.status.success(), "{}", text(&rmi.stderr));

    let out = Command::new(env!("CARGO_BIN_EXE_esb"))
        .args(["build", "Echo", "--json"])
        .current_dir(project.path())
        .env("ESB_IMAGES_DIR", tarballs.path())
        .output()
        .unwrap();
    let doc = json(&out);
    let loaded: Vec<&str> = doc["tarballs"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert!(loaded.contains(&"loaded"), "the function's tarball was loaded: {doc}");
    assert_eq!(doc["images"]["Echo"]["status"], "cached", "loaded from the tarball, not rebuilt: {doc}");
    let (code, doc) = invoke(project.path(), "Echo", "{}", &[]);
    assert_eq!(code, 0, "{doc}");
}

#[test]
fn an_env_vars_file_in_sams_format_sets_variables_and_env_flags_win() {
    // The echo function reports GREETING among a few variables.
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    std::fs::write(file.path(), r#"{"Parameters": {"GREETING": "every-function"}}"#).unwrap();
    let (code, doc) = invoke(faults(), "Echo", "{}", &["-n", path]);
    assert_eq!((code, &doc["payload"]["env"]["GREETING"]), (0, &serde_json::json!("every-function")), "{doc}");
    std::fs::write(file.path(), r#"{"Parameters": {"GREETING": "all"}, "Echo": {"GREETING": "from-file"}}"#).unwrap();
    let (_, doc) = invoke(faults(), "Echo", "{}", &["-n", path]);
    assert_eq!(doc["payload"]["env"]["GREETING"], "from-file", "the function's own entry wins over Parameters: {doc}");
    let (_, doc) = invoke(faults(), "Echo", "{}", &["-n", path, "--env", "GREETING=flag"]);
    assert_eq!(doc["payload"]["env"]["GREETING"], "flag", "--env wins over the file");
    std::fs::write(file.path(), "{\n  \"Echo\": [1]\n}").unwrap();
    let out = esb(faults(), &["invoke", "Echo", "--no-build", "-n", path]);
    assert!(!out.status.success() && text(&out.stderr).contains("`Echo` must be an object"), "{}", text(&out.stderr));
}
