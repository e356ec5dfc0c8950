//! Errors of esb-config.
//!
//! Owns: [`Diagnostic`] (one problem: file, line, YAML path, message, hint) and [`ConfigError`],
//! the crate's error type. Compiling collects every diagnostic before failing, so a user fixes a
//! template in one pass. Rendering for humans happens here; colours and exit codes belong to the CLI.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a template or project file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted YAML path, e.g. `Resources.Orders.Properties.Events.Get.Properties.Path`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A list of diagnostics, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} error{} in the template:", if n == 1 { "" } else { "s" })?;
        for d in &self.0 {
            writeln!(f, "- {d}")?;
        }
        Ok(())
    }
}

/// The error type of esb-config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The template (or generator.yml) has one or more problems.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// No template could be found.
    #[error("no SAM template found; looked at: {}\n  hint: pass --template PATH, set ESB_TEMPLATE, or run esb in the directory that holds template.yaml", .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    TemplateNotFound {
        /// Every place looked at, in order.
        tried: Vec<PathBuf>,
    },
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What esb was doing ("reading", "writing", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file esb would write already exists and overwriting was not asked for.
    #[error("{} already exists\n  hint: pass --force to overwrite it", .0.display())]
    Exists(PathBuf),
}

impl ConfigError {
    /// Wraps an I/O error with the file and action.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ConfigError {
        let path = path.into();
        move |source| ConfigError::Io { action, path, source }
    }

    /// The diagnostics, when the error is about invalid input.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => &d.0,
            _ => &[],
        }
    }
}

/// Collects diagnostics and warnings while compiling one file.
#[derive(Debug, Default)]
pub struct Sink {
    /// The file being compiled.
    pub file: PathBuf,
    /// Errors found so far.
    pub errors: Vec<Diagnostic>,
    /// Warnings, deduplicated by message.
    pub warnings: Vec<String>,
    /// Functions esb cannot run, by logical id, with the reason (also a warning).
    pub left_out: std::collections::BTreeMap<String, String>,
    /// Which of `errors` are values esb cannot know locally (another stack's export, an attribute
    /// of a resource it does not run), as opposed to a broken template: by index into `errors`.
    pub unknowable: Vec<usize>,
    /// Properties the template sets that esb accepts but does not emulate: type -> names.
    pub not_emulated: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Sink {
    /// A sink for `file`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Sink { file: file.into(), ..Default::default() }
    }

    /// Records an error.
    pub fn error(&mut self, line: Option<usize>, path: &str, message: impl Into<String>, hint: Option<&str>) {
        self.errors.push(Diagnostic {
            file: self.file.clone(),
            line,
            path: path.to_string(),
            message: message.into(),
            hint: hint.map(str::to_string),
        });
    }

    /// Records an error about a value esb cannot know locally: where esb needs the value it fails
    /// the template like any error; where esb only passes it on it becomes a placeholder.
    pub fn unknowable(&mut self, line: Option<usize>, path: &str, message: impl Into<String>, hint: Option<&str>) {
        self.unknowable.push(self.errors.len());
        self.error(line, path, message, hint);
    }

    /// Records a warning once: the same text twice is kept once.
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    /// Records that function `id` is left out, and why (never silently: it is also a warning).
    pub fn left_out(&mut self, id: &str, reason: impl Into<String>) {
        let reason = reason.into();
        self.warn(format!("function {id} is left out: {reason}"));
        self.left_out.insert(id.to_string(), reason);
    }

    /// Records that a property of resource type `ty` is accepted but not emulated; the build says
    /// so once, in one line (see [`Sink::into_result`]).
    pub fn not_emulated(&mut self, ty: &str, property: &str) {
        self.not_emulated.entry(ty.to_string()).or_default().insert(property.to_string());
    }

    /// Records a warning about line `line` of the file (`template.yaml:4: ...`).
    pub fn warn_at(&mut self, line: usize, message: impl AsRef<str>) {
        let file = self.file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| self.file.display().to_string());
        self.warn(format!("{file}:{line}: {}", message.as_ref()));
    }
}

/// The candidate closest to `word` (at most two edits away, ignoring case), for "did you mean".
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (a.to_lowercase().chars().collect(), b.to_lowercase().chars().collect());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != cb));
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    };
    candidates.into_iter().map(|c| (distance(word, c), c)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}

impl Sink {
    /// The collected errors as one error (call when at least one was recorded), in line order.
    pub fn into_error(mut self) -> ConfigError {
        self.errors.sort_by_key(|d| d.line.unwrap_or(0));
        ConfigError::Invalid(Diagnostics(self.errors))
    }

    /// Fails with every error collected, if any.
    pub fn into_result(mut self) -> Result<(Vec<String>, std::collections::BTreeMap<String, String>), ConfigError> {
        if !self.not_emulated.is_empty() {
            let parts: Vec<String> = self
                .not_emulated
                .iter()
                .map(|(ty, props)| format!("{ty} {}", props.iter().cloned().collect::<Vec<_>>().join(", ")))
                .collect();
            self.warn(format!("accepted, not emulated: {}", parts.join("; ")));
        }
        if self.errors.is_empty() {
            Ok((self.warnings, self.left_out))
        } else {
            Err(self.into_error())
        }
    }
}
