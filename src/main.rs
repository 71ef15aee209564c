//! The `loopcap` command: parse the flags, run the subcommand's driver
//! ([`loopcap::command`]) and turn its error into the exit code.

use std::process::ExitCode;

use clap::Parser;
use loopcap::cli::{Cli, Command};
use loopcap::command::error::Error;
use loopcap::command::{
    calibrate, check, fit, plot, presets, report, run, schema, size, sweep, validate,
};

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => run::run(&args),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge(args) => sweep::merge(&args),
        Command::Plot(args) => plot::plot(&args),
        Command::Check(args) => check::check(&args),
        Command::Validate => validate::validate(),
        Command::Compare(args) => report::compare(&args),
        Command::Size(args) => size::size(&args),
        Command::Fit(args) => fit::fit(&args),
        Command::Report(args) => report::report(&args),
        Command::Presets(args) => presets::presets(&args),
        Command::Calibrate(args) => calibrate::calibrate(&args),
        Command::Schema { kind } => schema::schema(kind),
        Command::Completions { shell } => schema::completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `loopcap run ... | head`: the reader went away, not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        // `size` said why nothing meets.
        Err(Error::NoAnswer) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
