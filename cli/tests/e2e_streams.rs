//! DynamoDB Streams events (issue 11), against the real engine, RIE, the gateway over TLS and the
//! built-in DynamoDB service. The example's ChangesFunction follows ItemsTable's stream
//! (`StartingPosition: TRIM_HORIZON`, `BatchSize: 10`, `MaximumRetryAttempts: 2`), prints
//! `change: <eventName> <id> <sequence>` per record and fails on a new image with `poison`.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, run_esb, text};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

/// ChangesFunction's `change:` lines, as (eventName, id), in the order it printed them.
fn changes(dir: &Path) -> Vec<(String, String)> {
    let logs = text(&run_esb(ESB, dir, &["logs", "ChangesFunction"]).stdout);
    logs.lines()
        .filter_map(|l| l.split_once("change: ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

fn count(dir: &Path, event: &str, id: &str) -> usize {
    changes(dir).iter().filter(|(e, i)| e == event && i == id).count()
}

fn until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn events_json(dir: &Path) -> Value {
    let out = run_esb(ESB, dir, &["events", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn put(s: &Served, id: &str, body: &str) {
    let r = s.request("PUT", &format!("/items/{id}"), &[("content-type", "application/json")], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Writes an item straight into the DynamoDB service (while esb is down), with boto3.
fn put_direct(dir: &Path, id: &str) {
    let status: Value = serde_json::from_slice(&run_esb(ESB, dir, &["status", "--json"]).stdout).unwrap();
    let endpoint = status["storage"].as_array().unwrap().iter().find(|s| s["service"] == "dynamodb").expect("dynamodb runs")["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    let script = r#"
import os, boto3
c = boto3.client("dynamodb", endpoint_url=os.environ["URL"], region_name="us-east-1",
    aws_access_key_id="esblocal", aws_secret_access_key="esblocalsecret")
c.put_item(TableName="items-dev", Item={"id": {"S": os.environ["ID"]}, "kind": {"S": "item"}})
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", esb_tests::boto3_site())
        .env("URL", &endpoint)
        .env("ID", id)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn changes_arrive_in_order_failing_batches_are_retried_then_recorded_and_restarts_deliver_each_once() {
    let (dir, _cleanup, project) = named_example_project("streams");
    let d = dir.path();
    let s = Served::start(ESB, d, &[]);

    // Insert, modify, remove: delivered in the order they happened.
    put(&s, "s1", r#"{"n": 1}"#);
    put(&s, "s1", r#"{"n": 2}"#);
    assert_eq!(s.request("DELETE", "/items/s1", &[], b"").status, 204);
    until("the three changes of s1", Duration::from_secs(60), || count(d, "REMOVE", "s1") == 1);
    let seen: Vec<String> = changes(d).into_iter().filter(|(_, id)| id == "s1").map(|(e, _)| e).collect();
    assert_eq!(seen, ["INSERT", "MODIFY", "REMOVE"], "each change once, in order");

    // A failing batch: the first attempt and MaximumRetryAttempts (2) retries, then recorded, and
    // the stream moves on.
    put(&s, "p1", r#"{"poison": true}"#);
    let failed = || {
        events_json(d)["failed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["function"] == "ChangesFunction" && f["requestContext"]["condition"] == "RetryAttemptsExhausted")
            .cloned()
            .collect::<Vec<Value>>()
    };
    until("the poison batch recorded", Duration::from_secs(60), || !failed().is_empty());
    let record = &failed()[0];
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3, "{record}");
    assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 1, "{record}");
    assert!(record["DDBStreamBatchInfo"]["streamArn"].as_str().unwrap().contains(":table/items-dev/stream/"), "{record}");
    assert_eq!(record["responsePayload"]["errorMessage"], "poison item p1", "{record}");
    assert_eq!(count(d, "INSERT", "p1"), 3, "tried three times");
    put(&s, "after1", "{}");
    until("the change after the failed batch", Duration::from_secs(30), || count(d, "INSERT", "after1") == 1);

    // kill -9 of esb (the storage service keeps running) and a write while it is down: the
    // restarted reader continues from its position, so that write arrives and nothing is repeated.
    assert!(Command::new("kill").args(["-KILL", &s.pid().unwrap().to_string()]).status().unwrap().success());
    drop(s);
    put_direct(d, "down1");
    let s = Served::start(ESB, d, &[]);
    until("the change made while esb was down", Duration::from_secs(60), || count(d, "INSERT", "down1") == 1);
    std::thread::sleep(Duration::from_secs(2));
    for (event, id) in [("INSERT", "s1"), ("REMOVE", "s1"), ("INSERT", "after1"), ("INSERT", "down1")] {
        assert_eq!(count(d, event, id), 1, "{event} {id} delivered once after the kill -9");
    }
    assert_eq!(count(d, "INSERT", "p1"), 3, "the recorded batch is not retried again");

    // A clean stop stops the storage service too; its journal replay makes a new stream, whose
    // replayed records are old changes: skipped, and new ones arrive.
    assert!(s.stop());
    let s = Served::start(ESB, d, &[]);
    put(&s, "post1", "{}");
    until("the change after a full restart", Duration::from_secs(60), || count(d, "INSERT", "post1") == 1);
    std::thread::sleep(Duration::from_secs(2));
    for (event, id) in [("INSERT", "s1"), ("INSERT", "after1"), ("INSERT", "down1"), ("INSERT", "post1")] {
        assert_eq!(count(d, event, id), 1, "{event} {id} delivered once after the restart");
    }
    assert!(s.log().iter().any(|l| l.contains("the table's stream is new")), "the new stream was noticed");
    let progress = &events_json(d)["streams"]["ChangesFunction.ItemChanges"];
    assert_eq!(progress["batches_failed"], 1, "{progress}");
    assert!(progress["batches_delivered"].as_u64().unwrap() >= 4, "{progress}");
    assert!(s.stop());
    assert_eq!(esb_tests::chaos::leftover_function_containers(&project), 0);
}
