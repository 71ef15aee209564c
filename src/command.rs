//! Each subcommand's driver: turns the plain values clap read ([`crate::cli`])
//! into real objects, runs them, and prints what the command prints. The
//! sizing driver lives with sizing ([`crate::sizing::command`]).

use crate::bytes::Bytes;
use crate::cli::Command;
use crate::config::Diagnostic;
use crate::config::memory::Memory;
use crate::config::work::Work;
use crate::error::Error;
use crate::sizing;

mod check;
mod fit;
pub mod load;
pub mod outputs;
mod plot;
mod report;
mod run;
mod schema;
mod sweep;
mod validate;

/// Runs `command`.
pub fn dispatch(command: Command) -> Result<(), Error> {
    match command {
        Command::Run(args) => run::run(&args),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge(args) => sweep::merge(&args),
        Command::Plot(args) => plot::plot(&args),
        Command::Check(args) => check::check(&args),
        Command::Validate => validate::validate(),
        Command::Compare(args) => report::compare(&args),
        Command::Size(args) => sizing::command::size(&args),
        Command::Fit(args) => fit::fit(&args),
        Command::Report(args) => report::report(&args),
        Command::Schema { kind } => schema::schema(kind),
        Command::Completions { shell } => schema::completions(shell),
    }
}

/// The most a run may take: memory, and events by the estimate.
#[derive(Clone, Copy)]
pub struct Limits {
    pub memory: Bytes,
    pub events: u64,
}

impl Limits {
    /// Refuses a model estimated to need more memory (keeping its time
    /// series or not) or events than allowed.
    pub fn admit(&self, memory: &Memory, work: &Work, timeseries: bool) -> Result<(), Diagnostic> {
        memory.fits(self.memory, timeseries)?;
        work.fits(self.events)
    }
}

/// Says each warning on stderr.
pub fn warn(warnings: impl IntoIterator<Item = impl std::fmt::Display>) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}
