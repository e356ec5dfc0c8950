//! Java: esb's runtime client (compiled on the host) and the Java base's Dockerfile.
//!
//! Owns: compiling `assets/EsbRuntime.java` together with Jackson's source, once per source text,
//! with the host's `javac --release 8` (cached under `java-client/<hash>`), so one build runs on
//! every JRE from 8 to 25; the JVM flags Lambda's Java runtimes start with.
//! Jackson comes as source from Debian's archive (bookworm's 2.14 `.orig` tarballs, pinned by
//! SHA-256), fetched from the same mirror debootstrap uses: Debian's own Jackson jars are built
//! for Java 17 (bookworm) and 21 (sid), which Java 8 and 11 cannot load.
//! Must not: build function code (see `java_build`) or talk to Docker.

use crate::{cache, ImageError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// esb's Java runtime interface client (see the file's header).
pub const CLIENT: &str = include_str!("../assets/EsbRuntime.java");
/// Where the client's classes go in the image.
const CLIENT_DIR: &str = "/var/runtime/java";
/// A Jackson source tarball in Debian's archive: path under the mirror, its top directory,
/// SHA-256, and the package, version and artifact of its generated `PackageVersion` (if any).
type Tarball = (&'static str, &'static str, &'static str, Option<(&'static str, &'static str, &'static str)>);

/// Jackson's source, as Debian bookworm has it.
const JACKSON: &[Tarball] = &[
    (
        "pool/main/j/jackson-annotations/jackson-annotations_2.14.0.orig.tar.xz",
        "jackson-annotations-jackson-annotations-2.14.0",
        "d13d3488fba932cb3e2ba8187adc3cef92b8e6cdf6d50904b51020d57a75be86",
        None,
    ),
    (
        "pool/main/j/jackson-core/jackson-core_2.14.1.orig.tar.xz",
        "jackson-core-jackson-core-2.14.1",
        "d9eb6aa1898c4d5a582c52e69da249efae25e4d2c809c57dc6b6ee01c4b0fb3b",
        Some(("com.fasterxml.jackson.core.json", "2.14.1", "jackson-core")),
    ),
    (
        "pool/main/j/jackson-databind/jackson-databind_2.14.0.orig.tar.xz",
        "jackson-databind-jackson-databind-2.14.0",
        "ec086218027c3ecf235fcda042bf04d87b4178ee225f0633f062cd20e64f74a9",
        Some(("com.fasterxml.jackson.databind.cfg", "2.14.0", "jackson-databind")),
    ),
];
/// JVM flags of Lambda's Java runtimes: a quick start (C1 only, serial GC, class data sharing) and
/// a heap sized from the container's memory limit (the function's MemorySize).
const JVM_FLAGS: &[&str] = &[
    "-XX:+TieredCompilation",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xshare:auto",
    "-XX:MaxRAMPercentage=85.0",
    "-XX:-UsePerfData",
];

/// Debian's name for this machine's architecture in JVM paths.
fn debian_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// The `java` binary of Debian's JRE `version` (Java 8 keeps it under `jre/`).
pub fn java_binary(version: &str) -> String {
    let home = format!("/usr/lib/jvm/java-{version}-openjdk-{}", debian_arch());
    if version == "8" {
        format!("{home}/jre/bin/java")
    } else {
        format!("{home}/bin/java")
    }
}

/// The Java base's Dockerfile: the suite's Java root filesystem, RIE, esb's client, and the JRE
/// `version` as RIE's bootstrap. Layers' jars are in `/opt/java/lib`, found by the client.
pub fn dockerfile(rootfs_image: &str, version: &str, rie_path: &str) -> String {
    let mut command: Vec<String> = vec![rie_path.into(), "--log-level".into(), "info".into(), java_binary(version)];
    command.extend(JVM_FLAGS.iter().map(|f| f.to_string()));
    command.extend(["-cp".to_string(), CLIENT_DIR.to_string(), "esb.runtime.EsbRuntime".to_string()]);
    let entrypoint = serde_json::to_string(&command).unwrap_or_default();
    format!(
        "FROM {rootfs_image}\n\
         COPY aws-lambda-rie {rie_path}\n\
         COPY java/ {CLIENT_DIR}/\n\
         ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LANG=C.UTF-8 \\\n    \
         JAVA_HOME=/usr/lib/jvm/java-{version}-openjdk-{}\n\
         WORKDIR /var/task\n\
         ENTRYPOINT {entrypoint}\n",
        debian_arch()
    )
}

/// What determines the compiled client: its source and Jackson's pinned tarballs (12 hex digits;
/// part of the Java bases' content hash and the cache directory's name).
pub fn client_key() -> String {
    let pins: Vec<&str> = JACKSON.iter().map(|j| j.2).collect();
    cache::sha256(format!("{CLIENT}|{}", pins.join(",")).as_bytes())[..12].to_string()
}

/// The client's compiled classes with Jackson's (a directory holding `esb/runtime/*.class` and
/// `com/fasterxml/jackson/...`), compiled once per source text.
pub fn client_classes(progress: &dyn Fn(&str)) -> Result<PathBuf, ImageError> {
    let dir = cache::dir().join("java-client").join(client_key());
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".client-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let sources = work.path().join("src");
    jackson_sources(&sources, progress)?;
    let client = sources.join("esb/runtime/EsbRuntime.java");
    std::fs::create_dir_all(client.parent().unwrap_or(&sources)).map_err(ImageError::io("creating", &sources))?;
    std::fs::write(&client, CLIENT).map_err(ImageError::io("writing", &client))?;
    let mut files = vec![];
    collect_java(&sources, &mut files)?;
    let list = work.path().join("sources.txt");
    let text: Vec<String> = files.iter().map(|f| format!("\"{}\"", f.display())).collect();
    std::fs::write(&list, text.join("\n")).map_err(ImageError::io("writing", &list))?;
    let classes = work.path().join("classes");
    progress("compiling esb's Java runtime client and Jackson (javac --release 8)");
    let output = Command::new("javac")
        .args(["--release", "8", "-Xlint:-options", "-nowarn", "-encoding", "UTF-8", "-d"])
        .arg(&classes)
        .arg(format!("@{}", list.display()))
        .output()
        .map_err(|e| ImageError::Tool {
            tool: "javac".into(),
            reason: format!("cannot run it: {e}"),
            output: Some(
                "install a JDK, e.g. openjdk-17-jdk-headless (scripts/setup.sh does): esb compiles its Java runtime client with it".into(),
            ),
        })?;
    if !output.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        return Err(ImageError::Tool {
            tool: "javac".into(),
            reason: "compiling esb's Java runtime client failed".into(),
            output: Some(crate::tail(&text, 20)),
        });
    }
    cache::publish_dir(&classes, &dir)
}

/// Jackson's Java source into `into`: each pinned tarball from the cache (`downloads/`), else
/// from the Debian mirror, checked against its SHA-256, with its `PackageVersion` generated as
/// its Maven build generates it.
fn jackson_sources(into: &Path, progress: &dyn Fn(&str)) -> Result<(), ImageError> {
    let downloads = cache::dir().join("downloads");
    std::fs::create_dir_all(&downloads).map_err(ImageError::io("creating", &downloads))?;
    for (path, top, sha, version) in JACKSON {
        let name = path.rsplit('/').next().unwrap_or(path);
        let tarball = downloads.join(name);
        if !tarball.is_file() || cache::sha256_file(&tarball)? != *sha {
            let url = format!("{}/{path}", crate::rootfs::mirror()?.trim_end_matches('/'));
            progress(&format!("fetching {name} from the Debian mirror"));
            let partial = downloads.join(format!("{name}.partial"));
            let fetched = Command::new("python3")
                .args(["-c", "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])", &url])
                .arg(&partial)
                .output()
                .map_err(|e| ImageError::Tool { tool: "python3".into(), reason: format!("cannot fetch {url}: {e}"), output: None })?;
            if !fetched.status.success() {
                return Err(ImageError::Tool {
                    tool: "esb build".into(),
                    reason: format!("fetching {url} failed: Jackson's source, for esb's Java runtime client"),
                    output: Some(format!(
                        "{}\n  hint: put {name} in {} (from any Debian mirror), or set ESB_DEBIAN_MIRROR",
                        crate::tail(&String::from_utf8_lossy(&fetched.stderr), 5),
                        downloads.display()
                    )),
                });
            }
            let got = cache::sha256_file(&partial)?;
            if got != *sha {
                let _ = std::fs::remove_file(&partial);
                return Err(ImageError::Tool {
                    tool: "esb build".into(),
                    reason: format!("{url} has SHA-256 {got}, not the pinned {sha}"),
                    output: None,
                });
            }
            std::fs::rename(&partial, &tarball).map_err(ImageError::io("writing", &tarball))?;
        }
        let unpacked = into.parent().unwrap_or(into).join("unpacked");
        std::fs::create_dir_all(&unpacked).map_err(ImageError::io("creating", &unpacked))?;
        let tar = Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(&unpacked).output().map_err(|e| ImageError::Tool {
            tool: "tar".into(),
            reason: format!("cannot unpack {name}: {e}"),
            output: None,
        })?;
        if !tar.status.success() {
            return Err(ImageError::Tool {
                tool: "tar".into(),
                reason: format!("unpacking {name} failed (tar with xz)"),
                output: Some(crate::tail(&String::from_utf8_lossy(&tar.stderr), 5)),
            });
        }
        crate::compiled::copy_source(&unpacked.join(top).join("src/main/java"), into, &[])?;
        if let Some((package, version, artifact)) = version {
            let dir = into.join(package.replace('.', "/"));
            let template = dir.join("PackageVersion.java.in");
            let text = std::fs::read_to_string(&template).map_err(ImageError::io("reading", &template))?;
            let text = text
                .replace("@package@", package)
                .replace("@projectversion@", version)
                .replace("@projectgroupid@", "com.fasterxml.jackson.core")
                .replace("@projectartifactid@", artifact);
            std::fs::write(dir.join("PackageVersion.java"), text).map_err(ImageError::io("writing", &dir))?;
        }
    }
    Ok(())
}

/// Every `.java` file under `dir` but `module-info.java` (the classes run on the class path).
fn collect_java(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImageError> {
    for entry in std::fs::read_dir(dir).map_err(ImageError::io("reading", dir))?.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect_java(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "java") && entry.file_name() != "module-info.java" {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_runs_the_exact_jre_with_lambdas_flags() {
        let text = dockerfile("esb/rootfs:trixie-java-abc", "25", "/usr/local/bin/aws-lambda-rie");
        assert!(text.starts_with("FROM esb/rootfs:trixie-java-abc\n"), "{text}");
        let arch = debian_arch();
        assert!(text.contains(&format!("\"/usr/lib/jvm/java-25-openjdk-{arch}/bin/java\",\"-XX:+TieredCompilation\"")), "{text}");
        assert!(text.contains("\"-cp\",\"/var/runtime/java\",\"esb.runtime.EsbRuntime\""), "{text}");
        assert!(java_binary("8").ends_with("/jre/bin/java"));
    }
}
