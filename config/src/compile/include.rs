//! The `AWS::Include` transform, as CloudFormation runs it before anything else: every
//! `Fn::Transform: {Name: AWS::Include, Parameters: {Location: ...}}` is replaced by the YAML or
//! JSON document at Location (a path relative to the template's directory), which may itself
//! hold intrinsics and further includes. As a mapping's only key it replaces the mapping; beside
//! other keys the included mapping is merged in (its keys win, as CloudFormation's do).
//!
//! Owns: finding the includes, reading the files (bounded in size, count and depth) and splicing
//! them in. Must not: fetch anything (an `s3://` Location is a clear error: esb builds from local
//! files), or run other macros (a `Fn::Transform` of another Name is an error naming it).

use crate::error::Sink;
use crate::yaml::{Node, Value};
use std::path::{Path, PathBuf};

/// Largest included file.
const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Most includes in one template (all levels).
const MAX_INCLUDES: usize = 64;
/// Deepest chain of includes within includes.
const MAX_DEPTH: usize = 8;

/// Replaces every `AWS::Include` in `doc`; errors go to `sink` with the line of the transform.
pub(crate) fn expand(doc: &mut Node, root: &Path, sink: &mut Sink) {
    let mut count = 0;
    walk(doc, root, "", 0, &mut count, sink);
}

fn walk(node: &mut Node, root: &Path, path: &str, depth: usize, count: &mut usize, sink: &mut Sink) {
    match &mut node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, root, &format!("{path}[{i}]"), depth, count, sink);
            }
        }
        Value::Map(entries) => {
            if let Some(at) = entries.iter().position(|(k, _)| k == "Fn::Transform") {
                let (_, transform) = entries.remove(at);
                let tpath = if path.is_empty() { "Fn::Transform".to_string() } else { format!("{path}.Fn::Transform") };
                let Some(mut included) = include(&transform, root, &tpath, depth, count, sink) else { return };
                walk(&mut included, root, path, depth + 1, count, sink);
                if entries.is_empty() {
                    *node = included;
                    return;
                }
                match included.value {
                    Value::Map(more) => {
                        for (k, v) in more {
                            entries.retain(|(existing, _)| *existing != k);
                            entries.push((k, v));
                        }
                    }
                    _ => {
                        sink.error(
                            Some(transform.line),
                            &tpath,
                            format!("AWS::Include beside other keys must include a mapping, and this one is {}", included.kind()),
                            Some("make the included file a mapping, or make Fn::Transform the only key here"),
                        );
                        return;
                    }
                }
            }
            let Value::Map(entries) = &mut node.value else { return };
            for (k, v) in entries.iter_mut() {
                let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(v, root, &child, depth, count, sink);
            }
        }
        _ => {}
    }
}

/// Reads the document one `Fn::Transform` names.
fn include(transform: &Node, root: &Path, path: &str, depth: usize, count: &mut usize, sink: &mut Sink) -> Option<Node> {
    let line = Some(transform.line);
    let name = transform.get("Name").and_then(Node::as_scalar_str).unwrap_or_default();
    if name != "AWS::Include" {
        sink.error(
            line,
            path,
            format!("Fn::Transform runs the macro `{name}`, which runs in CloudFormation, not locally"),
            Some("only AWS::Include (a local file) is expanded by esb; inline the macro's output"),
        );
        return None;
    }
    let Some(location) = transform.get("Parameters").and_then(|p| p.get("Location")).and_then(Node::as_scalar_str) else {
        sink.error(line, path, "AWS::Include needs Parameters.Location (a file path)", Some("Parameters: {Location: ./api.yaml}"));
        return None;
    };
    if location.contains("://") {
        sink.error(
            line,
            path,
            format!("AWS::Include Location `{location}` is remote; esb builds from local files only"),
            Some("download the file next to the template and name it by its relative path"),
        );
        return None;
    }
    *count += 1;
    if *count > MAX_INCLUDES || depth >= MAX_DEPTH {
        sink.error(line, path, format!("more than {MAX_INCLUDES} includes, or includes nested deeper than {MAX_DEPTH}"), None);
        return None;
    }
    let file: PathBuf = root.join(&location);
    let fail = |sink: &mut Sink, why: String| {
        sink.error(line, path, format!("AWS::Include {}: {why}", file.display()), Some("Location is relative to the template's directory"));
        None
    };
    match std::fs::metadata(&file) {
        Ok(m) if m.len() > MAX_BYTES => return fail(sink, format!("larger than {} MiB", MAX_BYTES >> 20)),
        Ok(m) if !m.is_file() => return fail(sink, "not a file".into()),
        Ok(_) => {}
        Err(e) => return fail(sink, e.to_string()),
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => return fail(sink, e.to_string()),
    };
    match crate::yaml::parse(&text) {
        Ok(mut doc) => {
            // Lines inside the included file are not the template's: name the transform's instead.
            relocate(&mut doc, transform.line);
            Some(doc)
        }
        Err(e) => fail(sink, format!("line {}: {}", e.line.unwrap_or(0), e.message)),
    }
}

fn relocate(node: &mut Node, line: usize) {
    node.line = line;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| relocate(n, line)),
        Value::Map(entries) => entries.iter_mut().for_each(|(_, n)| relocate(n, line)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(template: &str, files: &[(&str, &str)]) -> (Node, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::create_dir_all(dir.path().join(name).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut doc = crate::yaml::parse(template).unwrap();
        let mut sink = Sink::new(dir.path().join("template.yaml"));
        expand(&mut doc, dir.path(), &mut sink);
        (doc, sink.errors.iter().map(|d| d.message.clone()).collect())
    }

    #[test]
    fn a_local_file_replaces_the_transform_or_merges_beside_other_keys() {
        let t = "Body:\n  Fn::Transform: {Name: AWS::Include, Parameters: {Location: ./api/api.yaml}}\nMerged:\n  Keep: 1\n  Over: old\n  'Fn::Transform': {Name: 'AWS::Include', Parameters: {Location: more.json}}\n";
        let (doc, errors) = expanded(
            t,
            &[
                ("api/api.yaml", "openapi: 3.0.1\npaths:\n  /x: {get: {}}\n"),
                (
                    "more.json",
                    r#"{"Over": "new", "Nested": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "leaf.yaml"}}}}"#,
                ),
                ("leaf.yaml", "leaf: true\n"),
            ],
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(doc.get("Body").and_then(|b| b.get("openapi")).and_then(Node::as_scalar_str).as_deref(), Some("3.0.1"));
        let merged = doc.get("Merged").unwrap();
        assert_eq!(merged.get("Keep").and_then(Node::as_scalar_str).as_deref(), Some("1"));
        assert_eq!(merged.get("Over").and_then(Node::as_scalar_str).as_deref(), Some("new"), "the included keys win");
        assert_eq!(
            merged.get("Nested").and_then(|n| n.get("leaf")).and_then(Node::as_scalar_str).as_deref(),
            Some("true"),
            "includes within includes"
        );
        assert_eq!(doc.get("Body").unwrap().line, 2, "included nodes carry the transform's line");
    }

    #[test]
    fn remote_missing_and_other_macros_are_errors_that_say_what_to_do() {
        let (_, e) = expanded("A:\n  Fn::Transform: {Name: AWS::Include, Parameters: {Location: 's3://b/api.yaml'}}\n", &[]);
        assert!(e[0].contains("remote"), "{e:?}");
        let (_, e) = expanded("A:\n  Fn::Transform: {Name: AWS::Include, Parameters: {Location: nope.yaml}}\n", &[]);
        assert!(e[0].contains("nope.yaml"), "{e:?}");
        let (_, e) = expanded("A:\n  Fn::Transform: {Name: MyMacro, Parameters: {}}\n", &[]);
        assert!(e[0].contains("`MyMacro`"), "{e:?}");
        let (_, e) = expanded(
            "A:\n  Fn::Transform: {Name: AWS::Include, Parameters: {Location: self.yaml}}\n",
            &[("self.yaml", "Fn::Transform: {Name: AWS::Include, Parameters: {Location: self.yaml}}\n")],
        );
        assert!(e[0].contains("deeper"), "an include of itself ends: {e:?}");
    }
}
