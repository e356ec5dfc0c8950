//! One running esb per project: the lock that `serve`, `watch`, `up` (foreground) and the daemon's
//! manager hold while they own the project's containers.
//!
//! Owns: `<output>/esb.lock`, an advisory lock (`flock`, released by the kernel when the holder
//! exits, even by kill -9) whose content says who holds it (pid, how it runs, its URL, since when),
//! so a second esb is refused with a message naming the first, `esb status` can see a foreground
//! esb, and `esb down` does not pull the network from under one. Must not: stop anything.
//!
//! Why (issue 19): `esb watch` while `esb up -d` ran took over the daemon's containers (the two
//! then served different code), and `esb down` from another terminal removed the network under a
//! running `esb watch`, which answered 502 from then on.

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Who holds a project's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Holder {
    /// Its process id (in its own pid namespace: a daemon container's is its own).
    pub pid: u32,
    /// `serve`, `watch`, `manager` (a split manager on the host) or `up -d` (the daemon's manager).
    pub mode: String,
    /// Where it serves, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// RFC 3339.
    pub since: String,
}

impl Holder {
    /// True for an esb running in a terminal (not the `up -d` daemon).
    pub fn foreground(&self) -> bool {
        self.mode != "up -d"
    }

    /// `esb watch (pid 4242, https://127.0.0.1:8443, since ...)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if self.foreground() {
            parts.push(format!("pid {}", self.pid));
        }
        parts.extend(self.url.clone());
        parts.push(format!("since {}", self.since));
        let what = if self.foreground() { format!("esb {}", self.mode) } else { "esb up -d".to_string() };
        format!("{what} ({})", parts.join(", "))
    }
}

/// Set in the `up -d` daemon's containers.
pub(super) const DAEMON_ENV: &str = "ESB_DAEMON";

/// How this process runs, for the lock: `up -d` sets [`DAEMON_ENV`] in its containers (whether
/// esb runs in a container says nothing: a developer's shell may be one).
pub(super) fn mode_of(role: &str) -> &str {
    if std::env::var_os(DAEMON_ENV).is_some_and(|v| v == "1") {
        "up -d"
    } else {
        role
    }
}

/// The held lock; released when dropped (or when the process ends).
pub(super) struct ProjectLock {
    file: File,
}

fn lock_path(output_dir: &Path) -> PathBuf {
    output_dir.join("esb.lock")
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub(super) enum Busy {
    /// Another esb holds it.
    Held(Option<Holder>),
    /// The lock file could not be used.
    Io(std::io::Error),
}

impl ProjectLock {
    /// Takes the project's lock for `mode`, or says who has it.
    pub fn acquire(output_dir: &Path, mode: &str, url: Option<String>) -> Result<ProjectLock, Busy> {
        std::fs::create_dir_all(output_dir).map_err(Busy::Io)?;
        let path = lock_path(output_dir);
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(Busy::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Busy::Held(read_holder(&mut file))),
            Err(std::fs::TryLockError::Error(e)) => return Err(Busy::Io(e)),
        }
        let mut lock = ProjectLock { file };
        lock.update(mode, url).map_err(Busy::Io)?;
        Ok(lock)
    }

    /// Rewrites who holds it (the URL is known only once the listener is bound).
    pub fn update(&mut self, mode: &str, url: Option<String>) -> std::io::Result<()> {
        let holder = Holder { pid: std::process::id(), mode: mode.to_string(), url, since: chrono_like_now() };
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(serde_json::to_string(&holder).map_err(std::io::Error::other)?.as_bytes())?;
        self.file.sync_data()
    }
}

/// Who holds the project's lock now, if anyone (the lock is probed, not kept).
pub(super) fn holder(output_dir: &Path) -> Option<Holder> {
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(lock_path(output_dir)).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => read_holder(&mut file).or(Some(Holder { pid: 0, mode: "serve".into(), url: None, since: "unknown".into() })),
    }
}

fn chrono_like_now() -> String {
    esb_runtime::labels::rfc3339(std::time::SystemTime::now())
}

/// The error for a second esb on a held project.
pub(super) fn busy_error(busy: Busy, wanted: &str) -> anyhow::Error {
    match busy {
        Busy::Io(e) => anyhow::anyhow!("the project's lock file cannot be used: {e}"),
        Busy::Held(Some(h)) if !h.foreground() => anyhow::anyhow!(
            "{} already runs this project, so `esb {wanted}` would take over its containers\n  hint: use it, or stop it first with `esb down`",
            h.describe()
        ),
        Busy::Held(Some(h)) => anyhow::anyhow!(
            "{} already runs this project\n  hint: use it, or stop it first (Ctrl-C in its terminal, or `kill {}`)",
            h.describe(),
            h.pid
        ),
        Busy::Held(None) => anyhow::anyhow!("another esb already runs this project\n  hint: stop it first"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_esb_is_refused_with_the_first_named_and_the_lock_ends_with_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = ProjectLock::acquire(dir.path(), "watch", None).unwrap();
        first.update("watch", Some("https://127.0.0.1:8443".into())).unwrap();
        let seen = holder(dir.path()).expect("held");
        assert_eq!((seen.mode.as_str(), seen.url.as_deref(), seen.pid), ("watch", Some("https://127.0.0.1:8443"), std::process::id()));
        let Err(busy) = ProjectLock::acquire(dir.path(), "serve", None) else { panic!("a second lock was granted") };
        let msg = busy_error(busy, "serve").to_string();
        assert!(msg.contains("esb watch (pid") && msg.contains("https://127.0.0.1:8443") && msg.contains("kill"), "{msg}");
        drop(first);
        assert_eq!(holder(dir.path()), None, "released");
        let daemon = ProjectLock::acquire(dir.path(), "up -d", None).unwrap();
        let msg = busy_error(ProjectLock::acquire(dir.path(), "watch", None).err().unwrap(), "watch").to_string();
        assert!(msg.contains("esb up -d") && msg.contains("esb down"), "{msg}");
        drop(daemon);
    }
}
