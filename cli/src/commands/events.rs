//! `esb events`: the asynchronous events the manager's EventQueue holds on disk, per function,
//! the stream mappings' progress, and the failure log's newest records (marking those
//! `esb events redrive` sent again).
//!
//! Owns: reading `<output_dir>/events/` (the journals, read-only, and `failed.jsonl`) and printing
//! it. Must not: write there (the running manager owns it; this works the same while esb runs and
//! after it stopped).

use crate::cli::{EventsArgs, Global};
use crate::output::Output;
use esb_actors::events::journal;
use std::collections::BTreeMap;
use std::path::Path;

/// Per function (queued, of those retrying, started and not ended), from the journals in `dir`.
pub(super) fn lanes(dir: &Path) -> BTreeMap<String, (usize, usize, usize)> {
    let mut lanes = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(function) = name.strip_suffix(".journal") else { continue };
            let (replay, _) = journal::read(&entry.path());
            let retrying = replay.queued.iter().filter(|e| e.attempts > 0).count();
            lanes.insert(function.to_string(), (replay.queued.len(), retrying, replay.interrupted.len()));
        }
    }
    lanes
}

/// The failure log's records, oldest first.
pub(super) fn failures(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(esb_actors::events::FAILURE_LOG))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn run(global: &Global, args: EventsArgs, out: &Output) -> anyhow::Result<()> {
    let template = super::find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &Default::default())?;
    let dir = ws.output_dir.join("events");
    let lanes = lanes(&dir);
    let failed: Vec<serde_json::Value> =
        failures(&dir).into_iter().filter(|r| args.function.as_deref().is_none_or(|f| r["function"] == f)).collect();
    let lanes: BTreeMap<_, _> = lanes.into_iter().filter(|(f, _)| args.function.as_deref().is_none_or(|a| a == f)).collect();
    let streams: BTreeMap<_, _> = esb_events::streams::progress(&dir)
        .into_iter()
        .filter(|(m, _)| args.function.as_deref().is_none_or(|f| m.split_once('.').is_some_and(|(mf, _)| mf == f)))
        .collect();
    let redriven = esb_events::spool::redriven(&dir);
    let pending = esb_events::spool::pending(&dir);
    let shown: Vec<serde_json::Value> = failed[failed.len().saturating_sub(args.last)..]
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if redriven.contains(esb_events::spool::request_id(&r)) {
                r["redriven"] = serde_json::Value::Bool(true);
            }
            r
        })
        .collect();
    if out.json() {
        let functions: BTreeMap<_, _> = lanes
            .iter()
            .map(|(f, (q, r, i))| (f.clone(), serde_json::json!({ "queued": q, "retrying": r, "running_or_interrupted": i })))
            .collect();
        let streams: BTreeMap<_, _> =
            streams.iter().map(|(m, (d, f))| (m.clone(), serde_json::json!({ "batches_delivered": d, "batches_failed": f }))).collect();
        println!(
            "{}",
            serde_json::json!({ "functions": functions, "streams": streams, "failed_total": failed.len(), "failed": shown,
                                   "redrive_pending": pending })
        );
        return Ok(());
    }
    if lanes.is_empty() && failed.is_empty() && streams.is_empty() && pending == 0 {
        out.say(format!("no asynchronous events yet in {}", super::show(&dir)));
        return Ok(());
    }
    // Every function has a journal once esb ran; only those holding something are listed.
    let waiting: Vec<_> = lanes.iter().filter(|(_, (q, _, i))| q + i > 0).collect();
    if waiting.is_empty() {
        if !lanes.is_empty() {
            println!("no asynchronous events queued or running ({} function journals)", lanes.len());
        }
    } else {
        println!("{:<28} {:>7} {:>9} {:>8}", "FUNCTION", "QUEUED", "RETRYING", "RUNNING");
        for (f, (q, r, i)) in waiting {
            println!("{f:<28} {q:>7} {r:>9} {i:>8}");
        }
    }
    if !streams.is_empty() {
        println!("{:<40} {:>9} {:>7}", "STREAM MAPPING", "BATCHES", "FAILED");
        for (m, (d, f)) in &streams {
            println!("{m:<40} {d:>9} {f:>7}");
        }
    }
    if !failed.is_empty() {
        println!("\n{} failed (newest last; all in {}):", failed.len(), super::show(&dir.join(esb_actors::events::FAILURE_LOG)));
        for r in &shown {
            let ctx = &r["requestContext"];
            let error = r["responsePayload"]["errorMessage"].as_str().or(r["responsePayload"]["errorType"].as_str()).unwrap_or("");
            println!(
                "  {} {} {} {} after {} attempt(s){}{}",
                r["timestamp"].as_str().unwrap_or(""),
                r["function"].as_str().unwrap_or("?"),
                ctx["requestId"].as_str().unwrap_or(""),
                ctx["condition"].as_str().unwrap_or(""),
                ctx["approximateInvokeCount"],
                if error.is_empty() { String::new() } else { format!(": {error}") },
                if r["redriven"] == true { " [redriven]" } else { "" }
            );
        }
    }
    if pending > 0 {
        println!("{pending} redriven event(s) wait for esb to queue them (it does within a second of running)");
    }
    Ok(())
}
