//! The stream readers: the manager's event source mappings for `DynamoDB` events. Each enabled
//! event has a reader that follows its table's stream on the storage service and invokes the
//! function synchronously with batches of change records, in order, one batch at a time (as
//! Lambda's event source mappings do).
//!
//! Owns: the readers' positions (`<output>/events/streams/<Function>.<Event>.json`, the last
//! delivered sequence number per shard, written after the batch succeeded or was recorded as
//! failed: a change is delivered at least once), retrying a failing batch (1 s doubling to 60 s,
//! up to `MaximumRetryAttempts` and `MaximumRecordAgeInSeconds`), recording batches that give up in
//! the failure log, and stopping between batches. Must not: run containers (the function actors
//! do) or write to DynamoDB.
//!
//! Positions: `StartingPosition` applies once, when a mapping first sees its stream (`LATEST`
//! skips what the stream holds then; `TRIM_HORIZON` delivers it). A stream that is new to a reader
//! that had a position means the storage service replayed its journal into a new stream: the
//! replayed records are old changes, so the reader skips them and follows the new stream.
//!
//! Shards: a child shard is read only after its parent (while the stream still lists it) is read
//! to its end, so one key's changes keep their order across a split. A saved position the stream
//! has trimmed away is logged as a loss and the shard is read from its oldest change; an expired
//! iterator is replaced from the saved position.

mod delivery;
mod source;
#[cfg(test)]
mod tests;

use delivery::{deliver, Delivery};
use esb_config::model::StreamEvent;
use esb_storage::streams::{sequence, Position, Shard, StreamError, StreamErrorKind, StreamSource};
pub use source::{Answer, Connect, Storage, Target};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often an idle reader asks for new records (Lambda polls a shard about four times a second).
const POLL: Duration = Duration::from_millis(250);
/// How often a reader checks the table's stream and its shards.
const RECHECK: Duration = Duration::from_secs(5);

/// One function's `DynamoDB` event.
#[derive(Clone)]
pub struct Mapping {
    pub function: String,
    pub function_name: String,
    /// The function (its actor, in esb).
    pub target: Arc<dyn Target>,
    pub event: StreamEvent,
}

impl Mapping {
    fn key(&self) -> (String, StreamEvent) {
        (self.function.clone(), self.event.clone())
    }
}

/// What every reader shares.
#[derive(Clone)]
pub struct Context {
    /// Finds the storage service's Streams API (again after it moved).
    pub connect: Arc<dyn Connect>,
    pub region: String,
    /// The events directory (positions under `streams/`, the failure log).
    pub dir: PathBuf,
}

/// The running readers.
pub struct Readers {
    ctx: Context,
    running: Vec<(Mapping, tokio::task::JoinHandle<()>)>,
    stop: watch::Sender<bool>,
    /// Stopped for good (esb is stopping): a late hot reload starts nothing.
    closed: bool,
}

/// A reader's position, as saved.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    /// The stream the positions belong to.
    stream: Option<String>,
    /// Shard id -> the last sequence number delivered (or skipped).
    shards: BTreeMap<String, String>,
    /// Batches delivered and recorded as failed, since the mapping began.
    #[serde(default)]
    delivered: u64,
    #[serde(default)]
    failed: u64,
}

impl Readers {
    /// Starts a reader for every enabled mapping.
    pub fn start(ctx: Context, mappings: Vec<Mapping>) -> Readers {
        let (stop, _) = watch::channel(false);
        let mut r = Readers { ctx, running: vec![], stop, closed: false };
        r.spawn(mappings);
        r
    }

    fn spawn(&mut self, mappings: Vec<Mapping>) {
        for m in mappings {
            if !m.event.enabled {
                tracing::info!(function = %m.function, event = %m.event.name, "stream event disabled (Enabled: false)");
                continue;
            }
            let task = tokio::spawn(run(self.ctx.clone(), m.clone(), self.stop.subscribe()));
            self.running.push((m, task));
        }
    }

    /// Lets each reader finish the batch it is delivering (within `grace`), then stops them.
    async fn stop(&mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (_, mut task) in self.running.drain(..) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
            }
        }
        self.stop = watch::channel(false).0;
    }

    /// After a hot reload: readers whose mapping is unchanged keep going; the others stop (after
    /// their batch) and the new ones start.
    pub async fn replace(&mut self, mappings: Vec<Mapping>, grace: Duration) {
        let now: Vec<_> = self.running.iter().map(|(m, _)| m.key()).collect();
        let wanted: Vec<_> = mappings.iter().filter(|m| m.event.enabled).map(Mapping::key).collect();
        if now == wanted || self.closed {
            return;
        }
        self.stop(grace).await;
        self.spawn(mappings);
    }

    /// [`Readers::stop`] for good, as esb stops.
    pub async fn close(&mut self, grace: Duration) {
        self.closed = true;
        self.stop(grace).await;
    }
}

/// Every mapping's saved progress (`<Function>.<Event>` -> batches delivered and failed), read-only
/// (for `esb events` and `esb status`).
pub fn progress(events_dir: &std::path::Path) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(events_dir.join("streams")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(mapping) = name.strip_suffix(".json") else { continue };
            let cp = load(&entry.path());
            out.insert(mapping.to_string(), (cp.delivered, cp.failed));
        }
    }
    out
}

fn checkpoint_path(dir: &std::path::Path, m: &Mapping) -> PathBuf {
    dir.join("streams").join(format!("{}.{}.json", m.function, m.event.name))
}

fn load(path: &std::path::Path) -> Checkpoint {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Writes the checkpoint whole (a temporary file renamed over it).
fn save(path: &std::path::Path, c: &Checkpoint) {
    let tmp = path.with_extension("tmp");
    let result = std::fs::create_dir_all(path.parent().unwrap_or(path))
        .and_then(|_| std::fs::write(&tmp, serde_json::to_vec(c).unwrap_or_default()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "the stream position cannot be written");
    }
}

/// Sleeps, or returns true at once when the readers are told to stop.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Reads every record `shard` holds now, delivering none; returns the last sequence number.
async fn skip_to_end(s: &dyn StreamSource, stream: &str, shard: &str) -> Result<Option<String>, StreamError> {
    let mut it = Some(s.iterator(stream, shard, &Position::TrimHorizon).await?);
    let mut last = None;
    while let Some(i) = it {
        let (records, next) = s.records(&i, 1000).await?;
        if records.is_empty() {
            break;
        }
        last = records.last().and_then(sequence).map(str::to_string).or(last);
        it = next;
    }
    Ok(last)
}

/// The position after everything every shard of `stream` holds now.
async fn skip_all(s: &dyn StreamSource, stream: &str) -> Result<BTreeMap<String, String>, StreamError> {
    let mut positions = BTreeMap::new();
    for shard in s.shards(stream).await? {
        if let Some(seq) = skip_to_end(s, stream, &shard.id).await? {
            positions.insert(shard.id, seq);
        }
    }
    Ok(positions)
}

/// An iterator into `shard` just after its saved position, or at its oldest record without one.
/// A position the stream no longer holds (esb was away longer than the stream keeps changes) is
/// reported, and the shard is read from the oldest change it still holds.
async fn open(s: &dyn StreamSource, stream: &str, shard: &str, saved: Option<&String>, m: &Mapping) -> Result<String, StreamError> {
    let Some(seq) = saved else { return s.iterator(stream, shard, &Position::TrimHorizon).await };
    match s.iterator(stream, shard, &Position::After(seq.clone())).await {
        Err(e) if e.kind == StreamErrorKind::TrimmedDataAccess => {
            tracing::warn!(
                function = %m.function, event = %m.event.name, %shard, position = %seq,
                "the stream no longer holds this mapping's position (esb was away longer than the stream keeps changes): changes trimmed since are lost; continuing from the oldest change it holds"
            );
            s.iterator(stream, shard, &Position::TrimHorizon).await
        }
        r => r,
    }
}

/// Whether `shard` must wait: its parent is still listed and not yet read to its end (a child
/// holds the changes after its parent's, so reading it first would break their order).
fn waits_for_parent(shard: &Shard, shards: &[Shard], iterators: &BTreeMap<String, Option<String>>) -> bool {
    shard.parent.as_ref().is_some_and(|p| shards.iter().any(|s| &s.id == p) && iterators.get(p) != Some(&None))
}

/// Follows one mapping's stream until told to stop.
async fn run(ctx: Context, m: Mapping, mut stop: watch::Receiver<bool>) {
    let path = checkpoint_path(&ctx.dir, &m);
    let mut cp = load(&path);
    let mut warned = false;
    'outer: loop {
        let Some(s) = ctx.connect.connect().await else {
            if pause(&mut stop, Duration::from_secs(2)).await {
                return;
            }
            continue;
        };
        let stream = match s.stream_of(&m.event.table).await {
            Ok(Some(arn)) => arn,
            Ok(None) | Err(_) => {
                if !warned {
                    tracing::warn!(function = %m.function, table = %m.event.table, "the table has no stream on the storage service yet; waiting for it");
                    warned = true;
                }
                if pause(&mut stop, Duration::from_secs(2)).await {
                    return;
                }
                continue;
            }
        };
        warned = false;
        if cp.stream.as_deref() != Some(stream.as_str()) {
            // First sight of this stream: where to begin (see the module documentation).
            let skip = cp.stream.is_some() || m.event.starting_position == "LATEST";
            if cp.stream.is_some() {
                tracing::info!(function = %m.function, table = %m.event.table, %stream, "the table's stream is new (the storage service replayed its journal); following it from its newest record");
            }
            let shards = if skip { skip_all(s.as_ref(), &stream).await } else { Ok(BTreeMap::new()) };
            let shards = match shards {
                Ok(shards) => shards,
                Err(e) => {
                    tracing::debug!(function = %m.function, error = %e, "reading the new stream failed; trying again");
                    if pause(&mut stop, Duration::from_secs(1)).await {
                        return;
                    }
                    continue 'outer;
                }
            };
            cp = Checkpoint { stream: Some(stream.clone()), shards, ..cp };
            save(&path, &cp);
        }
        tracing::info!(function = %m.function, event = %m.event.name, table = %m.event.table, "following the table's stream");
        let mut iterators: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut shards = vec![];
        let mut checked: Option<tokio::time::Instant> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            // The shard list and the table's stream are checked every few seconds, the shards'
            // records every POLL: a storage restart makes a new stream, a busy stream new shards.
            if checked.is_none_or(|t| t.elapsed() >= RECHECK) {
                if checked.is_some() && s.stream_of(&m.event.table).await.ok().flatten().as_deref() != Some(stream.as_str()) {
                    break;
                }
                shards = match s.shards(&stream).await {
                    Ok(l) => l,
                    Err(_) => break,
                };
                checked = Some(tokio::time::Instant::now());
            }
            let mut busy = false;
            for shard in shards.clone() {
                if waits_for_parent(&shard, &shards, &iterators) {
                    continue;
                }
                let shard = shard.id;
                let it = match iterators.get(&shard) {
                    Some(Some(it)) => it.clone(),
                    Some(None) => continue, // closed and read to its end
                    None => match open(s.as_ref(), &stream, &shard, cp.shards.get(&shard), &m).await {
                        Ok(it) => it,
                        Err(e) => {
                            tracing::debug!(function = %m.function, %shard, error = %e, "no shard iterator");
                            break;
                        }
                    },
                };
                let (records, next) = match s.records(&it, m.event.batch_size).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(function = %m.function, %shard, error = %e, "reading the stream failed; starting over from the position");
                        iterators.clear();
                        break;
                    }
                };
                iterators.insert(shard.clone(), next);
                let Some(last) = records.last().and_then(sequence).map(str::to_string) else { continue };
                busy = true;
                let delivered = deliver(&ctx, &m, &stream, &shard, &records, &mut stop).await;
                match delivered {
                    Delivery::Done => cp.delivered += 1,
                    Delivery::Failed => cp.failed += 1,
                    Delivery::Stopped => return,
                }
                cp.shards.insert(shard, last);
                save(&path, &cp);
            }
            if !busy && pause(&mut stop, POLL).await {
                return;
            }
        }
        if pause(&mut stop, Duration::from_secs(1)).await {
            return;
        }
    }
}
