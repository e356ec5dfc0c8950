//! Asynchronous invocation, `esb events redrive` and S3 events (issue 11), against the real engine,
//! RIE, the gateway over TLS and the storage services. The example project's JobFunction counts its runs in DynamoDB
//! (item `job-<id>`), fails on `{"fail": true}` and has FailuresFunction as its OnFailure
//! destination (item `failed-<id>`); UploadsFunction records objects created under `uploads/` in
//! FilesBucket (item `upload-<key>`).

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, run_esb, text};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

/// Sends `events` (JSON texts) to JobFunction with InvocationType=Event through boto3; returns the
/// status codes and request ids.
fn send_events(s: &Served, events: &[String]) -> Vec<(u16, String)> {
    let script = r#"
import json, os, sys, boto3, botocore
c = boto3.client("lambda", endpoint_url=os.environ["URL"], region_name="us-east-1",
    aws_access_key_id="esb", aws_secret_access_key=os.environ["KEY"], verify=os.environ["CERT"],
    config=botocore.config.Config(retries={"max_attempts": 0}))
for line in sys.stdin:
    r = c.invoke(FunctionName="JobFunction", InvocationType="Event", Payload=line.strip().encode())
    print(r["StatusCode"], r["ResponseMetadata"]["RequestId"])
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", esb_tests::boto3_site())
        .env("URL", &s.url)
        .env("KEY", &s.api_key)
        .env("CERT", &s.cert)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for e in events {
            writeln!(stdin, "{e}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let (code, id) = l.split_once(' ').unwrap();
            (code.parse().unwrap(), id.to_string())
        })
        .collect()
}

/// The item `id` from ItemsTable, through the gateway (None when absent).
fn item(s: &Served, id: &str) -> Option<Value> {
    let r = s.get(&format!("/items/{id}"));
    (r.status == 200).then(|| r.json())
}

fn runs(s: &Served, job: &str) -> u64 {
    item(s, &format!("job-{job}")).and_then(|i| i["runs"].as_u64()).unwrap_or(0)
}

/// Polls `f` until it holds, failing after `limit`.
fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            eprintln!("{what}: {:?}", started.elapsed());
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}

fn events_json(dir: &Path) -> Value {
    let out = run_esb(ESB, dir, &["--json", "events", "--last", "100"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn async_events_run_once_failures_are_retried_twice_then_recorded_and_a_kill_9_loses_none() {
    let (dir, _cleanup, _) = named_example_project("async");
    let s = Served::start(ESB, dir.path(), &["--retry-delay", "1"]);

    // Accepted with 202 and a request id; the function runs once.
    let sent = send_events(&s, &[r#"{"id": "ok"}"#.into(), r#"{"id": "bad", "fail": true}"#.into()]);
    assert!(sent.iter().all(|(code, id)| *code == 202 && id.len() == 36), "{sent:?}");
    until("the event ran", Duration::from_secs(60), || runs(&s, "ok") == 1);

    // The failing event: the first attempt and exactly two retries, then the failure record, which
    // the OnFailure destination got.
    until("the failure reached the destination", Duration::from_secs(60), || item(&s, "failed-bad").is_some());
    let failed = item(&s, "failed-bad").unwrap();
    assert_eq!((failed["condition"].as_str(), failed["attempts"].as_u64()), (Some("RetriesExhausted"), Some(3)), "{failed}");
    assert_eq!(failed["request_id"], sent[1].1.as_str());
    assert_eq!(runs(&s, "bad"), 3, "run once and retried exactly twice");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&s, "bad"), 3, "and never again");
    assert_eq!(runs(&s, "ok"), 1, "the good one ran exactly once");
    let events = events_json(dir.path());
    let failures = events["failed"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{events}");
    assert_eq!(failures[0]["requestContext"]["condition"], "RetriesExhausted");
    assert!(failures[0]["responsePayload"]["errorMessage"].as_str().unwrap().contains("job bad failed on purpose"), "{events}");
    let status = run_esb(ESB, dir.path(), &["--json", "status"]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["events"]["failed"], 1, "esb status counts the failure: {status}");

    // `esb events redrive` sends the failure again as a new event through the running esb's spool;
    // it fails again (three more runs, a second record), and the first record is not sent twice.
    let out = run_esb(ESB, dir.path(), &["events", "redrive", "--function", "JobFunction"]);
    assert!(
        out.status.success() && text(&out.stdout).contains("sent again 1 failed event(s): JobFunction 1"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    until("the redriven event ran and was recorded again", Duration::from_secs(60), || events_json(dir.path())["failed_total"] == 2);
    assert_eq!(runs(&s, "bad"), 6, "a new event: the first attempt and two retries again");
    let events = events_json(dir.path());
    assert_eq!((events["failed"][0]["redriven"].as_bool(), events["redrive_pending"].as_u64()), (Some(true), Some(0)), "{events}");
    assert_ne!(events["failed"][1]["requestContext"]["requestId"], sent[1].1.as_str(), "with its own request id: {events}");
    assert_eq!(events["failed"][1]["requestPayload"]["id"], "bad", "{events}");
    let again = run_esb(ESB, dir.path(), &["events", "redrive", "--request-id", &sent[1].1]);
    assert!(text(&again.stdout).contains("nothing to redrive (1 already redriven)"), "{}", text(&again.stdout));

    // Too large for an asynchronous invocation.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(1_100_000));
    let r = s.request("POST", "/2015-03-31/functions/JobFunction/invocations", &[("x-amz-invocation-type", "Event")], big.as_bytes());
    assert_eq!(r.status, 403, "unsigned requests are refused before the size is looked at");

    // kill -9 with events running and queued, then a restart: every event ran exactly once, or
    // was recorded as failed (Interrupted); none is lost, none runs twice.
    let jobs: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    let payloads: Vec<String> = jobs.iter().map(|j| format!(r#"{{"id": "{j}", "sleep": 2}}"#)).collect();
    let sent = send_events(&s, &payloads);
    assert!(sent.iter().all(|(code, _)| *code == 202), "{sent:?}");
    until("some jobs started", Duration::from_secs(30), || runs(&s, "k0") + runs(&s, "k1") + runs(&s, "k2") + runs(&s, "k3") > 0);
    assert!(Command::new("kill").args(["-KILL", &s.pid().unwrap().to_string()]).status().unwrap().success());
    drop(s);
    let queued_at_kill = events_json(dir.path());
    eprintln!("after kill -9: {}", queued_at_kill["functions"]["JobFunction"]);
    let s = Served::start(ESB, dir.path(), &["--retry-delay", "1"]);
    let mut interrupted = vec![];
    until("every event ran or was recorded", Duration::from_secs(90), || {
        let events = events_json(dir.path());
        let jf = &events["functions"]["JobFunction"];
        let idle = jf["queued"].as_u64() == Some(0) && jf["running_or_interrupted"].as_u64() == Some(0);
        let failed: Vec<String> = events["failed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["requestContext"]["condition"] == "Interrupted")
            .filter_map(|f| f["requestPayload"]["id"].as_str().map(str::to_string))
            .collect();
        let done = jobs.iter().all(|j| failed.contains(j) || runs(&s, j) == 1);
        interrupted = failed;
        done && idle
    });
    for j in &jobs {
        let n = runs(&s, j);
        if interrupted.contains(j) {
            assert!(n <= 1, "{j}: interrupted, ran {n} times");
        } else {
            assert_eq!(n, 1, "{j} ran exactly once");
        }
    }
    eprintln!(
        "kill -9: {} interrupted (recorded), {} ran once after the restart or before",
        interrupted.len(),
        jobs.len() - interrupted.len()
    );
    assert!(!interrupted.is_empty(), "the kill caught events mid-run: they are recorded, not rerun");
    let before: Vec<(String, u64)> = interrupted.iter().map(|j| (j.clone(), runs(&s, j))).collect();
    assert!(s.stop());

    // A redrive while esb is stopped waits in the spool (esb status counts it) and runs at the next
    // start: each interrupted job once more, and the redriven `bad` event's failure once more.
    let out = run_esb(ESB, dir.path(), &["events", "redrive", "--function", "JobFunction"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&run_esb(ESB, dir.path(), &["--json", "status"]).stdout).unwrap();
    assert_eq!(status["events"]["redrive_pending"].as_u64(), Some(interrupted.len() as u64 + 1), "{status}");
    let s = Served::start(ESB, dir.path(), &["--retry-delay", "1"]);
    until("the redriven events ran", Duration::from_secs(90), || {
        before.iter().all(|(j, n)| runs(&s, j) == n + 1) && runs(&s, "bad") == 9 && events_json(dir.path())["redrive_pending"] == 0
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(before.iter().all(|(j, n)| runs(&s, j) == n + 1), "each once: {before:?}");
    assert!(s.stop());
}

#[test]
fn an_object_put_into_a_bucket_triggers_its_s3_function_with_the_key() {
    let (dir, _cleanup, _) = named_example_project("s3ev");
    let s = Served::start(ESB, dir.path(), &[]);
    // FilesFunction writes the object into FilesBucket; uploads/ matches UploadsFunction's filter.
    let r = s.request("PUT", "/files/uploads/report.csv", &[("content-type", "text/csv")], b"a,b\n1,2\n");
    assert!(r.status < 300, "{} {}", r.status, r.text());
    let r = s.request("PUT", "/files/other/skip.csv", &[("content-type", "text/csv")], b"x");
    assert!(r.status < 300, "{} {}", r.status, r.text());
    until("the S3 function ran", Duration::from_secs(60), || item(&s, "upload-uploads_report.csv").is_some());
    let i = item(&s, "upload-uploads_report.csv").unwrap();
    assert_eq!((i["event"].as_str(), i["size"].as_u64()), (Some("ObjectCreated:Put"), Some(8)), "{i}");
    assert_eq!(i["etag"].as_str().map(str::len), Some(32), "an MD5 eTag: {i}");
    assert!(i["bucket"].as_str().unwrap().ends_with("-files-dev"), "{i}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(item(&s, "upload-other_skip.csv").is_none(), "the prefix filter left other/ alone");
    let logs = text(&run_esb(ESB, dir.path(), &["logs", "UploadsFunction"]).stdout);
    assert_eq!(logs.matches("s3 event: ObjectCreated:Put").count(), 1, "{logs}");
    assert!(s.stop());
}
