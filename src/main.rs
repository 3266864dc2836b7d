//! `motifd`: streaming episode detection over residual samples.
#![forbid(unsafe_code)]

mod cli;
mod error;
mod generate;
mod lines;
mod replay;
mod summary;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Replay(args)) => replay::run(args),
        Some(Command::GenerateFixtures(args)) => generate::run(&args).map(|()| ExitCode::SUCCESS),
        None => {
            let _ = Cli::command().print_help();
            Ok(ExitCode::from(2))
        }
    };
    result.unwrap_or_else(|failure| {
        eprintln!("motifd: {failure}");
        ExitCode::from(2)
    })
}
