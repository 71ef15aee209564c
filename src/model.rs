//! The domain: workload, agent loops, capacity kinds, client policy, prices
//! and metrics, assembled into one simulation of one model.

pub mod adaptive_throttle;
pub mod agent_loop;
pub mod batch;
pub mod bound;
pub mod by_model;
pub mod capacity;
pub mod circuit_breaker;
pub mod client_policy;
pub mod coordinated_throttle;
pub mod distribution;
pub mod fault;
pub mod footprint;
pub mod llm;
pub mod metrics;
pub mod pool;
pub mod prices;
pub mod prompt_cache;
pub mod rate_limit;
pub mod recovery;
pub mod reserved;
pub mod resilience;
pub mod retry_budget;
pub mod retry_quota;
pub mod retry_throttle;
pub mod self_hosted;
pub mod service_time;
pub mod session_stream;
pub mod sessions;
pub mod shared_api;
pub mod summary;
pub mod system;
pub mod timeseries;
pub mod token_bucket;
pub mod trace;
pub mod window;
pub mod work;
pub mod workload;

use std::time::Instant;

use crate::bytes::Bytes;
use crate::engine::{STALL_EVENTS, SimDuration, SimTime, Simulation, Stopped};
use agent_loop::AgentProfile;
use capacity::CapacitySpec;
use client_policy::ClientPolicy;
use fault::Fault;
use llm::Llm;
use pool::{PoolSpec, Router};
use recovery::RecoveryRule;
use shared_api::SharedApiSpec;
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
    /// The LLMs the agents call: those of `[models]`, or one unnamed.
    pub models: Vec<Llm>,
    /// Whether the model declares `[models]`, so the summary reports each.
    pub reports_models: bool,
    /// At least one; a model written with `[capacity]` has one.
    pub pools: Vec<PoolSpec>,
    /// The distinct routers; a model written with `[capacity]` has one.
    pub routers: Vec<Router>,
    /// Per user class and model, an index into `routers` (the class's
    /// router over the pools serving the model; none for a model the
    /// class's agent never calls).
    pub router_of: Vec<Vec<Option<usize>>>,
    /// Whether the model declares `[[pool]]`s, so the summary reports each.
    pub reports_pools: bool,
    pub client: ClientPolicy,
    pub faults: Vec<Fault>,
    pub recovery: RecoveryRule,
    /// The `[[window]]`s the model names (surge and fault windows come on
    /// their own: see [`window::windows`]).
    pub windows: Vec<window::Window>,
}

impl ModelSpec {
    /// The router of user class `class`'s calls to model `model`.
    pub fn router_of(&self, class: u16, model: u16) -> usize {
        self.router_of[usize::from(class)][usize::from(model)]
            .expect("a class's agent calls only the models it has routers for")
    }

    /// The routers of every class and model a class's agent calls.
    fn used_routers(&self) -> impl Iterator<Item = &Router> {
        self.router_of
            .iter()
            .flatten()
            .flatten()
            .map(|&r| &self.routers[r])
    }

    /// The pool user class `class`'s attempts go to first, or most often
    /// (for its first model, when it calls several).
    pub fn entry_pool(&self, class: usize) -> &PoolSpec {
        let router = self.router_of[class]
            .iter()
            .flatten()
            .next()
            .expect("a class's agent calls a model");
        &self.pools[self.routers[*router].entry()]
    }

    /// The pool that takes what no other can, when every class's router
    /// (for every model) has the same one: the only pool, or the last a
    /// spillover offers to.
    pub fn last_pool(&self) -> Option<&PoolSpec> {
        let mut last = self.used_routers().map(Router::last_resort);
        let first = last.next().flatten()?;
        last.all(|p| p == Some(first)).then(|| &self.pools[first])
    }

    /// The same model on capacity that never limits or queues: each
    /// shared API without its limits and overload errors, reserved lanes
    /// as such an API with the lanes' service time. Batch APIs and
    /// self-hosted fleets, whose service depends on how they are filled,
    /// stay as they are. The workload's own figures: a floor no capacity beats.
    pub fn with_unlimited_capacity(&self) -> ModelSpec {
        let mut spec = self.clone();
        for pool in &mut spec.pools {
            let service = match &pool.capacity {
                CapacitySpec::SharedApi(s) => s.service.clone(),
                CapacitySpec::Reserved(r) => r.service.clone(),
                CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => continue,
            };
            pool.capacity = CapacitySpec::SharedApi(SharedApiSpec::unlimited(service));
        }
        spec
    }

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
