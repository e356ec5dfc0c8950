//! Login throttling: failed logins slow down their source instead of locking the user out.
//!
//! Owns: the failure counts per (username, client address) and per client address, the backoff
//! they earn (none for the first [`FREE_FAILURES`], then 2 s doubling to [`MAX_BACKOFF`]), and the
//! table's bounds ([`MAX_ENTRIES`] entries, forgotten after [`FORGET_AFTER`]). Pure: the caller
//! passes the time. Must not: hash passwords or answer requests.
//!
//! Why not a per-user lockout (what esb had): anyone with the shared API key could lock the admin
//! out forever with ten wrong passwords (issue 19). Keyed by the client address too, the attacker
//! slows only itself; the real user, from another address, is not affected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failures from one source before it must wait.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Entries kept at most (pruned by age, then oldest first).
pub const MAX_ENTRIES: usize = 10_000;
/// A source with no failure for this long is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Pair(u64, IpAddr),
    Client(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    fn wait_until(&self, free: u32) -> Option<Instant> {
        let over = self.count.checked_sub(free).filter(|n| *n > 0)?;
        let backoff = Duration::from_secs(1u64 << over.min(6)).min(MAX_BACKOFF);
        Some(self.last + backoff)
    }
}

/// The throttle's table.
#[derive(Debug, Default)]
pub struct Throttle {
    table: HashMap<Source, Failures>,
}

fn user_key(username: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    username.hash(&mut h);
    h.finish()
}

impl Throttle {
    /// How long `username` from `client` must still wait before a password is checked (`None`: go).
    /// A client address failing across many usernames waits too (four times the free failures).
    pub fn wait(&self, username: &str, client: IpAddr, now: Instant) -> Option<Duration> {
        let pair = self.table.get(&Source::Pair(user_key(username), client)).and_then(|f| f.wait_until(FREE_FAILURES));
        let spray = self.table.get(&Source::Client(client)).and_then(|f| f.wait_until(4 * FREE_FAILURES));
        let until = pair.into_iter().chain(spray).max()?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Records a login's result.
    pub fn record(&mut self, username: &str, client: IpAddr, ok: bool, now: Instant) {
        let pair = Source::Pair(user_key(username), client);
        if ok {
            self.table.remove(&pair);
            return;
        }
        // Room for the two entries a failure touches.
        if self.table.len() + 2 > MAX_ENTRIES {
            self.table.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
        }
        while self.table.len() + 2 > MAX_ENTRIES {
            let Some(oldest) = self.table.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) else { break };
            self.table.remove(&oldest);
        }
        for s in [pair, Source::Client(client)] {
            let f = self.table.entry(s).or_insert(Failures { count: 0, last: now });
            if now.duration_since(f.last) >= FORGET_AFTER {
                f.count = 0;
            }
            f.count = f.count.saturating_add(1);
            f.last = now;
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_attacker_slows_itself_and_the_real_user_elsewhere_is_not_locked_out() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.wait("admin", ip("10.0.0.9"), now), None);
            t.record("admin", ip("10.0.0.9"), false, now);
        }
        assert_eq!(t.wait("admin", ip("10.0.0.9"), now), None, "five free failures, then waits");
        t.record("admin", ip("10.0.0.9"), false, now);
        assert_eq!(t.wait("admin", ip("10.0.0.9"), now), Some(Duration::from_secs(2)));
        assert_eq!(t.wait("admin", ip("10.0.0.9"), now + Duration::from_secs(2)), None, "the wait ends");
        assert_eq!(t.wait("admin", ip("10.0.0.1"), now), None, "the real admin from another address goes straight in");
        for i in 0..20 {
            t.record("admin", ip("10.0.0.9"), false, now + Duration::from_secs(i));
        }
        let w = t.wait("admin", ip("10.0.0.9"), now + Duration::from_secs(19)).unwrap();
        assert!(w <= MAX_BACKOFF, "bounded: {w:?}");
        t.record("admin", ip("10.0.0.9"), true, now);
        assert!(t.wait("admin", ip("10.0.0.9"), now + Duration::from_secs(19)).is_some(), "26 failures from one address still count");
        let mut t = Throttle::default();
        for _ in 0..=FREE_FAILURES {
            t.record("admin", ip("10.0.0.9"), false, now);
        }
        t.record("admin", ip("10.0.0.9"), true, now);
        assert_eq!(t.wait("admin", ip("10.0.0.9"), now), None, "a success clears the user's own count");
    }

    #[test]
    fn spraying_usernames_from_one_address_waits_too_and_the_table_is_bounded() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for i in 0..(4 * FREE_FAILURES + 1) {
            t.record(&format!("user{i}"), ip("10.0.0.9"), false, now);
        }
        assert!(t.wait("someone-new", ip("10.0.0.9"), now).is_some(), "the address itself is slowed");
        assert!(t.wait("someone-new", ip("10.0.0.8"), now).is_none());
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            t.record(&format!("u{i}"), IpAddr::from(i.to_be_bytes()), false, now + Duration::from_millis(u64::from(i)));
        }
        assert!(t.len() <= MAX_ENTRIES, "{}", t.len());
    }
}
