//! The EventQueue actor: one per project, a lane per function, each lane a [`Journal`].
//!
//! Owns: accepting events (bounded per function, journaled and synced before the caller hears
//! "accepted"), dispatching them through the function's [`FunctionHandle`] a few at a time, the
//! retry rules (function errors: `MaximumRetryAttempts`, after `retry_base` then twice that, as
//! Lambda's 1 and 2 minutes; throttles and start failures: 1 s doubling to 5 min, not counted),
//! event age, the failure log, and the destination functions. Events of a function that is not in
//! the template any more wait in its lane until it comes back.
//! Must not: block on an invocation in `handle` (each runs in a spawned task that reports back).

use super::journal::{Event, Journal};
use super::record::{destination_record, function_arn, Condition, Response};
use crate::{FunctionHandle, Reported};
use bytes::Bytes;
use esb_config::model::AsyncConfig;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use tracing::Instrument;

/// Events of a function run at once: half its concurrency limit (at least one), so a burst of
/// events leaves containers for synchronous callers (HTTP requests wait behind no queue of events).
fn lane_concurrency(limit: usize) -> usize {
    limit.div_ceil(2).max(1)
}
/// The longest wait between throttled attempts.
const MAX_THROTTLE_BACKOFF: Duration = Duration::from_secs(300);

/// A function the queue can run.
#[derive(Clone)]
pub struct Target {
    /// Its handle.
    pub handle: FunctionHandle,
    /// `FunctionName` (for ARNs in records).
    pub function_name: String,
    /// Retries, event age, destinations.
    pub config: AsyncConfig,
}

/// What the queue starts with.
pub struct QueueArgs {
    /// Project (the actor's name).
    pub project: String,
    /// Region (ARNs).
    pub region: String,
    /// The events directory (journals, failure log).
    pub dir: PathBuf,
    /// The functions.
    pub targets: Vec<Target>,
    /// The wait before the first retry after a function error (doubled for the second).
    pub retry_base: Duration,
    /// Events a function may have waiting.
    pub capacity: usize,
}

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum EnqueueError {
    /// No such function.
    #[error("Function not found: {function}")]
    UnknownFunction {
        /// The name asked for.
        function: String,
    },
    /// The function's lane holds `capacity` events.
    #[error("the asynchronous queue of {function} is full ({capacity} events waiting); retry later")]
    Full {
        /// Logical id.
        function: String,
        /// The bound.
        capacity: usize,
    },
    /// The journal could not be written, so the event was not accepted.
    #[error("the event journal of {function} cannot be written: {reason}")]
    Journal {
        /// Logical id.
        function: String,
        /// The I/O error.
        reason: String,
    },
    /// The queue is not running.
    #[error("asynchronous invocation is not available (esb is starting or stopping)")]
    Unavailable,
}

/// One lane's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneStats {
    /// Waiting (including those waiting for a retry).
    pub queued: usize,
    /// Running now.
    pub running: usize,
    /// Succeeded since start.
    pub succeeded: u64,
    /// Retries scheduled since start.
    pub retried: u64,
    /// Recorded as failed since start.
    pub failed: u64,
    /// False when the function is not in the template (its events wait).
    pub known: bool,
}

/// How one attempt ended.
#[derive(Debug)]
pub enum Attempt {
    /// The function returned.
    Success(Bytes),
    /// A function error, a timeout or a crash: counted.
    FunctionError(Response),
    /// No container could be had (throttled, start failed, esb busy): not counted.
    Throttled(String),
}

/// Messages.
pub enum QueueMsg {
    /// Accept an event for `function` (logical id); answers its request id.
    Enqueue {
        /// Logical id.
        function: String,
        /// JSON payload.
        payload: String,
        /// Trace id.
        trace: String,
        /// The answer.
        reply: RpcReplyPort<Result<String, EnqueueError>>,
    },
    /// An attempt ended.
    Finished {
        /// Logical id.
        function: String,
        /// The event.
        event: Event,
        /// How.
        attempt: Attempt,
    },
    /// Run what is due.
    Wake,
    /// The functions changed (hot reload).
    Targets(Vec<Target>),
    /// Counts per function.
    Stats(RpcReplyPort<BTreeMap<String, LaneStats>>),
    /// Stop dispatching; answers once nothing runs.
    Quiesce(RpcReplyPort<()>),
}

struct Lane {
    journal: Journal,
    queued: VecDeque<Event>,
    running: usize,
    /// The running events (for compaction while they run).
    in_flight: BTreeMap<String, Event>,
    target: Option<Target>,
    stats: LaneStats,
}

/// The actor.
pub struct EventQueue;

/// Its state.
pub struct QueueState {
    args: QueueArgs,
    lanes: BTreeMap<String, Lane>,
    /// When a Wake is already due.
    wake_at: Option<std::time::Instant>,
    /// Stopping: nothing new starts or is accepted.
    stopping: bool,
    quiescing: Vec<RpcReplyPort<()>>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn response_of(body: &Bytes, error: Option<&str>) -> Response {
    let payload = serde_json::from_slice(body).unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()));
    Response { function_error: error.map(str::to_string), payload: Some(payload) }
}

/// Runs one attempt (in a spawned task).
async fn attempt(handle: FunctionHandle, event: &Event) -> Attempt {
    match Reported::of(handle.invoke(Bytes::from(event.payload.clone()), Some(&event.trace)).await) {
        Reported::Success(body) => Attempt::Success(body),
        Reported::Unhandled(body) => Attempt::FunctionError(response_of(&body, Some("Unhandled"))),
        Reported::NotRun(e) => Attempt::Throttled(e.to_string()),
    }
}

impl QueueState {
    /// Opens (or re-targets) a lane; answers the events a crash interrupted, for [`Self::fail`]
    /// once every lane is open (their OnFailure destination may be a lane opened later).
    fn open_lane(&mut self, function: &str, target: Option<Target>) -> Result<Vec<Event>, std::io::Error> {
        if let Some(lane) = self.lanes.get_mut(function) {
            lane.target = target;
            lane.stats.known = lane.target.is_some();
            return Ok(vec![]);
        }
        let (mut journal, replay) = Journal::open(&self.args.dir.join(format!("{function}.journal")))?;
        // Interrupted events stay started in the rewritten journal until they are recorded.
        journal.compact(&replay.queued, &replay.interrupted)?;
        let known = target.is_some();
        if !replay.queued.is_empty() {
            tracing::info!(function, events = replay.queued.len(), "asynchronous events waiting from before the restart");
        }
        self.lanes.insert(
            function.to_string(),
            Lane {
                journal,
                queued: replay.queued.into(),
                running: 0,
                in_flight: BTreeMap::new(),
                target,
                stats: LaneStats { known, ..LaneStats::default() },
            },
        );
        Ok(replay.interrupted)
    }

    /// Records events a crash interrupted as failed (they may have run: never run twice).
    fn interrupted(&mut self, function: &str, events: Vec<Event>) {
        for mut e in events {
            tracing::warn!(function, event = %e.id, "an asynchronous event was running when esb stopped; recorded as failed, not run again");
            // The interrupted attempt counts.
            e.attempts += 1;
            self.fail(function, e, Condition::Interrupted, Response::default());
        }
    }

    fn enqueue(&mut self, function: &str, payload: String, trace: String) -> Result<String, EnqueueError> {
        let capacity = self.args.capacity;
        let lane = self.lanes.get_mut(function).filter(|l| l.target.is_some());
        let Some(lane) = lane else { return Err(EnqueueError::UnknownFunction { function: function.to_string() }) };
        if lane.queued.len() + lane.running >= capacity {
            return Err(EnqueueError::Full { function: function.to_string(), capacity });
        }
        let now = now_ms();
        let event =
            Event { id: uuid::Uuid::new_v4().to_string(), payload, trace, enqueued_ms: now, attempts: 0, not_before_ms: now, throttles: 0 };
        lane.journal.enqueue(&event).map_err(|e| EnqueueError::Journal { function: function.to_string(), reason: e.to_string() })?;
        let id = event.id.clone();
        lane.queued.push_back(event);
        Ok(id)
    }

    /// Records `event` as failed: the failure log (synced), then the journal, then the OnFailure
    /// destination.
    fn fail(&mut self, function: &str, event: Event, condition: Condition, response: Response) {
        let Some(lane) = self.lanes.get_mut(function) else { return };
        let name = lane.target.as_ref().map_or(function.to_string(), |t| t.function_name.clone());
        let count = event.attempts;
        let record = destination_record(
            &event.id,
            &function_arn(&self.args.region, &name),
            condition,
            count,
            &event.payload,
            &response,
            chrono::Utc::now(),
        );
        let mut logged = record.clone();
        logged["function"] = serde_json::Value::String(function.to_string());
        if let Err(e) = super::append_line(&self.args.dir.join(super::FAILURE_LOG), &logged) {
            // Its journal still says it started: the next start records it (as interrupted).
            tracing::error!(function, event = %event.id, error = %e, "the failure log cannot be written; the event is recorded at the next start");
            return;
        }
        if let Err(e) = lane.journal.end(&event.id) {
            tracing::error!(function, event = %event.id, error = %e, "the journal cannot be written");
        }
        lane.stats.failed += 1;
        crate::metrics::async_event(function, "failed");
        tracing::warn!(function, event = %event.id, condition = condition.as_str(), attempts = count, trace_id = %event.trace, "asynchronous event failed");
        let destination = lane.target.as_ref().and_then(|t| t.config.on_failure.clone());
        if let Some(dest) = destination {
            self.destination(function, &dest, record, &event.trace);
        }
    }

    fn destination(&mut self, from: &str, to: &str, record: serde_json::Value, trace: &str) {
        match self.enqueue(to, record.to_string(), trace.to_string()) {
            Ok(id) => tracing::info!(function = from, destination = to, event = %id, "sent to the destination"),
            Err(e) => tracing::warn!(function = from, destination = to, error = %e, "the destination did not take the record"),
        }
    }

    fn finished(&mut self, myself: &ActorRef<QueueMsg>, function: &str, mut event: Event, attempt: Attempt) {
        let Some(lane) = self.lanes.get_mut(function) else { return };
        lane.running = lane.running.saturating_sub(1);
        lane.in_flight.remove(&event.id);
        let config = lane.target.as_ref().map(|t| t.config.clone()).unwrap_or_default();
        let age_limit = i64::from(config.max_event_age) * 1000;
        match attempt {
            Attempt::Success(body) => {
                if let Err(e) = lane.journal.end(&event.id) {
                    tracing::error!(function, event = %event.id, error = %e, "the journal cannot be written");
                }
                lane.stats.succeeded += 1;
                crate::metrics::async_event(function, "succeeded");
                tracing::info!(function, event = %event.id, attempts = event.attempts + 1, trace_id = %event.trace, "asynchronous event done");
                if let Some(dest) = config.on_success {
                    let name = lane.target.as_ref().map_or(function.to_string(), |t| t.function_name.clone());
                    let record = destination_record(
                        &event.id,
                        &function_arn(&self.args.region, &name),
                        Condition::Success,
                        event.attempts + 1,
                        &event.payload,
                        &response_of(&body, None),
                        chrono::Utc::now(),
                    );
                    self.destination(function, &dest, record, &event.trace);
                }
            }
            Attempt::FunctionError(response) => {
                event.attempts += 1;
                if event.attempts > config.max_retries {
                    self.fail(function, event, Condition::RetriesExhausted, response);
                } else if now_ms() - event.enqueued_ms > age_limit {
                    self.fail(function, event, Condition::EventAgeExceeded, response);
                } else {
                    let wait = self.args.retry_base * 2u32.pow(event.attempts - 1);
                    event.not_before_ms = now_ms() + wait.as_millis() as i64;
                    tracing::info!(function, event = %event.id, attempt = event.attempts, retry_in_ms = wait.as_millis() as u64, "asynchronous event failed; retrying");
                    self.requeue(function, event);
                }
            }
            Attempt::Throttled(why) => {
                if now_ms() - event.enqueued_ms > age_limit {
                    self.fail(function, event, Condition::EventAgeExceeded, Response::default());
                } else {
                    let wait = (Duration::from_secs(1) * 2u32.saturating_pow(event.throttles.min(16))).min(MAX_THROTTLE_BACKOFF);
                    event.throttles += 1;
                    event.not_before_ms = now_ms() + wait.as_millis() as i64;
                    tracing::info!(function, event = %event.id, reason = %why, retry_in_ms = wait.as_millis() as u64, "asynchronous event throttled; retrying");
                    self.requeue(function, event);
                }
            }
        }
        self.pump(myself);
        self.answer_quiesced();
    }

    fn answer_quiesced(&mut self) {
        if self.lanes.values().all(|l| l.running == 0) {
            for q in self.quiescing.drain(..) {
                let _ = q.send(());
            }
        }
    }

    fn requeue(&mut self, function: &str, event: Event) {
        let Some(lane) = self.lanes.get_mut(function) else { return };
        if let Err(e) = lane.journal.retry(&event) {
            tracing::error!(function, event = %event.id, error = %e, "the journal cannot be written");
        }
        lane.stats.retried += 1;
        crate::metrics::async_event(function, "retried");
        lane.queued.push_back(event);
    }

    /// Starts what is due, and arms a Wake for the earliest event not yet due.
    fn pump(&mut self, myself: &ActorRef<QueueMsg>) {
        if self.stopping {
            return;
        }
        let now = now_ms();
        // Too old to run (esb was down, or throttled, longer than the event may wait): recorded
        // first, so their OnFailure records are dispatched below.
        let mut expired = vec![];
        for (function, lane) in self.lanes.iter_mut() {
            let Some(age_limit) = lane.target.as_ref().map(|t| i64::from(t.config.max_event_age) * 1000) else { continue };
            let (old, keep): (VecDeque<Event>, VecDeque<Event>) =
                std::mem::take(&mut lane.queued).into_iter().partition(|e| now - e.enqueued_ms > age_limit);
            lane.queued = keep;
            expired.extend(old.into_iter().map(|e| (function.clone(), e)));
        }
        for (function, event) in expired {
            self.fail(&function, event, Condition::EventAgeExceeded, Response::default());
        }
        let mut earliest: Option<i64> = None;
        for (function, lane) in self.lanes.iter_mut() {
            let Some(target) = lane.target.clone() else { continue };
            let limit = lane_concurrency(target.handle.config().limit);
            while lane.running < limit {
                let Some(pos) = lane.queued.iter().position(|e| e.not_before_ms <= now) else { break };
                let Some(event) = lane.queued.remove(pos) else { break };
                if let Err(e) = lane.journal.start(&event.id) {
                    tracing::error!(%function, event = %event.id, error = %e, "the journal cannot be written; not running the event");
                    lane.queued.push_front(event);
                    break;
                }
                lane.running += 1;
                lane.in_flight.insert(event.id.clone(), event.clone());
                let (me, function, handle) = (myself.clone(), function.clone(), target.handle.clone());
                let span = tracing::info_span!("async_invoke", function = %function, event = %event.id, trace_id = %event.trace);
                tokio::spawn(
                    async move {
                        let attempt = attempt(handle, &event).await;
                        let _ = me.cast(QueueMsg::Finished { function, event, attempt });
                    }
                    .instrument(span),
                );
            }
            if let Some(next) = lane.queued.iter().map(|e| e.not_before_ms).filter(|t| *t > now).min() {
                earliest = Some(earliest.map_or(next, |e| e.min(next)));
            }
            // Compaction once the history outweighs what is still open, also under steady load.
            let open = lane.queued.len() + lane.in_flight.len();
            if lane.journal.lines() > 1000 && lane.journal.lines() > 4 * open {
                let queued: Vec<Event> = lane.queued.iter().cloned().collect();
                let running: Vec<Event> = lane.in_flight.values().cloned().collect();
                if let Err(e) = lane.journal.compact(&queued, &running) {
                    tracing::warn!(%function, error = %e, "journal compaction failed");
                }
            }
        }
        if let Some(at) = earliest {
            let wait = Duration::from_millis((at - now).max(1) as u64);
            let when = std::time::Instant::now() + wait;
            if self.wake_at.is_none_or(|w| when < w) {
                self.wake_at = Some(when);
                myself.send_after(wait, || QueueMsg::Wake);
            }
        }
    }
}

impl Actor for EventQueue {
    type Msg = QueueMsg;
    type State = QueueState;
    type Arguments = QueueArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        std::fs::create_dir_all(&args.dir)?;
        let targets = args.targets.clone();
        let mut st = QueueState { args, lanes: BTreeMap::new(), wake_at: None, stopping: false, quiescing: vec![] };
        // Lanes of the template's functions first (so interrupted events reach their OnFailure
        // destinations), then those of functions that left the template, which wait.
        let mut interrupted = vec![];
        for t in &targets {
            let function = t.handle.config().function.clone();
            let events = st.open_lane(&function, Some(t.clone()))?;
            interrupted.push((function, events));
        }
        for entry in std::fs::read_dir(&st.args.dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(function) = name.strip_suffix(".journal") {
                if !st.lanes.contains_key(function) {
                    let events = st.open_lane(function, None)?;
                    interrupted.push((function.to_string(), events));
                    if let Some(l) = st.lanes.get(function).filter(|l| !l.queued.is_empty()) {
                        tracing::warn!(
                            function,
                            events = l.queued.len(),
                            "asynchronous events wait for a function that is not in the template"
                        );
                    }
                }
            }
        }
        for (function, events) in interrupted {
            st.interrupted(&function, events);
        }
        st.pump(&myself);
        Ok(st)
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            QueueMsg::Enqueue { function, payload, trace, reply } => {
                let result = if !st.stopping { st.enqueue(&function, payload, trace) } else { Err(EnqueueError::Unavailable) };
                if result.is_ok() {
                    crate::metrics::async_event(&function, "accepted");
                }
                let _ = reply.send(result);
                st.pump(&myself);
            }
            QueueMsg::Finished { function, event, attempt } => st.finished(&myself, &function, event, attempt),
            QueueMsg::Wake => {
                st.wake_at = None;
                st.pump(&myself);
            }
            QueueMsg::Targets(targets) => {
                let known: BTreeMap<String, Target> = targets.into_iter().map(|t| (t.handle.config().function.clone(), t)).collect();
                let names: Vec<String> = st.lanes.keys().cloned().collect();
                for name in names {
                    if !known.contains_key(&name) {
                        st.open_lane(&name, None)?;
                    }
                }
                for (name, t) in known {
                    let events = st.open_lane(&name, Some(t))?;
                    st.interrupted(&name, events);
                }
                st.pump(&myself);
            }
            QueueMsg::Stats(reply) => {
                let stats = st
                    .lanes
                    .iter()
                    .map(|(f, l)| (f.clone(), LaneStats { queued: l.queued.len(), running: l.running, ..l.stats.clone() }))
                    .collect();
                let _ = reply.send(stats);
            }
            QueueMsg::Quiesce(reply) => {
                st.stopping = true;
                st.quiescing.push(reply);
                st.answer_quiesced();
            }
        }
        Ok(())
    }
}

/// Starts the project's EventQueue (registered as [`super::queue_name`]).
pub async fn start(args: QueueArgs) -> Result<ActorRef<QueueMsg>, ractor::SpawnErr> {
    let name = super::queue_name(&args.project);
    let (actor, _) = Actor::spawn(Some(name), EventQueue, args).await?;
    Ok(actor)
}

/// Stops dispatching, waits up to `grace` for running events, and stops the queue. Events still
/// running then are recorded as interrupted on the next start.
pub async fn stop(queue: ActorRef<QueueMsg>, grace: Duration) {
    let _ = queue.call(QueueMsg::Quiesce, Some(grace)).await;
    let _ = queue.stop_and_wait(None, Some(Duration::from_secs(5))).await;
}
