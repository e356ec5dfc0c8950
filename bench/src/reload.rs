//! Save-to-new-code: from the moment a developer's save lands on disk to the first response that
//! comes from the new code, per runtime.
//!
//! Systems: `esb watch` (the baseline), and SAM CLI three ways: `sam build` + a restart of
//! `sam local start-api` (the workflow SAM documents after a build), `start-api` on the source
//! template (a new container per request, so the next request reads the saved code), and
//! `start-api --warm-containers LAZY` (containers reused; SAM restarts them when code changes).
//! Must not: judge the numbers (the report does).

use crate::project::{Project, Runtime};
use crate::report::{Row, Skipped};
use crate::sam::{self, Mode, StartApi};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long one save may take to show before the run counts as failed.
const SHOW_WITHIN: Duration = Duration::from_secs(180);

/// Polls `url` until its body contains `marker`; the time from `since`.
pub fn until_shows(agent: &ureq::Agent, url: &str, marker: &str, since: Instant) -> Result<Duration, String> {
    loop {
        if let Ok(mut r) = agent.get(url).call() {
            if r.status() == 200 && r.body_mut().read_to_string().unwrap_or_default().contains(marker) {
                return Ok(since.elapsed());
            }
        }
        if since.elapsed() > SHOW_WITHIN {
            return Err(format!("{url} did not answer with {marker} within {SHOW_WITHIN:?}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn row(runtime: Runtime, system: &str, samples: Vec<f64>, baseline: bool) -> Row {
    Row {
        measure: "save-to-new-code".into(),
        variant: runtime.name().into(),
        system: system.into(),
        samples,
        unit: "seconds",
        baseline,
        lower_is_better: true,
    }
}

/// A marker no earlier save used.
fn marker(system: &str, runtime: Runtime, i: usize) -> String {
    let tag: String = system.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("rev-{tag}-{}-{i}", runtime.function())
}

/// esb watch: one server for all saves.
pub fn esb(esb_bin: &str, project: &Project, runs: usize) -> Result<Vec<Row>, String> {
    let served = esb_tests::gateway::Served::start(esb_bin, project.root(), &["--watch"]);
    let agent = esb_tests::gateway::agent(&served.cert);
    let mut rows = vec![];
    for runtime in Runtime::ALL {
        let url = format!("{}{}", served.url, runtime.path());
        until_shows(&agent, &url, "v0", Instant::now())?;
        let mut samples = vec![];
        for i in 0..runs {
            let m = marker("esb", runtime, i);
            project.save(runtime, &m).map_err(|e| e.to_string())?;
            samples.push(until_shows(&agent, &url, &m, Instant::now())?.as_secs_f64());
        }
        rows.push(row(runtime, "esb watch", samples, true));
    }
    if !served.stop() {
        return Err("esb watch did not stop cleanly".into());
    }
    Ok(rows)
}

/// SAM CLI, each way it can pick up saved code.
pub fn sam(sam_bin: &Path, project: &Project, runs: usize) -> (Vec<Row>, Vec<Skipped>) {
    let (mut rows, mut skipped) = (vec![], vec![]);
    let plain: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let systems = [
        (Mode::Built, "sam build + restart start-api"),
        (Mode::Source, "sam start-api (container per request)"),
        (Mode::Warm, "sam start-api --warm-containers LAZY"),
    ];
    for (mode, system) in systems {
        let result = (|| -> Result<Vec<Row>, String> {
            let mut out = vec![];
            for runtime in Runtime::SAM {
                let mut samples = vec![];
                let mut api = None;
                for i in 0..runs {
                    let m = marker(system, runtime, i);
                    let url_of = |api: &StartApi| format!("{}{}", api.url, runtime.path());
                    if mode == Mode::Built {
                        // Restart: the running server goes, the save lands, then build and start.
                        drop(api.take());
                        project.save(runtime, &m).map_err(|e| e.to_string())?;
                        let t = Instant::now();
                        sam::build(sam_bin, project.root())?;
                        let started = StartApi::start(sam_bin, project.root(), mode)?;
                        let url = url_of(&started);
                        api = Some(started);
                        samples.push(until_shows(&plain, &url, &m, t)?.as_secs_f64());
                    } else {
                        if api.is_none() {
                            let started = StartApi::start(sam_bin, project.root(), mode)?;
                            // First request outside the measurement (SAM builds its rapid image then).
                            until_shows(&plain, &url_of(&started), "", Instant::now())?;
                            api = Some(started);
                        }
                        let url = api.as_ref().map(url_of).unwrap_or_default();
                        project.save(runtime, &m).map_err(|e| e.to_string())?;
                        samples.push(until_shows(&plain, &url, &m, Instant::now())?.as_secs_f64());
                    }
                }
                out.push(row(runtime, system, samples, false));
            }
            Ok(out)
        })();
        match result {
            Ok(r) => rows.extend(r),
            Err(why) => skipped.push(Skipped { what: format!("save-to-new-code with {system}"), why }),
        }
    }
    (rows, skipped)
}
