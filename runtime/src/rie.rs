//! Invoking a function through the Lambda Runtime Interface Emulator (RIE) in its container.
//!
//! Owns: the invoke request (`POST /2015-03-31/functions/function/invocations`), waiting for RIE to
//! listen, and classifying what comes back. RIE facts this relies on (measured, see DESIGN.md):
//! - a handler exception is **HTTP 200** with `{"errorMessage","errorType",...}` and no
//!   `X-Amz-Function-Error` header, so the body's shape decides;
//! - a timeout is HTTP 200 with the plain text `Task timed out after N.00 seconds`;
//! - two concurrent invocations crash RIE, so this client never pipelines and never retries: a
//!   caller must hold an exclusive lease on the container for the whole call;
//! - a connection closed without a response means the container died.
//!
//! Must not: choose containers or retry; callers own that.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RIE's listen port inside a function container.
pub const PORT: u16 = 8080;
/// The one function path RIE routes.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";
/// Header carrying the trace id into the function (`_X_AMZN_TRACE_ID`).
pub const TRACE_HEADER: &str = "X-Amzn-Trace-Id";
/// RIE drops [`TRACE_HEADER`] but forwards the client context, so the trace id also travels in the
/// client context's `custom` map under this key; esb's Python launcher restores `_X_AMZN_TRACE_ID`
/// from it (custom runtimes can read it from `Lambda-Runtime-Client-Context`).
pub const TRACE_CONTEXT_KEY: &str = "X-Amzn-Trace-Id";

/// How an invocation ended, from the function's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler returned; the body is its result.
    Success,
    /// The handler raised (or the runtime failed): Lambda's error shape.
    FunctionError {
        /// `errorType`, e.g. `ValueError`, `Runtime.ImportModuleError`.
        error_type: String,
        /// `errorMessage`.
        error_message: String,
    },
    /// RIE stopped the handler at the function's Timeout.
    Timeout {
        /// RIE's text, e.g. `Task timed out after 1.00 seconds`.
        message: String,
    },
}

/// A completed invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// What the function (or RIE) answered.
    pub body: Bytes,
    /// The classification of `body`.
    pub outcome: Outcome,
    /// Wall time of the HTTP exchange.
    pub duration: Duration,
}

/// The invocation did not complete; the container should not be reused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// RIE never started listening.
    #[error("RIE did not start listening on {addr} within {waited:?}")]
    NotReady {
        /// Where it was expected.
        addr: SocketAddr,
        /// How long esb waited.
        waited: Duration,
    },
    /// The connection closed without a response: the container (or RIE) died.
    #[error("the function's container closed the connection without answering: {0}")]
    ConnectionClosed(String),
    /// No answer within the deadline (the function's Timeout plus a grace period).
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// RIE answered with an unexpected HTTP status.
    #[error("RIE answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// The runtime failed, and RIE's log says why (see [`failure_reason`]).
    #[error("{kind}: {reason} ({cause})")]
    Runtime {
        /// Lambda's error type, e.g. `Runtime.InvalidEntrypoint`.
        kind: String,
        /// The runtime's own reason.
        reason: String,
        /// What the invocation itself saw (e.g. `RIE answered HTTP 502: `).
        cause: String,
    },
}

impl InvokeError {
    /// The runtime (not the network or the deadline) failed, so RIE's log may say why.
    pub fn runtime_failed(&self) -> bool {
        matches!(self, InvokeError::Status { .. } | InvokeError::ConnectionClosed(_))
    }

    /// This error with the runtime's own reason: the error a runtime posted to `init/error`,
    /// which RIE answers with its 502 (Node.js: `Runtime.ImportModuleError`), else what RIE's log
    /// `logs` says.
    pub fn explained(self, logs: &str) -> InvokeError {
        if let InvokeError::Status { body, .. } = &self {
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(body) {
                if let (Some(kind), Some(reason)) = (doc["errorType"].as_str(), doc["errorMessage"].as_str()) {
                    let cause = format!("the runtime failed; RIE answered HTTP {}", self.status().unwrap_or(502));
                    return InvokeError::Runtime { kind: kind.to_string(), reason: reason.to_string(), cause };
                }
            }
        }
        match failure_reason(logs) {
            Some((kind, reason)) if self.runtime_failed() => InvokeError::Runtime { kind, reason, cause: self.to_string() },
            _ => self,
        }
    }

    /// This error as Lambda reports it, from what the container left: `Runtime.OutOfMemory` when
    /// the engine killed it for its memory limit, else the runtime's own reason ([`Self::explained`]).
    pub fn diagnosed(self, remains: &Remains) -> InvokeError {
        if remains.oom_killed {
            return match self {
                // RIE's own words (`Runtime exited with error: signal: killed`), under Lambda's type.
                InvokeError::Runtime { reason, cause, .. } => InvokeError::Runtime { kind: OUT_OF_MEMORY.into(), reason, cause },
                other => InvokeError::Runtime { kind: OUT_OF_MEMORY.into(), reason: OUT_OF_MEMORY_REASON.into(), cause: other.to_string() },
            };
        }
        self.explained(&remains.logs)
    }

    /// Whether what the container left could say more than this error does: the runtime's own
    /// reason is not known yet, or the runtime was killed (the engine may say it was for memory).
    pub fn wants_remains(&self) -> bool {
        match self {
            InvokeError::Runtime { reason, .. } => reason.contains("signal: killed"),
            e => e.runtime_failed(),
        }
    }

    /// The HTTP status RIE answered, for [`InvokeError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            InvokeError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Lambda's error type for this failure: the runtime's own when known, else `Runtime.ExitError`.
    pub fn error_type(&self) -> &str {
        match self {
            InvokeError::Runtime { kind, .. } => kind,
            _ => "Runtime.ExitError",
        }
    }
}

/// Past a function's Timeout, how long a caller waits for RIE's own timeout answer before it
/// gives the container up. One value for every caller (the manager, the split gateway, `esb invoke`).
pub const TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// Lambda's error type for a function killed for using more memory than its `MemorySize`.
pub const OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";
/// What Lambda says then.
pub const OUT_OF_MEMORY_REASON: &str = "Runtime exited with error: signal: killed (the function used more memory than its MemorySize)";

/// What a container that failed an invocation left behind: its output, and whether the engine
/// killed a process in it for its memory limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remains {
    /// The container's output (RIE's log says why a runtime failed).
    pub logs: String,
    /// The engine's `OOMKilled`.
    #[serde(default)]
    pub oom_killed: bool,
}

impl Remains {
    /// Whether these say all they will: the engine reported an OOM kill, or RIE's log holds the
    /// failure's reason and, when that reason is a kill, the engine had time to flag it.
    pub fn complete(&self) -> bool {
        self.oom_killed || failure_reason(&self.logs).is_some_and(|(_, reason)| !reason.contains("signal: killed"))
    }
}

/// Why the runtime failed, read from RIE's own log lines: Lambda's error type (`First fatal error
/// stored in appctx: Runtime.InvalidEntrypoint`) and the reason (`error=fork/exec ...: no such
/// file or directory`), with a hint for the usual cause of that one on the `provided` base.
pub fn failure_reason(logs: &str) -> Option<(String, String)> {
    let kind = logs.lines().find_map(|l| l.split_once("First fatal error stored in appctx: ").map(|(_, k)| k.trim().to_string()));
    let reason = logs.lines().find_map(|l| {
        let (_, rest) = l.split_once(" error=")?;
        Some(rest.split(" InvokeID=").next().unwrap_or(rest).trim().to_string())
    });
    let (kind, mut reason) = match (kind, reason) {
        (None, None) => return None,
        (k, r) => (k.unwrap_or_else(|| "Runtime.ExitError".into()), r.unwrap_or_else(|| "the runtime failed; see its log".into())),
    };
    if reason.contains("fork/exec") && reason.ends_with("exec format error") {
        reason.push_str(&format!(
            " (the file is not a program for this machine ({}), or a script without a `#!` line: build it for {0})",
            std::env::consts::ARCH
        ));
    } else if reason.contains("fork/exec") && reason.ends_with("no such file or directory") {
        reason.push_str(
            " (when the file exists, it is dynamically linked and its loader, e.g. /lib64/ld-linux-x86-64.so.2, is not in the image: \
             build it static, e.g. RUSTFLAGS='-C target-feature=+crt-static' or CGO_ENABLED=0)",
        );
    }
    Some((kind, reason))
}

/// A new X-Ray style trace id, `Root=1-<epoch seconds, hex>-<96 random bits, hex>`, as API Gateway
/// generates when a request has none.
pub fn new_trace_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let random = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt ^ COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(now.as_nanos());
        h.finish()
    };
    format!("Root=1-{:08x}-{:08x}{:016x}", now.as_secs() as u32, random(1) as u32, random(2))
}

/// Classifies an RIE answer (see the module doc for why the body decides).
pub fn classify(status: u16, body: &[u8], function_error_header: Option<&str>) -> Result<Outcome, InvokeError> {
    if status != 200 {
        return Err(InvokeError::Status { status, body: String::from_utf8_lossy(body).into_owned() });
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let t = text.trim();
        if t.starts_with("Task timed out after") {
            return Ok(Outcome::Timeout { message: t.to_string() });
        }
    }
    let parsed: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_slice(body).ok();
    if let Some(obj) = parsed {
        // `stackTrace` is Python's, `trace` Node.js's.
        const ERROR_KEYS: &[&str] = &["errorMessage", "errorType", "requestId", "stackTrace", "trace", "cause"];
        let shaped =
            obj.contains_key("errorType") && obj.contains_key("errorMessage") && obj.keys().all(|k| ERROR_KEYS.contains(&k.as_str()));
        if shaped || function_error_header.is_some() {
            let field = |k: &str| obj.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            return Ok(Outcome::FunctionError { error_type: field("errorType"), error_message: field("errorMessage") });
        }
    } else if let Some(kind) = function_error_header {
        return Ok(Outcome::FunctionError { error_type: kind.to_string(), error_message: String::from_utf8_lossy(body).into_owned() });
    }
    Ok(Outcome::Success)
}

/// An HTTP client for RIE containers: keep-alive, one connection per container, no pipelining.
#[derive(Debug, Clone)]
pub struct RieClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for RieClient {
    fn default() -> Self {
        Self::new()
    }
}

impl RieClient {
    /// A client; share one across all containers.
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1).retry_canceled_requests(false).build(connector);
        RieClient { client }
    }

    /// Waits until something accepts TCP connections at `addr` (RIE listens as soon as it starts).
    pub async fn wait_ready(&self, addr: SocketAddr, within: Duration) -> Result<(), InvokeError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            // Bounded: a connect to an address nobody answers for (a removed container) can hang
            // for seconds before the kernel gives up.
            let left = within.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
            if matches!(tokio::time::timeout(left, tokio::net::TcpStream::connect(addr)).await, Ok(Ok(_))) {
                return Ok(());
            }
            if start.elapsed() >= within {
                return Err(InvokeError::NotReady { addr, waited: start.elapsed() });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Invokes the function at `addr` once. `deadline` bounds the whole exchange; pass the function's
    /// Timeout plus a grace period so RIE's own timeout answer normally arrives first.
    pub async fn invoke(
        &self,
        addr: SocketAddr,
        payload: Bytes,
        trace_id: Option<&str>,
        deadline: Duration,
    ) -> Result<Invocation, InvokeError> {
        let mut request =
            hyper::Request::post(format!("http://{addr}{INVOKE_PATH}")).header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(trace) = trace_id {
            use base64::Engine as _;
            let context = serde_json::json!({ "custom": { TRACE_CONTEXT_KEY: trace } }).to_string();
            request = request
                .header(TRACE_HEADER, trace)
                .header("X-Amz-Client-Context", base64::engine::general_purpose::STANDARD.encode(context));
        }
        let request = request.body(Full::new(payload)).map_err(|e| InvokeError::Status { status: 0, body: e.to_string() })?;
        let start = Instant::now();
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| InvokeError::ConnectionClosed(describe(&e)))?;
            let status = response.status().as_u16();
            let header = response.headers().get("X-Amz-Function-Error").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = response.into_body().collect().await.map_err(|e| InvokeError::ConnectionClosed(e.to_string()))?.to_bytes();
            Ok::<_, InvokeError>((status, header, body))
        };
        let (status, header, body) = tokio::time::timeout(deadline, exchange).await.map_err(|_| InvokeError::TimedOut(deadline))??;
        let outcome = classify(status, &body, header.as_deref())?;
        Ok(Invocation { body, outcome, duration: start.elapsed() })
    }
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_own_failure_is_read_from_ries_log() {
        let logs = "01 Dec 2026 22:46:17,152 [WARNING] (rapid) First fatal error stored in appctx: Runtime.InvalidEntrypoint\n\
            01 Dec 2026 22:46:17,152 [ERROR] (rapid) Init failed error=fork/exec /var/task/bootstrap: no such file or directory InvokeID=\n";
        let (kind, reason) = failure_reason(logs).unwrap();
        assert_eq!(kind, "Runtime.InvalidEntrypoint");
        assert!(
            reason.starts_with("fork/exec /var/task/bootstrap: no such file or directory") && reason.contains("crt-static"),
            "{reason}"
        );
        assert_eq!(failure_reason("START RequestId: x\nEND RequestId: x\n"), None);
        let foreign = logs.replace("no such file or directory", "exec format error");
        let (_, reason) = failure_reason(&foreign).unwrap();
        assert!(reason.contains(&format!("build it for {}", std::env::consts::ARCH)), "{reason}");

        let died = InvokeError::Status { status: 502, body: String::new() };
        let explained = died.explained(logs);
        assert_eq!(explained.error_type(), "Runtime.InvalidEntrypoint");
        assert!(explained.to_string().contains("no such file or directory") && explained.to_string().contains("HTTP 502"), "{explained}");
        // A timeout is not the runtime's failure, and a log without a reason changes nothing.
        assert!(matches!(InvokeError::TimedOut(Duration::from_secs(1)).explained(logs), InvokeError::TimedOut(_)));
        assert_eq!(InvokeError::ConnectionClosed("reset".into()).explained("").error_type(), "Runtime.ExitError");
        // A runtime's own init error, which RIE passes on with its 502, wins over RIE's log.
        let body = r#"{"errorType":"Runtime.ImportModuleError","errorMessage":"Error: Cannot find module 'x'","trace":[]}"#;
        let init = InvokeError::Status { status: 502, body: body.into() }.explained(logs);
        assert_eq!(init.error_type(), "Runtime.ImportModuleError");
        assert!(init.to_string().contains("Cannot find module 'x'"), "{init}");
    }

    #[test]
    fn a_node_error_with_its_trace_is_a_function_error() {
        let body = br#"{"errorType":"TypeError","errorMessage":"boom","trace":["TypeError: boom","    at handler (file:///var/task/app.mjs:3:25)"]}"#;
        assert_eq!(
            classify(200, body, None).unwrap(),
            Outcome::FunctionError { error_type: "TypeError".into(), error_message: "boom".into() }
        );
    }

    #[test]
    fn a_returned_value_is_success_even_if_it_mentions_errors() {
        assert_eq!(classify(200, br#"{"statusCode":200,"body":"hi"}"#, None).unwrap(), Outcome::Success);
        assert_eq!(classify(200, br#"{"errorType":"x","errorMessage":"y","extra":1}"#, None).unwrap(), Outcome::Success);
        assert_eq!(classify(200, b"null", None).unwrap(), Outcome::Success);
    }

    #[test]
    fn the_lambda_error_shape_is_a_function_error() {
        let body = br#"{"errorMessage": "boom", "errorType": "ValueError", "requestId": "r", "stackTrace": ["  File x"]}"#;
        assert_eq!(
            classify(200, body, None).unwrap(),
            Outcome::FunctionError { error_type: "ValueError".into(), error_message: "boom".into() }
        );
        let unhandled = classify(200, b"not json", Some("Unhandled")).unwrap();
        assert_eq!(unhandled, Outcome::FunctionError { error_type: "Unhandled".into(), error_message: "not json".into() });
    }

    #[test]
    fn rie_timeout_text_is_a_timeout() {
        assert_eq!(
            classify(200, b"Task timed out after 1.00 seconds", None).unwrap(),
            Outcome::Timeout { message: "Task timed out after 1.00 seconds".into() }
        );
    }

    #[test]
    fn trace_ids_have_the_x_ray_shape_and_differ() {
        let (a, b) = (new_trace_id(), new_trace_id());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.trim_start_matches("Root=").split('-').collect();
        assert_eq!((parts.len(), parts[0], parts[1].len(), parts[2].len()), (3, "1", 8, 24), "{a}");
    }

    #[test]
    fn other_statuses_are_errors() {
        assert!(matches!(classify(404, b"404 page not found", None), Err(InvokeError::Status { status: 404, .. })));
    }

    #[tokio::test]
    async fn a_dead_endpoint_is_not_ready_and_a_closing_one_is_connection_closed() {
        let client = RieClient::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(client.wait_ready(addr, Duration::from_millis(30)).await, Err(InvokeError::NotReady { .. })));

        // A server that accepts, reads, and closes without answering: what a crashing RIE looks like.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
        });
        client.wait_ready(addr, Duration::from_secs(1)).await.unwrap();
        let err = client.invoke(addr, Bytes::from_static(b"{}"), None, Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(err, InvokeError::ConnectionClosed(_)), "{err:?}");
    }

    #[test]
    fn remains_say_out_of_memory_only_when_the_engine_flagged_it() {
        let killed = "[ERROR] (rapid) Init failed error=Runtime exited with error: signal: killed InvokeID=x\n";
        let closed = InvokeError::ConnectionClosed("reset".into());
        // The kill is in RIE's log but the engine has not flagged it yet: wait for more.
        assert!(!Remains { logs: killed.into(), oom_killed: false }.complete());
        assert!(!Remains::default().complete(), "nothing yet");
        assert!(Remains { logs: String::new(), oom_killed: true }.complete());
        let bad =
            "First fatal error stored in appctx: Runtime.InvalidEntrypoint\n x error=fork/exec /var/task/bootstrap: permission denied\n";
        assert!(Remains { logs: bad.into(), oom_killed: false }.complete(), "a reason that is not a kill is all there is");
        let oom = closed.clone().diagnosed(&Remains { logs: killed.into(), oom_killed: true });
        assert_eq!(oom.error_type(), OUT_OF_MEMORY);
        assert!(oom.to_string().contains("reset"), "the cause is kept: {oom}");
        assert_eq!(closed.clone().diagnosed(&Remains { logs: killed.into(), oom_killed: false }).error_type(), "Runtime.ExitError");
        // RIE reports the kill itself (a 502 with Lambda's error document): its words, Lambda's type.
        let body = r#"{"errorMessage":"RequestId: r Error: Runtime exited with error: signal: killed","errorType":"Runtime.ExitError"}"#;
        let reported = InvokeError::Status { status: 502, body: body.into() }.explained("");
        assert!(reported.wants_remains(), "a kill may have been for memory");
        let oom = reported.diagnosed(&Remains { logs: String::new(), oom_killed: true });
        assert_eq!(oom.error_type(), OUT_OF_MEMORY);
        assert!(oom.to_string().contains("RequestId: r Error: Runtime exited with error: signal: killed"), "{oom}");
        assert!(!closed.explained(bad).wants_remains(), "the runtime's own reason is all there is");
    }
}
