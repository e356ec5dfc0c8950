//! DynamoDB Streams: how long after a write is acknowledged its change has been handled by the
//! stream's function, against a synchronous invocation of that same function with a one-record
//! event through the Invoke API (the floor: what delivery costs beyond the poll is that call).
//!
//! Runs the example project (its ChangesFunction follows ItemsTable), served over plain HTTP on
//! loopback. A write is `PUT /items/{id}` (ItemsFunction writes the item and answers); "handled" is
//! the mapping's position file counting one more delivered batch. Must not: leave containers or
//! volumes (the project guard removes them).

use crate::report::Row;
use std::path::Path;
use std::time::{Duration, Instant};

fn delivered(root: &Path) -> u64 {
    let path = root.join(".esb/events/streams/ChangesFunction.ItemChanges.json");
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["delivered"].as_u64())
        .unwrap_or(0)
}

fn wait_delivered(root: &Path, above: u64, limit: Duration) -> Option<Instant> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if delivered(root) > above {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

const EVENT: &str = r#"{"Records": [{"eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
  "dynamodb": {"Keys": {"id": {"S": "bench"}}, "NewImage": {"id": {"S": "bench"}}, "SequenceNumber": "1", "SizeBytes": 10,
  "StreamViewType": "NEW_AND_OLD_IMAGES"}}]}"#;

/// The scenario: `n` writes one after another, each waited for.
pub fn esb(esb_bin: &str, n: usize) -> Result<Vec<Row>, String> {
    let (dir, _guard, _) = esb_tests::named_example_project("benchstream");
    let root = dir.path();
    let served = esb_tests::gateway::Served::start(esb_bin, root, &["--http", "127.0.0.1:0"]);
    let agent = esb_tests::gateway::agent(&served.cert);
    let put = |id: &str| -> Result<(), String> {
        let url = format!("{}/items/{id}", served.url);
        match agent.put(&url).header("content-type", "application/json").send("{\"bench\": true}") {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(format!("PUT {url}: HTTP {}", r.status())),
            Err(e) => Err(format!("PUT {url}: {e}")),
        }
    };
    // Warm both functions (and the reader) first.
    put("warm")?;
    wait_delivered(root, 0, Duration::from_secs(60)).ok_or("the first change was not delivered within 60 s")?;
    let invoke_url = format!("{}/2015-03-31/functions/ChangesFunction/invocations", served.url);
    let mut direct = vec![];
    for _ in 0..n {
        let t = Instant::now();
        match agent.post(&invoke_url).send(EVENT) {
            Ok(mut r) if r.status() == 200 => {
                r.body_mut().read_to_vec().map_err(|e| format!("Invoke API: {e}"))?;
                direct.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(r) => return Err(format!("Invoke API: HTTP {}", r.status())),
            Err(e) => return Err(format!("Invoke API: {e}")),
        }
    }
    let mut after_ack = vec![];
    for i in 0..n {
        // Writes land at spread-out moments of the reader's 250 ms poll (in lockstep they would all
        // land just after a poll and measure its worst case).
        std::thread::sleep(Duration::from_millis((i as u64 * 137) % 300));
        let before = delivered(root);
        put(&format!("b{i}"))?;
        let acked = Instant::now();
        let done =
            wait_delivered(root, before, Duration::from_secs(30)).ok_or_else(|| format!("change {i} was not delivered within 30 s"))?;
        after_ack.push((done - acked).as_secs_f64() * 1000.0);
    }
    if !served.stop() {
        return Err("esb serve did not stop cleanly".into());
    }
    let row = |system: &str, samples: Vec<f64>, baseline: bool| Row {
        measure: "DynamoDB stream delivery".into(),
        variant: "one change".into(),
        system: system.into(),
        samples,
        unit: "ms",
        baseline,
        lower_is_better: true,
    };
    Ok(vec![
        row("the function invoked directly (Invoke API, sync)", direct, true),
        row("write acknowledged -> stream batch handled", after_ack, false),
    ])
}
