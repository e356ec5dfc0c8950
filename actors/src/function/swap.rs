//! Make-before-break code swaps: what a FunctionActor does with containers of a config that a
//! reload replaced (issue 19: a file appended every 200 ms caused 100 reloads in 20 s, and one
//! request in five got 429 because every reload removed the warm containers at once).
//!
//! Owns: the `retiring` list, idle containers on replaced code. They serve requests only while no
//! container on the current code is ready, and go as soon as one is (or when idle past the idle
//! timeout). A request never waits for, or is refused during, a swap that has a warm container to
//! serve it; in-flight invocations finish on the code they started with.
//! Must not: hold more than one container over the function's limit (the replacement, while it
//! starts; a retiring one is removed to make room past that) or keep a retiring container past a
//! drain.

use super::{Container, FunctionMsg, FunctionState, Lease, Waiter};
use ractor::ActorRef;
use std::time::Instant;

impl FunctionState {
    /// The code changed: idle containers retire (serving until the new code is ready), leased ones
    /// are marked stale; one container on the new code starts now when any retired.
    pub(super) fn retire(&mut self, myself: &ActorRef<FunctionMsg>) {
        self.retiring.append(&mut self.idle);
        self.stale.extend(self.busy.keys().copied());
        if !self.retiring.is_empty() {
            self.replace(myself);
        }
    }

    /// Starts a container on the current code unless one is starting. The replacement may be one
    /// container over the function's limit while it starts (so a function limited to one keeps
    /// serving through a swap); past that, a retiring container is removed to make room.
    pub(super) fn replace(&mut self, myself: &ActorRef<FunctionMsg>) {
        if self.starting > 0 || self.draining.is_some() {
            return;
        }
        if self.busy.len() + self.idle.len() + self.retiring.len() > self.cfg.limit {
            match self.retiring.pop() {
                Some((c, _)) => self.remove(c),
                None => return,
            }
        }
        self.start(myself);
    }

    /// Leases a retiring container to a caller no current container can serve yet; false (and
    /// the waiter back) when none is retiring.
    pub(super) fn lease_retiring(&mut self, w: Waiter, myself: &ActorRef<FunctionMsg>) -> Result<(), Waiter> {
        let Some((c, _)) = self.retiring.pop() else { return Err(w) };
        self.next_lease += 1;
        let lease = Lease { id: self.next_lease, container: c.clone(), cold: false };
        match w.reply.send(Ok(lease)) {
            Ok(()) => {
                self.busy.insert(self.next_lease, c);
                self.stale.insert(self.next_lease);
            }
            Err(_) => self.retiring.push((c, Instant::now())),
        }
        self.replace(myself);
        Ok(())
    }

    /// A container on replaced code was released: it serves a waiter, or retires, while nothing
    /// on the current code is ready; otherwise (or when broken) it goes.
    pub(super) fn release_stale(&mut self, c: Container, healthy: bool, myself: &ActorRef<FunctionMsg>) {
        if !healthy || !self.idle.is_empty() || self.draining.is_some() {
            self.remove(c);
            self.ensure_starts(myself);
            return;
        }
        self.retiring.push((c, Instant::now()));
        while let Some(w) = self.waiters.pop_front() {
            match self.lease_retiring(w, myself) {
                Ok(()) if self.retiring.is_empty() => break,
                Ok(()) => continue,
                Err(w) => {
                    self.waiters.push_front(w);
                    break;
                }
            }
        }
        self.replace(myself);
    }

    /// A container on the current code is ready: the retiring ones go.
    pub(super) fn promote(&mut self) {
        for (c, _) in std::mem::take(&mut self.retiring) {
            self.remove(c);
        }
    }

    /// A start finished for a config a later reload replaced. It is newer code than anything
    /// retiring, so it retires in their place while the current code starts.
    pub(super) fn started_stale(&mut self, c: Container, myself: &ActorRef<FunctionMsg>) {
        if self.draining.is_some() || !self.idle.is_empty() {
            self.remove(c);
        } else {
            self.promote();
            self.retiring.push((c, Instant::now()));
        }
        self.replace(myself);
        self.ensure_starts(myself);
    }

    /// Per tick: retiring containers idle past the idle timeout go; a replacement whose start
    /// failed is tried again once the prewarm backoff allows.
    pub(super) fn tick_retiring(&mut self, now: Instant, myself: &ActorRef<FunctionMsg>) {
        let reap = crate::decide::to_reap(&self.retiring, now, self.cfg.idle_timeout, 0);
        for c in reap {
            self.retiring.retain(|(r, _)| r.id != c.id);
            self.remove(c);
        }
        if !self.retiring.is_empty() && now >= self.prewarm_after {
            self.replace(myself);
        }
    }
}
