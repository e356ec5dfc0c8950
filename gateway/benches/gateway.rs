//! Benchmark (needs Docker): warm requests through the HTTPS gateway against invoking RIE
//! containers directly, in the same run, at concurrency 1 and 16.
//!
//! Run: `cargo bench -p esb-gateway --bench gateway` (N=2000 requests per path and concurrency,
//! in alternating rounds of 100).
//! Under `cargo test` it only checks that it compiles and exits.
//!
//! Gateway path: HTTPS keep-alive (rustls, HTTP/1.1) -> route match -> payload 2.0 event ->
//! FunctionActor lease -> RIE -> response mapping. Baseline: the same event, POSTed with esb's RIE
//! client (plain HTTP keep-alive) straight to a warm container, one container per concurrent caller.

use bytes::Bytes;
use esb_actors::{FunctionConfig, Manager, ManagerArgs, RestartPolicy};
use esb_config::model::{ApiKind, ApiSpec, Route, RoutingFile};
use esb_gateway::auth::{ApiKeys, Auth, Tokens, Users};
use esb_gateway::{Functions, Gateway, Limits};
use esb_runtime::labels::{key, Role};
use esb_runtime::rie::{RieClient, PORT};
use esb_runtime::{ContainerSpec, Labels, Runtime};
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Client =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

struct Stats {
    p50: f64,
    p99: f64,
    rps: f64,
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) -> Stats {
    samples.sort();
    let s = Stats { p50: percentile(&samples, 0.5), p99: percentile(&samples, 0.99), rps: samples.len() as f64 / wall.as_secs_f64() };
    println!("{name:<40} p50 {:>7.0} us   p99 {:>7.0} us   {:>7.0} req/s", s.p50, s.p99, s.rps);
    s
}

/// Runs `n` calls split over `c` concurrent callers; `call(i)` is caller i's next request.
async fn run<F, Fut>(n: usize, c: usize, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(n / c);
                for _ in 0..n / c {
                    let t = Instant::now();
                    call(i).await;
                    out.push(t.elapsed());
                }
                out
            })
        })
        .collect();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.expect("caller"));
    }
    (all, started.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("test gateway_bench_smoke ... ok (run `cargo bench -p esb-gateway --bench gateway` with Docker for timings)");
        return;
    }
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = esb_tests::faults_project();
    let ws = esb_config::Workspace::open(&dir.path().join("template.yaml"), &Default::default()).expect("workspace");
    let project = ws.compile().expect("compile");
    esb_config::generate::write(&ws.output_dir, &esb_config::generate::render(&project).expect("render")).expect("write");
    let docker = esb_runtime::docker::DockerRuntime::connect().await.expect("Docker");
    let options = esb_images::Options { only: vec!["Echo".into()], images_dir: ws.images_dir.clone(), ..Default::default() };
    let built = esb_images::build_project(&docker, &project, dir.path(), &ws.output_dir, &options, &|_| {}).await.expect("build");
    let image = built.functions["Echo"].0.reference.clone();
    let env: Vec<String> = esb_config::lambda_env::lambda_env(&project.functions.functions["Echo"], "us-east-1", &[])
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let rt: Arc<dyn Runtime> = Arc::new(docker.clone());
    let bench_project = format!("gwbench{}", std::process::id());

    // The gateway, in this process, over TLS with a generated certificate.
    let cfg = FunctionConfig {
        project: bench_project.clone(),
        function: "Echo".into(),
        image: image.clone(),
        env: env.clone(),
        memory_mb: 128,
        timeout: Duration::from_secs(5),
        limit: 16,
        min_warm: 0,
        queue_limit: 1000,
        queue_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(600),
        rie_port: PORT,
        ready_within: Duration::from_secs(30),
        config_hash: "bench".into(),
        binds: vec![],
        network: None,
        ports: vec![],
    };
    let manager = Manager::start(ManagerArgs {
        project: bench_project.clone(),
        functions: vec![cfg],
        rt: rt.clone(),
        global_limit: 64,
        policy: RestartPolicy::default(),
    })
    .await
    .expect("manager");
    let mut functions = Functions::new();
    functions.insert("Echo".into(), manager.function("Echo").expect("Echo").clone());
    let api = ApiSpec::new(ApiKind::Http, "$default");
    let route = Route {
        api: "Api".into(),
        method: "POST".into(),
        path: "/echo".into(),
        function: "Echo".into(),
        payload_version: "2.0".into(),
        authorizer: None,
        api_key_required: false,
        timeout_ms: None,
        source: "Echo.Bench".into(),
    };
    let routing = RoutingFile { version: 1, apis: [("Api".to_string(), api)].into(), routes: vec![route], ..Default::default() };
    let secrets = esb_gateway::secrets::Secrets::load_or_create(&dir.path().join("secrets"), &[]).expect("secrets");
    let tls = esb_gateway::tls::server_config(&secrets.tls_cert_pem, &secrets.tls_key_pem, "bench").expect("tls");
    let auth = Auth::new(
        Tokens::new(&secrets.signing_key_pem, "bench").expect("tokens"),
        Users::default(),
        ApiKeys::new(&[secrets.api_key.as_str()]),
    );
    let gateway = Arc::new(Gateway::new(esb_gateway::router::Router::new(&routing), Arc::new(functions), auth, Limits::default(), None));
    let listener = esb_gateway::server::bind("127.0.0.1:0".parse().unwrap()).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(esb_gateway::server::serve(listener, Some(tls), gateway, async move {
        let _ = stop_rx.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut secrets.tls_cert_pem.as_bytes()) {
        roots.add(c.expect("cert")).expect("root");
    }
    let client_tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(client_tls).https_only().enable_http1().build();
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).pool_max_idle_per_host(32).build(https);
    let url: http::Uri = format!("https://localhost:{}/echo", addr.port()).parse().unwrap();
    let body = Bytes::from_static(br#"{"hello":"bench"}"#);
    let through_gateway = {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        move |_: usize| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            async move {
                let req = http::Request::post(url).header("content-type", "application/json").body(Full::new(body)).unwrap();
                let resp = client.request(req).await.expect("gateway request");
                assert_eq!(resp.status(), 200);
                resp.into_body().collect().await.expect("body");
            }
        }
    };

    // Baseline: 16 warm containers, the same payload-2.0 event POSTed to RIE directly.
    let mut direct_ids = vec![];
    let mut addrs: Vec<SocketAddr> = vec![];
    let rie = RieClient::new();
    for i in 0..16 {
        let labels = Labels::new().with(key::PROJECT, format!("{bench_project}-direct")).role(Role::Function);
        let spec = ContainerSpec {
            name: format!("esb-{bench_project}-direct-{i}"),
            image: image.clone(),
            env: env.clone(),
            labels,
            ..Default::default()
        };
        let id = rt.create_container(&spec).await.expect("create");
        rt.start_container(&id).await.expect("start");
        let a = SocketAddr::new(rt.inspect_container(&id).await.expect("inspect").ip.expect("ip"), PORT);
        rie.wait_ready(a, Duration::from_secs(10)).await.expect("ready");
        direct_ids.push(id);
        addrs.push(a);
    }
    // The event the gateway would send, so both paths move the same bytes through RIE.
    let event = Bytes::from(
        serde_json::json!({
            "version": "2.0", "routeKey": "POST /echo", "rawPath": "/echo", "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": format!("localhost:{}", addr.port())},
            "requestContext": {"accountId": "123456789012", "apiId": "abcdefghij", "domainName": "localhost", "domainPrefix": "localhost",
                "http": {"method": "POST", "path": "/echo", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": null},
                "requestId": "00000000-0000-0000-0000-000000000000", "routeKey": "POST /echo", "stage": "$default",
                "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0u64},
            "body": "{\"hello\":\"bench\"}", "isBase64Encoded": false
        })
        .to_string(),
    );
    let addrs = Arc::new(addrs);
    let direct = {
        let (rie, addrs, event) = (rie.clone(), addrs.clone(), event.clone());
        move |i: usize| {
            let (rie, a, event) = (rie.clone(), addrs[i], event.clone());
            async move {
                rie.invoke(a, event, None, Duration::from_secs(5)).await.expect("direct invoke");
            }
        }
    };

    // Warm-up: 16 warm containers behind the gateway, connections open on both paths.
    let _ = run(320, 16, through_gateway.clone()).await;
    let _ = run(320, 16, direct.clone()).await;

    println!("\nwarm requests, {n} per measurement, same run, same image, payload 2.0 event");
    let mut lines = vec![];
    for c in [1usize, 16] {
        // Alternating rounds of 100 calls per path, so both see the same machine state (one long
        // series after the other measures order effects, as the manager's bench found).
        let (mut d, mut g, mut dw, mut gw) = (vec![], vec![], Duration::ZERO, Duration::ZERO);
        for _ in 0..n.div_ceil(100) {
            let (s, w) = run(100, c, direct.clone()).await;
            d.extend(s);
            dw += w;
            let (s, w) = run(100, c, through_gateway.clone()).await;
            g.extend(s);
            gw += w;
        }
        let d = report(&format!("c={c:<2} direct to RIE (baseline)"), d, dw);
        let g = report(&format!("c={c:<2} through the HTTPS gateway"), g, gw);
        println!(
            "{:<40} p50 {:>7.2}x      p99 {:>7.2}x   {:>7.2}x throughput; overhead p50 {:.0} us",
            format!("c={c:<2} gateway / direct"),
            g.p50 / d.p50,
            g.p99 / d.p99,
            g.rps / d.rps,
            g.p50 - d.p50
        );
        lines.push(format!(
            "{{\"c\":{c},\"direct_p50_us\":{:.0},\"direct_p99_us\":{:.0},\"direct_rps\":{:.0},\"gateway_p50_us\":{:.0},\"gateway_p99_us\":{:.0},\"gateway_rps\":{:.0}}}",
            d.p50, d.p99, d.rps, g.p50, g.p99, g.rps
        ));
    }
    println!("{{\"bench\":\"gateway\",\"n\":{n},\"runs\":[{}]}}", lines.join(","));
    let _ = stop_tx.send(());
    let _ = server.await;
    manager.shutdown(Duration::from_secs(5), false).await;
    for id in direct_ids {
        let _ = rt.remove_container(&id).await;
    }
}
