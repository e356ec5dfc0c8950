//! `esb events` as a user runs it, on an example project whose `.esb/events` was left by a
//! manager (journals, stream positions, the failure log). No Docker: it only reads files.

use esb_tests::{example_project, run_esb, text};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

#[test]
fn events_lists_what_waits_the_stream_mappings_and_the_failures() {
    let project = example_project();
    let dir = project.path().join(".esb/events");
    std::fs::create_dir_all(dir.join("streams")).unwrap();
    // An idle journal (one event enqueued and ended) and one holding a queued event.
    let enq = |id: &str| {
        format!(r#"{{"op":"enq","id":"{id}","payload":"{{}}","trace":"Root=1-0-0","enqueued_ms":0,"attempts":0,"not_before_ms":0}}"#)
    };
    std::fs::write(dir.join("HelloFunction.journal"), format!("{}\n{{\"op\":\"end\",\"id\":\"a\"}}\n", enq("a"))).unwrap();
    std::fs::write(dir.join("JobFunction.journal"), format!("{}\n", enq("b"))).unwrap();
    std::fs::write(dir.join("streams/ChangesFunction.ItemChanges.json"), r#"{"stream":"arn","shards":{},"delivered":7,"failed":1}"#)
        .unwrap();
    let failure = serde_json::json!({
        "timestamp": "2026-11-30T10:00:00.000Z", "function": "ChangesFunction",
        "requestContext": { "requestId": "r-1", "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3 },
        "responsePayload": { "errorMessage": "poison item p1" },
    });
    std::fs::write(dir.join("failed.jsonl"), format!("{failure}\n")).unwrap();

    let out = run_esb(ESB, project.path(), &["events"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.lines().any(|l| l.starts_with("JobFunction") && l.split_whitespace().nth(1) == Some("1")), "{shown}");
    assert!(!shown.contains("HelloFunction"), "an idle journal is not listed: {shown}");
    assert!(
        shown.lines().any(|l| l.starts_with("ChangesFunction.ItemChanges") && l.split_whitespace().collect::<Vec<_>>()[1..] == ["7", "1"]),
        "{shown}"
    );
    assert!(shown.contains("r-1 RetryAttemptsExhausted after 3 attempt(s): poison item p1"), "{shown}");

    let out = run_esb(ESB, project.path(), &["events", "--json", "--function", "ChangesFunction"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["streams"]["ChangesFunction.ItemChanges"]["batches_delivered"], 7, "{doc}");
    assert_eq!(doc["failed_total"], 1, "{doc}");
    assert!(doc["functions"].as_object().unwrap().is_empty(), "filtered to ChangesFunction, which has no journal: {doc}");

    std::fs::write(dir.join("JobFunction.journal"), format!("{}\n{{\"op\":\"end\",\"id\":\"b\"}}\n", enq("b"))).unwrap();
    let shown = text(&run_esb(ESB, project.path(), &["events"]).stdout);
    assert!(shown.contains("no asynchronous events queued or running (2 function journals)"), "{shown}");
}

#[test]
fn redrive_spools_each_failed_async_event_once_and_events_shows_it() {
    let project = example_project();
    let dir = project.path().join(".esb/events");
    std::fs::create_dir_all(&dir).unwrap();
    let failure = |id: &str, function: &str| {
        serde_json::json!({
            "timestamp": "2026-11-30T10:00:00.000Z", "function": function,
            "requestContext": { "requestId": id, "condition": "RetriesExhausted", "approximateInvokeCount": 3 },
            "requestPayload": { "id": id },
        })
    };
    let mut stream = failure("s-1", "ChangesFunction");
    stream["DDBStreamBatchInfo"] = serde_json::json!({ "batchSize": 1 });
    let lines: Vec<String> = [failure("j-1", "JobFunction"), failure("j-2", "JobFunction"), stream].iter().map(|v| v.to_string()).collect();
    std::fs::write(dir.join("failed.jsonl"), lines.join("\n") + "\n").unwrap();

    let out = run_esb(ESB, project.path(), &["events", "redrive", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("would send again 2 failed event(s): JobFunction 2") && said.contains("1 stream batch(es)"), "{said}");
    assert!(!dir.join("redrive").exists(), "a dry run writes nothing");

    let out = run_esb(ESB, project.path(), &["events", "redrive", "--request-id", "nope"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no failed event with request id nope"), "{}", text(&out.stderr));

    let out = run_esb(ESB, project.path(), &["--json", "events", "redrive", "--request-id", "j-2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["redriven"], serde_json::json!([{ "function": "JobFunction", "requestId": "j-2" }]), "{doc}");
    let spooled: Vec<_> = std::fs::read_dir(dir.join("redrive")).unwrap().flatten().collect();
    assert_eq!(spooled.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&std::fs::read(spooled[0].path()).unwrap()).unwrap();
    assert_eq!((body["function"].as_str(), body["payload"].as_str()), (Some("JobFunction"), Some(r#"{"id":"j-2"}"#)), "{body}");

    let out = run_esb(ESB, project.path(), &["events", "redrive"]);
    assert!(text(&out.stdout).contains("sent again 1 failed event(s): JobFunction 1 (1 already redriven;"), "{}", text(&out.stdout));
    let out = run_esb(ESB, project.path(), &["events", "redrive", "--function", "JobFunction"]);
    assert!(text(&out.stdout).contains("nothing to redrive (2 already redriven)"), "{}", text(&out.stdout));

    let shown = text(&run_esb(ESB, project.path(), &["events"]).stdout);
    assert!(shown.contains("j-1 RetriesExhausted after 3 attempt(s) [redriven]"), "{shown}");
    assert!(shown.contains("2 redriven event(s) wait for esb to queue them"), "{shown}");
    let doc: serde_json::Value = serde_json::from_slice(&run_esb(ESB, project.path(), &["--json", "events"]).stdout).unwrap();
    assert_eq!((doc["redrive_pending"].as_u64(), doc["failed"][2]["redriven"].as_bool()), (Some(2), None), "{doc}");
    assert_eq!(doc["failed"][0]["redriven"], true, "{doc}");
}
