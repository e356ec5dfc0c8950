//! Build steps that compile a function on the host, as `sam build` runs them: `rust-cargolambda`
//! (cargo, into a static `bootstrap`) and `makefile` (`make build-<LogicalId>` with
//! `ARTIFACTS_DIR`). What they produce, not CodeUri, becomes the image's `/var/task`.
//!
//! Owns: the cargo and make command lines, where their output goes (a fresh directory per build,
//! so an unchanged input gives the same bytes and no image rebuild) and cargo's target directory
//! (in the cache, one per CodeUri, so a rebuild after a save is incremental and the watched source
//! tree never sees build output).
//! Must not: write into CodeUri (make runs in a scratch copy, as `sam build` does by default;
//! cargo only adds a missing Cargo.lock there, as it always does);
//! fetch anything itself (cargo resolves crates as the host's cargo is configured to).

use crate::ImageError;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust target for this machine: static glibc binaries on the `provided` base (which has no C
/// library), the way esb's own test function is built.
fn rust_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// cargo's arguments for a function's BuildProperties.
pub fn cargo_arguments(binary: Option<&str>, features: &[String], target_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["build", "--release", "--message-format=json-render-diagnostics", "--target"].map(String::from).to_vec();
    args.push(rust_target());
    args.push("--target-dir".into());
    args.push(target_dir.display().to_string());
    if let Some(bin) = binary {
        args.extend(["--bin".into(), bin.to_string()]);
    }
    if !features.is_empty() {
        args.extend(["--features".into(), features.join(",")]);
    }
    args
}

/// The binaries a cargo build made, from its JSON messages: (name, path).
fn executables(messages: &str) -> Vec<(String, PathBuf)> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
        .filter_map(|m| Some((m["target"]["name"].as_str()?.to_string(), PathBuf::from(m["executable"].as_str()?))))
        .collect()
}

/// Builds the Cargo package in `code_dir` and puts its binary in `outdir` as `bootstrap`.
pub fn cargo(function: &str, code_dir: &Path, binary: Option<&str>, features: &[String], outdir: &Path) -> Result<(), ImageError> {
    let key =
        crate::cache::sha256(std::fs::canonicalize(code_dir).unwrap_or_else(|_| code_dir.to_path_buf()).as_os_str().as_encoded_bytes());
    let target_dir = crate::cache::dir().join("cargo").join(&key[..16]);
    let args = cargo_arguments(binary, features, &target_dir);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    rustflags.push_str(" -C target-feature=+crt-static");
    let output = Command::new(&cargo).args(&args).env("RUSTFLAGS", rustflags.trim()).current_dir(code_dir).output().map_err(|e| {
        ImageError::Tool {
            tool: "cargo".into(),
            reason: format!("function {function} is a Rust package, and cargo cannot be run: {e}"),
            output: Some("install Rust (rustup or `apt install cargo`), or build `bootstrap` yourself and put it in CodeUri".into()),
        }
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let mut text = crate::tail(&stderr, 30);
        if stderr.contains("target may not be installed") {
            text.push_str(&format!("\nadd the target: `rustup target add {}`", rust_target()));
        }
        return Err(ImageError::Tool {
            tool: "cargo".into(),
            reason: format!("building function {function} failed (cargo {})", args.join(" ")),
            output: Some(text),
        });
    }
    let built = executables(&String::from_utf8_lossy(&output.stdout));
    let chosen = match (binary, built.as_slice()) {
        (Some(name), all) => all.iter().find(|(n, _)| n == name),
        (None, [one]) => Some(one),
        (None, _) => None,
    };
    let Some((_, path)) = chosen else {
        let names: Vec<&str> = built.iter().map(|(n, _)| n.as_str()).collect();
        return Err(ImageError::Tool {
            tool: "cargo".into(),
            reason: format!("function {function}: cargo built {} binaries ({}); esb needs one", names.len(), names.join(", ")),
            output: Some("name it in the function's Metadata: `BuildProperties: {Binary: <name>}`".into()),
        });
    };
    let bootstrap = outdir.join("bootstrap");
    std::fs::copy(path, &bootstrap).map_err(ImageError::io("copying the built binary to", &bootstrap))?;
    Ok(())
}

/// Runs `make build-<function>` in a scratch copy of `code_dir` with `ARTIFACTS_DIR=outdir`.
pub fn make(function: &str, code_dir: &Path, outdir: &Path) -> Result<(), ImageError> {
    let scratch = tempfile::tempdir().map_err(ImageError::io("creating", std::env::temp_dir()))?;
    copy_source(code_dir, scratch.path(), &[])?;
    let target = format!("build-{function}");
    let output = Command::new("make").arg(&target).env("ARTIFACTS_DIR", outdir).current_dir(scratch.path()).output().map_err(|e| {
        ImageError::Tool {
            tool: "make".into(),
            reason: format!("function {function} has BuildMethod makefile, and make cannot be run: {e}"),
            output: Some("install it: `apt install make`".into()),
        }
    })?;
    if !output.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let hint = if text.contains("No rule to make target") {
            format!("\nthe Makefile in {} needs a `{target}:` target that puts the code in $(ARTIFACTS_DIR)", code_dir.display())
        } else {
            String::new()
        };
        return Err(ImageError::Tool {
            tool: "make".into(),
            reason: format!("building function {function} failed (make {target})"),
            output: Some(format!("{}{hint}", crate::tail(&text, 30))),
        });
    }
    Ok(())
}

/// Never copied into a build: esb's and SAM's output, version control.
const NEVER_COPIED: &[&str] = &[".esb", ".aws-sam", ".git"];

/// Copies a source tree into `to` (created), without esb's and SAM's output directories, nor
/// the top-level entries named in `top_skip` (a build tool's own output, such as `target`);
/// symlinks stay symlinks.
pub(crate) fn copy_source(from: &Path, to: &Path, top_skip: &[&str]) -> Result<(), ImageError> {
    std::fs::create_dir_all(to).map_err(ImageError::io("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(ImageError::io("reading", from))? {
        let entry = entry.map_err(ImageError::io("reading", from))?;
        let name = entry.file_name();
        if NEVER_COPIED.iter().chain(top_skip).any(|n| name == *n) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().map_err(ImageError::io("reading", &src))?;
        if kind.is_dir() {
            copy_source(&src, &dst, &[])?;
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&src).map_err(ImageError::io("reading", &src))?;
            std::os::unix::fs::symlink(link, &dst).map_err(ImageError::io("creating", &dst))?;
        } else {
            std::fs::copy(&src, &dst).map_err(ImageError::io("copying", &src))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_properties_become_cargo_flags() {
        let args = cargo_arguments(Some("handler"), &["a".into(), "b".into()], Path::new("/t"));
        let tail: Vec<&str> = args.iter().map(String::as_str).skip(5).collect();
        assert_eq!(tail, ["--target-dir", "/t", "--bin", "handler", "--features", "a,b"]);
        assert_eq!(args[4], format!("{}-unknown-linux-gnu", std::env::consts::ARCH));
    }

    #[test]
    fn the_built_binaries_are_read_from_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"dep"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"handler"},"executable":"/t/release/handler"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executables(messages), [("handler".to_string(), PathBuf::from("/t/release/handler"))]);
    }

    #[test]
    fn a_makefile_builds_into_artifacts_dir_in_a_scratch_copy_and_a_missing_target_says_what_to_add() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("Makefile"), "build-Fn:\n\tcp app.py $(ARTIFACTS_DIR)/\n\ttouch made-here\n").unwrap();
        std::fs::write(src.path().join("app.py"), "x = 1\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        make("Fn", src.path(), out.path()).unwrap();
        assert_eq!(std::fs::read_to_string(out.path().join("app.py")).unwrap(), "x = 1\n");
        assert!(!src.path().join("made-here").exists(), "make ran in a scratch copy, not in CodeUri");
        let e = make("Other", src.path(), out.path()).unwrap_err().to_string();
        assert!(e.contains("build-Other") && e.contains("ARTIFACTS_DIR"), "{e}");
    }
}
