//! One function's asynchronous events on disk: an append-only journal of JSON lines.
//!
//! Owns: the file format and the crash rules. An event is `enq`ueued (synced before the caller
//! hears "accepted"), `start`ed (synced before the invocation begins, so a restart knows it may have
//! run), `retry`d (back in the queue, with its attempts and earliest next time) and `end`ed (done, or
//! recorded as failed first). Replaying the file gives the events still queued and the ones a crash
//! interrupted; a torn last line (a crash mid-write) is skipped: it was never acknowledged.
//! [`Journal::compact`] rewrites the file with only the queued and running events (temp file,
//! fsync, rename), so it can run while events run.
//! Must not: decide retries or run anything (the queue does).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// A queued event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The request id (also the 202's `x-amzn-RequestId`).
    pub id: String,
    /// The JSON payload.
    pub payload: String,
    /// The X-Ray trace id it carries into the function.
    pub trace: String,
    /// When it was accepted (ms since the epoch).
    pub enqueued_ms: i64,
    /// Attempts that ended in a function error.
    pub attempts: u32,
    /// Not to be run before (ms since the epoch).
    pub not_before_ms: i64,
    /// Throttled attempts in a row (for the backoff; not kept across restarts).
    #[serde(default, skip_serializing)]
    pub throttles: u32,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Record {
    Enq(Event),
    Start { id: String },
    Retry { id: String, attempts: u32, not_before_ms: i64 },
    End { id: String },
}

/// What a journal holds after a restart.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Events still to run, in the order they were accepted.
    pub queued: Vec<Event>,
    /// Events that had started when esb stopped without finishing them: they may have run, so they
    /// are not run again (they are recorded as failed).
    pub interrupted: Vec<Event>,
}

/// The open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Lines written since the last compaction (compaction is worth it past a threshold).
    lines: usize,
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replays the journal at `path` without changing it (a missing file is an empty journal); also
/// gives its number of lines.
pub fn read(path: &Path) -> (Replay, usize) {
    let mut events: BTreeMap<String, (usize, Event, bool)> = BTreeMap::new();
    let mut lines = 0;
    if let Ok(f) = File::open(path) {
        for (n, line) in BufReader::new(f).lines().enumerate() {
            let Ok(line) = line else { break };
            lines += 1;
            match serde_json::from_str::<Record>(&line) {
                Ok(Record::Enq(e)) => {
                    events.insert(e.id.clone(), (n, e, false));
                }
                Ok(Record::Start { id }) => {
                    if let Some(e) = events.get_mut(&id) {
                        e.2 = true;
                    }
                }
                Ok(Record::Retry { id, attempts, not_before_ms }) => {
                    if let Some(e) = events.get_mut(&id) {
                        (e.1.attempts, e.1.not_before_ms, e.2) = (attempts, not_before_ms, false);
                    }
                }
                Ok(Record::End { id }) => {
                    events.remove(&id);
                }
                // A torn line is only ever the last (appends are whole lines): never acknowledged.
                Err(e) => tracing::debug!(file = %path.display(), line = n + 1, error = %e, "skipping an unreadable journal line"),
            }
        }
    }
    let mut all: Vec<(usize, Event, bool)> = events.into_values().collect();
    all.sort_by_key(|(n, ..)| *n);
    let mut replay = Replay::default();
    for (_, e, started) in all {
        if started {
            replay.interrupted.push(e);
        } else {
            replay.queued.push(e);
        }
    }
    (replay, lines)
}

impl Journal {
    /// Opens (creating) the journal at `path` and replays it.
    pub fn open(path: &Path) -> std::io::Result<(Journal, Replay)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let (replay, lines) = read(path);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        // Cut a torn last line, so the next record starts on a line of its own.
        let len = file.metadata()?.len();
        if len > 0 {
            let bytes = std::fs::read(path)?;
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) as u64;
            if keep < len {
                file.set_len(keep)?;
            }
        }
        Ok((Journal { path: path.to_path_buf(), file, lines }, replay))
    }

    fn append(&mut self, r: &Record, sync: bool) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // One write per line: with O_APPEND a crash leaves at most a torn last line.
        self.file.write_all(&line)?;
        if sync {
            self.file.sync_data()?;
        }
        self.lines += 1;
        Ok(())
    }

    /// Records an accepted event, durably.
    pub fn enqueue(&mut self, e: &Event) -> std::io::Result<()> {
        self.append(&Record::Enq(e.clone()), true)
    }

    /// Records that `id` is about to run, durably.
    pub fn start(&mut self, id: &str) -> std::io::Result<()> {
        self.append(&Record::Start { id: id.into() }, true)
    }

    /// Puts `e` back in the queue (after an error or a throttle).
    pub fn retry(&mut self, e: &Event) -> std::io::Result<()> {
        self.append(&Record::Retry { id: e.id.clone(), attempts: e.attempts, not_before_ms: e.not_before_ms }, true)
    }

    /// Records that `id` is finished (succeeded, or its failure is recorded elsewhere).
    pub fn end(&mut self, id: &str) -> std::io::Result<()> {
        self.append(&Record::End { id: id.into() }, true)
    }

    /// Lines since the last compaction.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Rewrites the journal to hold only `queued` and `running` (which stay started: a crash after
    /// the rewrite still records them as interrupted, never runs them again).
    pub fn compact(&mut self, queued: &[Event], running: &[Event]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("compact");
        let mut records: Vec<Record> = queued.iter().chain(running).map(|e| Record::Enq(e.clone())).collect();
        records.extend(running.iter().map(|e| Record::Start { id: e.id.clone() }));
        {
            let mut f = File::create(&tmp)?;
            for r in &records {
                let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = records.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> Event {
        Event { id: id.into(), payload: "{}".into(), trace: "Root=1".into(), enqueued_ms: 1, attempts: 0, not_before_ms: 0, throttles: 0 }
    }

    #[test]
    fn replay_gives_queued_and_interrupted_events_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("F.journal");
        {
            let (mut j, replay) = Journal::open(&path).unwrap();
            assert_eq!(replay, Replay::default());
            for id in ["a", "b", "c", "d"] {
                j.enqueue(&ev(id)).unwrap();
            }
            j.start("a").unwrap();
            j.end("a").unwrap(); // done
            j.start("b").unwrap(); // killed mid-invocation
            j.start("c").unwrap();
            j.retry(&Event { attempts: 1, not_before_ms: 99, ..ev("c") }).unwrap();
            // back in the queue
        }
        // A crash in the middle of a write.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"op\":\"enq\",\"id\":\"torn-e\",\"pa").unwrap();
        let (mut j, replay) = Journal::open(&path).unwrap();
        assert_eq!(replay.interrupted, vec![ev("b")]);
        assert_eq!(replay.queued, vec![Event { attempts: 1, not_before_ms: 99, ..ev("c") }, ev("d")]);
        j.end("b").unwrap();
        // `d` is running while the journal is compacted.
        let (c, d) = (replay.queued[0].clone(), replay.queued[1].clone());
        j.compact(&[c], &[d]).unwrap();
        j.enqueue(&ev("f")).unwrap();
        let (_, replay) = Journal::open(&path).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("torn-e"), "the torn line was cut");
        assert_eq!(replay.interrupted, vec![ev("d")], "a running event stays started through a compaction");
        assert_eq!(replay.queued.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["c", "f"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4, "compaction dropped the history");
    }
}
