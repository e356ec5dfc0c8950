//! The EventQueue on the fake runtime and fake RIE: retries, the failure log, destinations,
//! restarts with queued and interrupted events, and the bound.

use super::journal::{Event, Journal};
use super::queue::{self, QueueArgs, QueueMsg, Target};
use super::{EnqueueError, LaneStats, FAILURE_LOG};
use crate::{FunctionActor, FunctionConfig, FunctionHandle};
use esb_config::model::AsyncConfig;
use esb_runtime::fake::{fake_rie, FakeRuntime};
use esb_runtime::Runtime;
use ractor::{Actor, ActorRef};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn unique_project() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("q{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// Function actors named `names` of one project on one fake RIE.
async fn functions(project: &str, names: &[&str]) -> Vec<FunctionHandle> {
    let port = fake_rie().await;
    let rt: Arc<dyn Runtime> = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let mut handles = vec![];
    for name in names {
        let cfg = Arc::new(FunctionConfig { function: name.to_string(), ..FunctionConfig::for_tests(project, port) });
        Actor::spawn(Some(crate::function::actor_name(project, name)), FunctionActor, (cfg.clone(), rt.clone(), None)).await.unwrap();
        handles.push(FunctionHandle::new(cfg));
    }
    handles
}

fn target(handle: &FunctionHandle, config: AsyncConfig) -> Target {
    Target { handle: handle.clone(), function_name: handle.config().function.clone(), config }
}

async fn start(project: &str, dir: &Path, targets: Vec<Target>, capacity: usize) -> ActorRef<QueueMsg> {
    queue::start(QueueArgs {
        project: project.into(),
        region: "eu-west-1".into(),
        dir: dir.to_path_buf(),
        targets,
        retry_base: Duration::from_millis(30),
        capacity,
    })
    .await
    .unwrap()
}

async fn stats(q: &ActorRef<QueueMsg>) -> BTreeMap<String, LaneStats> {
    ractor::call_t!(q, QueueMsg::Stats, 5000).unwrap()
}

/// Polls the queue's counts until `f` holds, failing after 20 s (fsyncs are slow on a busy disk).
async fn until(q: &ActorRef<QueueMsg>, what: &str, f: impl Fn(&BTreeMap<String, LaneStats>) -> bool) -> BTreeMap<String, LaneStats> {
    for _ in 0..2000 {
        let s = stats(q).await;
        if f(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}: {:?}", stats(q).await);
}

fn failures(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(FAILURE_LOG)).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn an_event_runs_once_and_a_failing_one_is_retried_twice_then_recorded_and_sent_on() {
    let project = unique_project();
    let dir = tempfile::tempdir().unwrap();
    let h = functions(&project, &["Work", "OnFail"]).await;
    let cfg = AsyncConfig { on_failure: Some("OnFail".into()), ..AsyncConfig::default() };
    let q = start(&project, dir.path(), vec![target(&h[0], cfg), target(&h[1], AsyncConfig::default())], 100).await;

    let ok = h[0].enqueue("{\"n\": 1}".into(), "Root=1-ok").await.unwrap();
    assert_eq!(ok.len(), 36, "a request id");
    let s = until(&q, "the event to succeed", |s| s["Work"].succeeded == 1).await;
    assert_eq!((s["Work"].retried, s["Work"].failed, s["Work"].queued), (0, 0, 0));

    // RIE's timeout is a function error: the first attempt and two retries, then the record.
    let failing = h[0].enqueue("{\"timeout\": true}".into(), "Root=1-bad").await.unwrap();
    let s = until(&q, "the event to fail", |s| s["Work"].failed == 1 && s["OnFail"].succeeded == 1).await;
    assert_eq!(s["Work"].retried, 2, "retried exactly twice");
    let log = failures(dir.path());
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["function"], "Work");
    assert_eq!(log[0]["requestContext"]["requestId"], failing.as_str());
    assert_eq!(log[0]["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(log[0]["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(log[0]["responsePayload"]["errorType"], "Sandbox.Timedout");
    assert_eq!(log[0]["requestPayload"]["timeout"], true);
    let (replay, _) = super::journal::read(&dir.path().join("Work.journal"));
    assert!(replay.queued.is_empty() && replay.interrupted.is_empty(), "nothing left in the journal");
    queue::stop(q, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn after_a_crash_queued_events_run_and_interrupted_ones_are_recorded_not_rerun() {
    let project = unique_project();
    let dir = tempfile::tempdir().unwrap();
    // What kill -9 leaves: `a` had started, `b` and `c` were waiting, `d` was accepted 7 hours ago
    // (esb was down longer than an event may wait: 6 hours by default).
    {
        let (mut j, _) = Journal::open(&dir.path().join("Work.journal")).unwrap();
        for id in ["a", "b", "c", "d"] {
            let age = if id == "d" { 7 * 3600 * 1000 } else { 0 };
            let e = Event {
                id: id.into(),
                payload: format!("{{\"id\": \"{id}\"}}"),
                trace: "Root=1-x".into(),
                enqueued_ms: chrono::Utc::now().timestamp_millis() - age,
                attempts: 0,
                not_before_ms: 0,
                throttles: 0,
            };
            j.enqueue(&e).unwrap();
        }
        j.start("a").unwrap();
    }
    let h = functions(&project, &["Work"]).await;
    let q = start(&project, dir.path(), vec![target(&h[0], AsyncConfig::default())], 100).await;
    let s = until(&q, "the waiting events to run", |s| s["Work"].succeeded == 2).await;
    assert_eq!(s["Work"].failed, 2);
    let log = failures(dir.path());
    let seen: Vec<(&str, &str, u64)> = log
        .iter()
        .map(|r| {
            let c = &r["requestContext"];
            (c["requestId"].as_str().unwrap(), c["condition"].as_str().unwrap(), c["approximateInvokeCount"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(seen, [("a", "Interrupted", 1), ("d", "EventAgeExceeded", 0)]);
    queue::stop(q, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_queue_is_bounded_and_events_of_a_stopped_function_wait() {
    let project = unique_project();
    let dir = tempfile::tempdir().unwrap();
    // A handle whose actor is not running: attempts are refused and the event waits (backoff).
    let cfg = Arc::new(FunctionConfig { function: "Gone".into(), ..FunctionConfig::for_tests(&project, 1) });
    let handle = FunctionHandle::new(cfg);
    let q = start(&project, dir.path(), vec![target(&handle, AsyncConfig::default())], 1).await;
    handle.enqueue("{}".into(), "Root=1-a").await.unwrap();
    let err = handle.enqueue("{}".into(), "Root=1-b").await.unwrap_err();
    assert_eq!(err, EnqueueError::Full { function: "Gone".into(), capacity: 1 });
    assert!(err.to_string().contains("queue of Gone is full (1 events waiting)"), "{err}");
    let s = until(&q, "the throttled event to wait", |s| s["Gone"].retried >= 1).await;
    assert_eq!((s["Gone"].queued + s["Gone"].running, s["Gone"].failed), (1, 0), "it waits, it is not dropped");
    let unknown = FunctionHandle::new(Arc::new(FunctionConfig { function: "Nope".into(), ..FunctionConfig::for_tests(&project, 1) }));
    assert!(matches!(unknown.enqueue("{}".into(), "t").await, Err(EnqueueError::UnknownFunction { .. })));
    queue::stop(q, Duration::from_secs(1)).await;
    assert_eq!(handle.enqueue("{}".into(), "t").await.unwrap_err(), EnqueueError::Unavailable, "a stopped queue accepts nothing");
}

#[tokio::test]
async fn the_journal_stays_small_under_steady_load() {
    let project = unique_project();
    let dir = tempfile::tempdir().unwrap();
    let h = functions(&project, &["Work"]).await;
    let q = start(&project, dir.path(), vec![target(&h[0], AsyncConfig::default())], 10_000).await;
    for i in 0..400 {
        h[0].enqueue(format!("{{\"n\": {i}}}"), "Root=1-load").await.unwrap();
    }
    until(&q, "every event to run", |s| s["Work"].succeeded == 400).await;
    let lines = std::fs::read_to_string(dir.path().join("Work.journal")).unwrap().lines().count();
    assert!(lines < 1000, "1200 records were written, {lines} lines are left: the journal was compacted while events ran");
    let (replay, _) = super::journal::read(&dir.path().join("Work.journal"));
    assert!(replay.queued.is_empty() && replay.interrupted.is_empty(), "{replay:?}");
    queue::stop(q, Duration::from_secs(1)).await;
}
