//! `motifd`: streaming episode detection over residual samples.
#![forbid(unsafe_code)]

use clap::Parser;
use motifd::cli::{Cli, Command};
use motifd::{checkpoint_command, daemon, distill, error, generate, replay};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Replay(args)) => replay::run(args),
        Some(Command::Distill(args)) => distill::command::run(args),
        Some(Command::GenerateFixtures(args)) => generate::run(&args).map(|()| ExitCode::SUCCESS),
        Some(Command::Run(flags)) => daemon::run(&flags),
        Some(Command::Checkpoint(args)) => checkpoint_command::run(&args),
        Some(Command::Plot(args)) => motifd::plot::run(&args),
        Some(Command::Report(args)) => motifd::report::run(&args),
        None => demo(),
    };
    result.unwrap_or_else(|failure| {
        eprintln!("motifd: {failure}");
        ExitCode::from(2)
    })
}

/// `motifd` with no arguments: the daemon on the embedded demo stream.
fn demo() -> Result<ExitCode, error::Failure> {
    let config = daemon::config::Config {
        episodes_out: Some("-".into()),
        ..daemon::config::Config::default()
    };
    daemon::init_logging(&config.log_level);
    daemon::run_with(
        config,
        Box::new(|| Ok(motifd_engine::Grammar::default())),
        vec![Box::new(daemon::sources::demo::DemoSource)],
        Some(Box::new(|_, metrics| {
            eprint!("{}", daemon::sources::demo::banner(metrics))
        })),
    )
}
