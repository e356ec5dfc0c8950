//! Asynchronous invocation: events accepted with 202 (the Invoke API's `Event` type, schedules, S3
//! notifications), kept on disk per function, run through the function actors, retried, and
//! recorded when they fail.
//!
//! - [`journal`]: one function's events on disk, and what a crash leaves of them.
//! - [`queue`]: the EventQueue actor: dispatch, retries with backoff, event age, destinations, the
//!   failure log.
//! - [`record`]: the shapes functions and the failure log see (Lambda's destination record).
//!
//! Semantics (docs/events.md): nothing accepted is lost; an event runs once, plus up to
//! `MaximumRetryAttempts` retries after function errors; throttles and start failures are retried
//! without counting, until `MaximumEventAgeInSeconds`; an event a crash interrupted is not run again
//! (it may have had effects) but recorded as failed with condition `Interrupted`.

pub mod journal;
pub mod queue;
pub mod record;

pub use queue::{EnqueueError, EventQueue, LaneStats, QueueArgs, QueueMsg, Target};

/// The registered name of a project's EventQueue.
pub fn queue_name(project: &str) -> String {
    format!("esb-{project}-events")
}

/// Hands `payload` to `project`'s running EventQueue for `function` (logical id); answers the
/// event's request id once it is on disk.
pub async fn enqueue(project: &str, function: &str, payload: String, trace_id: &str) -> Result<String, EnqueueError> {
    let queue = ractor::ActorRef::<QueueMsg>::where_is(queue_name(project)).ok_or(EnqueueError::Unavailable)?;
    let (function, trace) = (function.to_string(), trace_id.to_string());
    match queue.call(|reply| QueueMsg::Enqueue { function, payload, trace, reply }, Some(std::time::Duration::from_secs(10))).await {
        Ok(ractor::rpc::CallResult::Success(r)) => r,
        _ => Err(EnqueueError::Unavailable),
    }
}

/// The failure log in the events directory: one destination record per line.
pub const FAILURE_LOG: &str = "failed.jsonl";

/// Appends `value` as one JSON line to `path` and syncs it (the failure log's writers: the queue and
/// the manager's stream readers; one short `write` each, so lines never interleave).
pub fn append_line(path: &std::path::Path, value: &serde_json::Value) -> std::io::Result<()> {
    use std::io::Write;
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(&line)?;
    f.sync_data()
}

#[cfg(test)]
mod tests;
