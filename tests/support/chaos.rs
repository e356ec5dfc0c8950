//! The fault-injection harness's client side: a bounded load on loopback that records what every
//! request got, the check that every failure was a well-formed API Gateway error, and the result
//! record each fault test prints (and `scripts/chaos.sh` collects into a table), and a Docker
//! socket stand-in that can be cut.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request's outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent, from the load's start.
    pub at: Duration,
    /// The status; 0 when the connection failed (nothing listened, or it was cut).
    pub status: u16,
    /// A 2xx/3xx/4xx from the function, or an error shaped like API Gateway's (JSON `message`
    /// and `x-amzn-errortype`).
    pub well_formed: bool,
}

/// Clients sending requests until stopped.
pub struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    samples: Arc<Mutex<Vec<Sample>>>,
}

/// True for what a client may be given on failure: API Gateway's error shape.
pub fn well_formed(status: u16, headers: &[(String, String)], body: &[u8]) -> bool {
    if status < 500 && status != 429 && status != 413 && status != 431 {
        return true; // the function's own answer (or a 4xx that is part of the API)
    }
    let typed = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-amzn-errortype") && !v.is_empty());
    let message = serde_json::from_slice::<serde_json::Value>(body).ok().is_some_and(|v| v["message"].is_string());
    typed && message
}

/// Sends one request with `agent`; a failed connection is status 0.
pub fn send(agent: &ureq::Agent, method: &str, url: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let req = ureq::http::Request::builder().method(method).uri(url).header("content-type", "application/json").body(body.to_vec());
    let Ok(req) = req else { return (0, vec![], vec![]) };
    match agent.run(req) {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let headers =
                r.headers().iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
            let body = r.body_mut().with_config().limit(16 << 20).read_to_vec().unwrap_or_default();
            (status, headers, body)
        }
        Err(_) => (0, vec![], vec![]),
    }
}

impl Load {
    /// `clients` threads, each sending `GET <base><path>` in a loop (a short pause after a failed
    /// connection); `base` is read anew for every request, so a restarted server on a new port is
    /// followed.
    pub fn start(cert: &Path, base: Arc<Mutex<String>>, path: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let threads = (0..clients)
            .map(|_| {
                let (stop, samples, base, path) = (stop.clone(), samples.clone(), base.clone(), path.to_string());
                let agent = crate::gateway::agent(cert);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let at = started.elapsed();
                        let url = format!("{}{path}", base.lock().expect("base").clone());
                        let (status, headers, body) = send(&agent, "GET", &url, b"");
                        samples.lock().expect("samples").push(Sample { at, status, well_formed: well_formed(status, &headers, &body) });
                        if status == 0 {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                })
            })
            .collect();
        Load { started, stop, threads, samples }
    }

    /// Time since the load started.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the clients and returns every sample, in send order.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let mut s = self.samples.lock().expect("samples").clone();
        s.sort_by_key(|x| x.at);
        s
    }
}

/// What one fault did, as the reliability report records it.
#[derive(Debug)]
pub struct Outcome {
    pub fault: String,
    /// Statuses the clients got, with counts (0 = connection failed).
    pub statuses: BTreeMap<u16, usize>,
    /// Failed answers that were not API Gateway-shaped errors.
    pub malformed: usize,
    /// Acknowledged writes, and how many of them could not be read back afterwards.
    pub writes_acknowledged: usize,
    pub writes_lost: usize,
    /// Containers of the project left after esb stopped.
    pub leaked_containers: usize,
    /// From the fault to the first success after it (None: no success followed).
    pub recovery: Option<Duration>,
}

impl Outcome {
    /// Summarises `samples` for a fault injected at `fault_at`.
    pub fn from_samples(fault: &str, samples: &[Sample], fault_at: Duration) -> Outcome {
        let mut statuses = BTreeMap::new();
        for s in samples {
            *statuses.entry(s.status).or_insert(0) += 1;
        }
        let malformed = samples.iter().filter(|s| s.status != 0 && !s.well_formed).count();
        // Recovery: the first 200 after the first failure that followed the fault (or the fault
        // itself when nothing failed).
        let first_failure = samples.iter().find(|s| s.at >= fault_at && s.status != 200).map(|s| s.at);
        let recovery = match first_failure {
            None => Some(Duration::ZERO),
            Some(f) => samples.iter().find(|s| s.at > f && s.status == 200).map(|s| s.at.saturating_sub(fault_at)),
        };
        Outcome { fault: fault.to_string(), statuses, malformed, writes_acknowledged: 0, writes_lost: 0, leaked_containers: 0, recovery }
    }

    /// Prints the record (`chaos-result {json}`) for scripts/chaos.sh, and returns it.
    pub fn report(self) -> Outcome {
        let statuses: BTreeMap<String, usize> = self.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let v = serde_json::json!({
            "fault": self.fault, "statuses": statuses, "malformed": self.malformed,
            "writes_acknowledged": self.writes_acknowledged, "writes_lost": self.writes_lost,
            "leaked_containers": self.leaked_containers,
            "recovery_s": self.recovery.map(|d| (d.as_secs_f64() * 100.0).round() / 100.0),
        });
        eprintln!("chaos-result {v}");
        self
    }
}

/// Containers labelled with project `project` (any role).
pub fn project_containers(project: &str) -> usize {
    let out = std::process::Command::new("docker").args(["ps", "-aq", "--filter", &format!("label=esb.project={project}")]).output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).unwrap_or(usize::MAX)
}

/// Function containers of `project` still present, in any state (after esb stopped: leaks).
pub fn leftover_function_containers(project: &str) -> usize {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=esb.project={project}"), "--filter", "label=esb.role=function"])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().count()).unwrap_or(usize::MAX)
}

/// Running containers of one function.
pub fn function_containers(project: &str, function: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--filter", &format!("label=esb.project={project}"), "--filter", &format!("label=esb.function={function}")])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()).unwrap_or_default()
}

/// A stand-in for the Docker socket that can be cut and restored: esb is pointed at it with
/// DOCKER_HOST, and it forwards to the real socket until cut (then it drops every connection, open
/// or new, as a dead daemon would).
pub struct SocketProxy {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    cut: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl SocketProxy {
    /// Listens on a socket in a fresh temp dir, forwarding to `/var/run/docker.sock`.
    pub fn start() -> SocketProxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Arc<Mutex<Vec<UnixStream>>> = Arc::new(Mutex::new(vec![]));
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let Ok(up) = UnixStream::connect("/var/run/docker.sock") else { continue };
                let pairs = [(conn.try_clone().unwrap(), up.try_clone().unwrap()), (up.try_clone().unwrap(), conn.try_clone().unwrap())];
                o.lock().unwrap().extend([conn, up]);
                for (mut from, mut to) in pairs {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        SocketProxy { _dir: dir, path, cut, open }
    }

    /// The `DOCKER_HOST` value that points at it.
    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ms: u64, status: u16) -> Sample {
        Sample { at: Duration::from_millis(ms), status, well_formed: true }
    }

    #[test]
    fn recovery_runs_from_the_fault_to_the_first_success_after_a_failure() {
        let samples = [s(0, 200), s(100, 200), s(150, 502), s(300, 0), s(900, 200), s(950, 200)];
        let o = Outcome::from_samples("x", &samples, Duration::from_millis(120));
        assert_eq!(o.recovery, Some(Duration::from_millis(780)));
        assert_eq!(o.statuses[&200], 4);
        let clean = Outcome::from_samples("x", &[s(0, 200), s(200, 200)], Duration::from_millis(100));
        assert_eq!(clean.recovery, Some(Duration::ZERO));
        let dead = Outcome::from_samples("x", &[s(0, 200), s(200, 0)], Duration::from_millis(100));
        assert_eq!(dead.recovery, None);
    }

    #[test]
    fn errors_must_be_shaped_like_api_gateways() {
        let typed = vec![("x-amzn-errortype".to_string(), "InternalServerErrorException".to_string())];
        assert!(well_formed(502, &typed, br#"{"message":"Internal server error"}"#));
        assert!(!well_formed(502, &[], br#"{"message":"x"}"#));
        assert!(!well_formed(503, &typed, b"oops"));
        assert!(well_formed(404, &[], b"not json is fine from the function"));
    }
}
