//! The domain: workload, agent loops, capacity kinds, client policy, prices
//! and metrics, assembled into one simulation of one model.

pub mod adaptive_throttle;
pub mod agent_loop;
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

use crate::engine::{SimDuration, SimTime, Simulation};
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
}

/// Runs `spec` once with its seed, to its horizon.
pub fn simulate(spec: &ModelSpec, timeseries: bool) -> RunResult {
    let wall = Instant::now();
    // Faults need the goodput over time for their verdict.
    let timeseries = timeseries || !spec.faults.is_empty();
    let mut sim = Simulation::new(AgentSystem::new(spec, timeseries));
    sim.init(|system, cx| system.start(cx));
    let horizon = SimTime::ZERO + spec.duration;
    sim.run_until(horizon);
    let events = sim.events();
    let wall_s = wall.elapsed().as_secs_f64();
    let (summary, timeseries) = sim.into_model().finish(horizon, events, wall_s);
    RunResult {
        summary,
        timeseries,
    }
}
