//! Node.js dependencies as `sam build` installs them: `npm ci --omit=dev` (or `npm install
//! --omit=dev` without a lock file) on the host, when a function's package.json declares
//! packages its CodeUri does not ship in `node_modules`.
//!
//! Owns: deciding whether a code directory needs an install, the install into a cache directory
//! keyed by package.json and package-lock.json (saving code never reinstalls), and telling "no
//! registry reachable" (the normal case at an air-gapped site: the compile step has already said
//! how to vendor the packages, the build goes on) from a real npm failure (shown with npm's
//! output). Must not: touch the user's CodeUri (the install happens in a copy of the manifests),
//! or retry an unreachable registry on every build of the same process.

use crate::{cache, ImageError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once npm said the registry cannot be reached: later builds skip the attempt.
static UNREACHABLE: AtomicBool = AtomicBool::new(false);

/// How long one install may take, in seconds (coreutils' `timeout` ends it).
const TIMEOUT_SECONDS: &str = "300";

/// npm's words for "the registry cannot be reached".
const NETWORK_ERRORS: &[&str] = &["ENOTFOUND", "ECONNREFUSED", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "ENETUNREACH", "EHOSTUNREACH"];

/// True when a build of `dir` would install packages with npm (some are missing and npm is on
/// the PATH): the image then holds node_modules that the code directory does not.
pub fn installs(dir: &Path) -> bool {
    !esb_config::node_packages::missing(dir).is_empty() && npm().is_some()
}

fn npm() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("npm")).find(|p| p.is_file())
}

/// Installs `dir`'s production dependencies into a cached directory and returns its
/// `node_modules`, or `None` when nothing is missing, npm is not installed or no registry is
/// reachable (the compile step has warned about the missing packages).
pub fn install(dir: &Path) -> Result<Option<PathBuf>, ImageError> {
    if esb_config::node_packages::missing(dir).is_empty() || UNREACHABLE.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let Some(npm) = npm() else { return Ok(None) };
    let manifest = std::fs::read(dir.join("package.json")).map_err(ImageError::io("reading", dir.join("package.json")))?;
    let lock = std::fs::read(dir.join("package-lock.json")).ok();
    let key = cache::sha256(&[manifest.as_slice(), b"\0", lock.as_deref().unwrap_or_default()].concat())[..16].to_string();
    let target = cache::dir().join("node_modules").join(&key);
    if target.join("node_modules").is_dir() {
        return Ok(Some(target.join("node_modules")));
    }
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".npm-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    std::fs::write(work.path().join("package.json"), &manifest).map_err(ImageError::io("writing", work.path()))?;
    if let Some(lock) = &lock {
        std::fs::write(work.path().join("package-lock.json"), lock).map_err(ImageError::io("writing", work.path()))?;
    }
    let verb = if lock.is_some() { "ci" } else { "install" };
    tracing::info!(dir = %dir.display(), verb, "installing Node.js dependencies with npm");
    let output = Command::new("timeout")
        .arg(TIMEOUT_SECONDS)
        .arg(npm)
        .arg(verb)
        .args([
            "--omit=dev",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--fetch-retries=0",
            "--fetch-timeout=15000",
        ])
        .current_dir(work.path())
        .output()
        .map_err(|e| ImageError::Tool { tool: "npm".into(), reason: format!("cannot run npm: {e}"), output: None })?;
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if !output.status.success() {
        if NETWORK_ERRORS.iter().any(|e| log.contains(e)) {
            UNREACHABLE.store(true, Ordering::Relaxed);
            tracing::warn!("npm reaches no registry; Node.js packages that are not vendored are left out (see the build's warnings)");
            return Ok(None);
        }
        return Err(ImageError::Tool {
            tool: "npm".into(),
            reason: format!("`npm {verb} --omit=dev` for {} failed", dir.display()),
            output: Some(crate::tail(&log, 15)),
        });
    }
    let done = work.keep();
    std::fs::rename(&done, &target).map_err(ImageError::io("writing", &target))?;
    Ok(Some(target.join("node_modules")))
}
