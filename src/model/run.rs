//! One run of a model to its horizon: the event loop started, stopped on a
//! stall, too many events or too much memory, and the outcome collected.

use std::time::Instant;

use crate::bytes::Bytes;
use crate::engine::{STALL_EVENTS, SimTime, Simulation, Stopped};
use crate::model::estimate::work;
use crate::model::measure::summary::Summary;
use crate::model::measure::timeseries::Timeseries;
use crate::model::spec::ModelSpec;
use crate::model::system::residue::Residue;
use crate::model::system::{self, AgentSystem};

/// The outcome of one run.
pub struct RunResult {
    pub summary: Summary,
    /// Recorded only when asked for.
    pub timeseries: Option<Timeseries>,
    /// What was left in the system at the horizon.
    pub residue: Residue,
}

/// A run that could not reach its horizon.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error(
        "the run stopped making progress at t = {at_s} s: {events} events at that instant without the clock moving. A model that restarts work at the same instant forever does this, e.g. users with a think time of 0 whose loops fail at once"
    )]
    Stalled { at_s: f64, events: u64 },
    /// A trace replayed by a class could not be read to the end of its window.
    #[error("{0}")]
    Trace(String),
    #[error(
        "the run was stopped at t = {at_s} s after {events} events, {margin} times the {estimate:.2e} its model was estimated to make: something in it restarts work far faster than a run should, e.g. users who think for a moment and whose loops fail at once, or a timer of a microsecond; `loopcap check` shows the estimate"
    )]
    OverEvents {
        at_s: f64,
        events: u64,
        estimate: f64,
        margin: f64,
    },
    #[error("{}", over_memory(*.at_s, *.bytes, *.limit, .residue, *.pending_events))]
    OverMemory {
        at_s: f64,
        bytes: Bytes,
        limit: Bytes,
        /// What the state held when the run stopped.
        residue: Residue,
        pending_events: usize,
    },
}

fn over_memory(at_s: f64, bytes: Bytes, limit: Bytes, held: &Residue, events: usize) -> String {
    let cause = if held.queued as usize >= held.attempts / 2 && held.queued > 0 {
        "Most of it is the lane queue, which grows without bound: the load offered exceeds the lanes. Set capacity.queue_limit, add lanes or lower the load"
    } else {
        "Lower the load or shorten the run, or raise the limit with --memory-limit if the machine has the memory"
    };
    format!(
        "the run was stopped at t = {at_s} s, its state ({bytes}) over the memory limit of {limit}: {} loops, {} calls and {} attempts live, {} attempts queued for a lane, {events} events pending. {cause}",
        held.loops, held.calls, held.attempts, held.queued
    )
}

/// How to run a model, beyond the model itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Record the time series.
    pub timeseries: bool,
    /// Declare the run stalled after this many events at one instant.
    pub stall_events: u64,
    /// Stop the run when its state holds more than this many bytes.
    pub memory_limit: Bytes,
    /// The events a run may be estimated to handle (`--max-events`): a run
    /// is stopped past [`work::RUN_MARGIN`] times this, or times its own
    /// estimate (plus [`work::RUN_SLACK`]), whichever comes first.
    pub max_events: u64,
}

/// The state a run may hold unless told otherwise: far above any shipped
/// model (a few MiB), below what a small machine has.
pub const MEMORY_LIMIT: Bytes = Bytes(4 << 30);

impl RunOptions {
    pub fn new(timeseries: bool) -> Self {
        RunOptions {
            timeseries,
            stall_events: STALL_EVENTS,
            memory_limit: MEMORY_LIMIT,
            max_events: u64::MAX,
        }
    }
}

/// Runs `spec` once with its seed, to its horizon.
pub fn simulate(spec: &ModelSpec, timeseries: bool) -> Result<RunResult, RunError> {
    simulate_with(spec, RunOptions::new(timeseries), |_, _| {})
}

/// [`simulate`] with options, showing `observe` every event as it is handled.
pub fn simulate_with(
    spec: &ModelSpec,
    options: RunOptions,
    observe: impl FnMut(SimTime, &system::Event),
) -> Result<RunResult, RunError> {
    let wall = Instant::now();
    let estimate = work::total(&work::estimate(spec));
    let mut sim = Simulation::new(AgentSystem::new(spec, options.timeseries))
        .stall_after(options.stall_events)
        .memory_limit(usize::try_from(options.memory_limit.0).unwrap_or(usize::MAX))
        .event_limit(
            work::run_limit(estimate)
                .min(options.max_events.saturating_mul(work::RUN_MARGIN as u64)),
        );
    sim.init(|system, cx| system.start(cx));
    let horizon = SimTime::ZERO + spec.duration;
    match sim.run_until_observed(horizon, observe) {
        Ok(()) => {}
        Err(Stopped::Stalled { at, events }) => {
            return Err(RunError::Stalled {
                at_s: at.as_secs_f64(),
                events,
            });
        }
        Err(Stopped::OverEvents { at, events }) => {
            return Err(RunError::OverEvents {
                at_s: at.as_secs_f64(),
                events,
                estimate,
                margin: work::RUN_MARGIN,
            });
        }
        Err(Stopped::OverMemory { at, bytes }) => {
            let pending_events = sim.pending();
            return Err(RunError::OverMemory {
                at_s: at.as_secs_f64(),
                bytes: Bytes(bytes as u64),
                limit: options.memory_limit,
                residue: sim.model_mut().residue(at),
                pending_events,
            });
        }
    }
    if let Some(e) = sim.model_mut().trace_error() {
        return Err(RunError::Trace(e.message.clone()));
    }
    let events = sim.events();
    let wall_s = wall.elapsed().as_secs_f64();
    let mut system = sim.into_model();
    let residue = system.residue(horizon);
    let (summary, timeseries) = system.finish(horizon, events, wall_s);
    Ok(RunResult {
        summary,
        timeseries,
        residue,
    })
}
