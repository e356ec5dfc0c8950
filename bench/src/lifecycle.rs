//! Container lifecycle: cold start (no container yet) to first response per runtime, and esb's
//! restart with adoption (`--keep`: the next esb adopts the running containers) against a restart
//! that starts from nothing. Baselines: `docker run` of the same image until RIE answers (the
//! floor for a cold start), and the restart without adoption.
//! Must not: leave containers behind.

use crate::load;
use crate::project::{Project, Runtime};
use crate::report::{Row, Skipped};
use crate::sam::{Mode, StartApi};
use esb_tests::gateway::Served;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn row(measure: &str, variant: &str, system: &str, samples: Vec<f64>, baseline: bool) -> Row {
    Row {
        measure: measure.into(),
        variant: variant.into(),
        system: system.into(),
        samples,
        unit: "seconds",
        baseline,
        lower_is_better: true,
    }
}

const COLD: &str = "cold start to first response";

/// esb: a fresh `esb serve` per sample; its first request finds no container.
pub fn esb_cold(esb_bin: &str, project: &Project, runs: usize) -> Result<Vec<Row>, String> {
    let mut out = vec![];
    for runtime in Runtime::ALL {
        let mut samples = vec![];
        for _ in 0..runs {
            let served = Served::start(esb_bin, project.root(), &[]);
            let agent = esb_tests::gateway::agent(&served.cert);
            let t = Instant::now();
            if !load::get_ok(&agent, &format!("{}{}", served.url, runtime.path())) {
                return Err(format!("the first request to {} failed: {}", runtime.path(), served.log().join("\n")));
            }
            samples.push(t.elapsed().as_secs_f64());
            if !served.stop() {
                return Err("esb serve did not stop cleanly".into());
            }
        }
        out.push(row(COLD, runtime.name(), "esb (HTTPS, API Gateway event)", samples, false));
    }
    Ok(out)
}

/// The floor: `docker run -d` of esb's image for the function, then invoke RIE until it answers.
pub fn direct_cold(project: &Project, runs: usize) -> Result<Vec<Row>, String> {
    let manifest = std::fs::read_to_string(project.root().join(".esb/build/images.json")).map_err(|e| e.to_string())?;
    let doc: serde_json::Value = serde_json::from_str(&manifest).map_err(|e| e.to_string())?;
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut out = vec![];
    for runtime in Runtime::ALL {
        let image = doc[runtime.function()]["reference"].as_str().ok_or("no image in the manifest")?.to_string();
        let mut samples = vec![];
        for _ in 0..runs {
            let t = Instant::now();
            let run = Command::new("docker")
                .args(["run", "-d", "--label", "esb.role=bench", "--memory", "128m", "-p", "127.0.0.1::8080", &image])
                .output()
                .map_err(|e| e.to_string())?;
            let id = String::from_utf8_lossy(&run.stdout).trim().to_string();
            let port = Command::new("docker").args(["port", &id, "8080/tcp"]).output().map_err(|e| e.to_string())?;
            let addr = String::from_utf8_lossy(&port.stdout).lines().next().unwrap_or_default().trim().to_string();
            let url = format!("http://{addr}{}", esb_runtime::rie::INVOKE_PATH);
            let ok = loop {
                if load::post_ok(&agent, &url, "{}") {
                    break true;
                }
                if t.elapsed() > Duration::from_secs(30) {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let took = t.elapsed().as_secs_f64();
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
            if !ok {
                return Err(format!("{image} did not answer within 30 s"));
            }
            samples.push(took);
        }
        out.push(row(COLD, runtime.name(), "docker run + RIE invoke (floor)", samples, true));
    }
    Ok(out)
}

/// SAM without warm containers: every request is a cold start.
pub fn sam_cold(sam_bin: &Path, project: &Project, runs: usize) -> (Vec<Row>, Vec<Skipped>) {
    let api = match StartApi::start(sam_bin, project.root(), Mode::Source) {
        Ok(a) => a,
        Err(why) => return (vec![], vec![Skipped { what: "cold starts with SAM CLI".into(), why }]),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (mut out, mut skipped) = (vec![], vec![]);
    for runtime in Runtime::SAM {
        let url = format!("{}{}", api.url, runtime.path());
        // The first request builds SAM's image: not a cold start of the function.
        let _ = load::get_ok(&agent, &url);
        let mut samples = vec![];
        for _ in 0..runs {
            let t = Instant::now();
            if load::get_ok(&agent, &url) {
                samples.push(t.elapsed().as_secs_f64());
            }
        }
        if samples.is_empty() {
            skipped.push(Skipped { what: format!("cold starts with SAM CLI, {}", runtime.name()), why: api.log_tail() });
        } else {
            out.push(row(COLD, runtime.name(), "sam start-api (container per request)", samples, false));
        }
    }
    (out, skipped)
}

/// Containers of the workload's echo function (esb's, by label).
pub fn echo_containers(project: &Project) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=esb.project={}", project.name), "--filter", "label=esb.function=Echo"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).unwrap_or(0)
}

/// Restart to the first response with 8 warm echo containers: adopted (`--keep`) against removed
/// and started again.
pub fn restart(esb_bin: &str, project: &Project, runs: usize) -> Result<Vec<Row>, String> {
    const WARM: usize = 8;
    let args = ["--default-concurrency", "16", "--keep"];
    let mut out = vec![];
    for (keep, system) in [(false, "esb restart, containers removed"), (true, "esb restart --keep, containers adopted")] {
        let mut samples = vec![];
        for _ in 0..runs {
            let served = Served::start(esb_bin, project.root(), &args);
            let agent = esb_tests::gateway::agent(&served.cert);
            let url = format!("{}{}", served.url, Runtime::Provided.path());
            load::run(WARM, Duration::from_secs(2), |_| load::get_ok(&agent, &url));
            if !served.stop() {
                return Err("esb serve did not stop cleanly".into());
            }
            if !keep {
                esb_tests::ProjectContainers(project.name.clone()).remove_containers();
            }
            let before = echo_containers(project);
            let t = Instant::now();
            let served = Served::start(esb_bin, project.root(), &args);
            let agent = esb_tests::gateway::agent(&served.cert);
            if !load::get_ok(&agent, &format!("{}{}", served.url, Runtime::Provided.path())) {
                return Err(format!("the first request after the restart failed: {}", served.log().join("\n")));
            }
            samples.push(t.elapsed().as_secs_f64());
            let after = echo_containers(project);
            if keep && after != before {
                return Err(format!("{before} containers were running before the restart and {after} after: not all adopted"));
            }
            if !served.stop() {
                return Err("esb serve did not stop cleanly".into());
            }
            esb_tests::ProjectContainers(project.name.clone()).remove_containers();
        }
        out.push(row(&format!("restart to first response ({WARM} warm containers)"), "provided.al2023", system, samples, !keep));
    }
    Ok(out)
}

/// Which restart a downtime sample measures.
#[derive(Clone, Copy)]
enum Restart {
    /// No restart: the longest gap between answers under the same load (the baseline).
    None,
    /// `esb serve` in one process: SIGTERM, then a new `esb serve --keep` on the same port.
    Serve,
    /// Split daemon: kill -9 of the manager, then a new manager (the gateway keeps running).
    Manager,
    /// Split daemon: kill -9 of the gateway, then a new gateway on the same port.
    Gateway,
}

/// Every request's completion time (since the window began) and whether it answered 200.
fn window(url: &str, cert: &Path, clients: usize, length: Duration, during: impl FnOnce()) -> Vec<(f64, bool)> {
    let started = Instant::now();
    let deadline = started + length;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(move || {
                    let mut agent = esb_tests::gateway::agent(cert);
                    let mut seen = vec![];
                    while Instant::now() < deadline {
                        let ok = load::get_ok(&agent, url);
                        seen.push((started.elapsed().as_secs_f64(), ok));
                        if !ok {
                            // New connections after a failure (the old ones may be to a dead process).
                            agent = esb_tests::gateway::agent(cert);
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    seen
                })
            })
            .collect();
        std::thread::sleep(length / 4);
        during();
        let mut all: Vec<(f64, bool)> = handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        all
    })
}

/// The longest time between two successful answers in a window (its ends count as answers).
fn longest_gap(seen: &[(f64, bool)], length: f64) -> f64 {
    let mut last = 0.0f64;
    let mut gap = 0.0f64;
    for (t, ok) in seen {
        if *ok {
            gap = gap.max(t - last);
            last = *t;
        }
    }
    gap.max(length - last)
}

/// Downtime of a restart under load (issue 19: a planned restart of `esb serve` served 28 % of
/// good requests over 25 s): 4 clients for 8 s against the echo function, the restart 2 s in; the
/// longest gap between answers, and the share of requests answered. Baseline: the same window
/// with no restart. Containers are kept and adopted (`--keep`).
pub fn downtime(esb_bin: &str, project: &Project, runs: usize) -> Result<Vec<Row>, String> {
    const CLIENTS: usize = 4;
    const LENGTH: Duration = Duration::from_secs(8);
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let args = ["--default-concurrency", "8", "--keep", "--listen", listen.as_str()];
    let mut out = vec![];
    let systems = [
        (Restart::None, "esb serve, no restart (baseline)"),
        (Restart::Serve, "esb serve: SIGTERM, start again"),
        (Restart::Manager, "split: manager killed, started again"),
        (Restart::Gateway, "split: gateway killed, started again"),
    ];
    for (restart, system) in systems {
        let (mut gaps, mut answered) = (vec![], vec![]);
        for _ in 0..runs {
            let split = matches!(restart, Restart::Manager | Restart::Gateway);
            let served =
                if split { Served::start_split(esb_bin, project.root(), &args) } else { Served::start(esb_bin, project.root(), &args) };
            let url = format!("{}{}", served.url, Runtime::Provided.path());
            let cert = served.cert.clone();
            load::run(CLIENTS, Duration::from_secs(1), |_| load::get_ok(&esb_tests::gateway::agent(&cert), &url));
            let mut served = Some(served);
            let seen = window(&url, &cert, CLIENTS, LENGTH, || match restart {
                Restart::None => {}
                Restart::Serve => {
                    let _ = served.take().map(|s| s.stop());
                    served = Some(Served::start(esb_bin, project.root(), &args));
                }
                Restart::Manager => {
                    if let Some(s) = served.as_mut() {
                        s.kill_manager();
                        s.restart_manager();
                    }
                }
                Restart::Gateway => {
                    if let Some(s) = served.as_mut() {
                        s.kill_gateway();
                        s.restart_gateway();
                    }
                }
            });
            if let Some(s) = served.take() {
                if !s.stop() {
                    return Err(format!("{system}: esb did not stop cleanly"));
                }
            }
            esb_tests::ProjectContainers(project.name.clone()).remove_containers();
            if seen.is_empty() {
                return Err(format!("{system}: no request completed"));
            }
            gaps.push(longest_gap(&seen, LENGTH.as_secs_f64()));
            answered.push(100.0 * seen.iter().filter(|(_, ok)| *ok).count() as f64 / seen.len() as f64);
        }
        let baseline = matches!(restart, Restart::None);
        out.push(row("restart under load: longest gap between answers", "provided.al2023, 4 clients", system, gaps, baseline));
        out.push(Row {
            unit: "% answered",
            lower_is_better: false,
            ..row("restart under load: requests answered", "provided.al2023, 4 clients", system, answered, baseline)
        });
    }
    Ok(out)
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
