//! One module per command. Each takes its parsed arguments and the printer and returns
//! `anyhow::Result`: the CLI is the only place typed errors become user messages.

mod auth;
mod build;
mod daemon;
mod daemon_config;
mod events;
mod front;
mod images;
mod init;
mod invoke;
mod live;
mod logs;
mod redrive;
mod reload;
mod s3_events;
mod serve;
mod split;
mod storage;
mod streams;
mod triggers;

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
    }
}

/// Finds the template, opens its workspace with `--parameter` overrides, compiles it and prints
/// its warnings.
fn open_project(
    global: &Global,
    parameters: &[(String, String)],
    out: &Output,
) -> anyhow::Result<(esb_config::Workspace, esb_config::Project)> {
    let template = find_template(global)?;
    let ws = esb_config::Workspace::open(&template, &parameters.iter().cloned().collect())?;
    let project = ws.compile()?;
    out.warnings(&project.warnings);
    Ok((ws, project))
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
