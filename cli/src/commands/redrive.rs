//! `esb events redrive`: chooses failed asynchronous events and writes them to the redrive spool
//! ([`esb_events::spool`]), which the running manager queues again.
//!
//! Owns: the command's choices and output. Must not: write the journals or the failure log.

use crate::cli::{Global, RedriveArgs};
use crate::output::Output;
use esb_events::spool::{self, LEDGER, SPOOL};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// `esb events redrive`.
pub fn run(global: &Global, args: RedriveArgs, out: &Output) -> anyhow::Result<()> {
    let template = super::find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &Default::default())?;
    let dir = ws.output_dir.join("events");
    let failed = super::events::failures(&dir);
    let missing: Vec<&String> = args.request_ids.iter().filter(|id| !failed.iter().any(|r| spool::request_id(r) == id.as_str())).collect();
    if !missing.is_empty() {
        let ids: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        anyhow::bail!(
            "no failed event with request id {} in {}\n  hint: `esb events --last 100` lists the failed events with their request ids",
            ids.join(", "),
            super::show(&dir.join(esb_actors::events::FAILURE_LOG))
        );
    }
    let sel = spool::select(&failed, &spool::redriven(&dir), args.function.as_deref(), &args.request_ids);
    if !args.dry_run {
        for (n, c) in sel.chosen.iter().enumerate() {
            spool::spool(&dir, c, n).map_err(|e| cannot_write(&dir.join(SPOOL), e))?;
            let note = json!({ "requestId": c.request_id, "function": c.function,
                               "at": esb_actors::events::record::timestamp(chrono::Utc::now()) });
            esb_actors::events::append_line(&dir.join(LEDGER), &note).map_err(|e| cannot_write(&dir.join(LEDGER), e))?;
        }
    }
    let mut per_function: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &sel.chosen {
        *per_function.entry(c.function.as_str()).or_default() += 1;
    }
    if out.json() {
        let events: Vec<Value> = sel.chosen.iter().map(|c| json!({ "function": c.function, "requestId": c.request_id })).collect();
        println!(
            "{}",
            json!({ "dry_run": args.dry_run, "redriven": events, "already_redriven": sel.already, "stream_batches": sel.streams })
        );
        return Ok(());
    }
    let mut left = vec![];
    if sel.already > 0 {
        left.push(format!("{} already redriven", sel.already));
    }
    if sel.streams > 0 {
        left.push(format!("{} stream batch(es), which cannot be: their records are not in the failure log", sel.streams));
    }
    let left = if left.is_empty() { String::new() } else { format!(" ({})", left.join("; ")) };
    if sel.chosen.is_empty() {
        out.say(format!("nothing to redrive{left}"));
        return Ok(());
    }
    let counts: Vec<String> = per_function.iter().map(|(f, n)| format!("{f} {n}")).collect();
    let verb = if args.dry_run { "would send again" } else { "sent again" };
    out.say(format!("{verb} {} failed event(s): {}{left}", sel.chosen.len(), counts.join(", ")));
    if args.dry_run {
        for c in &sel.chosen {
            out.say(format!("  {} {} {}", c.function, c.request_id, c.payload.chars().take(80).collect::<String>()));
        }
    } else {
        out.say("  a running esb queues them within a second (as new events, with new request ids); a stopped one when it starts");
    }
    Ok(())
}

fn cannot_write(path: &Path, e: std::io::Error) -> anyhow::Error {
    let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
        "\n  hint: the events directory belongs to the user esb runs as (root for `esb up -d`); run this as that user"
    } else {
        ""
    };
    anyhow::anyhow!("cannot write {}: {e}{hint}", super::show(path))
}
