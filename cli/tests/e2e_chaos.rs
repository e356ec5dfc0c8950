//! The fault-injection suite (issue 9), against the real engine, RIE, the TLS gateway and the
//! storage services, under a bounded load from clients on loopback. For each fault it records what
//! the clients got, whether acknowledged writes survived, containers left behind and the time to
//! recover (a `chaos-result` line; `scripts/chaos.sh` turns them into docs/reliability.md's table),
//! and asserts: every failed answer is a well-formed API Gateway error, no acknowledged write is
//! lost, no function container is left behind, and service comes back within the stated bound.

use esb_tests::chaos::{function_containers, send, Load, Outcome, SocketProxy};
use esb_tests::gateway::Served;
use esb_tests::named_example_project;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ESB: &str = env!("CARGO_BIN_EXE_esb");

fn docker(args: &[&str]) -> bool {
    Command::new("docker").args(args).output().is_ok_and(|o| o.status.success())
}

fn leaked(project: &str) -> usize {
    esb_tests::chaos::leftover_function_containers(project)
}

/// The tests of this binary run in parallel, sharing 2 cores; the one whose bound is a storage
/// service's restart time runs alone, so its bound measures the restart and not its neighbours'
/// floods (CI once saw 11.9 s against the 10 s bound with seven chaos tests beside it, where 1.4 s
/// is usual).
static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A share of the machine, beside the other tests.
fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|p| p.into_inner())
}

/// Common assertions, after the record is printed.
fn check(o: &Outcome, recover_within: Duration) {
    assert_eq!(o.malformed, 0, "{}: every failed answer is a well-formed error: {o:?}", o.fault);
    assert_eq!(o.writes_lost, 0, "{}: acknowledged writes survive: {o:?}", o.fault);
    assert_eq!(o.leaked_containers, 0, "{}: no container is left behind: {o:?}", o.fault);
    let r = o.recovery.unwrap_or_else(|| panic!("{}: service never came back: {o:?}", o.fault));
    assert!(r <= recover_within, "{}: recovered in {r:?}, bound {recover_within:?}", o.fault);
}

/// A writer: POSTs items until stopped; returns the acknowledged ones (201 with their body).
struct Writer {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<serde_json::Value>>,
}

impl Writer {
    fn start(cert: &std::path::Path, base: Arc<Mutex<String>>) -> Writer {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let agent = esb_tests::gateway::agent(cert);
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut acked = vec![];
            let mut seq = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                seq += 1;
                let url = format!("{}/items", base.lock().unwrap().clone());
                let (status, _, body) = send(&agent, "POST", &url, format!(r#"{{"seq": {seq}}}"#).as_bytes());
                if status == 201 {
                    acked.push(serde_json::from_slice(&body).unwrap());
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            acked
        });
        Writer { stop, thread }
    }

    fn finish(self) -> Vec<serde_json::Value> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The function's running containers, waiting up to `bound` for at least one.
fn wait_for_containers(project: &str, function: &str, bound: Duration) -> Vec<String> {
    let until = Instant::now() + bound;
    loop {
        let ids = function_containers(project, function);
        if !ids.is_empty() || Instant::now() >= until {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Acknowledged items that `s` cannot give back exactly.
fn lost(s: &Served, acked: &[serde_json::Value]) -> usize {
    acked.iter().filter(|item| s.get(&format!("/items/{}", item["id"].as_str().unwrap_or("?"))).json() != **item).count()
}

#[test]
fn kill_9_of_function_containers_mid_invocation() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaoskill");
    let s = Served::start(ESB, dir.path(), &[]);
    // Warm first: under CI's load a cold start can outlast a fixed sleep, and then there is
    // nothing to kill yet (CI saw exactly that: no victims two seconds into the load).
    assert_eq!(s.get("/hello").status, 200);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base, "/hello", 4);
    std::thread::sleep(Duration::from_secs(2));
    let victims = wait_for_containers(&project, "HelloFunction", Duration::from_secs(30));
    assert!(!victims.is_empty(), "the function has running containers to kill");
    let fault_at = load.now();
    for id in &victims {
        docker(&["kill", "-s", "KILL", id]);
    }
    std::thread::sleep(Duration::from_secs(4));
    let mut o = Outcome::from_samples("kill -9 of every container of a function under load", &load.finish(), fault_at);
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    check(&o.report(), Duration::from_secs(5));
}

#[test]
fn a_paused_container_times_out_and_is_replaced() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaospause");
    let s = Served::start(ESB, dir.path(), &[]);
    assert_eq!(s.get("/hello").status, 200);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base, "/hello", 2);
    std::thread::sleep(Duration::from_secs(1));
    let fault_at = load.now();
    let paused = function_containers(&project, "HelloFunction");
    for id in &paused {
        docker(&["pause", id]);
    }
    // The function's Timeout is 10 s: a request on a paused container ends after it (+2 s grace).
    std::thread::sleep(Duration::from_secs(16));
    let mut o = Outcome::from_samples("docker pause of a function's containers under load", &load.finish(), fault_at);
    let remaining: Vec<String> = function_containers(&project, "HelloFunction");
    assert!(paused.iter().all(|p| !remaining.contains(p)), "paused containers are retired: {paused:?} {remaining:?}");
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    check(&o.report(), Duration::from_secs(15));
}

#[test]
fn kill_9_of_esb_under_load_and_restart_loses_no_acknowledged_write() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaosesb");
    let s = Served::start(ESB, dir.path(), &[]);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base.clone(), "/hello", 3);
    let writer = Writer::start(&s.cert, base.clone());
    std::thread::sleep(Duration::from_secs(3));
    let fault_at = load.now();
    assert!(Command::new("kill").args(["-KILL", &s.pid().unwrap().to_string()]).status().unwrap().success());
    drop(s);
    std::thread::sleep(Duration::from_secs(1));
    let s = Served::start(ESB, dir.path(), &[]);
    *base.lock().unwrap() = s.url.clone();
    std::thread::sleep(Duration::from_secs(3));
    let acked = writer.finish();
    let mut o = Outcome::from_samples("kill -9 of esb under load, then a restart", &load.finish(), fault_at);
    o.writes_acknowledged = acked.len();
    o.writes_lost = lost(&s, &acked);
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    assert!(o.writes_acknowledged > 0);
    check(&o.report(), Duration::from_secs(30));
}

#[test]
fn the_storage_service_killed_and_restarted_under_writes() {
    let _alone = MACHINE.write().unwrap_or_else(|p| p.into_inner());
    let (dir, _cleanup, project) = named_example_project("chaosstore");
    let s = Served::start(ESB, dir.path(), &[]);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base.clone(), "/items", 2);
    let writer = Writer::start(&s.cert, base);
    std::thread::sleep(Duration::from_secs(3));
    let fault_at = load.now();
    let storage = format!("esb-{project}-dynamodb");
    let image = Command::new("docker").args(["inspect", "-f", "{{.Config.Image}}", &storage]).output().unwrap();
    let image = String::from_utf8_lossy(&image.stdout).trim().to_string();
    let ip = || {
        let out =
            Command::new("docker").args(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &storage]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
    };
    let before = ip();
    assert!(docker(&["kill", "-s", "KILL", &storage]));
    // Another container takes the freed address, so the service comes back on a new one.
    let label = format!("esb.project={project}");
    let network = format!("esb-{project}");
    assert!(docker(&["run", "-d", "--label", &label, "--network", &network, "--entrypoint", "sleep", &image, "120"]));
    std::thread::sleep(Duration::from_secs(2));
    assert!(docker(&["start", &storage]));
    assert_ne!(ip(), before, "the service is back on another address");
    std::thread::sleep(Duration::from_secs(8));
    let acked = writer.finish();
    let mut o =
        Outcome::from_samples("kill -9 of the DynamoDB service under writes, docker start on a new address", &load.finish(), fault_at);
    o.writes_acknowledged = acked.len();
    o.writes_lost = lost(&s, &acked);
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    check(&o.report(), Duration::from_secs(10));
}

#[test]
fn a_flood_beyond_the_concurrency_limit_is_throttled_and_passes() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaosflood");
    let s = Served::start(ESB, dir.path(), &[]);
    let base = Arc::new(Mutex::new(s.url.clone()));
    // ItemsFunction has ReservedConcurrentExecutions: 4, and esb queues up to 100 callers per
    // function (10 s at most) before it answers 429: 120 clients overflow both.
    let load = Load::start(&s.cert, base, "/items", 120);
    let mut most = 0;
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        most = most.max(function_containers(&project, "ItemsFunction").len());
        std::thread::sleep(Duration::from_millis(200));
    }
    let fault_at = load.now();
    let samples = load.finish();
    let mut o = Outcome::from_samples("a flood of 120 clients on a function limited to 4 (queue 100)", &samples, Duration::ZERO);
    // Recovery: after the flood, a single request is served at once.
    let t = Instant::now();
    assert_eq!(s.get("/items").status, 200);
    o.recovery = Some(t.elapsed());
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    let o = o.report();
    assert!(most <= 4, "the limit holds under the flood: {most} containers");
    assert!(o.statuses.get(&429).copied().unwrap_or(0) > 0, "the flood is throttled: {o:?} (after {fault_at:?})");
    assert!(o.statuses.get(&200).copied().unwrap_or(0) > 0, "and served up to the limit: {o:?}");
    check(&o, Duration::from_secs(2));
}

#[test]
fn hostile_requests_get_well_formed_errors_and_change_nothing() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaoshostile");
    let s = Served::start(ESB, dir.path(), &[]);
    let agent = esb_tests::gateway::agent(&s.cert);
    let url = |p: &str| format!("{}{p}", s.url);
    let big_header = "x".repeat(100 * 1024);
    let mut samples = vec![];
    let mut record = |name: &str, (status, headers, body): (u16, Vec<(String, String)>, Vec<u8>)| {
        let text = String::from_utf8_lossy(&body).to_string();
        assert!(!text.contains("root:x:0"), "{name}: leaked a host file");
        let ok = esb_tests::chaos::well_formed(status, &headers, &body);
        eprintln!("hostile {name}: {status}");
        samples.push(esb_tests::chaos::Sample { at: Duration::ZERO, status, well_formed: ok });
        status
    };
    let req = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let mut r = ureq::http::Request::builder().method(method).uri(url(path));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        match agent.run(r.body(body.to_vec()).unwrap()) {
            Ok(mut r) => {
                let h = r.headers().iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
                (r.status().as_u16(), h, r.body_mut().read_to_vec().unwrap_or_default())
            }
            Err(_) => (0, vec![], vec![]),
        }
    };
    assert_eq!(record("large header", req("GET", "/hello", &[("x-junk", &"x".repeat(20 * 1024))], b"")), 431);
    // Past the 64 KiB a connection may buffer there is no request to answer: hyper sends a bare 431
    // and closes the connection (a protocol error, like API Gateway's own). A client still writing
    // its headers may see the close (status 0) before the 431. Not an API answer, so it is checked
    // here and not counted as one.
    let (status, _, _) = req("GET", "/hello", &[("x-junk", &big_header)], b"");
    eprintln!("hostile huge header (past the connection buffer): {status}");
    assert!(status == 431 || status == 0, "a bare 431 or the connection closed: {status}");
    assert_eq!(record("huge body", req("POST", "/items", &[], &vec![b'a'; 11 << 20])), 413);
    let bad_json = record("bad JSON to the invoke API", req("POST", "/2015-03-31/functions/HelloFunction/invocations", &[], b"{bad"));
    assert!(bad_json == 400 || bad_json == 403, "{bad_json}");
    let key = s.api_key.clone();
    assert_eq!(record("bad JSON to the login", req("POST", "/user/auth/v1", &[("x-api-key", &key)], b"{bad")), 400);
    for p in ["/files/../../../../etc/passwd", "/files/..%2F..%2F..%2Fetc%2Fpasswd", "/%2e%2e/%2e%2e/etc/passwd"] {
        record(&format!("path traversal {p}"), req("GET", p, &[], b""));
    }
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiJ9.";
    assert_eq!(record("bad token", req("GET", "/private/whoami", &[("authorization", "Bearer garbage")], b"")), 401);
    assert_eq!(record("alg=none token", req("GET", "/private/whoami", &[("authorization", &format!("Bearer {none}"))], b"")), 401);
    assert_eq!(record("bad API key", req("POST", "/user/auth/v1", &[("x-api-key", "wrong")], b"{}")), 403);
    let t = Instant::now();
    assert_eq!(s.get("/hello").status, 200, "still serving");
    let mut o = Outcome::from_samples("hostile requests (huge header/body, bad JSON, traversal, bad tokens)", &samples, Duration::ZERO);
    o.recovery = Some(t.elapsed());
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    check(&o.report(), Duration::from_secs(5));
}

#[test]
fn the_docker_socket_going_away_keeps_warm_functions_serving() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaossock");
    let proxy = SocketProxy::start();
    let host = proxy.host();
    let s = Served::start_with_env(ESB, dir.path(), &[], &[("DOCKER_HOST", host.as_str())]);
    assert_eq!(s.get("/hello").status, 200);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base, "/hello", 1);
    std::thread::sleep(Duration::from_secs(1));
    let fault_at = load.now();
    proxy.cut();
    std::thread::sleep(Duration::from_secs(3));
    // A function with no container needs the engine: a well-formed error, not a hang.
    let t = Instant::now();
    let cold = s.get("/events/x");
    let refused_in = t.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    proxy.restore();
    let restored = Instant::now();
    let mut back = None;
    while restored.elapsed() < Duration::from_secs(30) {
        if s.get("/events/x").status == 200 {
            back = Some(restored.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let samples = load.finish();
    let warm_failures = samples.iter().filter(|x| x.at >= fault_at && x.status != 200).count();
    let mut o = Outcome::from_samples("the Docker socket unavailable for 4 s under load", &samples, fault_at);
    o.statuses.entry(cold.status).and_modify(|n| *n += 1).or_insert(1);
    if !esb_tests::chaos::well_formed(cold.status, &cold.headers, &cold.body) {
        o.malformed += 1;
    }
    o.recovery = back;
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    let o = o.report();
    assert!(cold.status >= 500, "a cold start without the engine fails: {}", cold.status);
    assert!(refused_in < Duration::from_secs(15), "and does not hang: {refused_in:?}");
    assert_eq!(warm_failures, 0, "warm requests never needed the engine: {o:?}");
    check(&o, Duration::from_secs(30));
}

#[test]
fn a_full_disk_under_the_log_dir_does_not_touch_invocations() {
    let _machine = shared();
    let (dir, _cleanup, project) = named_example_project("chaosdisk");
    let logs = dir.path().join(".esb/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("HelloFunction.jsonl");
    // Every write to /dev/full fails with ENOSPC: a full disk, without root or a tiny mount.
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    let s = Served::start(ESB, dir.path(), &[]);
    let base = Arc::new(Mutex::new(s.url.clone()));
    let load = Load::start(&s.cert, base, "/hello", 2);
    std::thread::sleep(Duration::from_secs(3));
    let fault_at = Duration::ZERO;
    let samples = load.finish();
    let mut o = Outcome::from_samples("a full disk under the function log dir (writes fail with ENOSPC)", &samples, fault_at);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) && !s.log().join("\n").contains("could not write function logs") {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.log().join("\n").contains("could not write function logs"), "the dropped lines are reported");
    // Space again: lines are written from the next invocation on.
    std::fs::remove_file(&file).unwrap();
    let freed = Instant::now();
    assert_eq!(s.get("/hello").status, 200);
    while freed.elapsed() < Duration::from_secs(10) && std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) == 0 {
        std::thread::sleep(Duration::from_millis(100));
    }
    o.recovery = (std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) > 0).then(|| freed.elapsed());
    assert!(s.stop());
    o.leaked_containers = leaked(&project);
    let o = o.report();
    assert_eq!(o.statuses.keys().copied().collect::<Vec<_>>(), [200], "every invocation succeeded: {o:?}");
    check(&o, Duration::from_secs(10));
}
