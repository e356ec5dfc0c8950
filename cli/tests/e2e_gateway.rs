//! The gateway over real TLS against real containers of the example project: routing, both event
//! formats as AWS documents them, response mapping, binary bodies, CORS, limits, the auth flow with
//! every kind of bad token, API keys, trace ids, and the Lambda Invoke API driven by boto3.

use base64::Engine;
use esb_tests::gateway::Served;
use esb_tests::{named_example_project, ProjectContainers};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn project(tag: &str) -> (tempfile::TempDir, ProjectContainers) {
    let (dir, cleanup, _) = named_example_project(&format!("gw{tag}"));
    (dir, cleanup)
}

fn event_of(r: &esb_tests::gateway::Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["event"].clone()
}

#[test]
fn routes_events_responses_cors_and_limits() {
    let (dir, _cleanup) = project("ev");
    let s = Served::start(ESB, dir.path(), &[]);

    // Routing: no route is a REST API's 403 "Missing Authentication Token" (API Gateway has no
    // 404 or 405 for REST APIs), a greedy path, the health endpoint.
    let r = s.get("/nowhere");
    assert_eq!((r.status, r.json()), (403, json!({"message": "Missing Authentication Token"})));
    let r = s.request("DELETE", "/hello", &[], b"");
    assert_eq!((r.status, r.json()["message"].as_str()), (403, Some("Missing Authentication Token")));
    assert_eq!(s.get("/_esb/health").json()["status"], "ok");

    // REST proxy event (payload 1.0), field by field.
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    let r =
        s.request("GET", "/events/a/b%20c?x=1&x=2&y=z", &[("x-amzn-trace-id", trace), ("x-custom", "v"), ("user-agent", "esb-e2e")], b"");
    let e = event_of(&r);
    assert_eq!(e["resource"], "/events/{proxy+}");
    assert_eq!(e["path"], "/events/a/b%20c");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b c"}));
    assert_eq!(e["queryStringParameters"], json!({"x": "2", "y": "z"}));
    assert_eq!(e["multiValueQueryStringParameters"]["x"], json!(["1", "2"]));
    assert_eq!(e["headers"]["x-custom"], "v");
    assert_eq!(e["multiValueHeaders"]["x-custom"], json!(["v"]));
    assert_eq!((e["body"].clone(), e["isBase64Encoded"].clone()), (Value::Null, json!(false)));
    assert_eq!(e["stageVariables"], Value::Null);
    // What API Gateway adds, spelled as it spells them: the client's address, and the port and
    // scheme it connected to.
    assert_eq!(e["headers"]["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(e["headers"]["X-Forwarded-Proto"], "https");
    assert_eq!(e["headers"]["X-Forwarded-Port"], s.url.rsplit(':').next().unwrap(), "{}", s.url);
    // A REST API keeps the client's header case (this client sends lower-case names; curl sends
    // them as written).
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http1.1", "--cacert", &s.cert.display().to_string(), "-H", "X-Custom-Case: v", "-H", "x-lower: w"])
        .arg(format!("{}/events/case", s.url))
        .output()
        .unwrap();
    let said: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let spelled = &said["event"];
    assert_eq!((spelled["headers"]["X-Custom-Case"].as_str(), spelled["headers"]["x-lower"].as_str()), (Some("v"), Some("w")), "{spelled}");
    assert_eq!(spelled["multiValueHeaders"]["X-Custom-Case"], json!(["v"]));
    let rc = &e["requestContext"];
    assert_eq!(
        (rc["stage"].as_str(), rc["resourcePath"].as_str(), rc["httpMethod"].as_str()),
        (Some("Prod"), Some("/events/{proxy+}"), Some("GET"))
    );
    assert_eq!(rc["path"], "/Prod/events/a/b%20c");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["userAgent"], "esb-e2e");
    assert_eq!(rc["accountId"], "123456789012");
    assert_eq!(rc["requestId"].as_str(), r.header("x-amzn-requestid"), "one request id for the caller and the function");
    for field in ["apiId", "domainName", "requestTime", "protocol", "extendedRequestId"] {
        assert!(rc[field].is_string(), "requestContext.{field}: {rc}");
    }
    assert!(rc["requestTimeEpoch"].is_u64());
    // The trace id: kept, returned, in the function's environment, and in the gateway's log line.
    assert_eq!(r.header("x-amzn-trace-id"), Some(trace));
    assert!(r.json()["traceEnv"].as_str().unwrap_or_default().contains("Root=1-5759e988-bd862e3fe1be46a994272793"), "{}", r.text());
    // Response mapping: headers and multiValueHeaders.
    assert_eq!(r.header("x-echo"), Some("1"));
    assert_eq!(r.headers_named("x-multi"), ["a", "b"]);

    // HTTP API event (payload 2.0).
    let r = s.request(
        "POST",
        "/v2/events/deep/path?a=1&a=2",
        &[("cookie", "c1=v1; c2=v2"), ("content-type", "application/json")],
        br#"{"k":1}"#,
    );
    let e = event_of(&r);
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "ANY /v2/events/{proxy+}");
    assert_eq!(e["rawPath"], "/v2/events/deep/path");
    assert_eq!(e["rawQueryString"], "a=1&a=2");
    assert_eq!(e["queryStringParameters"], json!({"a": "1,2"}));
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert!(e["headers"].get("cookie").is_none(), "cookies move out of headers in 2.0");
    assert_eq!(e["pathParameters"], json!({"proxy": "deep/path"}));
    assert_eq!((e["body"].as_str(), e["isBase64Encoded"].as_bool()), (Some(r#"{"k":1}"#), Some(false)));
    let http = &e["requestContext"]["http"];
    assert_eq!(
        (http["method"].as_str(), http["path"].as_str(), http["sourceIp"].as_str()),
        (Some("POST"), Some("/v2/events/deep/path"), Some("127.0.0.1"))
    );
    assert_eq!(e["requestContext"]["stage"], "$default");
    assert!(r.header("apigw-requestid").is_some());

    // Binary bodies round trip through both formats (base64 in the event and in the result).
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    for path in ["/events/binary", "/v2/events/binary"] {
        let r = s.request("PUT", path, &[("content-type", "application/octet-stream")], &bytes);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(r.body == bytes, "{path}: binary body came back changed ({} bytes)", r.body.len());
    }

    // Failures mapped as API Gateway maps them.
    let r = s.get("/events/malformed");
    assert_eq!((r.status, r.json()), (502, json!({"message": "Internal server error"})));
    let r = s.get("/v2/events/malformed");
    assert_eq!((r.status, r.json()), (500, json!({"message": "Internal Server Error"})));
    assert_eq!(s.get("/events/fail").status, 502);
    let started = Instant::now();
    let r = s.get("/slow?seconds=4");
    assert_eq!((r.status, r.json()), (504, json!({"message": "Endpoint request timed out"})));
    assert!(started.elapsed() < Duration::from_secs(3), "TimeoutInMillis 1000 cut it short");

    // CORS preflight answered by the gateway from the template's Cors.
    let r = s.request("OPTIONS", "/items/7", &[("origin", "https://app.example"), ("access-control-request-method", "PUT")], b"");
    assert_eq!(r.status, 200, "a REST API's mock OPTIONS method answers 200");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-methods").unwrap_or_default().contains("PUT"));

    // Limits: a body over 10 MB is 413 before the function is bothered.
    let big = vec![b'x'; 10 * 1024 * 1024 + 1];
    let r = s.request("POST", "/events/big", &[("content-type", "text/plain")], &big);
    assert_eq!((r.status, r.json()), (413, json!({"message": "Request Too Long"})));

    // Every request was logged with its trace id.
    let log = s.log().join("\n");
    assert!(log.contains("5759e988-bd862e3fe1be46a994272793"), "the trace id is in the gateway's log:\n{log}");
    assert!(s.stop(), "esb serve exits cleanly on SIGTERM");
}

fn sign(claims: &Value, key_pem: &[u8]) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k".into());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ec_pem(key_pem).unwrap()).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn auth_flow_bad_tokens_api_keys_and_users_from_config() {
    let (dir, _cleanup) = project("auth");
    // A configured user, with an argon2 hash made by `esb auth hash-password`.
    let mut hash = std::process::Command::new(ESB)
        .args(["auth", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut hash.stdin.take().unwrap(), b"correct horse battery").unwrap();
    let hash = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let g = std::fs::read_to_string(dir.path().join("generator.yml")).unwrap();
    let g = format!("{g}gateway:\n  users:\n    - username: alice\n      password_hash: '{hash}'\n      groups: [devs]\n      email: alice@example.com\n");
    std::fs::write(dir.path().join("generator.yml"), g).unwrap();
    let s = Served::start(ESB, dir.path(), &[]);
    let key = s.api_key.clone();

    // Secrets are private.
    for f in ["api-key", "admin-password", "tls.key", "token-signing-key.pem", "admin.argon2"] {
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path().join(".esb/secrets").join(f)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }

    // Login: API key first, then the password.
    assert_eq!(s.login_with(None, "admin", &s.admin_password).status, 403);
    assert_eq!(s.login_with(Some("esb_wrong"), "admin", &s.admin_password).status, 403);
    let r = s.login_with(Some(&key), "admin", "not-the-password");
    assert_eq!((r.status, r.json()["__type"].as_str()), (401, Some("NotAuthorizedException")));
    let r = s.login_with(Some(&key), "alice", "correct horse battery");
    assert_eq!(r.status, 200, "{}", r.text());
    let result = &r.json()["AuthenticationResult"];
    assert_eq!((result["TokenType"].as_str(), result["ExpiresIn"].as_u64()), (Some("Bearer"), Some(3600)));
    assert!(result["AccessToken"].is_string());
    let token = result["IdToken"].as_str().unwrap().to_string();

    // A Cognito-authorized route: claims reach the function.
    let r = s.request("GET", "/private/whoami", &[("authorization", &format!("Bearer {token}"))], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["username"], "alice");
    assert_eq!(body["claims"]["email"], "alice@example.com");
    assert_eq!(body["claims"]["cognito:groups"], json!(["devs"]));
    let admin = s.admin_token();
    assert_eq!(s.request("GET", "/private/whoami", &[("authorization", &admin)], b"").json()["username"], "admin");

    // Every kind of bad token is 401 Unauthorized.
    let unauthorized = |auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
        let r = s.request("GET", "/private/whoami", &headers, b"");
        (r.status, r.json())
    };
    let denied = (401, json!({"message": "Unauthorized"}));
    assert_eq!(unauthorized(None), denied, "missing");
    let signing_key = std::fs::read(dir.path().join(".esb/secrets/token-signing-key.pem")).unwrap();
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(now() - 600);
    expired["iat"] = json!(now() - 4200);
    expired["nbf"] = json!(now() - 4200);
    assert_eq!(unauthorized(Some(&format!("Bearer {}", sign(&expired, &signing_key)))), denied, "expired");
    let mut tampered = token.split('.').map(str::to_string).collect::<Vec<_>>();
    let mut elevated = claims.clone();
    elevated["cognito:username"] = json!("admin");
    tampered[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(elevated.to_string());
    assert_eq!(unauthorized(Some(&format!("Bearer {}", tampered.join(".")))), denied, "tampered");
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(unauthorized(Some(&format!("Bearer {none_header}.{}.", tampered[1]))), denied, "alg=none");
    let other_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem();
    assert_eq!(unauthorized(Some(&format!("Bearer {}", sign(&claims, other_key.as_bytes())))), denied, "wrong key");
    let mut foreign = claims.clone();
    foreign["iss"] = json!("https://cognito-idp.us-east-1.example/other");
    assert_eq!(unauthorized(Some(&format!("Bearer {}", sign(&foreign, &signing_key)))), denied, "wrong issuer");

    // An ApiKeyRequired route.
    assert_eq!(s.get("/keyed").status, 403);
    assert_eq!(s.request("GET", "/keyed", &[("x-api-key", "esb_nope")], b"").status, 403);
    assert_eq!(s.request("GET", "/keyed", &[("x-api-key", &key)], b"").status, 200);
    // The JWKS document lets functions verify tokens themselves.
    assert_eq!(s.get("/.well-known/jwks.json").json()["keys"][0]["alg"], "ES256");
    assert!(s.stop());
}

fn python(script: &str, path: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let out =
        std::process::Command::new("python3").arg("-c").arg(script).env("PYTHONPATH", path).envs(env.iter().copied()).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn boto3_lambda_client_invokes_through_the_gateway_with_sigv4() {
    let site = esb_tests::boto3_site();
    let (dir, _cleanup) = project("boto");
    let s = Served::start(ESB, dir.path(), &[]);
    let script = r#"
import json, os, boto3, botocore
def client(secret):
    return boto3.client("lambda", endpoint_url=os.environ["URL"], region_name="us-east-1",
        aws_access_key_id="esb", aws_secret_access_key=secret, verify=os.environ["CERT"],
        config=botocore.config.Config(retries={"max_attempts": 0}))
c = client(os.environ["KEY"])
r = c.invoke(FunctionName="HelloFunction", Payload=json.dumps({"queryStringParameters": {"name": "boto3"}}))
body = json.loads(json.loads(r["Payload"].read())["body"])
assert r["StatusCode"] == 200 and body["message"] == "Hello, boto3!", (r, body)
e = c.invoke(FunctionName="HelloFunction", InvocationType="Event", Payload=b"{}")
assert e["StatusCode"] == 202, e
f = c.invoke(FunctionName="EventsFunction", Payload=json.dumps({"path": "/events/fail"}))
assert f.get("FunctionError") == "Unhandled", f
try:
    client("wrong-secret").invoke(FunctionName="HelloFunction", Payload=b"{}")
    raise SystemExit("a wrong secret was accepted")
except botocore.exceptions.ClientError as err:
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403, err.response
try:
    c.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    raise SystemExit("an unknown function was invoked")
except c.exceptions.ResourceNotFoundException:
    pass
print("boto3 ok")
"#;
    let (ok, out) = python(script, &site, &[("URL", &s.url), ("CERT", &s.cert.display().to_string()), ("KEY", &s.api_key)]);
    assert!(ok && out.contains("boto3 ok"), "{out}");
    // Unsigned Invoke API requests are refused.
    let r = s.request("POST", "/2015-03-31/functions/HelloFunction/invocations", &[], b"{}");
    assert_eq!((r.status, r.json()["__type"].as_str()), (403, Some("MissingAuthenticationTokenException")));
    assert!(s.stop());
}

#[test]
fn a_taken_port_fails_fast_with_a_hint_and_plain_http_stays_on_loopback() {
    let (dir, _cleanup) = project("port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--listen", &addr]);
    let stderr = esb_tests::text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("hint: another process listens on port"), "{stderr}");
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--http", "0.0.0.0:9999"]);
    assert!(esb_tests::text(&out.stderr).contains("plain HTTP is only served on loopback"), "{}", esb_tests::text(&out.stderr));
}
