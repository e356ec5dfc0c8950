//! The `X-Amzn-Trace-Id` of a request: kept when well formed, made otherwise, and turned into the
//! OpenTelemetry parent of the request's span, so the trace id a client, the function and the log
//! lines see is the trace id an OTLP collector gets. Must not: export anything (the CLI installs
//! the exporter) or look at the request beyond that header.

use esb_runtime::rie::new_trace_id;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use std::sync::atomic::{AtomicBool, Ordering};

/// A trace header is kept when it has a well-formed `Root=1-<8 hex>-<24 hex>`; otherwise a new one is made.
pub fn trace_id(header: Option<&str>) -> String {
    let valid = |h: &str| {
        h.len() <= 256
            && h.split(';').any(|part| {
                part.trim().strip_prefix("Root=1-").is_some_and(|r| {
                    let (a, b) = r.split_once('-').unwrap_or(("", ""));
                    a.len() == 8 && b.len() == 24 && a.chars().chain(b.chars()).all(|c| c.is_ascii_hexdigit())
                })
            })
    };
    match header {
        Some(h) if valid(h) => h.to_string(),
        _ => new_trace_id(),
    }
}

/// Whether spans are exported at all; off, requests skip [`otel_parent`] (the CLI turns it on
/// together with the exporter).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Turns the OpenTelemetry parenting of request spans on (the exporter is running).
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// True once [`set_exporting`] turned it on.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The OpenTelemetry context a request's span continues: trace id from `Root=1-<8>-<24>` (the 32
/// hex digits are the OTel trace id, as the X-Ray propagators map it), parent from `Parent=` when
/// the caller sent one, `Sampled=0` respected. With no `Parent` the span's parent id is made up,
/// since an X-Ray root has no span of its own; collectors show the request span as the root.
pub fn otel_parent(header: &str) -> Option<opentelemetry::Context> {
    let (mut root, mut parent, mut sampled) = (None, None, true);
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => root = v.strip_prefix("1-").map(|r| r.replace('-', "")),
            Some(("Parent", v)) => parent = SpanId::from_hex(v).ok().filter(|s| *s != SpanId::INVALID),
            Some(("Sampled", v)) => sampled = v != "0",
            _ => {}
        }
    }
    let trace = TraceId::from_hex(&root?).ok().filter(|t| *t != TraceId::INVALID)?;
    // Made up from the trace id (its low 64 bits, never zero): no randomness needed per request.
    let parent = parent.unwrap_or_else(|| SpanId::from((u128::from_be_bytes(trace.to_bytes()) as u64).max(1)));
    let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
    let context = SpanContext::new(trace, parent, flags, true, TraceState::default());
    Some(opentelemetry::Context::new().with_remote_span_context(context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_becomes_the_otel_trace_id_and_parent_is_kept() {
        let cx = otel_parent("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        let sc = cx.span().span_context().clone();
        assert_eq!(sc.trace_id().to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(sc.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(sc.is_sampled() && sc.is_remote());
    }

    #[test]
    fn a_root_alone_gets_a_made_up_parent_and_sampled_0_is_respected() {
        let cx = otel_parent("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap();
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid() && !sc.is_sampled());
        let made = trace_id(None);
        let cx = otel_parent(&made).unwrap();
        assert_eq!(cx.span().span_context().trace_id().to_string(), made["Root=1-".len()..].replace('-', ""));
    }

    #[test]
    fn no_root_no_context() {
        assert!(otel_parent("Parent=53995c3f42cd8ad8").is_none());
        assert!(otel_parent("Root=1-00000000-000000000000000000000000").is_none());
        assert!(otel_parent("Root=2-zz").is_none());
    }
}
