//! `esb logs`: the JSON lines the LogCollector wrote under `<output_dir>/logs/`, filtered, in time
//! order, coloured on a terminal (`--json` passes the lines through), and followed with `-f`.
//!
//! Owns: reading, filtering and printing those files (rotated ones included). Must not: talk to
//! Docker (the collector does; this works the same while esb runs and after it stopped).

use crate::cli::{Global, LogsArgs};
use crate::output::Output;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

pub fn run(global: &Global, args: LogsArgs, out: &Output) -> anyhow::Result<()> {
    let template = super::find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &Default::default())?;
    let dir = ws.output_dir.join("logs");
    let since = match &args.since {
        Some(age) => Some(esb_runtime::labels::rfc3339(SystemTime::now() - parse_age("--since", age)?)),
        None => None,
    };
    let filter = Filter { trace: args.trace.clone(), since, debug: global.verbose > 0 };
    let files = files(&dir, args.function.as_deref())?;
    if files.is_empty() && !args.follow {
        out.say(format!(
            "no logs yet in {}{}\n  (functions' output is collected while `esb serve`/`esb up` runs)",
            super::show(&dir),
            args.function.as_deref().map(|f| format!(" for {f}")).unwrap_or_default()
        ));
        return Ok(());
    }
    let mut lines: Vec<(String, String)> = vec![];
    let mut offsets = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        offsets.insert(f.clone(), text.len() as u64);
        lines.extend(text.lines().filter_map(|l| filter.keep(l)));
    }
    // Files are per function: merge them by time (stable, so one function's order is kept).
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    for (_, l) in &lines {
        print(l, out.json());
    }
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(250));
        for f in files_now(&dir, args.function.as_deref()) {
            let len = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
            let from = offsets.get(&f).copied().unwrap_or(0);
            // A rotated file starts again from the top.
            let from = if len < from { 0 } else { from };
            if len > from {
                let mut file = std::fs::File::open(&f)?;
                file.seek(std::io::SeekFrom::Start(from))?;
                let mut text = String::new();
                file.read_to_string(&mut text)?;
                // Only whole lines; the rest is read next time.
                let whole = text.rfind('\n').map(|i| i + 1).unwrap_or(0);
                for l in text[..whole].lines().filter_map(|l| filter.keep(l)) {
                    print(&l.1, out.json());
                }
                offsets.insert(f.clone(), from + whole as u64);
            } else {
                offsets.insert(f.clone(), len);
            }
        }
    }
}

struct Filter {
    trace: Option<String>,
    since: Option<String>,
    debug: bool,
}

impl Filter {
    /// (timestamp, line) for lines to show.
    fn keep(&self, line: &str) -> Option<(String, String)> {
        let v: Value = serde_json::from_str(line).ok()?;
        let ts = v["timestamp"].as_str().unwrap_or_default().to_string();
        if !self.debug && v["level"] == "debug" {
            return None;
        }
        if let Some(t) = &self.trace {
            if !v["trace_id"].as_str().is_some_and(|id| !id.is_empty() && id.contains(t.as_str())) {
                return None;
            }
        }
        if let Some(s) = &self.since {
            if ts.get(..19).unwrap_or(&ts) < s.get(..19).unwrap_or(s) {
                return None;
            }
        }
        Some((ts, line.to_string()))
    }
}

fn print(line: &str, json: bool) {
    if json {
        println!("{line}");
        return;
    }
    let v: Value = serde_json::from_str(line).unwrap_or_default();
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let ts = s("timestamp");
    let time = ts.get(11..23).unwrap_or(&ts);
    let level = match s("level").as_str() {
        "error" => console::style("ERROR").red().bold().to_string(),
        "warn" => console::style("WARN ").yellow().to_string(),
        "debug" => console::style("DEBUG").dim().to_string(),
        _ => "     ".to_string(),
    };
    println!("{} {} {level} {}", console::style(time).dim(), console::style(format!("{:<16}", s("function"))).cyan(), s("message"));
}

/// `30s`, `10m`, `2h`, `1d`.
pub(super) fn parse_age(flag: &str, age: &str) -> anyhow::Result<Duration> {
    let (n, unit) = age.split_at(age.find(|c: char| !c.is_ascii_digit()).unwrap_or(age.len()));
    let n: u64 = n.parse().map_err(|_| anyhow::anyhow!("{flag} `{age}` is not an age like 30s, 10m, 2h or 1d"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => anyhow::bail!("{flag} `{age}`: the unit is s, m, h or d"),
    };
    Ok(Duration::from_secs(secs))
}

/// The log files of `function` (or of all), oldest rotation first.
fn files(dir: &Path, function: Option<&str>) -> anyhow::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(vec![]);
    }
    let mut out: Vec<(String, usize, PathBuf)> = vec![];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let Some(stem) = name.strip_suffix(".jsonl") else { continue };
        // `F.jsonl` is the newest; `F.1.jsonl` older, `F.2.jsonl` older still.
        let (f, generation) = match stem.rsplit_once('.') {
            Some((f, n)) if n.chars().all(|c| c.is_ascii_digit()) => (f.to_string(), n.parse().unwrap_or(0)),
            _ => (stem.to_string(), 0),
        };
        if function.is_none_or(|want| want == f) {
            out.push((f, generation, path));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    Ok(out.into_iter().map(|(_, _, p)| p).collect())
}

/// The current (unrotated) files, for following.
fn files_now(dir: &Path, function: Option<&str>) -> Vec<PathBuf> {
    files(dir, function)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().matches('.').count() == 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_and_bad_ones_say_how() {
        assert_eq!(parse_age("--since", "90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_age("--since", "10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_age("--since", "1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_age("--since", "ten").unwrap_err().to_string().contains("30s"));
        assert!(parse_age("--since", "5w").unwrap_err().to_string().contains("unit"));
    }

    #[test]
    fn rotated_files_come_first_and_filters_apply() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["A.jsonl", "A.1.jsonl", "A.2.jsonl", "B.jsonl", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> =
            files(dir.path(), None).unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, ["A.2.jsonl", "A.1.jsonl", "A.jsonl", "B.jsonl"]);
        assert_eq!(files(dir.path(), Some("B")).unwrap().len(), 1);
        assert_eq!(files_now(dir.path(), Some("A")).len(), 1);
        let f = Filter { trace: Some("abc".into()), since: Some("2026-11-24T00:00:00Z".into()), debug: false };
        let line = |ts: &str, trace: &str, level: &str| {
            serde_json::json!({ "timestamp": ts, "trace_id": trace, "level": level, "message": "m" }).to_string()
        };
        assert!(f.keep(&line("2026-11-24T00:00:01.5Z", "Root=1-abc", "info")).is_some());
        assert!(f.keep(&line("2026-11-23T23:59:59Z", "Root=1-abc", "info")).is_none(), "too old");
        assert!(f.keep(&line("2026-11-24T00:00:01Z", "Root=1-xyz", "info")).is_none(), "another trace");
        assert!(f.keep(&line("2026-11-24T00:00:01Z", "Root=1-abc", "debug")).is_none(), "debug only with --verbose");
    }
}
