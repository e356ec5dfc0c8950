//! `esb`: the command line. Thin by design: parse arguments, set up logging, dispatch to
//! `commands::*`, and turn typed errors into short messages (or JSON) and exit codes.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    output::init_logging(args.global.verbose);
    let out = output::Output::new(args.global.json);
    match commands::run(args, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            out.error(&err);
            ExitCode::FAILURE
        }
    }
}
