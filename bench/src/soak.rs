//! `esb-bench soak [--minutes N]`: the split daemon under a steady mixed load for N minutes
//! (default 10), on loopback. It samples both processes' resident memory and open file descriptors
//! and the function containers every 30 s, and reports start (after a one-minute warm-up) against
//! end: both should be flat. Afterwards it stops esb and counts the project's containers left
//! (must be 0). `scripts/soak.sh` runs it.

use esb_tests::chaos::send;
use esb_tests::gateway::Served;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One reading.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Duration,
    gateway_kib: u64,
    manager_kib: u64,
    gateway_fds: usize,
    manager_fds: usize,
    containers: usize,
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn containers(project: &str) -> usize {
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=esb.project={project}"), "--filter", "label=esb.role=function"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).unwrap_or(0)
}

/// Runs the soak; prints a table and returns the JSON record.
pub fn run(esb_bin: &str, minutes: u64) -> Result<serde_json::Value, String> {
    let (dir, _cleanup, project) = esb_tests::named_example_project("soak");
    eprintln!("esb-bench: soak: starting the split daemon (manager, then gateway)");
    let s = Served::start_split(esb_bin, dir.path(), &["--idle-timeout", "60"]);
    let (gw, mgr) = (s.pid().ok_or("no gateway pid")?, s.manager_pid().ok_or("no manager pid")?);
    let token = s.admin_token();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // A mixed load: a Python function, DynamoDB writes and reads, an authenticated route.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            let agent = esb_tests::gateway::agent(&s.cert);
            let (url, token) = (s.url.clone(), token.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let (status, _, body) = match (t + n as usize) % 4 {
                        0 => send(&agent, "GET", &format!("{url}/hello?name=soak{n}"), b""),
                        1 => send(&agent, "POST", &format!("{url}/items"), format!(r#"{{"soak": {n}}}"#).as_bytes()),
                        2 => {
                            let r = ureq::http::Request::get(format!("{url}/private/whoami")).header("authorization", &token).body(vec![]);
                            match r.map(|r| agent.run(r)) {
                                Ok(Ok(resp)) => (resp.status().as_u16(), vec![], vec![]),
                                _ => (0, vec![], vec![]),
                            }
                        }
                        _ => send(&agent, "GET", &format!("{url}/items"), b""),
                    };
                    let _ = body;
                    if (200..300).contains(&status) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    // A steady, not a saturating, load: about 40 requests a second in all.
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    let started = Instant::now();
    let total = Duration::from_secs(minutes * 60);
    let mut samples = vec![];
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(30).min(total.saturating_sub(started.elapsed())));
        let sample = Sample {
            at: started.elapsed(),
            gateway_kib: rss_kib(gw),
            manager_kib: rss_kib(mgr),
            gateway_fds: fds(gw),
            manager_fds: fds(mgr),
            containers: containers(&project),
        };
        eprintln!("esb-bench: soak: {sample:?}, {} ok, {} failed", ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let stopped = s.stop();
    std::thread::sleep(Duration::from_secs(1));
    let left = containers(&project);
    let warm = samples.iter().find(|x| x.at >= Duration::from_secs(60)).or(samples.first()).copied().ok_or("no samples")?;
    let end = *samples.last().ok_or("no samples")?;
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("\nSoak: {minutes} min, split daemon, 4 clients (hello, DynamoDB write/read, authenticated route)");
    println!("| | after warm-up ({:.0} s) | end ({:.0} s) | end / start |", warm.at.as_secs_f64(), end.at.as_secs_f64());
    println!("|---|---|---|---|");
    let ratio = |a: f64, b: f64| if a > 0.0 { format!("{:.2}x", b / a) } else { "-".into() };
    for (what, a, b) in [
        ("gateway RSS (MiB)", warm.gateway_kib as f64 / 1024.0, end.gateway_kib as f64 / 1024.0),
        ("manager RSS (MiB)", warm.manager_kib as f64 / 1024.0, end.manager_kib as f64 / 1024.0),
        ("gateway open fds", warm.gateway_fds as f64, end.gateway_fds as f64),
        ("manager open fds", warm.manager_fds as f64, end.manager_fds as f64),
        ("function containers", warm.containers as f64, end.containers as f64),
    ] {
        println!("| {what} | {a:.1} | {b:.1} | {} |", ratio(a, b));
    }
    println!("requests: {ok} answered 2xx, {failed} not; esb stopped cleanly: {stopped}; containers left after stop: {left}");
    let record = |x: &Sample| {
        json!({ "at_s": x.at.as_secs(), "gateway_rss_kib": x.gateway_kib, "manager_rss_kib": x.manager_kib,
                "gateway_fds": x.gateway_fds, "manager_fds": x.manager_fds, "containers": x.containers })
    };
    Ok(json!({
        "minutes": minutes, "ok": ok, "failed": failed, "stopped_cleanly": stopped, "containers_left": left,
        "start": record(&warm), "end": record(&end), "samples": samples.iter().map(record).collect::<Vec<_>>(),
    }))
}
