//! Asynchronous invocation: what accepting an event costs (the journal's fsync before the 202)
//! and how fast the queue drains, against synchronous invocations of the same function through
//! the same Invoke API (the baseline), at concurrency 1 and 16.
//!
//! esb serves plain HTTP on loopback here (the Invoke API needs no signature there), so the
//! numbers are the invocation paths', not TLS's. Must not: leave containers (esb's go with esb).

use crate::load;
use crate::project::{Project, Runtime};
use crate::report::Row;
use std::time::{Duration, Instant};

fn row(measure: &str, variant: String, system: &str, samples: Vec<f64>, unit: &'static str, baseline: bool, lower: bool) -> Row {
    Row { measure: measure.into(), variant, system: system.into(), samples, unit, baseline, lower_is_better: lower }
}

fn invoke(agent: &ureq::Agent, url: &str, kind: &str, expect: u16) -> bool {
    match agent.post(url).header("x-amz-invocation-type", kind).send("{\"bench\": true}") {
        Ok(mut r) => r.status() == expect && r.body_mut().read_to_vec().is_ok(),
        Err(_) => false,
    }
}

/// Waits until `esb events` shows nothing queued or running for the echo function.
fn drained(esb_bin: &str, project: &Project, limit: Duration) -> Option<Instant> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let out = std::process::Command::new(esb_bin).args(["--json", "events"]).current_dir(project.root()).output().ok()?;
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let lane = &doc["functions"][Runtime::Provided.function()];
        if lane["queued"].as_u64() == Some(0) && lane["running_or_interrupted"].as_u64() == Some(0) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The scenario.
pub fn esb(esb_bin: &str, project: &Project, measure: Duration) -> Result<Vec<Row>, String> {
    let served = esb_tests::gateway::Served::start(
        esb_bin,
        project.root(),
        &["--http", "127.0.0.1:0", "--default-concurrency", "16", "--event-queue", "1000000"],
    );
    let url = format!("{}/2015-03-31/functions/{}/invocations", served.url, Runtime::Provided.function());
    let agents: Vec<ureq::Agent> = (0..16).map(|_| esb_tests::gateway::agent(&served.cert)).collect();
    let mut out = vec![];
    // Warm the containers first (both paths then run on warm containers).
    load::run(16, Duration::from_secs(2), |i| invoke(&agents[i], &url, "RequestResponse", 200));
    for level in [1, 16] {
        let variant = format!("c={level}");
        let sync = load::run(level, measure, |i| invoke(&agents[i], &url, "RequestResponse", 200));
        out.push(row(
            "Invoke API latency",
            variant.clone(),
            &format!("RequestResponse ({} errors)", sync.errors),
            sync.latencies_ms.clone(),
            "ms",
            true,
            true,
        ));
        out.push(row("Invoke API throughput", variant.clone(), "RequestResponse", vec![sync.throughput()], "requests/s", true, false));
        let started = Instant::now();
        let accepted = load::run(level, measure, |i| invoke(&agents[i], &url, "Event", 202));
        out.push(row(
            "Invoke API latency",
            variant.clone(),
            &format!("Event: 202 after the journal's fsync ({} errors)", accepted.errors),
            accepted.latencies_ms.clone(),
            "ms",
            false,
            true,
        ));
        out.push(row("Invoke API throughput", variant.clone(), "Event: accepted", vec![accepted.throughput()], "requests/s", false, false));
        let n = accepted.latencies_ms.len() as f64;
        match drained(esb_bin, project, Duration::from_secs(300)) {
            Some(done) => out.push(row(
                "Invoke API throughput",
                variant,
                "Event: run to completion (accept to empty queue)",
                vec![n / (done - started).as_secs_f64()],
                "requests/s",
                false,
                false,
            )),
            None => return Err("the event queue did not drain within 5 minutes".into()),
        }
    }
    if !served.stop() {
        return Err("esb serve did not stop cleanly".into());
    }
    Ok(out)
}
