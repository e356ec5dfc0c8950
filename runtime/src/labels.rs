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
    /// A [`super::Role`]: `function`, `storage`, `daemon` (`esb up -d`), `invoke` (one-shot
    /// `esb invoke`), `base` (base images), `identity`.
    pub const ROLE: &str = "esb.role";
    /// Which half of the split daemon a daemon container runs: `gateway` or `manager`.
    pub const PART: &str = "esb.part";
    /// The gateway's URL as seen from the host (daemon containers).
    pub const URL: &str = "esb.url";
    /// Which storage service a storage container or volume belongs to (`s3`).
    pub const SERVICE: &str = "esb.service";
    /// Which engine serves a storage service (`builtin`, `rustfs`, `alternator`).
    pub const ENGINE: &str = "esb.engine";
    /// Hash of the function's config and image.
    pub const CONFIG_HASH: &str = "esb.config-hash";
    /// Hash of an image's build context (function images) or inputs (base images).
    pub const CONTENT_HASH: &str = "esb.content-hash";
    /// RFC 3339 creation time.
    pub const CREATED: &str = "esb.created";
    /// The absolute directory of the project a name belongs to (the project's identity volume).
    pub const DIR: &str = "esb.dir";
    /// [`super::SCHEMA`].
    pub const VERSION: &str = "esb.version";
}

/// What an esb object is for: the value of [`key::ROLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A function's container or image, run by the manager.
    Function,
    /// A one-shot `esb invoke` container.
    Invoke,
    /// A storage service's container or volume.
    Storage,
    /// esb itself in a container (`esb up -d`).
    Daemon,
    /// A base image.
    Base,
    /// The volume that records which directory a project name belongs to.
    Identity,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [Role::Function, Role::Invoke, Role::Storage, Role::Daemon, Role::Base, Role::Identity];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Function => "function",
            Role::Invoke => "invoke",
            Role::Storage => "storage",
            Role::Daemon => "daemon",
            Role::Base => "base",
            Role::Identity => "identity",
        }
    }

    /// The role a label value names.
    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// A container that runs a function's code (served by the manager, or one-shot).
    pub fn runs_functions(self) -> bool {
        matches!(self, Role::Function | Role::Invoke)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

    /// Sets the role.
    pub fn role(self, role: Role) -> Self {
        self.with(key::ROLE, role.as_str())
    }

    /// The role, when it is one esb knows.
    pub fn get_role(&self) -> Option<Role> {
        self.get(key::ROLE).and_then(Role::parse)
    }

    /// Adds `esb.created` = now (RFC 3339, UTC). Containers only: image labels must stay
    /// deterministic, since they are part of a build context's content hash.
    pub fn created_now(self) -> Self {
        self.with(key::CREATED, rfc3339(std::time::SystemTime::now()))
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

/// A UTC instant broken down: (year, month 1-12, day 1-31, hour, minute, second).
pub fn civil_utc(t: std::time::SystemTime) -> (i64, i64, i64, i64, i64, i64) {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60)
}

/// RFC 3339 in UTC with second precision (days-to-civil conversion; no time-zone data needed).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let (year, month, day, h, m, s) = civil_utc(t);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_label() {
        for r in Role::ALL {
            assert_eq!(Labels::new().role(r).get_role(), Some(r));
            assert_eq!(Role::parse(&r.to_string()), Some(r));
        }
        assert_eq!(Labels::new().with(key::ROLE, "other").get_role(), None);
        assert!(Role::Invoke.runs_functions() && !Role::Storage.runs_functions());
    }

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |s: u64| rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z", "leap day");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn a_filter_matches_supersets_only() {
        let l = Labels::new().with(key::PROJECT, "p").with(key::FUNCTION, "f");
        assert!(l.matches(&Labels::default().with(key::PROJECT, "p")));
        assert!(!l.matches(&Labels::default().with(key::PROJECT, "q")));
        assert_eq!(l.get(key::VERSION), Some(SCHEMA));
    }
}
