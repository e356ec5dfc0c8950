//! The Watcher: file changes under a project directory, debounced into batches.
//!
//! Owns: a `notify` watcher on the project root (recursive), the ignore rules (esb's output dir,
//! `.git`, editor swap and backup files), and debouncing: paths that change are collected until
//! nothing has changed for the quiet period, then sent as one sorted batch, so an editor's
//! write-rename-chmod dance or `git checkout` of many files is one reload. Must not: decide what a
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
    last: Instant,
    batches: mpsc::UnboundedSender<Vec<PathBuf>>,
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
        Ok(WatcherState { _watcher: watcher, ignore: args.ignore, pending: BTreeSet::new(), last: Instant::now(), batches: args.batches })
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, st: &mut Self::State) -> Result<(), ActorProcessingErr> {
        match msg {
            WatcherMsg::Changed(paths) => {
                let before = st.pending.len();
                st.pending.extend(paths.into_iter().filter(|p| !ignored(p, &st.ignore)));
                if st.pending.len() != before {
                    st.last = Instant::now();
                }
            }
            WatcherMsg::Tick => {
                if !st.pending.is_empty() && st.last.elapsed() >= QUIET {
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
        ] {
            assert!(ignored(Path::new(p), std::slice::from_ref(&out)), "{p}");
        }
        for p in ["/p/template.yaml", "/p/generator.yml", "/p/functions/hello/app.py", "/p/layers/common/python/x.py"] {
            assert!(!ignored(Path::new(p), std::slice::from_ref(&out)), "{p}");
        }
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
