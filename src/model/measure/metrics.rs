//! Metrics collection in streaming structures: counters, HDR histograms and
//! time-weighted gauges, so memory stays flat however long the horizon.

use crate::model::measure::by_model::{LimitTally, ModelTally};
use crate::model::workload::llm::Llm;

use crate::engine::{SimDuration, SimTime};
use crate::model::capacity::admission::Rejection;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::capacity::self_hosted::{FleetLevel, ReplicaStats};
use crate::model::capacity::shared_limits::{Account, SharedLimits};
use crate::model::client::policy::RetryAfter;
use crate::model::fault::Fault;
use crate::model::measure::recovery::RecoveryRule;
use crate::model::measure::recovery::{FaultWatch, FaultWatches};
use crate::model::measure::timeseries::{Counter, Timeseries};
use crate::model::measure::window::Window;
use crate::model::prices::{TokenUse, Tokens};
use crate::model::workload::agent_loop::{LoopOutcome, LoopState};

mod finish;
mod groups;
mod measures;

pub use groups::{CLASS_METRICS_BYTES, WINDOW_METRICS_BYTES};
use groups::{ClassMetrics, PoolMetrics, WindowMetrics, refusal_index};
use measures::{Count, Counts, QueueTrend, Recorder, WindowGauge};

/// Levels observed after every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels {
    pub in_flight: u32,
    pub queued: u32,
    pub backing_off: u32,
    pub loops_in_flight: u32,
}

/// What the summary needs beyond the metrics themselves.
pub struct RunFacts<'a> {
    pub model: &'a str,
    pub seed: u64,
    /// Where t = 0 falls in the week, when the model names its start.
    pub start: Option<SimDuration>,
    pub horizon: SimTime,
    /// Per class, in model order: its name and its cohort loops still running.
    pub classes: Vec<(&'a str, u64)>,
    pub pools: &'a [PoolSpec],
    /// The limits over several pools: `[organization]`, `[shared_limits]`.
    pub shared_limits: &'a [SharedLimits],
    /// The provider accounts whose one spend cap several pools spend against.
    pub accounts: &'a [Account],
    /// The models' names, when the model reports each.
    pub models: &'a [Llm],
    /// Per pool: a self-hosted pool's own figures.
    pub replica_stats: Vec<Option<ReplicaStats>>,
    /// The client's retry-after mode, which moves results a lot under token-bucket pressure.
    pub retry_after: RetryAfter,
    pub events: u64,
    pub wall_s: f64,
}

/// What a run's metrics measure, from its model
/// ([`ModelSpec::metrics_setup`](crate::model::spec::ModelSpec::metrics_setup)).
pub struct Setup<'a> {
    /// The measured window starts after it.
    pub warmup: SimDuration,
    pub duration: SimDuration,
    pub timeseries_bin: SimDuration,
    /// Per class, in model order: whether it replays recorded sessions
    /// (and so counts the sessions it starts).
    pub replays_sessions: Vec<bool>,
    /// Every pool of the model.
    pub pools: &'a [PoolSpec],
    /// Whether the summary reports each pool.
    pub reports_pools: bool,
    /// How many groups of limits over several pools the model has.
    pub shared_limits: usize,
    /// The models the summary reports each (none unless the model declares `[models]`).
    pub reported_models: usize,
    /// The pool that takes what no other can, when there is one.
    pub last_pool: Option<&'a PoolSpec>,
    pub faults: &'a [Fault],
    pub recovery: RecoveryRule,
    pub windows: Vec<Window>,
}

pub struct Metrics {
    window_start: SimTime,
    classes: Vec<ClassMetrics>,
    /// The run's counts over the measured window.
    counts: Counts,
    tokens: TokenUse,
    /// Per pool of a model that reports its pools; none otherwise (its one
    /// pool's figures are the totals).
    pools: Vec<PoolMetrics>,
    /// Per model of a model that declares `[models]`; none otherwise.
    models: Vec<ModelTally>,
    /// The run's 429s, by the limit that refused them.
    limits: LimitTally,
    /// The 429s of each group of limits over several pools, in model order.
    groups: Vec<LimitTally>,
    /// Answered calls that waited at all before the service that answered them.
    waited: u64,
    steps_per_loop: Recorder,
    step_latency: Recorder,
    queue_wait: Recorder,
    /// Attempts in flight, then loops in flight.
    in_flight: WindowGauge<2>,
    /// Reserved capacity only.
    lane_queue: Option<QueueTrend>,
    timeseries: Option<Timeseries>,
    /// Goodput per bin, folded into each fault's verdict as bins close.
    faults: Option<Timeseries<FaultWatches>>,
    windows: Vec<WindowMetrics>,
    /// Models with self-hosted pools: warm loops, then cold ones.
    warmth: Option<Box<[ClassMetrics; 2]>>,
}

impl Metrics {
    /// The metrics of a run set up as `spec` says, with its time series if `timeseries`.
    pub fn new(spec: Setup<'_>, timeseries: bool) -> Self {
        let window_start = SimTime::ZERO + spec.warmup;
        let watches: Vec<_> = spec
            .faults
            .iter()
            .map(|f| FaultWatch::new(*f, window_start, spec.recovery))
            .collect();
        Metrics {
            window_start,
            classes: spec
                .replays_sessions
                .iter()
                .map(|&sessions| ClassMetrics::new(sessions))
                .collect(),
            counts: Counts::default(),
            tokens: TokenUse::default(),
            models: (0..spec.reported_models)
                .map(|_| ModelTally::new(spec.pools.len()))
                .collect(),
            limits: LimitTally::default(),
            groups: vec![LimitTally::default(); spec.shared_limits],
            pools: spec
                .pools
                .iter()
                .filter(|_| spec.reports_pools)
                .map(|p| PoolMetrics {
                    attempts: 0,
                    served: 0,
                    refused: [0; 6],
                    limits: LimitTally::default(),
                    timed_out: 0,
                    expired: 0,
                    cool_downs: 0,
                    tokens: TokenUse::default(),
                    in_flight: WindowGauge::new(),
                    replicas: WindowGauge::new(),
                    first_token: matches!(p.capacity, CapacitySpec::SelfHosted(_))
                        .then(Recorder::durations),
                    per_token: matches!(p.capacity, CapacitySpec::SelfHosted(_))
                        .then(Recorder::durations),
                })
                .collect(),
            waited: 0,
            steps_per_loop: Recorder::new(1.0),
            step_latency: Recorder::durations(),
            queue_wait: Recorder::durations(),
            in_flight: WindowGauge::new(),
            // Only the last pool's queue can grow without bound: the others
            // hold at most what the router lets them queue.
            lane_queue: match spec.last_pool.map(|p| &p.capacity) {
                Some(CapacitySpec::Reserved(r)) => Some(QueueTrend {
                    middle: window_start
                        + SimDuration::from_ticks(
                            (spec.duration.ticks() - spec.warmup.ticks()) / 2,
                        ),
                    at_middle: None,
                    emptied_after: false,
                    level: 0,
                    limited: r.queue_limit.is_some(),
                }),
                _ => None,
            },
            timeseries: timeseries.then(|| {
                let pools = if spec.reports_pools { spec.pools } else { &[] };
                Timeseries::new(spec.timeseries_bin).with_pools(pools.iter().map(|p| {
                    (
                        p.name.clone(),
                        matches!(p.capacity, CapacitySpec::SelfHosted(_)),
                    )
                }))
            }),
            faults: (!watches.is_empty())
                .then(|| Timeseries::with_sink(spec.timeseries_bin, FaultWatches(watches))),
            windows: spec
                .windows
                .into_iter()
                .map(|w| WindowMetrics::new(w, spec.pools.len()))
                .collect(),
            warmth: spec
                .pools
                .iter()
                .any(|p| matches!(p.capacity, CapacitySpec::SelfHosted(_)))
                .then(|| Box::new([ClassMetrics::new(false), ClassMetrics::new(false)])),
        }
    }

    fn in_window(&self, now: SimTime) -> bool {
        now >= self.window_start
    }

    fn tick(&mut self, now: SimTime, counter: Counter) {
        if let Some(ts) = &mut self.timeseries {
            ts.count(now, counter);
        }
        self.window_tick(now, counter);
    }

    fn window_tick(&mut self, now: SimTime, counter: Counter) {
        if self.windows.is_empty() {
            return;
        }
        for w in self.windows.iter_mut().filter(|w| w.window.contains(now)) {
            w.counts[counter as usize] += 1;
        }
    }

    /// Counts an arrival (the first request of a session if `opens_session`);
    /// returns whether the loop belongs to the measured cohort.
    #[inline(always)]
    pub fn loop_arrived(&mut self, now: SimTime, class: u16, opens_session: bool) -> bool {
        self.tick(now, Counter::Arrivals);
        let in_cohort = self.in_window(now);
        if in_cohort {
            let class = &mut self.classes[usize::from(class)];
            class.started += 1;
            class.gaps.arrival(now);
            if let Some(sessions) = class.sessions.as_mut().filter(|_| opens_session) {
                *sessions += 1;
            }
        }
        in_cohort
    }

    #[inline(always)]
    pub fn loop_ended(&mut self, now: SimTime, lp: &LoopState, outcome: LoopOutcome) {
        let in_window = u64::from(self.in_window(now));
        let latency = now.since(lp.arrived_at).ticks();
        if outcome == LoopOutcome::Completed {
            if let Some(ts) = &mut self.timeseries {
                ts.loop_completed(now, latency);
            }
            self.window_tick(now, Counter::LoopsCompleted);
            if let Some(goodput) = &mut self.faults {
                goodput.count(now, Counter::LoopsCompleted);
            }
        } else {
            self.tick(now, Counter::LoopsFailed);
        }
        for w in self
            .windows
            .iter_mut()
            .filter(|w| w.window.contains(lp.arrived_at))
        {
            if outcome == LoopOutcome::Completed {
                w.completed += 1;
                w.latency.record(latency);
            } else {
                w.failed += 1;
            }
        }
        if let Some(groups) = &mut self.warmth {
            let group = &mut groups[usize::from(lp.cold)];
            if outcome == LoopOutcome::Completed {
                group.completions_in_window += in_window;
            }
            if lp.in_cohort {
                if outcome == LoopOutcome::Completed {
                    group.completed += 1;
                    group.latency.record(latency);
                } else {
                    group.failed += 1;
                }
            }
        }
        let class = &mut self.classes[usize::from(lp.class)];
        if outcome == LoopOutcome::Completed {
            class.completions_in_window += in_window;
        }
        if !lp.in_cohort {
            return;
        }
        match outcome {
            LoopOutcome::Completed => {
                class.completed += 1;
                class.latency.record(latency);
                self.steps_per_loop.record(u64::from(lp.steps_done));
                return;
            }
            LoopOutcome::Exhausted => self.counts[Count::LoopsExhausted] += 1,
            LoopOutcome::Deadline => self.counts[Count::LoopsDeadline] += 1,
            LoopOutcome::TooLarge => self.counts[Count::LoopsTooLarge] += 1,
            LoopOutcome::RetryDenied => self.counts[Count::LoopsDenied] += 1,
        }
        class.failed += 1;
    }

    /// The router sent an attempt (a retry or a call's first) for `model`
    /// to `pool`, which `refused` it or not.
    #[inline]
    pub fn attempt_offered(
        &mut self,
        now: SimTime,
        pool: usize,
        model: u16,
        is_retry: bool,
        refused: bool,
    ) {
        self.tick(now, Counter::Attempts);
        if is_retry {
            self.tick(now, Counter::Retries);
        }
        let counted = self.in_window(now);
        if counted {
            self.counts[Count::Attempts] += 1;
            self.counts[Count::Retries] += u64::from(is_retry);
            // A call counts when its first attempt goes out, which a client
            // throttle may delay past its start.
            self.counts[Count::Calls] += u64::from(!is_retry);
            if let Some(m) = self.models.get_mut(usize::from(model)) {
                m.sent();
            }
        }
        if let Some(p) = self.pools.get_mut(pool) {
            p.attempts += u64::from(counted);
            if let Some(ts) = &mut self.timeseries {
                ts.pool_offered(now, pool, refused);
            }
        }
    }

    pub fn attempt_rejected(
        &mut self,
        now: SimTime,
        pool: usize,
        model: u16,
        rejection: Rejection,
    ) {
        let counted = u64::from(self.in_window(now));
        if let Rejection::RateLimited { limit, group, .. } = rejection {
            let counted = counted == 1;
            self.limits.record(now, limit, counted);
            if let Some(m) = self.models.get_mut(usize::from(model)) {
                m.rate_limited(now, limit, counted);
            }
            // A group's 429 is the group's, not its pool's own limit's.
            match group {
                Some(g) => self.groups[usize::from(g)].record(now, limit, counted),
                None => {
                    if let Some(p) = self.pools.get_mut(pool) {
                        p.limits.record(now, limit, counted);
                    }
                }
            }
        }
        if let Some(p) = self.pools.get_mut(pool) {
            p.refused[refusal_index(rejection)] += counted;
        }
        let (counter, count) = match rejection {
            Rejection::RateLimited { .. } => (Some(Counter::RateLimited), Count::RateLimited),
            Rejection::Overloaded => (Some(Counter::Overloaded), Count::Overloaded),
            Rejection::QueueFull { .. } => (Some(Counter::QueueRejected), Count::QueueRejected),
            Rejection::TooLarge => (None, Count::TooLarge),
            Rejection::Unavailable => (Some(Counter::Errors), Count::Unavailable),
            Rejection::ServerError => (Some(Counter::Errors), Count::ServerErrors),
        };
        self.counts[count] += counted;
        if let Some(counter) = counter {
            self.tick(now, counter);
        }
    }

    /// The client failed an attempt itself, without sending it.
    pub fn attempt_rejected_locally(&mut self, now: SimTime, is_retry: bool) {
        self.tick(now, Counter::RejectedLocally);
        if self.in_window(now) {
            self.counts[Count::RejectedLocally] += 1;
            self.counts[Count::Retries] += u64::from(is_retry);
            self.counts[Count::Calls] += u64::from(!is_retry);
        }
    }

    /// A resilience policy refused a retry.
    pub fn retry_denied(&mut self, now: SimTime) {
        self.counts[Count::RetriesDenied] += u64::from(self.in_window(now));
    }

    /// The client's per-agent rate limit delayed an attempt.
    pub fn attempt_throttled(&mut self, now: SimTime) {
        self.counts[Count::Throttled] += u64::from(self.in_window(now));
    }

    pub fn attempt_timed_out(&mut self, now: SimTime, pool: usize) {
        self.tick(now, Counter::Timeouts);
        let counted = u64::from(self.in_window(now));
        self.counts[Count::Timeouts] += counted;
        if let Some(p) = self.pools.get_mut(pool) {
            p.timed_out += counted;
        }
    }

    /// A Batch API call in `pool` expired unanswered.
    pub fn attempt_expired(&mut self, now: SimTime, pool: usize) {
        let counted = u64::from(self.in_window(now));
        self.counts[Count::Expired] += counted;
        if let Some(p) = self.pools.get_mut(pool) {
            p.expired += counted;
        }
    }

    /// A failover router started cooling `pool` down.
    pub fn cool_down_started(&mut self, now: SimTime, pool: usize) {
        let counted = u64::from(self.in_window(now));
        if let Some(p) = self.pools.get_mut(pool) {
            p.cool_downs += counted;
        }
    }

    /// The provider finished an attempt: its tokens are billed, answered or not.
    #[inline(always)]
    pub fn attempt_billed(
        &mut self,
        now: SimTime,
        pool: usize,
        model: u16,
        (billed, long): (Tokens, bool),
    ) {
        if self.in_window(now) {
            self.tokens.add(billed, long);
            if let Some(m) = self.models.get_mut(usize::from(model)) {
                m.billed(pool, billed, long);
            }
            if let Some(p) = self.pools.get_mut(pool) {
                p.tokens.add(billed, long);
                p.served += 1;
            }
        }
        for w in self.windows.iter_mut().filter(|w| w.window.contains(now)) {
            w.tokens[pool].add(billed, long);
        }
    }

    /// Pool `pool` holds `in_flight` attempts from `now` on, and, if it is
    /// self-hosted, `alive` replicas; `fleet` tells its replicas and KV
    /// cache whole (summing every running sequence's blocks), read only for
    /// the time series.
    pub fn observe_pool(
        &mut self,
        now: SimTime,
        pool: usize,
        (in_flight, alive): (u32, Option<u32>),
        fleet: impl FnOnce() -> Option<FleetLevel>,
    ) {
        let start = self.window_start;
        let p = &mut self.pools[pool];
        p.in_flight.set(now, [u64::from(in_flight)], start);
        // Replica counts change rarely: they are integrated when they do.
        if let Some(alive) = alive
            && u64::from(alive) != p.replicas.level[0]
        {
            self.replicas_to(now, pool, alive);
        }
        if let Some(ts) = &mut self.timeseries {
            ts.observe_pool(now, pool, u64::from(in_flight), fleet());
        }
    }

    /// Integrates self-hosted pool `pool`'s replicas up to `now`, in the run
    /// and in each window, and holds `alive` from then on.
    fn replicas_to(&mut self, now: SimTime, pool: usize, alive: u32) {
        let p = &mut self.pools[pool];
        let ([level], last) = (p.replicas.level, p.replicas.last);
        for w in &mut self.windows {
            let (from, to) = (last.max(w.window.start), now.min(w.window.end));
            if to > from {
                w.replica_ticks[pool] += u128::from(level) * u128::from(to.since(from).ticks());
            }
        }
        p.replicas
            .set_now(now, [u64::from(alive)], self.window_start);
    }

    /// An attempt on self-hosted pool `pool` had its first token `after` it was sent.
    pub fn first_token(&mut self, now: SimTime, pool: usize, after: SimDuration) {
        let counted = self.in_window(now);
        if let Some(ttft) = self
            .pools
            .get_mut(pool)
            .and_then(|p| p.first_token.as_mut())
            && counted
        {
            ttft.record(after.ticks());
        }
    }

    /// An attempt on self-hosted pool `pool` made its output tokens after
    /// the first `per_token_s` seconds apart on average.
    pub fn per_output_token(&mut self, now: SimTime, pool: usize, per_token_s: f64) {
        let counted = self.in_window(now);
        if let Some(tpot) = self.pools.get_mut(pool).and_then(|p| p.per_token.as_mut())
            && counted
        {
            tpot.record(SimDuration::from_secs_f64(per_token_s).ticks());
        }
    }

    /// A call was answered; `wait` ran from its first attempt to the start of
    /// the service that answered it.
    #[inline(always)]
    pub fn call_answered(&mut self, now: SimTime, wait: SimDuration) {
        if self.in_window(now) {
            self.queue_wait.record(wait.ticks());
            self.waited += u64::from(!wait.is_zero());
        }
    }

    #[inline(always)]
    pub fn step_completed(&mut self, now: SimTime, latency: SimDuration) {
        if self.in_window(now) {
            self.step_latency.record(latency.ticks());
        }
    }

    /// Records the levels holding from `now` on.
    #[inline]
    pub fn observe(&mut self, now: SimTime, levels: Levels) {
        let window_start = self.window_start;
        self.in_flight.set(
            now,
            [levels.in_flight, levels.loops_in_flight].map(u64::from),
            window_start,
        );
        if let Some(queue) = &mut self.lane_queue {
            queue.set(now, u64::from(levels.queued));
        }
        for w in self.windows.iter_mut().filter(|w| w.window.contains(now)) {
            w.peak_in_flight = w.peak_in_flight.max(u64::from(levels.in_flight));
        }
        if let Some(ts) = &mut self.timeseries {
            ts.observe(
                now,
                [
                    levels.in_flight,
                    levels.queued,
                    levels.backing_off,
                    levels.loops_in_flight,
                ]
                .map(u64::from),
            );
        }
    }
}

#[cfg(test)]
mod tests;
