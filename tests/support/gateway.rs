//! A reusable e2e client for esb's gateway: start `esb serve` on a project, talk HTTPS to it.
//!
//! Owns: starting the server on a free loopback port (HTTPS with the project's generated
//! certificate, verified, not ignored), reading the generated secrets (API key, admin password),
//! sending requests and logging in, and stopping the server (SIGTERM, so it drains and removes its
//! containers). Later suites add cases with a few lines: `served.get("/path")`, `served.login(..)`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {}", self.status, self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTPS agent that trusts exactly the certificate at `cert` and never turns statuses into errors.
pub fn agent(cert: &Path) -> ureq::Agent {
    let pem = std::fs::read(cert).unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
    let root = ureq::tls::Certificate::from_pem(&pem).expect("PEM certificate");
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root]))).build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// A running `esb serve`: one process, or with `ESB_TEST_ROLES=split` (or [`Served::start_split`])
/// a manager process and a gateway process, so every suite can run against the split daemon.
pub struct Served {
    child: Option<Child>,
    manager: Option<Child>,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// The project directory.
    pub dir: PathBuf,
    /// The generated API key.
    pub api_key: String,
    /// The generated admin password.
    pub admin_password: String,
    /// The certificate the gateway serves.
    pub cert: PathBuf,
    /// What esb serve printed before it listened (generated secrets, storage).
    pub startup: Vec<String>,
    agent: ureq::Agent,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
    stdout_lines: Arc<std::sync::Mutex<Vec<String>>>,
    launch: Launch,
}

/// How the processes were started, to start them again.
struct Launch {
    bin: String,
    gateway_args: Vec<String>,
    manager_args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Flags (each with a value) that belong to the gateway when the roles are split.
const GATEWAY_FLAGS: &[&str] = &["--listen", "--http", "--tls-cert", "--tls-key", "--manager-wait", "--admin"];

/// True when `ESB_TEST_ROLES=split`: [`Served::start`] then runs the roles as two processes.
pub fn split_from_env() -> bool {
    std::env::var("ESB_TEST_ROLES").is_ok_and(|v| v == "split")
}

/// A started esb process: its stdout up to and including the line containing `until`.
fn spawn(
    launch: &Launch,
    dir: &Path,
    args: &[String],
    until: &str,
    lines: &Arc<std::sync::Mutex<Vec<String>>>,
    stdout_lines: &Arc<std::sync::Mutex<Vec<String>>>,
) -> (Child, Vec<String>, String) {
    let mut child = Command::new(&launch.bin)
        .args(args)
        .current_dir(dir)
        .env_remove("ESB_TEMPLATE")
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("NO_COLOR", "1")
        .env(
            "ESB_LOG",
            "warn,esb_gateway=info,esb_api=info,esb_actors::scheduler=info,esb_actors::events=info,esb_events=info,esb::commands=info",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start esb serve");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let sink = lines.clone();
    // Keep the server's log (the request lines with their trace ids) for the tests to inspect.
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let mut out = BufReader::new(stdout).lines();
    let mut startup = vec![];
    let found = loop {
        match out.next() {
            Some(Ok(line)) if line.contains(until) => break line,
            Some(Ok(line)) => startup.push(line),
            _ => {
                let status = child.wait().expect("wait");
                panic!("esb serve exited ({status}) before `{until}`:\n{}", lines.lock().unwrap().join("\n"));
            }
        }
    };
    let sink = stdout_lines.clone();
    std::thread::spawn(move || {
        for l in out.map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    (child, startup, found)
}

fn kill9(child: Option<Child>) {
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Served {
    /// Starts `esb serve --listen 127.0.0.1:0` (plus `extra` arguments) in `dir` with the esb binary
    /// `bin`, and waits until it listens (building images first if needed).
    pub fn start(bin: &str, dir: &Path, extra: &[&str]) -> Served {
        Self::start_with_env(bin, dir, extra, &[])
    }

    /// [`Served::start`] with extra environment variables (e.g. `DOCKER_HOST`).
    pub fn start_with_env(bin: &str, dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
        Self::launch(bin, dir, extra, env, split_from_env())
    }

    /// `esb serve --role manager` and then `esb serve --role gateway` on the same project; `extra`
    /// arguments go to the role they belong to.
    pub fn start_split(bin: &str, dir: &Path, extra: &[&str]) -> Served {
        Self::launch(bin, dir, extra, &[], true)
    }

    fn launch(bin: &str, dir: &Path, extra: &[&str], env: &[(&str, &str)], split: bool) -> Served {
        // Schedules stay quiet unless a test runs them (`--schedule-speed`): a minute-rate
        // schedule firing mid-test would add items and containers the test did not ask for.
        let mut extra = extra.to_vec();
        if !extra.contains(&"--schedule-speed") {
            extra.push("--no-schedules");
        }
        let extra = &extra[..];
        let base = ["serve", "--grace", "5"].map(String::from).to_vec();
        let mut launch = Launch {
            bin: bin.to_string(),
            gateway_args: base.clone(),
            manager_args: vec![],
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        if split {
            launch.gateway_args.extend(["--role", "gateway"].map(String::from));
            launch.manager_args = base;
            launch.manager_args.extend(["--role", "manager"].map(String::from));
            let mut it = extra.iter();
            while let Some(a) = it.next() {
                if GATEWAY_FLAGS.contains(a) {
                    launch.gateway_args.push(a.to_string());
                    launch.gateway_args.extend(it.next().map(|v| v.to_string()));
                } else {
                    launch.manager_args.push(a.to_string());
                }
            }
        } else {
            launch.gateway_args.extend(extra.iter().map(|a| a.to_string()));
        }
        if !launch.gateway_args.iter().any(|a| a == "--listen" || a == "--http") {
            launch.gateway_args.extend(["--listen", "127.0.0.1:0"].map(String::from));
        }
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout_lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (manager, mut startup) = if split {
            let (m, s, _) = spawn(&launch, dir, &launch.manager_args, "manager API on", &lines, &stdout_lines);
            (Some(m), s)
        } else {
            (None, vec![])
        };
        let (child, more, found) = spawn(&launch, dir, &launch.gateway_args, "API Gateway on ", &lines, &stdout_lines);
        startup.extend(more);
        let url = found.split("API Gateway on ").nth(1).and_then(|u| u.split_whitespace().next()).expect("url").to_string();
        let secrets = dir.join(".esb/secrets");
        let read = |f: &str| std::fs::read_to_string(secrets.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")).trim().to_string();
        let cert = secrets.join("tls.crt");
        let agent = agent(&cert);
        Served {
            child: Some(child),
            manager,
            url,
            dir: dir.to_path_buf(),
            api_key: read("api-key"),
            admin_password: read("admin-password"),
            cert,
            startup,
            agent,
            lines,
            stdout_lines,
            launch,
        }
    }

    /// Split roles: kill -9 of the manager (the gateway keeps running).
    pub fn kill_manager(&mut self) {
        kill9(self.manager.take());
    }

    /// Split roles: starts the manager again and waits until its API answers.
    pub fn restart_manager(&mut self) {
        assert!(self.manager.is_none(), "kill the manager first");
        let (m, _, _) = spawn(&self.launch, &self.dir, &self.launch.manager_args, "manager API on", &self.lines, &self.stdout_lines);
        self.manager = Some(m);
    }

    /// kill -9 of the gateway (the manager and the containers keep running).
    pub fn kill_gateway(&mut self) {
        kill9(self.child.take());
    }

    /// Starts the gateway again on the same port and waits until it listens.
    pub fn restart_gateway(&mut self) {
        assert!(self.child.is_none(), "kill the gateway first");
        let port = self.url.rsplit(':').next().expect("port").to_string();
        let mut args = self.launch.gateway_args.clone();
        if let Some(i) = args.iter().position(|a| a == "--listen") {
            args[i + 1] = format!("127.0.0.1:{port}");
        }
        let (c, _, _) = spawn(&self.launch, &self.dir, &args, "API Gateway on ", &self.lines, &self.stdout_lines);
        self.child = Some(c);
    }

    /// Trusts the certificate now in the project's secrets (after a reload replaced it).
    pub fn refresh_certificate(&mut self) {
        self.agent = agent(&self.cert);
    }

    /// The manager's process id, when the roles are split.
    pub fn manager_pid(&self) -> Option<u32> {
        self.manager.as_ref().map(Child::id)
    }

    /// Sends a request.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let uri = format!("{}{path}", self.url);
        let mut req = ureq::http::Request::builder().method(method).uri(&uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.to_vec()).expect("request");
        let mut resp = self.agent.run(req).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers =
            resp.headers().iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
        let body = resp.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().unwrap_or_default();
        Reply { status, headers, body }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    /// `POST /user/auth/v1` with `api_key`.
    pub fn login_with(&self, api_key: Option<&str>, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "AuthParameters": { "USERNAME": username, "PASSWORD": password } }).to_string();
        let mut headers = vec![("content-type", "application/json")];
        if let Some(k) = api_key {
            headers.push(("x-api-key", k));
        }
        self.request("POST", "/user/auth/v1", &headers, body.as_bytes())
    }

    /// Logs in as the generated admin; returns the IdToken.
    pub fn admin_token(&self) -> String {
        let r = self.login_with(Some(&self.api_key.clone()), "admin", &self.admin_password.clone());
        assert_eq!(r.status, 200, "admin login: {}", r.text());
        r.json()["AuthenticationResult"]["IdToken"].as_str().expect("IdToken").to_string()
    }

    /// The esb process id (for resource readings).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// What esb printed on stdout after it listened (`watch:` events, say).
    pub fn output(&self) -> Vec<String> {
        self.stdout_lines.lock().unwrap().clone()
    }

    /// The admin listener's address, from esb's `metrics on http://ADDR/metrics` line (start esb
    /// with `--admin 127.0.0.1:0`: a port picked by the test and released races other tests).
    pub fn admin_addr(&self) -> String {
        let lines: Vec<String> = self.startup.iter().cloned().chain(self.output()).collect();
        lines
            .iter()
            .find_map(|l| l.split("metrics on http://").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_string))
            .unwrap_or_else(|| panic!("no `metrics on` line: {lines:?}"))
    }

    /// SIGTERM (the gateway first, then a split manager), then waits; returns true when every
    /// process exited successfully (else prints the end of the log).
    pub fn stop(mut self) -> bool {
        let mut ok = true;
        let mut statuses = vec![];
        for child in [self.child.take(), self.manager.take()].into_iter().flatten() {
            let mut child = child;
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let status = child.wait();
            ok &= status.as_ref().map(|s| s.success()).unwrap_or(false);
            statuses.push(status);
        }
        if !ok || statuses.is_empty() {
            // Let the log reader catch up with the last lines.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let log = self.log();
            let tail = &log[log.len().saturating_sub(30)..];
            eprintln!("esb serve ended with {statuses:?}; the end of its log:\n{}", tail.join("\n"));
        }
        ok && !statuses.is_empty()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        for child in [self.child.take(), self.manager.take()].into_iter().flatten() {
            let mut child = child;
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}
