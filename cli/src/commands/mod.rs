//! One module per command. Each takes its parsed arguments and the printer and returns
//! `anyhow::Result`: the CLI is the only place typed errors become user messages.

mod auth;
mod build;
mod daemon;
mod daemon_config;
mod debug;
mod env_vars;
mod events;
mod front;
mod generate_event;
mod identity;
mod images;
mod init;
mod invoke;
mod live;
mod lock;
mod logs;
mod redrive;
mod reload;
mod serve;
mod split;
mod storage;

use crate::cli::{Cli, Command, Global};
use crate::output::Output;
use esb_config::discover::Discovery;
use std::path::PathBuf;

pub fn run(cli: Cli, out: &Output) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => init::run(&cli.global, args, out),
        Command::Build(args) => build::run(&cli.global, args, out),
        Command::Invoke(args) => invoke::run(&cli.global, args, out),
        Command::Images(cmd) => images::run(&cli.global, cmd, out),
        Command::Serve(args) => serve::run(&cli.global, args, out),
        Command::Watch(mut args) => {
            args.watch = true;
            serve::run(&cli.global, args, out)
        }
        Command::Up(args) => daemon::up(&cli.global, args, out),
        Command::Down(args) => daemon::down(&cli.global, args, out),
        Command::Status => daemon::status(&cli.global, out),
        Command::Logs(args) => logs::run(&cli.global, args, out),
        Command::Events(args) => match args.command {
            Some(crate::cli::EventsCommand::Redrive(r)) => redrive::run(&cli.global, r, out),
            None => events::run(&cli.global, args, out),
        },
        Command::Reset(args) => daemon::reset(&cli.global, args, out),
        Command::Auth(cmd) => auth::run(&cli.global, cmd, out),
        Command::StorageS3(args) => storage::serve_s3(args),
        Command::GenerateEvent(args) => generate_event::run(args),
    }
}

/// Finds the template, opens its workspace with `--parameter` overrides, compiles it and prints
/// its warnings: `esb build` prints all of them; other commands only those not yet shown for this
/// template, generator.yml and parameters ([`unseen`]), so the same note does not drown real ones.
/// How a command reads the template: to run it (a parameter without a value is an error), or to
/// show a plan (`build --dry-run`: stand-ins, named).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Run,
    RunShowingAllWarnings,
    Plan,
}

fn open_project(
    global: &Global,
    parameters: &[(String, String)],
    out: &Output,
    open: Open,
) -> anyhow::Result<(esb_config::Workspace, esb_config::Project)> {
    let template = find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &parameters.iter().cloned().collect())?;
    let project = if open == Open::Plan { ws.plan()? } else { ws.compile()? };
    let all_warnings = open != Open::Run;
    let shown = if all_warnings { project.warnings.clone() } else { unseen(&ws, parameters, &project.warnings) };
    out.warnings(&shown);
    Ok((ws, project))
}

/// The warnings not shown before for this exact input (template, generator.yml, parameters),
/// recording them as shown in `<output>/warned` (one hash a line; rewritten whole).
fn unseen(ws: &esb_config::Workspace, parameters: &[(String, String)], warnings: &[String]) -> Vec<String> {
    let path = ws.output_dir.join("warned");
    let input = [
        std::fs::read(&ws.template).unwrap_or_default(),
        std::fs::read(&ws.generator_path).unwrap_or_default(),
        format!("{parameters:?}").into_bytes(),
    ]
    .concat();
    let input = esb_images::cache::sha256(&input);
    let key = |w: &str| esb_images::cache::sha256(format!("{input}\0{w}").as_bytes())[..24].to_string();
    let known: std::collections::BTreeSet<String> =
        std::fs::read_to_string(&path).unwrap_or_default().lines().map(str::to_string).collect();
    let fresh: Vec<String> = warnings.iter().filter(|w| !known.contains(&key(w))).cloned().collect();
    if !fresh.is_empty() {
        let mut all: Vec<String> = known.into_iter().collect();
        all.extend(fresh.iter().map(|w| key(w)));
        // Bounded: the newest entries matter.
        let start = all.len().saturating_sub(1000);
        let _ = std::fs::create_dir_all(&ws.output_dir).and_then(|_| std::fs::write(&path, all[start..].join("\n") + "\n"));
    }
    fresh
}

/// Runs async work (Docker, RIE) from a synchronous command.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(future)
}

/// Finds the template with the documented discovery order.
fn find_template(global: &Global) -> anyhow::Result<PathBuf> {
    let discovery = Discovery {
        flag: global.template.clone(),
        env: std::env::var_os("ESB_TEMPLATE").filter(|v| !v.is_empty()).map(PathBuf::from),
        cwd: std::env::current_dir()?,
    };
    Ok(discovery.find()?)
}

/// `a/b/../c` stays as given but relative to the cwd when possible, for short messages.
fn show(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_shown_once_until_the_template_changes() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template.yaml");
        std::fs::write(&template, "Resources: {}\n").unwrap();
        let ws = esb_config::Workspace::open(&template, &Default::default()).unwrap();
        let warnings = vec!["python3.12 functions run on Python 3.11".to_string(), "other".to_string()];
        assert_eq!(unseen(&ws, &[], &warnings), warnings, "first time: all");
        assert!(unseen(&ws, &[], &warnings).is_empty(), "the same input again: none");
        assert_eq!(unseen(&ws, &[], &["new one".to_string()]), ["new one"], "a new warning still shows");
        assert_eq!(unseen(&ws, &[("Stage".into(), "prod".into())], &warnings), warnings, "other parameters: shown again");
        std::fs::write(&template, "Resources: {}\n# edited\n").unwrap();
        assert_eq!(unseen(&ws, &[], &warnings), warnings, "a changed template: shown again");
    }
}
