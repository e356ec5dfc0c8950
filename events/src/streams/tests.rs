//! The reader against an in-memory stream and a recording function, on tokio's paused clock
//! (retry waits and polls pass at once): where a mapping starts, that it resumes from its saved
//! position, skips a replayed stream, retries and records a failing batch, and moves on.

use super::*;
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Mutex;

fn record(seq: u64, id: &str) -> Value {
    json!({ "eventID": format!("e{seq}"), "eventName": "INSERT",
            "dynamodb": { "Keys": { "id": { "S": id } }, "SequenceNumber": seq.to_string() } })
}

/// A fake shard: its records, how many of the oldest are trimmed away, and whether it is closed.
#[derive(Clone)]
struct FakeShard {
    shard: Shard,
    records: Vec<Value>,
    trimmed: usize,
    closed: bool,
}

/// One table's stream, one open shard at first. `replace` makes a new stream, as a storage
/// restart does; `split` closes the open shard and opens a child; `trim` drops the oldest records;
/// `expire` makes the next read fail as an expired iterator does.
struct FakeStream {
    state: Mutex<(String, Vec<FakeShard>)>,
    expire: std::sync::atomic::AtomicBool,
}

fn shard(id: &str, parent: Option<&str>, records: Vec<Value>) -> FakeShard {
    FakeShard { shard: Shard { id: id.into(), parent: parent.map(str::to_string) }, records, trimmed: 0, closed: false }
}

fn error(kind: &str, message: &str) -> StreamError {
    StreamError::new(esb_storage::streams::StreamErrorKind::parse(kind), message)
}

impl FakeStream {
    fn new() -> Arc<Self> {
        Arc::new(FakeStream {
            state: Mutex::new(("arn:stream/1".into(), vec![shard("shard-0", None, vec![])])),
            expire: Default::default(),
        })
    }
    /// Writes to the open shard.
    fn write(&self, seq: u64, id: &str) {
        self.state.lock().unwrap().1.last_mut().unwrap().records.push(record(seq, id));
    }
    fn replace(&self, arn: &str, records: Vec<Value>) {
        *self.state.lock().unwrap() = (arn.into(), vec![shard("shard-0", None, records)]);
    }
    fn split(&self, child: &str) {
        let shards = &mut self.state.lock().unwrap().1;
        let parent = shards.last_mut().unwrap();
        parent.closed = true;
        let parent = parent.shard.id.clone();
        shards.push(shard(child, Some(&parent), vec![]));
    }
    fn trim(&self, shard: usize, oldest: usize) {
        self.state.lock().unwrap().1[shard].trimmed = oldest;
    }
    fn shard(&self, stream: &str, id: &str) -> Result<FakeShard, StreamError> {
        let st = self.state.lock().unwrap();
        if st.0 != stream {
            return Err(error("ResourceNotFoundException", stream));
        }
        st.1.iter().find(|s| s.shard.id == id).cloned().ok_or_else(|| error("ResourceNotFoundException", id))
    }
}

#[async_trait::async_trait]
impl StreamSource for FakeStream {
    async fn stream_of(&self, _table: &str) -> Result<Option<String>, StreamError> {
        Ok(Some(self.state.lock().unwrap().0.clone()))
    }
    async fn shards(&self, stream: &str) -> Result<Vec<Shard>, StreamError> {
        let st = self.state.lock().unwrap();
        if st.0 != stream {
            return Err(error("ResourceNotFoundException", stream));
        }
        Ok(st.1.iter().map(|s| s.shard.clone()).collect())
    }
    async fn iterator(&self, stream: &str, id: &str, position: &Position) -> Result<String, StreamError> {
        let sh = self.shard(stream, id)?;
        let at = match position {
            Position::TrimHorizon => sh.trimmed,
            Position::Latest => sh.records.len(),
            Position::After(seq) => match sh.records.iter().position(|r| sequence(r) == Some(seq)) {
                Some(i) if i >= sh.trimmed => i + 1,
                _ => return Err(error("TrimmedDataAccessException", seq)),
            },
        };
        Ok(format!("{stream}|{id}|{at}"))
    }
    async fn records(&self, iterator: &str, limit: u32) -> Result<(Vec<Value>, Option<String>), StreamError> {
        if self.expire.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(error("ExpiredIteratorException", iterator));
        }
        let mut parts = iterator.split('|');
        let (stream, id, at) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap().parse::<usize>().unwrap());
        let sh = self.shard(stream, id)?;
        if at < sh.trimmed {
            return Err(error("TrimmedDataAccessException", iterator));
        }
        let batch: Vec<Value> = sh.records.iter().skip(at).take(limit as usize).cloned().collect();
        let next = at + batch.len();
        let done = sh.closed && next >= sh.records.len();
        Ok((batch, (!done).then(|| format!("{stream}|{id}|{next}"))))
    }
}

struct Connected(Arc<FakeStream>);

#[async_trait::async_trait]
impl Connect for Connected {
    async fn connect(&self) -> Option<Arc<dyn StreamSource>> {
        Some(self.0.clone())
    }
}

/// Records the ids of every batch it gets; fails every batch holding an id starting `poison`.
#[derive(Default)]
struct Function {
    batches: Mutex<Vec<Vec<String>>>,
}

impl Function {
    fn batches(&self) -> Vec<Vec<String>> {
        self.batches.lock().unwrap().clone()
    }
    fn delivered(&self) -> Vec<String> {
        self.batches().into_iter().flatten().collect()
    }
}

#[async_trait::async_trait]
impl Target for Function {
    async fn invoke(&self, payload: Bytes, _trace: &str) -> Answer {
        let event: Value = serde_json::from_slice(&payload).unwrap();
        let ids: Vec<String> =
            event["Records"].as_array().unwrap().iter().map(|r| r["dynamodb"]["Keys"]["id"]["S"].as_str().unwrap().to_string()).collect();
        assert!(event["Records"].as_array().unwrap().iter().all(|r| r["eventSourceARN"].as_str().is_some()), "{event}");
        let poisoned = ids.iter().any(|i| i.starts_with("poison"));
        self.batches.lock().unwrap().push(ids);
        if poisoned {
            Answer::Failed(json!({ "errorType": "ValueError", "errorMessage": "poison" }))
        } else {
            Answer::Success
        }
    }
}

struct Rig {
    dir: tempfile::TempDir,
    stream: Arc<FakeStream>,
    function: Arc<Function>,
}

impl Rig {
    fn new() -> Rig {
        Rig { dir: tempfile::tempdir().unwrap(), stream: FakeStream::new(), function: Arc::new(Function::default()) }
    }

    /// Starts a reader for an event with `position`, `batch` and `retries`; the sender stops it.
    fn start(&self, position: &str, batch: u32, retries: Option<u32>) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let ctx = Context { connect: Arc::new(Connected(self.stream.clone())), region: "eu-west-1".into(), dir: self.dir.path().into() };
        let event = StreamEvent {
            name: "Changes".into(),
            table: "items".into(),
            starting_position: position.into(),
            batch_size: batch,
            enabled: true,
            max_retries: retries,
            max_record_age: None,
        };
        let m = Mapping { function: "F".into(), function_name: "f".into(), target: self.function.clone(), event };
        let (tx, rx) = watch::channel(false);
        (tx, tokio::spawn(run(ctx, m, rx)))
    }

    /// The mapping's saved position file.
    fn checkpoint_path(&self) -> PathBuf {
        self.dir.path().join("streams/F.Changes.json")
    }

    fn failures(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join(esb_actors::events::FAILURE_LOG))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Lets the reader run (on the paused clock) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

async fn stop(reader: (watch::Sender<bool>, tokio::task::JoinHandle<()>)) {
    reader.0.send(true).unwrap();
    reader.1.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn trim_horizon_delivers_what_the_stream_holds_in_order_in_batches_and_keeps_going() {
    let rig = Rig::new();
    for (seq, id) in [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")] {
        rig.stream.write(seq, id);
    }
    let reader = rig.start("TRIM_HORIZON", 2, None);
    until("five delivered", || rig.function.delivered().len() == 5).await;
    assert_eq!(rig.function.batches(), [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
    rig.stream.write(6, "f");
    until("the next change", || rig.function.delivered().len() == 6).await;
    stop(reader).await;
    let cp = load(&rig.checkpoint_path());
    assert_eq!((cp.stream.as_deref(), cp.shards.get("shard-0").map(String::as_str), cp.delivered), (Some("arn:stream/1"), Some("6"), 4));
}

#[tokio::test(start_paused = true)]
async fn latest_skips_what_the_stream_holds_at_first_sight_and_a_restart_resumes_from_the_position() {
    let rig = Rig::new();
    rig.stream.write(1, "old1");
    rig.stream.write(2, "old2");
    let reader = rig.start("LATEST", 10, None);
    // Once it has looked, the old records are behind its position.
    until("the position saved", || rig.checkpoint_path().exists()).await;
    rig.stream.write(3, "new1");
    until("the new change", || rig.function.delivered() == ["new1"]).await;
    stop(reader).await;
    // While the reader is away, two more; a new reader (LATEST again) must not skip them.
    rig.stream.write(4, "while-down1");
    rig.stream.write(5, "while-down2");
    let reader = rig.start("LATEST", 10, None);
    until("the changes made while it was away", || rig.function.delivered().len() == 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["new1", "while-down1", "while-down2"], "each once, none of the old ones");
}

#[tokio::test(start_paused = true)]
async fn a_replayed_stream_is_followed_from_its_end_without_delivering_old_changes_again() {
    let rig = Rig::new();
    rig.stream.write(1, "a");
    let reader = rig.start("TRIM_HORIZON", 10, None);
    until("a", || rig.function.delivered() == ["a"]).await;
    // The storage service restarted: its journal replay wrote `a` again, into a new stream.
    rig.stream.replace("arn:stream/2", vec![record(100, "a")]);
    tokio::time::sleep(RECHECK * 2).await;
    rig.stream.write(101, "b");
    until("b", || rig.function.delivered().len() == 2).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["a", "b"]);
    let cp = load(&rig.checkpoint_path());
    assert_eq!(cp.stream.as_deref(), Some("arn:stream/2"));
}

#[tokio::test(start_paused = true)]
async fn a_failing_batch_is_retried_then_recorded_and_the_stream_moves_on() {
    let rig = Rig::new();
    rig.stream.write(1, "poison1");
    rig.stream.write(2, "next");
    let reader = rig.start("TRIM_HORIZON", 1, Some(2));
    until("the change after the failed one", || rig.function.delivered().contains(&"next".to_string())).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["poison1", "poison1", "poison1", "next"], "the first attempt and two retries");
    let f = rig.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["requestContext"]["condition"], "RetryAttemptsExhausted");
    assert_eq!(f[0]["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(f[0]["requestContext"]["functionArn"], "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST");
    assert_eq!(
        (f[0]["DDBStreamBatchInfo"]["startSequenceNumber"].as_str(), f[0]["DDBStreamBatchInfo"]["batchSize"].as_u64()),
        (Some("1"), Some(1))
    );
    assert_eq!((f[0]["function"].as_str(), f[0]["responsePayload"]["errorMessage"].as_str()), (Some("F"), Some("poison")));
    let cp = load(&rig.checkpoint_path());
    assert_eq!((cp.delivered, cp.failed), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_retries_leaves_the_batch_for_the_next_start() {
    let rig = Rig::new();
    rig.stream.write(1, "poison1");
    let reader = rig.start("TRIM_HORIZON", 10, None); // retried until it succeeds
    until("retrying", || rig.function.delivered().len() >= 2).await;
    stop(reader).await;
    assert!(rig.failures().is_empty(), "not recorded: it never gave up");
    let cp = load(&rig.checkpoint_path());
    assert!(cp.shards.is_empty(), "the position did not move past it: {cp:?}");
}

#[tokio::test(start_paused = true)]
async fn a_reload_restarts_readers_only_when_their_mappings_changed_and_never_after_close() {
    let rig = Rig::new();
    let ctx = || Context { connect: Arc::new(Connected(rig.stream.clone())), region: "eu-west-1".into(), dir: rig.dir.path().into() };
    let mapping = |name: &str, batch: u32, enabled: bool| Mapping {
        function: "F".into(),
        function_name: "f".into(),
        target: rig.function.clone(),
        event: StreamEvent {
            name: name.into(),
            table: "items".into(),
            starting_position: "TRIM_HORIZON".into(),
            batch_size: batch,
            enabled,
            max_retries: None,
            max_record_age: None,
        },
    };
    let mut readers = Readers::start(ctx(), vec![mapping("A", 10, true), mapping("Off", 10, false)]);
    assert_eq!(readers.running.len(), 1, "a disabled event gets no reader");
    let first = readers.running[0].1.id();
    readers.replace(vec![mapping("A", 10, true), mapping("Off", 10, false)], Duration::from_secs(1)).await;
    assert_eq!(readers.running[0].1.id(), first, "unchanged: the same reader keeps going");
    readers.replace(vec![mapping("A", 5, true)], Duration::from_secs(1)).await;
    assert_eq!(readers.running.len(), 1);
    assert_ne!(readers.running[0].1.id(), first, "a changed mapping gets a new reader");
    rig.stream.write(1, "a");
    until("the new reader delivers", || rig.function.delivered() == ["a"]).await;
    readers.close(Duration::from_secs(1)).await;
    assert!(readers.running.is_empty());
    readers.replace(vec![mapping("B", 10, true)], Duration::from_secs(1)).await;
    assert!(readers.running.is_empty(), "a reload after close starts nothing");
}

#[test]
fn a_checkpoint_round_trips_and_a_missing_or_torn_one_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streams").join("F.E.json");
    assert_eq!(load(&path), Checkpoint::default());
    let cp = Checkpoint { stream: Some("arn".into()), shards: [("s1".to_string(), "42".to_string())].into(), delivered: 3, failed: 1 };
    save(&path, &cp);
    assert_eq!(load(&path), cp);
    std::fs::write(&path, "{\"stream\": \"ar").unwrap();
    assert_eq!(load(&path), Checkpoint::default());
}

#[tokio::test(start_paused = true)]
async fn a_child_shard_is_read_only_after_its_parent_is_read_to_its_end() {
    let rig = Rig::new();
    rig.stream.write(1, "a");
    rig.stream.write(2, "b");
    rig.stream.split("shard-1");
    rig.stream.write(3, "c");
    rig.stream.split("shard-2");
    rig.stream.write(4, "d");
    // One record per batch: reading the shards side by side would interleave them.
    let reader = rig.start("TRIM_HORIZON", 1, None);
    until("four delivered", || rig.function.delivered().len() == 4).await;
    rig.stream.write(5, "e");
    until("the next change in the open shard", || rig.function.delivered().len() == 5).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["a", "b", "c", "d", "e"], "the parents' changes first");
    let cp = load(&rig.checkpoint_path());
    assert_eq!(cp.shards.values().map(String::as_str).collect::<Vec<_>>(), ["2", "3", "5"]);
}

#[tokio::test(start_paused = true)]
async fn a_position_the_stream_has_trimmed_continues_from_its_oldest_change() {
    let rig = Rig::new();
    rig.stream.write(1, "a");
    let reader = rig.start("TRIM_HORIZON", 10, None);
    until("a", || rig.function.delivered() == ["a"]).await;
    stop(reader).await;
    // esb is away for longer than the stream keeps changes: `a` (the position) and `b` expire.
    rig.stream.write(2, "b");
    rig.stream.write(3, "c");
    rig.stream.trim(0, 2);
    let reader = rig.start("TRIM_HORIZON", 10, None);
    until("c", || rig.function.delivered().len() == 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["a", "c"], "what the stream still holds, once");
}

#[tokio::test(start_paused = true)]
async fn an_expired_iterator_is_replaced_from_the_position_without_repeats_or_gaps() {
    let rig = Rig::new();
    rig.stream.write(1, "a");
    let reader = rig.start("TRIM_HORIZON", 10, None);
    until("a", || rig.function.delivered() == ["a"]).await;
    rig.stream.expire.store(true, std::sync::atomic::Ordering::SeqCst);
    rig.stream.write(2, "b");
    until("b", || rig.function.delivered().len() == 2).await;
    assert!(!rig.stream.expire.load(std::sync::atomic::Ordering::SeqCst), "the read did fail once");
    rig.stream.write(3, "c");
    until("c", || rig.function.delivered().len() == 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop(reader).await;
    assert_eq!(rig.function.delivered(), ["a", "b", "c"]);
}
