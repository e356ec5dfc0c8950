//! SAM `Globals`: merging a section into each resource of its type.
//!
//! Owns: SAM's merge rules, as documented for Globals: primitives and intrinsic calls in the resource
//! override the global; mappings merge key by key (recursively); lists are additive, global items first.
//! Must not: resolve intrinsics (merging happens on raw nodes, before evaluation).

use crate::intrinsics::as_call;
use crate::yaml::{Node, Value};

/// Globals sections esb applies, with the resource type each applies to.
pub(crate) const SECTIONS: &[(&str, &str)] = &[
    ("Function", "AWS::Serverless::Function"),
    ("Api", "AWS::Serverless::Api"),
    ("HttpApi", "AWS::Serverless::HttpApi"),
    ("SimpleTable", "AWS::Serverless::SimpleTable"),
    ("LayerVersion", "AWS::Serverless::LayerVersion"),
];

/// The Globals section for a resource type, if the template has one (unknown sections are
/// errors, reported by `typos::check_globals`).
pub(crate) fn section_for<'a>(globals: Option<&'a Node>, resource_type: &str) -> Option<&'a Node> {
    let (name, _) = SECTIONS.iter().find(|(_, t)| *t == resource_type)?;
    globals?.get(name).filter(|n| n.as_map().is_some())
}

/// Merges `global` under `local` with SAM's rules.
pub(crate) fn merge(global: &Node, local: &Node) -> Node {
    let intrinsic = as_call(global).is_some() || as_call(local).is_some();
    match (&global.value, &local.value) {
        (Value::Map(g), Value::Map(l)) if !intrinsic => {
            let mut out: Vec<(String, Node)> = Vec::with_capacity(g.len() + l.len());
            for (k, gv) in g {
                match l.iter().find(|(lk, _)| lk == k) {
                    Some((_, lv)) => out.push((k.clone(), merge(gv, lv))),
                    None => out.push((k.clone(), gv.clone())),
                }
            }
            for (k, lv) in l {
                if !g.iter().any(|(gk, _)| gk == k) {
                    out.push((k.clone(), lv.clone()));
                }
            }
            Node { value: Value::Map(out), tag: None, line: local.line }
        }
        (Value::Seq(g), Value::Seq(l)) if !intrinsic => {
            Node { value: Value::Seq(g.iter().chain(l).cloned().collect()), tag: None, line: local.line }
        }
        _ => local.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn maps_merge_lists_add_primitives_override() {
        let g = parse("Timeout: 10\nEnvironment: {Variables: {A: g, B: g}}\nLayers: [L1]\nMemorySize: 256").unwrap();
        let l = parse("Timeout: 3\nEnvironment: {Variables: {B: l, C: l}}\nLayers: [L2]").unwrap();
        let m = merge(&g, &l);
        assert_eq!(m.get("Timeout").unwrap().as_scalar_str().unwrap(), "3");
        assert_eq!(m.get("MemorySize").unwrap().as_scalar_str().unwrap(), "256");
        let vars = m.get("Environment").unwrap().get("Variables").unwrap();
        let got: Vec<(String, String)> = vars.as_map().unwrap().iter().map(|(k, v)| (k.clone(), v.as_scalar_str().unwrap())).collect();
        assert_eq!(got, [("A".into(), "g".into()), ("B".into(), "l".into()), ("C".into(), "l".into())]);
        let layers: Vec<String> = m.get("Layers").unwrap().as_seq().unwrap().iter().map(|n| n.as_scalar_str().unwrap()).collect();
        assert_eq!(layers, ["L1", "L2"]);
    }

    #[test]
    fn an_intrinsic_in_the_resource_replaces_the_global_mapping() {
        let g = parse("Environment: {Variables: {A: g}}").unwrap();
        let l = parse("Environment: !If [C, {Variables: {B: l}}, !Ref AWS::NoValue]").unwrap();
        let m = merge(&g, &l);
        assert_eq!(m.get("Environment").unwrap().tag.as_deref(), Some("If"));
    }
}
