//! AWS SAM CLI as the peer esb is measured against: finding it, giving it base images without a
//! registry, and running `sam build` / `sam local start-api`.
//!
//! Owns: the SAM processes it starts (killed on drop) and the stand-in base images. SAM wants
//! `public.ecr.aws/lambda/<runtime>:<tag>-x86_64` and adds its own RIE on top; with no registry
//! those are made from esb's own base (Debian's Python 3.11; a `/var/runtime/bootstrap` that starts
//! esb's launcher for Python, nothing for `provided`, where RIE finds `/var/task/bootstrap`). An
//! official image already present is never replaced. Must not: touch esb's own images or
//! containers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// SAM's base image names for the workload's runtimes.
const PYTHON_BASE: &str = "public.ecr.aws/lambda/python:3.11-x86_64";
const PROVIDED_BASE: &str = "public.ecr.aws/lambda/provided:al2023-x86_64";

/// The `sam` executable, or why it cannot run here.
pub fn find() -> Result<PathBuf, String> {
    let candidates = std::env::var_os("SAM_CLI")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).map(|d| d.join("sam")).collect::<Vec<_>>()));
    for c in candidates {
        if let Ok(out) = Command::new(&c).arg("--version").output() {
            if out.status.success() {
                return Ok(c);
            }
        }
    }
    Err("`sam` was not found (set SAM_CLI, or let scripts/bench.sh install aws-sam-cli from PyPI)".into())
}

/// `sam --version`'s answer.
pub fn version(sam: &Path) -> String {
    Command::new(sam).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker").args(args).output().map_err(|e| format!("docker: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn present(image: &str) -> bool {
    docker(&["image", "inspect", "--format", "{{.Id}}", image]).is_ok()
}

/// Makes the base images SAM looks for, from esb's Python base (which must exist: esb builds it
/// when it serves the workload, so run esb's scenarios first).
pub fn prepare_images() -> Result<(), String> {
    let esb_base = "esb/base-python:3.11";
    if !present(esb_base) {
        return Err(format!("{esb_base} is missing (esb builds it; run an esb scenario first)"));
    }
    if !present(PYTHON_BASE) {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("bootstrap"), "#!/bin/sh\nexec /usr/bin/python3 -m esb_bootstrap \"$_HANDLER\"\n")
            .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {esb_base}\nCOPY bootstrap /var/runtime/bootstrap\nRUN chmod 755 /var/runtime/bootstrap\nLABEL esb.role=sam-standin\n"),
        )
        .map_err(|e| e.to_string())?;
        docker(&["build", "-q", "-t", PYTHON_BASE, &dir.path().display().to_string()])?;
    }
    if !present(PROVIDED_BASE) {
        docker(&["tag", esb_base, PROVIDED_BASE])?;
    }
    Ok(())
}

/// `sam build` in `dir`; how long it took.
pub fn build(sam: &Path, dir: &Path) -> Result<Duration, String> {
    let t = Instant::now();
    let out = command(sam, dir).args(["build", "--cached", "--parallel"]).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("sam build failed: {}", tail(&String::from_utf8_lossy(&out.stderr))));
    }
    Ok(t.elapsed())
}

fn command(sam: &Path, dir: &Path) -> Command {
    let mut c = Command::new(sam);
    c.current_dir(dir).env("SAM_CLI_TELEMETRY", "0").env("SAM_CLI_CONTACT_TO_UPDATE", "0");
    c
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// A running `sam local start-api`.
pub struct StartApi {
    child: Child,
    pub url: String,
    log: PathBuf,
}

/// How `sam local start-api` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The built template (`.aws-sam/build`), one container per request (SAM's default).
    Built,
    /// The source template, one container per request: saved code is mounted as is.
    Source,
    /// The source template with `--warm-containers LAZY`: containers are reused, and SAM restarts
    /// them when it sees the code change.
    Warm,
    /// The source template with `--warm-containers EAGER`: every function's container is started
    /// up front and reused.
    WarmEager,
}

impl StartApi {
    /// Starts it on a free port and waits until it answers.
    pub fn start(sam: &Path, dir: &Path, mode: Mode) -> Result<StartApi, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let log = dir.join(format!(".sam-start-api-{port}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut c = command(sam, dir);
        c.args(["local", "start-api", "--skip-pull-image", "--port", &port.to_string()]);
        match mode {
            Mode::Built => c.args(["-t", ".aws-sam/build/template.yaml"]),
            Mode::Source => c.args(["-t", "template.yaml"]),
            Mode::Warm => c.args(["-t", "template.yaml", "--warm-containers", "LAZY"]),
            Mode::WarmEager => c.args(["-t", "template.yaml", "--warm-containers", "EAGER"]),
        };
        let child =
            c.stdout(file.try_clone().map_err(|e| e.to_string())?).stderr(file).stdin(Stdio::null()).spawn().map_err(|e| e.to_string())?;
        let mut api = StartApi { child, url: format!("http://127.0.0.1:{port}"), log };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(60) || matches!(api.child.try_wait(), Ok(Some(_))) {
                return Err(format!("sam local start-api did not listen: {}", api.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(api)
    }

    /// The SAM process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

impl Drop for StartApi {
    fn drop(&mut self) {
        // SIGTERM first: SAM then removes the containers it started (warm mode keeps some).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
