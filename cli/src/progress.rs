//! Image build progress: one spinner per image on a terminal, plain lines otherwise, nothing in
//! `--json` mode (the JSON document reports the result).

use esb_images::{Event, Status};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Renders [`Event`]s.
pub struct Progress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    tty: bool,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal() && !quiet;
        let target = if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Progress { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()), tty, quiet }
    }

    pub fn event(&self, event: Event<'_>) {
        if self.quiet {
            return;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Start { image, detail } => {
                if self.tty {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(image.to_string());
                    bar.set_message(detail.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.insert(image.to_string(), bar);
                } else {
                    eprintln!("building {image} ({detail})");
                }
            }
            Event::Line { image, text } => {
                if let Some(bar) = bars.get(image) {
                    bar.set_message(text.trim().chars().take(100).collect::<String>());
                } else if !self.tty && text.starts_with("Step ") {
                    eprintln!("  {image}: {}", text.trim());
                }
            }
            Event::Note { image, text } => {
                let line = format!("  {image}: {text}");
                if self.tty {
                    let _ = self.multi.println(&line);
                } else {
                    eprintln!("{line}");
                }
            }
            Event::Done { image, status, seconds } => {
                let line = match status {
                    Status::Built => format!("built  {image} in {seconds:.1}s"),
                    Status::Cached => format!("cached {image}"),
                    Status::Loaded => format!("loaded {image}"),
                    Status::Failed => format!("FAILED {image} after {seconds:.1}s"),
                };
                if let Some(bar) = bars.remove(image) {
                    bar.finish_and_clear();
                }
                // Cached images are summed up by the caller; one line each would be noise.
                if status != Status::Cached {
                    if self.tty {
                        let _ = self.multi.println(&line);
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
        }
    }

    pub fn clear(&self) {
        let _ = self.multi.clear();
    }
}
