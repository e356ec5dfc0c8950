//! The LogCollector: every function container's output, as JSON lines on disk, each line tagged
//! with its function, container, Lambda request id and the caller's trace id.
//!
//! Owns: finding the project's function containers (a scan every [`SCAN`]), following each one's
//! output through the runtime (a task per container that reports chunks by message), splitting
//! chunks into lines, tagging them, and writing `<dir>/<function>.jsonl` with size-based rotation
//! (`<function>.1.jsonl` ... up to [`KEEP`] files), and handing each line to the log sink when one
//! is configured ([`crate::sink`]). Tagging: a container serves one invocation at a
//! time, and RIE marks each with `START RequestId: <id>` ... `END RequestId: <id>`, so the k-th
//! START in a container belongs to the k-th invocation [`FunctionHandle`](crate::FunctionHandle)
//! announced for it ([`LogMsg::Invocation`], sent before the request goes to RIE): every line
//! from START to END carries that invocation's trace id. Must not: block invocations (the handle
//! only casts), or read anything but container output.

use esb_runtime::labels::{key, Role};
use esb_runtime::{Labels, Runtime};
use futures_util::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the collector looks for new containers.
pub const SCAN: Duration = Duration::from_millis(500);
/// Size at which a function's log file is rotated.
pub const ROTATE_AT: u64 = 10 * 1024 * 1024;
/// Rotated files kept per function.
pub const KEEP: usize = 3;
/// Containers with announcements waiting for their first scan, at most.
const EARLY_LIMIT: usize = 1000;

/// The registered name of a project's collector (how handles find it).
pub fn collector_name(project: &str) -> String {
    format!("esb-logs-{project}")
}

/// Messages.
#[derive(Debug)]
pub enum LogMsg {
    /// An invocation is about to run on `container`.
    Invocation {
        /// Container id.
        container: String,
        /// The caller's `X-Amzn-Trace-Id`.
        trace_id: String,
    },
    /// Look for containers to follow.
    Scan,
    /// Containers found by a scan: (id, function).
    Found(Vec<(String, String)>),
    /// Output of a followed container.
    Chunk {
        /// Container id.
        container: String,
        /// Text as the engine delivered it.
        text: String,
    },
    /// A container's output ended (it stopped).
    Ended(String),
}

/// What the collector needs.
pub struct LogArgs {
    /// Project (container labels).
    pub project: String,
    /// The engine.
    pub rt: Arc<dyn Runtime>,
    /// Where `<function>.jsonl` files go.
    pub dir: PathBuf,
    /// A VictoriaLogs-compatible `/insert/jsonline` URL to forward lines to.
    pub sink: Option<String>,
}

#[derive(Default)]
struct Followed {
    function: String,
    /// Unfinished last line of the previous chunk.
    partial: String,
    /// Trace ids of announced invocations whose START has not been seen yet.
    announced: VecDeque<String>,
    /// (Lambda request id, trace id) of the invocation running now.
    current: Option<(String, String)>,
}

/// The collector's state.
pub struct LogState {
    project: String,
    rt: Arc<dyn Runtime>,
    dir: PathBuf,
    followed: HashMap<String, Followed>,
    /// Announcements that came before the container was first seen.
    early: HashMap<String, VecDeque<String>>,
    /// RFC 3339 second the collector started: older output of adopted containers was collected by
    /// the esb that ran them, and its START lines must not take this run's announcements.
    since: String,
    sink: Option<crate::sink::Sink>,
}

/// The actor (see [`LogState`]).
pub struct LogCollector;

/// `error`, `warn`, `debug` or `info`, from the usual markers in a line.
pub fn level_of(message: &str) -> &'static str {
    let m = message.trim_start();
    if m.contains("[ERROR]") || m.starts_with("ERROR") || m.starts_with("Traceback") || m.contains("\"errorType\"") {
        "error"
    } else if m.contains("[WARN") || m.starts_with("WARN") {
        "warn"
    } else if m.contains("[DEBUG]") || m.contains("] (rapid) ") {
        "debug"
    } else {
        "info"
    }
}

/// Splits `<timestamp> <message>` (the engine's prefix); a line without one gets "".
fn split_timestamp(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((ts, rest)) if ts.len() >= 20 && ts.as_bytes().get(4) == Some(&b'-') && ts.contains('T') => (ts, rest),
        _ => ("", line),
    }
}

impl Followed {
    /// Turns one complete line into its record, advancing the invocation it belongs to.
    fn record(&mut self, container: &str, line: &str) -> serde_json::Value {
        let (timestamp, message) = split_timestamp(line);
        if let Some(rest) = message.strip_prefix("START RequestId: ") {
            let request_id = rest.split_whitespace().next().unwrap_or_default().to_string();
            let trace = self.announced.pop_front().unwrap_or_default();
            self.current = Some((request_id, trace));
        }
        let (request_id, trace_id) = self.current.clone().unwrap_or_default();
        if message.starts_with("REPORT RequestId: ") {
            self.current = None;
        }
        json!({
            "timestamp": timestamp,
            "function": self.function,
            "container": container.get(..12).unwrap_or(container),
            "request_id": request_id,
            "trace_id": trace_id,
            "level": level_of(message),
            "message": message,
        })
    }
}

/// Appends `lines` to `<dir>/<function>.jsonl`, rotating it first when it is past [`ROTATE_AT`].
fn append(dir: &std::path::Path, function: &str, lines: &[String]) -> std::io::Result<()> {
    let path = dir.join(format!("{function}.jsonl"));
    if std::fs::metadata(&path).map(|m| m.len() >= ROTATE_AT).unwrap_or(false) {
        for i in (1..KEEP).rev() {
            let _ = std::fs::rename(dir.join(format!("{function}.{i}.jsonl")), dir.join(format!("{function}.{}.jsonl", i + 1)));
        }
        std::fs::rename(&path, dir.join(format!("{function}.1.jsonl")))?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    f.write_all(text.as_bytes())
}

impl LogState {
    fn chunk(&mut self, container: &str, text: &str) {
        let Some(f) = self.followed.get_mut(container) else { return };
        let joined = std::mem::take(&mut f.partial) + text;
        let mut lines: Vec<&str> = joined.split('\n').collect();
        // The last piece is unfinished (empty when the chunk ended with a newline).
        f.partial = lines.pop().unwrap_or_default().to_string();
        let since = &self.since[..self.since.len().min(19)];
        let records: Vec<String> = lines
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| {
                let (ts, _) = split_timestamp(l);
                ts.is_empty() || ts.get(..19).unwrap_or(ts) >= since
            })
            .map(|l| f.record(container, l.trim_end_matches('\r')).to_string())
            .collect();
        if records.is_empty() {
            return;
        }
        if let Some(sink) = &self.sink {
            for r in &records {
                sink.offer(r.clone());
            }
        }
        if let Err(e) = append(&self.dir, &f.function, &records) {
            // A full disk must never stop invocations: the lines are dropped, loudly.
            tracing::warn!(function = %f.function, error = %e, dropped = records.len(), "could not write function logs");
        }
    }
}

impl Actor for LogCollector {
    type Msg = LogMsg;
    type State = LogState;
    type Arguments = LogArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: LogArgs) -> Result<Self::State, ActorProcessingErr> {
        std::fs::create_dir_all(&args.dir)?;
        let sink = args.sink.map(crate::sink::Sink::start).transpose()?;
        myself.send_interval(SCAN, || LogMsg::Scan);
        Ok(LogState {
            project: args.project,
            rt: args.rt,
            dir: args.dir,
            followed: HashMap::new(),
            early: HashMap::new(),
            since: esb_runtime::labels::rfc3339(std::time::SystemTime::now()),
            sink,
        })
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            LogMsg::Invocation { container, trace_id } => match st.followed.get_mut(&container) {
                Some(f) => f.announced.push_back(trace_id),
                None => {
                    // Bounded: announcements for containers that die before a scan sees them must
                    // not pile up in a daemon that runs for months.
                    if st.early.len() >= EARLY_LIMIT {
                        st.early.clear();
                    }
                    st.early.entry(container).or_default().push_back(trace_id)
                }
            },
            LogMsg::Scan => {
                let (rt, me) = (st.rt.clone(), myself.clone());
                let filter = Labels::default().with(key::PROJECT, st.project.clone()).role(Role::Function);
                tokio::spawn(async move {
                    if let Ok(list) = rt.containers(&filter).await {
                        let found =
                            list.into_iter().filter(|c| c.running).map(|c| (c.id, c.labels.get(key::FUNCTION).unwrap_or("?").to_string()));
                        let _ = me.send_message(LogMsg::Found(found.collect()));
                    }
                });
            }
            LogMsg::Found(list) => {
                for (id, function) in list {
                    if st.followed.contains_key(&id) {
                        continue;
                    }
                    let announced = st.early.remove(&id).unwrap_or_default();
                    st.followed.insert(id.clone(), Followed { function, announced, ..Default::default() });
                    let (mut stream, me) = (st.rt.follow_logs(&id), myself.clone());
                    tokio::spawn(async move {
                        while let Some(Ok(text)) = stream.next().await {
                            if me.send_message(LogMsg::Chunk { container: id.clone(), text }).is_err() {
                                return;
                            }
                        }
                        let _ = me.send_message(LogMsg::Ended(id));
                    });
                }
            }
            LogMsg::Chunk { container, text } => st.chunk(&container, &text),
            LogMsg::Ended(container) => {
                st.chunk(&container, "\n");
                st.followed.remove(&container);
            }
        }
        Ok(())
    }
}

/// Starts the collector of `project`, registered under [`collector_name`].
pub async fn start(args: LogArgs) -> Result<ActorRef<LogMsg>, ActorProcessingErr> {
    let name = collector_name(&args.project);
    let (actor, _) = Actor::spawn(Some(name), LogCollector, args).await?;
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_between_start_and_report_carry_their_invocations_trace_id() {
        let mut f =
            Followed { function: "Hello".into(), announced: ["Root=1-a".to_string(), "Root=1-b".to_string()].into(), ..Default::default() };
        let ts = "2026-11-24T00:00:00.123456789Z";
        let lines = [
            format!("{ts} START RequestId: r1 Version: $LATEST"),
            format!("{ts} hello from the function"),
            format!("{ts} [ERROR] it broke"),
            format!("{ts} END RequestId: r1"),
            format!("{ts} REPORT RequestId: r1\tDuration: 1 ms"),
            format!("{ts} between invocations"),
            format!("{ts} START RequestId: r2 Version: $LATEST"),
        ];
        let got: Vec<serde_json::Value> = lines.iter().map(|l| f.record("0123456789abcdef", l)).collect();
        assert_eq!(got[1]["trace_id"], "Root=1-a");
        assert_eq!(got[1]["request_id"], "r1");
        assert_eq!((got[1]["message"].as_str(), got[1]["timestamp"].as_str()), (Some("hello from the function"), Some(ts)));
        assert_eq!((got[2]["level"].as_str(), got[4]["trace_id"].as_str()), (Some("error"), Some("Root=1-a")));
        assert_eq!(got[5]["trace_id"], "", "a line outside an invocation has no trace id");
        assert_eq!((got[6]["trace_id"].as_str(), got[6]["request_id"].as_str()), (Some("Root=1-b"), Some("r2")));
        assert_eq!(got[0]["container"], "0123456789ab");
    }

    #[test]
    fn levels_come_from_the_usual_markers() {
        assert_eq!(level_of("[ERROR] 2026-01-01 boom"), "error");
        assert_eq!(level_of("Traceback (most recent call last):"), "error");
        assert_eq!(level_of("[WARNING] careful"), "warn");
        assert_eq!(level_of("24 Nov 2026 00:26:56,469 [INFO] (rapid) INIT REPORT"), "debug");
        assert_eq!(level_of("plain print"), "info");
    }

    #[test]
    fn files_rotate_past_the_limit_and_keep_a_bounded_number() {
        let dir = tempfile::tempdir().unwrap();
        let big = "x".repeat(ROTATE_AT as usize);
        for _ in 0..(KEEP + 2) {
            append(dir.path(), "F", std::slice::from_ref(&big)).unwrap();
        }
        append(dir.path(), "F", &["last".into()]).unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        names.sort();
        assert_eq!(names, ["F.1.jsonl", "F.2.jsonl", "F.3.jsonl", "F.jsonl"]);
        assert_eq!(std::fs::read_to_string(dir.path().join("F.jsonl")).unwrap(), "last\n");
    }

    #[test]
    fn chunks_are_split_into_lines_across_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let rt: Arc<dyn Runtime> = Arc::new(esb_runtime::fake::FakeRuntime::new());
        let since = "2026-11-24T00:00:00Z".to_string();
        let mut st = LogState {
            project: "p".into(),
            rt,
            dir: dir.path().to_path_buf(),
            followed: HashMap::new(),
            early: HashMap::new(),
            since,
            sink: None,
        };
        st.followed.insert("c1".into(), Followed { function: "F".into(), ..Default::default() });
        st.chunk("c1", "2026-11-23T23:59:59.9Z older, from before this run\n2026-11-24T00:00:00.5Z one\n2026-11-24T00:00:01Z tw");
        st.chunk("c1", "o\n");
        let text = std::fs::read_to_string(dir.path().join("F.jsonl")).unwrap();
        let messages: Vec<String> =
            text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].as_str().unwrap().to_string()).collect();
        assert_eq!(messages, ["one", "two"]);
    }
}
