//! Forwarding function log lines to a VictoriaLogs-compatible endpoint (`/insert/jsonline`).
//!
//! Owns: a bounded queue between the LogCollector and the network (the collector only `try_send`s:
//! when the queue is full the newest lines are dropped and counted, so a slow or dead sink never
//! slows the collector, let alone an invocation), and the sender task: batches of up to [`BATCH`]
//! lines POSTed as newline-delimited JSON, retried with doubling backoff (up to [`MAX_BACKOFF`])
//! until they are accepted, in order. Must not: write files or parse lines.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Lines waiting for the sink at most; beyond that, new lines are dropped.
pub const QUEUE: usize = 10_000;
/// Lines per request.
pub const BATCH: usize = 500;
/// Longest wait between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The collector's side: cheap to call, never waits.
#[derive(Clone)]
pub struct Sink {
    tx: mpsc::Sender<String>,
    counts: Arc<Counts>,
}

/// What happened to lines so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Accepted by the sink.
    pub sent: AtomicU64,
    /// Dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Failed requests (each retried).
    pub failures: AtomicU64,
}

impl Sink {
    /// Starts the sender task for `url` (`http://host:port/insert/jsonline?...`).
    pub fn start(url: String) -> Result<Sink, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("log sink `{url}`: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("log sink `{url}`: only http:// is supported (put a TLS proxy in front for https)"));
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(send_loop(uri, rx, counts.clone()));
        Ok(Sink { tx, counts })
    }

    /// Queues `line` (one JSON object); drops it when the queue is full.
    pub fn offer(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            crate::metrics::exported("logs", "dropped", 1);
        }
    }

    /// The counters.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

async fn send_loop(uri: hyper::Uri, mut rx: mpsc::Receiver<String>, counts: Arc<Counts>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut backoff = Duration::from_millis(500);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(l) => batch.push(l),
                Err(_) => break,
            }
        }
        let body = Bytes::from(batch.join("\n") + "\n");
        // The same batch until it is taken: order is kept, nothing accepted is lost.
        loop {
            let req = hyper::Request::post(uri.clone()).header("content-type", "application/stream+json").body(Full::new(body.clone()));
            let ok = match req {
                Ok(req) => matches!(tokio::time::timeout(REQUEST_TIMEOUT, client.request(req)).await, Ok(Ok(r)) if r.status().is_success()),
                Err(e) => {
                    // Cannot happen with a parsed URI and a fixed header; never panic over logs.
                    tracing::warn!(error = %e, dropped = batch.len(), "could not build a log sink request");
                    crate::metrics::exported("logs", "dropped", batch.len() as u64);
                    break;
                }
            };
            if ok {
                counts.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                crate::metrics::exported("logs", "sent", batch.len() as u64);
                backoff = Duration::from_millis(500);
                break;
            }
            let failures = counts.failures.fetch_add(1, Ordering::Relaxed) + 1;
            crate::metrics::exported("logs", "failed", 1);
            if failures == 1 || failures.is_power_of_two() {
                tracing::warn!(sink = %uri, failures, queued = rx.len() + batch.len(), "the log sink is not accepting lines; retrying");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_arrive_in_order_after_the_sink_recovers() {
        let (port, got) = esb_tests::http_sink(2);
        let sink = Sink::start(format!("http://127.0.0.1:{port}/insert/jsonline")).unwrap();
        for i in 0..3 {
            sink.offer(format!("{{\"n\":{i}}}"));
        }
        for _ in 0..100 {
            if sink.counts().sent.load(Ordering::Relaxed) == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let record = got.lock().unwrap().clone();
        assert_eq!(record, "POST /insert/jsonline HTTP/1.1\n{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
        assert_eq!(sink.counts().failures.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_dead_sink_never_blocks_and_drops_past_the_bound() {
        // Nothing listens on this port.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let sink = Sink::start(format!("http://127.0.0.1:{port}/insert/jsonline")).unwrap();
        let started = std::time::Instant::now();
        for i in 0..(QUEUE + BATCH + 100) {
            sink.offer(format!("{i}"));
        }
        assert!(started.elapsed() < Duration::from_secs(1), "offering never waits: {:?}", started.elapsed());
        assert!(sink.counts().dropped.load(Ordering::Relaxed) >= 100);
        assert!(Sink::start("https://x/insert".into()).is_err());
    }
}
