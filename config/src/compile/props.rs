//! Typed reading of resolved (intrinsic-free) property maps.
//!
//! Owns: [`Props`], a view of one mapping at a YAML path that reads strings, numbers, booleans and
//! lists, recording a located error for every wrong type, and warning once about unknown keys.
//! Must not: resolve intrinsics (done before) or decide defaults (the resource compilers do).

use crate::error::Sink;
use crate::intrinsics::join_path;
use crate::yaml::{Node, Value};

/// A mapping node and where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Props<'a> {
    pub node: &'a Node,
    pub path: &'a str,
}

/// A key whose value had the wrong type: the error is recorded, the caller skips the value.
const EMPTY: &[(String, Node)] = &[];

impl<'a> Props<'a> {
    pub fn new(node: &'a Node, path: &'a str) -> Self {
        Props { node, path }
    }

    pub fn at(&self, key: &str) -> String {
        join_path(self.path, key)
    }

    pub fn entries(&self) -> &'a [(String, Node)] {
        self.node.as_map().unwrap_or(EMPTY)
    }

    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key).filter(|n| n.value != Value::Null)
    }

    fn type_error(&self, key: &str, node: &Node, expected: &str, sink: &mut Sink) {
        sink.error(Some(node.line), &self.at(key), format!("expected {expected}, found {}", node.kind()), None);
    }

    /// A scalar as a string.
    pub fn string(&self, key: &str, sink: &mut Sink) -> Option<String> {
        let node = self.get(key)?;
        let s = node.as_scalar_str();
        if s.is_none() {
            self.type_error(key, node, "a string", sink);
        }
        s
    }

    /// A required scalar; a missing one is an error with `hint`.
    pub fn required(&self, key: &str, what: &str, hint: &str, sink: &mut Sink) -> Option<String> {
        if self.get(key).is_none() {
            sink.error(Some(self.node.line), &self.at(key), format!("{what} is missing `{key}`"), Some(hint));
            return None;
        }
        self.string(key, sink)
    }

    /// An unsigned integer within `min..=max`.
    pub fn uint(&self, key: &str, min: u64, max: u64, sink: &mut Sink) -> Option<u64> {
        let node = self.get(key)?;
        match node.as_scalar_str().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                sink.error(Some(node.line), &self.at(key), format!("{n} is out of range {min}..={max}"), None);
                None
            }
            None => {
                self.type_error(key, node, "a whole number", sink);
                None
            }
        }
    }

    /// A boolean (`true`/`false`, also as the strings CloudFormation accepts).
    pub fn bool(&self, key: &str, sink: &mut Sink) -> Option<bool> {
        let node = self.get(key)?;
        match &node.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => {
                self.type_error(key, node, "true or false", sink);
                None
            }
        }
    }

    /// A list of scalars; a single scalar counts as a one-item list.
    pub fn strings(&self, key: &str, sink: &mut Sink) -> Vec<String> {
        let Some(node) = self.get(key) else { return vec![] };
        if let Some(s) = node.as_scalar_str() {
            return vec![s];
        }
        let Some(items) = node.as_seq() else {
            self.type_error(key, node, "a list", sink);
            return vec![];
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let s = item.as_scalar_str();
                if s.is_none() {
                    sink.error(
                        Some(item.line),
                        &format!("{}[{i}]", self.at(key)),
                        format!("expected a string, found {}", item.kind()),
                        None,
                    );
                }
                s
            })
            .collect()
    }

    /// A nested mapping; wrong types are errors.
    pub fn map(&self, key: &str, sink: &mut Sink) -> Option<&'a Node> {
        let node = self.get(key)?;
        if node.as_map().is_none() {
            self.type_error(key, node, "a mapping", sink);
            return None;
        }
        Some(node)
    }

    /// A list of mappings, with the path of each.
    pub fn maps(&self, key: &str, sink: &mut Sink) -> Vec<(String, &'a Node)> {
        let Some(node) = self.get(key) else { return vec![] };
        let Some(items) = node.as_seq() else {
            self.type_error(key, node, "a list", sink);
            return vec![];
        };
        let base = self.at(key);
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = format!("{base}[{i}]");
                if item.as_map().is_none() {
                    sink.error(Some(item.line), &path, format!("expected a mapping, found {}", item.kind()), None);
                    return None;
                }
                Some((path, item))
            })
            .collect()
    }

    /// Checks the keys of a mapping that esb reads: `used` are emulated, `ignored` mean nothing
    /// for a local run. Any other key that `what`'s specification has is "accepted, not emulated"
    /// (said once per build, see [`Sink::not_emulated`]); a key it does not have was already an
    /// error (`typos`). Mappings without a specification (Cors, Auth, ...) warn about unknown keys.
    pub fn check_keys(&self, used: &[&str], ignored: &[&str], what: &str, sink: &mut Sink) {
        let spec = crate::spec::properties(what);
        for (k, node) in self.entries() {
            if used.contains(&k.as_str()) || ignored.contains(&k.as_str()) {
                continue;
            }
            match spec {
                Some(spec) if spec.contains_key(k) => sink.not_emulated(what, k),
                Some(_) => {}
                None => {
                    let hint = match crate::error::closest(k, used.iter().chain(ignored).copied()) {
                        Some(s) => format!(" (did you mean `{s}`?)"),
                        None => String::new(),
                    };
                    sink.warn_at(node.line, format!("{what}: unknown property `{k}` ignored{hint}"));
                }
            }
        }
    }
}
