//! Progress events of image preparation, for whoever displays them (the CLI draws progress bars).

/// How an image ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Built now.
    Built,
    /// Already present with the same content hash; nothing done.
    Cached,
    /// Loaded from a tarball.
    Loaded,
    /// Failed (the error is reported separately).
    Failed,
}

/// One progress event.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Work on `image` begins.
    Start {
        /// Image reference.
        image: &'a str,
        /// What kind of work.
        detail: &'a str,
    },
    /// A line of output (build step, tool stage).
    Line {
        /// Image reference.
        image: &'a str,
        /// The line.
        text: &'a str,
    },
    /// Something the reader should know about `image`'s build, shown in every output mode: a
    /// build step that runs (it can take minutes), a fallback taken.
    Note {
        /// Image reference.
        image: &'a str,
        /// The note.
        text: &'a str,
    },
    /// `image` is done.
    Done {
        /// Image reference.
        image: &'a str,
        /// How it ended.
        status: Status,
        /// Wall time.
        seconds: f64,
    },
}

/// The event callback.
pub type Events<'a> = dyn Fn(Event<'_>) + Send + Sync + 'a;
