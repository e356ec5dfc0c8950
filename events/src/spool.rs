//! The redrive spool: failed asynchronous events sent again, as new events.
//!
//! `esb events redrive` does not talk to a running esb. It writes each event to send again as one
//! file in `<output>/events/redrive/` (written aside, then renamed into place, by [`spool`]) and
//! notes the failure's request id in `<output>/events/redriven.jsonl` ([`note_redriven`]). The
//! manager's spool reader ([`run`]) hands each file to the EventQueue, which journals it (from then
//! on it is an ordinary event: retried and recorded like any other), and then removes the file. So
//! a redrive works the same with `esb serve`, `esb up -d` and split roles, and one made while esb
//! is stopped runs when it starts. From the spool an event is queued at least once: a crash
//! between the queue's sync and the file's removal queues it again.
//!
//! Owns: the spool's files and format, choosing what to redrive, and the ledger of redriven request
//! ids. Must not: write the journals or the failure log (the EventQueue owns them), or invoke.

use esb_actors::events::EnqueueError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The spool directory, in the events directory.
pub const SPOOL: &str = "redrive";
/// The request ids already redriven, one JSON line each, in the events directory.
pub const LEDGER: &str = "redriven.jsonl";

/// One spooled event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Spooled {
    /// Logical id.
    function: String,
    /// The original event's payload (JSON text).
    payload: String,
    /// The failed event's request id.
    redrive_of: String,
}

/// A failed event that can be sent again.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub request_id: String,
    pub function: String,
    pub payload: String,
}

/// What a redrive would send, and what it leaves.
#[derive(Debug, Default, PartialEq)]
pub struct Selection {
    pub chosen: Vec<Candidate>,
    /// Failures already redriven once.
    pub already: usize,
    /// Stream batch failures: their records are not in the failure record, so they cannot be sent.
    pub streams: usize,
}

/// A failure record's request id ("" when it has none).
pub fn request_id(record: &Value) -> &str {
    record["requestContext"]["requestId"].as_str().unwrap_or_default()
}

/// The request ids in the ledger.
pub fn redriven(events_dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(events_dir.join(LEDGER))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["requestId"].as_str().map(str::to_string))
        .collect()
}

/// Spooled events no running esb has queued yet.
pub fn pending(events_dir: &Path) -> usize {
    spooled(&events_dir.join(SPOOL)).len()
}

/// The failure records `function` and `ids` pick (every one when unset), oldest first.
pub fn select(failed: &[Value], redriven: &BTreeSet<String>, function: Option<&str>, ids: &[String]) -> Selection {
    let mut s = Selection::default();
    for r in failed {
        let id = request_id(r);
        let f = r["function"].as_str().unwrap_or_default();
        if function.is_some_and(|want| want != f) || (!ids.is_empty() && !ids.iter().any(|i| i == id)) {
            continue;
        }
        if r.get("DDBStreamBatchInfo").is_some() {
            s.streams += 1;
        } else if redriven.contains(id) {
            s.already += 1;
        } else if let Some(payload) = r.get("requestPayload") {
            let payload = serde_json::to_string(payload).unwrap_or_default();
            s.chosen.push(Candidate { request_id: id.to_string(), function: f.to_string(), payload });
        }
    }
    s
}

/// Writes `c` into the spool (aside, then renamed: the reader never sees half a file).
pub fn spool(events_dir: &Path, c: &Candidate, n: usize) -> std::io::Result<()> {
    let dir = events_dir.join(SPOOL);
    std::fs::create_dir_all(&dir)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let name = format!("{nanos:024}-{n:06}-{}.json", c.request_id);
    let body = Spooled { function: c.function.clone(), payload: c.payload.clone(), redrive_of: c.request_id.clone() };
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&body).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Where the spool reader hands events (the project's EventQueue; tests use a fake).
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    async fn enqueue(&self, function: &str, payload: String, trace: &str) -> Result<String, EnqueueError>;
}

/// The project's running EventQueue.
pub struct Queue {
    pub project: String,
}

#[async_trait::async_trait]
impl Sink for Queue {
    async fn enqueue(&self, function: &str, payload: String, trace: &str) -> Result<String, EnqueueError> {
        esb_actors::events::enqueue(&self.project, function, payload, trace).await
    }
}

/// The spool's finished files, oldest first.
fn spooled(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The manager's spool reader: queues what the spool holds, every second, until aborted.
pub async fn run(events_dir: PathBuf, sink: Arc<dyn Sink>) {
    let dir = events_dir.join(SPOOL);
    let mut warned = BTreeSet::new();
    loop {
        drain(&dir, sink.as_ref(), &mut warned).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Hands the spooled events to `sink`, oldest first, removing each one it took; returns how many.
/// An event for a function the running template lacks stays (a reload may bring the function
/// back) and is reported once; a full or unavailable queue ends the round (the next one retries).
/// A file that is not a spooled event is renamed `.bad` and reported.
async fn drain(dir: &Path, sink: &dyn Sink, warned: &mut BTreeSet<PathBuf>) -> usize {
    let mut queued = 0;
    for path in spooled(dir) {
        let entry: Option<Spooled> = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let Some(e) = entry else {
            tracing::warn!(path = %path.display(), "not a redriven event; renamed .bad");
            let _ = std::fs::rename(&path, path.with_extension("bad"));
            continue;
        };
        let trace = esb_runtime::rie::new_trace_id();
        match sink.enqueue(&e.function, e.payload.clone(), &trace).await {
            Ok(id) => {
                tracing::info!(function = %e.function, redrive_of = %e.redrive_of, request_id = %id, trace_id = %trace, "redriven event queued");
                if let Err(err) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %err, "a queued redriven event's file cannot be removed; it will be queued again");
                }
                queued += 1;
            }
            Err(EnqueueError::UnknownFunction { .. }) => {
                if warned.insert(path.clone()) {
                    tracing::warn!(function = %e.function, redrive_of = %e.redrive_of, "a redriven event's function is not in the running template; it waits in the spool");
                }
            }
            Err(err) => {
                tracing::debug!(function = %e.function, error = %err, "redriven events wait for the queue");
                break;
            }
        }
    }
    queued
}

#[cfg(test)]
mod tests;
