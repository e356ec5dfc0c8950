//! Routes from OpenAPI definitions and CloudFormation API resources (issue 23) on the real engine,
//! through the HTTPS gateway: a REST API whose routes are only its inline `DefinitionBody` (with
//! `Fn::Sub` of the function's ARN), an HTTP API whose routes are a `DefinitionUri` file (a literal
//! ARN), an `AWS::ApiGateway::RestApi` with a Resource path and a Method, and a quick-create
//! `AWS::ApiGatewayV2::Api` whose `$default` route answers what nothing else does; a function's
//! `Api` event on an API with a definition adds no route, as the SAM translator makes it; an
//! `AWS_IAM` route takes a botocore-signed request and refuses an unsigned one; Lambda authorizers
//! (REST TOKEN, REST REQUEST with caching, HTTP API simple responses) allow and deny; a function
//! URL answers at its own host.

use esb_tests::gateway::Served;
use esb_tests::{fixture_project, run_esb, text};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

#[test]
fn routes_come_from_definitions_and_cloudformation_api_resources() {
    let (dir, _cleanup, _) = fixture_project("openapi", "openapi");
    let build = run_esb(ESB, dir.path(), &["build"]);
    assert!(build.status.success(), "esb build:\n{}\n{}", text(&build.stdout), text(&build.stderr));

    let s = Served::start(ESB, dir.path(), &[]);
    let r = s.get("/inline/42");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("Inline"), Some("1.0")), "a REST (1.0) event: {doc}");
    assert_eq!(doc["path_parameters"]["id"], "42", "{doc}");
    assert_eq!(doc["stage_variables"], serde_json::json!({"env": "local"}), "the stage's Variables: {doc}");
    let r = s.request("POST", "/from-file", &[("content-type", "application/json")], b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("openapi-file-fn"), Some("2.0")), "{doc}");
    let r = s.get("/cfn/7");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("cfn-fn"), Some("1.0")), "{doc}");
    assert_eq!(doc["path_parameters"]["id"], "7", "{doc}");
    // An event on an API with a definition is no route: the quick-create API's $default answers it.
    let r = s.get("/not-in-the-definition");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!((r.json()["function"].as_str(), r.json()["version"].as_str()), (Some("quick-fn"), Some("2.0")), "{}", r.text());

    // AWS_IAM: unsigned is API Gateway's 403; signed by botocore for execute-api with esb's
    // credentials (access key `esb`, the API key as secret) it reaches the function as that user.
    let r = s.get("/signed");
    assert_eq!((r.status, r.json()), (403, serde_json::json!({"message": "Missing Authentication Token"})));
    let script = r#"
import json, os, ssl, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
def call(secret):
    req = AWSRequest(method="GET", url=os.environ["URL"] + "/signed")
    SigV4Auth(Credentials("esb", secret), "execute-api", "us-east-1").add_auth(req)
    ctx = ssl.create_default_context(cafile=os.environ["CERT"])
    try:
        with urllib.request.urlopen(urllib.request.Request(req.url, headers=dict(req.headers)), context=ctx) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
status, body = call(os.environ["KEY"])
assert status == 200 and body["identity"]["accessKey"] == "esb" and body["identity"]["user"] == "esb", (status, body)
status, body = call("wrong")
assert status == 403 and "signature" in body["message"], (status, body)
print("iam ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", esb_tests::boto3_site())
        .envs([("URL", s.url.as_str()), ("CERT", &s.cert.display().to_string()), ("KEY", s.api_key.as_str())])
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success() && said.contains("iam ok"), "{said}");

    // Lambda authorizers, one real function: TOKEN allows and denies as API Gateway answers.
    let r = s.request("GET", "/token-guarded", &[("authorization", "allow")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let a = &r.json()["authorizer"];
    assert_eq!((a["principalId"].as_str(), a["who"].as_str()), (Some("allow"), Some("allow")), "the authorizer's context: {a}");
    let r = s.request("GET", "/token-guarded", &[("authorization", "nope")], b"");
    let deny = serde_json::json!({"Message": "User is not authorized to access this resource with an explicit deny"});
    assert_eq!((r.status, r.json()), (403, deny));
    let r = s.request("GET", "/token-guarded", &[("authorization", "unauthorized")], b"");
    assert_eq!((r.status, r.json()), (401, serde_json::json!({"message": "Unauthorized"})));
    assert_eq!(s.get("/token-guarded").status, 401, "no token: the function is not asked");
    // REQUEST, cached for 60 s: two requests, one authorizer run (the count it returned is the same).
    let first = s.request("GET", "/request-guarded", &[("x-user", "alice")], b"");
    let second = s.request("GET", "/request-guarded", &[("x-user", "alice")], b"");
    assert_eq!((first.status, second.status), (200, 200), "{} {}", first.text(), second.text());
    assert_eq!(first.json()["authorizer"]["calls"], second.json()["authorizer"]["calls"], "answered from the cache");
    assert_eq!(s.request("GET", "/request-guarded", &[("x-user", "mallory")], b"").status, 403);
    // HTTP API, simple responses: the context under authorizer.lambda.
    let r = s.request("GET", "/simple-guarded", &[("x-ok", "yes")], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["authorizer"]["lambda"]["who"], "yes");
    let r = s.request("GET", "/simple-guarded", &[("x-ok", "no")], b"");
    assert_eq!((r.status, r.json()), (403, serde_json::json!({"message": "Forbidden"})));

    // A function URL: its own host, any path, Lambda's URL event (payload 2.0), CORS headers.
    let port = s.url.rsplit(':').next().unwrap().to_string();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert", &s.cert.display().to_string(), "--resolve", &format!("fromfile.lambda-url.localhost:{port}:127.0.0.1")])
        .args(["-H", "origin: https://app.example", "-D", "-", "-X", "DELETE"])
        .arg(format!("https://fromfile.lambda-url.localhost:{port}/any/where?q=1"))
        .output()
        .unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success() && said.starts_with("HTTP/"), "{said}{}", text(&out.stderr));
    assert!(said.to_ascii_lowercase().contains("access-control-allow-origin: https://app.example"), "{said}");
    let doc: serde_json::Value = serde_json::from_str(said.split("\r\n\r\n").nth(1).unwrap_or_default()).unwrap_or_default();
    assert_eq!((doc["function"].as_str(), doc["version"].as_str()), (Some("openapi-file-fn"), Some("2.0")), "{said}");
    assert!(s.stop());
}
