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
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = format!("127.0.0.1:{port}");
    let s = Served::start(ESB, dir.path(), &["--admin", &admin]);
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
