//! Warm requests: latency (p50, p99) and throughput at concurrency 1, 16 and 64, through esb and
//! straight into RIE containers of the same image (the baseline: what esb adds is the difference),
//! and through SAM CLI's `start-api`; the daemon's resident memory idle and after the load.
//!
//! The workload is the custom-runtime echo function: it does nearly nothing, so the numbers are the
//! platform's. Each level first runs a warm-up (which starts the containers), then measures.
//! Must not: leave containers behind (direct ones are removed, esb's go with esb).

use crate::load::{self, Outcome};
use crate::project::{Project, Runtime};
use crate::report::{Row, Skipped};
use crate::sam::{Mode, StartApi};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The concurrency levels.
pub const LEVELS: [usize; 3] = [1, 16, 64];

/// Measurement and warm-up time per level.
pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

fn rows(level: usize, system: &str, out: &Outcome, baseline: bool) -> Vec<Row> {
    let variant = format!("c={level}");
    vec![
        Row {
            measure: "warm latency, echo function".into(),
            variant: variant.clone(),
            system: format!("{system} ({} errors)", out.errors),
            samples: out.latencies_ms.clone(),
            unit: "ms",
            baseline,
            lower_is_better: true,
        },
        Row {
            measure: "warm throughput, echo function".into(),
            variant,
            system: system.into(),
            samples: vec![out.throughput()],
            unit: "requests/s",
            baseline,
            lower_is_better: false,
        },
    ]
}

/// A plain-HTTP agent that reports statuses instead of failing on them.
fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(60))).build().into()
}

/// Resident memory of a process, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

fn rss_row(system: &str, mib: f64, baseline: bool) -> Row {
    Row {
        measure: "server resident memory".into(),
        variant: "process RSS".into(),
        system: system.into(),
        samples: vec![mib],
        unit: "MiB",
        baseline,
        lower_is_better: true,
    }
}

/// esb serve: every level on one server (containers grow with the level).
pub fn esb(esb_bin: &str, project: &Project, t: &Timing) -> Result<Vec<Row>, String> {
    let served = esb_tests::gateway::Served::start(esb_bin, project.root(), &["--default-concurrency", "64", "--global-limit", "64"]);
    // One agent (one kept-alive TLS connection) per client, as real clients have.
    let agents: Vec<ureq::Agent> = (0..LEVELS[2]).map(|_| esb_tests::gateway::agent(&served.cert)).collect();
    let url = format!("{}{}", served.url, Runtime::Provided.path());
    let mut out = vec![];
    if let Some(m) = served.pid().and_then(rss_mib) {
        out.push(rss_row("esb serve, idle", m, true));
    }
    for level in LEVELS {
        // Warm: until esb runs a container per client (as the baseline does), at most a minute.
        let started = std::time::Instant::now();
        loop {
            load::run(level, t.warmup, |i| load::get_ok(&agents[i], &url));
            if crate::lifecycle::echo_containers(project) >= level || started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        let measured = load::run(level, t.measure, |i| load::get_ok(&agents[i], &url));
        out.extend(rows(level, "esb (HTTPS, API Gateway event)", &measured, false));
    }
    if let Some(m) = served.pid().and_then(rss_mib) {
        out.push(rss_row("esb serve, after 64 clients", m, false));
    }
    if !served.stop() {
        return Err("esb serve did not stop cleanly".into());
    }
    Ok(out)
}

/// The image esb built for the echo function (from its build manifest).
fn echo_image(project: &Project) -> Result<String, String> {
    let path = project.root().join(".esb/build/images.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (run the esb scenario first)", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    doc[Runtime::Provided.function()]["reference"].as_str().map(str::to_string).ok_or_else(|| "no echo image in the manifest".into())
}

/// Containers started by hand; removed on drop.
struct Direct(Vec<(String, String)>);

impl Drop for Direct {
    fn drop(&mut self) {
        let ids: Vec<&str> = self.0.iter().map(|(id, _)| id.as_str()).collect();
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
    }
}

fn start_direct(image: &str, n: usize) -> Result<Direct, String> {
    let mut d = Direct(vec![]);
    for _ in 0..n {
        let out = Command::new("docker")
            .args(["run", "-d", "--label", "esb.role=bench", "--memory", "128m", "-p", "127.0.0.1::8080", image])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("docker run {image}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let port = Command::new("docker").args(["port", &id, "8080/tcp"]).output().map_err(|e| e.to_string())?;
        let addr = String::from_utf8_lossy(&port.stdout).lines().next().unwrap_or_default().trim().to_string();
        d.0.push((id, format!("http://{addr}{}", esb_runtime::rie::INVOKE_PATH)));
    }
    Ok(d)
}

/// RIE containers of the same image, one client each (RIE takes one invocation at a time).
pub fn direct(project: &Project, t: &Timing) -> Result<Vec<Row>, String> {
    let image = echo_image(project)?;
    let agents: Vec<ureq::Agent> = (0..LEVELS[2]).map(|_| plain_agent()).collect();
    let agent = &agents[0];
    let mut out = vec![];
    for level in LEVELS {
        let d = start_direct(&image, level)?;
        let urls: Vec<&str> = d.0.iter().map(|(_, u)| u.as_str()).collect();
        // Until every container answers (RIE starts the runtime on the first invocation).
        for u in &urls {
            let started = std::time::Instant::now();
            while !load::post_ok(agent, u, "{}") {
                if started.elapsed() > Duration::from_secs(30) {
                    return Err(format!("RIE at {u} did not answer"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        load::run(level, t.warmup, |i| load::post_ok(&agents[i], urls[i], "{}"));
        let measured = load::run(level, t.measure, |i| load::post_ok(&agents[i], urls[i], "{}"));
        out.extend(rows(level, &format!("RIE direct ({level} containers)"), &measured, true));
    }
    Ok(out)
}

/// SAM CLI's start-api, with warm containers and without.
pub fn sam(sam_bin: &Path, project: &Project, t: &Timing) -> (Vec<Row>, Vec<Skipped>) {
    let (mut out, mut skipped) = (vec![], vec![]);
    for (mode, system, levels) in [
        (Mode::WarmEager, "sam start-api --warm-containers EAGER", &LEVELS[..]),
        (Mode::Source, "sam start-api (container per request)", &LEVELS[..1]),
    ] {
        let api = match StartApi::start(sam_bin, project.root(), mode) {
            Ok(a) => a,
            Err(why) => {
                skipped.push(Skipped { what: format!("warm requests with {system}"), why });
                continue;
            }
        };
        let agents: Vec<ureq::Agent> = (0..LEVELS[2]).map(|_| plain_agent()).collect();
        let url = format!("{}{}", api.url, Runtime::Provided.path());
        if let Some(m) = rss_mib(api.pid()) {
            out.push(rss_row(&format!("{system}, idle"), m, false));
        }
        for &level in levels {
            load::run(level, t.warmup, |i| load::get_ok(&agents[i], &url));
            let measured = load::run(level, t.measure, |i| load::get_ok(&agents[i], &url));
            if measured.latencies_ms.is_empty() {
                skipped.push(Skipped {
                    what: format!("warm requests with {system} at c={level}"),
                    why: format!("no request succeeded ({} failed): {}", measured.errors, api.log_tail()),
                });
                continue;
            }
            out.extend(rows(level, system, &measured, false));
        }
        if let Some(m) = rss_mib(api.pid()) {
            out.push(rss_row(&format!("{system}, after the load"), m, false));
        }
    }
    (out, skipped)
}
