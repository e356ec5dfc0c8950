//! `esb.*` labels: the state that survives a manager restart, in one typed place.
//!
//! Owns: label keys, their meaning, and conversion to/from the engine's string maps. No other code
//! spells a label key.

use std::collections::BTreeMap;

/// Label schema version; containers of another version are foreign.
pub const SCHEMA: &str = "1";

/// Keys.
pub mod key {
    /// The project the object belongs to.
    pub const PROJECT: &str = "esb.project";
    /// The function (logical id) a container or image serves.
    pub const FUNCTION: &str = "esb.function";
    /// `function`, `storage`, `gateway`, `invoke` (one-shot `esb invoke`), `base` (base images).
    pub const ROLE: &str = "esb.role";
    /// Hash of the function's config and image.
    pub const CONFIG_HASH: &str = "esb.config-hash";
    /// Hash of an image's build context (function images) or inputs (base images).
    pub const CONTENT_HASH: &str = "esb.content-hash";
    /// RFC 3339 creation time.
    pub const CREATED: &str = "esb.created";
    /// [`super::SCHEMA`].
    pub const VERSION: &str = "esb.version";
}

/// A set of labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// Labels with the schema version set.
    pub fn new() -> Self {
        let mut l = Labels::default();
        l.0.insert(key::VERSION.into(), SCHEMA.into());
        l
    }

    /// Adds a label.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// A label's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// True when every label of `filter` is present here with the same value.
    pub fn matches(&self, filter: &Labels) -> bool {
        filter.0.iter().all(|(k, v)| self.0.get(k) == Some(v))
    }
}

impl From<std::collections::HashMap<String, String>> for Labels {
    fn from(m: std::collections::HashMap<String, String>) -> Self {
        Labels(m.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_matches_supersets_only() {
        let l = Labels::new().with(key::PROJECT, "p").with(key::FUNCTION, "f");
        assert!(l.matches(&Labels::default().with(key::PROJECT, "p")));
        assert!(!l.matches(&Labels::default().with(key::PROJECT, "q")));
        assert_eq!(l.get(key::VERSION), Some(SCHEMA));
    }
}
