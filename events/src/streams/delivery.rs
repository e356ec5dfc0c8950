//! Delivering one batch of stream records: the synchronous invocation, its retries (1 s doubling
//! to 60 s, within `MaximumRetryAttempts` and `MaximumRecordAgeInSeconds`) and Lambda's failure
//! record for a batch that gives up.
//!
//! Owns: one batch's fate. Must not: read the stream or move positions (the reader does, after
//! this returns).

use super::{pause, Answer, Context, Mapping};
use esb_actors::events::record;
use esb_storage::streams::{lambda_event, sequence};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::watch;

/// How delivering one batch ended.
pub(super) enum Delivery {
    /// The function succeeded.
    Done,
    /// Retries or record age ran out: recorded in the failure log and skipped.
    Failed,
    /// esb is stopping before the batch succeeded: it is delivered again at the next start.
    Stopped,
}

/// The record's creation time in seconds since the epoch, as the stream reports it.
fn created(record: &Value) -> Option<f64> {
    record["dynamodb"]["ApproximateCreationDateTime"].as_f64()
}

pub(super) async fn deliver(
    ctx: &Context,
    m: &Mapping,
    stream: &str,
    shard: &str,
    records: &[Value],
    stop: &mut watch::Receiver<bool>,
) -> Delivery {
    let payload = bytes::Bytes::from(lambda_event(stream, &ctx.region, records).to_string());
    let trace = esb_runtime::rie::new_trace_id();
    let (first, last) = (records.first().and_then(sequence).unwrap_or(""), records.last().and_then(sequence).unwrap_or(""));
    let oldest = records.iter().filter_map(created).reduce(f64::min);
    let mut attempts = 0u32;
    let mut wait = Duration::from_secs(1);
    loop {
        if let (Some(max), Some(oldest)) = (m.event.max_record_age, oldest) {
            let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
            if now - oldest > f64::from(max) {
                record_failure(ctx, m, stream, shard, records, "RecordAgeExceeded", attempts, None);
                return Delivery::Failed;
            }
        }
        match m.target.invoke(payload.clone(), &trace).await {
            Answer::Success => {
                tracing::info!(function = %m.function, event = %m.event.name, records = records.len(), first, last, trace_id = %trace, attempts = attempts + 1, "stream batch delivered");
                return Delivery::Done;
            }
            Answer::Failed(body) => {
                attempts += 1;
                if m.event.max_retries.is_some_and(|max| attempts > max) {
                    record_failure(ctx, m, stream, shard, records, "RetryAttemptsExhausted", attempts, Some(body));
                    return Delivery::Failed;
                }
                tracing::info!(function = %m.function, event = %m.event.name, attempt = attempts, retry_in_ms = wait.as_millis() as u64, trace_id = %trace, "stream batch failed; retrying");
                if pause(stop, wait).await {
                    return Delivery::Stopped;
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
            // No container now (throttled, esb stopping): not an attempt; wait and try again.
            Answer::NotNow(why) => {
                tracing::debug!(function = %m.function, error = %why, "stream batch not delivered yet");
                if pause(stop, wait).await {
                    return Delivery::Stopped;
                }
            }
        }
    }
}

/// Lambda's failure record for a stream batch (as an OnFailure destination receives it), with the
/// function's logical id, appended to the failure log.
#[allow(clippy::too_many_arguments)]
fn record_failure(
    ctx: &Context,
    m: &Mapping,
    stream: &str,
    shard: &str,
    records: &[Value],
    condition: &str,
    attempts: u32,
    response: Option<Value>,
) {
    let arrival = |r: Option<&Value>| {
        r.and_then(created).and_then(|t| chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64)).map(record::timestamp)
    };
    let mut record = json!({
        "version": "1.0",
        "timestamp": record::timestamp(chrono::Utc::now()),
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": format!("{}:$LATEST", record::function_arn(&ctx.region, &m.function_name)),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "DDBStreamBatchInfo": {
            "shardId": shard,
            "startSequenceNumber": records.first().and_then(sequence),
            "endSequenceNumber": records.last().and_then(sequence),
            "approximateArrivalOfFirstRecord": arrival(records.first()),
            "approximateArrivalOfLastRecord": arrival(records.last()),
            "batchSize": records.len(),
            "streamArn": stream,
        },
        "function": m.function,
    });
    if let Some(payload) = response {
        record["responseContext"] = json!({ "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled" });
        record["responsePayload"] = payload;
    }
    let path = ctx.dir.join(esb_actors::events::FAILURE_LOG);
    if let Err(e) = std::fs::create_dir_all(&ctx.dir).and_then(|_| esb_actors::events::append_line(&path, &record)) {
        tracing::error!(function = %m.function, error = %e, "the failure log cannot be written");
    }
    tracing::warn!(function = %m.function, event = %m.event.name, condition, attempts, records = records.len(), "stream batch failed; recorded and skipped");
}
