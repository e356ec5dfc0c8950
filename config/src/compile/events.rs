//! A function's `Events`: HTTP events -> [`EventDecl`]s (for `apis`), Schedule events ->
//! [`Schedule`]s, S3 events -> [`S3Event`]s, DynamoDB events -> [`StreamEvent`]s.
//!
//! Owns: reading Api/HttpApi/Schedule/S3/DynamoDB event properties and validating schedule
//! expressions, S3 event types and stream mapping settings (that an S3 event's bucket and a stream's
//! table are the template's is checked once all are known).
//! Unsupported event types warn once and are skipped. Must not: build routes (that is `apis`).

use super::props::Props;
use crate::error::Sink;
use crate::model::{ApiKind, S3Event, Schedule, StreamEvent};
use crate::yaml::{Node, Value};

/// An HTTP event, before routing.
#[derive(Debug, Clone)]
pub(crate) struct EventDecl {
    pub function: String,
    pub name: String,
    pub kind: crate::model::ApiKind,
    /// `None` for an HttpApi event without Path/Method (the `$default` route).
    pub path: Option<String>,
    pub method: Option<String>,
    /// Explicit `RestApiId` / `ApiId`, resolved.
    pub api: Option<String>,
    pub authorizer: Option<String>,
    pub api_key_required: Option<bool>,
    pub payload_version: Option<String>,
    /// `TimeoutInMillis`.
    pub timeout_ms: Option<u32>,
    pub yaml_path: String,
    /// Line of the event (for API/auth errors).
    pub line: usize,
    /// Lines of the Path and Method values.
    pub path_line: usize,
    pub method_line: usize,
}

/// The S3 event types esb's S3 server reports.
pub const S3_EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
];

/// A function's events, by kind.
#[derive(Default)]
pub(crate) struct Events {
    pub schedules: Vec<Schedule>,
    pub s3: Vec<(S3Event, usize)>,
    pub streams: Vec<(StreamEvent, usize)>,
    pub http: Vec<EventDecl>,
}

pub(crate) fn compile(id: &str, props: &Props, sink: &mut Sink) -> Events {
    let mut out = Events::default();
    let Some(events) = props.map("Events", sink) else { return out };
    let base = props.at("Events");
    for (name, event) in events.as_map().unwrap_or_default() {
        let epath = format!("{base}.{name}");
        if event.as_map().is_none() {
            sink.error(Some(event.line), &epath, format!("expected a mapping, found {}", event.kind()), None);
            continue;
        }
        let ev = Props::new(event, &epath);
        let Some(ty) = ev.required("Type", &format!("event {name}"), "set Type: Api, HttpApi or Schedule", sink) else { continue };
        let empty = Node::new(Value::Map(vec![]), event.line);
        let ppath = format!("{epath}.Properties");
        let p = Props::new(ev.map("Properties", sink).unwrap_or(&empty), &ppath);
        match ty.as_str() {
            "Api" | "HttpApi" => {
                let kind = if ty == "Api" { ApiKind::Rest } else { ApiKind::Http };
                if kind == ApiKind::Rest {
                    p.check_keys(
                        &["Path", "Method", "RestApiId", "Auth", "TimeoutInMillis"],
                        &["RequestParameters", "RequestModel"],
                        "Api event",
                        sink,
                    );
                } else {
                    p.check_keys(
                        &["Path", "Method", "ApiId", "Auth", "PayloadFormatVersion", "TimeoutInMillis"],
                        &["RouteSettings"],
                        "HttpApi event",
                        sink,
                    );
                }
                let (path, method) = if kind == ApiKind::Rest {
                    (
                        p.required("Path", &format!("Api event {name}"), "e.g. `Path: /items/{id}`", sink),
                        p.required("Method", &format!("Api event {name}"), "e.g. `Method: get`", sink),
                    )
                } else {
                    (p.string("Path", sink), p.string("Method", sink))
                };
                let auth = p.map("Auth", sink);
                let apath = p.at("Auth");
                let auth = auth.map(|a| Props::new(a, &apath));
                let payload_version = p.string("PayloadFormatVersion", sink);
                if let Some(v) = &payload_version {
                    if v != "1.0" && v != "2.0" {
                        sink.error(
                            Some(event.line),
                            &p.at("PayloadFormatVersion"),
                            format!("PayloadFormatVersion `{v}` must be 1.0 or 2.0"),
                            None,
                        );
                    }
                }
                out.http.push(EventDecl {
                    function: id.to_string(),
                    name: name.clone(),
                    kind,
                    path,
                    method,
                    api: p.string(if ty == "Api" { "RestApiId" } else { "ApiId" }, sink),
                    authorizer: auth.and_then(|a| a.string("Authorizer", sink)),
                    api_key_required: auth.and_then(|a| a.bool("ApiKeyRequired", sink)),
                    payload_version,
                    // API Gateway's integration timeout limits: 50 ms to 29 s (REST), 30 s (HTTP API).
                    timeout_ms: p.uint("TimeoutInMillis", 50, if kind == ApiKind::Rest { 29_000 } else { 30_000 }, sink).map(|t| t as u32),
                    yaml_path: ppath.clone(),
                    line: event.line,
                    path_line: p.get("Path").map_or(event.line, |n| n.line),
                    method_line: p.get("Method").map_or(event.line, |n| n.line),
                });
            }
            "Schedule" | "ScheduleV2" => {
                p.check_keys(
                    &["Schedule", "ScheduleExpression", "Input", "Enabled", "State"],
                    &[
                        "Name",
                        "Description",
                        "DeadLetterConfig",
                        "RetryPolicy",
                        "Target",
                        "ScheduleExpressionTimezone",
                        "FlexibleTimeWindow",
                        "GroupName",
                        "StartDate",
                        "EndDate",
                        "KmsKeyArn",
                        "OmitName",
                        "PermissionsBoundary",
                        "RoleArn",
                    ],
                    "Schedule event",
                    sink,
                );
                let key = if ty == "Schedule" { "Schedule" } else { "ScheduleExpression" };
                let Some(expression) = p.required(key, &format!("Schedule event {name}"), "e.g. `Schedule: rate(5 minutes)`", sink) else {
                    continue;
                };
                if let Err(why) = check_schedule(&expression) {
                    sink.error(
                        p.get(key).map(|n| n.line),
                        &p.at(key),
                        format!("schedule `{expression}`: {why}"),
                        Some("use rate(N minutes|hours|days) or cron(min hour day-of-month month day-of-week year)"),
                    );
                    continue;
                }
                let input = p.string("Input", sink);
                if let Some(i) = &input {
                    if serde_json::from_str::<serde_json::Value>(i).is_err() {
                        sink.error(
                            p.get("Input").map(|n| n.line),
                            &p.at("Input"),
                            "Input must be a JSON document",
                            Some("quote it: Input: '{\"key\": \"value\"}'"),
                        );
                    }
                }
                let enabled = p.bool("Enabled", sink).unwrap_or(true) && p.string("State", sink).is_none_or(|s| s != "DISABLED");
                out.schedules.push(Schedule { name: name.clone(), expression, input, enabled });
            }
            "DynamoDB" => out.streams.extend(stream_event(id, name, &p, event.line, sink).map(|e| (e, event.line))),
            "S3" => out.s3.extend(s3_event(name, &p, event.line, sink).map(|e| (e, event.line))),
            other => sink.warn(format!("event type {other} (function {id}, event {name}) is not supported yet; ignored")),
        }
    }
    out
}

/// Stream mapping settings esb does not apply: named in a warning, never silently.
const STREAM_UNSUPPORTED: &[&str] = &[
    "BisectBatchOnFunctionError",
    "DestinationConfig",
    "FilterCriteria",
    "FunctionResponseTypes",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
];

/// A signed integer property where -1 means "no limit", else within `min..=max`.
fn limit(p: &Props, key: &str, min: u32, max: u32, sink: &mut Sink) -> Option<u32> {
    let node = p.get(key)?;
    match node.as_scalar_str().and_then(|s| s.trim().parse::<i64>().ok()) {
        Some(-1) => None,
        Some(n) if (i64::from(min)..=i64::from(max)).contains(&n) => Some(n as u32),
        _ => {
            sink.error(Some(node.line), &p.at(key), format!("{key} must be -1 (no limit) or {min} to {max}"), None);
            None
        }
    }
}

/// A DynamoDB event's Stream, StartingPosition, BatchSize, Enabled and retry limits.
fn stream_event(id: &str, name: &str, p: &Props, line: usize, sink: &mut Sink) -> Option<StreamEvent> {
    p.check_keys(
        &[
            "Stream",
            "StartingPosition",
            "BatchSize",
            "Enabled",
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "MaximumBatchingWindowInSeconds",
        ],
        STREAM_UNSUPPORTED,
        "DynamoDB event",
        sink,
    );
    let unsupported: Vec<&str> = STREAM_UNSUPPORTED.iter().copied().filter(|k| p.get(k).is_some()).collect();
    if !unsupported.is_empty() {
        sink.warn(format!(
            "{id}.{name}: {} not applied locally: every change is delivered, failed batches are retried whole and then \
             recorded in esb's failure log (`esb events`)",
            unsupported.join(", ")
        ));
    }
    let stream = p.required("Stream", &format!("DynamoDB event {name}"), "e.g. `Stream: !GetAtt MyTable.StreamArn`", sink)?;
    // arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    let table = stream
        .split_once(":table/")
        .and_then(|(head, rest)| head.starts_with("arn:").then_some(rest))
        .and_then(|rest| rest.split_once("/stream/"))
        .map(|(table, _)| table.to_string());
    let Some(table) = table else {
        sink.error(
            p.get("Stream").map(|n| n.line),
            &p.at("Stream"),
            format!("`{stream}` is not a DynamoDB stream ARN"),
            Some("use `Stream: !GetAtt MyTable.StreamArn` with a table of this template"),
        );
        return None;
    };
    let starting_position =
        p.required("StartingPosition", &format!("DynamoDB event {name}"), "`StartingPosition: TRIM_HORIZON` or `LATEST`", sink)?;
    if starting_position != "TRIM_HORIZON" && starting_position != "LATEST" {
        sink.error(
            p.get("StartingPosition").map(|n| n.line).or(Some(line)),
            &p.at("StartingPosition"),
            format!("StartingPosition `{starting_position}` must be TRIM_HORIZON or LATEST for a DynamoDB stream"),
            None,
        );
        return None;
    }
    Some(StreamEvent {
        name: name.to_string(),
        table,
        starting_position,
        batch_size: p.uint("BatchSize", 1, 10_000, sink).unwrap_or(100) as u32,
        enabled: p.bool("Enabled", sink).unwrap_or(true),
        max_retries: limit(p, "MaximumRetryAttempts", 0, 10_000, sink),
        max_record_age: limit(p, "MaximumRecordAgeInSeconds", 60, 604_800, sink),
    })
}

/// An S3 event's Bucket, Events and Filter.
fn s3_event(name: &str, p: &Props, line: usize, sink: &mut Sink) -> Option<S3Event> {
    p.check_keys(&["Bucket", "Events", "Filter"], &[], "S3 event", sink);
    let bucket = p.required("Bucket", &format!("S3 event {name}"), "e.g. `Bucket: !Ref UploadsBucket`", sink)?;
    let events = p.strings("Events", sink);
    if events.is_empty() {
        sink.error(Some(line), &p.at("Events"), format!("S3 event {name} is missing `Events`"), Some("e.g. `Events: s3:ObjectCreated:*`"));
        return None;
    }
    for e in &events {
        if !S3_EVENT_TYPES.contains(&e.as_str()) {
            sink.error(
                p.get("Events").map(|n| n.line),
                &p.at("Events"),
                format!("S3 event type `{e}` is not reported by esb's S3 server"),
                Some("use s3:ObjectCreated:* (Put, Copy, CompleteMultipartUpload) or s3:ObjectRemoved:* (Delete)"),
            );
        }
    }
    let (mut prefix, mut suffix) = (None, None);
    if let Some(filter) = p.map("Filter", sink) {
        let fpath = p.at("Filter");
        let f = Props::new(filter, &fpath);
        if let Some(key) = f.map("S3Key", sink) {
            let kpath = f.at("S3Key");
            for (rpath, rule) in Props::new(key, &kpath).maps("Rules", sink) {
                let r = Props::new(rule, &rpath);
                let (rule_name, value) = (r.string("Name", sink).unwrap_or_default(), r.string("Value", sink).unwrap_or_default());
                match rule_name.to_ascii_lowercase().as_str() {
                    "prefix" => prefix = Some(value),
                    "suffix" => suffix = Some(value),
                    _ => sink.error(Some(rule.line), &rpath, format!("filter rule `{rule_name}` must be prefix or suffix"), None),
                }
            }
        }
    }
    Some(S3Event { name: name.to_string(), bucket, events, prefix, suffix })
}

/// Validates an EventBridge schedule expression (the Scheduler runs what [`crate::schedule`] parses).
pub fn check_schedule(expr: &str) -> Result<(), String> {
    if expr.starts_with("at(") {
        return Err("one-time at() schedules are not supported".into());
    }
    crate::schedule::parse(expr).map(|_| ())
}

/// The HTTP routes a function esb leaves out declares (`Api`/`HttpApi` events with a literal
/// `Path`), so the gateway's 404 for them can name the function and `reason`. Nothing is checked
/// here: the function does not run, so its events are not compiled.
pub(crate) fn unavailable_routes(id: &str, props: &Node, reason: &str) -> Vec<crate::model::UnavailableRoute> {
    let Some(events) = props.get("Events").and_then(Node::as_map) else { return vec![] };
    events
        .iter()
        .filter(|(_, e)| matches!(e.get("Type").and_then(Node::as_scalar_str).as_deref(), Some("Api" | "HttpApi")))
        .filter_map(|(_, e)| {
            let p = e.get("Properties")?;
            let path = p.get("Path").and_then(Node::as_scalar_str)?;
            let method = p.get("Method").and_then(Node::as_scalar_str).map_or("ANY".into(), |m| m.to_ascii_uppercase());
            let method = if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" { "ANY".into() } else { method };
            Some(crate::model::UnavailableRoute { method, path, function: id.to_string(), reason: reason.to_string() })
        })
        .collect()
}
