//! The published specifications of the resource types esb runs: property names and their JSON
//! shapes, SAM's function event types and SAM's Globals sections.
//!
//! Owns: reading `config/spec/resources.json`, vendored data that `scripts/spec.py` generates from
//! the reference SAM translator's models (SAM types, event types, Globals) and from the
//! CloudFormation resource provider schemas (plain CloudFormation types). The file names the
//! versions it came from ([`sources`]). Must not: decide what a property means (the resource
//! compilers do) or report anything (see `compile::typos`).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The JSON shape a property value may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A string, number or boolean.
    Scalar,
    /// A mapping.
    Object,
    /// A list.
    Array,
    /// Anything (the specification does not say).
    Any,
}

/// A property name -> the shapes its value may take.
pub type Properties = BTreeMap<String, Vec<Kind>>;

#[derive(Debug, Default, Deserialize)]
struct Spec {
    sources: BTreeMap<String, String>,
    resources: BTreeMap<String, Properties>,
    events: BTreeMap<String, Properties>,
    globals: BTreeMap<String, Vec<String>>,
}

/// The vendored specification, parsed once. A unit test proves it parses; were it ever unreadable,
/// every lookup answers "not specified" and templates compile as if unchecked.
fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(include_str!("../spec/resources.json")).unwrap_or_default())
}

/// The properties of resource type `ty`, when esb has its specification.
pub fn properties(ty: &str) -> Option<&'static Properties> {
    spec().resources.get(ty)
}

/// The properties of SAM function event type `ty` (`Api`, `SQS`, ...).
pub fn event_properties(ty: &str) -> Option<&'static Properties> {
    spec().events.get(ty)
}

/// Every SAM function event type.
pub fn event_types() -> impl Iterator<Item = &'static str> + Clone {
    spec().events.keys().map(String::as_str)
}

/// The properties a SAM `Globals` section (`Function`, `Api`, ...) may set, or `None` for a section
/// SAM does not have.
pub fn globals(section: &str) -> Option<&'static [String]> {
    spec().globals.get(section).map(Vec::as_slice)
}

/// Every SAM `Globals` section.
pub fn globals_sections() -> impl Iterator<Item = &'static str> + Clone {
    spec().globals.keys().map(String::as_str)
}

/// Where the data came from: package or schema -> version.
pub fn sources() -> &'static BTreeMap<String, String> {
    &spec().sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_specification_parses_and_names_its_sources() {
        let s: Spec = serde_json::from_str(include_str!("../spec/resources.json")).unwrap();
        assert!(s.sources.contains_key("aws-sam-translator") && s.sources.contains_key("cloudformation-schemas"));
        for ty in ["AWS::Serverless::Function", "AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::S3::Bucket"] {
            assert!(s.resources.contains_key(ty), "{ty}");
        }
        let f = properties("AWS::Serverless::Function").unwrap();
        assert_eq!(f.get("Timeout"), Some(&vec![Kind::Scalar]));
        assert!(f.contains_key("FunctionUrlConfig") && !f.contains_key("Timout"));
        assert!(event_properties("Api").unwrap().contains_key("Path"));
        assert!(globals("Function").unwrap().iter().any(|p| p == "Timeout"));
        assert!(globals("Bogus").is_none());
    }
}
