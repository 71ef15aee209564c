//! The agent system as an event-driven model: users start loops, loops issue
//! calls, calls make attempts on capacity, failed attempts back off and retry.
//!
//! Events due at the same instant are handled in this order (then FIFO):
//! 1. `AttemptFinished`, `BatchDone`, `ReplicaWake`: completions first, so a freed slot,
//!    lane or refund is visible to everything else happening at that instant;
//! 2. `AttemptTimedOut`: an attempt that finishes exactly at its timeout succeeds;
//! 3. `DeadlineReached`: likewise, a loop finishing at its deadline completes;
//! 4. `SurgeChanged`, `PhaseSwitched`, `FaultChanged`, `Autoscale`: the world changes
//!    before new work arrives in it;
//! 5. `ThinkTimeEnded`, `LoopArrived`, `RequestDue`: new loops;
//! 6. `ToolFinished`: the next step of a running loop;
//! 7. `BackoffEnded`, `ThrottleReleased`, `GateOpened`, `BatchClosed`,
//!    `ReplicaStart`: attempts leaving the client's own waits, last, after
//!    every completion at that instant (so a call arriving as a batch
//!    closes joins it, and calls sent together to an idle vLLM replica
//!    share its first step).

use crate::engine::{
    Ctx, EventQueue, Key, Model, Place, RandomStreams, SimDuration, SimTime, Slab, Stream,
};
use crate::model::capacity::admission::Request;
use crate::model::capacity::kind::{Capacity, CapacitySpec};
use crate::model::capacity::pool::FailoverState;
use crate::model::capacity::prompt_cache::PromptCaches;
use crate::model::capacity::self_hosted::SelfHostedSpec;
use crate::model::capacity::shared_limits::NestedLimits;
use crate::model::client::coordinated_throttle::Charge;
use crate::model::client::resilience::Resilience;
use crate::model::measure::metrics::{CLASS_METRICS_BYTES, Levels, Metrics, RunFacts};
use crate::model::measure::summary::Summary;
use crate::model::measure::timeseries::Timeseries;
use crate::model::spec::ModelSpec;
use crate::model::workload::agent_loop::{AgentProfile, CallState, LoopOutcome, LoopState};
use crate::model::workload::classes::{Arrivals, ClassState, Population};
use crate::model::workload::session_stream::SessionStream;
use crate::model::workload::trace::{TraceError, TraceReader, TraceRecord};
use client_load::ClientLoad;
use residue::Residue;

mod attempts;
mod batches;
mod client_load;
mod gate;
mod loops;
mod population;
mod replicas;
pub mod residue;

/// An attempt, and where its call and the call's loop are kept: an event
/// about the attempt reads all three, and has them fetched ahead.
#[derive(Clone, Copy, Debug)]
pub struct AttemptRef {
    pub key: Key,
    call: Place,
    owner: Place,
}

/// A call, and where its loop is kept.
#[derive(Clone, Copy, Debug)]
pub struct CallRef {
    pub key: Key,
    owner: Place,
}

impl CallRef {
    fn new(key: Key, loop_key: Key) -> Self {
        CallRef {
            key,
            owner: loop_key.place(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Event {
    AttemptFinished(AttemptRef),
    AttemptTimedOut(AttemptRef),
    /// A loop's deadline.
    DeadlineReached(Key),
    SurgeChanged {
        class: u16,
    },
    /// An on/off arrival process changes phase.
    PhaseSwitched {
        class: u16,
    },
    /// A closed-population user has finished thinking.
    ThinkTimeEnded {
        class: u16,
        user: u32,
    },
    LoopArrived {
        class: u16,
        generation: u32,
    },
    /// A recorded session's request starts.
    RequestDue {
        class: u16,
        session: u32,
        request: u32,
    },
    /// The tool call after a step is done.
    ToolFinished(Key),
    /// A call's backoff is over.
    BackoffEnded(CallRef),
    /// The client's per-agent rate limit lets a call's attempt go.
    ThrottleReleased(CallRef),
    /// The coordinated throttle's gate lets waiting calls through.
    GateOpened,
    /// A fault begins or ends.
    FaultChanged,
    /// A Batch API pool's batch has collected long enough: submit it.
    BatchClosed {
        pool: u16,
        batch: u32,
    },
    /// A submitted batch is done, or expired.
    BatchDone {
        pool: u16,
        batch: u32,
        expired: bool,
    },
    /// A self-hosted replica's next event: a prefill or decode ends, or it is warm.
    ReplicaWake {
        pool: u16,
        replica: u16,
        generation: u32,
    },
    /// An idle vLLM replica starts a step with the calls that came.
    ReplicaStart {
        pool: u16,
        replica: u16,
        generation: u32,
    },
    /// A self-hosted pool's autoscaler decides.
    Autoscale {
        pool: u16,
    },
}

/// Bytes one pending event holds.
pub const EVENT_BYTES: usize = EventQueue::<Event>::BYTES_PER_EVENT;
/// Bytes a running loop holds, beside its calls.
pub const LOOP_BYTES: usize = Slab::<LoopState>::BYTES_PER_ENTRY;
/// Bytes a call in progress holds: the call, its attempt and its pending event.
pub const CALL_BYTES: usize =
    Slab::<CallState>::BYTES_PER_ENTRY + Slab::<AttemptState>::BYTES_PER_ENTRY + EVENT_BYTES;
/// Bytes one user class holds: its metrics, state and random streams.
pub const CLASS_BYTES: usize =
    CLASS_METRICS_BYTES + size_of::<ClassState>() + size_of::<ClassStreams>();

/// What a router keeps between attempts: a failover router's cool-down,
/// a weighted router's draws.
struct RouterState {
    failover: FailoverState,
    rng: Stream,
}

/// A class's trace as it is read: one call a row (its reader, and the row
/// whose arrival is scheduled), or sessions.
enum TraceFeed {
    Calls {
        reader: TraceReader,
        next: Option<TraceRecord>,
    },
    Sessions(SessionStream),
}

/// Per-class random streams: arrivals and think times, and the loops' own draws.
struct ClassStreams {
    workload: Stream,
    agent: Stream,
}

/// How a call of a loop's current step ended.
#[derive(Clone, Copy)]
enum CallDone {
    /// Answered, after waiting this long for service since its first attempt.
    Answered { wait: SimDuration },
    /// Failed for good, failing its loop so.
    Failed(LoopOutcome),
    /// A subagent the step spawned ended so.
    Subagent(LoopOutcome),
}

/// One attempt, from the client's send until the provider is done with it.
#[derive(Clone, Copy)]
struct AttemptState {
    call: Key,
    /// Where the call's loop is kept.
    owner: Place,
    /// The pool the router sent it to.
    pool: usize,
    /// The model it calls.
    model: u16,
    sent_at: SimTime,
    request: Request,
    output_tokens: u32,
    service_started_at: SimTime,
    /// The client timed out; the provider still serves it, to no one.
    abandoned: bool,
    /// A timeout event is already pending.
    timeout_scheduled: bool,
    is_retry: bool,
    /// What the retry quota charged for this retry (refunded on success).
    quota_cost: u32,
    /// What the spend cap charged in advance, corrected when it is billed.
    gate_charge: Charge,
}

/// Every call of a class's loops, when they are all alike: one call a step,
/// to one model, with constant tokens. Worked out once, so that a step of
/// the common case draws and looks up nothing.
#[derive(Clone, Copy)]
struct FixedCall {
    model: u16,
    router: usize,
    request: Request,
    shared_input: u32,
    output_tokens: u32,
}

pub struct AgentSystem<'a> {
    spec: &'a ModelSpec,
    classes: Vec<ClassState>,
    streams: Vec<ClassStreams>,
    /// Per class: the agent its loops run.
    agents: Vec<&'a AgentProfile>,
    /// Per class: its calls, when they are all alike.
    fixed_calls: Vec<Option<FixedCall>>,
    /// Per class: the arrivals a minute (before surges) of an open Poisson
    /// stream, whose arrivals need no trace, session or process looked up.
    poisson: Vec<Option<f64>>,
    client_rng: Stream,
    capacity_rng: Stream,
    /// One per pool of the model, in its order.
    pools: Vec<Capacity>,
    /// The limits over several shared API pools together, nested over each
    /// pool's own.
    shared_limits: NestedLimits,
    /// Per router of the model.
    routers: Vec<RouterState>,
    /// The model has a self-hosted pool, whose wake-ups need scheduling.
    hosted: bool,
    /// Per class replaying a trace: its reader and the row arriving next.
    traces: Vec<Option<TraceFeed>>,
    /// A trace that could not be read while the run went on.
    trace_error: Option<TraceError>,
    loops: Slab<LoopState>,
    calls: Slab<CallState>,
    attempts: Slab<AttemptState>,
    load: ClientLoad,
    resilience: Resilience,
    /// A `GateOpened` event is scheduled.
    gate_pending: bool,
    /// Each pool's prompt-cache TTL, if any pool has one.
    cache_ttls: Option<Vec<Option<SimDuration>>>,
    prompt_caches: PromptCaches,
    metrics: Metrics,
}

impl<'a> AgentSystem<'a> {
    pub fn new(spec: &'a ModelSpec, timeseries: bool) -> Self {
        let random = RandomStreams::new(spec.seed);
        AgentSystem {
            spec,
            classes: spec.classes.iter().map(ClassState::new).collect(),
            agents: (0..spec.classes.len())
                .map(|c| spec.agent_for(c as u16))
                .collect(),
            fixed_calls: (0..spec.classes.len())
                .map(|c| FixedCall::of(spec, c as u16))
                .collect(),
            poisson: spec
                .classes
                .iter()
                .map(|c| match c.population {
                    Population::Open(Arrivals::Poisson { per_min }) => Some(per_min),
                    _ => None,
                })
                .collect(),
            streams: spec
                .classes
                .iter()
                .map(|c| ClassStreams {
                    workload: random.stream(&format!("workload/{}", c.name)),
                    agent: random.stream(&format!("agent/{}", c.name)),
                })
                .collect(),
            client_rng: random.stream("client"),
            capacity_rng: random.stream("capacity"),
            pools: spec
                .pools
                .iter()
                .map(|p| Capacity::new(&p.capacity, SimTime::ZERO + spec.warmup))
                .collect(),
            shared_limits: NestedLimits::new(
                &spec.shared_limits,
                spec.pools.len(),
                SimTime::ZERO + spec.warmup,
            ),
            hosted: spec
                .pools
                .iter()
                .any(|p| matches!(p.capacity, CapacitySpec::SelfHosted(_))),
            traces: spec.classes.iter().map(|_| None).collect(),
            trace_error: None,
            routers: (0..spec.routers.len())
                .map(|r| RouterState {
                    failover: FailoverState::default(),
                    rng: random.stream(&format!("router/{r}")),
                })
                .collect(),
            loops: Slab::new(),
            calls: Slab::new(),
            attempts: Slab::new(),
            load: ClientLoad::default(),
            resilience: Resilience::new(&spec.client.policies),
            gate_pending: false,
            cache_ttls: spec
                .pools
                .iter()
                .any(|p| p.capacity.cache_ttl().is_some())
                .then(|| spec.pools.iter().map(|p| p.capacity.cache_ttl()).collect()),
            prompt_caches: PromptCaches::default(),
            metrics: Metrics::new(spec.metrics_setup(), timeseries),
        }
    }

    /// Schedules every class's first arrivals, phase switches and surges.
    pub fn start(&mut self, cx: &mut Ctx<'_, Self>) {
        let spec = self.spec;
        for (index, class) in spec.classes.iter().enumerate() {
            let c = index as u16;
            match &class.population {
                // A profile may start the day with fewer users than the class has.
                Population::Closed { .. } => {
                    for user in 0..self.classes[index].target_users {
                        self.think(c, user, true, cx);
                    }
                }
                Population::Open(arrivals) | Population::Resampled { arrivals, .. } => {
                    let rng = &mut self.streams[index].workload;
                    let on = arrivals.initial_phase(rng);
                    self.classes[index].on = on;
                    if let Some(length) = arrivals.phase_length(on, rng) {
                        cx.schedule_in(length, Event::PhaseSwitched { class: c });
                    }
                    self.schedule_arrival(c, cx);
                }
                Population::Trace(trace) => {
                    let feed = match &trace.sessions {
                        Some(counts) => {
                            SessionStream::open(trace, counts.clone()).map(TraceFeed::Sessions)
                        }
                        None => TraceReader::open(trace)
                            .map(|reader| TraceFeed::Calls { reader, next: None }),
                    };
                    match feed {
                        Ok(feed) => {
                            self.traces[index] = Some(feed);
                            self.schedule_arrival(c, cx);
                        }
                        Err(e) => self.trace_error = Some(e),
                    }
                }
                Population::Sessions(_) => self.schedule_session(c, 0, cx),
            }
            for surge in &class.surges {
                cx.schedule_at(surge.at, Event::SurgeChanged { class: c });
                cx.schedule_at(surge.end(), Event::SurgeChanged { class: c });
            }
            if let Some(profile) = &class.profile {
                for at in profile.changes(SimTime::ZERO + spec.duration) {
                    cx.schedule_at(at, Event::SurgeChanged { class: c });
                }
            }
        }
        for fault in &spec.faults {
            cx.schedule_at(fault.start, Event::FaultChanged);
            cx.schedule_at(fault.end(), Event::FaultChanged);
        }
        for (pool, p) in spec.pools.iter().enumerate() {
            if let CapacitySpec::SelfHosted(SelfHostedSpec {
                autoscale: Some(scale),
                ..
            }) = &p.capacity
            {
                cx.schedule_in(scale.interval, Event::Autoscale { pool: pool as u16 });
            }
        }
    }

    /// Why a trace could not be replayed to its end, if one could not.
    pub fn trace_error(&self) -> Option<&TraceError> {
        self.trace_error.as_ref()
    }

    /// What is left in the system at `now`, counted from its state rather
    /// than from the metrics.
    pub fn residue(&mut self, now: SimTime) -> Residue {
        let (in_service, queued) = self.pool_load();
        Residue {
            loops: self.loops.len(),
            calls: self.calls.len(),
            attempts: self.attempts.len(),
            in_service,
            queued,
            backing_off: self.load.backing_off(),
            waiting_at_gate: self
                .resilience
                .gate
                .as_ref()
                .is_some_and(|g| g.has_waiting()),
            buckets_full: self.pools.iter_mut().all(|p| p.buckets_full(now)),
        }
    }

    /// Attempts in service and attempts waiting for a lane, over every pool
    /// (read after every event: one pool is read in line).
    #[inline(always)]
    fn pool_load(&self) -> (u32, u32) {
        match self.pools.as_slice() {
            [only] => only.load(),
            pools => total_load(pools),
        }
    }

    /// Closes the books at the horizon.
    pub fn finish(
        mut self,
        horizon: SimTime,
        events: u64,
        wall_s: f64,
    ) -> (Summary, Option<Timeseries>) {
        let mut in_flight = vec![0u64; self.spec.classes.len()];
        for lp in self
            .loops
            .values()
            .filter(|l| l.in_cohort && l.parent().is_none())
        {
            in_flight[usize::from(lp.class)] += 1;
        }
        let classes = self
            .spec
            .classes
            .iter()
            .zip(in_flight)
            .map(|(c, n)| (c.name.as_str(), n))
            .collect();
        let replica_stats = self
            .pools
            .iter_mut()
            .map(|p| p.self_hosted().map(|fleet| fleet.stats(horizon).clone()))
            .collect();
        self.metrics.finish(&RunFacts {
            replica_stats,
            model: &self.spec.name,
            seed: self.spec.seed,
            start: self.spec.start,
            horizon,
            classes,
            pools: &self.spec.pools,
            shared_limits: &self.spec.shared_limits,
            accounts: &self.spec.accounts,
            models: &self.spec.models,
            retry_after: self.spec.client.retry_after,
            events,
            wall_s,
        })
    }
}

/// Attempts in service and attempts waiting over `pools`.
#[inline(never)]
fn total_load(pools: &[Capacity]) -> (u32, u32) {
    pools
        .iter()
        .map(Capacity::load)
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
}

impl Model for AgentSystem<'_> {
    type Event = Event;

    fn rank(event: &Event) -> u8 {
        match event {
            Event::AttemptFinished(_) | Event::BatchDone { .. } | Event::ReplicaWake { .. } => 0,
            Event::AttemptTimedOut(_) => 1,
            Event::DeadlineReached(_) => 2,
            Event::SurgeChanged { .. }
            | Event::PhaseSwitched { .. }
            | Event::FaultChanged
            | Event::Autoscale { .. } => 3,
            Event::ThinkTimeEnded { .. } | Event::LoopArrived { .. } | Event::RequestDue { .. } => {
                4
            }
            Event::ToolFinished(_) => 5,
            Event::BackoffEnded(_)
            | Event::ThrottleReleased(_)
            | Event::GateOpened
            | Event::BatchClosed { .. }
            | Event::ReplicaStart { .. } => 6,
        }
    }

    fn handle(&mut self, event: Event, cx: &mut Ctx<'_, Self>) {
        match event {
            Event::AttemptFinished(a) => self.on_attempt_finished(a.key, cx),
            Event::AttemptTimedOut(a) => self.on_attempt_timed_out(a.key, cx),
            Event::DeadlineReached(l) => self.on_deadline(l, cx),
            Event::SurgeChanged { class } => self.on_surge_changed(class, cx),
            Event::PhaseSwitched { class } => self.on_phase_switched(class, cx),
            Event::ThinkTimeEnded { class, user } => self.on_think_time_ended(class, user, cx),
            Event::LoopArrived { class, generation } => self.on_loop_arrived(class, generation, cx),
            Event::RequestDue {
                class,
                session,
                request,
            } => self.on_request_due(class, session, request, cx),
            Event::ToolFinished(l) => self.on_tool_finished(l, cx),
            Event::BackoffEnded(c) => self.on_backoff_ended(c.key, cx),
            Event::ThrottleReleased(c) => self.on_throttle_released(c.key, cx),
            Event::GateOpened => self.on_gate_opened(cx),
            Event::FaultChanged => self.on_fault_changed(cx),
            Event::BatchClosed { pool, batch } => self.submit_batch(usize::from(pool), batch, cx),
            Event::BatchDone {
                pool,
                batch,
                expired,
            } => self.on_batch_done(usize::from(pool), batch, expired, cx),
            Event::ReplicaWake {
                pool,
                replica,
                generation,
            }
            | Event::ReplicaStart {
                pool,
                replica,
                generation,
            } => self.on_replica_wake(usize::from(pool), replica, generation, cx),
            Event::Autoscale { pool } => self.on_autoscale(usize::from(pool), cx),
        }
        let (in_flight, queued) = self.pool_load();
        self.metrics.observe(
            cx.now(),
            Levels {
                in_flight,
                queued,
                backing_off: self.load.backing_off(),
                loops_in_flight: self.load.own_loops(self.loops.len()),
            },
        );
        if self.spec.reports_pools {
            let now = cx.now();
            for (i, pool) in self.pools.iter().enumerate() {
                let level = || pool.fleet_level(now);
                let alive = pool.replicas_alive();
                self.metrics
                    .observe_pool(now, i, (pool.load().0, alive), level);
            }
        }
    }

    /// Fetches the attempt, call and loop the next event will read: with
    /// 10^5 users they are far out of cache, and fetched while the current
    /// event is handled they cost little.
    #[inline(always)]
    fn prefetch(&self, next: &Event) {
        match *next {
            Event::AttemptFinished(a) | Event::AttemptTimedOut(a) => {
                self.attempts.prefetch(a.key.place());
                self.calls.prefetch(a.call);
                self.loops.prefetch(a.owner);
            }
            Event::DeadlineReached(l) | Event::ToolFinished(l) => self.loops.prefetch(l.place()),
            Event::BackoffEnded(c) | Event::ThrottleReleased(c) => {
                self.calls.prefetch(c.key.place());
                self.loops.prefetch(c.owner);
            }
            _ => {}
        }
    }

    fn state_bytes(&self) -> usize {
        self.loops.bytes()
            + self.calls.bytes()
            + self.attempts.bytes()
            + self.pool_load().1 as usize * size_of::<Key>()
    }
}
