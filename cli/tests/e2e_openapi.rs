//! Routes from OpenAPI definitions (issue 23) on the real engine, through the HTTPS gateway: a REST
//! API whose routes are only its inline `DefinitionBody` (with `Fn::Sub` of the function's ARN), and
//! an HTTP API whose routes are a `DefinitionUri` file (a literal ARN); a function's `Api` event on
//! an API with a definition adds no route, as the SAM translator makes it.

use esb_tests::gateway::Served;
use esb_tests::{fixture_project, run_esb, text};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

#[test]
fn routes_come_from_an_inline_definition_body_and_a_definition_uri_file() {
    let (dir, _cleanup, _) = fixture_project("openapi", "openapi");
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));

    let s = Served::start(ESB, dir.path(), &[]);
    let r = s.get("/inline/42");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("Inline"), Some("1.0")), "a REST (1.0) event: {doc}");
    assert_eq!(doc["path_parameters"]["id"], "42", "{doc}");
    let r = s.request("POST", "/from-file", &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("openapi-file-fn"), Some("2.0")), "{doc}");
    let r = s.get("/not-in-the-definition");
    assert_ne!(r.status, 200, "an event on an API with a definition is no route: {}", r.text());
    assert!(s.stop());
}
