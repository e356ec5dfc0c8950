//! The readers' two edges, as traits so the reader's logic is tested with fakes: where the stream
//! comes from ([`Connect`]: the storage service's Streams API, found through the engine) and what a
//! batch is handed to ([`Target`]: the function's actor).
//!
//! Owns: turning an invocation's result into an [`Answer`]. Must not: decide retries (the delivery
//! does).

use bytes::Bytes;
use esb_actors::{FunctionHandle, Reported};
use esb_storage::streams::{StreamSource, Streams};
use serde_json::Value;
use std::sync::Arc;

/// Finds the Streams API to read from; `None` while there is none (the storage service is down).
#[async_trait::async_trait]
pub trait Connect: Send + Sync {
    async fn connect(&self) -> Option<Arc<dyn StreamSource>>;
}

/// The project's running DynamoDB service, looked up by its labels each time (it may have moved).
pub struct Storage {
    pub rt: Arc<dyn esb_runtime::Runtime>,
    pub project: String,
    pub region: String,
}

#[async_trait::async_trait]
impl Connect for Storage {
    async fn connect(&self) -> Option<Arc<dyn StreamSource>> {
        let eps = esb_storage::service::endpoints(self.rt.as_ref(), &self.project).await.ok()?;
        let ddb = eps.into_iter().find(|e| e.service == "dynamodb")?;
        let signer = esb_storage::provision::Signer {
            access_key: esb_config::lambda_env::ACCESS_KEY_ID.into(),
            secret_key: esb_config::lambda_env::SECRET_ACCESS_KEY.into(),
            region: self.region.clone(),
        };
        Some(Arc::new(Streams::new(&ddb.direct, signer)))
    }
}

/// How the function answered a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// It succeeded.
    Success,
    /// A function error, timeout or crashed runtime: an attempt, with what to record.
    Failed(Value),
    /// It did not run (throttled, no container, esb stopping): not an attempt.
    NotNow(String),
}

/// Where a batch goes.
#[async_trait::async_trait]
pub trait Target: Send + Sync {
    async fn invoke(&self, payload: Bytes, trace: &str) -> Answer;
}

#[async_trait::async_trait]
impl Target for FunctionHandle {
    async fn invoke(&self, payload: Bytes, trace: &str) -> Answer {
        match Reported::of(FunctionHandle::invoke(self, payload, Some(trace)).await) {
            Reported::Success(_) => Answer::Success,
            Reported::Unhandled(body) => {
                Answer::Failed(serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into())))
            }
            Reported::NotRun(e) => Answer::NotNow(e.to_string()),
        }
    }
}
