//! Lambda's destination record: what an `OnSuccess`/`OnFailure` function receives, and what esb's
//! failure log keeps (with the function's logical id added).
//!
//! Owns: the JSON shapes only. Must not: write files or invoke (the queue does).

use chrono::{DateTime, Utc};

/// Why an asynchronous event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// It succeeded (OnSuccess).
    Success,
    /// Every attempt ended in a function error.
    RetriesExhausted,
    /// It was older than `MaximumEventAgeInSeconds` before it could run.
    EventAgeExceeded,
    /// esb stopped while it ran (kill -9, power loss): it may have had effects, so esb does not
    /// run it again. esb's own condition; Lambda has none for this.
    Interrupted,
}

impl Condition {
    /// As Lambda writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Success => "Success",
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
            Condition::Interrupted => "Interrupted",
        }
    }
}

/// What the last attempt answered.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// `Unhandled` after a function error; `None` after a success.
    pub function_error: Option<String>,
    /// The function's answer (JSON when it is JSON, else a string).
    pub payload: Option<serde_json::Value>,
}

/// The destination record (Lambda's "invocation record").
#[allow(clippy::too_many_arguments)]
pub fn destination_record(
    request_id: &str,
    function_arn: &str,
    condition: Condition,
    invoke_count: u32,
    payload: &str,
    response: &Response,
    at: DateTime<Utc>,
) -> serde_json::Value {
    let request: serde_json::Value = serde_json::from_str(payload).unwrap_or_else(|_| serde_json::Value::String(payload.to_string()));
    let mut record = serde_json::json!({
        "version": "1.0",
        "timestamp": timestamp(at),
        "requestContext": {
            "requestId": request_id,
            "functionArn": format!("{function_arn}:$LATEST"),
            "condition": condition.as_str(),
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": request,
    });
    if invoke_count > 0 {
        let mut ctx = serde_json::json!({ "statusCode": 200, "executedVersion": "$LATEST" });
        if let Some(e) = &response.function_error {
            ctx["functionError"] = serde_json::Value::String(e.clone());
        }
        record["responseContext"] = ctx;
        record["responsePayload"] = response.payload.clone().unwrap_or(serde_json::Value::Null);
    }
    record
}

/// A time as Lambda's records write it (`2026-03-13T12:00:00.000Z`).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A function's ARN, as the template's `!GetAtt F.Arn` gives it.
pub fn function_arn(region: &str, function_name: &str) -> String {
    format!("arn:aws:lambda:{region}:123456789012:function:{function_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_has_lambdas_shape() {
        let at = DateTime::parse_from_rfc3339("2026-03-13T12:00:00Z").unwrap().with_timezone(&Utc);
        let response = Response {
            function_error: Some("Unhandled".into()),
            payload: Some(serde_json::json!({"errorType": "ValueError", "errorMessage": "boom"})),
        };
        let r = destination_record("id-1", &function_arn("eu-west-1", "fails"), Condition::RetriesExhausted, 3, "{\"n\":1}", &response, at);
        assert_eq!(r["requestContext"]["functionArn"], "arn:aws:lambda:eu-west-1:123456789012:function:fails:$LATEST");
        assert_eq!(r["requestContext"]["condition"], "RetriesExhausted");
        assert_eq!(r["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(r["requestPayload"]["n"], 1);
        assert_eq!(r["responseContext"]["functionError"], "Unhandled");
        assert_eq!(r["responsePayload"]["errorMessage"], "boom");
        assert_eq!(r["timestamp"], "2026-03-13T12:00:00.000Z");
        let aged = destination_record("id-2", "arn", Condition::EventAgeExceeded, 0, "not json", &Response::default(), at);
        assert_eq!(aged["requestPayload"], "not json");
        assert!(aged.get("responseContext").is_none(), "it never ran");
    }
}
