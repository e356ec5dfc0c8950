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

/// p50 of `n` warm GET /hello, in ms.
fn p50(s: &Served, n: usize) -> f64 {
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(s.get("/hello").status, 200);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms[n / 2]
}

#[test]
fn lines_reach_a_sink_and_a_dead_sink_does_not_slow_invocations() {
    let (dir, _cleanup, _project) = named_example_project("sink");
    let generator = dir.path().join("generator.yml");
    let plain = std::fs::read_to_string(&generator).unwrap();
    let (port, got) = esb_tests::http_sink(0);
    std::fs::write(&generator, format!("{plain}logs:\n  sink: http://127.0.0.1:{port}\n")).unwrap();
    let s = Served::start(ESB, dir.path(), &[]);
    let trace = "Root=1-674c1a00-5151515151515151abababab";
    assert_eq!(s.request("GET", "/hello", &[("x-amzn-trace-id", trace)], b"").status, 200);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) && !got.lock().unwrap().contains(trace) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let received = got.lock().unwrap().clone();
    assert!(received.contains("POST /insert/jsonline?_stream_fields=function"), "{received}");
    let line = received.lines().find(|l| l.contains(trace) && l.contains("START RequestId")).unwrap_or_else(|| panic!("{received}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["function"], "HelloFunction");
    let with_sink = p50(&s, 20);
    assert!(s.stop());

    // The same with a sink that is down (nothing listens on its port).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(&generator, format!("{plain}logs:\n  sink: http://127.0.0.1:{dead}\n")).unwrap();
    let s = Served::start(ESB, dir.path(), &[]);
    let _ = s.get("/hello");
    let with_dead_sink = p50(&s, 20);
    eprintln!("warm GET /hello p50: {with_sink:.1} ms with a working sink, {with_dead_sink:.1} ms with a dead one");
    // Loose: the dead sink's retries must not be on the request path (they would add seconds).
    assert!(with_dead_sink < with_sink * 3.0 + 50.0, "{with_dead_sink:.1} ms vs {with_sink:.1} ms");
    let reported = Instant::now();
    while reported.elapsed() < Duration::from_secs(15) && !s.log().join("\n").contains("log sink is not accepting lines") {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(s.log().join("\n").contains("log sink is not accepting lines"), "the dead sink is reported: {}", s.log().join("\n"));
    assert!(s.stop());
}
