//! The root filesystems of the Debian-based bases, two flavours per suite:
//! - interpreters: debootstrap minbase with that suite's CPython and Node.js, and awslambdaric and
//!   boto3 for that CPython, shared by the Python, Node.js and glibc `provided` bases of the suite,
//!   so a project with python3.14 and nodejs24.x functions debootstraps sid once and stores one
//!   image layer for both;
//! - java: minbase with every JRE the catalog takes from the suite (esb's client brings its own
//!   Jackson, see `java`), shared by
//!   that suite's Java bases (Java 21 and 25 on trixie's). Kept apart from the interpreters
//!   because two JREs are ~430 MB that Python and Node.js functions should not carry.
//!
//! Owns: producing `rootfs-<suite>[-java]-<recipe hash>.tar` in the cache, once per suite and flavour. Every network fetch happens
//! on the host: debootstrap from the host's own Debian mirror (read from its apt sources, or
//! `ESB_DEBIAN_MIRROR`), Python packages with the host's pip (`--target` + `--platform`, binary wheels
//! only), so nothing inside an image ever needs the network. pip run inside a chroot would not carry
//! the host's index and certificate settings; that is why it runs outside.
//! Must not: talk to Docker (the tarball is imported by `base`).

use crate::{cache, ImageError};
use esb_config::runtimes::{java_versions, Suite, SUITES};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The CPython esb's own services run on (the built-in DynamoDB, the daemon image): bookworm's.
pub const PYTHON: &str = "3.11";

/// The suite of esb's own services ([`PYTHON`]).
pub fn default_suite() -> &'static Suite {
    &SUITES[0]
}

/// What a root filesystem is for (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// CPython (with awslambdaric and boto3) and Node.js.
    Interpreters,
    /// The suite's JREs and Jackson.
    Java,
    /// A Go toolchain (never an image: `go build` runs in it, by chroot, see `golang`).
    Go,
}

impl Flavour {
    /// The part of file and image names that tells the flavours apart (`""`, `-java`).
    fn suffix(self) -> &'static str {
        match self {
            Flavour::Interpreters => "",
            Flavour::Java => "-java",
            Flavour::Go => "-go",
        }
    }
}

/// Debian packages on top of minbase.
fn packages(suite: &Suite, flavour: Flavour) -> String {
    match flavour {
        Flavour::Interpreters => format!("ca-certificates,python{},nodejs", suite.python),
        Flavour::Java => {
            let jres: Vec<String> = java_versions(suite).iter().map(|v| format!("openjdk-{v}-jre-headless")).collect();
            format!("ca-certificates,{}", jres.join(","))
        }
        Flavour::Go => format!("ca-certificates,golang-{GO}-go"),
    }
}

/// The Go toolchain esb builds Go functions with: trixie's (the newest Debian suite with a Go
/// that releases patch versions; `go.mod`'s `go` line newer than it is an error, never a
/// download: GOTOOLCHAIN=local).
pub const GO: &str = "1.24";
/// The suite [`GO`] comes from.
pub fn go_suite() -> &'static Suite {
    SUITES.iter().find(|s| s.name == "trixie").unwrap_or(&SUITES[0])
}
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

/// Hash of everything that determines a suite's rootfs; part of its file and image names.
pub fn recipe_hash(suite: &Suite, flavour: Flavour) -> String {
    let recipe = match flavour {
        Flavour::Interpreters => {
            format!("{}|{}|{}|{TRIM:?}|v3-compiled", suite.name, packages(suite, flavour), PIP_PACKAGES.join(","))
        }
        Flavour::Java => format!("{}|{}|{TRIM:?}|java-v2", suite.name, packages(suite, flavour)),
        Flavour::Go => format!("{}|{}|{TRIM:?}|go-v1", suite.name, packages(suite, flavour)),
    };
    cache::sha256(recipe.as_bytes())[..12].to_string()
}

/// The engine image the suite's rootfs is imported as.
pub fn image_name(suite: &Suite, flavour: Flavour) -> String {
    format!("esb/rootfs:{}{}-{}", suite.name, flavour.suffix(), recipe_hash(suite, flavour))
}

/// Where the tarball is cached.
pub fn tarball_path(suite: &Suite, flavour: Flavour) -> PathBuf {
    cache::dir().join("rootfs").join(format!("{}{}-{}.tar", suite.name, flavour.suffix(), recipe_hash(suite, flavour)))
}

/// Returns the suite's cached rootfs tarball of `flavour`, building it if needed. `progress`
/// receives one line per stage.
pub fn ensure(suite: &Suite, flavour: Flavour, progress: &dyn Fn(&str)) -> Result<PathBuf, ImageError> {
    let tarball = tarball_path(suite, flavour);
    if tarball.is_file() {
        return Ok(tarball);
    }
    let parent = tarball.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".rootfs-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let root = work.path().join("root");
    make(suite, flavour, &root, progress)?;

    progress("packing the root filesystem");
    let partial = work.path().join("rootfs.tar");
    run(Command::new("tar").args(["--numeric-owner", "-C"]).arg(&root).args(["-cf"]).arg(&partial).arg("."), "tar")?;
    std::fs::rename(&partial, &tarball).map_err(ImageError::io("writing", &tarball))?;
    Ok(tarball)
}

/// The suite's root filesystem of `flavour` as a directory (a toolchain that runs by chroot),
/// made once under the cache's `toolchains/`.
pub fn directory(suite: &Suite, flavour: Flavour, progress: &dyn Fn(&str)) -> Result<PathBuf, ImageError> {
    let dir = cache::dir().join("toolchains").join(format!("{}{}-{}", suite.name, flavour.suffix(), recipe_hash(suite, flavour)));
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".toolchain-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let root = work.path().join("root");
    make(suite, flavour, &root, progress)?;
    cache::publish_dir(&root, &dir)
}

/// debootstraps `flavour` of `suite` into `root` and trims it.
fn make(suite: &Suite, flavour: Flavour, root: &Path, progress: &dyn Fn(&str)) -> Result<(), ImageError> {
    let mirror = mirror()?;
    let (name, packages) = (suite.name, packages(suite, flavour));
    progress(&format!("debootstrap {name} (minbase + {packages})"));
    run(
        Command::new("debootstrap").args(["--variant=minbase", &format!("--include={packages}"), name]).arg(root).arg(&mirror),
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
    if flavour == Flavour::Interpreters {
        python_packages(suite, root, progress)?;
    }
    Ok(())
}

/// awslambdaric and boto3 into `/var/runtime`, compiled by the image's own CPython.
fn python_packages(suite: &Suite, root: &Path, progress: &dyn Fn(&str)) -> Result<(), ImageError> {
    progress(&format!("pip install {} (on the host, into /var/runtime)", PIP_PACKAGES.join(" ")));
    let mut pip = Command::new("python3");
    // No .pyc from the host's Python: they would be for its version, not the image's.
    pip.args([
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--quiet",
        "--target",
    ])
    .arg(root.join("var/runtime"))
    .args(pip_platform_args(suite.python))
    .args(PIP_PACKAGES)
    .env("PIP_ROOT_USER_ACTION", "ignore");
    run(&mut pip, "pip")?;

    // Compiled by the image's own interpreter, once: otherwise every cold start compiles boto3 and
    // botocore again (seconds of CPU; under a flood of cold starts, functions timed out).
    progress(&format!("compiling /var/runtime with python{}", suite.python));
    run(
        Command::new("chroot").arg(root).args([&format!("/usr/bin/python{}", suite.python), "-m", "compileall", "-q", "/var/runtime"]),
        "chroot",
    )
}

/// pip flags that select wheels for CPython `python` (`3.14`), whatever the host's Python is.
pub fn pip_platform_args(python: &str) -> Vec<String> {
    ["--platform", "manylinux2014_x86_64", "--python-version", python, "--implementation", "cp", "--only-binary=:all:"]
        .map(String::from)
        .to_vec()
}

/// The Debian mirror: `ESB_DEBIAN_MIRROR`, else the host's apt sources (deb822 or one-line format).
pub(crate) fn mirror() -> Result<String, ImageError> {
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

/// Finds the first Debian archive URL (not security, not updates) in apt sources text. A Debian
/// archive serves every suite, so the host's (often bookworm's) serves trixie and sid too.
pub fn mirror_from_sources(text: &str) -> Option<String> {
    let release = |s: &str| SUITES.iter().any(|k| k.name == s) || ["stable", "testing", "unstable"].contains(&s);
    // deb822: stanzas separated by blank lines, with `URIs:` and `Suites:`.
    for stanza in text.split("\n\n") {
        let field = |name: &str| stanza.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        if let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) {
            if suites.split_whitespace().any(release) {
                return uris.split_whitespace().next().map(str::to_string);
            }
        }
    }
    // One-line: `deb [opts] URI SUITE components`.
    text.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().filter(|w| !w.starts_with('[')).collect();
        (words.first() == Some(&"deb") && words.get(2).is_some_and(|s| release(s))).then(|| words[1].to_string())
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
        assert_eq!(mirror_from_sources("deb http://x trixie main\n").as_deref(), Some("http://x"));
        assert_eq!(mirror_from_sources("deb http://x bookworm-security main\n"), None);
    }

    #[test]
    fn each_suite_has_its_own_stable_recipe() {
        let (bookworm, sid) = (&SUITES[0], SUITES.iter().find(|s| s.name == "sid").unwrap());
        let i = Flavour::Interpreters;
        assert_eq!(recipe_hash(sid, i), recipe_hash(sid, i));
        assert_ne!(recipe_hash(bookworm, i), recipe_hash(sid, i));
        assert!(tarball_path(sid, i).to_string_lossy().contains(&recipe_hash(sid, i)));
        assert!(packages(sid, i).contains("python3.14") && packages(sid, i).contains("nodejs"));
        let trixie = SUITES.iter().find(|s| s.name == "trixie").unwrap();
        let java = packages(trixie, Flavour::Java);
        assert!(java.contains("openjdk-21-jre-headless") && java.contains("openjdk-25-jre-headless") && !java.contains("python"), "{java}");
        assert_ne!(image_name(trixie, Flavour::Java), image_name(trixie, i));
        assert!(image_name(trixie, Flavour::Java).starts_with("esb/rootfs:trixie-java-"));
    }
}
