//! The template's `Parameters`: defaults, overrides (generator.yml, `--parameter`), constraints.
//!
//! Owns: turning the Parameters section plus overrides into [`ParamValue`]s, checking Type,
//! AllowedValues, AllowedPattern, Min/MaxLength and Min/MaxValue like CloudFormation does.
//! Must not: read files; the caller passes the overrides.

use super::props::Props;
use crate::error::Sink;
use crate::intrinsics::ParamValue;
use crate::yaml::Node;
use std::collections::BTreeMap;

const USED: &[&str] = &["Type", "Default", "AllowedValues", "AllowedPattern", "MinLength", "MaxLength", "MinValue", "MaxValue"];
const IGNORED: &[&str] = &["Description", "NoEcho", "ConstraintDescription"];

/// A parameter with no Default that nobody gave a value: the template compiles with a stand-in
/// (so a plan can be shown and no Ref to it fails), and a real run refuses it
/// ([`crate::Workspace::compile`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MissingParameter {
    /// Its name.
    pub name: String,
    /// Line of its declaration.
    pub line: usize,
    /// The stand-in used for the plan.
    pub stand_in: String,
}

/// Resolves every parameter. Overrides naming no parameter are warned about.
pub(crate) fn resolve(
    section: Option<&Node>,
    overrides: &BTreeMap<String, String>,
    missing: &mut Vec<MissingParameter>,
    sink: &mut Sink,
) -> BTreeMap<String, ParamValue> {
    let mut out = BTreeMap::new();
    let entries = section.and_then(Node::as_map).unwrap_or_default();
    for (name, decl) in entries {
        let path = format!("Parameters.{name}");
        if decl.as_map().is_none() {
            sink.error(
                Some(decl.line),
                &path,
                format!("expected a mapping, found {}", decl.kind()),
                Some("a parameter looks like `Stage: {Type: String, Default: dev}`"),
            );
            continue;
        }
        let props = Props::new(decl, &path);
        props.check_keys(USED, IGNORED, &format!("parameter {name}"), sink);
        let ty = props.string("Type", sink).unwrap_or_else(|| "String".into());
        let raw = match overrides.get(name) {
            Some(v) => Some(v.clone()),
            None => props.string("Default", sink),
        };
        let Some(raw) = raw else {
            // CloudFormation would ask for it at deploy time; a local run goes on with a stand-in
            // (as SAM CLI does), and says so with the line and how to set a real value.
            let stand_in = stand_in(name, &ty, &props, sink);
            // Said by the caller: the root template's own, a nested one's through its parent.
            missing.push(MissingParameter { name: name.clone(), line: decl.line, stand_in: stand_in.text() });
            out.insert(name.clone(), stand_in);
            continue;
        };
        if let Some(v) = check(name, &ty, &raw, &props, sink) {
            out.insert(name.clone(), v);
        }
    }
    for name in overrides.keys() {
        // `App.Name` is a nested template's parameter (see `nested`).
        if !entries.iter().any(|(k, _)| k == name) && !name.contains('.') {
            sink.warn(format!("parameter override `{name}` names no template parameter; ignored"));
        }
    }
    out
}

/// A value for a parameter nobody gave one: its first AllowedValue, else its MinValue or 0 for a
/// number, else its own name in lower case with only letters, digits and `-` (a list of it for
/// list types): such a value is also a valid bucket, table or queue name, which is where
/// parameters without a Default mostly go (`SourceBucketName` -> `sourcebucketname`).
fn stand_in(name: &str, ty: &str, props: &Props, sink: &mut Sink) -> ParamValue {
    let value = props.strings("AllowedValues", sink).into_iter().next().unwrap_or_else(|| {
        if ty == "Number" || ty == "List<Number>" {
            props.string("MinValue", sink).unwrap_or_else(|| "0".into())
        } else {
            let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
            let safe = safe.trim_matches('-').to_string();
            if safe.len() < 3 {
                format!("esb-{safe}")
            } else {
                safe
            }
        }
    });
    if ty == "CommaDelimitedList" || ty.starts_with("List<") {
        // Three items: templates pick `!Select [1, ...]` out of subnet and security group lists.
        ParamValue::List((1..=3).map(|i| if i == 1 { value.clone() } else { format!("{value}-{i}") }).collect())
    } else {
        ParamValue::Scalar(value)
    }
}

fn check(name: &str, ty: &str, raw: &str, props: &Props, sink: &mut Sink) -> Option<ParamValue> {
    let path = props.path;
    let line = Some(props.node.line);
    let fail = |sink: &mut Sink, msg: String| {
        sink.error(line, path, format!("parameter `{name}`: {msg}"), Some("fix the Default or the value in generator.yml / --parameter"));
        None
    };
    let is_list = ty == "CommaDelimitedList" || ty.starts_with("List<");
    let values: Vec<String> = if is_list { raw.split(',').map(|s| s.trim().to_string()).collect() } else { vec![raw.to_string()] };
    let allowed = props.strings("AllowedValues", sink);
    let pattern = props.string("AllowedPattern", sink);
    let pattern = match pattern.map(|p| super::java_regex::Pattern::new(&p)) {
        Some(Ok(re)) => Some(re),
        Some(Err(e)) => return fail(sink, format!("AllowedPattern is not a valid regular expression: {e}")),
        None => None,
    };
    let (min_len, max_len) = (props.uint("MinLength", 0, u64::MAX, sink), props.uint("MaxLength", 0, u64::MAX, sink));
    let min_value = props.string("MinValue", sink).and_then(|s| s.parse::<f64>().ok());
    let max_value = props.string("MaxValue", sink).and_then(|s| s.parse::<f64>().ok());
    let numeric = ty == "Number" || ty == "List<Number>";
    if !matches!(ty, "String" | "Number" | "CommaDelimitedList" | "List<Number>") && !ty.starts_with("AWS::") && !ty.starts_with("List<") {
        return fail(sink, format!("unknown Type `{ty}`"));
    }
    for v in &values {
        if !allowed.is_empty() && !allowed.contains(v) {
            return fail(sink, format!("value `{v}` is not one of the AllowedValues ({})", allowed.join(", ")));
        }
        if let Some(re) = &pattern {
            if !re.is_match(v) {
                return fail(sink, format!("value `{v}` does not match AllowedPattern `{}`", re.source));
            }
        }
        let len = v.chars().count() as u64;
        if min_len.is_some_and(|m| len < m) || max_len.is_some_and(|m| len > m) {
            return fail(sink, format!("value `{v}` has length {len}, outside MinLength/MaxLength"));
        }
        if numeric {
            let Ok(n) = v.parse::<f64>() else { return fail(sink, format!("value `{v}` is not a number")) };
            if min_value.is_some_and(|m| n < m) || max_value.is_some_and(|m| n > m) {
                return fail(sink, format!("value {v} is outside MinValue/MaxValue"));
            }
        }
    }
    Some(if is_list { ParamValue::List(values) } else { ParamValue::Scalar(raw.to_string()) })
}

/// A declared parameter, for prompting (`esb init`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// Name.
    pub name: String,
    /// `Default`, if any.
    pub default: Option<String>,
    /// `AllowedValues`.
    pub allowed: Vec<String>,
    /// `Description`.
    pub description: Option<String>,
}

/// The Parameters a template declares, in template order. Only the YAML must be valid.
pub fn declared(text: &str) -> Result<Vec<ParamInfo>, crate::yaml::LoadError> {
    let doc = crate::yaml::parse(text)?;
    let mut sink = Sink::default();
    let entries = doc.get("Parameters").and_then(Node::as_map).unwrap_or_default();
    Ok(entries
        .iter()
        .map(|(name, decl)| {
            let p = Props::new(decl, "");
            ParamInfo {
                name: name.clone(),
                default: p.string("Default", &mut sink),
                allowed: p.strings("AllowedValues", &mut sink),
                description: p.string("Description", &mut sink),
            }
        })
        .collect())
}
