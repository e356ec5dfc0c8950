//! A nested application (issue 22) on the real engine, through the HTTPS gateway: the parent
//! template (`tests/fixtures/nested`) nests `greeter/template.yaml` with `AWS::Serverless::Application`
//! and passes it a parameter; the child's function answers its own route with that value, and the
//! parent's function reads the child's output (`!GetAtt Greeter.Outputs.GreeterName`).

use esb_tests::gateway::Served;
use esb_tests::{fixture_project, run_esb, text};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

#[test]
fn a_nested_applications_function_answers_with_the_parameter_its_parent_passed() {
    let (dir, _cleanup, _) = fixture_project("nested", "nested");
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));
    assert!(dir.path().join(".esb/functions/Greeter.Greet/Dockerfile").is_file(), "the child's function is built under its nesting id");

    let s = Served::start(ESB, dir.path(), &[]);
    let r = s.get("/greet");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["greeting"], "hello from the parent", "the parameter the parent passed: {doc}");
    assert_eq!(doc["function"], "Greeter-Greet", "a nested function's name carries its application's id: {doc}");
    let r = s.get("/front");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["greeter"], "Greeter-Greet", "the child's output reaches the parent: {}", r.text());
    assert!(s.stop());

    // The parameter given on the command line for the child wins over the parent's.
    let out = run_esb(ESB, dir.path(), &["invoke", "Greeter.Greet", "--json", "-p", "Greeter.Greeting=from the command line"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let body: serde_json::Value = serde_json::from_str(doc["payload"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["greeting"], "from the command line", "{doc}");
}
