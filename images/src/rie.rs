//! The real `aws-lambda-rie` binary, from the `aws-sam-cli` wheel on PyPI.
//!
//! Owns: getting the binary once into the cache, checked. Order: `ESB_RIE_PATH` (an operator's
//! binary, used as is), the cache (re-checked against the recorded hash), a wheel in `ESB_WHEEL_DIR`
//! or pip's `--find-links` dirs, then `pip download` (pip knows the package index; esb names none).
//! The wheel is verified against a pinned SHA-256 before anything is extracted from it.
//! Must not: run the binary.

use crate::{cache, ImageError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The aws-sam-cli release whose wheel carries the pinned RIE.
pub const SAM_CLI_VERSION: &str = "1.170.0";
/// SHA-256 of `aws_sam_cli-1.170.0-py3-none-any.whl`.
pub const WHEEL_SHA256: &str = "24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf";
/// The binary inside the wheel.
pub const WHEEL_MEMBER: &str = "samcli/local/rapid/aws-lambda-rie-x86_64";

/// The wheel's file name.
pub fn wheel_name() -> String {
    format!("aws_sam_cli-{SAM_CLI_VERSION}-py3-none-any.whl")
}

/// Where the binary is cached.
pub fn cached_path() -> PathBuf {
    cache::dir().join("rie").join(SAM_CLI_VERSION).join("aws-lambda-rie")
}

/// Returns a path to a verified RIE binary, fetching it if needed.
pub fn ensure() -> Result<PathBuf, ImageError> {
    if let Some(p) = operator_binary(std::env::var_os("ESB_RIE_PATH"))? {
        return Ok(p);
    }
    let target = cached_path();
    let stamp = target.with_extension("sha256");
    if let (true, Ok(recorded)) = (target.is_file(), std::fs::read_to_string(&stamp)) {
        if cache::sha256_file(&target)? == recorded.trim() {
            return Ok(target);
        }
        tracing::warn!(path = %target.display(), "cached RIE binary does not match its recorded hash; fetching again");
    }
    let wheel = find_wheel()?;
    let binary = extract(&wheel)?;
    cache::write_atomic(&target, &binary, 0o755)?;
    cache::write_atomic(&stamp, cache::sha256(&binary).as_bytes(), 0o644)?;
    Ok(target)
}

/// An operator-provided binary (`ESB_RIE_PATH`), used as is; an unusable one is an error, never
/// silently replaced by a download.
fn operator_binary(var: Option<std::ffi::OsString>) -> Result<Option<PathBuf>, ImageError> {
    let Some(p) = var.filter(|p| !p.is_empty()).map(PathBuf::from) else { return Ok(None) };
    if p.is_file() {
        Ok(Some(p))
    } else {
        Err(rie_error(format!("ESB_RIE_PATH={} is not a file", p.display())))
    }
}

fn rie_error(reason: String) -> ImageError {
    ImageError::Rie { reason, wheel: wheel_name() }
}

/// A verified wheel: from a local dir, else downloaded with pip into the cache.
fn find_wheel() -> Result<PathBuf, ImageError> {
    let name = wheel_name();
    let mut dirs: Vec<PathBuf> = vec![];
    for var in ["ESB_WHEEL_DIR", "PIP_FIND_LINKS"] {
        if let Some(v) = std::env::var_os(var) {
            dirs.extend(std::env::split_paths(&v).chain(v.to_string_lossy().split_whitespace().map(PathBuf::from)));
        }
    }
    let downloads = cache::dir().join("wheels");
    dirs.push(downloads.clone());
    for d in &dirs {
        let candidate = d.join(&name);
        if candidate.is_file() && verify(&candidate)? {
            return Ok(candidate);
        }
    }
    std::fs::create_dir_all(&downloads).map_err(ImageError::io("creating", &downloads))?;
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d"])
        .arg(&downloads)
        .arg(format!("aws-sam-cli=={SAM_CLI_VERSION}"))
        .output()
        .map_err(|e| rie_error(format!("cannot run `python3 -m pip`: {e}")))?;
    let wheel = downloads.join(&name);
    if !output.status.success() || !wheel.is_file() {
        let tail = String::from_utf8_lossy(&output.stderr)
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(rie_error(format!("pip could not download aws-sam-cli=={SAM_CLI_VERSION}: {tail}")));
    }
    if !verify(&wheel)? {
        let _ = std::fs::remove_file(&wheel);
        return Err(rie_error(format!("{name} does not have the pinned SHA-256 {WHEEL_SHA256}; it was deleted")));
    }
    Ok(wheel)
}

fn verify(wheel: &Path) -> Result<bool, ImageError> {
    Ok(cache::sha256_file(wheel)? == WHEEL_SHA256)
}

fn extract(wheel: &Path) -> Result<Vec<u8>, ImageError> {
    use std::io::Read;
    let file = std::fs::File::open(wheel).map_err(ImageError::io("reading", wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| rie_error(format!("{} is not a valid wheel: {e}", wheel.display())))?;
    let mut member = archive.by_name(WHEEL_MEMBER).map_err(|e| rie_error(format!("{WHEEL_MEMBER} not in {}: {e}", wheel.display())))?;
    let mut bytes = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut bytes).map_err(ImageError::io("extracting", wheel))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_binary_is_used_as_is_and_a_missing_one_says_what_to_do() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(operator_binary(Some(file.path().into())).unwrap().as_deref(), Some(file.path()));
        assert!(operator_binary(None).unwrap().is_none());
        let err = operator_binary(Some("/nonexistent/aws-lambda-rie".into())).unwrap_err().to_string();
        assert!(err.contains("ESB_RIE_PATH=/nonexistent/aws-lambda-rie is not a file"), "{err}");
        assert!(err.contains("hint:") && err.contains(&wheel_name()), "names the manual ways: {err}");
    }

    #[test]
    fn only_the_pinned_wheel_is_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join(wheel_name());
        std::fs::write(&fake, b"not the real wheel").unwrap();
        assert!(!verify(&fake).unwrap());
    }
}
