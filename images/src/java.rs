//! Java: esb's runtime client (compiled on the host) and the Java base's Dockerfile.
//!
//! Owns: compiling `assets/EsbRuntime.java` once per source text with the host's `javac --release
//! 8` against Debian's Jackson (cached under `java-client/<hash>`), so one build runs on every JRE
//! from 8 to 25; the JVM flags Lambda's Java runtimes start with; the class path of esb's client.
//! Must not: build function code (see `java_build`) or talk to Docker.

use crate::{cache, ImageError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// esb's Java runtime interface client (see the file's header).
pub const CLIENT: &str = include_str!("../assets/EsbRuntime.java");
/// Where the client's classes go in the image.
const CLIENT_DIR: &str = "/var/runtime/java";
/// Debian's Jackson, in the image (`libjackson2-databind-java`) and on the host (to compile against).
const JACKSON: &[&str] = &["jackson-databind.jar", "jackson-core.jar", "jackson-annotations.jar"];
/// Where Debian puts Java libraries.
const DEBIAN_JAVA: &str = "/usr/share/java";
/// JVM flags of Lambda's Java runtimes: a quick start (C1 only, serial GC, class data sharing) and
/// a heap sized from the container's memory limit (the function's MemorySize).
const JVM_FLAGS: &[&str] = &[
    "-XX:+TieredCompilation",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Xshare:auto",
    "-XX:MaxRAMPercentage=85",
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
    let classpath: Vec<String> =
        std::iter::once(CLIENT_DIR.to_string()).chain(JACKSON.iter().map(|j| format!("{DEBIAN_JAVA}/{j}"))).collect();
    let mut command: Vec<String> = vec![rie_path.into(), "--log-level".into(), "info".into(), java_binary(version)];
    command.extend(JVM_FLAGS.iter().map(|f| f.to_string()));
    command.extend(["-cp".to_string(), classpath.join(":"), "esb.runtime.EsbRuntime".to_string()]);
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

/// The client's compiled classes (a directory holding `esb/runtime/*.class`), compiled once per
/// source text.
pub fn client_classes() -> Result<PathBuf, ImageError> {
    let dir = cache::dir().join("java-client").join(&cache::sha256(CLIENT.as_bytes())[..12]);
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
    let work = tempfile::Builder::new().prefix(".client-").tempdir_in(parent).map_err(ImageError::io("creating", parent))?;
    let source = work.path().join("EsbRuntime.java");
    std::fs::write(&source, CLIENT).map_err(ImageError::io("writing", &source))?;
    let classes = work.path().join("classes");
    let classpath: Vec<String> = JACKSON.iter().map(|j| format!("{DEBIAN_JAVA}/{j}")).collect();
    if let Some(missing) = classpath.iter().find(|j| !Path::new(j).is_file()) {
        return Err(ImageError::Tool {
            tool: "javac".into(),
            reason: format!("{missing} is missing: esb's Java runtime client is compiled against Debian's Jackson"),
            output: Some("install libjackson2-databind-java (scripts/setup.sh does)".into()),
        });
    }
    let output = Command::new("javac")
        .args(["--release", "8", "-Xlint:-options", "-nowarn", "-encoding", "UTF-8", "-cp", &classpath.join(":"), "-d"])
        .arg(&classes)
        .arg(&source)
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
    match std::fs::rename(&classes, &dir) {
        // Another build compiled it meanwhile: the same source, the same classes.
        Err(_) if dir.is_dir() => Ok(dir),
        done => done.map(|()| dir.clone()).map_err(ImageError::io("writing", &dir)),
    }
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
        assert!(text.contains("/var/runtime/java:/usr/share/java/jackson-databind.jar"), "{text}");
        assert!(java_binary("8").ends_with("/jre/bin/java"));
    }
}
