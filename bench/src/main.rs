//! esb-bench: esb measured against its baselines and against AWS SAM CLI, in one run on one machine
//! (`scripts/bench.sh` builds everything and runs it).
//!
//! Every number is reported with the baseline measured in the same run and the ratio to it, so
//! results from different machines compare by ratio, not by absolutes. A peer that cannot run here
//! is listed under "not measured" with the reason; nothing is silently left out.
//!
//! Scenarios: `warm` (latency and throughput at concurrency 1/16/64, server memory), `cold` (cold
//! start per runtime), `restart` (restart with and without adopting containers), `downtime` (a restart under load, one process and each half of the split daemon), `reload`
//! (save-to-new-code per runtime), `events` (asynchronous invocation: accept and drain against
//! synchronous invocation), `streams` (a DynamoDB change reaching its function, against invoking
//! it directly).
//!
//! Usage: `esb-bench [--runs N] [--only warm,cold,restart,downtime,events,streams,reload,bases] [--no-sam] [--json PATH]`, and
//! `esb-bench soak [--minutes N] [--json PATH]` for the long-running check of the split daemon.
//! Environment: `ESB_BIN` (default `target/release/esb`), `SAM_CLI` (default: `sam` on PATH).

mod bases;
mod events;
mod lifecycle;
mod load;
mod project;
mod reload;
mod report;
mod sam;
mod soak;
mod streams;
mod warm;

use report::{Row, Skipped};
use serde_json::json;
use std::time::Duration;

struct Args {
    runs: usize,
    only: Option<Vec<String>>,
    sam: bool,
    json: Option<std::path::PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args { runs: 5, only: None, sam: true, json: None };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => args.runs = it.next().and_then(|v| v.parse().ok()).filter(|n| *n > 0).ok_or("--runs needs a number above 0")?,
            "--only" => args.only = Some(it.next().ok_or("--only needs a list")?.split(',').map(str::to_string).collect()),
            "--no-sam" => args.sam = false,
            "--json" => args.json = Some(it.next().ok_or("--json needs a path")?.into()),
            "-h" | "--help" => {
                println!("esb-bench [--runs N] [--only reload] [--no-sam] [--json PATH]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(args)
}

/// Rows of a scenario, or why it could not run.
fn collect(rows: &mut Vec<Row>, skipped: &mut Vec<Skipped>, what: &str, result: Result<Vec<Row>, String>) {
    match result {
        Ok(r) => rows.extend(r),
        Err(why) => skipped.push(Skipped { what: what.into(), why }),
    }
}

/// SAM's stand-in base images, made once; false (and the reason recorded once) when they cannot be.
fn prepared(skipped: &mut Vec<Skipped>) -> bool {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let first = DONE.get().is_none();
    match DONE.get_or_init(sam::prepare_images) {
        Ok(()) => true,
        Err(why) => {
            if first {
                skipped.push(Skipped { what: "every comparison with SAM CLI".into(), why: why.clone() });
            }
            false
        }
    }
}

/// `esb-bench soak`: exits 1 when esb did not stop cleanly or left containers behind.
fn soak_main() -> ! {
    let mut it = std::env::args().skip(2);
    let (mut minutes, mut json_path) = (10u64, None::<std::path::PathBuf>);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => minutes = it.next().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(10),
            "--json" => json_path = it.next().map(Into::into),
            other => {
                eprintln!("esb-bench soak: unknown argument {other} (--minutes N, --json PATH)");
                std::process::exit(2);
            }
        }
    }
    let esb_bin = std::env::var("ESB_BIN").unwrap_or_else(|_| esb_tests::workspace_root().join("target/release/esb").display().to_string());
    let esb_bin = std::fs::canonicalize(&esb_bin).map(|p| p.display().to_string()).unwrap_or(esb_bin);
    match soak::run(&esb_bin, minutes) {
        Ok(record) => {
            if let Some(p) = json_path {
                let _ = std::fs::write(&p, serde_json::to_string_pretty(&record).unwrap_or_default());
            }
            let clean = record["stopped_cleanly"] == true && record["containers_left"] == 0;
            std::process::exit(if clean { 0 } else { 1 })
        }
        Err(e) => {
            eprintln!("esb-bench soak: {e}");
            std::process::exit(1)
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("soak") {
        soak_main();
    }
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("esb-bench: {e}");
            std::process::exit(2);
        }
    };
    let wanted = |s: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    let esb_bin = std::env::var("ESB_BIN").unwrap_or_else(|_| esb_tests::workspace_root().join("target/release/esb").display().to_string());
    // esb runs in the workload's directory: the path must not be relative.
    let esb_bin = match std::fs::canonicalize(&esb_bin) {
        Ok(p) => p.display().to_string(),
        Err(e) => {
            eprintln!("esb-bench: esb binary {esb_bin}: {e} (build it: cargo build --release -p esb, or set ESB_BIN)");
            std::process::exit(1);
        }
    };
    let mut rows: Vec<Row> = vec![];
    let mut skipped: Vec<Skipped> = vec![];
    let sam_bin = if args.sam { sam::find() } else { Err("--no-sam".into()) };
    if let Err(why) = &sam_bin {
        skipped.push(Skipped { what: "AWS SAM CLI (every comparison with it)".into(), why: why.clone() });
    }

    eprintln!("esb-bench: building the workload (the echo custom runtime)");
    let project = match project::Project::write(&esb_tests::echo_bootstrap()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("esb-bench: writing the workload: {e}");
            std::process::exit(1);
        }
    };
    let _cleanup = esb_tests::ProjectContainers(project.name.clone());

    // SAM's base images are made from esb's, which the first esb start builds: SAM runs after esb.
    let sam_ready = sam_bin.as_ref().ok();
    let timing = warm::Timing { warmup: Duration::from_secs(2), measure: Duration::from_secs(5) };
    if wanted("warm") {
        eprintln!("esb-bench: warm requests at concurrency {:?}, esb", warm::LEVELS);
        collect(&mut rows, &mut skipped, "warm requests with esb", warm::esb(&esb_bin, &project, &timing));
        eprintln!("esb-bench: warm requests, RIE direct");
        collect(&mut rows, &mut skipped, "warm requests straight into RIE", warm::direct(&project, &timing));
        if let Some(sam_bin) = sam_ready.filter(|_| prepared(&mut skipped)) {
            eprintln!("esb-bench: warm requests, SAM CLI");
            let (r, s) = warm::sam(sam_bin, &project, &timing);
            rows.extend(r);
            skipped.extend(s);
        }
    }
    if wanted("cold") {
        eprintln!("esb-bench: cold starts ({} per runtime)", args.runs);
        collect(&mut rows, &mut skipped, "cold starts with esb", lifecycle::esb_cold(&esb_bin, &project, args.runs));
        collect(&mut rows, &mut skipped, "cold starts with docker run", lifecycle::direct_cold(&project, args.runs));
        if let Some(sam_bin) = sam_ready.filter(|_| prepared(&mut skipped)) {
            let (r, s) = lifecycle::sam_cold(sam_bin, &project, args.runs);
            rows.extend(r);
            skipped.extend(s);
        }
    }
    if wanted("restart") {
        eprintln!("esb-bench: restarts ({})", args.runs);
        collect(&mut rows, &mut skipped, "restarts of esb", lifecycle::restart(&esb_bin, &project, args.runs));
    }
    if wanted("downtime") {
        eprintln!("esb-bench: restart downtime under load ({} per restart)", args.runs);
        collect(&mut rows, &mut skipped, "restart downtime of esb", lifecycle::downtime(&esb_bin, &project, args.runs));
    }
    if wanted("events") {
        eprintln!("esb-bench: asynchronous invocations against synchronous ones");
        collect(&mut rows, &mut skipped, "asynchronous invocations with esb", events::esb(&esb_bin, &project, timing.measure));
    }
    if wanted("streams") {
        eprintln!("esb-bench: DynamoDB stream delivery ({} changes)", args.runs * 10);
        collect(&mut rows, &mut skipped, "DynamoDB stream delivery with esb", streams::esb(&esb_bin, args.runs * 10));
    }
    if wanted("reload") {
        eprintln!("esb-bench: save-to-new-code, esb watch ({} saves per runtime)", args.runs);
        collect(&mut rows, &mut skipped, "save-to-new-code with esb watch", reload::esb(&esb_bin, &project, args.runs));
        if let Some(sam_bin) = sam_ready.filter(|_| prepared(&mut skipped)) {
            eprintln!("esb-bench: save-to-new-code, SAM CLI ({})", sam::version(sam_bin));
            let (r, s) = reload::sam(sam_bin, &project, args.runs);
            rows.extend(r);
            skipped.extend(s);
        }
    }

    // Only when asked: it removes and rebuilds the engine's base images and the cached tarballs.
    if args.only.as_ref().is_some_and(|o| o.iter().any(|x| x == "bases")) {
        eprintln!("esb-bench: base images per runtime: from nothing, from the cached tarball, on a shared root filesystem");
        collect(&mut rows, &mut skipped, "base image builds", bases::esb(&esb_bin));
    }

    print!("{}", report::table(&rows, &skipped));
    let context = json!({
        "esb": esb_bin,
        "sam": sam_bin.as_ref().map(|s| sam::version(s)).ok(),
        "runs": args.runs,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
    });
    if let Some(path) = &args.json {
        let doc = report::to_json(&rows, &skipped, context);
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
            eprintln!("esb-bench: writing {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("esb-bench: results in {}", path.display());
    }
}
