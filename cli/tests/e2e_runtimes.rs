//! Every runtime family esb builds, on its exact version, against the real engine (issue 20):
//! Node.js 24 (an ES module in a subdirectory), Node.js 20 (CommonJS, a callback, a layer's
//! module), TypeScript bundled by esbuild, and Python 3.13 and 3.14, through the HTTPS gateway; Node.js errors, timeouts and import
//! failures in Lambda's shapes, and a plain `AWS::Lambda::Function` with
//! `Code.ZipFile`, through `esb invoke`. The bases come from Debian trixie and sid, one
//! debootstrap per suite shared by its Python and Node.js bases.

use esb_tests::gateway::Served;
use esb_tests::{run_esb, runtimes_project, text};
use serde_json::Value;
use std::path::Path;

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn invoke(dir: &Path, function: &str, event: &str) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), event).unwrap();
    let out = run_esb(ESB, dir, &["invoke", function, "--json", "--no-build", "--event", file.path().to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)))
}

#[test]
fn node_and_python_functions_run_on_their_own_versions_with_lambdas_shapes() {
    let (dir, _cleanup, _) = runtimes_project("rt");
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));

    let s = Served::start(ESB, dir.path(), &[]);
    let r = s.request("POST", "/node24", &[("content-type", "application/json")], br#"{"hello": "esb"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert!(doc["version"].as_str().unwrap().starts_with("v24."), "{doc}");
    assert_eq!(doc["functionName"], "NodeEsm");
    assert_eq!(doc["memory"], "128");
    assert!(doc["requestId"].as_str().is_some_and(|id| id.len() >= 32), "{doc}");
    let remaining = doc["remaining"].as_u64().unwrap();
    assert!(remaining > 0 && remaining <= 3000, "getRemainingTimeInMillis within the 3 s Timeout: {doc}");
    assert!(doc["arn"].as_str().unwrap().ends_with(":function:NodeEsm"), "{doc}");
    assert!(doc["trace"].as_str().is_some_and(|t| t.starts_with("Root=1-")), "the gateway's trace id reaches _X_AMZN_TRACE_ID: {doc}");

    let r = s.get("/node20");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert!(doc["version"].as_str().unwrap().starts_with("v20."), "{doc}");
    assert_eq!((doc["greeting"].as_str(), doc["cjs"].as_bool()), (Some("hello, esb"), Some(true)), "a layer's module: {doc}");
    let r = s.get("/ts");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["said"], "TYPED AND BUNDLED", "TypeScript bundled by esbuild: {}", r.text());
    for (path, version) in [("/py313", "3.13."), ("/py314", "3.14.")] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let doc = r.json();
        assert!(doc["version"].as_str().unwrap().starts_with(version), "{path} reports its own sys.version: {doc}");
    }
    assert!(s.stop());

    let failed = invoke(dir.path(), "NodeEsm", r#"{"body": "{\"fail\": \"yes\"}"}"#);
    assert_eq!((failed["outcome"].as_str(), failed["error_type"].as_str()), (Some("error"), Some("TypeError")), "{failed}");
    assert!(failed["payload"]["trace"][0].as_str().unwrap().contains("failing on purpose"), "Lambda's Node.js error shape: {failed}");
    let logs = failed["logs"].as_str().unwrap();
    assert!(logs.contains("\tINFO\tnode24 handling"), "console.log as Lambda prints it: {logs}");
    let plain = invoke(dir.path(), "PlainLambda", r#"{"n": 1}"#);
    assert_eq!((plain["outcome"].as_str(), &plain["payload"]["got"]["n"]), (Some("success"), &serde_json::json!(1)), "{plain}");
    let broken = invoke(dir.path(), "NodeBroken", "{}");
    assert_eq!(broken["error_type"], "Runtime.ImportModuleError", "{broken}");
    let slow = invoke(dir.path(), "NodeEsm", r#"{"body": "{\"sleep\": 5}"}"#);
    assert_eq!(slow["outcome"], "timeout", "{slow}");
}
