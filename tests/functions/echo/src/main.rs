//! A Lambda custom runtime (`bootstrap`) for esb's end-to-end tests, built as a static binary and
//! packaged on esb's `provided` base image (`FROM scratch` + RIE): the fastest real function there is.
//!
//! It speaks the Lambda Runtime API (`$AWS_LAMBDA_RUNTIME_API`): next invocation, then response or
//! error. The event's `action` picks the behaviour:
//! - absent or `echo`: returns `{"echo": <event>, "requestId", "traceId", "version", "env": {...}}`,
//!   where `version` is the text of `VERSION` next to the binary (read at start, so a changed file
//!   shows only in a new container: the benchmarks' stand-in for a code change);
//! - `fail`: reports a function error (`errorType` from the event, default `EchoError`);
//! - `sleep`: sleeps `seconds` (for timeouts), then echoes;
//! - `exit`: exits with code 3 mid-invocation (a dying runtime);
//! - `alloc`: allocates and touches `mb` MiB (for memory limits).
#![forbid(unsafe_code)]

use serde_json::{json, Value};
use std::time::Duration;

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_else(|_| "127.0.0.1:9001".into());
    let base = format!("http://{api}/2018-06-01/runtime");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let version = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::read_to_string(exe.with_file_name("VERSION")).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    loop {
        let mut next = match agent.get(format!("{base}/invocation/next")).call() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("echo: cannot reach the runtime API: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let header = |name: &str| next.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let request_id = header("Lambda-Runtime-Aws-Request-Id");
        let client_context = header("Lambda-Runtime-Client-Context");
        // RIE drops the trace header; esb also sends the trace id in the client context.
        let trace_id = Some(header("Lambda-Runtime-Trace-Id")).filter(|t| !t.is_empty()).unwrap_or_else(|| {
            let context: Value = serde_json::from_str(&client_context).unwrap_or(Value::Null);
            context["custom"]["X-Amzn-Trace-Id"].as_str().unwrap_or_default().to_string()
        });
        let body = next.body_mut().read_to_string().unwrap_or_default();
        let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        println!("echo: request {request_id} action {}", event["action"].as_str().unwrap_or("echo"));
        let reply = match event["action"].as_str().unwrap_or("echo") {
            "fail" => Err(json!({
                "errorType": event["errorType"].as_str().unwrap_or("EchoError"),
                "errorMessage": event["message"].as_str().unwrap_or("failed on request"),
            })),
            "exit" => std::process::exit(3),
            "sleep" => {
                std::thread::sleep(Duration::from_secs_f64(event["seconds"].as_f64().unwrap_or(1.0)));
                Ok(echo(&event, &request_id, &trace_id, &client_context, &version))
            }
            "alloc" => {
                let mb = event["mb"].as_u64().unwrap_or(64) as usize;
                let mut block = vec![0u8; mb << 20];
                for i in (0..block.len()).step_by(4096) {
                    block[i] = 1;
                }
                Ok(json!({"allocated_mb": mb, "touched": block.iter().step_by(4096).filter(|b| **b == 1).count()}))
            }
            _ => Ok(echo(&event, &request_id, &trace_id, &client_context, &version)),
        };
        let (path, payload) = match reply {
            Ok(v) => ("response", v),
            Err(e) => ("error", e),
        };
        if let Err(e) = agent.post(format!("{base}/invocation/{request_id}/{path}")).send(payload.to_string()) {
            eprintln!("echo: cannot post the {path}: {e}");
        }
    }
}

fn echo(event: &Value, request_id: &str, trace_id: &str, client_context: &str, version: &str) -> Value {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    json!({
        "echo": event,
        "requestId": request_id,
        "traceId": trace_id,
        "clientContext": client_context,
        "version": version,
        "env": {
            "AWS_LAMBDA_FUNCTION_NAME": env("AWS_LAMBDA_FUNCTION_NAME"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
            "AWS_REGION": env("AWS_REGION"),
            "_HANDLER": env("_HANDLER"),
            "GREETING": env("GREETING"),
        },
    })
}
