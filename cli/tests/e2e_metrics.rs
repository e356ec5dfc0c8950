//! Metrics against the real engine: `esb serve --admin ADDR` serves Prometheus text at /metrics
//! with what the functions did (invocations by outcome, cold starts vs warm hits, latencies,
//! containers by state).

use esb_tests::gateway::Served;
use esb_tests::named_example_project;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn metrics_count_invocations_cold_starts_and_containers() {
    let (dir, _cleanup, _project) = named_example_project("metrics");
    let s = Served::start(ESB, dir.path(), &["--admin", "127.0.0.1:0"]);
    let port: u16 = s.admin_addr().rsplit(':').next().unwrap().parse().unwrap();
    for _ in 0..3 {
        assert_eq!(s.get("/hello").status, 200);
    }
    assert_eq!(s.get("/events/fail").status, 502);
    assert!(get(port, "/healthz").ends_with("ok\n"));
    let want = [
        r#"esb_invocations_total{function="HelloFunction",outcome="success"} 3"#,
        r#"esb_invocations_total{function="EventsFunction",outcome="error"} 1"#,
        r#"esb_cold_starts_total{function="HelloFunction"} 1"#,
        r#"esb_warm_hits_total{function="HelloFunction"} 2"#,
        r#"esb_invoke_duration_seconds_count{function="HelloFunction"} 3"#,
        r#"esb_queue_wait_seconds_count{function="HelloFunction"} 3"#,
        r#"esb_containers{function="HelloFunction",state="idle"} 1"#,
    ];
    // The container gauges follow the actors' 50 ms tick.
    let started = Instant::now();
    let mut page = get(port, "/metrics");
    while started.elapsed() < Duration::from_secs(5) && !want.iter().all(|w| page.contains(w)) {
        std::thread::sleep(Duration::from_millis(100));
        page = get(port, "/metrics");
    }
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("text/plain; version=0.0.4"), "{page}");
    for w in want {
        assert!(page.contains(w), "missing `{w}` in:\n{page}");
    }
    assert!(s.stop());
}

/// Every span `got` (the record of an OTLP/HTTP JSON stand-in) holds, flattened.
fn spans(got: &str) -> Vec<serde_json::Value> {
    got.split("POST /v1/traces HTTP/1.1\n")
        .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .flat_map(|v| {
            let mut out = vec![];
            for rs in v["resourceSpans"].as_array().cloned().unwrap_or_default() {
                for ss in rs["scopeSpans"].as_array().cloned().unwrap_or_default() {
                    out.extend(ss["spans"].as_array().cloned().unwrap_or_default());
                }
            }
            out
        })
        .collect()
}

#[test]
fn spans_reach_an_otlp_collector_under_the_requests_trace_id() {
    let (dir, _cleanup, _project) = named_example_project("otlp");
    let generator = dir.path().join("generator.yml");
    let plain = std::fs::read_to_string(&generator).unwrap();
    let (collector, got) = esb_tests::http_sink(0);
    std::fs::write(&generator, format!("{plain}logs:\n  otlp_endpoint: http://127.0.0.1:{collector}\n")).unwrap();
    let s = Served::start(ESB, dir.path(), &["--admin", "127.0.0.1:0"]);
    let port: u16 = s.admin_addr().rsplit(':').next().unwrap().parse().unwrap();
    let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let r = s.request("GET", "/hello", &[("x-amzn-trace-id", header)], b"");
    assert_eq!(r.status, 200);
    let started = Instant::now();
    let mine = || -> Vec<serde_json::Value> {
        spans(&got.lock().unwrap()).into_iter().filter(|s| s["traceId"] == "5759e988bd862e3fe1be46a994272793").collect()
    };
    while started.elapsed() < Duration::from_secs(20) && mine().len() < 3 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let found = mine();
    let by_name = |n: &str| found.iter().find(|s| s["name"] == n).cloned().unwrap_or_else(|| panic!("no {n} span in {found:?}"));
    let (request, acquire, invoke) = (by_name("request"), by_name("acquire"), by_name("invoke"));
    // gateway -> actor -> container, one trace, continuing the caller's span.
    assert_eq!(request["parentSpanId"], "53995c3f42cd8ad8");
    assert_eq!(acquire["parentSpanId"], request["spanId"]);
    assert_eq!(invoke["parentSpanId"], request["spanId"]);
    let attrs = |s: &serde_json::Value| s["attributes"].to_string();
    assert!(attrs(&request).contains("/hello") && attrs(&acquire).contains("HelloFunction"), "{request} {acquire}");
    assert!(attrs(&invoke).contains("success"), "{invoke}");
    let metrics = get(port, "/metrics");
    assert!(metrics.contains(r#"esb_exports_total{signal="spans",event="sent"}"#), "{metrics}");
    assert!(s.stop());
}

/// A taken admin port stops the start before the gateway is announced: a client told "API Gateway
/// on" must find it there (CI saw a reset when the admin bind failed after the announcement).
#[test]
fn a_taken_admin_port_stops_the_start_before_the_gateway_is_announced() {
    let (dir, _cleanup, _project) = named_example_project("admintaken");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = held.local_addr().unwrap().to_string();
    let out = esb_tests::run_esb(ESB, dir.path(), &["serve", "--listen", "127.0.0.1:0", "--no-schedules", "--admin", &admin]);
    let (stdout, stderr) = (esb_tests::text(&out.stdout), esb_tests::text(&out.stderr));
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("API Gateway on"), "announced, then failed: {stdout}");
    assert!(stderr.contains(&admin), "the error names the address: {stderr}");
}
