//! A Java function's code as Lambda lays it out in `/var/task`: classes at the root, dependencies
//! in `lib/*.jar`.
//!
//! Owns: staging that layout from what CodeUri is: a jar or zip (extracted, as Lambda extracts
//! it), a classes directory (as it is), or a Maven or Gradle project, built on the host in a
//! scratch copy when the tool is there and can resolve the project. When it cannot, a prebuilt
//! artifact is used and said (`.aws-sam/build/<Id>`, then the project's own `target/*.jar` or
//! `build/libs/*.jar`); with none, the error says exactly what to build.
//! Must not: touch CodeUri (builds run in a scratch copy) or talk to Docker.

use crate::ImageError;
use esb_config::model::Build;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Stages function `id`'s code from `code` (CodeUri; `root` is the template's directory) into
/// `out`. `note` receives what a reader should know (a fallback taken).
pub fn stage(id: &str, code: &Path, build: Option<&Build>, root: &Path, out: &Path, note: &dyn Fn(&str)) -> Result<(), ImageError> {
    match build {
        Some(Build::Maven { artifacts, output }) => {
            let project = Project { id, code, tool: Tool::Maven, output: output.as_deref() };
            project.stage(artifacts.as_deref().map(|a| root.join(a)), out, note)
        }
        Some(Build::Gradle { artifacts, output }) => {
            let project = Project { id, code, tool: Tool::Gradle, output: output.as_deref() };
            project.stage(artifacts.as_deref().map(|a| root.join(a)), out, note)
        }
        _ if code.is_file() => extract(code, out),
        _ => copy_tree(code, out),
    }
}

/// A Java build tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Maven,
    Gradle,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Maven => "Maven",
            Tool::Gradle => "Gradle",
        }
    }

    /// The command that builds the project in `dir`, as `sam build` runs it.
    fn command(self, dir: &Path) -> Command {
        match self {
            Tool::Maven => {
                let mut c = Command::new(maven());
                c.args(["-B", "-q", "-DskipTests", "package", "dependency:copy-dependencies", "-DincludeScope=runtime"]);
                c
            }
            Tool::Gradle => {
                let wrapper = dir.join("gradlew");
                let mut c = if wrapper.is_file() { Command::new(wrapper) } else { Command::new("gradle") };
                c.args(["-q", "build", "-x", "test"]);
                c
            }
        }
    }

    /// What the user runs to make the prebuilt artifact esb falls back to.
    fn advice(self, id: &str, output: Option<&str>) -> String {
        if let Some(output) = output {
            let run = if self == Tool::Maven { "mvn package" } else { "gradle build" };
            return format!("run `{run}` in CodeUri's project where {} can resolve it, to make {output}", self.name());
        }
        match self {
            Tool::Maven => format!(
                "run `mvn package` in CodeUri (or `sam build`) where Maven can resolve the project; esb then runs target/*.jar \
                 with target/dependency/*.jar (or .aws-sam/build/{id})"
            ),
            Tool::Gradle => format!(
                "run `gradle build` in CodeUri (or `sam build`) where Gradle can resolve the project; esb then runs \
                 build/distributions/*.zip or build/libs/*.jar (or .aws-sam/build/{id})"
            ),
        }
    }
}

/// The Maven command (`mvn`; tests put a stand-in here).
fn maven() -> String {
    #[cfg(test)]
    if let Some(m) = MAVEN.with(|m| m.borrow().clone()) {
        return m;
    }
    "mvn".into()
}

/// A Maven or Gradle project and what of its build is the code.
struct Project<'a> {
    id: &'a str,
    code: &'a Path,
    tool: Tool,
    /// The archive the build makes (relative to `code`), or `None` for classes and dependencies.
    output: Option<&'a str>,
}

impl Project<'_> {
    /// Built if the tool can, else a prebuilt artifact.
    fn stage(&self, artifacts: Option<PathBuf>, out: &Path, note: &dyn Fn(&str)) -> Result<(), ImageError> {
        let (id, tool) = (self.id, self.tool);
        let failure = match build_project(self.code, tool, self.output, out) {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        // Nothing half-staged from the failed build.
        if out.is_dir() {
            std::fs::remove_dir_all(out).map_err(ImageError::io("clearing", out))?;
            std::fs::create_dir_all(out).map_err(ImageError::io("creating", out))?;
        }
        if let Some(dir) = artifacts.filter(|a| a.is_dir()) {
            note(&format!("{} did not build {id} ({}); running the `sam build` artifacts in {}", tool.name(), failure.0, dir.display()));
            return copy_tree(&dir, out);
        }
        let jar = match self.output {
            Some(output) => Some(self.code.join(output)).filter(|p| p.is_file()),
            None => prebuilt(self.code, tool),
        };
        if let Some(jar) = jar {
            note(&format!("{} did not build {id} ({}); running the prebuilt {}", tool.name(), failure.0, jar.display()));
            extract(&jar, out)?;
            // `mvn dependency:copy-dependencies` puts the runtime dependencies next to the jar.
            let deps = self.code.join("target/dependency");
            if tool == Tool::Maven && self.output.is_none() && deps.is_dir() {
                copy_jars(&deps, &out.join("lib"))?;
            }
            return Ok(());
        }
        Err(ImageError::Tool {
            tool: tool.name().to_lowercase(),
            reason: format!("{} could not build function {id} ({}), and there is no prebuilt artifact to run", tool.name(), failure.0),
            output: Some(match failure.1 {
                Some(output) => format!("{output}\n  hint: {}", tool.advice(id, self.output)),
                None => tool.advice(id, self.output),
            }),
        })
    }
}

/// Why a build did not happen: a short reason and the tool's output, when it ran.
type Failure = (String, Option<String>);

/// Builds the project in a scratch copy and stages its classes and runtime dependencies, or the
/// archive `output` it makes.
fn build_project(code: &Path, tool: Tool, output: Option<&str>, out: &Path) -> Result<(), Failure> {
    let scratch = tempfile::tempdir().map_err(|e| (format!("cannot create a scratch directory: {e}"), None))?;
    let work = scratch.path().join("project");
    copy_project(code, &work).map_err(|e| (e.to_string(), None))?;
    let ran = match tool.command(&work).current_dir(&work).stdin(Stdio::null()).output() {
        Ok(ran) => ran,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err((format!("{} is not installed", tool.name()), None)),
        Err(e) => return Err((format!("cannot run {}: {e}", tool.name()), None)),
    };
    if !ran.status.success() {
        let text = format!("{}{}", String::from_utf8_lossy(&ran.stdout), String::from_utf8_lossy(&ran.stderr));
        return Err((unresolved(&text).unwrap_or_else(|| format!("it exited with {}", ran.status)), Some(crate::tail(&text, 15))));
    }
    if let Some(output) = output {
        let archive = work.join(output);
        if !archive.is_file() {
            return Err((format!("the build made no {output}"), None));
        }
        return extract(&archive, out).map_err(|e| (e.to_string(), None));
    }
    let staged = match tool {
        Tool::Maven => {
            let classes = work.join("target/classes");
            copy_tree(&classes, out).and_then(|()| {
                let deps = work.join("target/dependency");
                if deps.is_dir() {
                    copy_jars(&deps, &out.join("lib"))
                } else {
                    Ok(())
                }
            })
        }
        Tool::Gradle => match prebuilt(&work, Tool::Gradle) {
            Some(artifact) => extract(&artifact, out),
            None => return Err(("the build made no build/distributions/*.zip or build/libs/*.jar".into(), None)),
        },
    };
    staged.map_err(|e| (e.to_string(), None))
}

/// The first line of a build's output that names what could not be resolved offline.
fn unresolved(text: &str) -> Option<String> {
    text.lines()
        .map(|l| l.trim_start_matches("[ERROR]").trim())
        .find(|l| {
            l.contains("Could not resolve")
                || l.contains("Could not transfer")
                || l.contains("Non-resolvable")
                || l.contains("could not be resolved")
                || l.contains("Could not find")
        })
        .map(|l| l.chars().take(300).collect())
}

/// A prebuilt artifact in the project: Maven's `target/*.jar` (the largest: a shaded jar over the
/// thin one), Gradle's `build/distributions/*.zip`, then `build/libs/*.jar`.
fn prebuilt(code: &Path, tool: Tool) -> Option<PathBuf> {
    let dirs: &[(&str, &str)] = match tool {
        Tool::Maven => &[("target", ".jar")],
        Tool::Gradle => &[("build/distributions", ".zip"), ("build/libs", ".jar")],
    };
    dirs.iter().find_map(|(dir, ext)| {
        let entries = std::fs::read_dir(code.join(dir)).ok()?;
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap_or_default().to_string_lossy().to_string();
                name.ends_with(ext)
                    && !name.starts_with("original-")
                    && !["-sources.jar", "-javadoc.jar", "-tests.jar", "-plain.jar"].iter().any(|s| name.ends_with(s))
            })
            .max_by_key(|p| p.metadata().map(|m| m.len()).unwrap_or(0))
    })
}

/// Extracts a jar or zip into `out`, as Lambda extracts a function's archive into `/var/task`.
/// Entries that would land outside `out` are refused.
pub fn extract(archive: &Path, out: &Path) -> Result<(), ImageError> {
    let bad = |e: zip::result::ZipError| ImageError::Tool {
        tool: "unzip".into(),
        reason: format!("{} is not a readable jar or zip: {e}", archive.display()),
        output: None,
    };
    let file = std::fs::File::open(archive).map_err(ImageError::io("reading", archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(bad)?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(bad)?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(ImageError::Tool {
                tool: "unzip".into(),
                reason: format!("{} holds `{}`, a path outside the archive's directory", archive.display(), entry.name()),
                output: None,
            });
        };
        let target = out.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(ImageError::io("creating", &target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(ImageError::io("creating", parent))?;
        }
        let mut f = std::fs::File::create(&target).map_err(ImageError::io("writing", &target))?;
        std::io::copy(&mut entry, &mut f).map_err(ImageError::io("writing", &target))?;
    }
    Ok(())
}

/// Copies the jars of `from` into `to`.
fn copy_jars(from: &Path, to: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(to).map_err(ImageError::io("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(ImageError::io("reading", from))?.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "jar") {
            let target = to.join(entry.file_name());
            std::fs::copy(&path, &target).map_err(ImageError::io("copying", &path))?;
        }
    }
    Ok(())
}

/// Copies a directory of built code.
fn copy_tree(from: &Path, to: &Path) -> Result<(), ImageError> {
    crate::compiled::copy_source(from, to, &[])
}

/// Copies a project for a build, without its build outputs.
fn copy_project(from: &Path, to: &Path) -> Result<(), ImageError> {
    crate::compiled::copy_source(from, to, &["target", "build", ".gradle"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip(path: &Path, entries: &[(&str, &[u8])]) {
        let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, bytes) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap();
    }

    #[test]
    fn a_zip_is_extracted_as_lambda_lays_it_out_and_an_escaping_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("app.zip");
        zip(&archive, &[("example/App.class", b"cafe"), ("lib/core.jar", b"jar")]);
        let out = dir.path().join("out");
        stage("F", &archive, None, dir.path(), &out, &|_| {}).unwrap();
        assert_eq!(std::fs::read(out.join("example/App.class")).unwrap(), b"cafe");
        assert!(out.join("lib/core.jar").is_file());

        let evil = dir.path().join("evil.jar");
        zip(&evil, &[("../../escaped.class", b"x")]);
        let err = extract(&evil, &dir.path().join("out2")).unwrap_err().to_string();
        assert!(err.contains("outside the archive"), "{err}");
        assert!(!dir.path().join("escaped.class").exists());
    }

    #[test]
    fn a_maven_project_that_cannot_build_runs_its_prebuilt_jar_or_says_what_to_build() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path().join("fn");
        std::fs::create_dir_all(code.join("src")).unwrap();
        std::fs::write(code.join("pom.xml"), "<project/>").unwrap();
        // A Maven that fails as an offline one does.
        let fake = dir.path().join("mvn");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho '[ERROR] Failed to execute goal: Could not resolve dependencies for project x:y:jar:1.0'\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = dir.path().join("out");
        let build = |out: &Path, note: &dyn Fn(&str)| {
            MAVEN.with(|m| *m.borrow_mut() = Some(fake.display().to_string()));
            Project { id: "F", code: &code, tool: Tool::Maven, output: None }.stage(None, out, note)
        };
        let err = build(&out, &|_| {}).unwrap_err().to_string();
        assert!(err.contains("Could not resolve dependencies") && err.contains("run `mvn package`"), "{err}");

        std::fs::create_dir_all(code.join("target/dependency")).unwrap();
        zip(&code.join("target/app-1.0.jar"), &[("example/App.class", b"cafe")]);
        std::fs::write(code.join("target/dependency/gson.jar"), b"jar").unwrap();
        let notes = std::cell::RefCell::new(vec![]);
        build(&out, &|n| notes.borrow_mut().push(n.to_string())).unwrap();
        assert!(out.join("example/App.class").is_file() && out.join("lib/gson.jar").is_file());
        assert!(notes.borrow()[0].contains("running the prebuilt"), "{:?}", notes.borrow());

        // A project whose build makes the archive CodeUri names (`target/sourceCode.zip`).
        zip(&dir.path().join("made.zip"), &[("example/Made.class", b"made"), ("lib/dep.jar", b"jar")]);
        let maker = dir.path().join("mvn-ok");
        std::fs::write(
            &maker,
            format!("#!/bin/sh\nmkdir -p target && cp {} target/sourceCode.zip\n", dir.path().join("made.zip").display()),
        )
        .unwrap();
        std::fs::set_permissions(&maker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        MAVEN.with(|m| *m.borrow_mut() = Some(maker.display().to_string()));
        let out = dir.path().join("out-made");
        Project { id: "F", code: &code, tool: Tool::Maven, output: Some("target/sourceCode.zip") }.stage(None, &out, &|_| {}).unwrap();
        assert!(out.join("example/Made.class").is_file() && out.join("lib/dep.jar").is_file());
        assert!(!code.join("target/sourceCode.zip").exists(), "the build ran in a scratch copy");
    }
}

#[cfg(test)]
thread_local! {
    /// Tests' Maven command.
    static MAVEN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}
