//! The FunctionActor on the real Docker engine with real RIE containers (the static Rust echo
//! function on esb's `provided` base). Needs Docker; fails without it (CI has it).

use bytes::Bytes;
use esb_actors::{FunctionActor, FunctionConfig, FunctionHandle, InvokeFailure};
use esb_runtime::docker::DockerRuntime;
use esb_runtime::rie::{InvokeError, Outcome};
use esb_runtime::Runtime;
use ractor::Actor;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The echo image (built once per test process) and a config for it.
async fn echo_config(project: &str) -> FunctionConfig {
    static IMAGE: OnceCell<(String, Vec<String>, tempfile::TempDir)> = OnceCell::const_new();
    let (image, env, _) = IMAGE
        .get_or_init(|| async {
            let dir = esb_tests::faults_project();
            let ws = esb_config::Workspace::open(&dir.path().join("template.yaml"), &Default::default()).unwrap();
            let project = ws.compile().unwrap();
            esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project).unwrap()).unwrap();
            let rt = DockerRuntime::connect().await.expect("Docker is needed for these tests");
            let options = esb_images::Options { only: vec!["Echo".into()], images_dir: ws.images_dir.clone(), ..Default::default() };
            let report = esb_images::build_project(&rt, &project, dir.path(), &ws.output_dir, &options, &|_| {}).await.unwrap();
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            let spec = &project.functions.functions["Echo"];
            let env = esb_config::lambda_env::lambda_env(spec, "us-east-1", &[]).into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            (report.functions["Echo"].0.reference.clone(), env, dir)
        })
        .await;
    FunctionConfig {
        project: project.into(),
        function: "Echo".into(),
        image: image.clone(),
        env: env.clone(),
        memory_mb: 128,
        timeout: Duration::from_secs(2),
        limit: 5,
        min_warm: 0,
        queue_limit: 100,
        queue_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(600),
        rie_port: esb_runtime::rie::PORT,
        ready_within: Duration::from_secs(10),
        config_hash: "e2e".into(),
        binds: vec![],
        network: None,
        ports: vec![],
    }
}

/// A project name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000)
}

/// Running container ids with the project's label, straight from the engine.
fn containers(project: &str) -> Vec<String> {
    let out = Command::new("docker").args(["ps", "-q", "--filter", &format!("label=esb.project={project}")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

async fn spawn(cfg: FunctionConfig) -> FunctionHandle {
    let rt: Arc<dyn Runtime> = Arc::new(DockerRuntime::connect().await.unwrap());
    let cfg = Arc::new(cfg);
    Actor::spawn(Some(esb_actors::function::actor_name(&cfg.project, &cfg.function)), FunctionActor, (cfg.clone(), rt, None))
        .await
        .unwrap();
    FunctionHandle::new(cfg)
}

async fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "timed out after {within:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_invocations_against_a_limit_of_five_use_exactly_five_containers_then_reap_to_zero() {
    let project = unique("e2e-scale");
    let _cleanup = esb_tests::ProjectContainers(project.clone());
    let h = spawn(FunctionConfig { idle_timeout: Duration::from_secs(3), ..echo_config(&project).await }).await;
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.invoke(Bytes::from(format!("{{\"action\":\"sleep\",\"seconds\":0.2,\"n\":{i}}}")), None).await })
        })
        .collect();
    let mut answered = 0;
    for (i, c) in calls.into_iter().enumerate() {
        let inv = c.await.unwrap().unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(inv.outcome, Outcome::Success);
        let body: serde_json::Value = serde_json::from_slice(&inv.body).unwrap();
        assert_eq!(body["echo"]["n"], i, "each caller gets its own answer");
        answered += 1;
    }
    assert_eq!(answered, 50);
    assert_eq!(containers(&project).len(), 5, "exactly the limit");
    let s = h.stats().await.unwrap();
    assert_eq!((s.started, s.idle), (5, 5));
    until("idle containers reaped", Duration::from_secs(15), || containers(&project).is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_killed_mid_invocation_fails_that_request_clearly_and_the_next_succeeds() {
    let project = unique("e2e-kill");
    let _cleanup = esb_tests::ProjectContainers(project.clone());
    let h = spawn(FunctionConfig { limit: 1, ..echo_config(&project).await }).await;
    h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    let victim = containers(&project);
    assert_eq!(victim.len(), 1);
    let call = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke(Bytes::from_static(br#"{"action":"sleep","seconds":1.5}"#), None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(Command::new("docker").args(["kill", &victim[0]]).status().unwrap().success());
    let failed = call.await.unwrap();
    assert!(matches!(failed, Err(InvokeFailure::Invoke(InvokeError::ConnectionClosed(_)))), "{failed:?}");
    let next = h.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(next.outcome, Outcome::Success);
    let now = containers(&project);
    assert_eq!(now.len(), 1, "one live container: the replacement");
    assert_ne!(now, victim);
    h.actor_ref().unwrap().stop_and_wait(None, None).await.unwrap();
    assert!(containers(&project).is_empty(), "stopping removes the containers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_actor_is_replaced_by_one_that_adopts_its_running_containers() {
    let project = unique("e2e-adopt");
    let _cleanup = esb_tests::ProjectContainers(project.clone());
    let cfg = FunctionConfig { min_warm: 3, ..echo_config(&project).await };
    let first = spawn(cfg.clone()).await;
    until("three containers prewarmed", Duration::from_secs(20), || containers(&project).len() == 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = containers(&project);
    first.actor_ref().unwrap().kill(); // no post_stop: the containers stay, as after a crash
    tokio::time::sleep(Duration::from_millis(100)).await;

    let adopted_in = Instant::now();
    let second = spawn(cfg.clone()).await;
    let s = second.stats().await.unwrap();
    let took = adopted_in.elapsed();
    assert_eq!((s.idle, s.started, s.removed), (3, 0, 0), "all three adopted, none started or removed");
    let inv = second.invoke(Bytes::from_static(b"{}"), None).await.unwrap();
    assert_eq!(inv.outcome, Outcome::Success);
    let mut after = containers(&project);
    let mut before = before;
    after.sort();
    before.sort();
    assert_eq!(after, before, "the same containers serve; nothing leaked or doubled");
    eprintln!("adopted 3 containers in {took:?}");

    // A config change (new hash) makes the next actor replace them instead.
    second.actor_ref().unwrap().kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = spawn(FunctionConfig { config_hash: "changed".into(), min_warm: 0, ..cfg }).await;
    let s = third.stats().await.unwrap();
    assert_eq!((s.idle, s.removed), (0, 3), "stale containers removed");
    until("stale containers gone", Duration::from_secs(10), || containers(&project).is_empty()).await;
}
