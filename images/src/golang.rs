//! Go functions built from source (`BuildMethod: go1.x`, `Runtime: go1.x`, or a `provided`
//! CodeUri with Go source and no `bootstrap`), as `sam build` builds them: `go build` with
//! `CGO_ENABLED=0`, `GOOS=linux`, `GOARCH` from Architectures and `-tags lambda.norpc`, into a
//! static `bootstrap` for the scratch base.
//!
//! Owns: running Debian's Go toolchain (`rootfs::GO`, a debootstrapped directory in the cache,
//! entered by chroot, so the host needs no Go and its C library's age does not matter), on a copy
//! of the function's module, with the module and build caches kept in the toolchain between
//! builds. Vendored modules (`vendor/`) build offline; `GOFLAGS`, `GOPROXY` and the other module
//! settings of esb's environment are passed on; a module that cannot be downloaded is an error
//! naming it.
//! Must not: touch CodeUri, or download a newer toolchain (`GOTOOLCHAIN=local`).

use crate::{rootfs, ImageError};
use std::path::Path;
use std::process::{Command, Stdio};

/// Module settings passed from esb's environment to `go build`.
const PASSED: &[&str] = &["GOFLAGS", "GOPROXY", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOSUMDB", "GOINSECURE", "GOAMD64"];

/// `GOARCH` for a Lambda architecture.
fn goarch(architecture: &str) -> &'static str {
    if architecture == "arm64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// Stages function `id`'s code into `out`: its `bootstrap` built from source, or, when Go cannot
/// build it here and `artifacts` (its `sam build` output) is there, those artifacts, said.
pub fn stage(
    id: &str,
    module: &Path,
    package: &str,
    architecture: &str,
    artifacts: Option<std::path::PathBuf>,
    out: &Path,
    note: &dyn Fn(&str),
) -> Result<(), ImageError> {
    match (build(id, module, package, architecture, out, note), artifacts.filter(|a| a.is_dir())) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(built)) => {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or_default();
            note(&format!("Go did not build {id} ({why}); running the `sam build` artifacts in {}", built.display()));
            crate::compiled::copy_source(&built, out, &[])
        }
        (Err(e), None) => Err(e),
    }
}

/// Builds the package `package` (relative to `module`, the directory holding `go.mod`) of
/// function `id` into `out/bootstrap`. `progress` hears about a first toolchain download.
pub fn build(id: &str, module: &Path, package: &str, architecture: &str, out: &Path, progress: &dyn Fn(&str)) -> Result<(), ImageError> {
    let toolchain = rootfs::directory(rootfs::go_suite(), rootfs::Flavour::Go, progress)?;
    // The module is copied into the toolchain's file system, where the chroot sees it.
    let builds = toolchain.join("build");
    std::fs::create_dir_all(&builds).map_err(ImageError::io("creating", &builds))?;
    let work = tempfile::Builder::new().prefix(&format!("{id}-")).tempdir_in(&builds).map_err(ImageError::io("creating", &builds))?;
    crate::compiled::copy_source(module, &work.path().join("src"), &[])?;
    let inside = format!("/build/{}", work.path().file_name().unwrap_or_default().to_string_lossy());
    let package = if package.is_empty() || package == "." { ".".to_string() } else { format!("./{}", package.trim_start_matches("./")) };
    let go = format!("/usr/lib/go-{}/bin/go", rootfs::GO);
    let script = format!("cd {inside}/src && exec {go} build -tags lambda.norpc -trimpath -ldflags=-s -o {inside}/bootstrap {package}");
    let mut cmd = Command::new("chroot");
    cmd.arg(&toolchain)
        .args(["/bin/sh", "-c", &script])
        .env_clear()
        // chroot is in /usr/sbin on the host; the same PATH serves inside.
        .env("PATH", format!("/usr/lib/go-{}/bin:/usr/bin:/bin:/usr/sbin:/sbin", rootfs::GO))
        .env("GOTELEMETRY", "off")
        .env("HOME", "/root")
        .env("GOROOT", format!("/usr/lib/go-{}", rootfs::GO))
        .env("GOPATH", "/root/go")
        .env("GOCACHE", "/root/.cache/go-build")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOOS", "linux")
        .env("GOARCH", goarch(architecture));
    for key in PASSED {
        if let Ok(value) = std::env::var(key) {
            cmd.env(key, value);
        }
    }
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| ImageError::Tool {
        tool: "go".into(),
        reason: format!("function {id}: cannot enter the Go toolchain at {}: {e}", toolchain.display()),
        output: Some("esb runs Debian's Go by chroot, which needs root (as debootstrap does)".into()),
    })?;
    if !output.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let reason = match unresolved_module(&text) {
            Some(module) => format!(
                "building function {id} needs module {module}, which cannot be downloaded from here: vendor the modules \
                 (`go mod vendor` where they can be fetched), or set GOPROXY (and GOFLAGS=-mod=mod) to a proxy esb can reach"
            ),
            None => format!("building function {id} failed (go build {package}, Go {})", rootfs::GO),
        };
        return Err(ImageError::Tool { tool: "go".into(), reason, output: Some(crate::tail(&text, 20)) });
    }
    let built = work.path().join("bootstrap");
    let bootstrap = out.join("bootstrap");
    std::fs::copy(&built, &bootstrap).map_err(ImageError::io("copying the built binary to", &bootstrap))?;
    Ok(())
}

/// The module a failed build could not download (`github.com/aws/aws-lambda-go@v1.47.0`): the
/// `path@version:` word of a line that says a fetch failed.
fn unresolved_module(text: &str) -> Option<String> {
    const FETCH: &[&str] = &["dial tcp", "no such host", "connection refused", "module lookup disabled", "i/o timeout", "reading http"];
    text.lines().filter(|line| FETCH.iter().any(|f| line.contains(f))).find_map(|line| {
        line.split_whitespace()
            .filter_map(|w| w.strip_suffix(':'))
            .find(|w| w.split_once('@').is_some_and(|(path, _)| path.contains('.')))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_that_cannot_be_downloaded_is_named() {
        let text = "go: downloading github.com/aws/aws-lambda-go v1.47.0\n\
                    main.go:4:2: github.com/aws/aws-lambda-go@v1.47.0: Get \"https://proxy.example/github.com/aws/aws-lambda-go/@v/v1.47.0.zip\": dial tcp: lookup proxy.example: no such host\n";
        assert_eq!(unresolved_module(text).as_deref(), Some("github.com/aws/aws-lambda-go@v1.47.0"));
        assert_eq!(unresolved_module("./main.go:3:1: syntax error: non-declaration statement outside function body"), None);
        assert_eq!((goarch("arm64"), goarch("x86_64")), ("arm64", "amd64"));
    }
}
