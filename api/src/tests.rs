//! Both sides of the manager API over a real unix socket, with FunctionActors on the fake runtime
//! and the fake RIE (every fake container's address is that one RIE).

use crate::client::{CallError, Client};
use crate::remote::Remote;
use crate::server::{bind, ApiServer, Functions};
use crate::{AcquireRequest, ApiError, ReleaseRequest};
use bytes::Bytes;
use esb_actors::{FunctionActor, FunctionConfig, FunctionHandle, InvokeFailure};
use esb_gateway::Invoker;
use esb_runtime::fake::{fake_rie, FakeRuntime};
use esb_runtime::Runtime;
use ractor::Actor;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn unique_project() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("api{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn config(project: &str, port: u16) -> FunctionConfig {
    FunctionConfig::for_tests(project, port)
}

/// A "manager": the function's actor on `rt` and the API on a socket in `dir`.
async fn manager(cfg: &Arc<FunctionConfig>, rt: &Arc<FakeRuntime>, socket: &Path) -> (Arc<ApiServer>, tokio::task::JoinHandle<()>) {
    let runtime: Arc<dyn Runtime> = rt.clone();
    let name = esb_actors::function::actor_name(&cfg.project, &cfg.function);
    Actor::spawn(Some(name), FunctionActor, (cfg.clone(), runtime, None)).await.unwrap();
    let functions: Functions = [("Fn".to_string(), FunctionHandle::new(cfg.clone()))].into();
    let server = ApiServer::new(&cfg.project, functions);
    let listener = bind(socket).await.unwrap();
    let task = tokio::spawn(server.clone().serve(listener, std::future::pending()));
    (server, task)
}

/// Kills the manager: its API and its actor, as a kill -9 would (containers stay).
async fn kill(cfg: &FunctionConfig, task: tokio::task::JoinHandle<()>) {
    task.abort();
    let _ = task.await;
    if let Some(a) = ractor::ActorRef::<esb_actors::FunctionMsg>::where_is(esb_actors::function::actor_name(&cfg.project, &cfg.function)) {
        a.kill();
        let _ = a.wait(Some(Duration::from_secs(2))).await;
    }
}

fn setup() -> (tempfile::TempDir, PathBuf, Arc<FakeRuntime>) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run/manager.sock");
    (dir, socket, Arc::new(FakeRuntime::with_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))))
}

fn remote(socket: &Path, wait: Duration) -> Remote {
    Remote::new(Arc::new(Client::new(socket, Duration::from_secs(10))), ["Fn".to_string()].into(), wait)
}

#[tokio::test]
async fn a_split_gateway_invokes_through_leases_and_gives_every_one_back() {
    let (_dir, socket, rt) = setup();
    let cfg = Arc::new(config(&unique_project(), fake_rie().await));
    let (server, _task) = manager(&cfg, &rt, &socket).await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(socket.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let r = remote(&socket, Duration::from_secs(1));
    for i in 0..3 {
        let inv = r.invoke("Fn", Bytes::from(format!("{{\"n\":{i}}}")), "Root=1-a-b").await.unwrap().unwrap();
        assert_eq!(inv.body, format!("{{\"echo\":{{\"n\":{i}}}}}"));
    }
    assert!(r.invoke("Other", Bytes::from("{}"), "t").await.is_none(), "unknown functions are not the manager's to answer");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.outstanding(), 0, "every lease was released");
    let stats = FunctionHandle::new(cfg.clone()).stats().await.unwrap();
    assert_eq!((stats.started, stats.idle, stats.busy), (1, 1, 0), "one cold start, then warm reuse: {stats:?}");
    // A second manager on the same socket is refused while the first answers.
    let e = bind(&socket).await.unwrap_err();
    assert!(e.to_string().contains("already answers"), "{e}");
}

#[tokio::test]
async fn refusals_carry_the_same_failure_as_in_one_process() {
    let (_dir, socket, rt) = setup();
    let mut c = config(&unique_project(), fake_rie().await);
    c.limit = 1;
    c.queue_timeout = Duration::from_millis(100);
    let cfg = Arc::new(c);
    let (_server, _task) = manager(&cfg, &rt, &socket).await;
    let client = Client::new(&socket, Duration::from_secs(5));
    let first = client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: None }).await.unwrap();
    let second = client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: None }).await;
    assert!(matches!(second, Err(CallError::Refused(ApiError::Throttled { limit: 1, .. }))), "{second:?}");
    let unknown = client.acquire(&AcquireRequest { function: "Nope".into(), trace_id: None, epoch: None }).await;
    assert!(matches!(unknown, Err(CallError::Refused(ApiError::UnknownFunction { .. }))), "{unknown:?}");
    let stale = client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: Some("old".into()) }).await;
    assert!(matches!(&stale, Err(CallError::Refused(ApiError::NewEpoch { epoch })) if *epoch == first.epoch), "{stale:?}");
    // A release naming another container is ignored: the lease stays held.
    client.release(&ReleaseRequest { lease: first.lease, container: "someone-else".into(), healthy: true }).await.unwrap();
    let still = client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: None }).await;
    assert!(matches!(still, Err(CallError::Refused(ApiError::Throttled { .. }))), "{still:?}");
    client.release(&ReleaseRequest { lease: first.lease, container: first.container.clone(), healthy: true }).await.unwrap();
    client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: Some(first.epoch) }).await.unwrap();
}

#[tokio::test]
async fn a_lease_never_released_expires_and_its_container_is_replaced() {
    let (_dir, socket, rt) = setup();
    let cfg = Arc::new(config(&unique_project(), fake_rie().await));
    let (server, _task) = manager(&cfg, &rt, &socket).await;
    let client = Client::new(&socket, Duration::from_secs(5));
    client.acquire(&AcquireRequest { function: "Fn".into(), trace_id: None, epoch: None }).await.unwrap();
    assert_eq!(server.expire(Instant::now()), 0, "not before the function's timeout and the slack");
    assert_eq!(server.expire(Instant::now() + Duration::from_secs(3) + crate::server::LEASE_SLACK), 1);
    let h = FunctionHandle::new(cfg.clone());
    for _ in 0..100 {
        if h.stats().await.unwrap().removed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = h.stats().await.unwrap();
    assert_eq!((stats.busy, stats.idle, stats.removed), (0, 0, 1), "{stats:?}");
}

#[tokio::test]
async fn while_the_manager_is_away_warm_requests_use_known_idle_containers_and_cold_ones_get_503() {
    let (_dir, socket, rt) = setup();
    let cfg = Arc::new(config(&unique_project(), fake_rie().await));
    let (_server, task) = manager(&cfg, &rt, &socket).await;
    let r = remote(&socket, Duration::from_millis(300));
    r.invoke("Fn", Bytes::from("{}"), "t").await.unwrap().unwrap();
    kill(&cfg, task).await;
    // One container is known idle: the request runs on it without the manager.
    let inv = r.invoke("Fn", Bytes::from("{\"away\":1}"), "t").await.unwrap().unwrap();
    assert_eq!(inv.body, "{\"echo\":{\"away\":1}}");
    // Two at once: one gets the known-idle container, the other would need a new one: 503 after the wait.
    let slow = Bytes::from("{\"sleep_ms\":600}");
    let started = Instant::now();
    let (a, b) = tokio::join!(r.invoke("Fn", slow.clone(), "t"), r.invoke("Fn", slow, "t"));
    let results = [a.unwrap(), b.unwrap()];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(InvokeFailure::Unavailable(m)) if m.contains("unreachable"))), "{results:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "the wait is bounded");
}

#[tokio::test]
async fn a_restarted_manager_never_hands_out_a_container_the_gateway_is_still_invoking() {
    let (_dir, socket, rt) = setup();
    let cfg = Arc::new(config(&unique_project(), fake_rie().await));
    let (_server, task) = manager(&cfg, &rt, &socket).await;
    let r = Arc::new(remote(&socket, Duration::from_secs(5)));
    // Two warm containers: one invocation each at once.
    let warm = Bytes::from("{\"sleep_ms\":100}");
    let (a, b) = tokio::join!(r.invoke("Fn", warm.clone(), "t"), r.invoke("Fn", warm, "t"));
    a.unwrap().unwrap();
    b.unwrap().unwrap();
    // A long invocation is in flight when the manager dies and a new one starts, adopting both
    // containers as idle from their labels.
    let slow = {
        let r = r.clone();
        tokio::spawn(async move { r.invoke("Fn", Bytes::from("{\"sleep_ms\":1500}"), "t").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill(&cfg, task).await;
    let (server, _task) = manager(&cfg, &rt, &socket).await;
    let h = FunctionHandle::new(cfg.clone());
    assert_eq!(h.stats().await.unwrap().idle, 2, "the new manager adopted both containers");
    // The next request sees the new epoch, claims the busy container first, then gets the other.
    r.invoke("Fn", Bytes::from("{}"), "t").await.unwrap().unwrap();
    let stats = h.stats().await.unwrap();
    assert_eq!((stats.busy, stats.idle), (1, 1), "the in-flight container is leased to its caller, not idle: {stats:?}");
    // Limit 2: a third caller now has to wait for the long one instead of sharing its container.
    slow.await.unwrap().unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.outstanding(), 0, "the claimed lease was released when the invocation finished");
    let stats = h.stats().await.unwrap();
    assert_eq!((stats.busy, stats.idle, stats.started), (0, 2, 0), "{stats:?}");
}

#[tokio::test]
async fn a_split_gateway_hands_events_to_the_managers_queue_and_refuses_while_it_is_away() {
    let (dir, socket, rt) = setup();
    let cfg = Arc::new(FunctionConfig { function: "Fn".into(), ..config(&unique_project(), fake_rie().await) });
    let (_server, task) = manager(&cfg, &rt, &socket).await;
    let target =
        esb_actors::events::Target { handle: FunctionHandle::new(cfg.clone()), function_name: "Fn".into(), config: Default::default() };
    let queue = esb_actors::events::queue::start(esb_actors::events::QueueArgs {
        project: cfg.project.clone(),
        region: "eu-west-1".into(),
        dir: dir.path().join("events"),
        targets: vec![target],
        retry_base: Duration::from_millis(20),
        capacity: 10,
    })
    .await
    .unwrap();
    let r = remote(&socket, Duration::from_millis(300));
    let id = r.enqueue("Fn", "{\"n\": 1}".into(), "Root=1-a-b").await.unwrap();
    assert_eq!(id.len(), 36);
    let journal = std::fs::read_to_string(dir.path().join("events/Fn.journal")).unwrap();
    assert!(journal.contains(&id), "on the manager's disk before the gateway heard its id");
    for _ in 0..100 {
        let stats = ractor::call_t!(queue, esb_actors::events::QueueMsg::Stats, 1000).unwrap();
        if stats["Fn"].succeeded == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = ractor::call_t!(queue, esb_actors::events::QueueMsg::Stats, 1000).unwrap();
    assert_eq!(stats["Fn"].succeeded, 1, "{stats:?}");
    assert!(matches!(r.enqueue("Other", "{}".into(), "t").await, Err(esb_actors::events::EnqueueError::UnknownFunction { .. })));
    // The manager is away: nothing can be journaled, so nothing is accepted (503 after the wait).
    kill(&cfg, task).await;
    let started = Instant::now();
    assert_eq!(r.enqueue("Fn", "{}".into(), "t").await.unwrap_err(), esb_actors::events::EnqueueError::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(2), "bounded by the wait: {:?}", started.elapsed());
    esb_actors::events::queue::stop(queue, Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_split_gateway_reports_the_runtimes_own_failure_which_the_manager_reads_from_its_log() {
    let (_dir, socket, rt) = setup();
    let cfg = Arc::new(config(&unique_project(), fake_rie().await));
    let (server, _task) = manager(&cfg, &rt, &socket).await;
    // RIE answers before the engine has its log line (seen in CI): the reason arrives later.
    rt.set_logs("01 Dec 2026 22:46:17,100 [INFO] (rapid) exec '/var/runtime/bootstrap'\n");
    let late = rt.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        late.set_logs(
            "01 Dec 2026 22:46:17,152 [WARNING] (rapid) First fatal error stored in appctx: Runtime.InvalidEntrypoint\n\
             01 Dec 2026 22:46:17,152 [ERROR] (rapid) Init failed error=fork/exec /var/task/bootstrap: no such file or directory InvokeID=\n",
        );
    });
    let r = remote(&socket, Duration::from_secs(1));
    // The fake RIE answers HTTP 500 (as RIE answers 502 when the runtime cannot start).
    let failed = r.invoke("Fn", Bytes::from(r#"{"garbage":true}"#), "Root=1-a-b").await.unwrap();
    let Err(InvokeFailure::Invoke(e)) = failed else { panic!("{failed:?}") };
    assert_eq!(e.error_type(), "Runtime.InvalidEntrypoint", "{e}");
    assert!(e.to_string().contains("fork/exec /var/task/bootstrap: no such file or directory"), "{e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.outstanding(), 0, "the broken container's lease was released after the explain");

    // Only the holder of a lease may read a container's log.
    let client = Client::new(&socket, Duration::from_secs(5));
    let other = client.explain(&crate::ExplainRequest { lease: 999, container: "nope".into() }).await.unwrap();
    assert_eq!(other.logs, None);
}
