//! `esb`: the command line. Thin by design: parse arguments, set up logging, dispatch to
//! `commands::*`, and turn typed errors into short messages (or JSON) and exit codes.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod output;
mod progress;
mod telemetry;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let serving = matches!(args.command, cli::Command::Serve(_) | cli::Command::Up(_) | cli::Command::Watch(_));
    output::init_logging(args.global.verbose, serving);
    let out = output::Output::new(args.global.json);
    match commands::run(args, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<output::Silent>() {
            Some(output::Silent(code)) => ExitCode::from(*code),
            None => {
                out.error(&err);
                ExitCode::FAILURE
            }
        },
    }
}
