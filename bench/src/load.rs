//! A closed-loop load generator: `c` client threads, each sending its next request as soon as the
//! last one answered, for a fixed time. Must not: know what it is loading (a target is a closure).

use std::time::{Duration, Instant};

/// What a run saw.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Latency of every successful request, milliseconds.
    pub latencies_ms: Vec<f64>,
    /// Requests that failed (transport error or a status other than 200).
    pub errors: usize,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Outcome {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `clients` threads for `duration`; thread `i` calls `request(i)`, which returns whether the
/// request succeeded.
pub fn run<F>(clients: usize, duration: Duration, request: F) -> Outcome
where
    F: Fn(usize) -> bool + Sync,
{
    let started = Instant::now();
    let deadline = started + duration;
    let per_thread: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let request = &request;
                s.spawn(move || {
                    let (mut lat, mut errors) = (vec![], 0);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if request(i) {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            errors += 1;
                            // A failing target must not turn the client into a busy loop.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let elapsed = started.elapsed();
    let mut out = Outcome { elapsed, ..Default::default() };
    for (lat, errors) in per_thread {
        out.latencies_ms.extend(lat);
        out.errors += errors;
    }
    out
}

/// A GET that succeeds on 200 with a body read to the end.
pub fn get_ok(agent: &ureq::Agent, url: &str) -> bool {
    match agent.get(url).call() {
        Ok(mut r) => r.status() == 200 && r.body_mut().read_to_vec().is_ok(),
        Err(_) => false,
    }
}

/// A POST of `body` that succeeds on 200.
pub fn post_ok(agent: &ureq::Agent, url: &str, body: &str) -> bool {
    match agent.post(url).send(body) {
        Ok(mut r) => r.status() == 200 && r.body_mut().read_to_vec().is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_client_runs_until_the_deadline_and_failures_are_counted() {
        let calls = AtomicUsize::new(0);
        let out = run(4, Duration::from_millis(200), |i| {
            calls.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
            i != 3
        });
        assert!(out.elapsed >= Duration::from_millis(200));
        assert!(out.errors > 0 && !out.latencies_ms.is_empty());
        assert_eq!(out.errors + out.latencies_ms.len(), calls.load(Ordering::Relaxed));
        assert!(out.throughput() > 100.0, "three clients at about 5 ms a request: {}", out.throughput());
    }
}
