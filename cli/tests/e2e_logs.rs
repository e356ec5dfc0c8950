//! Function logs against the real engine: what a function's container prints is collected as JSON
//! lines under `.esb/logs/`, each line tagged with its invocation's trace id, and `esb logs` finds a
//! request's lines by that id.

use esb_tests::gateway::Served;
use esb_tests::{named_example_project, run_esb, text};
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn lines_of(dir: &std::path::Path, function: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join(format!(".esb/logs/{function}.jsonl"))).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn a_requests_log_lines_are_found_by_its_trace_id() {
    let (dir, _cleanup, _project) = named_example_project("logs");
    let s = Served::start(ESB, dir.path(), &[]);
    let traces = ["Root=1-674c1a00-0123456789abcdef01234567", "Root=1-674c1a00-fedcba9876543210fedcba98"];
    for t in traces {
        assert_eq!(s.request("GET", "/hello", &[("x-amzn-trace-id", t)], b"").status, 200);
    }
    // A failing function's error output is collected too, as an error.
    assert_eq!(s.request("GET", "/events/fail", &[("x-amzn-trace-id", "Root=1-674c1a00-aaaaaaaaaaaaaaaaaaaaaaaa")], b"").status, 502);
    let started = Instant::now();
    let tagged = |t: &str| lines_of(dir.path(), "HelloFunction").into_iter().filter(|l| l["trace_id"] == t).collect::<Vec<_>>();
    while started.elapsed() < Duration::from_secs(20)
        && traces.iter().any(|t| !tagged(t).iter().any(|l| l["message"].as_str().unwrap_or("").starts_with("REPORT")))
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    for t in traces {
        let lines = tagged(t);
        let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
        assert!(messages.iter().any(|m| m.starts_with("START RequestId")), "{t}: {messages:?}");
        assert!(messages.iter().any(|m| m.starts_with("REPORT RequestId")), "{t}: {messages:?}");
        let ids: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["request_id"].as_str()).collect();
        assert_eq!(ids.len(), 1, "one Lambda request id per invocation: {lines:?}");
        assert_eq!(lines[0]["function"], "HelloFunction");
    }
    let fail_started = Instant::now();
    let errors = || {
        lines_of(dir.path(), "EventsFunction")
            .into_iter()
            .filter(|l| l["trace_id"] == "Root=1-674c1a00-aaaaaaaaaaaaaaaaaaaaaaaa" && l["level"] == "error")
            .count()
    };
    while fail_started.elapsed() < Duration::from_secs(20) && errors() == 0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(errors() > 0, "the failure's lines are errors: {:?}", lines_of(dir.path(), "EventsFunction"));

    // esb logs: by trace id (any part of it), as JSON and for people.
    let out = run_esb(ESB, dir.path(), &["logs", "--json", "--trace", "0123456789abcdef01234567"]);
    let found: Vec<serde_json::Value> = text(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!found.is_empty() && found.iter().all(|l| l["trace_id"] == traces[0]), "{}{}", text(&out.stdout), text(&out.stderr));
    let human = run_esb(ESB, dir.path(), &["logs", "HelloFunction", "--since", "10m"]);
    let shown = text(&human.stdout);
    assert!(shown.contains("HelloFunction") && shown.contains("START RequestId"), "{shown}");
    assert!(!shown.contains("EventsFunction"), "only the function asked for");
    assert!(s.stop());
}
