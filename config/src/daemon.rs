//! The daemon's config file (`esb serve --config /etc/esb/esb.yml`, or `ESB_CONFIG`): what an
//! operator sets for a long-running edge daemon, in one place outside the project.
//!
//! Owns: its schema, reading it with every problem located (file, line, key) and checked before
//! anything starts, and resolving its paths against the file's directory. The settings it has in
//! common with generator.yml (users, storage, logs) replace generator.yml's sections when present.
//! Must not: start anything, or decide precedence against flags (the CLI: flags win).

use crate::error::{ConfigError, Diagnostic, Diagnostics};
use crate::generator::{line_of, UserEntry};
use crate::services::{LogSettings, StorageSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The file, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// `all`, `gateway` or `manager`.
    #[serde(default)]
    pub role: Option<String>,
    /// The SAM template (relative to this file).
    #[serde(default)]
    pub template: Option<String>,
    /// HTTPS listen address.
    #[serde(default)]
    pub listen: Option<String>,
    /// Admin listener (metrics, health).
    #[serde(default)]
    pub admin: Option<String>,
    /// The manager API's unix socket.
    #[serde(default)]
    pub manager_socket: Option<String>,
    /// TLS certificate and key files.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Pools, timeouts and the shutdown grace.
    #[serde(default)]
    pub limits: Limits,
    /// Template parameter values.
    #[serde(default, deserialize_with = "crate::generator::scalar_map")]
    pub parameters: BTreeMap<String, String>,
    /// Users besides the generated admin (replaces generator.yml `gateway.users`).
    #[serde(default)]
    pub users: Option<Vec<UserEntry>>,
    /// Storage engines (replaces generator.yml `storage`).
    #[serde(default)]
    pub storage: Option<StorageSettings>,
    /// Log sink and trace export (replaces generator.yml `logs`).
    #[serde(default)]
    pub logs: Option<LogSettings>,
}

/// `tls:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// `limits:`; every value optional (the flags' defaults apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Seconds an idle container lives.
    #[serde(default)]
    pub idle_timeout: Option<u64>,
    /// Concurrency of functions without ReservedConcurrentExecutions.
    #[serde(default)]
    pub default_concurrency: Option<usize>,
    /// Containers across all functions.
    #[serde(default)]
    pub global_limit: Option<usize>,
    /// Seconds in-flight invocations get at shutdown.
    #[serde(default)]
    pub grace: Option<u64>,
    /// Seconds a split gateway waits for an absent manager.
    #[serde(default)]
    pub manager_wait: Option<u64>,
}

/// The file, checked, with paths made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Where it was read from.
    pub file: PathBuf,
    /// What it says (paths below already resolved).
    pub config: DaemonConfig,
    /// `listen`, parsed.
    pub listen: Option<SocketAddr>,
    /// `admin`, parsed.
    pub admin: Option<SocketAddr>,
    /// `template`, resolved.
    pub template: Option<PathBuf>,
    /// `manager_socket`, resolved.
    pub manager_socket: Option<PathBuf>,
    /// `tls`, resolved.
    pub tls: Option<(PathBuf, PathBuf)>,
}

const HINT: &str = "docs/operations.md lists the daemon config file's settings";

impl Daemon {
    /// Reads and checks `path`; every problem found is reported at once, with its line.
    pub fn load(path: &Path) -> Result<Daemon, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(ConfigError::io("reading", path))?;
        let located = |at: &str, message: String| Diagnostic {
            file: path.to_path_buf(),
            line: line_of(&text, at),
            path: at.to_string(),
            message,
            hint: Some(HINT.into()),
        };
        let config: DaemonConfig = serde_norway::from_str(&text).map_err(|e| crate::generator::parse_error(path, &e, HINT))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) };
        let mut problems = vec![];
        if let Some(r) = &config.role {
            if !matches!(r.as_str(), "all" | "gateway" | "manager") {
                problems.push(located("role", format!("`{r}` is not a role; use all, gateway or manager")));
            }
        }
        let mut addr = |key: &str, v: &Option<String>| match v {
            Some(s) => match s.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    problems.push(located(key, format!("`{s}` is not an address like 0.0.0.0:443")));
                    None
                }
            },
            None => None,
        };
        let listen = addr("listen", &config.listen);
        let admin = addr("admin", &config.admin);
        let tls = config.tls.as_ref().map(|t| (resolve(&t.cert), resolve(&t.key)));
        if let Some((cert, key)) = &tls {
            for (k, p) in [("tls.cert", cert), ("tls.key", key)] {
                if !p.is_file() {
                    problems.push(located(k, format!("{} does not exist", p.display())));
                }
            }
        }
        let template = config.template.as_deref().map(resolve);
        if let Some(t) = &template {
            if !t.is_file() {
                problems.push(located("template", format!("{} does not exist", t.display())));
            }
        }
        let limits = &config.limits;
        for (k, v) in [
            ("limits.default_concurrency", limits.default_concurrency.map(|v| v as u64)),
            ("limits.global_limit", limits.global_limit.map(|v| v as u64)),
            ("limits.idle_timeout", limits.idle_timeout),
        ] {
            if v == Some(0) {
                problems.push(located(k, "must be at least 1".into()));
            }
        }
        for (i, u) in config.users.iter().flatten().enumerate() {
            if !u.password_hash.starts_with("$argon2") {
                problems.push(located(
                    "users",
                    format!("user {} (#{}) has no argon2 password_hash; make one with `esb auth hash-password`", u.username, i + 1),
                ));
            }
        }
        let sections = config.storage.iter().flat_map(|s| s.check()).chain(config.logs.iter().flat_map(|l| l.check()));
        problems.extend(sections.map(|(at, message)| located(&at, message)));
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(Diagnostics(problems)));
        }
        let manager_socket = config.manager_socket.as_deref().map(resolve);
        Ok(Daemon { file: path.to_path_buf(), config, listen, admin, template, manager_socket, tls })
    }

    /// Replaces generator.yml's sections with the ones this file sets.
    pub fn overlay(&self, generator: &mut crate::generator::Generator) {
        if let Some(users) = &self.config.users {
            generator.gateway.users = users.clone();
        }
        if let Some(storage) = &self.config.storage {
            generator.storage = storage.clone();
        }
        if let Some(logs) = &self.config.logs {
            generator.logs = logs.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Daemon, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("template.yaml"), "Resources: {}\n").unwrap();
        let path = dir.path().join("esb.yml");
        std::fs::write(&path, text).unwrap();
        Daemon::load(&path)
    }

    #[test]
    fn a_full_file_is_read_and_its_paths_resolved_against_its_directory() {
        let d = load(
            "role: gateway\ntemplate: template.yaml\nlisten: 0.0.0.0:8443\nadmin: 127.0.0.1:9100\nmanager_socket: run/m.sock\n\
             limits:\n  idle_timeout: 60\n  default_concurrency: 4\n  grace: 10\nparameters:\n  Stage: prod\n  Size: 3\n\
             users:\n  - username: ops\n    password_hash: $argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA\nlogs:\n  sink: http://127.0.0.1:9428\n",
        )
        .unwrap();
        assert_eq!(d.config.role.as_deref(), Some("gateway"));
        assert_eq!(d.listen, Some("0.0.0.0:8443".parse().unwrap()));
        assert!(d.template.as_ref().unwrap().is_absolute() && d.manager_socket.as_ref().unwrap().ends_with("run/m.sock"));
        assert_eq!(d.config.limits.default_concurrency, Some(4));
        assert_eq!(d.config.parameters["Size"], "3");
        let mut g = crate::generator::Generator::defaults_for(Path::new("/tmp/x/template.yaml"));
        d.overlay(&mut g);
        assert_eq!(g.gateway.users[0].username, "ops");
        assert_eq!(g.logs.sink.as_deref(), Some("http://127.0.0.1:9428"));
    }

    #[test]
    fn every_problem_is_named_with_its_line_at_once() {
        let err = load("role: boss\nlisten: everywhere\ntls:\n  cert: missing.crt\n  key: missing.key\nlimits:\n  global_limit: 0\nlogs:\n  sink: 127.0.0.1\n")
            .unwrap_err();
        let ConfigError::Invalid(d) = err else { panic!("{err}") };
        let got: Vec<(String, Option<usize>)> = d.0.iter().map(|d| (d.path.clone(), d.line)).collect();
        assert_eq!(
            got,
            [
                ("role".to_string(), Some(1)),
                ("listen".to_string(), Some(2)),
                ("tls.cert".to_string(), Some(4)),
                ("tls.key".to_string(), Some(5)),
                ("limits.global_limit".to_string(), Some(7)),
                ("logs.sink".to_string(), Some(9)),
            ]
        );
        let unknown = load("listen: 0.0.0.0:443\nlisen: 1\n").unwrap_err().to_string();
        assert!(unknown.contains("esb.yml:2") && unknown.contains("lisen"), "{unknown}");
        let plain = load("users:\n  - username: x\n    password_hash: hunter2\n").unwrap_err().to_string();
        assert!(plain.contains("esb auth hash-password"), "{plain}");
    }
}
