//! The template loader: YAML text -> a [`Node`] tree that keeps what CloudFormation needs.
//!
//! Owns: turning YAML into nodes that remember their local tag (`!Ref`, `!Sub`, ...) and their line,
//! so every later error can point at a line. It resolves anchors/aliases and YAML 1.2 core scalars.
//! It must not interpret CloudFormation: tags stay tags here; `intrinsics` gives them meaning.
//!
//! Built on yaml-rust2's event parser (not its `Yaml` tree, which drops local tags). The tree is
//! built iteratively and bounded (depth, node count) so hostile input cannot overflow the stack or
//! expand an alias bomb.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted. Real templates stay under 20; the limit keeps recursion safe.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one document may expand to (aliases count every time they are used).
pub const MAX_NODES: usize = 2_000_000;

/// One YAML value with its tag and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// A local tag without its `!` (for example `Ref`, `GetAtt`), if the node carried one.
    pub tag: Option<String>,
    /// 1-based line where the node starts.
    pub line: usize,
}

/// A YAML value. Numbers keep their source text so they round-trip exactly into env vars.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer or float, as written.
    Number(String),
    /// Any other scalar.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in source order.
    Map(Vec<(String, Node)>),
}

/// A YAML syntax or structure error, with the line it happened on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    /// What is wrong.
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
}

impl Node {
    /// A node with no tag.
    pub fn new(value: Value, line: usize) -> Self {
        Node { value, tag: None, line }
    }

    /// The value as a string if it is a scalar string/number/bool.
    pub fn as_scalar_str(&self) -> Option<String> {
        match &self.value {
            Value::String(s) | Value::Number(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// The value as `&str` if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The entries if the node is a mapping.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items if the node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A short word for the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A key given twice in one mapping: CloudFormation (and the reference SAM translator) accept it
/// and keep the last value, so esb does too, and says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The key.
    pub key: String,
    /// Line of the value that was dropped.
    pub first: usize,
    /// Line of the value kept.
    pub kept: usize,
}

/// Parses one YAML document. An empty document is `Null`. A duplicate key keeps its last value.
pub fn parse(text: &str) -> Result<Node, LoadError> {
    parse_document(text).map(|(root, _)| root)
}

/// [`parse`], with the duplicate keys it resolved (last value wins, as CloudFormation does).
pub fn parse_document(text: &str) -> Result<(Node, Vec<Duplicate>), LoadError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let mut documents = 0;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| LoadError { message: e.info().to_string(), line: Some(e.marker().line()) })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(LoadError {
                        message: "more than one YAML document (`---`) in the template".into(),
                        line: Some(mark.line()),
                    });
                }
            }
            other => builder.event(other, mark)?,
        }
    }
    Ok((builder.root.unwrap_or(Node::new(Value::Null, 1)), builder.duplicates))
}

/// An open collection while building.
enum Open {
    Seq { node: Node, anchor: usize, items: Vec<Node> },
    Map { node: Node, anchor: usize, entries: Vec<(String, Node)>, key: Option<(String, usize)> },
}

#[derive(Default)]
struct Builder {
    duplicates: Vec<Duplicate>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    nodes: usize,
}

impl Builder {
    fn event(&mut self, event: Event, mark: Marker) -> Result<(), LoadError> {
        let line = mark.line();
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node { value: scalar(&text, style, tag.as_ref()), tag: local_tag(tag), line };
                self.finish(node, anchor, line)
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(Open::Seq { node: Node { value: Value::Null, tag: local_tag(tag), line }, anchor, items: vec![] }, line)
            }
            Event::MappingStart(anchor, tag) => self
                .open(Open::Map { node: Node { value: Value::Null, tag: local_tag(tag), line }, anchor, entries: vec![], key: None }, line),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq { mut node, anchor, items }) => {
                        node.value = Value::Seq(items);
                        (node, anchor)
                    }
                    Some(Open::Map { mut node, anchor, entries, .. }) => {
                        node.value = Value::Map(entries);
                        (node, anchor)
                    }
                    None => return Err(LoadError { message: "unbalanced YAML structure".into(), line: Some(line) }),
                };
                self.finish(node, anchor, line)
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| LoadError { message: "alias refers to an unknown anchor".into(), line: Some(line) })?;
                self.nodes += count(&node);
                self.finish(node, 0, line)
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd | Event::StreamEnd | Event::DocumentStart => Ok(()),
        }
    }

    fn open(&mut self, open: Open, line: usize) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(LoadError { message: format!("nesting deeper than {MAX_DEPTH} levels"), line: Some(line) });
        }
        self.stack.push(open);
        Ok(())
    }

    /// Places a completed node into its parent (or as the root).
    fn finish(&mut self, node: Node, anchor: usize, line: usize) -> Result<(), LoadError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(LoadError { message: format!("document expands to more than {MAX_NODES} nodes"), line: Some(line) });
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    let k = match &node.value {
                        Value::String(s) | Value::Number(s) => s.clone(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => String::new(),
                        _ => return Err(LoadError { message: "mapping keys must be plain scalars".into(), line: Some(node.line) }),
                    };
                    if let Some(at) = entries.iter().position(|(existing, _)| *existing == k) {
                        let (_, dropped) = entries.remove(at);
                        self.duplicates.push(Duplicate { key: k.clone(), first: dropped.line, kept: node.line });
                    }
                    *key = Some((k, node.line));
                }
                Some((k, _)) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

fn count(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Map(entries) => 1 + entries.iter().map(|(_, v)| count(v)).sum::<usize>(),
        _ => 1,
    }
}

/// `!Ref` has handle `!` and suffix `Ref`; core tags (`!!str`) are resolved by the parser and dropped.
fn local_tag(tag: Option<Tag>) -> Option<String> {
    tag.filter(|t| t.handle == "!").map(|t| t.suffix)
}

/// YAML 1.2 core schema resolution for plain scalars; quoted scalars are always strings.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag {
        if t.handle == "tag:yaml.org,2002:" && t.suffix == "str" {
            return Value::String(text.to_string());
        }
    }
    if style != TScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ if is_number(text) => Value::Number(text.to_string()),
        _ => Value::String(text.to_string()),
    }
}

fn is_number(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    if t.is_empty() {
        return false;
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    t.parse::<f64>().is_ok() && t.bytes().any(|b| b.is_ascii_digit()) && !t.contains(['i', 'n', 'I', 'N'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_local_tags_and_lines() {
        let n = parse("a: 1\nb: !Ref Thing\nc:\n  - !Sub '${X}-y'\n").unwrap();
        let b = n.get("b").unwrap();
        assert_eq!(b.tag.as_deref(), Some("Ref"));
        assert_eq!(b.as_str(), Some("Thing"));
        assert_eq!(b.line, 2);
        let c0 = &n.get("c").unwrap().as_seq().unwrap()[0];
        assert_eq!((c0.tag.as_deref(), c0.as_str(), c0.line), (Some("Sub"), Some("${X}-y"), 4));
        assert_eq!(n.get("a").unwrap().value, Value::Number("1".into()));
    }

    #[test]
    fn quoted_scalars_stay_strings_and_plain_ones_resolve() {
        let n = parse("a: '1'\nb: true\nc: ~\nd: 1.5\ne: 1.2.3\nf: !!str 7\n").unwrap();
        assert_eq!(n.get("a").unwrap().value, Value::String("1".into()));
        assert_eq!(n.get("b").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("c").unwrap().value, Value::Null);
        assert_eq!(n.get("d").unwrap().value, Value::Number("1.5".into()));
        assert_eq!(n.get("e").unwrap().value, Value::String("1.2.3".into()));
        assert_eq!(n.get("f").unwrap().value, Value::String("7".into()));
    }

    #[test]
    fn tagged_collections_keep_their_tag() {
        let n = parse("x: !Join\n  - '-'\n  - [a, b]\n").unwrap();
        let x = n.get("x").unwrap();
        assert_eq!(x.tag.as_deref(), Some("Join"));
        assert_eq!(x.as_seq().unwrap().len(), 2);
    }

    #[test]
    fn anchors_and_aliases_expand() {
        let n = parse("a: &v {k: 1}\nb: *v\n").unwrap();
        assert_eq!(n.get("b").unwrap().get("k").unwrap().value, Value::Number("1".into()));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_as_cloudformation_does_and_are_reported() {
        let (doc, dups) = parse_document("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(doc.get("a").and_then(Node::as_scalar_str).as_deref(), Some("3"));
        assert_eq!(doc.as_map().unwrap().len(), 2);
        assert_eq!(dups, [Duplicate { key: "a".into(), first: 1, kept: 3 }]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(MAX_DEPTH + 10) + &"]".repeat(MAX_DEPTH + 10);
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nesting"), "{e:?}");
    }

    #[test]
    fn alias_bombs_are_bounded() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("expands"), "{e:?}");
    }

    #[test]
    fn second_document_is_rejected() {
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().message.contains("more than one"));
    }
}
