//! Each subcommand's driver: turns the plain values clap read ([`crate::cli`])
//! into real objects, runs them, and prints what the command prints; and
//! what drivers share (loading, outputs, limits, the [`error::Error`] that
//! decides the exit code); `main` dispatches to each.

use crate::bytes::Bytes;
use crate::config::Diagnostic;
use crate::config::memory::Memory;
use crate::config::work::Work;

pub mod calibrate;
pub mod check;
pub mod error;
pub mod fit;
pub mod load;
pub mod outputs;
pub mod plot;
pub mod presets;
pub mod report;
pub mod run;
pub mod schema;
pub mod size;
pub mod sweep;
pub mod validate;

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
