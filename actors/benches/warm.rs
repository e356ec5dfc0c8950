//! Benchmark (needs Docker): the manager's warm invoke path against invoking an RIE container
//! directly, in the same run, and the time to adopt 100 running containers after a crash.
//!
//! Run: `cargo bench -p esb-actors --bench warm` (N=2000 sequential invocations each; ADOPT=100).
//! Under `cargo test` it only checks that it compiles and exits.

use bytes::Bytes;
use esb_actors::{FunctionActor, FunctionConfig, FunctionHandle};
use esb_runtime::docker::DockerRuntime;
use esb_runtime::labels::{key, Role};
use esb_runtime::rie::{RieClient, PORT};
use esb_runtime::{ContainerSpec, Labels, Runtime};
use ractor::Actor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn report(name: &str, mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!("{name:<34} p50 {p50:>8.0} us   p99 {p99:>8.0} us");
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("test warm_bench_smoke ... ok (run `cargo bench -p esb-actors --bench warm` with Docker for timings)");
        return;
    }
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let adopt: usize = std::env::var("ADOPT").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let dir = esb_tests::faults_project();
    let ws = esb_config::Workspace::open(&dir.path().join("template.yaml"), &Default::default()).expect("workspace");
    let project = ws.compile().expect("compile");
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project).expect("render")).expect("write");
    let docker = DockerRuntime::connect().await.expect("Docker");
    let options = esb_images::Options { only: vec!["Echo".into()], images_dir: ws.images_dir.clone(), ..Default::default() };
    let built = esb_images::build_project(&docker, &project, dir.path(), &ws.output_dir, &options, &|_| {}).await.expect("build");
    let image = built.functions["Echo"].0.reference.clone();
    let env: Vec<String> = esb_config::lambda_env::lambda_env(&project.functions.functions["Echo"], "us-east-1", &[])
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let rt: Arc<dyn Runtime> = Arc::new(docker.clone());
    let payload = Bytes::from_static(b"{\"hello\":\"bench\"}");

    // Baseline: one container invoked directly over a keep-alive connection.
    let name = format!("esb-bench-direct-{}", std::process::id());
    let labels = Labels::new().with(key::PROJECT, "bench-direct").role(Role::Function);
    let id = rt
        .create_container(&ContainerSpec { name, image: image.clone(), env: env.clone(), labels, ..Default::default() })
        .await
        .expect("create");
    rt.start_container(&id).await.expect("start");
    let addr = SocketAddr::new(rt.inspect_container(&id).await.expect("inspect").ip.expect("ip"), PORT);
    let client = RieClient::new();
    client.wait_ready(addr, Duration::from_secs(10)).await.expect("ready");
    for _ in 0..50 {
        client.invoke(addr, payload.clone(), None, Duration::from_secs(5)).await.expect("warm-up");
    }
    // The manager path: FunctionHandle -> FunctionActor lease -> RIE -> release.
    let cfg = FunctionConfig {
        project: format!("bench-{}", std::process::id()),
        function: "Echo".into(),
        image: image.clone(),
        env: env.clone(),
        memory_mb: 128,
        timeout: Duration::from_secs(3),
        limit: adopt.max(1),
        min_warm: 0,
        queue_limit: 1000,
        queue_timeout: Duration::from_secs(120),
        idle_timeout: Duration::from_secs(600),
        rie_port: PORT,
        ready_within: Duration::from_secs(30),
        config_hash: "bench".into(),
        binds: vec![],
        network: None,
        ports: vec![],
    };
    let spawn = |cfg: FunctionConfig| {
        let rt = rt.clone();
        async move {
            let cfg = Arc::new(cfg);
            let name = esb_actors::function::actor_name(&cfg.project, &cfg.function);
            Actor::spawn(Some(name), FunctionActor, (cfg.clone(), rt, None)).await.expect("spawn");
            FunctionHandle::new(cfg)
        }
    };
    let h = spawn(cfg.clone()).await;
    for _ in 0..50 {
        h.invoke(payload.clone(), None).await.expect("warm-up");
    }
    // Interleaved, so both paths see the same machine state (running them one after the other
    // measured order effects, not the manager).
    let (mut direct, mut managed) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        client.invoke(addr, payload.clone(), None, Duration::from_secs(5)).await.expect("direct invoke");
        direct.push(t.elapsed());
        let t = Instant::now();
        h.invoke(payload.clone(), None).await.expect("managed invoke");
        managed.push(t.elapsed());
    }
    rt.remove_container(&id).await.expect("remove");
    println!("\nwarm invoke, {n} sequential calls each, interleaved, same container image, same run");
    let (d50, d99) = report("direct to RIE (baseline)", direct);
    let (m50, m99) = report("through the FunctionActor", managed);
    println!("{:<34} p50 {:>8.2}x      p99 {:>8.2}x", "manager / direct", m50 / d50, m99 / d99);
    h.actor_ref().expect("running").stop_and_wait(None, None).await.expect("stop");

    // Adoption: prewarm `adopt` containers, crash the actor, time the replacement's recovery.
    let warm = spawn(FunctionConfig { min_warm: adopt, ..cfg.clone() }).await;
    let t = Instant::now();
    while warm.stats().await.map(|s| s.idle).unwrap_or(0) < adopt {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started_in = t.elapsed();
    warm.actor_ref().expect("running").kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let again = spawn(FunctionConfig { min_warm: 0, ..cfg.clone() }).await;
    let s = again.stats().await.expect("stats");
    let adopted_in = t.elapsed();
    println!(
        "\n{adopt} containers: started in {:.1} s; after a crash, adopted {} in {:.0} ms ({} started, {} removed)",
        started_in.as_secs_f64(),
        s.idle,
        adopted_in.as_secs_f64() * 1000.0,
        s.started,
        s.removed
    );
    println!(
        "{{\"bench\":\"warm_invoke\",\"n\":{n},\"direct_p50_us\":{d50:.0},\"direct_p99_us\":{d99:.0},\"manager_p50_us\":{m50:.0},\"manager_p99_us\":{m99:.0},\"adopt\":{adopt},\"adopt_ms\":{:.0},\"start_all_s\":{:.1}}}",
        adopted_in.as_secs_f64() * 1000.0,
        started_in.as_secs_f64()
    );
    again.actor_ref().expect("running").stop_and_wait(None, None).await.expect("stop");
}
