//! The Scheduler: fires the template's `Schedule` / `ScheduleV2` events on time, through the same
//! function actors as HTTP requests, with EventBridge's "Scheduled Event" (or the event's `Input`).
//!
//! Owns: each schedule's next fire time, on a [`Clock`] (the system clock, or a faster one for
//! tests and demos: `esb serve --schedule-speed 60` makes `rate(1 minute)` fire every second).
//! Times are computed from "now" when the Scheduler starts: ticks missed while esb was down are
//! not replayed (as a new EventBridge rule would not), and after a clock jump a schedule fires
//! once, not once per missed tick. A hot reload replaces the schedules; one that did not change
//! keeps its next fire time. Must not: invoke or retry (a fire is an asynchronous event, handed to
//! the EventQueue, which journals, runs and retries it).

use crate::FunctionHandle;
use chrono::{DateTime, Utc};
use esb_config::schedule::Expr;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What time it is, for schedules.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
    /// How long to really wait for `d` to pass on this clock.
    fn real(&self, d: chrono::Duration) -> Duration;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn real(&self, d: chrono::Duration) -> Duration {
        d.to_std().unwrap_or_default()
    }
}

/// A clock that runs `speed` times faster than real time, from the real time it was made.
pub struct FastClock {
    origin: DateTime<Utc>,
    real_origin: Instant,
    speed: u32,
}

impl FastClock {
    /// A clock `speed` (at least 1) times faster than real time.
    pub fn new(speed: u32) -> Self {
        FastClock { origin: Utc::now(), real_origin: Instant::now(), speed: speed.max(1) }
    }
}

impl Clock for FastClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.real_origin.elapsed() * self.speed).unwrap_or_default();
        self.origin + elapsed
    }
    fn real(&self, d: chrono::Duration) -> Duration {
        d.to_std().unwrap_or_default() / self.speed
    }
}

/// One schedule.
#[derive(Clone)]
pub struct Entry {
    /// The function it invokes.
    pub function: FunctionHandle,
    /// The event's logical name (`EveryMinute`).
    pub event: String,
    /// Its expression, as written (for status).
    pub expression: String,
    /// Its expression, parsed.
    pub expr: Expr,
    /// The event's `Input` (JSON), sent instead of the Scheduled Event.
    pub input: Option<String>,
}

/// When each schedule fires next: the Scheduler's decisions, apart from time and invocations.
pub struct Plan {
    started: DateTime<Utc>,
    next: Vec<Option<DateTime<Utc>>>,
    exprs: Vec<Expr>,
}

impl Plan {
    /// A plan for `exprs`, starting `now` (nothing before `now` fires).
    pub fn new(exprs: Vec<Expr>, now: DateTime<Utc>) -> Self {
        let next = exprs.iter().map(|e| e.next_after(now, now)).collect();
        Plan { started: now, next, exprs }
    }

    /// The schedules due at `now` (each once, however many ticks were missed), with the time each
    /// was due; their next times move past `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<(usize, DateTime<Utc>)> {
        let mut due = vec![];
        for (i, next) in self.next.iter_mut().enumerate() {
            if let Some(at) = *next {
                if at <= now {
                    due.push((i, at));
                    *next = self.exprs[i].next_after(now, self.started);
                }
            }
        }
        due
    }

    /// The earliest next fire time.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.next.iter().flatten().min().copied()
    }

    /// The plan for `exprs` after a reload: schedule `i` keeps the next time of the old schedule
    /// `keep[i]` (the same function, event and expression), others start from `now`.
    pub fn replace(&self, exprs: Vec<Expr>, keep: &[Option<usize>], now: DateTime<Utc>) -> Plan {
        let next = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| match keep.get(i).copied().flatten() {
                Some(old) => self.next.get(old).copied().flatten(),
                None => e.next_after(now, now),
            })
            .collect();
        Plan { started: self.started, next, exprs }
    }

    /// Next fire time of schedule `i`.
    pub fn next(&self, i: usize) -> Option<DateTime<Utc>> {
        self.next.get(i).copied().flatten()
    }
}

/// EventBridge's Scheduled Event for the rule of `event` on `function`.
pub fn scheduled_event(project: &str, region: &str, function: &str, event: &str, time: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": uuid_like(project, function, event, time),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:123456789012:rule/{project}-{function}-{event}")],
        "detail": {},
    })
}

/// A stable id per rule and fire time, shaped like EventBridge's.
fn uuid_like(project: &str, function: &str, event: &str, time: DateTime<Utc>) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (project, function, event, time.timestamp()).hash(&mut h);
    let a = h.finish();
    (a, 1u8).hash(&mut h);
    let b = h.finish();
    let x = format!("{a:016x}{b:016x}");
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

/// A schedule's next fire, for `esb status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextFire {
    /// Function logical id.
    pub function: String,
    /// Event name.
    pub event: String,
    /// The expression.
    pub expression: String,
    /// When it fires next (on the Scheduler's clock).
    pub at: Option<DateTime<Utc>>,
}

/// Messages.
pub enum SchedulerMsg {
    /// Fire what is due, then wait for the next.
    Tick,
    /// The next fire times.
    Next(RpcReplyPort<Vec<NextFire>>),
    /// The template changed: these are the schedules now.
    Replace(Vec<Entry>),
}

/// What the Scheduler starts with.
pub struct SchedulerArgs {
    /// Project (rule names).
    pub project: String,
    /// Region (events).
    pub region: String,
    /// The schedules.
    pub entries: Vec<Entry>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// The Scheduler actor.
pub struct Scheduler;

/// Its state.
pub struct SchedulerState {
    args: SchedulerArgs,
    plan: Plan,
}

/// Longest sleep between checks, so a clock that jumps is noticed.
const MAX_WAIT: Duration = Duration::from_secs(1);

impl SchedulerState {
    fn arm(&self, myself: &ActorRef<SchedulerMsg>) {
        let wait = match self.plan.earliest() {
            Some(at) => self.args.clock.real(at - self.args.clock.now()).min(MAX_WAIT),
            None => return,
        };
        myself.send_after(wait.max(Duration::from_millis(5)), || SchedulerMsg::Tick);
    }

    fn fire(&self, i: usize, at: DateTime<Utc>) {
        let e = &self.args.entries[i];
        let function = e.function.config().function.clone();
        let payload = match &e.input {
            Some(input) => input.clone(),
            None => scheduled_event(&self.args.project, &self.args.region, &function, &e.event, at).to_string(),
        };
        let (handle, event) = (e.function.clone(), e.event.clone());
        tokio::spawn(async move {
            let trace = esb_runtime::rie::new_trace_id();
            match handle.enqueue(payload, &trace).await {
                Ok(id) => tracing::info!(%function, %event, request_id = %id, trace_id = %trace, "schedule fired"),
                Err(e) => tracing::warn!(%function, %event, error = %e, "a scheduled event was not queued"),
            }
        });
    }
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = SchedulerState;
    type Arguments = SchedulerArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        let plan = Plan::new(args.entries.iter().map(|e| e.expr.clone()).collect(), args.clock.now());
        let state = SchedulerState { args, plan };
        state.arm(&myself);
        Ok(state)
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Tick => {
                let now = st.args.clock.now();
                for (i, at) in st.plan.due(now) {
                    st.fire(i, at);
                }
                st.arm(&myself);
            }
            SchedulerMsg::Next(reply) => {
                let list = st
                    .args
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| NextFire {
                        function: e.function.config().function.clone(),
                        event: e.event.clone(),
                        expression: e.expression.clone(),
                        at: st.plan.next(i),
                    })
                    .collect();
                let _ = reply.send(list);
            }
            SchedulerMsg::Replace(entries) => {
                let key = |e: &Entry| (e.function.config().function.clone(), e.event.clone(), e.expression.clone());
                let keep: Vec<Option<usize>> = entries.iter().map(|n| st.args.entries.iter().position(|o| key(o) == key(n))).collect();
                // A Tick is pending whenever something was scheduled (each Tick arms the next);
                // arming again would double the ticks.
                let armed = st.plan.earliest().is_some();
                st.plan = st.plan.replace(entries.iter().map(|e| e.expr.clone()).collect(), &keep, st.args.clock.now());
                st.args.entries = entries;
                if !armed {
                    st.arm(&myself);
                }
            }
        }
        Ok(())
    }
}

/// The registered name of a project's Scheduler.
pub fn scheduler_name(project: &str) -> String {
    format!("esb-{project}-scheduler")
}

/// Starts the Scheduler (registered as [`scheduler_name`], so a reload can replace its schedules).
pub async fn start(args: SchedulerArgs) -> Result<ActorRef<SchedulerMsg>, ractor::SpawnErr> {
    let (actor, _) = Actor::spawn(Some(scheduler_name(&args.project)), Scheduler, args).await?;
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_config::schedule::parse;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_fake_clock_drives_rate_and_cron_schedules_and_missed_ticks_fire_once() {
        let start = at("2026-03-13T11:59:30Z");
        let mut plan = Plan::new(vec![parse("rate(1 minute)").unwrap(), parse("cron(0 12 ? * FRI *)").unwrap()], start);
        assert!(plan.due(at("2026-03-13T11:59:59Z")).is_empty(), "the rate counts from the start; the cron wants 12:00");
        assert_eq!(plan.next(1), Some(at("2026-03-13T12:00:00Z")));
        // 12:00:30: the rate's first minute and the Friday noon cron (the cron was due at 12:00).
        let due = plan.due(at("2026-03-13T12:00:30Z"));
        assert_eq!(due, vec![(0, at("2026-03-13T12:00:30Z")), (1, at("2026-03-13T12:00:00Z"))]);
        assert_eq!(plan.next(0), Some(at("2026-03-13T12:01:30Z")));
        assert_eq!(plan.next(1), Some(at("2026-03-20T12:00:00Z")), "next Friday");
        // esb was suspended for an hour: one fire, not sixty, and the next is back on the grid.
        let due = plan.due(at("2026-03-13T13:05:00Z"));
        assert_eq!(due, vec![(0, at("2026-03-13T12:01:30Z"))]);
        assert_eq!(plan.next(0), Some(at("2026-03-13T13:05:30Z")));
        assert_eq!(plan.earliest(), Some(at("2026-03-13T13:05:30Z")));
        // A reload that keeps the rate and adds a schedule: the rate keeps its time.
        let now = at("2026-03-13T13:05:10Z");
        let plan = plan.replace(vec![parse("rate(5 minutes)").unwrap(), parse("rate(1 minute)").unwrap()], &[None, Some(0)], now);
        assert_eq!(plan.next(0), Some(at("2026-03-13T13:10:10Z")), "a new schedule counts from the reload");
        assert_eq!(plan.next(1), Some(at("2026-03-13T13:05:30Z")), "an unchanged one keeps its next time");
    }

    #[test]
    fn the_scheduled_event_has_eventbridges_shape() {
        let e = scheduled_event("demo", "eu-west-1", "TickFunction", "EveryMinute", at("2026-03-13T12:00:00Z"));
        assert_eq!(e["detail-type"], "Scheduled Event");
        assert_eq!(e["source"], "aws.events");
        assert_eq!(e["time"], "2026-03-13T12:00:00Z");
        assert_eq!(e["resources"][0], "arn:aws:events:eu-west-1:123456789012:rule/demo-TickFunction-EveryMinute");
        assert_eq!(e["id"].as_str().unwrap().len(), 36);
        assert_eq!(e["detail"], serde_json::json!({}));
    }

    #[test]
    fn a_fast_clock_runs_faster_and_shortens_the_waits() {
        let c = FastClock::new(60);
        assert_eq!(c.real(chrono::Duration::minutes(1)), Duration::from_secs(1));
        let before = c.now();
        std::thread::sleep(Duration::from_millis(50));
        assert!(c.now() - before >= chrono::Duration::seconds(2), "50 ms real are 3 s on the clock");
    }
}
