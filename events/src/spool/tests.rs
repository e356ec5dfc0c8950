//! Choosing what to redrive, and the spool reader against a fake queue.

use super::*;
use serde_json::json;
use std::sync::Mutex;

fn failure(id: &str, function: &str, payload: Value) -> Value {
    json!({ "function": function, "requestContext": { "requestId": id, "condition": "RetriesExhausted" }, "requestPayload": payload })
}

#[test]
fn a_selection_takes_each_async_failure_once_and_never_a_stream_batch() {
    let mut stream = failure("s", "F", Value::Null);
    stream.as_object_mut().unwrap().remove("requestPayload");
    stream["DDBStreamBatchInfo"] = json!({ "batchSize": 1 });
    let failed = vec![failure("a", "F", json!({"n": 1})), stream, failure("b", "G", json!("text")), failure("c", "F", json!({}))];
    let ledger: BTreeSet<String> = ["c".to_string()].into();

    let all = select(&failed, &ledger, None, &[]);
    let ids: Vec<&str> = all.chosen.iter().map(|c| c.request_id.as_str()).collect();
    assert_eq!((ids, all.already, all.streams), (vec!["a", "b"], 1, 1));
    assert_eq!(all.chosen[0], Candidate { request_id: "a".into(), function: "F".into(), payload: r#"{"n":1}"#.into() });
    assert_eq!(all.chosen[1].payload, r#""text""#, "the payload as JSON text, as it was sent");

    let f = select(&failed, &ledger, Some("F"), &[]);
    assert_eq!((f.chosen.len(), f.already, f.streams), (1, 1, 1));
    let by_id = select(&failed, &ledger, None, &["b".to_string()]);
    assert_eq!((by_id.chosen.len(), by_id.chosen[0].function.as_str(), by_id.already), (1, "G", 0));
    assert_eq!(select(&failed, &ledger, Some("H"), &[]), Selection::default());
}

/// Takes events for `F`; `Gone` is not in the template; `full` refuses everything.
#[derive(Default)]
struct FakeQueue {
    taken: Mutex<Vec<(String, String)>>,
    full: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Sink for FakeQueue {
    async fn enqueue(&self, function: &str, payload: String, _trace: &str) -> Result<String, EnqueueError> {
        if self.full.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EnqueueError::Full { function: function.into(), capacity: 1 });
        }
        if function != "F" {
            return Err(EnqueueError::UnknownFunction { function: function.into() });
        }
        let mut taken = self.taken.lock().unwrap();
        taken.push((function.into(), payload));
        Ok(format!("new-{}", taken.len()))
    }
}

fn candidate(id: &str, function: &str) -> Candidate {
    Candidate { request_id: id.into(), function: function.into(), payload: format!(r#"{{"id":"{id}"}}"#) }
}

#[tokio::test]
async fn the_spool_reader_queues_in_order_removes_what_it_queued_and_keeps_the_rest() {
    let events = tempfile::tempdir().unwrap();
    let dir = events.path().join(SPOOL);
    for (n, c) in [candidate("1", "F"), candidate("2", "Gone"), candidate("3", "F")].iter().enumerate() {
        spool(events.path(), c, n).unwrap();
    }
    std::fs::write(dir.join("zz-torn.json"), "{\"function\": ").unwrap();
    std::fs::write(dir.join(".half-written.json.tmp"), "{").unwrap();
    assert_eq!(pending(events.path()), 4);

    let queue = FakeQueue::default();
    queue.full.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut warned = BTreeSet::new();
    assert_eq!(drain(&dir, &queue, &mut warned).await, 0, "a full queue takes nothing");
    assert_eq!(pending(events.path()), 4, "and nothing is removed");

    queue.full.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(drain(&dir, &queue, &mut warned).await, 2);
    let taken = queue.taken.lock().unwrap().clone();
    assert_eq!(taken, [("F".to_string(), r#"{"id":"1"}"#.to_string()), ("F".to_string(), r#"{"id":"3"}"#.to_string())], "oldest first");
    let left: Vec<PathBuf> = spooled(&dir);
    assert_eq!(left.len(), 1, "{left:?}");
    let kept: Spooled = serde_json::from_slice(&std::fs::read(&left[0]).unwrap()).unwrap();
    assert_eq!((kept.function.as_str(), kept.redrive_of.as_str()), ("Gone", "2"), "an unknown function's event waits");
    assert!(dir.join("zz-torn.bad").exists(), "a torn file is set aside");
    assert!(dir.join(".half-written.json.tmp").exists(), "a file being written is not read");
    assert_eq!(drain(&dir, &queue, &mut warned).await, 0);
    assert_eq!(warned.len(), 1, "the waiting event is reported once");
}
