//! The Watcher: file changes under a project directory, debounced into batches.
//!
//! Owns: a `notify` watcher on the project root (recursive), the ignore rules (esb's output dir,
//! `.git`, editor swap and backup files, log files), and debouncing: paths that change are collected
//! until nothing has changed for the quiet period, then sent as one sorted batch, so an editor's
//! write-rename-chmod dance or `git checkout` of many files is one reload; batches are at least
//! [`MIN_INTERVAL`] apart, so a file written every 200 ms is one reload a second at most, not five
//! (issue 19: 100 reloads in 20 s, and one request in five refused). Must not: decide what a
//! change means (the reload driver classifies paths) or build and reload anything itself.

use notify::{RecursiveMode, Watcher as _};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A running watcher (stop it with `.stop(None)`).
pub type WatcherRef = ActorRef<WatcherMsg>;

/// How long nothing must change before a batch is sent.
pub const QUIET: Duration = Duration::from_millis(100);
/// The least time between two batches; changes meanwhile join the next one.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest a change waits for a quiet period: a file that never stops changing still reloads.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

/// Messages.
#[derive(Debug)]
pub enum WatcherMsg {
    /// Paths the file system reported changed.
    Changed(Vec<PathBuf>),
    /// Check whether the quiet period has passed.
    Tick,
}

/// What the watcher needs.
pub struct WatcherArgs {
    /// The directory watched, recursively.
    pub root: PathBuf,
    /// Directories whose contents never count (the output dir); `.git` always is.
    pub ignore: Vec<PathBuf>,
    /// Where batches go.
    pub batches: mpsc::UnboundedSender<Vec<PathBuf>>,
}

/// The watcher's state.
pub struct WatcherState {
    _watcher: notify::RecommendedWatcher,
    ignore: Vec<PathBuf>,
    pending: BTreeSet<PathBuf>,
    /// The last change seen, and the first one of the pending batch.
    last: Instant,
    first: Instant,
    /// When the previous batch went out.
    sent: Option<Instant>,
    batches: mpsc::UnboundedSender<Vec<PathBuf>>,
}

/// Whether a pending batch goes out now: quiet (or waiting too long already), and not too soon
/// after the previous one.
pub fn due(now: Instant, last: Instant, first: Instant, sent: Option<Instant>) -> bool {
    let spaced = sent.is_none_or(|s| now.duration_since(s) >= MIN_INTERVAL);
    spaced && (now.duration_since(last) >= QUIET || now.duration_since(first) >= MAX_WAIT)
}

/// The actor (see [`WatcherState`]).
pub struct Watcher;

/// True for paths a change in never matters: ignored dirs, `.git`, editor swap and backup files.
pub fn ignored(path: &Path, ignore: &[PathBuf]) -> bool {
    if ignore.iter().any(|d| path.starts_with(d)) || path.components().any(|c| c.as_os_str() == ".git") {
        return true;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913" // vim's write test
        || name.ends_with(".tmp")
        || name.ends_with(".log") // logs, not code: one written beside the code reloaded every request
        || name == "__pycache__"
        || name.ends_with(".pyc")
        || path.components().any(|c| c.as_os_str() == "__pycache__")
}

impl Actor for Watcher {
    type Msg = WatcherMsg;
    type State = WatcherState;
    type Arguments = WatcherArgs;

    async fn pre_start(&self, myself: ActorRef<Self::Msg>, args: WatcherArgs) -> Result<Self::State, ActorProcessingErr> {
        let me = myself.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Access events (a file opened or read) change nothing.
            if let Ok(e) = event {
                if !matches!(e.kind, notify::EventKind::Access(_)) {
                    let _ = me.send_message(WatcherMsg::Changed(e.paths));
                }
            }
        })?;
        watcher.watch(&args.root, RecursiveMode::Recursive)?;
        myself.send_interval(Duration::from_millis(50), || WatcherMsg::Tick);
        let now = Instant::now();
        Ok(WatcherState {
            _watcher: watcher,
            ignore: args.ignore,
            pending: BTreeSet::new(),
            last: now,
            first: now,
            sent: None,
            batches: args.batches,
        })
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            WatcherMsg::Changed(paths) => {
                let relevant: Vec<PathBuf> = paths.into_iter().filter(|p| !ignored(p, &st.ignore)).collect();
                if !relevant.is_empty() {
                    let now = Instant::now();
                    if st.pending.is_empty() {
                        st.first = now;
                    }
                    // Any change, even to a path already pending, restarts the quiet period.
                    st.last = now;
                    st.pending.extend(relevant);
                }
            }
            WatcherMsg::Tick => {
                if !st.pending.is_empty() && due(Instant::now(), st.last, st.first, st.sent) {
                    st.sent = Some(Instant::now());
                    let batch: Vec<PathBuf> = std::mem::take(&mut st.pending).into_iter().collect();
                    if st.batches.send(batch).is_err() {
                        // Nobody listens any more.
                        myself.stop(None);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Starts a watcher on `root`; batches of changed paths arrive on the returned receiver.
pub async fn watch(
    root: &Path,
    ignore: Vec<PathBuf>,
) -> Result<(ActorRef<WatcherMsg>, mpsc::UnboundedReceiver<Vec<PathBuf>>), ActorProcessingErr> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (actor, _) = Actor::spawn(None, Watcher, WatcherArgs { root: root.to_path_buf(), ignore, batches: tx }).await?;
    Ok((actor, rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_dir_git_and_editor_files_are_ignored() {
        let out = PathBuf::from("/p/.esb");
        for p in [
            "/p/.esb/config/functions.yml",
            "/p/.git/index",
            "/p/f/.app.py.swp",
            "/p/f/app.py~",
            "/p/f/4913",
            "/p/f/.#app.py",
            "/p/f/__pycache__/app.cpython-311.pyc",
            "/p/f/app.log",
        ] {
            assert!(ignored(Path::new(p), std::slice::from_ref(&out)), "{p}");
        }
        for p in ["/p/template.yaml", "/p/generator.yml", "/p/functions/hello/app.py", "/p/layers/common/python/x.py"] {
            assert!(!ignored(Path::new(p), std::slice::from_ref(&out)), "{p}");
        }
    }

    #[test]
    fn batches_wait_for_quiet_are_spaced_and_a_busy_file_still_gets_one() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(due(at(150), at(0), at(0), None), "quiet after the first change");
        assert!(!due(at(50), at(0), at(0), None), "not quiet yet");
        assert!(!due(at(600), at(400), at(400), Some(at(0))), "quiet, but too soon after the last batch");
        assert!(due(at(1200), at(1000), at(400), Some(at(0))), "quiet and spaced");
        // Written every 50 ms without pause: sent once MAX_WAIT has passed.
        assert!(!due(at(2000), at(1980), at(100), Some(at(0))));
        assert!(due(at(3200), at(3180), at(100), Some(at(0))));
    }

    #[tokio::test]
    async fn a_burst_of_changes_is_one_batch_without_ignored_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join(".esb")).unwrap();
        let (actor, mut rx) = watch(&root, vec![root.join(".esb")]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Back to back, as an editor's save or a checkout writes (gaps far below QUIET even on a
        // loaded machine).
        for i in 0..5 {
            std::fs::write(root.join("app.py"), format!("v{i}")).unwrap();
            std::fs::write(root.join(".esb/generated"), "x").unwrap();
            std::fs::write(root.join(".app.py.swp"), "x").unwrap();
        }
        std::fs::write(root.join("template.yaml"), "x").unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!(batch, [root.join("app.py"), root.join("template.yaml")]);
        // Nothing else follows the burst.
        assert!(tokio::time::timeout(QUIET * 2, rx.recv()).await.is_err());
        actor.stop(None);
    }
}
