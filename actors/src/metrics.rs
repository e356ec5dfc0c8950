//! Metrics: what the manager and its functions did, in Prometheus' text format (`/metrics`).
//!
//! Owns: the process's metric families (the `prometheus-client` crate) and their names: invocations
//! by outcome, throttles, cold starts and warm hits, queue-wait and invoke-latency histograms,
//! containers by state, hot reloads. Recording is a lock-free counter bump or one short lock;
//! nothing here does I/O. Must not: serve HTTP (the CLI's admin listener does) or decide anything.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Function {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    function: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    function: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Export {
    signal: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result_ {
    result: String,
}

type HistogramFamily = Family<Function, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    invocations: Family<Outcome, Counter>,
    throttles: Family<Function, Counter>,
    cold_starts: Family<Function, Counter>,
    warm_hits: Family<Function, Counter>,
    queue_wait: HistogramFamily,
    duration: HistogramFamily,
    containers: Family<State, Gauge>,
    reloads: Family<Result_, Counter>,
    exported: Family<Export, Counter>,
    async_events: Family<Outcome, Counter>,
}

fn latency_buckets() -> Histogram {
    // 1 ms .. about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("esb");
    let m = Metrics {
        invocations: Family::default(),
        throttles: Family::default(),
        cold_starts: Family::default(),
        warm_hits: Family::default(),
        queue_wait: Family::new_with_constructor(latency_buckets),
        duration: Family::new_with_constructor(latency_buckets),
        containers: Family::default(),
        reloads: Family::default(),
        exported: Family::default(),
        async_events: Family::default(),
        registry: Registry::default(),
    };
    registry.register("invocations", "Invocations by function and outcome (success, error, timeout, failed)", m.invocations.clone());
    registry.register("throttles", "Invocations refused with 429 (function or global limit, queue full or timed out)", m.throttles.clone());
    registry.register("cold_starts", "Invocations that waited for a new container", m.cold_starts.clone());
    registry.register("warm_hits", "Invocations served by a warm container", m.warm_hits.clone());
    registry.register("queue_wait_seconds", "Time from asking for a container to getting one", m.queue_wait.clone());
    registry.register("invoke_duration_seconds", "Time of the invocation in the container", m.duration.clone());
    registry.register("containers", "Function containers by state (idle, busy, starting) and callers waiting", m.containers.clone());
    registry.register("reloads", "Hot reloads by result (applied, failed)", m.reloads.clone());
    registry.register(
        "exports",
        "Log lines (signal=logs) and spans (signal=spans) sent to a sink, dropped, or failed attempts",
        m.exported.clone(),
    );
    registry.register(
        "async_events",
        "Asynchronous events by function and outcome (accepted, succeeded, retried, failed)",
        m.async_events.clone(),
    );
    Metrics { registry, ..m }
});

fn function(f: &str) -> Function {
    Function { function: f.to_string() }
}

/// An invocation ended with `outcome` after `duration` in the container.
pub fn invocation(f: &str, outcome: &str, duration: Duration) {
    METRICS.invocations.get_or_create(&Outcome { function: f.to_string(), outcome: outcome.to_string() }).inc();
    METRICS.duration.get_or_create(&function(f)).observe(duration.as_secs_f64());
}

/// An asynchronous event was accepted, succeeded, retried or failed.
pub fn async_event(f: &str, outcome: &str) {
    METRICS.async_events.get_or_create(&Outcome { function: f.to_string(), outcome: outcome.to_string() }).inc();
}

/// A caller was refused (429).
pub fn throttled(f: &str) {
    METRICS.throttles.get_or_create(&function(f)).inc();
}

/// A caller got a container after waiting `wait`; `cold` when it was started for it.
pub fn leased(f: &str, wait: Duration, cold: bool) {
    METRICS.queue_wait.get_or_create(&function(f)).observe(wait.as_secs_f64());
    let family = if cold { &METRICS.cold_starts } else { &METRICS.warm_hits };
    family.get_or_create(&function(f)).inc();
}

/// The current counts of a function's containers and waiters.
pub fn containers(f: &str, idle: usize, busy: usize, starting: usize, waiting: usize) {
    for (state, n) in [("idle", idle), ("busy", busy), ("starting", starting), ("waiting", waiting)] {
        METRICS.containers.get_or_create(&State { function: f.to_string(), state: state.into() }).set(n as i64);
    }
}

/// A function's actor stopped: its gauges go (a removed function must not linger at its last value).
pub fn function_stopped(f: &str) {
    for state in ["idle", "busy", "starting", "waiting"] {
        METRICS.containers.remove(&State { function: f.to_string(), state: state.into() });
    }
}

/// A hot reload was applied (`true`) or failed.
pub fn reload(applied: bool) {
    METRICS.reloads.get_or_create(&Result_ { result: if applied { "applied" } else { "failed" }.into() }).inc();
}

/// `n` log lines or spans (`signal`) were `sent` to their sink or `dropped`, or a send `failed`.
pub fn exported(signal: &str, event: &str, n: u64) {
    METRICS.exported.get_or_create(&Export { signal: signal.into(), event: event.into() }).inc_by(n);
}

/// Everything, in Prometheus' text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_text_format() {
        invocation("MetricsFn", "success", Duration::from_millis(3));
        invocation("MetricsFn", "error", Duration::from_millis(3));
        leased("MetricsFn", Duration::from_millis(1), true);
        leased("MetricsFn", Duration::from_millis(1), false);
        throttled("MetricsFn");
        containers("MetricsFn", 1, 2, 0, 0);
        exported("spans", "dropped", 3);
        let text = render();
        for want in [
            "# TYPE esb_invocations counter",
            r#"esb_invocations_total{function="MetricsFn",outcome="success"} 1"#,
            r#"esb_cold_starts_total{function="MetricsFn"} 1"#,
            r#"esb_throttles_total{function="MetricsFn"} 1"#,
            r#"esb_containers{function="MetricsFn",state="busy"} 2"#,
            r#"esb_exports_total{signal="spans",event="dropped"} 3"#,
            r#"esb_invoke_duration_seconds_bucket{le="0.004",function="MetricsFn"} 2"#,
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        function_stopped("MetricsFn");
        assert!(!render().contains(r#"esb_containers{function="MetricsFn""#));
    }
}
