//! Typos are errors: resource attributes, property names and shapes, SAM event types and their
//! properties, and Globals, checked against the published specifications ([`crate::spec`]).
//!
//! Owns: the checks on the raw template (before Globals are merged, so every line is the one the
//! user wrote), each a located error with the nearest valid name. Must not: read values (the
//! resource compilers do) or check types it has no specification for (they pass unchecked, as the
//! reference translator passes plain CloudFormation through).

use crate::error::{closest, Sink};
use crate::intrinsics::as_call;
use crate::spec::{self, Kind};
use crate::yaml::{Node, Value};

/// The keys a resource may have next to `Type`, in CloudFormation and SAM.
const ATTRIBUTES: &[&str] = &[
    "Type",
    "Properties",
    "Condition",
    "DependsOn",
    "Metadata",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "Version",
    "Connectors",
    "IgnoreGlobals",
];

/// "(did you mean `x`?)" or the valid names.
fn hint<'a>(word: &str, valid: impl Iterator<Item = &'a str> + Clone) -> String {
    match closest(word, valid.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("valid: {}", valid.collect::<Vec<_>>().join(", ")),
    }
}

/// The shape of a value as written, or `None` when it cannot be told before evaluation
/// (an intrinsic call, or nothing).
fn kind_of(node: &Node) -> Option<Kind> {
    if as_call(node).is_some() {
        return None;
    }
    match &node.value {
        Value::Null => None,
        Value::Map(_) => Some(Kind::Object),
        Value::Seq(_) => Some(Kind::Array),
        _ => Some(Kind::Scalar),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Scalar => "a single value",
        Kind::Object => "a mapping",
        Kind::Array => "a list",
        Kind::Any => "anything",
    }
}

/// Checks one mapping's keys (and their values' shapes) against `spec`; `what` names its owner.
fn check_map(node: &Node, path: &str, what: &str, props: &spec::Properties, sink: &mut Sink) {
    let Some(entries) = node.as_map() else { return };
    for (key, value) in entries {
        let at = format!("{path}.{key}");
        let Some(kinds) = props.get(key) else {
            sink.error(
                Some(value.line),
                &at,
                format!("`{key}` is not a property of {what}"),
                Some(&hint(key, props.keys().map(String::as_str))),
            );
            continue;
        };
        if let Some(found) = kind_of(value) {
            if !kinds.contains(&Kind::Any) && !kinds.contains(&found) {
                let expected: Vec<&str> = kinds.iter().map(|k| kind_name(*k)).collect();
                sink.error(
                    Some(value.line),
                    &at,
                    format!("{what} property `{key}` takes {}, found {}", expected.join(" or "), kind_name(found)),
                    None,
                );
            }
        }
    }
}

/// Checks resource `id` of type `ty`: its attributes, its properties and (for functions) its events.
pub(crate) fn check_resource(id: &str, ty: &str, node: &Node, sink: &mut Sink) {
    let rpath = format!("Resources.{id}");
    let has_properties = node.get("Properties").is_some();
    for (key, value) in node.as_map().unwrap_or_default() {
        if ATTRIBUTES.contains(&key.as_str()) {
            continue;
        }
        // A misspelt `Properties` loses every property: an error. Any other stray key (a
        // `Description` next to Type is common) is ignored by the reference translator: a warning.
        if !has_properties && closest(key, ["Properties"]).is_some() {
            sink.error(
                Some(value.line),
                &format!("{rpath}.{key}"),
                format!("`{key}` is not a resource attribute"),
                Some("did you mean `Properties`?"),
            );
        } else {
            sink.warn_at(
                value.line,
                format!("{rpath}.{key}: `{key}` is not a resource attribute; ignored ({})", hint(key, ATTRIBUTES.iter().copied())),
            );
        }
    }
    let Some(props) = spec::properties(ty) else { return };
    let Some(properties) = node.get("Properties").filter(|p| as_call(p).is_none()) else { return };
    let ppath = format!("{rpath}.Properties");
    check_map(properties, &ppath, ty, props, sink);
    if ty == "AWS::Serverless::Function" {
        if let Some(events) = properties.get("Events").filter(|e| as_call(e).is_none()) {
            check_events(events, &format!("{ppath}.Events"), sink);
        }
    }
}

/// Each event's Type is a SAM event type, and its Properties are that type's.
fn check_events(events: &Node, path: &str, sink: &mut Sink) {
    for (name, event) in events.as_map().unwrap_or_default() {
        let epath = format!("{path}.{name}");
        for (key, value) in event.as_map().unwrap_or_default() {
            if !["Type", "Properties", "Condition"].contains(&key.as_str()) {
                sink.error(
                    Some(value.line),
                    &format!("{epath}.{key}"),
                    format!("`{key}` is not part of an event (Type, Properties)"),
                    Some(&hint(key, ["Type", "Properties"].into_iter())),
                );
            }
        }
        let Some(ty) = event.get("Type").and_then(Node::as_str) else { continue };
        let Some(props) = spec::event_properties(ty) else {
            sink.error(
                event.get("Type").map(|t| t.line),
                &format!("{epath}.Type"),
                format!("`{ty}` is not a SAM event type"),
                Some(&hint(ty, spec::event_types())),
            );
            continue;
        };
        if let Some(p) = event.get("Properties").filter(|p| as_call(p).is_none()) {
            check_map(p, &format!("{epath}.Properties"), &format!("a {ty} event"), props, sink);
        }
    }
}

/// Globals: every section is one SAM has, and every property one SAM lets Globals set.
pub(crate) fn check_globals(globals: &Node, sink: &mut Sink) {
    for (section, node) in globals.as_map().unwrap_or_default() {
        let gpath = format!("Globals.{section}");
        let Some(allowed) = spec::globals(section) else {
            sink.error(
                Some(node.line),
                &gpath,
                format!("`{section}` is not a SAM Globals section"),
                Some(&hint(section, spec::globals_sections())),
            );
            continue;
        };
        for (key, value) in node.as_map().unwrap_or_default() {
            if !allowed.iter().any(|a| a == key) {
                let known = spec::properties(&format!("AWS::Serverless::{section}")).is_some_and(|p| p.contains_key(key));
                let message = if known {
                    format!("`{key}` cannot be set in Globals.{section}; set it on each resource")
                } else {
                    format!("`{key}` is not a property Globals.{section} can set")
                };
                let h = if known {
                    format!("Globals.{section} can set: {}", allowed.join(", "))
                } else {
                    hint(key, allowed.iter().map(String::as_str))
                };
                sink.error(Some(value.line), &format!("{gpath}.{key}"), message, Some(&h));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse_document;

    fn errors_of(check: impl Fn(&Node, &mut Sink), text: &str) -> Vec<crate::Diagnostic> {
        let (doc, _) = parse_document(text).unwrap();
        let mut sink = Sink::new("template.yaml");
        check(&doc, &mut sink);
        sink.errors
    }

    fn resource(text: &str) -> Vec<crate::Diagnostic> {
        errors_of(
            |doc, sink| {
                for (id, node) in doc.get("Resources").and_then(Node::as_map).unwrap_or_default() {
                    let ty = node.get("Type").and_then(Node::as_str).unwrap_or_default();
                    check_resource(id, ty, node, sink);
                }
            },
            text,
        )
    }

    #[test]
    fn a_misspelt_property_is_an_error_with_its_line_and_the_nearest_name() {
        let e = resource("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Handler: a.b\n      Timout: 3\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].line, e[0].path.as_str()), (Some(6), "Resources.F.Properties.Timout"));
        assert!(e[0].message.contains("`Timout` is not a property of AWS::Serverless::Function"), "{}", e[0].message);
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `Timeout`?"));
    }

    #[test]
    fn plain_cloudformation_types_are_checked_against_their_schemas() {
        let e = resource(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      KeySchema: []\n      BilingMode: PAY_PER_REQUEST\n",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].hint.as_deref(), Some("did you mean `BillingMode`?"));
        // A type esb has no specification for passes, as the reference translator passes it.
        assert!(resource("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      Anything: 1\n").is_empty());
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_an_error_but_an_intrinsic_is_not_judged() {
        let e = resource("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Timeout: {Seconds: 3}\n      Layers: !Ref L\n      Environment: !If [C, {Variables: {}}, !Ref AWS::NoValue]\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("`Timeout` takes a single value, found a mapping"), "{}", e[0].message);
    }

    #[test]
    fn a_misspelt_event_type_names_the_valid_ones_and_event_properties_are_checked() {
        let e = resource("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        A:\n          Type: APi\n        B:\n          Type: Api\n          Properties: {Path: /, Metod: get}\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].line, e[0].hint.as_deref()), (Some(7), Some("did you mean `Api`?")));
        assert!(
            e[1].message.contains("`Metod` is not a property of a Api event") && e[1].hint.as_deref() == Some("did you mean `Method`?"),
            "{e:?}"
        );
    }

    #[test]
    fn a_misspelt_properties_is_an_error_and_another_stray_attribute_a_warning() {
        let e = resource("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Propertes: {}\n");
        assert_eq!((e.len(), e[0].hint.as_deref()), (1, Some("did you mean `Properties`?")), "{e:?}");
        let (doc, _) = parse_document("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Description: kept\n").unwrap();
        let mut sink = Sink::new("template.yaml");
        check_resource("B", "AWS::S3::Bucket", doc.get("Resources").unwrap().get("B").unwrap(), &mut sink);
        assert!(sink.errors.is_empty());
        assert!(
            sink.warnings[0].starts_with("template.yaml:4: Resources.B.Description: `Description` is not a resource attribute; ignored"),
            "{:?}",
            sink.warnings
        );
    }

    #[test]
    fn globals_are_checked_by_section_and_by_what_each_section_can_set() {
        let e = errors_of(
            |doc, sink| check_globals(doc.get("Globals").unwrap(), sink),
            "Globals:\n  Function:\n    Timout: 3\n    Events: {}\n  Fuction: {}\n  StateMachine: {PropagateTags: true}\n",
        );
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!((e[0].line, e[0].hint.as_deref()), (Some(3), Some("did you mean `Timeout`?")));
        assert!(e[1].message.contains("`Events` cannot be set in Globals.Function"), "{}", e[1].message);
        assert!(
            e[2].message.contains("`Fuction` is not a SAM Globals section") && e[2].hint.as_deref() == Some("did you mean `Function`?")
        );
    }
}
