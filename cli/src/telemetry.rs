//! OpenTelemetry export of esb's own spans (gateway `request` -> actor `acquire` -> container
//! `invoke`) to an OTLP/HTTP collector, as JSON.
//!
//! Owns: the tracing layer that turns spans into OpenTelemetry spans (installed with the log
//! output, inert until [`enable`]), the bounded queue between a finished span and the exporter, and
//! the exporter task. The layer is always installed because the tracing subscriber is set up before
//! generator.yml is read; it does nothing per span until export is enabled.
//!
//! Must not: block or slow a request. A finished span is handed over with `try_send`; when the
//! queue is full (collector down or slow) spans are dropped and counted (`esb_exports_total`),
//! never waited for; a failed export is not retried (as OpenTelemetry's own batch processor).
//! The trace id comes from the request's `X-Amzn-Trace-Id` (esb-gateway's `trace` module).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tracing::subscriber::Interest;
use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::Layer;

/// Spans waiting for the exporter; past this they are dropped.
const QUEUE: usize = 4096;
/// Spans per OTLP request.
const BATCH: usize = 512;
/// How long a finished span may wait for a fuller batch.
const LINGER: Duration = Duration::from_secs(1);

static ENABLED: AtomicBool = AtomicBool::new(false);
static QUEUE_TX: OnceLock<tokio::sync::mpsc::Sender<SpanData>> = OnceLock::new();
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Hands finished spans to the exporter task, once there is one.
#[derive(Debug)]
struct Handoff;

impl SpanProcessor for Handoff {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if let Some(tx) = QUEUE_TX.get() {
            if tx.try_send(span).is_err() {
                esb_actors::metrics::exported("spans", "dropped", 1);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Only esb's own spans (and their events) at info or above, and only once export is enabled.
fn esb_info(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("esb") && *meta.level() <= tracing::Level::INFO
}

/// The tracing layer; inert (one atomic load per esb span) until [`enable`].
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let provider = PROVIDER.get_or_init(|| {
        // OTEL_SERVICE_NAME (read by the default resource detectors) wins over "esb".
        let resource = match std::env::var("OTEL_SERVICE_NAME") {
            Ok(name) if !name.is_empty() => opentelemetry_sdk::Resource::builder().build(),
            _ => opentelemetry_sdk::Resource::builder().with_service_name("esb").build(),
        };
        SdkTracerProvider::builder().with_span_processor(Handoff).with_resource(resource).build()
    });
    let filter = DynFilterFn::new(|meta, _cx| ENABLED.load(Ordering::Relaxed) && esb_info(meta)).with_callsite_filter(|meta| {
        if esb_info(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    });
    tracing_opentelemetry::layer().with_tracer(provider.tracer("esb")).with_filter(filter)
}

/// Why export could not start.
#[derive(Debug, thiserror::Error)]
#[error("could not set up OTLP export to {url}: {reason}")]
pub struct ExportError {
    url: String,
    reason: String,
}

/// Starts exporting spans to `url` (the full `/v1/traces` URL) from a task on the current Tokio
/// runtime. A second call keeps the first exporter.
pub fn enable(url: &str) -> Result<(), ExportError> {
    if QUEUE_TX.get().is_some() {
        return Ok(());
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpJson)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| ExportError { url: url.to_string(), reason: e.to_string() })?;
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    if QUEUE_TX.set(tx).is_err() {
        return Ok(());
    }
    tokio::spawn(export_loop(exporter, rx, url.to_string()));
    ENABLED.store(true, Ordering::Relaxed);
    esb_gateway::trace::set_exporting(true);
    tracing::info!(url, "exporting spans over OTLP");
    Ok(())
}

/// Sends batches: when `BATCH` spans are waiting or the oldest has waited `LINGER`. A failed
/// export is logged (once per failure streak) and its spans are dropped: a collector that is down
/// must not make esb hold memory.
async fn export_loop(exporter: opentelemetry_otlp::SpanExporter, mut rx: tokio::sync::mpsc::Receiver<SpanData>, url: String) {
    let mut failing = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + LINGER;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(span)) => batch.push(span),
                _ => break,
            }
        }
        let n = batch.len();
        match exporter.export(batch).await {
            Ok(()) => {
                esb_actors::metrics::exported("spans", "sent", n as u64);
                if failing {
                    failing = false;
                    tracing::info!(target: "otlp", url, "OTLP export works again");
                }
            }
            Err(e) => {
                esb_actors::metrics::exported("spans", "failed", 1);
                esb_actors::metrics::exported("spans", "dropped", n as u64);
                if !failing {
                    failing = true;
                    // Not an esb_* target: this event must not become a span event itself.
                    tracing::warn!(target: "otlp", url, error = %e, "OTLP export failed; spans are dropped until it works again");
                }
            }
        }
    }
}
