//! The manager's event sources beyond HTTP: the EventQueue (asynchronous invocations, which the
//! Scheduler, the S3 notifier and the `esb events redrive` spool feed too), the Scheduler, the S3
//! notifier, the redrive spool's reader and the DynamoDB stream readers (which invoke
//! synchronously, in order).
//!
//! Owns: building their inputs from the compiled project and the running functions, starting them
//! after the function actors, handing them the new functions on hot reload, and stopping them
//! before the functions drain (schedules first, then the stream readers and the queue finish what
//! runs).
//! Must not: run invocations (the function actors do) or read the template (callers pass the
//! compiled project).

use super::streams::{Mapping, Readers};
use crate::cli::ServeArgs;
use crate::output::Output;
use esb_actors::events::{queue, QueueMsg, Target};
use esb_actors::scheduler::{self, Entry, SchedulerMsg};
use esb_actors::Manager;
use ractor::ActorRef;
use std::sync::Arc;
use std::time::Duration;

/// The running event sources.
pub(super) struct Triggers {
    queue: ActorRef<QueueMsg>,
    scheduler: Option<ActorRef<SchedulerMsg>>,
    s3: tokio::task::JoinHandle<()>,
    /// The `esb events redrive` spool's reader.
    redrive: tokio::task::JoinHandle<()>,
    handle: Handle,
}

/// What a hot reload updates.
#[derive(Clone)]
pub(super) struct Handle {
    project: String,
    rules: super::s3_events::Rules,
    streams: Arc<tokio::sync::Mutex<Readers>>,
    grace: Duration,
}

/// The template's enabled and disabled `DynamoDB` events on the running functions.
fn mappings(project: &esb_config::Project, manager: &Manager) -> Vec<Mapping> {
    let mut out = vec![];
    for (id, spec) in &project.functions.functions {
        let Some(handle) = manager.function(id) else { continue };
        let target: Arc<dyn super::streams::Target> = Arc::new(handle.clone());
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
fn s3_rules(project: &esb_config::Project, manager: &Manager) -> Vec<super::s3_events::Rule> {
    let mut rules = vec![];
    for (id, spec) in &project.functions.functions {
        let Some(handle) = manager.function(id) else { continue };
        rules.extend(spec.s3_events.iter().map(|e| super::s3_events::Rule { handle: handle.clone(), event: e.clone() }));
    }
    rules
}

/// The functions the queue may run, with their `EventInvokeConfig`.
fn targets(project: &esb_config::Project, manager: &Manager) -> Vec<Target> {
    project
        .functions
        .functions
        .iter()
        .filter_map(|(id, spec)| {
            let handle = manager.function(id)?.clone();
            Some(Target { handle, function_name: spec.function_name.clone(), config: spec.async_invoke.clone() })
        })
        .collect()
}

/// The template's enabled schedules, on the running functions.
fn entries(project: &esb_config::Project, manager: &Manager, out: &Output) -> Vec<Entry> {
    let mut entries = vec![];
    for (id, spec) in &project.functions.functions {
        let Some(handle) = manager.function(id) else { continue };
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
                Err(e) => out.warnings(&[format!("{id}.{}: schedule `{}` not run: {e}", s.name, s.expression)]),
            }
        }
    }
    entries
}

/// Starts the queue (it picks up events journaled before a restart) and, unless
/// `--no-schedules`, the Scheduler; says which schedules run.
pub(super) async fn start(
    rt: &Arc<esb_runtime::docker::DockerRuntime>,
    ws: &esb_config::Workspace,
    project: &esb_config::Project,
    manager: &Manager,
    args: &ServeArgs,
    out: &Output,
) -> anyhow::Result<Triggers> {
    let queue = queue::start(esb_actors::events::QueueArgs {
        project: ws.settings.project.clone(),
        region: ws.settings.region.clone(),
        dir: ws.output_dir.join("events"),
        targets: targets(project, manager),
        retry_base: Duration::from_secs(args.retry_delay),
        capacity: args.event_queue,
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the event queue ({}): {e}", ws.output_dir.join("events").display()))?;
    let readers = Readers::start(
        super::streams::Context {
            connect: Arc::new(super::streams::Storage {
                rt: rt.clone(),
                project: ws.settings.project.clone(),
                region: ws.settings.region.clone(),
            }),
            region: ws.settings.region.clone(),
            dir: ws.output_dir.join("events"),
        },
        mappings(project, manager),
    );
    let handle = Handle {
        project: ws.settings.project.clone(),
        rules: Arc::new(std::sync::Mutex::new(s3_rules(project, manager))),
        streams: Arc::new(tokio::sync::Mutex::new(readers)),
        grace: Duration::from_secs(args.grace),
    };
    let s3 = tokio::spawn(super::s3_events::run(super::s3_events::Reader {
        rt: rt.clone(),
        project: ws.settings.project.clone(),
        region: ws.settings.region.clone(),
        dir: ws.output_dir.join("events"),
        rules: handle.rules.clone(),
    }));
    let redrive = tokio::spawn(super::redrive::run_spool(
        ws.output_dir.join("events"),
        Arc::new(super::redrive::Queue { project: ws.settings.project.clone() }),
    ));
    if args.no_schedules {
        return Ok(Triggers { queue, scheduler: None, s3, redrive, handle });
    }
    let entries = entries(project, manager, out);
    let clock: Arc<dyn scheduler::Clock> =
        if args.schedule_speed > 1 { Arc::new(scheduler::FastClock::new(args.schedule_speed)) } else { Arc::new(scheduler::SystemClock) };
    let shown: Vec<String> = entries.iter().map(|e| format!("{}.{} {}", e.function.config().function, e.event, e.expression)).collect();
    let actor = scheduler::start(scheduler::SchedulerArgs {
        project: ws.settings.project.clone(),
        region: ws.settings.region.clone(),
        entries,
        clock,
    })
    .await
    .map_err(|e| anyhow::anyhow!("starting the scheduler: {e}"))?;
    if !shown.is_empty() && !out.json() {
        let speed = if args.schedule_speed > 1 { format!(" (clock x{})", args.schedule_speed) } else { String::new() };
        println!("  schedules{speed}: {}", shown.join(", "));
    }
    Ok(Triggers { queue, scheduler: Some(actor), s3, redrive, handle })
}

impl Handle {
    /// After a hot reload: the queue runs the new functions (events of removed ones wait), and the
    /// schedules and S3 events are the new template's.
    pub(super) fn reload(&self, project: &esb_config::Project, manager: &Manager, out: &Output) {
        if let Some(q) = ActorRef::<QueueMsg>::where_is(esb_actors::events::queue_name(&self.project)) {
            let _ = q.cast(QueueMsg::Targets(targets(project, manager)));
        }
        if let Some(s) = ActorRef::<SchedulerMsg>::where_is(scheduler::scheduler_name(&self.project)) {
            let _ = s.cast(SchedulerMsg::Replace(entries(project, manager, out)));
        }
        if let Ok(mut rules) = self.rules.lock() {
            *rules = s3_rules(project, manager);
        }
        let (streams, mappings, grace) = (self.streams.clone(), mappings(project, manager), self.grace);
        tokio::spawn(async move { streams.lock().await.replace(mappings, grace).await });
    }
}

impl Triggers {
    /// What a hot reload updates.
    pub(super) fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops the schedules, then lets the stream batches and the running events finish within
    /// `grace` each (events still running after that are recorded as interrupted at the next start;
    /// queued ones wait on disk; an unfinished stream batch is delivered again).
    pub(super) async fn stop(self, grace: Duration) {
        self.s3.abort();
        self.redrive.abort();
        if let Some(s) = self.scheduler {
            s.stop(None);
        }
        self.handle.streams.lock().await.close(grace).await;
        queue::stop(self.queue, grace).await;
    }
}
