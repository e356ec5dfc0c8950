//! The intrinsics of the `AWS::LanguageExtensions` transform (`Fn::ToJsonString`, `Fn::Length`),
//! `Fn::Cidr`, and the `Fn::ForEach` loops that transform expands.
//!
//! Owns: what these functions compute from already-resolved arguments, and the expansion of
//! `Fn::ForEach::Name` keys into the entries they stand for. Must not: resolve arguments (the
//! evaluator in `intrinsics` does, then calls here) or read anything but its input.

use crate::yaml::{Node, Value};

/// `Fn::ToJsonString`: a resolved mapping or list as compact JSON (numbers and booleans as JSON
/// numbers and booleans, as CloudFormation writes them).
pub(crate) fn to_json_string(node: &Node) -> String {
    to_json(node).to_string()
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => n.parse::<serde_json::Number>().map(J::Number).unwrap_or_else(|_| J::String(n.clone())),
        Value::String(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// `Fn::Cidr [ipBlock, count, cidrBits]` for IPv4: `count` consecutive blocks of `cidrBits` host
/// bits from the start of `ipBlock`. `Err` says what is wrong.
pub(crate) fn cidr(block: &str, count: &str, bits: &str) -> Result<Vec<String>, String> {
    let (addr, prefix) = block.split_once('/').ok_or_else(|| format!("`{block}` is not an address block (a.b.c.d/n)"))?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("`{addr}` is not an IPv4 address (esb computes IPv4 blocks only)"))?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("`/{prefix}` is not a prefix length"))?;
    let count: u32 = count.parse().ok().filter(|c| (1..=256).contains(c)).ok_or_else(|| format!("count `{count}` must be 1 to 256"))?;
    let bits: u32 =
        bits.parse().ok().filter(|b| *b <= 32 - prefix).ok_or_else(|| format!("cidrBits `{bits}` must be 0 to {}", 32 - prefix))?;
    let size = 1u64 << bits;
    let start = u64::from(u32::from(addr)) & !((1u64 << (32 - prefix)) - 1);
    let end = start + (1u64 << (32 - prefix));
    if start + size * u64::from(count) > end {
        return Err(format!("{count} blocks of {bits} host bits do not fit in {block}"));
    }
    Ok((0..u64::from(count)).map(|i| format!("{}/{}", std::net::Ipv4Addr::from((start + i * size) as u32), 32 - bits)).collect())
}

/// Expands every `Fn::ForEach::Name: [Identifier, [values...], {OutputKey: OutputValue}]` entry of
/// `section` (Resources, Conditions or Outputs), nested loops included. `collection` resolves a
/// loop's collection (a list, or an intrinsic giving one, such as `!Ref` of a list parameter).
/// Each value replaces `${Identifier}` and `&{Identifier}` (non-alphanumerics removed) in keys and
/// strings, and `!Ref Identifier`, as the transform does. Errors say which loop and why.
pub(crate) fn for_each(
    section: &Node,
    collection: &mut dyn FnMut(&Node, &str) -> Option<Vec<String>>,
    errors: &mut Vec<(usize, String)>,
) -> Node {
    let Some(entries) = section.as_map() else { return section.clone() };
    let mut out: Vec<(String, Node)> = vec![];
    for (key, value) in entries {
        let Some(name) = key.strip_prefix("Fn::ForEach::") else {
            out.push((key.clone(), value.clone()));
            continue;
        };
        let items = match &value.value {
            Value::Seq(items) if items.len() == 3 => items,
            _ => {
                errors.push((value.line, format!("{key} takes [Identifier, Collection, {{OutputKey: OutputValue}}]")));
                continue;
            }
        };
        let Some(ident) = items[0].as_str() else {
            errors.push((items[0].line, format!("{key}: the identifier must be a string")));
            continue;
        };
        let Some(values) = collection(&items[1], name) else { continue };
        let Some(fragment) = items[2].as_map() else {
            errors.push((items[2].line, format!("{key}: the third item must be a mapping of OutputKey: OutputValue")));
            continue;
        };
        for v in values {
            let body = Node::new(Value::Map(fragment.to_vec()), items[2].line);
            let substituted = substitute(&body, ident, &v);
            // A loop's output may hold more loops.
            let expanded = for_each(&substituted, collection, errors);
            for (k, n) in expanded.as_map().unwrap_or_default() {
                if out.iter().any(|(o, _)| o == k) {
                    errors.push((n.line, format!("{key} makes `{k}` twice (or over an entry written out)")));
                    continue;
                }
                out.push((k.clone(), n.clone()));
            }
        }
    }
    Node { value: Value::Map(out), tag: section.tag.clone(), line: section.line }
}

/// [`for_each`] over a template section (`Resources`), its collections resolved in `ctx`; every
/// problem is a located error in `sink`.
pub(crate) fn expand_loops(section: &Node, name: &str, ctx: &super::Context, sink: &mut crate::error::Sink) -> Node {
    let mut loop_errors = vec![];
    let mut collection = |node: &Node, loop_name: &str| -> Option<Vec<String>> {
        let path = format!("{name}.Fn::ForEach::{loop_name}[1]");
        let resolved = ctx.resolve(node, &path, sink).ok().flatten()?;
        let items: Option<Vec<String>> = resolved.as_seq().map(|s| s.iter().filter_map(Node::as_scalar_str).collect());
        if items.is_none() {
            sink.error(
                Some(node.line),
                &path,
                format!("Fn::ForEach::{loop_name}: the collection must be a list, found {}", resolved.kind()),
                None,
            );
        }
        items
    };
    let expanded = for_each(section, &mut collection, &mut loop_errors);
    for (line, message) in loop_errors {
        sink.error(Some(line), name, message, None);
    }
    expanded
}

/// `${ident}`, `&{ident}` and `!Ref ident` replaced by `value` throughout `node`.
fn substitute(node: &Node, ident: &str, value: &str) -> Node {
    let alnum: String = value.chars().filter(char::is_ascii_alphanumeric).collect();
    let text = |s: &str| s.replace(&format!("${{{ident}}}"), value).replace(&format!("&{{{ident}}}"), &alnum);
    let is_ref = |n: &Node| match crate::intrinsics::as_call(n) {
        Some((name, arg)) => name == "Ref" && arg.as_str() == Some(ident),
        None => false,
    };
    if is_ref(node) {
        return Node::new(Value::String(value.to_string()), node.line);
    }
    let value_of = match &node.value {
        Value::String(s) => Value::String(text(s)),
        Value::Seq(items) => Value::Seq(items.iter().map(|n| substitute(n, ident, value)).collect()),
        Value::Map(entries) => Value::Map(entries.iter().map(|(k, n)| (text(k), substitute(n, ident, value))).collect()),
        other => other.clone(),
    };
    Node { value: value_of, tag: node.tag.clone(), line: node.line }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_document;

    #[test]
    fn cidr_splits_a_block_as_cloudformation_does() {
        assert_eq!(cidr("10.0.0.0/16", "3", "8").unwrap(), ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]);
        assert_eq!(cidr("192.168.0.0/24", "2", "6").unwrap(), ["192.168.0.0/26", "192.168.0.64/26"]);
        assert!(cidr("10.0.0.0/24", "3", "8").unwrap_err().contains("do not fit"));
        assert!(cidr("fd00::/8", "1", "64").is_err());
    }

    #[test]
    fn to_json_string_keeps_json_types() {
        let (doc, _) = parse_document("a: 1\nb: [true, x]\nc: {d: null}\n").unwrap();
        assert_eq!(to_json_string(&doc), r#"{"a":1,"b":[true,"x"],"c":{"d":null}}"#);
    }

    #[test]
    fn for_each_expands_keys_values_and_nested_loops() {
        let text = "
Fn::ForEach::Topics:
  - Name
  - [Orders, order-items]
  - 'Topic&{Name}':
      Type: AWS::SNS::Topic
      Properties: {TopicName: !Sub '${Name}-topic', DisplayName: !Ref Name}
Fn::ForEach::Outer:
  - Env
  - [dev]
  - Fn::ForEach::Inner:
      - N
      - ['1', '2']
      - 'Q${Env}${N}': {Type: AWS::SQS::Queue}
Plain: {Type: AWS::S3::Bucket}
";
        let (doc, _) = parse_document(text).unwrap();
        let mut errors = vec![];
        let out = for_each(
            &doc,
            &mut |n: &Node, _: &str| n.as_seq().map(|s| s.iter().filter_map(Node::as_str).map(str::to_string).collect()),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let keys: Vec<&str> = out.as_map().unwrap().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["TopicOrders", "Topicorderitems", "Qdev1", "Qdev2", "Plain"]);
        let topic = out.get("Topicorderitems").unwrap().get("Properties").unwrap();
        assert_eq!(topic.get("DisplayName").and_then(Node::as_str), Some("order-items"));
        let sub = topic.get("TopicName").unwrap();
        assert_eq!((sub.tag.as_deref(), sub.as_str()), (Some("Sub"), Some("order-items-topic")));
    }
}
