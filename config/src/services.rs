//! generator.yml's `storage:` and `logs:` sections: which engine serves S3 and DynamoDB, on which
//! host port, and where function logs go.
//!
//! Owns: the schema of those sections and checking their values (a sink URL that is not http(s) is
//! an error naming `logs.sink`). Must not: look at images or containers (esb-storage decides what an
//! engine choice means on a given engine).

use serde::{Deserialize, Serialize};

/// Default image of the RustFS engine (used when loaded, never pulled).
pub const RUSTFS_IMAGE: &str = "rustfs/rustfs:latest";
/// Default image of the ScyllaDB Alternator engine (used when loaded, never pulled).
pub const ALTERNATOR_IMAGE: &str = "scylladb/scylla:latest";
/// Journal entries after which the built-in DynamoDB service compacts its journal on start.
pub const DEFAULT_COMPACT_AFTER: u64 = 1_000;

/// Which S3 server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S3Engine {
    /// RustFS when its image is present, else the built-in server.
    #[default]
    Auto,
    /// esb's own S3 server (s3s over esb's object store): always available offline.
    Builtin,
    /// RustFS; its image must be loaded (an error names it when it is not).
    Rustfs,
    /// No S3 service: buckets are not provisioned.
    Off,
}

/// Which DynamoDB server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DynamoDbEngine {
    /// ScyllaDB Alternator when its image is present, else the built-in service.
    #[default]
    Auto,
    /// esb's own journalled moto service: always available offline.
    Builtin,
    /// ScyllaDB Alternator; its image must be loaded.
    Alternator,
    /// No DynamoDB service: tables are not provisioned.
    Off,
}

/// `storage.s3`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// `auto` (default), `builtin`, `rustfs` or `off`.
    #[serde(default)]
    pub engine: S3Engine,
    /// The RustFS image to use (default `rustfs/rustfs:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Fixed port on the host's loopback for the developer's own tools (a free one when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

/// `storage.dynamodb`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamoDbSettings {
    /// `auto` (default), `builtin`, `alternator` or `off`.
    #[serde(default)]
    pub engine: DynamoDbEngine,
    /// The ScyllaDB image to use (default `scylladb/scylla:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Fixed port on the host's loopback (a free one when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// Built-in engine: compact the journal on start once it has this many entries (1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_after: Option<u64>,
}

/// `storage:` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// The S3 service.
    #[serde(default, skip_serializing_if = "is_default")]
    pub s3: S3Settings,
    /// The DynamoDB service.
    #[serde(default, skip_serializing_if = "is_default")]
    pub dynamodb: DynamoDbSettings,
}

/// `logs:` section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A VictoriaLogs-compatible endpoint (`http://host:9428`): function logs are sent to
    /// `<sink>/insert/jsonline` as JSON lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// Fields that name a log stream at the sink (`_stream_fields`); `function` when not set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_fields: Vec<String>,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (`http://host:4318`): esb's own spans
    /// (request, acquire, invoke) are sent to `<otlp_endpoint>/v1/traces` as OTLP JSON.
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is used when this is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

impl LogSettings {
    /// The URL JSON lines are POSTed to, with the stream fields as a query parameter.
    pub fn insert_url(&self) -> Option<String> {
        let sink = self.sink.as_deref()?.trim_end_matches('/');
        let fields = if self.stream_fields.is_empty() { "function".to_string() } else { self.stream_fields.join(",") };
        Some(format!("{sink}/insert/jsonline?_stream_fields={fields}&_msg_field=message&_time_field=timestamp"))
    }

    /// The URL spans are POSTed to (OTLP/HTTP JSON): the setting, else `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn traces_url(&self) -> Option<String> {
        let base = self.otlp_endpoint.clone().or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|v| !v.is_empty()))?;
        Some(format!("{}/v1/traces", base.trim_end_matches('/')))
    }

    /// Checks the values; each problem is `(path, message)`.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut problems = vec![];
        let endpoints = [
            ("logs.sink", &self.sink, "http://127.0.0.1:9428", "/insert/jsonline"),
            ("logs.otlp_endpoint", &self.otlp_endpoint, "http://127.0.0.1:4318", "/v1/traces"),
        ];
        for (path, url, example, appended) in endpoints {
            let Some(url) = url else { continue };
            let rest = url.strip_prefix("http://");
            let host = rest.map(|r| r.split(['/', '?']).next().unwrap_or_default()).unwrap_or_default();
            if url.starts_with("https://") {
                problems.push((path.into(), format!("`{url}`: esb sends over http:// only; put a TLS proxy in front")));
            } else if host.is_empty() || host.contains(char::is_whitespace) || url.contains('?') {
                problems.push((path.into(), format!("`{url}` is not a base URL like `{example}` (esb appends {appended})")));
            }
        }
        for f in &self.stream_fields {
            if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                problems.push(("logs.stream_fields".into(), format!("`{f}` is not a field name (letters, digits, `_`, `.`)")));
            }
        }
        problems
    }
}

impl StorageSettings {
    /// Checks the values; each problem is `(path, message)`.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut problems = vec![];
        for (path, image) in [("storage.s3.image", &self.s3.image), ("storage.dynamodb.image", &self.dynamodb.image)] {
            if let Some(i) = image {
                if i.is_empty() || i.contains(char::is_whitespace) {
                    problems.push((path.to_string(), format!("`{i}` is not an image reference like `rustfs/rustfs:1.0.0`")));
                }
            }
        }
        if let (Some(a), Some(b)) = (self.s3.host_port, self.dynamodb.host_port) {
            if a == b && a != 0 {
                problems.push(("storage.dynamodb.host_port".into(), format!("port {a} is already storage.s3.host_port")));
            }
        }
        if self.dynamodb.compact_after == Some(0) {
            problems.push(("storage.dynamodb.compact_after".into(), "must be at least 1".into()));
        }
        problems
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_from_lower_case_names() {
        let s: StorageSettings = serde_norway::from_str("s3: {engine: rustfs, host_port: 9000}\ndynamodb: {engine: off}\n").unwrap();
        assert_eq!((s.s3.engine, s.s3.host_port, s.dynamodb.engine), (S3Engine::Rustfs, Some(9000), DynamoDbEngine::Off));
        assert!(s.check().is_empty());
        let err = serde_norway::from_str::<StorageSettings>("s3: {engine: minio}\n").unwrap_err().to_string();
        assert!(err.contains("minio") && err.contains("rustfs"), "{err}");
        let err = serde_norway::from_str::<StorageSettings>("dynamodb: {engine: rustfs}\n").unwrap_err().to_string();
        assert!(err.contains("alternator"), "{err}");
    }

    #[test]
    fn conflicting_ports_and_bad_images_are_named() {
        let s: StorageSettings = serde_norway::from_str("s3: {host_port: 9000, image: 'a b'}\ndynamodb: {host_port: 9000}\n").unwrap();
        let paths: Vec<String> = s.check().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["storage.s3.image", "storage.dynamodb.host_port"]);
    }

    #[test]
    fn the_sink_is_a_base_url_and_gets_the_jsonline_path() {
        let l = LogSettings { sink: Some("http://127.0.0.1:9428/".into()), ..Default::default() };
        assert!(l.check().is_empty());
        assert_eq!(
            l.insert_url().unwrap(),
            "http://127.0.0.1:9428/insert/jsonline?_stream_fields=function&_msg_field=message&_time_field=timestamp"
        );
        for bad in ["127.0.0.1:9428", "ftp://x", "http://", "http://x/insert?a=b", "https://logs.example:9428"] {
            let l = LogSettings { sink: Some(bad.into()), ..Default::default() };
            assert_eq!(l.check().len(), 1, "{bad}");
        }
        let l = LogSettings { stream_fields: vec!["function".into(), "bad field".into()], ..Default::default() };
        assert_eq!(l.check()[0].0, "logs.stream_fields");
        assert_eq!(LogSettings::default().insert_url(), None);
    }

    #[test]
    fn the_otlp_endpoint_is_a_base_url_and_gets_the_traces_path() {
        let l = LogSettings { otlp_endpoint: Some("http://127.0.0.1:4318/".into()), ..Default::default() };
        assert!(l.check().is_empty());
        assert_eq!(l.traces_url().unwrap(), "http://127.0.0.1:4318/v1/traces");
        let l = LogSettings { otlp_endpoint: Some("collector:4318".into()), ..Default::default() };
        let problems = l.check();
        assert_eq!(problems[0].0, "logs.otlp_endpoint");
        assert!(problems[0].1.contains("/v1/traces"), "{problems:?}");
    }
}
