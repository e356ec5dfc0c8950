//! A hostile client against the real stack (issue 19): S3 keys that try to leave their bucket,
//! through a function and directly; a torn DynamoDB journal followed by acknowledged writes and a
//! restart; SigV4 scope, ARNs and qualifiers, and a 7 MB body with boto3; storage signatures; huge login fields with
//! esb's memory measured, and a wrong-password flood that must not lock the admin out; an idle
//! connection flood with good traffic measured; and what `esb watch` mounts into a function with
//! `CodeUri: .`, checked from inside the container.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, text};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn python(script: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", esb_tests::boto3_site())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// The paths in a container's directory (works on images without a shell: `docker cp` to a tar).
fn files_in(container: &str, dir: &str) -> Vec<String> {
    let out = docker(&["cp", &format!("{container}:{dir}"), "-"]);
    assert!(out.status.success(), "docker cp: {}", text(&out.stderr));
    let mut names: Vec<String> =
        tar::Archive::new(&out.stdout[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    names.sort();
    names
}

#[test]
fn s3_keys_that_try_to_leave_their_bucket_stay_in_it_through_a_function() {
    let (dir, _cleanup, project) = named_example_project("s3trav");
    let s = Served::start(ESB, dir.path(), &[]);
    let put = s.request("PUT", "/files/plain.txt", &[("content-type", "application/octet-stream")], b"mine");
    assert_eq!(put.status, 201, "{}", put.text());
    // Each encoding a client might try: the function hands the decoded key to boto3 unchanged.
    let keys = [
        "..%2F..%2Fescape.txt",
        "%2e%2e%2f%2e%2e%2fescape2.txt",
        "..%5C..%5Cescape3.txt",
        "..%2F.esb-notifications.jsonl",
        "%2Fabsolute.txt",
        "a%2F..%2F..%2F..%2Ftmp%2Fx",
    ];
    for k in keys {
        let path = format!("/files/{k}");
        let put = s.request("PUT", &path, &[("content-type", "application/octet-stream")], k.as_bytes());
        assert_eq!(put.status, 201, "{k}: {}", put.text());
        let get = s.get(&path);
        assert_eq!((get.status, get.body.as_slice()), (200, k.as_bytes()), "{k} reads back its own bytes");
    }
    assert_eq!(s.get("/files/plain.txt").body, b"mine");
    // On disk, nothing but the store and esb's own log: no key became a path.
    let container = format!("esb-{project}-s3");
    let top: Vec<String> = files_in(&container, "/data")
        .into_iter()
        .map(|p| p.trim_end_matches('/').to_string())
        .filter(|p| p.matches('/').count() == 1)
        .collect();
    assert_eq!(top, ["data/.esb-notifications.jsonl", "data/.objects"], "{top:?}");
    let log = docker(&["cp", &format!("{container}:/data/.esb-notifications.jsonl"), "-"]);
    let log = text(&log.stdout);
    assert!(log.contains("escape.txt") && log.matches("ObjectCreated:Put").count() >= keys.len(), "each put is one notification: {log}");
    assert!(s.stop());
}

#[test]
fn a_torn_dynamodb_journal_loses_no_acknowledged_write() {
    let (dir, _cleanup, project) = named_example_project("torn");
    let container = format!("esb-{project}-dynamodb");
    let post = |s: &Served, i: usize| {
        let r = s.request("POST", "/items", &[("content-type", "application/json")], format!(r#"{{"seq": {i}}}"#).as_bytes());
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()
    };
    let s = Served::start(ESB, dir.path(), &[]);
    let mut acked: Vec<serde_json::Value> = (0..3).map(|i| post(&s, i)).collect();
    // A power cut mid-write: the journal ends in half a line, and the service dies.
    let torn =
        docker(&["exec", &container, "sh", "-c", r#"printf '{"target": "DynamoDB_20120810.PutItem", "auth' >> /data/journal.jsonl"#]);
    assert!(torn.status.success(), "{}", text(&torn.stderr));
    assert!(docker(&["kill", "-s", "KILL", &container]).status.success());
    assert!(s.stop());
    // Back up on the torn journal: 20 more writes are acknowledged, then the service dies again.
    let s = Served::start(ESB, dir.path(), &[]);
    acked.extend((3..23).map(|i| post(&s, i)));
    assert!(docker(&["kill", "-s", "KILL", &container]).status.success());
    assert!(s.stop());
    // Replayed again: all 23 acknowledged writes are there (20 of them used to be lost).
    let s = Served::start(ESB, dir.path(), &[]);
    for item in &acked {
        let r = s.get(&format!("/items/{}", item["id"].as_str().unwrap()));
        assert_eq!((r.status, r.json()), (200, item.clone()), "acknowledged write lost after a torn journal");
    }
    let aside = text(&docker(&["exec", &container, "sh", "-c", "ls /data"]).stdout);
    assert!(aside.contains("journal.jsonl.bad-"), "the torn line was set aside with a copy of the journal: {aside}");
    storage_checks_signatures(&project);
    assert!(s.stop());
    assert!(esb_tests::run_esb(ESB, dir.path(), &["down", "-v"]).status.success());
}

/// The host port a storage container publishes for `port`.
fn published(container: &str, port: u16) -> String {
    let out = docker(&["port", container, &port.to_string()]);
    let line = text(&out.stdout).lines().find(|l| l.starts_with("127.0.0.1:") || l.starts_with("0.0.0.0:")).map(str::to_string);
    let addr = line.unwrap_or_else(|| panic!("{container} publishes {port}: {}", text(&out.stderr)));
    format!("http://127.0.0.1:{}", addr.rsplit(':').next().unwrap())
}

/// The built-in DynamoDB (moto checks no signature) and S3 accept only esb's credentials, signed
/// for esb's region, their own service and the current time.
fn storage_checks_signatures(project: &str) {
    let script = r#"
import datetime, os, boto3, botocore, botocore.auth
from botocore.config import Config
cfg = Config(retries={"max_attempts": 0})
def client(service, url, **kw):
    args = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="esblocal", aws_secret_access_key="esblocalsecret", config=cfg)
    args.update(kw)
    return boto3.client(service, **args)
def code(f):
    try:
        f()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
ddb, s3 = os.environ["DDB"], os.environ["S3"]
assert code(lambda: client("dynamodb", ddb).list_tables()) == "ok"
for kw, want in [(dict(region_name="eu-west-1"), "InvalidSignatureException"), (dict(aws_secret_access_key="guess"), "InvalidSignatureException"),
                 (dict(aws_access_key_id="AKIAOTHER"), "UnrecognizedClientException")]:
    got = code(lambda: client("dynamodb", ddb, **kw).list_tables())
    assert got == want, (kw, got)
# Signed an hour ago: expired, as DynamoDB says past 15 minutes.
now = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda: now() - datetime.timedelta(hours=1)
got = code(lambda: client("dynamodb", ddb).list_tables())
botocore.auth.get_current_datetime = now
assert got == "InvalidSignatureException", got
assert code(lambda: client("s3", s3).list_buckets()) == "ok"
got = code(lambda: client("s3", s3, region_name="eu-west-1").list_buckets())
assert got == "AuthorizationHeaderMalformed", got
print("signatures ok")
"#;
    let (ddb, s3) = (published(&format!("esb-{project}-dynamodb"), 8000), published(&format!("esb-{project}-s3"), 9000));
    let (ok, out) = python(script, &[("DDB", &ddb), ("S3", &s3)]);
    assert!(ok && out.contains("signatures ok"), "{out}");
}

#[test]
fn the_invoke_api_checks_scope_names_qualifiers_and_size_like_lambda() {
    let (dir, _cleanup, _) = named_example_project("scope");
    let s = Served::start(ESB, dir.path(), &[]);
    let script = r#"
import json, os, boto3, botocore, urllib.request, ssl
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
cfg = botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60)
def client(region="us-east-1"):
    return boto3.client("lambda", endpoint_url=os.environ["URL"], region_name=region, aws_access_key_id="esb",
        aws_secret_access_key=os.environ["KEY"], verify=os.environ["CERT"], config=cfg)
def code(f):
    try:
        f()
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
c = client()
assert code(lambda: c.invoke(FunctionName="HelloFunction", Payload=b"{}")) == "ok"
assert code(lambda: client("eu-west-1").invoke(FunctionName="HelloFunction", Payload=b"{}")) == "InvalidSignatureException"
for name in ["arn:aws:lambda:us-east-1:999999999999:function:HelloFunction", "arn:aws:lambda:eu-west-1:123456789012:function:HelloFunction",
             "HelloFunction:7", "HelloFunction:EventsFunction"]:
    got = code(lambda: c.invoke(FunctionName=name, Payload=b"{}"))
    assert got == "ResourceNotFoundException", (name, got)
assert code(lambda: c.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:HelloFunction:$LATEST", Payload=b"{}")) == "ok"
big = json.dumps({"pad": "x" * (7 * 1024 * 1024)}).encode()
got = code(lambda: c.invoke(FunctionName="HelloFunction", Payload=big))
assert got == "RequestTooLargeException", got
# Signed for S3 instead of Lambda, by hand.
url = os.environ["URL"] + "/2015-03-31/functions/HelloFunction/invocations"
req = AWSRequest(method="POST", url=url, data=b"{}")
SigV4Auth(Credentials("esb", os.environ["KEY"]), "s3", "us-east-1").add_auth(req)
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
try:
    urllib.request.urlopen(urllib.request.Request(url, data=b"{}", headers=dict(req.headers), method="POST"), context=ctx)
    raise SystemExit("a signature for s3 was accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403 and b"InvalidSignatureException" in e.read(), e.code
print("scope ok")
"#;
    let (ok, out) = python(script, &[("URL", &s.url), ("CERT", &s.cert.display().to_string()), ("KEY", &s.api_key)]);
    assert!(ok && out.contains("scope ok"), "{out}");
    assert!(s.stop());
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

#[test]
fn huge_login_fields_and_wrong_passwords_neither_hold_memory_nor_lock_the_admin_out() {
    let (dir, _cleanup, _) = named_example_project("login");
    let s = Served::start(ESB, dir.path(), &[]);
    let pid = s.pid().expect("esb's pid");
    assert_eq!(s.login_with(Some(&s.api_key), "admin", &s.admin_password).status, 200);
    let before = rss_kib(pid);
    let huge = "u".repeat(2 * 1024 * 1024);
    for _ in 0..100 {
        let r = s.login_with(Some(&s.api_key), &huge, "wrong");
        assert!(r.status == 413 || r.status == 400, "{} {}", r.status, r.text());
    }
    let after = rss_kib(pid);
    eprintln!("esb RSS: {before} KiB before 100 logins with 2 MB usernames, {after} KiB after");
    assert!(after < before + 64 * 1024, "RSS grew from {before} KiB to {after} KiB");
    // Ten wrong passwords for admin from another client address, then the admin from loopback.
    let script = r#"
import http.client, json, os, ssl
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
host, port = os.environ["URL"].removeprefix("https://").rsplit(":", 1)
def login(source, password):
    c = http.client.HTTPSConnection(host, int(port), context=ctx, source_address=(source, 0), timeout=30)
    body = json.dumps({"AuthParameters": {"USERNAME": "admin", "PASSWORD": password}})
    c.request("POST", "/user/auth/v1", body, {"x-api-key": os.environ["KEY"], "content-type": "application/json"})
    return c.getresponse().status
codes = [login("127.0.0.2", "wrong") for _ in range(10)]
assert codes[:5] == [401] * 5 and codes[-1] == 429, codes
assert login("127.0.0.1", os.environ["PW"]) == 200, "the admin is locked out"
print("login ok")
"#;
    let (ok, out) =
        python(script, &[("URL", &s.url), ("CERT", &s.cert.display().to_string()), ("KEY", &s.api_key), ("PW", &s.admin_password)]);
    assert!(ok && out.contains("login ok"), "{out}");
    assert!(s.stop());
}

#[test]
fn an_idle_connection_flood_fails_no_good_request() {
    let (dir, _cleanup, _) = named_example_project("flood");
    let s = Served::start(ESB, dir.path(), &[]);
    assert_eq!(s.get("/hello").status, 200);
    let mut base = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(s.get("/hello").status, 200);
        base.push(t.elapsed());
    }
    // 1,100 connections that complete TLS and then say nothing, from eight addresses, held open
    // by a helper process while good traffic runs.
    let script = r#"
import os, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=os.environ["CERT"])
host, port = os.environ["URL"].removeprefix("https://").rsplit(":", 1)
held = []
for i in range(1100):
    try:
        raw = socket.create_connection((host, int(port)), timeout=10, source_address=(f"127.0.0.{2 + i % 8}", 0))
        held.append(ctx.wrap_socket(raw, server_hostname="localhost"))
    except OSError:
        pass
print(len(held), flush=True)
sys.stdin.read()
"#;
    let mut flood = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("URL", &s.url)
        .env("CERT", &s.cert)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(flood.stdout.take().unwrap()), &mut line).unwrap();
    let (mut ok, mut times) = (0, vec![]);
    for _ in 0..100 {
        let t = Instant::now();
        if s.get("/hello").status == 200 {
            ok += 1;
        }
        times.push(t.elapsed());
    }
    drop(flood.stdin.take());
    let _ = flood.wait();
    base.sort();
    times.sort();
    eprintln!(
        "idle flood against esb serve: {} connections held; good {ok}/100, p50 {:?} (before: {:?})",
        line.trim(),
        times[50],
        base[10]
    );
    assert_eq!(ok, 100, "no good request fails during the flood");
    assert!(s.stop());
}

fn write(dir: &Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), body).unwrap();
}

#[test]
fn watch_with_codeuri_dot_mounts_no_secrets_and_applies_a_changed_handler() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("dot{}", std::process::id());
    let _cleanup = esb_tests::ProjectContainers(name.clone());
    write(dir.path(), "generator.yml", &format!("app:\n  name: {name}\npaths:\n  sam_template: template.yaml\n  output_dir: .esb\n"));
    let template = "Transform: AWS::Serverless-2016-10-31\nResources:\n  AppFunction:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: .\n      Handler: app.first\n      Runtime: python3.12\n      Events:\n        Get:\n          Type: Api\n          Properties:\n            Path: /app\n            Method: get\n";
    write(dir.path(), "template.yaml", template);
    write(
        dir.path(),
        "app.py",
        "def first(event, context):\n    return {'statusCode': 200, 'body': 'first'}\n\ndef second(event, context):\n    return {'statusCode': 200, 'body': 'second'}\n",
    );
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    write(dir.path(), ".git/config", "[core]\n");
    let s = Served::start(ESB, dir.path(), &["--watch"]);
    assert_eq!(s.get("/app").text(), "first");
    let ps = docker(&["ps", "-q", "--filter", &format!("label=esb.project={name}"), "--filter", "label=esb.function=AppFunction"]);
    let container = text(&ps.stdout).lines().next().expect("the function's container").to_string();
    let listing = text(&docker(&["exec", &container, "ls", "-a", "/var/task"]).stdout);
    assert!(listing.contains("app.py"), "{listing}");
    for never in [".esb", ".git"] {
        assert!(!listing.lines().any(|l| l == never), "{never} is in the function's /var/task: {listing}");
    }
    // What is mounted live: the code entries, never the project root whole, the output dir, .git
    // or the template (a template edit is a reload, not code).
    let mounts = text(&docker(&["inspect", "-f", "{{range .Mounts}}{{.Source}}\n{{end}}", &container]).stdout);
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert!(mounts.lines().any(|m| m.ends_with("/app.py")), "{mounts}");
    for m in mounts.lines().filter(|m| !m.is_empty()) {
        let p = Path::new(m);
        assert!(p != root && !m.contains("/.esb") && !m.contains("/.git") && !m.ends_with("template.yaml"), "mounted: {m}");
    }
    let secret = docker(&["exec", &container, "cat", "/var/task/.esb/secrets/admin-password"]);
    assert!(!secret.status.success(), "the admin password is readable in the function");
    // A changed Handler in a template under CodeUri: . is a template change, applied.
    write(dir.path(), "template.yaml", &template.replace("app.first", "app.second"));
    let start = Instant::now();
    while s.get("/app").text() != "second" {
        assert!(start.elapsed() < Duration::from_secs(60), "the new handler never took effect: {:?}", s.output());
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(s.stop());
}

#[test]
fn one_esb_per_project_and_status_sees_a_foreground_one() {
    let (dir, _cleanup, _) = named_example_project("lock");
    let s = Served::start(ESB, dir.path(), &[]);
    let second = esb_tests::run_esb(ESB, dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    let err = text(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains("esb serve (pid") && err.contains("already runs this project"), "{err}");
    let down = esb_tests::run_esb(ESB, dir.path(), &["down"]);
    assert!(!down.status.success() && text(&down.stderr).contains("runs this project in a terminal"), "{}", text(&down.stderr));
    let status = esb_tests::run_esb(ESB, dir.path(), &["status"]);
    assert!(text(&status.stdout).contains("serving   esb serve (pid"), "{}", text(&status.stdout));
    assert_eq!(s.get("/hello").status, 200, "the first one still serves");
    assert!(s.stop());
    let status = esb_tests::run_esb(ESB, dir.path(), &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(doc["foreground"].is_null(), "released when it stopped: {doc}");
}
