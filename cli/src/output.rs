//! What esb prints: short human text on a terminal (colour only on a TTY, NO_COLOR respected),
//! JSON with `--json`, warnings and errors on stderr, logs through `tracing` (ESB_LOG).

use esb_config::ConfigError;
use serde_json::json;
use tracing_subscriber::Layer;

/// Sets up `tracing`: warnings by default, more with -v, `ESB_LOG` wins.
pub fn init_logging(verbose: u8, serving: bool) {
    let default = match verbose {
        // A server logs one line per request and per container start/stop.
        0 if serving => "warn,esb_gateway=info,esb_actors=info,esb_events=info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ESB_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    // The daemon container logs JSON (one object per line, with the request span's fields).
    let fmt = if std::env::var("ESB_LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_filter(filter).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(filter).boxed()
    };
    // Spans go to an OTLP collector too, once `serve` enables it (crate::telemetry).
    let _ = tracing_subscriber::registry().with(fmt).with(crate::telemetry::layer()).try_init();
}

/// A failure already reported to the user (e.g. a function error from `esb invoke`): exit with
/// this code and print nothing more.
#[derive(Debug)]
pub struct Silent(pub u8);

impl std::fmt::Display for Silent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Silent {}

/// The printer a command writes through.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        if std::env::var_os("NO_COLOR").is_some() {
            console::set_colors_enabled(false);
            console::set_colors_enabled_stderr(false);
        }
        Output { json }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// A line for humans (suppressed in JSON mode).
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json {
            println!("{}", line.as_ref());
        }
    }

    /// A heading for humans.
    pub fn heading(&self, text: &str) {
        self.say(console::style(text).bold().to_string());
    }

    /// The JSON document of a command.
    pub fn emit(&self, value: &serde_json::Value) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        }
    }

    /// A line someone must act on while the command runs (stderr in both modes, so a JSON
    /// document on stdout stays whole).
    pub fn note(&self, line: &str) {
        eprintln!("{} {line}", console::style("note:").cyan().bold());
    }

    /// Warnings go to stderr in both modes (JSON documents also list them).
    pub fn warnings(&self, warnings: &[String]) {
        for w in warnings {
            eprintln!("{} {w}", console::style("warning:").yellow().bold());
        }
    }

    /// Reports a failed command.
    pub fn error(&self, err: &anyhow::Error) {
        if self.json {
            let diagnostics: Vec<_> = err
                .downcast_ref::<ConfigError>()
                .map(|e| e.diagnostics())
                .unwrap_or_default()
                .iter()
                .map(|d| json!({"file": d.file, "line": d.line, "path": d.path, "message": d.message, "hint": d.hint}))
                .collect();
            println!("{}", json!({"error": format!("{err:#}"), "diagnostics": diagnostics}));
        } else {
            eprintln!("{} {err:#}", console::style("error:").red().bold());
        }
    }
}
