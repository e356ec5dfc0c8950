//! The Lambda Invoke API, so boto3's lambda client (and `aws lambda invoke`) work against esb.
//!
//! Owns: parsing `POST /2015-03-31/functions/{name}/invocations`, the invocation types
//! (RequestResponse; Event: handed to the manager's event queue, which journals it, then 202 with
//! the request id; DryRun: 204), the payload limits (6 MB synchronous, 1 MB asynchronous, as
//! Lambda's), and mapping every outcome to Lambda's HTTP shape in
//! one function ([`respond`]): function errors are 200 with `X-Amz-Function-Error: Unhandled`,
//! throttles 429 `TooManyRequestsException`, unknown functions 404 `ResourceNotFoundException`.
//! Must not: touch containers (function actors do).

use crate::Invoker;
use bytes::Bytes;
use esb_actors::events::EnqueueError;
use esb_actors::{AcquireError, InvokeFailure, Reported};
use esb_runtime::rie::Invocation;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use std::sync::Arc;

/// Lambda's synchronous payload limit.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Lambda's asynchronous payload limit.
pub const MAX_EVENT_PAYLOAD: usize = 1024 * 1024;

/// Lambda's error shape: `{"Type", "__type", "message"}` with `x-amzn-ErrorType`.
pub fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "Type": "User", "__type": kind, "message": message }).to_string();
    let mut r = Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("x-amzn-ErrorType", kind)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default();
    crate::response::retry_after(&mut r);
    r
}

/// Lambda's answer for an invocation result.
pub fn respond(result: Result<Invocation, InvokeFailure>) -> Response<Full<Bytes>> {
    let ok = |body: Bytes, function_error: bool| {
        let mut builder = Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "application/json")
            .header("X-Amz-Executed-Version", "$LATEST");
        if function_error {
            builder = builder.header("X-Amz-Function-Error", "Unhandled");
        }
        builder.body(Full::new(body)).unwrap_or_default()
    };
    match Reported::of(result) {
        Reported::Success(body) => ok(body, false),
        // The function's error, a timeout, or a runtime that died (its container is replaced).
        Reported::Unhandled(body) => ok(body, true),
        Reported::NotRun(InvokeFailure::Acquire(e @ (AcquireError::Throttled { .. } | AcquireError::GlobalLimit { .. }))) => {
            error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", &e.to_string())
        }
        Reported::NotRun(InvokeFailure::Acquire(e @ AcquireError::StartFailed { .. })) => {
            error(StatusCode::BAD_GATEWAY, "ServiceException", &e.to_string())
        }
        Reported::NotRun(e) => error(StatusCode::SERVICE_UNAVAILABLE, "ServiceException", &e.to_string()),
    }
}

/// Lambda's answer when the event queue did not accept an event.
pub fn refused(e: &EnqueueError) -> Response<Full<Bytes>> {
    match e {
        EnqueueError::UnknownFunction { .. } => error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &e.to_string()),
        EnqueueError::Full { .. } => error(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", &e.to_string()),
        EnqueueError::Journal { .. } | EnqueueError::Unavailable => {
            error(StatusCode::SERVICE_UNAVAILABLE, "ServiceException", &e.to_string())
        }
    }
}

/// A function as an Invoke API path names it: a name, `name:qualifier`, a partial ARN
/// (`account:function:name[:qualifier]`) or a full ARN, percent-decoded (SDKs encode the `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function's name.
    pub name: String,
    /// The version or alias, if one was named (`$LATEST` included).
    pub qualifier: Option<String>,
}

/// Why a function reference names nothing esb runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not a name or ARN at all (Lambda's 400 `ValidationException`).
    #[error("1 validation error detected: Value '{0}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:aws:lambda:)?([a-z0-9-]+:)?([0-9]{{12}}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?")]
    Invalid(String),
    /// An ARN of another partition, region or account (Lambda's 404).
    #[error("Function not found: {0}")]
    Elsewhere(String),
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(s: &str) -> bool {
    s == "$LATEST" || (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parses a function reference as Lambda does; an ARN must be of `partition aws`, service
/// `lambda`, esb's `region` and esb's account.
pub fn parse_function(raw: &str, region: &str) -> Result<FunctionRef, NameError> {
    let invalid = || NameError::Invalid(raw.to_string());
    let elsewhere = || NameError::Elsewhere(raw.to_string());
    let parts: Vec<&str> = raw.split(':').collect();
    let (name, qualifier) = match parts[..] {
        [name] => (name, None),
        [name, q] if valid_name(name) && !q.is_empty() => (name, Some(q)),
        [account, "function", name] => {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            if account != crate::event::ACCOUNT_ID {
                return Err(elsewhere());
            }
            (name, None)
        }
        [account, "function", name, q] => {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            if account != crate::event::ACCOUNT_ID {
                return Err(elsewhere());
            }
            (name, Some(q))
        }
        ["arn", partition, service, r, account, "function", name, ref rest @ ..] if rest.len() <= 1 => {
            if !partition.starts_with("aws") || service.is_empty() || r.is_empty() || account.len() != 12 {
                return Err(invalid());
            }
            if partition != "aws" || service != "lambda" || r != region || account != crate::event::ACCOUNT_ID {
                return Err(elsewhere());
            }
            (name, rest.first().copied())
        }
        _ => return Err(invalid()),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(invalid());
    }
    Ok(FunctionRef { name: name.to_string(), qualifier: qualifier.map(str::to_string) })
}

/// The raw function reference of an Invoke API path (`/2015-03-31/functions/{ref}/invocations`),
/// percent-decoded; `None` for any other path.
pub fn function_path(path: &str) -> Option<String> {
    let raw = path.strip_prefix("/2015-03-31/functions/")?.strip_suffix("/invocations")?;
    Some(urlencoding::decode(raw).ok()?.into_owned())
}

/// The function an Invoke API path names (for logs and metrics; [`handle`] checks it fully).
pub fn function_name(path: &str) -> Option<String> {
    let raw = function_path(path)?;
    let name = raw.split(':').rev().find(|p| valid_name(p) && *p != "function" && p.parse::<u64>().is_err())?;
    Some(name.to_string())
}

/// Handles one Invoke API request (the body already read and, when required, its signature checked).
pub async fn handle(
    invoker: Arc<dyn Invoker>,
    parts: &http::request::Parts,
    payload: Bytes,
    trace: &str,
    region: &str,
) -> Response<Full<Bytes>> {
    let Some(raw) = function_path(parts.uri.path()) else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "unknown path; use POST /2015-03-31/functions/{name}/invocations",
        );
    };
    if parts.method != Method::POST {
        return error(StatusCode::METHOD_NOT_ALLOWED, "InvalidRequestContentException", "use POST");
    }
    let f = match parse_function(&raw, region) {
        Ok(f) => f,
        Err(e @ NameError::Invalid(_)) => return error(StatusCode::BAD_REQUEST, "ValidationException", &e.to_string()),
        Err(e @ NameError::Elsewhere(_)) => return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &e.to_string()),
    };
    // `?Qualifier=` and a qualifier in the name must agree when both are given, as Lambda requires.
    let query_qualifier = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))
        .and_then(|q| urlencoding::decode(q).ok())
        .map(|q| q.into_owned());
    let qualifier = match (f.qualifier.as_deref(), query_qualifier.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("The derived qualifier from the function name does not match the specified qualifier ({a} vs {b})"),
            )
        }
        (a, b) => a.or(b).map(str::to_string),
    };
    let name = f.name;
    if !invoker.has(&name) {
        return error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {raw}"));
    }
    // esb runs each function's current code only: `$LATEST`. A version or alias is not there.
    if let Some(q) = qualifier.filter(|q| q != "$LATEST") {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("Function not found: {raw} (qualifier `{q}`: esb runs $LATEST only; versions and aliases are not published locally)"),
        );
    }
    let header = |h: &str| parts.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string);
    let kind = header("X-Amz-Invocation-Type").unwrap_or_else(|| "RequestResponse".into());
    let payload = if payload.is_empty() { Bytes::from_static(b"{}") } else { payload };
    if serde_json::from_slice::<serde_json::Value>(&payload).is_err() {
        return error(StatusCode::BAD_REQUEST, "InvalidRequestContentException", "could not parse request body into json");
    }
    let trace = trace.to_string();
    match kind.as_str() {
        "RequestResponse" => match invoker.invoke(&name, payload, &trace).await {
            Some(r) => respond(r),
            None => error(StatusCode::NOT_FOUND, "ResourceNotFoundException", &format!("Function not found: {name}")),
        },
        "Event" => {
            if payload.len() > MAX_EVENT_PAYLOAD {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestTooLargeException",
                    &format!("asynchronous payloads are limited to {MAX_EVENT_PAYLOAD} bytes; this one has {}", payload.len()),
                );
            }
            let payload = String::from_utf8_lossy(&payload).into_owned();
            match invoker.enqueue(&name, payload, &trace).await {
                Ok(id) => Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .header("x-amzn-RequestId", id)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default(),
                Err(e) => refused(&e),
            }
        }
        "DryRun" => Response::builder().status(StatusCode::NO_CONTENT).body(Full::new(Bytes::new())).unwrap_or_default(),
        other => error(StatusCode::BAD_REQUEST, "InvalidParameterValueException", &format!("unknown invocation type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_runtime::rie::{InvokeError, Outcome};
    use http_body_util::BodyExt;
    use std::time::Duration;

    fn inv(outcome: Outcome, body: &'static str) -> Invocation {
        Invocation { body: Bytes::from_static(body.as_bytes()), outcome, duration: Duration::ZERO }
    }

    async fn text(r: Response<Full<Bytes>>) -> String {
        String::from_utf8_lossy(&r.into_body().collect().await.unwrap().to_bytes()).into_owned()
    }

    #[test]
    fn paths_name_functions_like_lambda() {
        assert_eq!(function_name("/2015-03-31/functions/Echo/invocations").as_deref(), Some("Echo"));
        assert_eq!(
            function_name("/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AEcho/invocations").as_deref(),
            Some("Echo")
        );
        assert_eq!(function_name("/2015-03-31/functions/Echo:$LATEST/invocations").as_deref(), Some("Echo"));
        assert_eq!(function_name("/2015-03-31/functions//invocations"), None);
        assert_eq!(function_name("/other"), None);
    }

    #[test]
    fn names_and_arns_parse_as_lambda_parses_them() {
        let ok = |raw: &str, name: &str, q: Option<&str>| {
            assert_eq!(parse_function(raw, "us-east-1"), Ok(FunctionRef { name: name.into(), qualifier: q.map(str::to_string) }), "{raw}")
        };
        ok("Echo", "Echo", None);
        ok("Echo:$LATEST", "Echo", Some("$LATEST"));
        ok("Echo:7", "Echo", Some("7"));
        ok("123456789012:function:Echo", "Echo", None);
        ok("123456789012:function:Echo:live", "Echo", Some("live"));
        ok("arn:aws:lambda:us-east-1:123456789012:function:Echo", "Echo", None);
        ok("arn:aws:lambda:us-east-1:123456789012:function:Echo:$LATEST", "Echo", Some("$LATEST"));
        let elsewhere = |raw: &str| assert!(matches!(parse_function(raw, "us-east-1"), Err(NameError::Elsewhere(_))), "{raw}");
        elsewhere("arn:aws:lambda:us-east-1:999999999999:function:Echo");
        elsewhere("arn:aws:lambda:eu-west-1:123456789012:function:Echo");
        elsewhere("arn:aws-cn:lambda:us-east-1:123456789012:function:Echo");
        elsewhere("arn:aws:s3:us-east-1:123456789012:function:Echo");
        elsewhere("999999999999:function:Echo");
        let invalid = |raw: &str| assert!(matches!(parse_function(raw, "us-east-1"), Err(NameError::Invalid(_))), "{raw}");
        invalid("HelloFunction:EventsFunction:x");
        invalid("arn:bogus:lambda:us-east-1:123456789012:function:Echo");
        invalid("arn:aws:lambda:us-east-1:123456789012:layer:Echo");
        invalid("Echo:");
        invalid("");
        invalid("a/b");
        invalid(&"x".repeat(65));
        invalid("12345:function:Echo");
    }

    #[tokio::test]
    async fn outcomes_map_to_lambdas_http_shapes() {
        let ok = respond(Ok(inv(Outcome::Success, "{\"a\":1}")));
        assert_eq!(ok.status(), 200);
        assert!(ok.headers().get("X-Amz-Function-Error").is_none());
        assert_eq!(text(ok).await, "{\"a\":1}");

        let err = respond(Ok(inv(Outcome::FunctionError { error_type: "E".into(), error_message: "m".into() }, "{\"errorType\":\"E\"}")));
        assert_eq!((err.status().as_u16(), err.headers()["X-Amz-Function-Error"].to_str().unwrap()), (200, "Unhandled"));

        let timeout = respond(Ok(inv(Outcome::Timeout { message: "Task timed out after 1.00 seconds".into() }, "")));
        assert!(text(timeout).await.contains("Sandbox.Timedout"));

        let throttled = respond(Err(InvokeFailure::Acquire(AcquireError::Throttled { function: "F".into(), limit: 5 })));
        assert_eq!(throttled.status(), 429);
        assert!(text(throttled).await.contains("TooManyRequestsException"));

        let died = respond(Err(InvokeFailure::Invoke(InvokeError::ConnectionClosed("reset".into()))));
        assert_eq!(died.status(), 200);
        assert!(text(died).await.contains("Runtime.ExitError"));

        let stopping = respond(Err(InvokeFailure::Acquire(AcquireError::Stopping { function: "F".into() })));
        assert_eq!(stopping.headers()["retry-after"], "1", "a 503 says when to come back");
        assert_eq!(stopping.status(), 503);
    }
}
