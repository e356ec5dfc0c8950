//! A Java function's code, as the compile can know it before anything runs: a Maven or Gradle
//! project (built by esb when the host can, see [`Build::Maven`]), a jar or zip, or classes and
//! `lib/*.jar` as they are; and whether its Handler is shaped like one.
//!
//! Owns: choosing the Java build step from CodeUri's files, and the warnings that say what to
//! build when CodeUri holds nothing runnable.
//! Must not: run Maven or Gradle, or read class files.

use crate::error::Sink;
use crate::model::{BaseImage, Build, Code, FunctionSpec};
use std::path::Path;

/// `package.Class::method` or `package.Class`: Java identifiers joined by dots (`$` for nested
/// classes), and a method name.
pub(crate) fn handler_is_valid(handler: &str) -> bool {
    let ident = |s: &str| {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    };
    let (class, method) = handler.split_once("::").map_or((handler, None), |(c, m)| (c, Some(m)));
    class.split('.').all(ident) && method.is_none_or(ident)
}

/// The build tool a project directory is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Maven,
    Gradle,
}

fn tool_of(dir: &Path) -> Option<Tool> {
    if dir.join("pom.xml").is_file() {
        Some(Tool::Maven)
    } else if ["build.gradle", "build.gradle.kts"].iter().any(|f| dir.join(f).is_file()) {
        Some(Tool::Gradle)
    } else {
        None
    }
}

/// The Maven or Gradle project that makes archive `rel` (relative to `root`, the template's
/// directory): the nearest directory above it, up to `root`, with a `pom.xml` or `build.gradle`.
/// Returns the project (relative to `root`, `.` for `root` itself), its tool, and the archive
/// relative to the project.
pub(crate) fn project_of(root: &Path, rel: &str) -> Option<(String, Tool, String)> {
    let file = Path::new(rel);
    let mut at = file.parent();
    while let Some(dir) = at {
        if dir.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return None;
        }
        if let Some(tool) = tool_of(&root.join(dir)) {
            let project = if dir.as_os_str().is_empty() { ".".to_string() } else { dir.to_string_lossy().into_owned() };
            let output = file.strip_prefix(dir).ok()?.to_string_lossy().into_owned();
            return Some((project, tool, output));
        }
        at = dir.parent();
    }
    None
}

/// Settles a Java function's build step from its CodeUri (see the module doc).
pub(crate) fn settle(id: &str, spec: &mut FunctionSpec, root: &Path, sink: &mut Sink) {
    let (BaseImage::Java { .. }, Code::Dir { path }, None) = (&spec.base, &spec.code, &spec.build) else { return };
    let dir = root.join(path);
    let artifacts = super::sam_build::artifacts_dir(id);
    let artifacts = root.join(&artifacts).is_dir().then_some(artifacts);
    if !dir.exists() {
        // An archive the project's build makes (see `functions::code`).
        let Some((project, tool, output)) = project_of(root, path) else { return };
        sink.warn(format!(
            "function {id}: CodeUri {path} is not built yet; esb builds it with {} in {project}",
            if tool == Tool::Maven { "Maven (`mvn package`)" } else { "Gradle (`gradle build`)" }
        ));
        spec.build = Some(match tool {
            Tool::Maven => Build::Maven { artifacts, output: Some(output) },
            Tool::Gradle => Build::Gradle { artifacts, output: Some(output) },
        });
        spec.code = Code::Dir { path: project };
        return;
    }
    if !dir.is_dir() {
        return;
    }
    match tool_of(&dir) {
        Some(Tool::Maven) => spec.build = Some(Build::Maven { artifacts, output: None }),
        Some(Tool::Gradle) => spec.build = Some(Build::Gradle { artifacts, output: None }),
        None if !holds_classes(&dir, 4) => sink.warn(format!(
            "function {id}: {path} has no .class files or jars; invoking it will fail with ClassNotFoundException \
             (CodeUri is a Maven or Gradle project, a .jar or .zip, or the compiled classes with their lib/*.jar)"
        )),
        None => {}
    }
}

/// Whether `dir` (to `depth` levels) holds a `.class` file or a jar.
fn holds_classes(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(Result::ok).any(|e| {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_ascii_lowercase();
        name.ends_with(".class") || name.ends_with(".jar") || (depth > 0 && path.is_dir() && holds_classes(&path, depth - 1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_handlers_are_a_class_and_an_optional_method() {
        for ok in ["example.App::handleRequest", "example.App", "App", "a.b.Outer$Inner::run", "helloworld.App::handle_2"] {
            assert!(handler_is_valid(ok), "{ok}");
        }
        for bad in ["app.handler.", "example.App::", "example.App::handle::x", "1x.App", "example/App::run", ""] {
            assert!(!handler_is_valid(bad), "{bad}");
        }
    }
}
