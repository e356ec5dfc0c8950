//! The manager's event sources beyond HTTP, behind one [`Source`] trait: the EventQueue
//! (asynchronous invocations, which the Scheduler, the S3 notifier and the redrive spool feed
//! too), the Scheduler, the S3 notifier, the redrive spool's reader and the DynamoDB stream
//! readers (which invoke synchronously, in order).
//!
//! Owns: building each source's inputs from the compiled project and the running functions
//! ([`Wiring`]), starting them after the function actors, handing them the new functions on hot
//! reload, and stopping them, in order, before the functions drain (the notifier and the spool
//! first, then the schedules, then the stream readers and the queue finish what runs). A new
//! source is one module with one `Source` implementation, added to [`start`].
//! Must not: run invocations (the function actors do) or read the template (callers pass the
//! compiled project).

use crate::s3::{Reader, Rule, Rules};
use crate::streams::{Mapping, Readers};
use async_trait::async_trait;
use esb_actors::events::{queue, QueueMsg, Target};
use esb_actors::scheduler::{self, Entry, SchedulerMsg};
use esb_actors::Manager;
use ractor::ActorRef;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a source finds its functions and events in: the compiled project and the running functions.
#[derive(Clone, Copy)]
pub struct Wiring<'a> {
    /// The compiled project.
    pub project: &'a esb_config::Project,
    /// The running functions.
    pub manager: &'a Manager,
}

/// One event source: started by [`start`], told the new project on hot reload, stopped in order.
#[async_trait]
pub trait Source: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// After a hot reload: serve the reloaded project's functions and events (a source whose
    /// inputs did not change keeps its position and work). Warnings are returned for the caller
    /// to show.
    fn reload(&self, wiring: Wiring<'_>) -> Vec<String>;
    /// Stops, letting work in progress finish within `grace`.
    async fn stop(&self, grace: Duration);
}

/// How the sources run: a plain struct the daemon builds from its flags and config.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project.
    pub project: String,
    /// The AWS region events name.
    pub region: String,
    /// The events directory (journals, positions, the failure log, the redrive spool).
    pub events_dir: PathBuf,
    /// The first retry's delay for asynchronous events (doubling).
    pub retry_base: Duration,
    /// How many asynchronous events may wait.
    pub queue_capacity: usize,
    /// How long a stream batch may take to finish when its reader is replaced.
    pub grace: Duration,
    /// Run the template's schedules, with the clock this many times faster (1: real time).
    pub schedules: Option<u32>,
}

/// Why the sources did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The queue actor did not start (its journal could not be opened, say).
    #[error("starting the event queue ({dir}): {source}")]
    Queue {
        /// The events directory.
        dir: String,
        /// Why.
        source: ractor::SpawnErr,
    },
    /// The scheduler actor did not start.
    #[error("starting the scheduler: {0}")]
    Scheduler(ractor::SpawnErr),
}

/// The running sources, in their stop order; cloned for the reload driver.
#[derive(Clone)]
pub struct Sources(Arc<Vec<Arc<dyn Source>>>);

/// What [`start`] reports.
pub struct Started {
    /// The sources.
    pub sources: Sources,
    /// The schedules that run (`Function.Event expression`), empty without schedules.
    pub schedules: Vec<String>,
    /// Things the caller should show (a schedule that cannot run).
    pub warnings: Vec<String>,
}

/// Starts the queue (it picks up events journaled before a restart), the stream readers, the S3
/// notifier, the spool reader and, with [`Options::schedules`], the Scheduler.
pub async fn start(rt: Arc<dyn esb_runtime::Runtime>, opts: &Options, wiring: Wiring<'_>) -> Result<Started, StartError> {
    let queue = queue::start(esb_actors::events::QueueArgs {
        project: opts.project.clone(),
        region: opts.region.clone(),
        dir: opts.events_dir.clone(),
        targets: targets(wiring),
        retry_base: opts.retry_base,
        capacity: opts.queue_capacity,
    })
    .await
    .map_err(|source| StartError::Queue { dir: opts.events_dir.display().to_string(), source })?;
    let readers = Readers::start(
        crate::streams::Context {
            connect: Arc::new(crate::streams::Storage { rt: rt.clone(), project: opts.project.clone(), region: opts.region.clone() }),
            region: opts.region.clone(),
            dir: opts.events_dir.clone(),
        },
        mappings(wiring),
    );
    let rules: Rules = Arc::new(Mutex::new(s3_rules(wiring)));
    let s3 = tokio::spawn(crate::s3::run(Reader {
        rt,
        project: opts.project.clone(),
        region: opts.region.clone(),
        dir: opts.events_dir.clone(),
        rules: rules.clone(),
    }));
    let spool = tokio::spawn(crate::spool::run(opts.events_dir.clone(), Arc::new(crate::spool::Queue { project: opts.project.clone() })));
    let mut list: Vec<Arc<dyn Source>> =
        vec![Arc::new(S3Notifier { rules, task: Task::new(s3) }), Arc::new(SpoolReader { task: Task::new(spool) })];
    let (mut schedules, mut warnings) = (vec![], vec![]);
    if let Some(speed) = opts.schedules {
        let entries = entries(wiring, &mut warnings);
        schedules = entries.iter().map(|e| format!("{}.{} {}", e.function.config().function, e.event, e.expression)).collect();
        let clock: Arc<dyn scheduler::Clock> =
            if speed > 1 { Arc::new(scheduler::FastClock::new(speed)) } else { Arc::new(scheduler::SystemClock) };
        let actor =
            scheduler::start(scheduler::SchedulerArgs { project: opts.project.clone(), region: opts.region.clone(), entries, clock })
                .await
                .map_err(StartError::Scheduler)?;
        list.push(Arc::new(Schedules { actor }));
    }
    list.push(Arc::new(StreamReaders { readers: Arc::new(tokio::sync::Mutex::new(readers)), grace: opts.grace }));
    list.push(Arc::new(Queue { actor: queue }));
    Ok(Started { sources: Sources(Arc::new(list)), schedules, warnings })
}

impl Sources {
    /// After a hot reload: every source serves the new project; returns their warnings.
    pub fn reload(&self, wiring: Wiring<'_>) -> Vec<String> {
        self.0.iter().flat_map(|s| s.reload(wiring)).collect()
    }

    /// Stops every source in order: the schedules and notifiers first, then the stream batches
    /// and the running events finish within `grace` each (events still running after that are
    /// recorded as interrupted at the next start; queued ones wait on disk; an unfinished stream
    /// batch is delivered again).
    pub async fn stop(&self, grace: Duration) {
        for s in self.0.iter() {
            tracing::debug!(source = s.name(), "stopping");
            s.stop(grace).await;
        }
    }
}

/// The template's enabled and disabled `DynamoDB` events on the running functions.
fn mappings(w: Wiring<'_>) -> Vec<Mapping> {
    let mut out = vec![];
    for (id, spec) in &w.project.functions.functions {
        let Some(handle) = w.manager.function(id) else { continue };
        let target: Arc<dyn crate::streams::Target> = Arc::new(handle.clone());
        out.extend(spec.stream_events.iter().map(|e| Mapping {
            function: id.clone(),
            function_name: spec.function_name.clone(),
            target: target.clone(),
            event: e.clone(),
        }));
    }
    out
}

/// The template's S3 events on the running functions.
fn s3_rules(w: Wiring<'_>) -> Vec<Rule> {
    let mut rules = vec![];
    for (id, spec) in &w.project.functions.functions {
        let Some(handle) = w.manager.function(id) else { continue };
        rules.extend(spec.s3_events.iter().map(|e| Rule { handle: handle.clone(), event: e.clone() }));
    }
    rules
}

/// The functions the queue may run, with their `EventInvokeConfig`.
fn targets(w: Wiring<'_>) -> Vec<Target> {
    w.project
        .functions
        .functions
        .iter()
        .filter_map(|(id, spec)| {
            let handle = w.manager.function(id)?.clone();
            Some(Target { handle, function_name: spec.function_name.clone(), config: spec.async_invoke.clone() })
        })
        .collect()
}

/// The template's enabled schedules, on the running functions.
fn entries(w: Wiring<'_>, warnings: &mut Vec<String>) -> Vec<Entry> {
    let mut entries = vec![];
    for (id, spec) in &w.project.functions.functions {
        let Some(handle) = w.manager.function(id) else { continue };
        for s in spec.schedules.iter().filter(|s| s.enabled) {
            // Checked at compile time; a failure here would be a bug, reported rather than fatal.
            match esb_config::schedule::parse(&s.expression) {
                Ok(expr) => entries.push(Entry {
                    function: handle.clone(),
                    event: s.name.clone(),
                    expression: s.expression.clone(),
                    expr,
                    input: s.input.clone(),
                }),
                Err(e) => warnings.push(format!("{id}.{}: schedule `{}` not run: {e}", s.name, s.expression)),
            }
        }
    }
    entries
}

/// A spawned reader task, aborted on stop.
struct Task(Mutex<Option<tokio::task::JoinHandle<()>>>);

impl Task {
    fn new(handle: tokio::task::JoinHandle<()>) -> Self {
        Task(Mutex::new(Some(handle)))
    }

    fn abort(&self) {
        if let Some(t) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

/// The EventQueue: runs the new functions after a reload (events of removed ones wait).
struct Queue {
    actor: ActorRef<QueueMsg>,
}

#[async_trait]
impl Source for Queue {
    fn name(&self) -> &'static str {
        "event queue"
    }
    fn reload(&self, wiring: Wiring<'_>) -> Vec<String> {
        let _ = self.actor.cast(QueueMsg::Targets(targets(wiring)));
        vec![]
    }
    async fn stop(&self, grace: Duration) {
        queue::stop(self.actor.clone(), grace).await;
    }
}

/// The Scheduler: the new template's schedules after a reload.
struct Schedules {
    actor: ActorRef<SchedulerMsg>,
}

#[async_trait]
impl Source for Schedules {
    fn name(&self) -> &'static str {
        "scheduler"
    }
    fn reload(&self, wiring: Wiring<'_>) -> Vec<String> {
        let mut warnings = vec![];
        let _ = self.actor.cast(SchedulerMsg::Replace(entries(wiring, &mut warnings)));
        warnings
    }
    async fn stop(&self, _grace: Duration) {
        self.actor.stop(None);
    }
}

/// The S3 notifier: the new template's S3 events after a reload.
struct S3Notifier {
    rules: Rules,
    task: Task,
}

#[async_trait]
impl Source for S3Notifier {
    fn name(&self) -> &'static str {
        "S3 notifier"
    }
    fn reload(&self, wiring: Wiring<'_>) -> Vec<String> {
        *self.rules.lock().unwrap_or_else(|p| p.into_inner()) = s3_rules(wiring);
        vec![]
    }
    async fn stop(&self, _grace: Duration) {
        self.task.abort();
    }
}

/// The redrive spool's reader: nothing to reload (an event for a function the template lacks
/// waits in the spool).
struct SpoolReader {
    task: Task,
}

#[async_trait]
impl Source for SpoolReader {
    fn name(&self) -> &'static str {
        "redrive spool"
    }
    fn reload(&self, _wiring: Wiring<'_>) -> Vec<String> {
        vec![]
    }
    async fn stop(&self, _grace: Duration) {
        self.task.abort();
    }
}

/// The DynamoDB stream readers: unchanged mappings keep reading; the others are replaced.
struct StreamReaders {
    readers: Arc<tokio::sync::Mutex<Readers>>,
    grace: Duration,
}

#[async_trait]
impl Source for StreamReaders {
    fn name(&self) -> &'static str {
        "stream readers"
    }
    fn reload(&self, wiring: Wiring<'_>) -> Vec<String> {
        let (readers, mappings, grace) = (self.readers.clone(), mappings(wiring), self.grace);
        tokio::spawn(async move { readers.lock().await.replace(mappings, grace).await });
        vec![]
    }
    async fn stop(&self, grace: Duration) {
        self.readers.lock().await.close(grace).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that records what it was asked, in one shared log.
    struct Recording {
        name: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait]
    impl Source for Recording {
        fn name(&self) -> &'static str {
            self.name
        }
        fn reload(&self, _wiring: Wiring<'_>) -> Vec<String> {
            self.log.lock().unwrap().push(format!("reload {}", self.name));
            vec![format!("{} warns", self.name)]
        }
        async fn stop(&self, grace: Duration) {
            self.log.lock().unwrap().push(format!("stop {} {}", self.name, grace.as_secs()));
        }
    }

    #[tokio::test]
    async fn sources_stop_in_order_and_reload_all_with_their_warnings() {
        let log = Arc::new(Mutex::new(vec![]));
        let list: Vec<Arc<dyn Source>> = ["notifier", "streams", "queue"]
            .into_iter()
            .map(|name| Arc::new(Recording { name, log: log.clone() }) as Arc<dyn Source>)
            .collect();
        let sources = Sources(Arc::new(list));
        let dir = tempfile::tempdir().unwrap();
        let settings = esb_config::Settings {
            project: "sources".into(),
            tag: "latest".into(),
            region: "us-east-1".into(),
            parameters: Default::default(),
        };
        let project = esb_config::compile::compile(&dir.path().join("template.yaml"), "Resources: {}\n", &settings).unwrap();
        let manager = Manager::start(esb_actors::ManagerArgs {
            project: "sources".into(),
            functions: vec![],
            rt: Arc::new(esb_runtime::fake::FakeRuntime::new()),
            global_limit: 1,
            policy: Default::default(),
        })
        .await
        .unwrap();
        let warnings = sources.clone().reload(Wiring { project: &project, manager: &manager });
        assert_eq!(warnings, ["notifier warns", "streams warns", "queue warns"]);
        sources.stop(Duration::from_secs(3)).await;
        assert_eq!(
            *log.lock().unwrap(),
            ["reload notifier", "reload streams", "reload queue", "stop notifier 3", "stop streams 3", "stop queue 3"],
            "the queue stops last: what the others hand it finishes"
        );
    }
}
