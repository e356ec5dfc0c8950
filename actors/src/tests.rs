//! FunctionActor on the fake runtime, with a fake RIE answering on loopback
//! ([`esb_runtime::fake::fake_rie`]: every fake container's address is that one fake RIE).

use crate::{AcquireError, FunctionActor, FunctionConfig, FunctionHandle, InvokeFailure, Stats};
use bytes::Bytes;
use esb_runtime::fake::{Call, FakeRuntime, Faults};
use esb_runtime::rie::Outcome;
use esb_runtime::{Role, Runtime};
use ractor::Actor;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use esb_runtime::fake::fake_rie;

/// Actor names are global in a process: every test gets its own project.
fn unique_project() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("p{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn config(port: u16) -> FunctionConfig {
    FunctionConfig::for_tests(&unique_project(), port)
}

async fn spawn_with(cfg: FunctionConfig) -> (FunctionHandle, Arc<FakeRuntime>) {
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cfg = Arc::new(cfg);
    let runtime: Arc<dyn Runtime> = rt.clone();
    let name = crate::function::actor_name(&cfg.project, &cfg.function);
    Actor::spawn(Some(name), FunctionActor, (cfg.clone(), runtime, None)).await.unwrap();
    (FunctionHandle::new(cfg), rt)
}

fn count(rt: &FakeRuntime, pred: fn(&Call) -> bool) -> usize {
    rt.calls().iter().filter(|c| pred(c)).count()
}
fn creates(rt: &FakeRuntime) -> usize {
    count(rt, |c| matches!(c, Call::Create(_)))
}
fn removes(rt: &FakeRuntime) -> usize {
    count(rt, |c| matches!(c, Call::Remove(_)))
}

/// Polls until `f` holds (for effects of spawned tasks), failing after 3 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn stats(h: &FunctionHandle) -> Stats {
    h.stats().await.expect("actor answers")
}

#[tokio::test]
async fn a_warm_container_is_reused() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    for i in 0..5 {
        let inv = h.invoke(Bytes::from(format!("{{\"n\":{i}}}")), None).await.unwrap();
        assert_eq!(inv.outcome, Outcome::Success);
        assert_eq!(inv.body, format!("{{\"echo\":{{\"n\":{i}}}}}"));
    }
    assert_eq!(creates(&rt), 1, "one cold start, then warm hits");
    let s = stats(&h).await;
    assert_eq!((s.idle, s.busy, s.started), (1, 0, 1));
    use esb_runtime::labels::key;
    let c = rt.containers(&esb_runtime::Labels::default()).await.unwrap().remove(0);
    for k in [key::PROJECT, key::FUNCTION, key::ROLE, key::CONFIG_HASH, key::CREATED, key::VERSION] {
        assert!(c.labels.get(k).is_some(), "label {k} on {:?}", c.labels);
    }
    assert!(c.name.starts_with(&format!("esb-{}-fn-", h.config().project)), "deterministic name prefix: {}", c.name);
}

#[tokio::test]
async fn a_busy_function_scales_out_to_its_limit_and_serves_everyone() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await; // limit 2
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 50}"), None).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().outcome, Outcome::Success);
    }
    assert_eq!(creates(&rt), 2, "exactly the limit, never more");
    assert_eq!(stats(&h).await.idle, 2);
}

#[tokio::test]
async fn past_the_limit_callers_queue_then_are_throttled_by_deadline_or_full_queue() {
    let cfg = FunctionConfig { limit: 1, queue_limit: 1, queue_timeout: Duration::from_millis(200), ..config(fake_rie().await) };
    let (h, rt) = spawn_with(cfg).await;
    let slow = |h: FunctionHandle| tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 600}"), None).await });
    let first = slow(h.clone());
    eventually("the first caller holds the container", || creates(&rt) == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let queued = slow(h.clone());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let refused = h.invoke(Bytes::from_static(b"{}"), None).await;
    assert!(matches!(refused, Err(InvokeFailure::Acquire(AcquireError::Throttled { limit: 1, .. }))), "queue full: {refused:?}");
    let queued = queued.await.unwrap();
    assert!(matches!(queued, Err(InvokeFailure::Acquire(AcquireError::Throttled { .. }))), "waited past 200 ms: {queued:?}");
    assert_eq!(first.await.unwrap().unwrap().outcome, Outcome::Success);
    assert_eq!(creates(&rt), 1);
    let text = AcquireError::Throttled { function: "Fn".into(), limit: 1 }.to_string();
    assert!(text.contains("TooManyRequestsException"), "{text}");
}

#[tokio::test]
async fn idle_containers_are_reaped_to_zero() {
    let cfg = FunctionConfig { idle_timeout: Duration::from_millis(150), ..config(fake_rie().await) };
    let (h, rt) = spawn_with(cfg).await;
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(stats(&h).await.idle, 1);
    eventually("the idle container is removed", || removes(&rt) == 1).await;
    let s = stats(&h).await;
    assert_eq!((s.idle, s.removed), (0, 1));
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(creates(&rt), 2, "the next request cold-starts a new one");
}

#[tokio::test]
async fn provisioned_concurrency_keeps_containers_warm_through_reaping() {
    let cfg = FunctionConfig { min_warm: 2, idle_timeout: Duration::from_millis(100), ..config(fake_rie().await) };
    let (h, rt) = spawn_with(cfg).await;
    eventually("two containers prewarmed", || creates(&rt) == 2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let s = stats(&h).await;
    assert_eq!((s.idle, s.started, s.removed), (2, 2, 0), "kept warm past the idle timeout");
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(creates(&rt), 2, "served warm");
}

#[tokio::test]
async fn a_container_that_dies_times_out_or_answers_garbage_is_replaced_never_reused() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    for (event, what) in [(&b"{\"die\": true}"[..], "died"), (b"{\"garbage\": true}", "garbage"), (b"{\"timeout\": true}", "timeout")] {
        let before = removes(&rt);
        let result = h.invoke(Bytes::from_static(event), None).await;
        match what {
            "died" => {
                assert!(matches!(result, Err(InvokeFailure::Invoke(esb_runtime::rie::InvokeError::ConnectionClosed(_)))), "{result:?}")
            }
            "garbage" => assert!(
                matches!(result, Err(InvokeFailure::Invoke(esb_runtime::rie::InvokeError::Status { status: 500, .. }))),
                "{result:?}"
            ),
            _ => assert!(matches!(result, Ok(ref i) if matches!(i.outcome, Outcome::Timeout { .. })), "{result:?}"),
        }
        eventually(&format!("the {what} container is removed"), || removes(&rt) == before + 1).await;
        let ok = h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
        assert_eq!(ok.outcome, Outcome::Success, "the next request works after: {what}");
    }
    assert_eq!(creates(&rt), 4, "one container, then one replacement per broken one");
}

#[tokio::test]
async fn a_runtime_killed_for_memory_is_reported_as_lambda_reports_it() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    let running = rt.containers(&Default::default()).await.unwrap();
    assert_eq!(running.len(), 1);
    // The engine's OOM flag shows up a little after the connection closes, as a real one's does.
    let (flagger, id) = (rt.clone(), running[0].id.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        flagger.flag_oom(&id);
    });
    let result = h.invoke(Bytes::from_static(b"{\"die\": true}"), None).await;
    match result {
        Err(InvokeFailure::Invoke(e)) => {
            assert_eq!(e.error_type(), "Runtime.OutOfMemory", "{e}");
            assert!(e.to_string().contains("signal: killed"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    eventually("the killed container is removed", || removes(&rt) == 1).await;
    // A container that died without the flag stays an exit error.
    let result = h.invoke(Bytes::from_static(b"{\"die\": true}"), None).await;
    assert!(matches!(&result, Err(InvokeFailure::Invoke(e)) if e.error_type() == "Runtime.ExitError"), "{result:?}");
}

#[tokio::test]
async fn a_caller_cancelled_mid_invocation_does_not_leak_its_lease() {
    let (h, rt) = spawn_with(FunctionConfig { limit: 1, ..config(fake_rie().await) }).await;
    let call = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 2000}"), None).await })
    };
    eventually("the call holds the container", || creates(&rt) == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    call.abort();
    eventually("the unknown-state container is removed", || removes(&rt) == 1).await;
    let ok = h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(ok.outcome, Outcome::Success, "limit 1 and the function still serves: the lease came back");
}

#[tokio::test]
async fn start_failures_and_an_unreachable_engine_fail_fast_with_the_reason() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    rt.set_faults(Faults { start_fails: true, ..Default::default() });
    let err = h.invoke(Bytes::from_static(b"{}"), None).await.unwrap_err();
    assert!(err.to_string().contains("could not start a container for Fn: Docker engine: fake start failure"), "{err}");
    eventually("the half-started container is removed", || removes(&rt) == 1).await;

    rt.set_faults(Faults { unavailable: true, ..Default::default() });
    let started = std::time::Instant::now();
    let err = h.invoke(Bytes::from_static(b"{}"), None).await.unwrap_err();
    assert!(err.to_string().contains("cannot reach the Docker engine"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast, not at the queue deadline");

    rt.set_faults(Faults::default());
    assert_eq!(h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success, "recovers when the engine is back");
}

#[tokio::test]
async fn a_slow_cold_start_does_not_stall_warm_requests() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await; // limit 2
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    // Hold the warm container, so the next caller forces a (slow) second start.
    let holder = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 300}"), None).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    rt.set_faults(Faults { start_delay: Some(Duration::from_secs(1)), ..Default::default() });
    let cold = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{}"), None).await })
    };
    holder.await.unwrap().unwrap();
    // The warm container came back while the second one is still starting: stats answer at once.
    let started = std::time::Instant::now();
    let s = stats(&h).await;
    assert!(started.elapsed() < Duration::from_millis(100), "the actor is not blocked by the start");
    assert_eq!(s.starting + s.busy + s.idle, 2);
    cold.await.unwrap().unwrap();
}

#[tokio::test]
async fn stopping_the_actor_removes_its_containers() {
    let (h, rt) = spawn_with(FunctionConfig { min_warm: 2, ..config(fake_rie().await) }).await;
    eventually("prewarmed", || creates(&rt) == 2).await;
    eventually("both ready", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let actor = h.actor_ref().expect("running");
    actor.stop_and_wait(None, None).await.unwrap();
    assert_eq!(removes(&rt), 2);
    assert!(matches!(h.invoke(Bytes::from_static(b"{}"), None).await, Err(InvokeFailure::Unavailable(_))));
}

#[tokio::test]
async fn a_restarted_actor_adopts_matching_containers_and_removes_stale_ones() {
    use esb_runtime::labels::key;
    use esb_runtime::{ContainerSpec, Labels};
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cfg = Arc::new(config(port));
    let project = cfg.project.clone();
    let mine = |hash: &str| {
        Labels::new().with(key::PROJECT, project.clone()).with(key::FUNCTION, "Fn").role(Role::Function).with(key::CONFIG_HASH, hash)
    };
    let mut ids = vec![];
    for (name, labels, start) in [
        ("good-1", mine("h"), true),
        ("good-2", mine("h"), true),
        ("stale", mine("old"), true),
        ("stopped", mine("h"), false),
        (
            "other-project",
            Labels::new().with(key::PROJECT, "q").with(key::FUNCTION, "Fn").role(Role::Function).with(key::CONFIG_HASH, "h"),
            true,
        ),
        ("not-esb", Labels::default(), true),
    ] {
        let id = rt.create_container(&ContainerSpec { name: name.into(), labels, ..Default::default() }).await.unwrap();
        if start {
            rt.start_container(&id).await.unwrap();
        }
        ids.push(id);
    }
    let baseline = creates(&rt);
    let runtime: Arc<dyn Runtime> = rt.clone();
    Actor::spawn(Some(crate::function::actor_name(&cfg.project, &cfg.function)), FunctionActor, (cfg.clone(), runtime, None))
        .await
        .unwrap();
    let h = FunctionHandle::new(cfg);
    let s = stats(&h).await;
    assert_eq!((s.idle, s.removed), (2, 2), "two adopted; the stale and the stopped one removed");
    let removed: Vec<String> = rt.calls().into_iter().filter_map(|c| if let Call::Remove(id) = c { Some(id) } else { None }).collect();
    assert_eq!(removed, [ids[2].clone(), ids[3].clone()], "never another project's or a non-esb container");
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(creates(&rt), baseline, "served by an adopted container: nothing started");
}

// === Supervision ===

async fn supervise(
    cfgs: Vec<FunctionConfig>,
    policy: crate::RestartPolicy,
) -> (ractor::ActorRef<crate::SupervisorMsg>, Vec<FunctionHandle>, Arc<FakeRuntime>) {
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cfgs: Vec<Arc<FunctionConfig>> = cfgs.into_iter().map(Arc::new).collect();
    let runtime: Arc<dyn Runtime> = rt.clone();
    let (sup, _) = Actor::spawn(None, crate::FunctionSupervisor, (cfgs.clone(), runtime, policy, None)).await.unwrap();
    (sup, cfgs.into_iter().map(FunctionHandle::new).collect(), rt)
}

async fn status(sup: &ractor::ActorRef<crate::SupervisorMsg>) -> std::collections::BTreeMap<String, crate::FunctionStatus> {
    ractor::call_t!(sup, crate::SupervisorMsg::Status, 2000).unwrap()
}

#[tokio::test]
async fn a_panicking_function_actor_is_restarted_and_adopts_its_warm_containers() {
    let port = fake_rie().await;
    let (sup, handles, rt) = supervise(vec![FunctionConfig { min_warm: 2, ..config(port) }], crate::RestartPolicy::default()).await;
    let h = &handles[0];
    eventually("prewarmed", || creates(&rt) == 2).await;
    eventually("both ready", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = h.actor_ref().expect("running").get_id();
    h.actor_ref().unwrap().cast(crate::FunctionMsg::InjectPanic).unwrap();
    let mut replaced = false;
    for _ in 0..300 {
        if h.actor_ref().is_some_and(|a| a.get_id() != first) && h.stats().await.is_some() {
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(replaced, "a new actor took over");
    let s = stats(h).await;
    assert_eq!((s.idle, s.started, s.removed), (2, 0, 0), "the new actor adopted both containers");
    assert_eq!(h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    assert_eq!(creates(&rt), 2, "nothing started, nothing leaked");
    assert_eq!(status(&sup).await["Fn"].recent_restarts, 1);
}

#[tokio::test]
async fn repeated_failures_stop_restarting_with_backoff_while_other_functions_serve() {
    let port = fake_rie().await;
    let policy = crate::RestartPolicy {
        max_restarts: 2,
        window: Duration::from_secs(30),
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    };
    let steady = FunctionConfig { function: "Steady".into(), ..config(port) };
    let (sup, handles, _rt) = supervise(vec![config(port), steady], policy).await;
    let (flaky, steady) = (&handles[0], &handles[1]);
    let started = std::time::Instant::now();
    for round in 1..=3 {
        let before = flaky.actor_ref().expect("running").get_id();
        flaky.actor_ref().unwrap().cast(crate::FunctionMsg::InjectPanic).unwrap();
        if round < 3 {
            eventually("restarted", || flaky.actor_ref().is_some_and(|a| a.get_id() != before)).await;
        }
    }
    eventually("left down", || flaky.actor_ref().is_none()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(flaky.actor_ref().is_none(), "no further restart after the limit");
    assert!(started.elapsed() >= Duration::from_millis(150), "backoff 50 ms then 100 ms: not a hot loop");
    let st = status(&sup).await;
    assert!(st["Fn"].failed.as_deref().unwrap_or_default().contains("fault injected"), "{st:?}");
    assert!(!st["Fn"].running);
    assert!(matches!(flaky.invoke(Bytes::from_static(b"{}"), None).await, Err(InvokeFailure::Unavailable(_))));
    assert_eq!(steady.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success, "the other function is untouched");
}

#[tokio::test]
async fn stopping_the_supervisor_stops_every_function_and_removes_their_containers() {
    let port = fake_rie().await;
    let cfgs = vec![FunctionConfig { min_warm: 1, ..config(port) }, FunctionConfig { function: "Two".into(), min_warm: 1, ..config(port) }];
    let (sup, handles, rt) = supervise(cfgs, crate::RestartPolicy::default()).await;
    eventually("both prewarmed and ready", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    sup.stop_and_wait(None, None).await.unwrap();
    eventually("containers removed", || removes(&rt) == 2).await;
    assert!(handles.iter().all(|h| h.actor_ref().is_none()));
}

// === Graceful shutdown ===

#[tokio::test]
async fn draining_refuses_new_work_lets_in_flight_finish_then_removes_containers() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await; // limit 2
    let slow = |h: FunctionHandle| tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 300}"), None).await });
    let (a, b) = (slow(h.clone()), slow(h.clone()));
    eventually("both in flight", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let drain = {
        let h = h.clone();
        tokio::spawn(async move { h.drain(Duration::from_secs(5), false).await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let refused = h.invoke(Bytes::from_static(b"{}"), None).await;
    assert!(matches!(refused, Err(InvokeFailure::Acquire(AcquireError::Stopping { .. }))), "{refused:?}");
    assert_eq!(a.await.unwrap().unwrap().outcome, Outcome::Success);
    assert_eq!(b.await.unwrap().unwrap().outcome, Outcome::Success);
    let report = drain.await.unwrap().expect("drained");
    assert_eq!((report.finished, report.cut_off, report.kept), (2, 0, 0));
    eventually("containers removed", || removes(&rt) == 2).await;
    assert!(h.actor_ref().is_none(), "the actor stopped");
}

#[tokio::test]
async fn the_drain_deadline_cuts_off_stragglers_and_never_keeps_their_containers() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    let straggler = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 3000}"), None).await })
    };
    eventually("the straggler holds a container", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap(); // scales out; that container is then idle
    let s = stats(&h).await;
    assert_eq!((s.idle + s.busy, s.busy), (2, 1), "{s:?}");
    let started = std::time::Instant::now();
    let report = h.drain(Duration::from_millis(200), true).await.expect("drained");
    assert!(started.elapsed() < Duration::from_secs(1), "the deadline is kept");
    assert_eq!((report.finished, report.cut_off, report.kept), (0, 1, 1), "keep=true keeps the idle one only");
    eventually("the cut-off container removed", || removes(&rt) == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(removes(&rt), 1, "the idle container is kept for adoption");
    straggler.abort();
}

#[tokio::test]
async fn a_drain_waits_for_a_container_still_starting_and_removes_it() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    rt.set_faults(Faults { start_delay: Some(Duration::from_millis(400)), ..Default::default() });
    let caller = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{}"), None).await })
    };
    eventually("a start under way", || creates(&rt) == 1).await;
    let report = h.drain(Duration::from_secs(5), false).await.expect("drained");
    assert_eq!((report.finished, report.cut_off, report.kept), (0, 0, 0));
    let refused = caller.await.unwrap();
    assert!(matches!(refused, Err(InvokeFailure::Acquire(AcquireError::Stopping { .. }))), "{refused:?}");
    eventually("the late container removed", || removes(&rt) == 1).await;
    assert!(rt.containers(&esb_runtime::Labels::default()).await.unwrap().is_empty(), "nothing left behind");
}

#[tokio::test]
async fn a_container_that_finishes_starting_after_the_drain_deadline_removes_itself() {
    let (h, rt) = spawn_with(config(fake_rie().await)).await;
    rt.set_faults(Faults { start_delay: Some(Duration::from_millis(600)), ..Default::default() });
    let caller = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{}"), None).await })
    };
    eventually("a start under way", || creates(&rt) == 1).await;
    h.drain(Duration::from_millis(50), false).await.expect("drained");
    assert!(h.actor_ref().is_none(), "the actor stopped at its deadline");
    let _ = caller.await;
    eventually("the orphaned container removed", || removes(&rt) == 1).await;
    assert!(rt.containers(&esb_runtime::Labels::default()).await.unwrap().is_empty(), "nothing left behind");
}

#[tokio::test]
async fn supervisor_shutdown_drains_every_function_without_restarting_any() {
    let port = fake_rie().await;
    let cfgs = vec![FunctionConfig { min_warm: 1, ..config(port) }, FunctionConfig { function: "Two".into(), min_warm: 1, ..config(port) }];
    let (sup, handles, rt) = supervise(cfgs, crate::RestartPolicy::default()).await;
    eventually("both ready", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reports =
        ractor::call_t!(sup, |reply| crate::SupervisorMsg::Shutdown { grace: Duration::from_secs(2), keep: false, reply }, 5000).unwrap();
    assert_eq!(reports.len(), 2);
    eventually("the supervisor stopped", || sup.get_status() == ractor::ActorStatus::Stopped).await;
    eventually("containers removed", || removes(&rt) == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(handles.iter().all(|h| h.actor_ref().is_none()), "nothing was restarted");
    assert_eq!(creates(&rt), 2);
}

// === The whole tree ===

async fn manager(functions: Vec<FunctionConfig>, global_limit: usize, rt: Arc<FakeRuntime>) -> crate::Manager {
    let project = functions[0].project.clone();
    let runtime: Arc<dyn Runtime> = rt;
    crate::Manager::start(crate::ManagerArgs { project, functions, rt: runtime, global_limit, policy: crate::RestartPolicy::default() })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_global_limit_spans_functions_and_frees_slots_when_containers_go() {
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let one = FunctionConfig { limit: 5, ..config(port) };
    let two = FunctionConfig { function: "Two".into(), project: one.project.clone(), limit: 5, ..config(port) };
    let m = manager(vec![one, two], 3, rt.clone()).await;
    let (a, b) = (m.function("Fn").unwrap().clone(), m.function("Two").unwrap().clone());
    let hold = |h: FunctionHandle| tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 400}"), None).await });
    let held = vec![hold(a.clone()), hold(a.clone()), hold(b.clone())];
    eventually("three containers busy", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 3).await;
    let refused = b.invoke(Bytes::from_static(b"{}"), None).await;
    assert!(matches!(refused, Err(InvokeFailure::Acquire(AcquireError::GlobalLimit { .. }))), "{refused:?}");
    assert!(refused.unwrap_err().to_string().contains("TooManyRequestsException"));
    assert_eq!(m.pool().await.unwrap().used, 3);
    for h in held {
        h.await.unwrap().unwrap();
    }
    // A function with a warm container serves; the other still cannot scale out past 3 in all.
    assert_eq!(b.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    let reports = m.shutdown(Duration::from_secs(2), false).await;
    assert_eq!(reports.len(), 2);
    eventually("all three removed", || removes(&rt) == 3).await;
}

#[tokio::test]
async fn start_clears_containers_of_removed_functions_and_adopts_the_rest() {
    use esb_runtime::labels::key;
    use esb_runtime::{ContainerSpec, Labels};
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cfg = config(port);
    let labels = |f: &str| {
        Labels::new().with(key::PROJECT, cfg.project.clone()).with(key::FUNCTION, f).role(Role::Function).with(key::CONFIG_HASH, "h")
    };
    let mut ids = vec![];
    for (name, f) in [("gone", "Gone"), ("kept", "Fn")] {
        let id = rt.create_container(&ContainerSpec { name: name.into(), labels: labels(f), ..Default::default() }).await.unwrap();
        rt.start_container(&id).await.unwrap();
        ids.push(id);
    }
    let m = manager(vec![cfg], 10, rt.clone()).await;
    let pool = m.pool().await.unwrap();
    assert_eq!((pool.cleared, pool.used), (1, 1), "Gone's container cleared; Fn's adopted and counted");
    let removed: Vec<String> = rt.calls().into_iter().filter_map(|c| if let Call::Remove(id) = c { Some(id) } else { None }).collect();
    assert_eq!(removed, [ids[0].clone()]);
    assert_eq!(stats(m.function("Fn").unwrap()).await.idle, 1);
    m.shutdown(Duration::from_secs(1), true).await;
}

#[tokio::test]
async fn the_root_stops_everything_when_a_core_part_dies() {
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let m = manager(vec![FunctionConfig { min_warm: 1, ..config(port) }], 10, rt.clone()).await;
    eventually("prewarmed", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 1).await;
    m.child::<crate::pool::PoolMsg>().expect("pool").kill();
    eventually("the function is stopped with the tree", || m.function("Fn").unwrap().actor_ref().is_none()).await;
    eventually("the root stopped", || !m.is_running()).await;
}

#[tokio::test]
async fn failing_prewarm_starts_back_off_instead_of_looping_hot() {
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    rt.set_faults(Faults { start_fails: true, ..Default::default() });
    let cfg = Arc::new(FunctionConfig { min_warm: 1, ..config(fake_rie().await) });
    let runtime: Arc<dyn Runtime> = rt.clone();
    Actor::spawn(Some(crate::function::actor_name(&cfg.project, &cfg.function)), FunctionActor, (cfg.clone(), runtime, None))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Without backoff the 50 ms tick would have tried about 30 times; with it: at 0 s and after 1 s.
    let attempts = creates(&rt);
    assert!((1..=2).contains(&attempts), "{attempts} start attempts in 1.5 s");
    rt.set_faults(Faults::default());
    let h = FunctionHandle::new(cfg);
    assert_eq!(
        h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome,
        Outcome::Success,
        "a caller still gets an immediate start"
    );
}

/// The config hash of every container the fake engine holds.
async fn config_hashes(rt: Arc<FakeRuntime>) -> Vec<String> {
    let all = rt.containers(&esb_runtime::Labels::default()).await.unwrap();
    all.iter().filter_map(|c| c.labels.get(esb_runtime::labels::key::CONFIG_HASH).map(str::to_string)).collect()
}

#[tokio::test]
async fn new_code_replaces_a_warm_container_before_the_next_request() {
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let one = config(port);
    let mut m = manager(vec![one.clone()], 10, rt.clone()).await;
    let h = m.function("Fn").unwrap().clone();
    assert_eq!(h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    let new_code = FunctionConfig { config_hash: "h2".into(), ..one.clone() };
    m.apply(vec![new_code], Duration::from_secs(2)).await.unwrap();
    let hashes = || config_hashes(rt.clone());
    for _ in 0..300 {
        if hashes().await == ["h2"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hashes().await, ["h2"], "the old container went and one on the new code started without a request");
    let lease_was_cold = m.function("Fn").unwrap().invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(lease_was_cold.outcome, Outcome::Success);
    assert_eq!(rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count(), 2, "the next request reused it");
    m.shutdown(Duration::from_secs(2), false).await;
}

#[tokio::test]
async fn a_reload_adds_removes_and_swaps_code_with_in_flight_work_finishing_on_the_old() {
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let one = FunctionConfig { limit: 3, ..config(port) };
    let two = FunctionConfig { function: "Two".into(), project: one.project.clone(), ..config(port) };
    let mut m = manager(vec![one.clone(), two.clone()], 10, rt.clone()).await;
    let old = m.function("Fn").unwrap().clone();
    assert_eq!(old.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    // The warm container is busy with a slow invocation when the new code arrives.
    let slow = {
        let h = old.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(b"{\"sleep_ms\": 500}"), None).await })
    };
    eventually("the slow invocation holds the container", || rt.calls().iter().filter(|c| matches!(c, Call::Start(_))).count() == 1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let new_code = FunctionConfig { image: "esb-p/fn:c-2".into(), config_hash: "h2".into(), ..one.clone() };
    let three = FunctionConfig { function: "Three".into(), ..one.clone() };
    let report = m.apply(vec![new_code, three], Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        (report.added, report.removed, report.changed),
        (vec!["Three".to_string()], vec!["Two".to_string()], vec!["Fn".to_string()])
    );
    // The next request gets a new container while the old one is still busy: no gap, new code.
    let fresh = m.function("Fn").unwrap().clone();
    assert_eq!(fresh.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    let by_hash = |hash: &'static str| {
        let rt = rt.clone();
        async move {
            let all = rt.containers(&esb_runtime::Labels::default()).await.unwrap();
            all.iter().filter(|c| c.labels.get(esb_runtime::labels::key::CONFIG_HASH) == Some(hash)).count()
        }
    };
    assert_eq!(by_hash("h2").await, 1, "the new code runs in its own container");
    assert_eq!(slow.await.unwrap().unwrap().outcome, Outcome::Success, "in flight finished on the old code");
    for _ in 0..300 {
        if by_hash("h").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(by_hash("h").await, 0, "the old code's container is gone once released");
    assert_eq!(fresh.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    assert_eq!(by_hash("h2").await, 1, "and the new one is reused");
    let added = m.function("Three").unwrap().clone();
    assert_eq!(added.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    assert!(m.function("Two").is_none());
    let gone = FunctionHandle::new(Arc::new(two));
    eventually("the removed function's actor stopped", || gone.actor_ref().is_none()).await;
    let status = m.status().await;
    assert_eq!(status.keys().cloned().collect::<Vec<_>>(), ["Fn", "Three"]);
    m.shutdown(Duration::from_secs(2), false).await;
}

#[tokio::test]
async fn a_reload_storm_refuses_no_request_and_ends_on_the_last_code() {
    // Issue 19: a file appended every 200 ms reloaded the function 100 times in 20 s, and every
    // reload removed the warm container at once, so one request in five got 429.
    let port = fake_rie().await;
    let rt = Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let one = FunctionConfig { limit: 1, queue_timeout: Duration::from_millis(150), ..config(port) };
    let mut m = manager(vec![one.clone()], 10, rt.clone()).await;
    let h = m.function("Fn").unwrap().clone();
    assert_eq!(h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    // A start takes longer than the time between reloads: no start finishes on the current code
    // until the storm ends.
    rt.set_faults(Faults { start_delay: Some(Duration::from_millis(120)), ..Default::default() });
    let traffic = {
        let h = h.clone();
        tokio::spawn(async move {
            let mut failed = vec![];
            for i in 0..60 {
                if let Err(e) = h.invoke(Bytes::from(format!("{{\"n\":{i}}}")), None).await {
                    failed.push(e.to_string());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failed
        })
    };
    for n in 0..15 {
        let cfg = FunctionConfig { config_hash: format!("h{n}"), ..one.clone() };
        m.apply(vec![cfg], Duration::from_secs(2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = traffic.await.unwrap();
    assert!(failed.is_empty(), "{} of 60 requests failed during the reloads: {failed:?}", failed.len());
    let hashes = || config_hashes(rt.clone());
    for _ in 0..300 {
        if hashes().await == ["h14"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(hashes().await, ["h14"], "one container, on the last code, within the limit of 1");
    assert_eq!(h.invoke(Bytes::from_static(b"{}"), None).await.unwrap().outcome, Outcome::Success);
    m.shutdown(Duration::from_secs(2), false).await;
}
