//! The domain: workload, agent loops, capacity kinds, client policy, prices
//! and metrics, assembled into one simulation of one model.

pub mod adaptive_throttle;
pub mod agent_loop;
pub mod bound;
pub mod capacity;
pub mod circuit_breaker;
pub mod client_policy;
pub mod coordinated_throttle;
pub mod distribution;
pub mod fault;
pub mod metrics;
pub mod prices;
pub mod rate_limit;
pub mod recovery;
pub mod reserved;
pub mod resilience;
pub mod retry_budget;
pub mod retry_quota;
pub mod retry_throttle;
pub mod service_time;
pub mod shared_api;
pub mod summary;
pub mod system;
pub mod timeseries;
pub mod token_bucket;
pub mod workload;

use std::time::Instant;

use crate::engine::{STALL_EVENTS, SimDuration, SimTime, Simulation, Stalled};
use agent_loop::AgentProfile;
use capacity::CapacitySpec;
use client_policy::ClientPolicy;
use fault::Fault;
use prices::Prices;
use recovery::RecoveryRule;
use summary::Summary;
use system::AgentSystem;
use timeseries::Timeseries;
use workload::UserClass;

/// A validated model: everything one run needs, shared read-only by all runs.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub name: String,
    pub seed: u64,
    /// The horizon: the run ends here, loops still running are counted as in flight.
    pub duration: SimDuration,
    /// Excluded from the summary (but not from the timeseries).
    pub warmup: SimDuration,
    pub timeseries_bin: SimDuration,
    pub classes: Vec<UserClass>,
    pub agents: Vec<AgentProfile>,
    pub capacity: CapacitySpec,
    pub client: ClientPolicy,
    pub prices: Prices,
    pub faults: Vec<Fault>,
    pub recovery: RecoveryRule,
}

impl ModelSpec {
    /// The agent profile that user class `class` runs.
    pub fn agent_for(&self, class: u16) -> &AgentProfile {
        &self.agents[self.classes[usize::from(class)].agent]
    }
}

/// The outcome of one run.
pub struct RunResult {
    pub summary: Summary,
    /// Recorded only when asked for.
    pub timeseries: Option<Timeseries>,
    /// What was left in the system at the horizon.
    pub residue: Residue,
}

/// What is left in the system at the horizon, counted from the simulator's
/// state (not from its metrics): all zero, with every bucket full again,
/// once a run has drained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Residue {
    /// Loops still running (of any cohort).
    pub loops: usize,
    /// Calls still held, waiting or in progress.
    pub calls: usize,
    /// Attempts the provider has not finished.
    pub attempts: usize,
    pub in_service: u32,
    pub queued: u32,
    pub backing_off: u32,
    pub waiting_at_gate: bool,
    pub buckets_full: bool,
}

impl Residue {
    /// Nothing left anywhere, and every bucket full.
    pub fn is_drained(&self) -> bool {
        *self
            == Residue {
                buckets_full: true,
                ..Residue::default()
            }
    }
}

/// A run that could not reach its horizon.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error(
        "the run stopped making progress at t = {at_s} s: {events} events at that instant without the clock moving. A model that restarts work at the same instant forever does this, e.g. users with a think time of 0 whose loops fail at once"
    )]
    Stalled { at_s: f64, events: u64 },
}

impl From<Stalled> for RunError {
    fn from(s: Stalled) -> Self {
        RunError::Stalled {
            at_s: s.at.as_secs_f64(),
            events: s.events,
        }
    }
}

/// How to run a model, beyond the model itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Record the time series (faults record it regardless, for their verdicts).
    pub timeseries: bool,
    /// Declare the run stalled after this many events at one instant.
    pub stall_events: u64,
}

impl RunOptions {
    pub fn new(timeseries: bool) -> Self {
        RunOptions {
            timeseries,
            stall_events: STALL_EVENTS,
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
    // Faults need the goodput over time for their verdict.
    let timeseries = options.timeseries || !spec.faults.is_empty();
    let mut sim =
        Simulation::new(AgentSystem::new(spec, timeseries)).stall_after(options.stall_events);
    sim.init(|system, cx| system.start(cx));
    let horizon = SimTime::ZERO + spec.duration;
    sim.run_until_observed(horizon, observe)?;
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
