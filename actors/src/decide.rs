//! The pool's decisions as plain functions: what to do with an Acquire, which idle containers to reap.
//!
//! Owns: the rules, free of actors, clocks and Docker, so they are tested exhaustively on their own.
//! The FunctionActor only counts and calls these.

use std::time::{Duration, Instant};

/// A function's pool, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolView {
    /// Warm containers waiting for work.
    pub idle: usize,
    /// Containers serving an invocation (leased).
    pub busy: usize,
    /// Containers being started.
    pub starting: usize,
    /// Callers waiting for a container.
    pub waiting: usize,
    /// The function's concurrency limit (containers at once).
    pub limit: usize,
    /// Most callers that may wait.
    pub queue_limit: usize,
}

/// What to do with a new Acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Lease an idle warm container now.
    UseIdle,
    /// Start a container and wait for the next one that becomes ready (FIFO).
    StartAndWait,
    /// Wait for a container to be released or started.
    Wait,
    /// At the limit and the queue is full: refuse (Lambda's TooManyRequestsException).
    Throttle,
}

/// Decides an Acquire. RIE serves one invocation at a time, so concurrency means containers:
/// reuse before starting, start while under the limit, queue while the queue has room.
pub fn on_acquire(v: PoolView) -> Decision {
    if v.idle > 0 {
        Decision::UseIdle
    } else if v.busy + v.starting < v.limit && v.starting < v.waiting + 1 {
        // Start only when no container already starting is spoken for by an earlier waiter.
        Decision::StartAndWait
    } else if v.waiting < v.queue_limit {
        Decision::Wait
    } else {
        Decision::Throttle
    }
}

/// Containers to start so that `min_warm` (provisioned concurrency) exist, within the limit.
pub fn prewarm(v: PoolView, min_warm: usize) -> usize {
    let have = v.idle + v.busy + v.starting;
    min_warm.min(v.limit).saturating_sub(have)
}

/// Idle containers to stop: those unused for `idle_timeout`, oldest first, keeping `keep` warm.
/// `idle` is `(container, last used)`.
pub fn to_reap<T: Clone>(idle: &[(T, Instant)], now: Instant, idle_timeout: Duration, keep: usize) -> Vec<T> {
    let mut expired: Vec<&(T, Instant)> = idle.iter().filter(|(_, last)| now.saturating_duration_since(*last) >= idle_timeout).collect();
    expired.sort_by_key(|(_, last)| *last);
    let may_remove = idle.len().saturating_sub(keep);
    expired.into_iter().take(may_remove).map(|(c, _)| c.clone()).collect()
}

/// What recovery does with a container found with this function's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Running, same label schema, same config hash: probe it and adopt it if RIE answers.
    Probe,
    /// Stopped, from another label schema, or built for another config: remove it.
    Remove,
}

/// Classifies a container found at start. (Containers without esb's project label are never
/// listed, so never touched.)
pub fn classify_found(running: bool, schema: Option<&str>, config_hash: Option<&str>, want_hash: &str) -> Found {
    if running && schema == Some(esb_runtime::labels::SCHEMA) && config_hash == Some(want_hash) {
        Found::Probe
    } else {
        Found::Remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_containers_of_this_schema_and_config_are_adopted() {
        let v = esb_runtime::labels::SCHEMA;
        assert_eq!(classify_found(true, Some(v), Some("h"), "h"), Found::Probe);
        assert_eq!(classify_found(false, Some(v), Some("h"), "h"), Found::Remove, "stopped");
        assert_eq!(classify_found(true, Some(v), Some("old"), "h"), Found::Remove, "stale config");
        assert_eq!(classify_found(true, Some("0"), Some("h"), "h"), Found::Remove, "foreign schema version");
        assert_eq!(classify_found(true, None, Some("h"), "h"), Found::Remove);
    }

    fn view(idle: usize, busy: usize, starting: usize, waiting: usize) -> PoolView {
        PoolView { idle, busy, starting, waiting, limit: 3, queue_limit: 2 }
    }

    #[test]
    fn warm_containers_are_reused_before_any_start() {
        assert_eq!(on_acquire(view(1, 2, 0, 0)), Decision::UseIdle);
        assert_eq!(on_acquire(view(1, 0, 0, 0)), Decision::UseIdle);
    }

    #[test]
    fn a_busy_function_scales_out_to_its_limit_then_queues_then_throttles() {
        assert_eq!(on_acquire(view(0, 0, 0, 0)), Decision::StartAndWait);
        assert_eq!(on_acquire(view(0, 2, 0, 0)), Decision::StartAndWait);
        assert_eq!(on_acquire(view(0, 3, 0, 0)), Decision::Wait, "at the limit");
        assert_eq!(on_acquire(view(0, 2, 1, 1)), Decision::Wait, "at the limit counting starts");
        assert_eq!(on_acquire(view(0, 3, 0, 2)), Decision::Throttle, "queue full");
    }

    #[test]
    fn starts_already_under_way_are_shared_not_doubled() {
        // Each start is spoken for by one waiter, in order; an unclaimed start serves the new caller.
        assert_eq!(on_acquire(view(0, 0, 1, 0)), Decision::Wait, "a prewarm start nobody waits for");
        assert_eq!(on_acquire(view(0, 0, 2, 1)), Decision::Wait, "one of two starts is unclaimed");
        assert_eq!(on_acquire(view(0, 0, 1, 1)), Decision::StartAndWait, "the one start is claimed");
        assert_eq!(on_acquire(view(0, 1, 1, 1)), Decision::StartAndWait);
    }

    #[test]
    fn prewarm_fills_to_the_minimum_within_the_limit() {
        assert_eq!(prewarm(view(0, 0, 0, 0), 2), 2);
        assert_eq!(prewarm(view(1, 0, 0, 0), 2), 1);
        assert_eq!(prewarm(view(0, 0, 0, 0), 10), 3, "never past the limit");
        assert_eq!(prewarm(view(2, 1, 0, 0), 2), 0);
    }

    #[test]
    fn reaping_takes_the_oldest_idle_past_the_timeout_and_keeps_the_minimum() {
        let now = Instant::now();
        let ago = |s: u64| now - Duration::from_secs(s);
        let idle = [("a", ago(100)), ("b", ago(10)), ("c", ago(300))];
        assert_eq!(to_reap(&idle, now, Duration::from_secs(60), 0), ["c", "a"]);
        assert_eq!(to_reap(&idle, now, Duration::from_secs(60), 2), ["c"], "keep two warm");
        assert!(to_reap(&idle, now, Duration::from_secs(600), 0).is_empty());
    }
}
