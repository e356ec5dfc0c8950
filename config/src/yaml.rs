//! The template loader: YAML text -> a [`Node`] tree that keeps what CloudFormation needs.
//!
//! Owns: turning YAML into nodes that remember their local tag (`!Ref`, `!Sub`, ...) and their line,
//! so every later error can point at a line. It resolves anchors/aliases and YAML 1.2 core scalars.
//! It must not interpret CloudFormation: tags stay tags here; `intrinsics` gives them meaning.
//!
//! Built on libyaml's event parser (the safe Rust port, libyaml-safer), because CloudFormation's and
//! the reference SAM translator's YAML readers are libyaml's family (PyYAML, SnakeYAML): they accept
//! flow collections closed left of their key and flow pairs in flow sequences, which real templates
//! write and stricter YAML 1.2 parsers reject. The tree is built iteratively and bounded (depth,
//! node count) so hostile input cannot overflow the stack or expand an alias bomb.

use libyaml_safer::{Event, EventData, Mark, Parser, ScalarStyle};
use std::collections::HashMap;

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
    // libyaml-safer 0.3 panics ("unexpected end of input") where a token runs into the end of a
    // text without a final line break; a trailing break changes no YAML value a template has
    // (only a `|+` block scalar at the very end would keep it). Any other panic in the parser is
    // turned into an error naming the file rather than taking esb down.
    let owned;
    let text = if text.ends_with('\n') {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    std::panic::catch_unwind(|| events(text))
        .unwrap_or_else(|_| Err(LoadError { message: "the YAML parser could not read this text (please report it)".into(), line: None }))
}

fn events(text: &str) -> Result<(Node, Vec<Duplicate>), LoadError> {
    let mut bytes = text.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut bytes);
    let mut builder = Builder::default();
    let mut documents = 0;
    loop {
        let Event { data, start_mark, .. } = parser.parse().map_err(|e| LoadError {
            message: match e.context() {
                Some(context) => format!("{context}, {}", e.problem()),
                None => e.problem().to_string(),
            },
            line: e.problem_mark().map(|m| line_of(&m)),
        })?;
        match data {
            EventData::StreamEnd => break,
            EventData::DocumentStart { .. } => {
                documents += 1;
                if documents > 1 {
                    return Err(LoadError {
                        message: "more than one YAML document (`---`) in the template".into(),
                        line: Some(line_of(&start_mark)),
                    });
                }
            }
            other => builder.event(other, line_of(&start_mark))?,
        }
    }
    Ok((builder.root.unwrap_or(Node::new(Value::Null, 1)), builder.duplicates))
}

fn line_of(mark: &Mark) -> usize {
    usize::try_from(mark.line).unwrap_or(usize::MAX).saturating_add(1)
}

/// An open collection while building.
enum Open {
    Seq { node: Node, anchor: Option<String>, items: Vec<Node> },
    Map { node: Node, anchor: Option<String>, entries: Vec<(String, Node)>, key: Option<(String, usize)> },
}

#[derive(Default)]
struct Builder {
    duplicates: Vec<Duplicate>,
    stack: Vec<Open>,
    anchors: HashMap<String, Node>,
    root: Option<Node>,
    nodes: usize,
}

impl Builder {
    fn event(&mut self, event: EventData, line: usize) -> Result<(), LoadError> {
        match event {
            EventData::Scalar { anchor, tag, value, style, .. } => {
                let node = Node { value: scalar(&value, style, tag.as_deref()), tag: local_tag(tag), line };
                self.finish(node, anchor, line)
            }
            EventData::SequenceStart { anchor, tag, .. } => {
                self.open(Open::Seq { node: Node { value: Value::Null, tag: local_tag(tag), line }, anchor, items: vec![] }, line)
            }
            EventData::MappingStart { anchor, tag, .. } => self
                .open(Open::Map { node: Node { value: Value::Null, tag: local_tag(tag), line }, anchor, entries: vec![], key: None }, line),
            EventData::SequenceEnd | EventData::MappingEnd => {
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
            EventData::Alias { anchor } => {
                let node = self
                    .anchors
                    .get(&anchor)
                    .cloned()
                    .ok_or_else(|| LoadError { message: format!("alias `*{anchor}` refers to an unknown anchor"), line: Some(line) })?;
                self.nodes += count(&node);
                self.finish(node, None, line)
            }
            EventData::StreamStart { .. } | EventData::DocumentEnd { .. } | EventData::StreamEnd | EventData::DocumentStart { .. } => {
                Ok(())
            }
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
    fn finish(&mut self, node: Node, anchor: Option<String>, line: usize) -> Result<(), LoadError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(LoadError { message: format!("document expands to more than {MAX_NODES} nodes"), line: Some(line) });
        }
        if let Some(anchor) = anchor {
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

/// `!Ref` is the local tag `Ref`; core tags (`!!str`, resolved to `tag:yaml.org,2002:str`) are dropped.
fn local_tag(tag: Option<String>) -> Option<String> {
    tag.and_then(|t| t.strip_prefix('!').map(str::to_string)).filter(|t| !t.is_empty())
}

/// YAML 1.2 core schema resolution for plain scalars; quoted scalars are always strings.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    if tag == Some("tag:yaml.org,2002:str") {
        return Value::String(text.to_string());
    }
    if style != ScalarStyle::Plain {
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
    fn flow_collections_read_as_cloudformation_reads_them() {
        // A flow sequence closed at its key's column, a trailing comma, a flow mapping whose
        // continuation lines sit left of the key, and a flow pair inside a flow sequence: PyYAML
        // and libyaml (what CloudFormation and the reference translator read with) take them all.
        let text = "a:\n  Resource: [\n    x,\n    y,\n  ]\n  Schema: {\"k\": 1,\n  \"l\": 2}\nb: !Sub [\n    \"n-${ID}\",\n    ID: !Select [0, [q]],\n  ]\n";
        let n = parse(text).unwrap();
        let a = n.get("a").unwrap();
        assert_eq!(a.get("Resource").unwrap().as_seq().unwrap().len(), 2);
        assert_eq!(a.get("Schema").unwrap().get("l").unwrap().value, Value::Number("2".into()));
        let b = n.get("b").unwrap().as_seq().unwrap();
        assert_eq!(b[1].get("ID").unwrap().tag.as_deref(), Some("Select"));
    }

    #[test]
    fn every_prefix_of_a_template_parses_or_fails_without_a_panic() {
        // libyaml-safer panicked on a text ending inside a token without a final line break.
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function # c\n    Properties: {A: [1, 'q'], B: \"x\\ty\", C: |\n      block\n      }\n    D: !Sub '${X}'\n    E: &a x\n    G: *a";
        for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let _ = parse(&text[..end]);
        }
        assert_eq!(parse("a: !Sub x").unwrap().get("a").and_then(Node::as_str), Some("x"));
    }

    #[test]
    fn second_document_is_rejected() {
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().message.contains("more than one"));
    }
}
