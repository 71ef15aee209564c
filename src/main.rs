//! The `loopcap` command: parse the flags, run the subcommand's driver
//! ([`loopcap::command`]) and turn its error into the exit code.

use std::process::ExitCode;

use clap::Parser;
use loopcap::cli::Cli;
use loopcap::command;

fn main() -> ExitCode {
    match command::dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        // `loopcap run ... | head`: the reader went away, not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            if !matches!(e, loopcap::error::Error::NoAnswer) {
                eprintln!("error: {e}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
