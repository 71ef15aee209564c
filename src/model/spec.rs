//! A validated model: everything one run needs, shared read-only by all runs.

use crate::engine::{SimDuration, SimTime};
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::{PoolSpec, Router};
use crate::model::capacity::service_time::ServiceTime;
use crate::model::capacity::shared_api::SharedApiSpec;
use crate::model::capacity::shared_limits::{Account, SharedLimits};
use crate::model::client::policy::ClientPolicy;
use crate::model::distribution::{Dist, DurationDist};
use crate::model::fault::Fault;
use crate::model::measure::metrics::Setup;
use crate::model::measure::recovery::RecoveryRule;
use crate::model::measure::window::{Window, WindowKind};
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::classes::UserClass;
use crate::model::workload::llm::Llm;

/// A validated model: everything one run needs, shared read-only by all runs.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub name: String,
    pub seed: u64,
    /// Where t = 0 falls in the week, from Monday 00:00, when the model
    /// names its start: outputs then show clock times.
    pub start: Option<SimDuration>,
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
    /// Limits over several shared API pools together (the named groups',
    /// then the organization's over every one); none serves a call.
    pub shared_limits: Vec<SharedLimits>,
    /// The provider accounts whose one spend cap several pools spend
    /// against (a pool alone has its own cap, if any).
    pub accounts: Vec<Account>,
    pub faults: Vec<Fault>,
    pub recovery: RecoveryRule,
    /// The `[[window]]`s the model names (surge and fault windows come on
    /// their own: see [`ModelSpec::all_windows`]).
    pub windows: Vec<Window>,
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
    /// as such an API with the lanes' service time, and a self-hosted
    /// fleet as such an API serving each call as a warm replica alone
    /// with it would (its prefill, then decoding at a batch of one): as
    /// many replicas as calls, none ever loading. A Batch API keeps its
    /// batches' latency and collection, without its caps on batches or
    /// tokens in progress. The workload's own figures: a floor no capacity
    /// beats.
    pub fn with_unlimited_capacity(&self) -> ModelSpec {
        let mut spec = self.clone();
        for pool in &mut spec.pools {
            let service = match &mut pool.capacity {
                CapacitySpec::SharedApi(s) => s.service.clone(),
                CapacitySpec::Reserved(r) => r.service.clone(),
                CapacitySpec::SelfHosted(h) => ServiceTime {
                    time_to_first_token: DurationDist::new(
                        Dist::constant(0.0).expect("0 is a constant"),
                    ),
                    prefill_tokens_per_s: Some(h.lone_prefill_tokens_per_s()),
                    output_tokens_per_s: Some(1.0 / h.decode.iteration_s(1, 0)),
                    prefill_makes_first_token: true,
                },
                CapacitySpec::Batch(b) => {
                    b.max_in_progress = None;
                    b.max_queued_requests = None;
                    b.max_queued_tokens = None;
                    continue;
                }
            };
            pool.capacity = CapacitySpec::SharedApi(SharedApiSpec::unlimited(service));
        }
        spec
    }

    /// Every window of the model: its surges (class by class), its faults,
    /// then the named ones, each ending at the horizon at the latest.
    pub fn all_windows(&self) -> Vec<Window> {
        let horizon = SimTime::ZERO + self.duration;
        let surges = self.classes.iter().flat_map(|class| {
            class.surges.iter().enumerate().map(|(i, s)| Window {
                name: format!("surge-{}-{}", class.name, i + 1),
                kind: WindowKind::Surge,
                start: s.at,
                end: s.end(),
            })
        });
        let faults = self.faults.iter().enumerate().map(|(i, f)| Window {
            name: format!("fault-{}", i + 1),
            kind: WindowKind::Fault,
            start: f.start,
            end: f.end(),
        });
        surges
            .chain(faults)
            .chain(self.windows.iter().cloned())
            .map(|mut w| {
                w.end = w.end.min(horizon);
                w
            })
            .collect()
    }
    /// What a run's metrics measure: the model's shape and its windows.
    pub fn metrics_setup(&self) -> Setup<'_> {
        Setup {
            warmup: self.warmup,
            duration: self.duration,
            timeseries_bin: self.timeseries_bin,
            replays_sessions: self
                .classes
                .iter()
                .map(|c| c.population.replays_sessions())
                .collect(),
            pools: &self.pools,
            reports_pools: self.reports_pools,
            shared_limits: self.shared_limits.len(),
            reported_models: if self.reports_models {
                self.models.len()
            } else {
                0
            },
            last_pool: self.last_pool(),
            faults: &self.faults,
            recovery: self.recovery,
            windows: self.all_windows(),
        }
    }

    /// The agent profile that user class `class` runs.
    pub fn agent_for(&self, class: u16) -> &AgentProfile {
        &self.agents[self.classes[usize::from(class)].agent]
    }
}
