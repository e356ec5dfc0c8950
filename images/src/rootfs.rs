//! The Python root filesystem: Debian (debootstrap minbase) + python3 + awslambdaric + boto3.
//!
//! Owns: producing `rootfs-python-<recipe hash>.tar` in the cache, once. Every network fetch happens
//! on the host: debootstrap from the host's own Debian mirror (read from its apt sources, or
//! `ESB_DEBIAN_MIRROR`), Python packages with the host's pip (`--target` + `--platform`, binary wheels
//! only), so nothing inside an image ever needs the network. pip run inside a chroot would not carry
//! the host's index and certificate settings; that is why it runs outside.
//! Must not: talk to Docker (the tarball is imported by `base`).

use crate::{cache, ImageError};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian release the rootfs is made from.
pub const SUITE: &str = "bookworm";
/// CPython version of that release.
pub const PYTHON: &str = "3.11";
/// Debian packages on top of minbase.
pub const PACKAGES: &str = "python3,ca-certificates";
/// Python packages installed into `/var/runtime` (pinned: same recipe, same image).
pub const PIP_PACKAGES: &[&str] = &["awslambdaric==4.2.2", "boto3==1.44.5"];
/// Paths removed after install: documentation, locales, apt caches. Well over 100 MB.
const TRIM: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf",
    "var/log",
];

/// Hash of everything that determines the rootfs; part of its file and image names.
pub fn recipe_hash() -> String {
    let recipe = format!("{SUITE}|{PACKAGES}|{}|{TRIM:?}|v1", PIP_PACKAGES.join(","));
    cache::sha256(recipe.as_bytes())[..12].to_string()
}

/// Where the tarball is cached.
pub fn tarball_path() -> PathBuf {
    cache::dir().join("rootfs").join(format!("python{PYTHON}-{SUITE}-{}.tar", recipe_hash()))
}

/// Returns the cached rootfs tarball, building it if needed. `progress` receives one line per stage.
pub fn ensure(progress: &dyn Fn(&str)) -> Result<PathBuf, ImageError> {
    let tarball = tarball_path();
    if tarball.is_file() {
        return Ok(tarball);
    }
    let parent = tarball.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".rootfs-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let root = work.path().join("root");

    let mirror = mirror()?;
    progress(&format!("debootstrap {SUITE} (minbase + {PACKAGES})"));
    run(
        Command::new("debootstrap").args(["--variant=minbase", &format!("--include={PACKAGES}"), SUITE]).arg(&root).arg(&mirror),
        "debootstrap",
    )?;

    progress("trimming docs, locales and apt caches");
    for rel in TRIM {
        let p = root.join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).map_err(ImageError::io("trimming", &p))?;
            std::fs::create_dir_all(&p).map_err(ImageError::io("trimming", &p))?;
        }
    }
    for dir in ["var/task", "var/runtime", "opt"] {
        std::fs::create_dir_all(root.join(dir)).map_err(ImageError::io("creating", root.join(dir)))?;
    }

    progress(&format!("pip install {} (on the host, into /var/runtime)", PIP_PACKAGES.join(" ")));
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check", "--no-warn-conflicts", "--quiet", "--target"])
        .arg(root.join("var/runtime"))
        .args(pip_platform_args())
        .args(PIP_PACKAGES)
        .env("PIP_ROOT_USER_ACTION", "ignore");
    run(&mut pip, "pip")?;

    progress("packing the root filesystem");
    let partial = work.path().join("rootfs.tar");
    run(Command::new("tar").args(["--numeric-owner", "-C"]).arg(&root).args(["-cf"]).arg(&partial).arg("."), "tar")?;
    std::fs::rename(&partial, &tarball).map_err(ImageError::io("writing", &tarball))?;
    Ok(tarball)
}

/// pip flags that select wheels for the image's Python, whatever the host's Python is.
pub fn pip_platform_args() -> Vec<String> {
    ["--platform", "manylinux2014_x86_64", "--python-version", PYTHON, "--implementation", "cp", "--only-binary=:all:"]
        .map(String::from)
        .to_vec()
}

/// The Debian mirror: `ESB_DEBIAN_MIRROR`, else the host's apt sources (deb822 or one-line format).
fn mirror() -> Result<String, ImageError> {
    if let Some(m) = std::env::var("ESB_DEBIAN_MIRROR").ok().filter(|m| !m.is_empty()) {
        return Ok(m);
    }
    let mut texts = vec![];
    for f in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            texts.push(t);
        }
    }
    texts.into_iter().find_map(|t| mirror_from_sources(&t)).ok_or_else(|| ImageError::Tool {
        tool: "debootstrap".into(),
        reason: "no Debian mirror found in the host's apt sources".into(),
        output: Some("set ESB_DEBIAN_MIRROR to the URL of a Debian mirror (or a local copy of one)".into()),
    })
}

/// Finds the first Debian (not security) archive URL in apt sources text.
pub fn mirror_from_sources(text: &str) -> Option<String> {
    // deb822: stanzas separated by blank lines, with `URIs:` and `Suites:`.
    for stanza in text.split("\n\n") {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if suites.split_whitespace().any(|s| s == SUITE) {
                return uris.split_whitespace().next().map(str::to_string);
            }
        }
    }
    // One-line: `deb [opts] URI SUITE components`.
    text.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().filter(|w| !w.starts_with('[')).collect();
        (words.first() == Some(&"deb") && words.get(2) == Some(&SUITE)).then(|| words[1].to_string())
    })
}

/// Runs a command, capturing output; a failure carries the output's last lines.
fn run(cmd: &mut Command, tool: &str) -> Result<(), ImageError> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| ImageError::Tool {
        tool: tool.into(),
        reason: format!("cannot run it: {e}"),
        output: Some(format!("install {tool} (scripts/setup.sh does) and make sure esb runs as root for debootstrap")),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Err(ImageError::Tool { tool: tool.into(), reason: format!("exited with {}", output.status), output: Some(crate::tail(&text, 20)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_comes_from_deb822_or_one_line_sources() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_from_sources(deb822).as_deref(), Some("http://mirror.example/debian"));
        let one_line =
            "# comment\ndeb [arch=amd64] http://m.example/debian bookworm main\ndeb http://m.example/security bookworm-security main\n";
        assert_eq!(mirror_from_sources(one_line).as_deref(), Some("http://m.example/debian"));
        assert_eq!(mirror_from_sources("deb http://x trixie main\n"), None);
    }

    #[test]
    fn the_recipe_hash_is_stable_and_names_the_tarball() {
        assert_eq!(recipe_hash(), recipe_hash());
        assert!(tarball_path().to_string_lossy().contains(&recipe_hash()));
    }
}
