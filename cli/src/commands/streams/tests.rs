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

/// One table's stream with one shard; `replace` makes a new stream, as a storage restart does.
struct FakeStream {
    state: Mutex<(String, Vec<Value>)>,
}

impl FakeStream {
    fn new() -> Arc<Self> {
        Arc::new(FakeStream { state: Mutex::new(("arn:stream/1".into(), vec![])) })
    }
    fn write(&self, seq: u64, id: &str) {
        self.state.lock().unwrap().1.push(record(seq, id));
    }
    fn replace(&self, arn: &str, records: Vec<Value>) {
        *self.state.lock().unwrap() = (arn.into(), records);
    }
    fn check(&self, stream: &str) -> Result<Vec<Value>, StreamError> {
        let st = self.state.lock().unwrap();
        if st.0 != stream {
            return Err(StreamError { kind: "ResourceNotFoundException".into(), message: stream.into() });
        }
        Ok(st.1.clone())
    }
}

#[async_trait::async_trait]
impl StreamSource for FakeStream {
    async fn stream_of(&self, _table: &str) -> Result<Option<String>, StreamError> {
        Ok(Some(self.state.lock().unwrap().0.clone()))
    }
    async fn shards(&self, stream: &str) -> Result<Vec<String>, StreamError> {
        self.check(stream).map(|_| vec!["shard-0".to_string()])
    }
    async fn iterator(&self, stream: &str, _shard: &str, position: &Position) -> Result<String, StreamError> {
        let records = self.check(stream)?;
        let at = match position {
            Position::TrimHorizon => 0,
            Position::Latest => records.len(),
            Position::After(seq) => match records.iter().position(|r| sequence(r) == Some(seq)) {
                Some(i) => i + 1,
                None => return Err(StreamError { kind: "TrimmedDataAccessException".into(), message: seq.clone() }),
            },
        };
        Ok(format!("{stream}|{at}"))
    }
    async fn records(&self, iterator: &str, limit: u32) -> Result<(Vec<Value>, Option<String>), StreamError> {
        let (stream, at) = iterator.rsplit_once('|').unwrap();
        let records = self.check(stream)?;
        let at: usize = at.parse().unwrap();
        let batch: Vec<Value> = records.iter().skip(at).take(limit as usize).cloned().collect();
        Ok((batch.clone(), Some(format!("{stream}|{}", at + batch.len()))))
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
    let cp = load(&rig.dir.path().join("streams/F.Changes.json"));
    assert_eq!((cp.stream.as_deref(), cp.shards.get("shard-0").map(String::as_str), cp.delivered), (Some("arn:stream/1"), Some("6"), 4));
}

#[tokio::test(start_paused = true)]
async fn latest_skips_what_the_stream_holds_at_first_sight_and_a_restart_resumes_from_the_position() {
    let rig = Rig::new();
    rig.stream.write(1, "old1");
    rig.stream.write(2, "old2");
    let reader = rig.start("LATEST", 10, None);
    // Once it has looked, the old records are behind its position.
    until("the position saved", || rig.dir.path().join("streams/F.Changes.json").exists()).await;
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
    let cp = load(&rig.dir.path().join("streams/F.Changes.json"));
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
    let cp = load(&rig.dir.path().join("streams/F.Changes.json"));
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
    let cp = load(&rig.dir.path().join("streams/F.Changes.json"));
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
