//! A DynamoDB Streams client for the storage service: the table's stream, its shards, iterators
//! and records, over SigV4-signed JSON requests (`DynamoDBStreams_20120810.*`), plus the Lambda
//! event a batch of records becomes.
//!
//! Owns: the wire calls and the event shape. Must not: keep positions or invoke anything (the
//! manager's stream readers do).

use crate::provision::{error_parts, post_json, Signer};
use serde_json::{json, Value};

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
    /// Just after this sequence number (a checkpoint).
    After(String),
}

/// One shard of a stream. A shard is closed when the service splits it; its children (which name
/// it as their parent) hold the changes after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `ShardId`.
    pub id: String,
    /// `ParentShardId`, when the stream still lists one.
    pub parent: Option<String>,
}

/// A failed call: the service's error type (e.g. `ExpiredIteratorException`) and message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StreamError {
    /// The service's error type, or what went wrong before it answered.
    pub kind: StreamErrorKind,
    /// What it said.
    pub message: String,
}

impl StreamError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: StreamErrorKind, message: impl Into<String>) -> Self {
        StreamError { kind, message: message.into() }
    }
}

/// The kinds of stream errors a reader tells apart; the service's other types are kept by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamErrorKind {
    /// No answer came (the storage service is down or moved).
    Unreachable,
    /// An answer without what the call asks for.
    BadAnswer,
    /// A non-200 answer without an error type.
    Http,
    /// The position is older than what the stream keeps.
    TrimmedDataAccess,
    /// The iterator is too old to use.
    ExpiredIterator,
    /// The stream or shard does not exist (any more).
    ResourceNotFound,
    /// Another of the service's error types.
    Other(String),
}

impl StreamErrorKind {
    /// The kind a service's `__type` names (with or without its `namespace#` prefix).
    pub fn parse(service_type: &str) -> Self {
        match service_type.rsplit('#').next().unwrap_or(service_type) {
            "TrimmedDataAccessException" => StreamErrorKind::TrimmedDataAccess,
            "ExpiredIteratorException" => StreamErrorKind::ExpiredIterator,
            "ResourceNotFoundException" => StreamErrorKind::ResourceNotFound,
            other => StreamErrorKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for StreamErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StreamErrorKind::Unreachable => "Unreachable",
            StreamErrorKind::BadAnswer => "BadAnswer",
            StreamErrorKind::Http => "HttpError",
            StreamErrorKind::TrimmedDataAccess => "TrimmedDataAccessException",
            StreamErrorKind::ExpiredIterator => "ExpiredIteratorException",
            StreamErrorKind::ResourceNotFound => "ResourceNotFoundException",
            StreamErrorKind::Other(name) => name,
        })
    }
}

/// The streams API of one storage service.
#[derive(Debug, Clone)]
pub struct Streams {
    endpoint: String,
    signer: Signer,
}

impl Streams {
    /// A client for `endpoint` (`http://host:port`).
    pub fn new(endpoint: &str, signer: Signer) -> Self {
        Streams { endpoint: endpoint.trim_end_matches('/').to_string(), signer }
    }

    async fn call(&self, target: &str, body: Value) -> Result<Value, StreamError> {
        let (status, text) = post_json(&self.signer, &self.endpoint, target, &body)
            .await
            .map_err(|message| StreamError::new(StreamErrorKind::Unreachable, message))?;
        if status == 200 {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let (kind, message) = error_parts(&text);
        Err(StreamError::new(
            kind.map(|k| StreamErrorKind::parse(&k)).unwrap_or(StreamErrorKind::Http),
            message.unwrap_or_else(|| format!("HTTP {status}: {text}")),
        ))
    }
}

/// What a stream reader needs of a DynamoDB Streams service ([`Streams`]; tests use fakes).
#[async_trait::async_trait]
pub trait StreamSource: Send + Sync {
    /// The table's current stream ARN; `None` when the table has no enabled stream.
    async fn stream_of(&self, table: &str) -> Result<Option<String>, StreamError>;
    /// The stream's shards, in the order the service lists them.
    async fn shards(&self, stream: &str) -> Result<Vec<Shard>, StreamError>;
    /// An iterator into `shard` at `position`.
    async fn iterator(&self, stream: &str, shard: &str, position: &Position) -> Result<String, StreamError>;
    /// Up to `limit` records from `iterator`, and the iterator to continue with (`None` when the
    /// shard is closed and read to its end).
    async fn records(&self, iterator: &str, limit: u32) -> Result<(Vec<Value>, Option<String>), StreamError>;
}

#[async_trait::async_trait]
impl StreamSource for Streams {
    async fn stream_of(&self, table: &str) -> Result<Option<String>, StreamError> {
        let v = self.call("DynamoDB_20120810.DescribeTable", json!({ "TableName": table })).await?;
        let t = &v["Table"];
        let enabled = t["StreamSpecification"]["StreamEnabled"].as_bool().unwrap_or(false);
        Ok(t["LatestStreamArn"].as_str().filter(|_| enabled).map(str::to_string))
    }

    async fn shards(&self, stream: &str) -> Result<Vec<Shard>, StreamError> {
        let mut shards = vec![];
        let mut after: Option<String> = None;
        loop {
            let mut req = json!({ "StreamArn": stream });
            if let Some(a) = &after {
                req["ExclusiveStartShardId"] = json!(a);
            }
            let v = self.call("DynamoDBStreams_20120810.DescribeStream", req).await?;
            let d = &v["StreamDescription"];
            shards.extend(d["Shards"].as_array().into_iter().flatten().filter_map(|s| {
                let id = s["ShardId"].as_str()?.to_string();
                Some(Shard { id, parent: s["ParentShardId"].as_str().map(str::to_string) })
            }));
            match d["LastEvaluatedShardId"].as_str() {
                Some(last) if Some(last) != after.as_deref() => after = Some(last.to_string()),
                _ => return Ok(shards),
            }
        }
    }

    async fn iterator(&self, stream: &str, shard: &str, position: &Position) -> Result<String, StreamError> {
        let mut req = json!({ "StreamArn": stream, "ShardId": shard });
        match position {
            Position::TrimHorizon => req["ShardIteratorType"] = json!("TRIM_HORIZON"),
            Position::Latest => req["ShardIteratorType"] = json!("LATEST"),
            Position::After(seq) => {
                req["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                req["SequenceNumber"] = json!(seq);
            }
        }
        let v = self.call("DynamoDBStreams_20120810.GetShardIterator", req).await?;
        v["ShardIterator"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| StreamError::new(StreamErrorKind::BadAnswer, "GetShardIterator answered without an iterator"))
    }

    async fn records(&self, iterator: &str, limit: u32) -> Result<(Vec<Value>, Option<String>), StreamError> {
        let v = self.call("DynamoDBStreams_20120810.GetRecords", json!({ "ShardIterator": iterator, "Limit": limit })).await?;
        let records = v["Records"].as_array().cloned().unwrap_or_default();
        Ok((records, v["NextShardIterator"].as_str().map(str::to_string)))
    }
}

/// A record's sequence number.
pub fn sequence(record: &Value) -> Option<&str> {
    record["dynamodb"]["SequenceNumber"].as_str()
}

/// The event a function with a `DynamoDB` event receives: `{"Records": [...]}`, each record as
/// the stream gave it plus `eventSourceARN` (Lambda's shape).
pub fn lambda_event(stream: &str, region: &str, records: &[Value]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["eventSourceARN"] = json!(stream);
            r["eventSource"] = json!("aws:dynamodb");
            if r["awsRegion"].is_null() {
                r["awsRegion"] = json!(region);
            }
            if r["eventVersion"].is_null() {
                r["eventVersion"] = json!("1.1");
            }
            r
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_are_read_from_the_service_type_and_shown_by_it() {
        let trimmed = StreamErrorKind::parse("com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException");
        assert_eq!(trimmed, StreamErrorKind::TrimmedDataAccess);
        assert_eq!(StreamErrorKind::parse("ExpiredIteratorException"), StreamErrorKind::ExpiredIterator);
        assert_eq!(StreamErrorKind::parse("LimitExceededException"), StreamErrorKind::Other("LimitExceededException".into()));
        for kind in ["TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException", "LimitExceededException"] {
            assert_eq!(StreamErrorKind::parse(kind).to_string(), kind);
        }
        assert_eq!(StreamError::new(StreamErrorKind::Unreachable, "refused").to_string(), "Unreachable: refused");
    }

    #[test]
    fn the_event_is_lambdas_shape_with_the_stream_arn_on_every_record() {
        let r = json!({"eventID": "1", "eventName": "INSERT", "dynamodb": {"Keys": {"id": {"S": "a"}}, "SequenceNumber": "100"}});
        let e = lambda_event("arn:aws:dynamodb:eu-west-1:123456789012:table/T/stream/x", "eu-west-1", &[r.clone(), r]);
        let records = e["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["eventSourceARN"], "arn:aws:dynamodb:eu-west-1:123456789012:table/T/stream/x");
        assert_eq!((records[0]["eventSource"].as_str(), records[0]["awsRegion"].as_str()), (Some("aws:dynamodb"), Some("eu-west-1")));
        assert_eq!(records[1]["dynamodb"]["Keys"]["id"]["S"], "a");
        assert_eq!(sequence(&records[0]), Some("100"));
    }
}
