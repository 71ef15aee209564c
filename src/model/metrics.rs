//! Metrics collection in streaming structures: counters, HDR histograms and
//! time-weighted gauges, so memory stays flat however long the horizon.

use super::by_model::ModelTally;
use super::llm::Llm;
use std::collections::BTreeMap;

use super::ModelSpec;
use super::agent_loop::LoopState;
use super::capacity::{CapacitySpec, Rejection, Request};
use super::client_policy::RetryAfter;
use super::pool::{PoolSpec, PoolSummary, SelfHostedSummary};
use super::prices::TokenUse;
use super::recovery::{FaultWatch, FaultWatches};
use super::self_hosted::ReplicaStats;
use super::summary::{CDF_QUANTILES, ClassSummary, LoopGroupSummary, Percentiles, Summary};
use super::timeseries::{Counter, Timeseries};
use super::window::{Window, WindowSummary, windows};
use crate::engine::{SimDuration, SimTime, TICKS_PER_SECOND};
#[cfg(not(feature = "hdrhistogram"))]
use crate::histogram::Histogram;
use crate::histogram::MAX_VALUE;
#[cfg(feature = "hdrhistogram")]
use crate::histogram::hdr::Histogram;

/// How a loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopOutcome {
    Completed,
    /// A call used up its attempts.
    Exhausted,
    Deadline,
    /// A call could never fit a token bucket.
    TooLarge,
    /// A resilience policy refused a call's retry.
    RetryDenied,
}

/// A histogram with an exact mean and maximum.
struct Recorder {
    histogram: Histogram,
    sum: u128,
    max: u64,
    /// Divides recorded values to give reported ones (ticks per second for times).
    scale: f64,
}

impl Recorder {
    fn new(scale: f64) -> Self {
        Recorder {
            histogram: Histogram::new(),
            sum: 0,
            max: 0,
            scale,
        }
    }

    fn durations() -> Self {
        Self::new(TICKS_PER_SECOND as f64)
    }

    fn record(&mut self, value: u64) {
        self.histogram.record(value);
        self.sum += u128::from(value);
        self.max = self.max.max(value.min(MAX_VALUE));
    }

    /// The values at each of `quantiles`. HDR reports the top of a value's
    /// bucket, so each is capped at the true maximum.
    fn quantiles(&self, quantiles: &[f64]) -> Option<Vec<f64>> {
        (!self.histogram.is_empty()).then(|| {
            self.histogram
                .values_at_quantiles(quantiles)
                .into_iter()
                .map(|v| v.min(self.max) as f64 / self.scale)
                .collect()
        })
    }

    fn merge(&mut self, other: &Recorder) {
        self.histogram.merge(&other.histogram);
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    fn percentiles(&self) -> Option<Percentiles> {
        let q = self.quantiles(&[0.50, 0.95, 0.99])?;
        let n = self.histogram.len();
        Some(Percentiles {
            p50: q[0],
            p95: q[1],
            p99: q[2],
            max: self.max as f64 / self.scale,
            mean: self.sum as f64 / n as f64 / self.scale,
        })
    }
}

/// The time average and peak of a level over the measured window.
struct WindowGauge {
    level: u64,
    last: SimTime,
    area: u128,
    peak: u64,
}

impl WindowGauge {
    fn new() -> Self {
        WindowGauge {
            level: 0,
            last: SimTime::ZERO,
            area: 0,
            peak: 0,
        }
    }

    fn set(&mut self, now: SimTime, level: u64, window_start: SimTime) {
        if now > window_start {
            let from = self.last.max(window_start);
            self.area += u128::from(self.level) * u128::from(now.since(from).ticks());
            // A level set in the window is in the peak already; one set
            // before it counts from the window's start.
            if self.last < window_start {
                self.peak = self.peak.max(self.level);
            }
        }
        if now >= window_start {
            self.peak = self.peak.max(level);
        }
        self.level = level;
        self.last = now;
    }

    fn mean(&self, window: SimDuration) -> f64 {
        self.area as f64 / window.ticks().max(1) as f64
    }
}

/// Does the lane queue settle? Its length at the middle of the measured
/// window, whether it emptied after, and its length now: a queue that never
/// empties in the second half and ends longer than at the middle is
/// growing, and without a queue limit nothing stops it.
struct QueueTrend {
    middle: SimTime,
    at_middle: Option<u64>,
    emptied_after: bool,
    level: u64,
    /// A queue limit stops it growing.
    limited: bool,
}

impl QueueTrend {
    fn set(&mut self, now: SimTime, level: u64) {
        if now >= self.middle {
            if self.at_middle.is_none() {
                self.at_middle = Some(self.level);
                self.emptied_after = self.level == 0;
            }
            self.emptied_after |= level == 0;
        }
        self.level = level;
    }

    /// Growth per minute over the second half, and whether it grows without bound.
    fn verdict(&self, horizon: SimTime) -> (f64, bool) {
        let at_middle = self.at_middle.unwrap_or(self.level);
        let half_min = horizon.since(self.middle).as_secs_f64() / 60.0;
        let growth = (self.level as f64 - at_middle as f64) / half_min.max(f64::MIN_POSITIVE);
        let growing = !self.emptied_after && self.level > at_middle;
        (growth, growing && !self.limited)
    }
}

/// The figures of one window (see [`super::window`]).
struct WindowMetrics {
    window: Window,
    /// Timeseries counters, of what happened inside the window.
    counts: [u64; Counter::ALL.len()],
    /// Of the loops that arrived in the window, followed to their end.
    completed: u64,
    failed: u64,
    latency: Recorder,
    peak_in_flight: u64,
    /// Tokens billed inside the window, per pool.
    tokens: Vec<TokenUse>,
    /// Self-hosted replicas alive inside the window, in replica-ticks (exact,
    /// like the run's own gauge), per pool.
    replica_ticks: Vec<u128>,
}

impl WindowMetrics {
    fn new(window: Window, pools: usize) -> Self {
        WindowMetrics {
            window,
            counts: [0; Counter::ALL.len()],
            completed: 0,
            failed: 0,
            latency: Recorder::durations(),
            peak_in_flight: 0,
            tokens: vec![TokenUse::default(); pools],
            replica_ticks: vec![0; pools],
        }
    }

    fn summary(&self, pools: &[PoolSpec]) -> WindowSummary {
        let w = &self.window;
        let length = w.end.since(w.start.min(w.end));
        let count = |c: Counter| self.counts[c as usize];
        let ended = self.completed + self.failed;
        let tries = count(Counter::Attempts) + count(Counter::RejectedLocally);
        WindowSummary {
            name: w.name.clone(),
            kind: w.kind.name().to_owned(),
            start_s: w.start.as_secs_f64(),
            end_s: w.end.as_secs_f64(),
            loops_started: count(Counter::Arrivals),
            loops_completed: self.completed,
            loops_failed: self.failed,
            loops_failed_share: failed_share(self.failed, ended),
            loops_per_min: if length.is_zero() {
                0.0
            } else {
                count(Counter::LoopsCompleted) as f64 / (length.as_secs_f64() / 60.0)
            },
            loop_latency_s: self.latency.percentiles(),
            attempts: count(Counter::Attempts),
            retries: count(Counter::Retries),
            rate_limited: count(Counter::RateLimited),
            retry_rate: (tries > 0).then(|| count(Counter::Retries) as f64 / tries as f64),
            peak_in_flight: self.peak_in_flight,
            cost_usd: pools_cost_usd(
                pools,
                &self.tokens,
                length,
                &self
                    .replica_ticks
                    .iter()
                    .map(|&t| t as f64 / TICKS_PER_SECOND as f64)
                    .collect::<Vec<_>>(),
            ),
        }
    }
}

/// What `tokens` (billed per pool), each reserved pool's lanes over
/// `length` and each self-hosted pool's `replica_seconds` cost, at each
/// pool's prices.
fn pools_cost_usd(
    pools: &[PoolSpec],
    tokens: &[TokenUse],
    length: SimDuration,
    replica_seconds: &[f64],
) -> f64 {
    pools
        .iter()
        .zip(tokens)
        .enumerate()
        .map(|(i, (pool, &tokens))| {
            let unit_hours = match &pool.capacity {
                CapacitySpec::Reserved(r) => f64::from(r.lanes) * length.as_secs_f64() / 3600.0,
                CapacitySpec::SelfHosted(_) => {
                    replica_seconds.get(i).copied().unwrap_or(0.0) / 3600.0
                }
                _ => 0.0,
            };
            pool.prices.cost_usd(tokens, unit_hours)
        })
        .sum()
}

/// One pool's counts over the measured window.
struct PoolMetrics {
    attempts: u64,
    served: u64,
    /// Refusals, by [`refusal_index`].
    refused: [u64; 6],
    timed_out: u64,
    expired: u64,
    cool_downs: u64,
    tokens: TokenUse,
    in_flight: WindowGauge,
    /// Self-hosted pools: replicas alive, and time to first token.
    replicas: WindowGauge,
    first_token: Option<Recorder>,
}

/// Where a refusal is counted in [`PoolMetrics::refused`].
fn refusal_index(rejection: Rejection) -> usize {
    match rejection {
        Rejection::RateLimited { .. } => 0,
        Rejection::Overloaded => 1,
        Rejection::QueueFull { .. } => 2,
        Rejection::TooLarge => 3,
        Rejection::Unavailable => 4,
        Rejection::ServerError => 5,
    }
}

impl PoolMetrics {
    fn summary(&self, pool: &PoolSpec, window: SimDuration, cost_usd: f64) -> PoolSummary {
        let mean_in_flight = self.in_flight.mean(window);
        let units = match &pool.capacity {
            CapacitySpec::Reserved(r) => Some(r.lanes),
            CapacitySpec::SharedApi(api) => api.max_concurrency,
            CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => None,
        };
        PoolSummary {
            name: pool.name.clone(),
            kind: pool.capacity.kind().to_owned(),
            attempts: self.attempts,
            served: self.served,
            rate_limited: self.refused[0],
            overloaded: self.refused[1],
            queue_rejected: self.refused[2],
            too_large: self.refused[3],
            unavailable: self.refused[4],
            server_errors: self.refused[5],
            timed_out: self.timed_out,
            expired: self.expired,
            cool_downs: self.cool_downs,
            mean_in_flight,
            busy_share: units.map(|u| mean_in_flight / f64::from(u.max(1))),
            input_tokens: self.tokens.input,
            cached_input_tokens: self.tokens.cached_input,
            cache_write_tokens: self.tokens.cache_write,
            output_tokens: self.tokens.output,
            cost_usd,
            self_hosted: None,
        }
    }
}

/// A self-hosted pool's figures: `p`'s counts, its fleet's `stats`, and
/// the `replica_seconds` alive over the measured `window`.
fn hosted_summary(
    p: &PoolMetrics,
    stats: &ReplicaStats,
    replica_seconds: f64,
    window: SimDuration,
) -> SelfHostedSummary {
    let window_s = window.as_secs_f64();
    let decoding: f64 = stats.batch_seconds.iter().skip(1).sum();
    let mean_batch = (decoding > 0.0).then(|| {
        stats
            .batch_seconds
            .iter()
            .enumerate()
            .map(|(b, s)| b as f64 * s)
            .sum::<f64>()
            / decoding
    });
    // The least batch size with at least 95% of decoding time at or below it.
    let p95_batch = (decoding > 0.0).then(|| {
        let mut below = 0.0;
        stats
            .batch_seconds
            .iter()
            .enumerate()
            .skip(1)
            .find(|&(_, s)| {
                below += s;
                below >= 0.95 * decoding
            })
            .map_or(0.0, |(b, _)| b as f64)
    });
    SelfHostedSummary {
        mean_replicas: replica_seconds / window_s.max(f64::MIN_POSITIVE),
        replica_hours: replica_seconds / 3600.0,
        cold_starts: stats.cold_starts,
        mean_batch,
        p95_batch,
        output_tokens_per_s: p.tokens.output as f64 / window_s.max(f64::MIN_POSITIVE),
        time_to_first_token_s: p.first_token.as_ref().and_then(Recorder::percentiles),
        kv_cache_utilization: (stats.kv_offered > 0.0).then(|| stats.kv_held / stats.kv_offered),
    }
}

/// failed / ended, when any ended.
fn failed_share(failed: u64, ended: u64) -> Option<f64> {
    (ended > 0).then(|| failed as f64 / ended as f64)
}

/// Levels observed after every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Levels {
    pub in_flight: u32,
    pub queued: u32,
    pub backing_off: u32,
    pub loops_in_flight: u32,
}

/// Loop counts and latency of one user class.
/// What one user class's metrics hold: nearly all of it its loop-latency histogram.
pub const CLASS_METRICS_BYTES: usize = size_of::<ClassMetrics>() + Histogram::BYTES;

/// Bytes one window's figures hold: its latency histogram, mostly.
pub const WINDOW_METRICS_BYTES: usize = size_of::<WindowMetrics>() + Histogram::BYTES;

struct ClassMetrics {
    started: u64,
    /// The gaps between the cohort's loop starts.
    gaps: Gaps,
    completed: u64,
    failed: u64,
    completions_in_window: u64,
    latency: Recorder,
}

impl ClassMetrics {
    /// Its figures as a group of loops, over a window of `window_min` minutes.
    fn group_summary(&self, window_min: f64) -> LoopGroupSummary {
        LoopGroupSummary {
            loops_completed: self.completed,
            loops_failed: self.failed,
            loops_failed_share: failed_share(self.failed, self.completed + self.failed),
            loops_per_min: if window_min > 0.0 {
                self.completions_in_window as f64 / window_min
            } else {
                0.0
            },
            loop_latency_s: self.latency.percentiles(),
        }
    }

    fn new() -> Self {
        ClassMetrics {
            started: 0,
            gaps: Gaps::default(),
            completed: 0,
            failed: 0,
            completions_in_window: 0,
            latency: Recorder::durations(),
        }
    }
}

/// The mean and variance of the gaps between arrivals (Welford's method).
#[derive(Default)]
struct Gaps {
    last: Option<SimTime>,
    count: u64,
    mean: f64,
    m2: f64,
}

impl Gaps {
    fn arrival(&mut self, now: SimTime) {
        if let Some(last) = self.last.replace(now) {
            let gap = now.since(last).as_secs_f64();
            self.count += 1;
            let delta = gap - self.mean;
            self.mean += delta / self.count as f64;
            self.m2 += delta * (gap - self.mean);
        }
    }

    /// Standard deviation over mean (population variance), with at least two gaps.
    fn cv(&self) -> Option<f64> {
        (self.count >= 2 && self.mean > 0.0)
            .then(|| (self.m2 / self.count as f64).sqrt() / self.mean)
    }
}

/// What the summary needs beyond the metrics themselves.
pub struct RunFacts<'a> {
    pub model: &'a str,
    pub seed: u64,
    pub horizon: SimTime,
    /// Per class, in model order: its name and its cohort loops still running.
    pub classes: Vec<(&'a str, u64)>,
    pub pools: &'a [PoolSpec],
    /// The models' names, when the model reports each.
    pub models: &'a [Llm],
    /// Per pool: a self-hosted pool's own figures.
    pub replica_stats: Vec<Option<ReplicaStats>>,
    /// The client's retry-after mode, which moves results a lot under token-bucket pressure.
    pub retry_after: RetryAfter,
    pub events: u64,
    pub wall_s: f64,
}

pub struct Metrics {
    window_start: SimTime,
    classes: Vec<ClassMetrics>,
    loops_exhausted: u64,
    loops_deadline: u64,
    loops_too_large: u64,
    loops_denied: u64,
    calls: u64,
    attempts: u64,
    retries: u64,
    throttled: u64,
    rate_limited: u64,
    overloaded: u64,
    timeouts: u64,
    expired: u64,
    queue_rejected: u64,
    too_large: u64,
    unavailable: u64,
    server_errors: u64,
    rejected_locally: u64,
    retries_denied: u64,
    tokens: TokenUse,
    /// Per pool of a model that reports its pools; none otherwise (its one
    /// pool's figures are the totals).
    pools: Vec<PoolMetrics>,
    /// Per model of a model that declares `[models]`; none otherwise.
    models: Vec<ModelTally>,
    /// Answered calls that waited at all before the service that answered them.
    waited: u64,
    steps_per_loop: Recorder,
    step_latency: Recorder,
    queue_wait: Recorder,
    in_flight: WindowGauge,
    loops_in_flight: WindowGauge,
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
    /// The metrics of a run of `spec`, with its time series if `timeseries`.
    pub fn new(spec: &ModelSpec, timeseries: bool) -> Self {
        let window_start = SimTime::ZERO + spec.warmup;
        let watches: Vec<_> = spec
            .faults
            .iter()
            .map(|f| FaultWatch::new(*f, window_start, spec.recovery))
            .collect();
        Metrics {
            window_start,
            classes: (0..spec.classes.len())
                .map(|_| ClassMetrics::new())
                .collect(),
            loops_exhausted: 0,
            loops_deadline: 0,
            loops_too_large: 0,
            loops_denied: 0,
            calls: 0,
            attempts: 0,
            retries: 0,
            throttled: 0,
            rate_limited: 0,
            overloaded: 0,
            timeouts: 0,
            expired: 0,
            queue_rejected: 0,
            too_large: 0,
            unavailable: 0,
            server_errors: 0,
            rejected_locally: 0,
            retries_denied: 0,
            tokens: TokenUse::default(),
            models: spec
                .models
                .iter()
                .filter(|_| spec.reports_models)
                .map(|_| ModelTally::new(spec.pools.len()))
                .collect(),
            pools: spec
                .pools
                .iter()
                .filter(|_| spec.reports_pools)
                .map(|p| PoolMetrics {
                    attempts: 0,
                    served: 0,
                    refused: [0; 6],
                    timed_out: 0,
                    expired: 0,
                    cool_downs: 0,
                    tokens: TokenUse::default(),
                    in_flight: WindowGauge::new(),
                    replicas: WindowGauge::new(),
                    first_token: matches!(p.capacity, CapacitySpec::SelfHosted(_))
                        .then(Recorder::durations),
                })
                .collect(),
            waited: 0,
            steps_per_loop: Recorder::new(1.0),
            step_latency: Recorder::durations(),
            queue_wait: Recorder::durations(),
            in_flight: WindowGauge::new(),
            loops_in_flight: WindowGauge::new(),
            // Only the last pool's queue can grow without bound: the others
            // hold at most what the router lets them queue.
            lane_queue: match spec.last_pool().map(|p| &p.capacity) {
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
                let pools = if spec.reports_pools {
                    &spec.pools[..]
                } else {
                    &[]
                };
                Timeseries::new(spec.timeseries_bin).with_pools(pools.iter().map(|p| {
                    (
                        p.name.clone(),
                        matches!(p.capacity, CapacitySpec::SelfHosted(_)),
                    )
                }))
            }),
            faults: (!watches.is_empty())
                .then(|| Timeseries::with_sink(spec.timeseries_bin, FaultWatches(watches))),
            windows: windows(spec)
                .into_iter()
                .map(|w| WindowMetrics::new(w, spec.pools.len()))
                .collect(),
            warmth: spec
                .pools
                .iter()
                .any(|p| matches!(p.capacity, CapacitySpec::SelfHosted(_)))
                .then(|| Box::new([ClassMetrics::new(), ClassMetrics::new()])),
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

    /// Counts an arrival; returns whether the loop belongs to the measured cohort.
    pub fn loop_arrived(&mut self, now: SimTime, class: u16) -> bool {
        self.tick(now, Counter::Arrivals);
        let in_cohort = self.in_window(now);
        if in_cohort {
            let class = &mut self.classes[usize::from(class)];
            class.started += 1;
            class.gaps.arrival(now);
        }
        in_cohort
    }

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
            self.classes[usize::from(lp.class)].completions_in_window += in_window;
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
        if !lp.in_cohort {
            return;
        }
        let class = &mut self.classes[usize::from(lp.class)];
        match outcome {
            LoopOutcome::Completed => {
                class.completed += 1;
                class.latency.record(latency);
                self.steps_per_loop.record(u64::from(lp.steps_done));
                return;
            }
            LoopOutcome::Exhausted => self.loops_exhausted += 1,
            LoopOutcome::Deadline => self.loops_deadline += 1,
            LoopOutcome::TooLarge => self.loops_too_large += 1,
            LoopOutcome::RetryDenied => self.loops_denied += 1,
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
            self.attempts += 1;
            self.retries += u64::from(is_retry);
            // A call counts when its first attempt goes out, which a client
            // throttle may delay past its start.
            self.calls += u64::from(!is_retry);
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
        if let (Rejection::RateLimited { limit, .. }, Some(m), 1) =
            (rejection, self.models.get_mut(usize::from(model)), counted)
        {
            m.rate_limited(now, limit);
        }
        if let Some(p) = self.pools.get_mut(pool) {
            p.refused[refusal_index(rejection)] += counted;
        }
        let (counter, total) = match rejection {
            Rejection::RateLimited { .. } => (Some(Counter::RateLimited), &mut self.rate_limited),
            Rejection::Overloaded => (Some(Counter::Overloaded), &mut self.overloaded),
            Rejection::QueueFull { .. } => (Some(Counter::QueueRejected), &mut self.queue_rejected),
            Rejection::TooLarge => (None, &mut self.too_large),
            Rejection::Unavailable => (Some(Counter::Errors), &mut self.unavailable),
            Rejection::ServerError => (Some(Counter::Errors), &mut self.server_errors),
        };
        *total += counted;
        if let Some(counter) = counter {
            self.tick(now, counter);
        }
    }

    /// The client failed an attempt itself, without sending it.
    pub fn attempt_rejected_locally(&mut self, now: SimTime, is_retry: bool) {
        self.tick(now, Counter::RejectedLocally);
        if self.in_window(now) {
            self.rejected_locally += 1;
            self.retries += u64::from(is_retry);
            self.calls += u64::from(!is_retry);
        }
    }

    /// A resilience policy refused a retry.
    pub fn retry_denied(&mut self, now: SimTime) {
        self.retries_denied += u64::from(self.in_window(now));
    }

    /// The client's per-agent rate limit delayed an attempt.
    pub fn attempt_throttled(&mut self, now: SimTime) {
        self.throttled += u64::from(self.in_window(now));
    }

    pub fn attempt_timed_out(&mut self, now: SimTime, pool: usize) {
        self.tick(now, Counter::Timeouts);
        let counted = u64::from(self.in_window(now));
        self.timeouts += counted;
        if let Some(p) = self.pools.get_mut(pool) {
            p.timed_out += counted;
        }
    }

    /// A Batch API call in `pool` expired unanswered.
    pub fn attempt_expired(&mut self, now: SimTime, pool: usize) {
        let counted = u64::from(self.in_window(now));
        self.expired += counted;
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
    #[inline]
    pub fn attempt_billed(
        &mut self,
        now: SimTime,
        pool: usize,
        model: u16,
        request: Request,
        output_tokens: u32,
    ) {
        let billed = request.billed(output_tokens);
        if self.in_window(now) {
            self.tokens += billed;
            if let Some(m) = self.models.get_mut(usize::from(model)) {
                m.billed(pool, billed);
            }
            if let Some(p) = self.pools.get_mut(pool) {
                p.tokens += billed;
                p.served += 1;
            }
        }
        for w in self.windows.iter_mut().filter(|w| w.window.contains(now)) {
            w.tokens[pool] += billed;
        }
    }

    /// Pool `pool` holds `in_flight` attempts from `now` on, and, if it is
    /// self-hosted, `replicas` replicas alive.
    pub fn observe_pool(
        &mut self,
        now: SimTime,
        pool: usize,
        in_flight: u32,
        replicas: Option<u32>,
    ) {
        let start = self.window_start;
        let p = &mut self.pools[pool];
        p.in_flight.set(now, u64::from(in_flight), start);
        // Replica counts change rarely: they are integrated when they do.
        if let Some(alive) = replicas
            && u64::from(alive) != p.replicas.level
        {
            self.replicas_to(now, pool, alive);
        }
        if let Some(ts) = &mut self.timeseries {
            ts.observe_pool(now, pool, u64::from(in_flight), replicas);
        }
    }

    /// Integrates self-hosted pool `pool`'s replicas up to `now`, in the run
    /// and in each window, and holds `alive` from then on.
    fn replicas_to(&mut self, now: SimTime, pool: usize, alive: u32) {
        let p = &mut self.pools[pool];
        let (level, last) = (p.replicas.level, p.replicas.last);
        for w in &mut self.windows {
            let (from, to) = (last.max(w.window.start), now.min(w.window.end));
            if to > from {
                w.replica_ticks[pool] += u128::from(level) * u128::from(to.since(from).ticks());
            }
        }
        p.replicas.set(now, u64::from(alive), self.window_start);
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

    /// A call was answered; `wait` ran from its first attempt to the start of
    /// the service that answered it.
    #[inline]
    pub fn call_answered(&mut self, now: SimTime, wait: SimDuration) {
        if self.in_window(now) {
            self.queue_wait.record(wait.ticks());
            self.waited += u64::from(!wait.is_zero());
        }
    }

    pub fn step_completed(&mut self, now: SimTime, latency: SimDuration) {
        if self.in_window(now) {
            self.step_latency.record(latency.ticks());
        }
    }

    /// Records the levels holding from `now` on.
    #[inline]
    pub fn observe(&mut self, now: SimTime, levels: Levels) {
        let window_start = self.window_start;
        self.in_flight
            .set(now, u64::from(levels.in_flight), window_start);
        self.loops_in_flight
            .set(now, u64::from(levels.loops_in_flight), window_start);
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

    /// Closes the books at the horizon.
    pub fn finish(mut self, facts: &RunFacts<'_>) -> (Summary, Option<Timeseries>) {
        let horizon = facts.horizon;
        let (in_flight, loops) = (self.in_flight.level, self.loops_in_flight.level);
        self.in_flight.set(horizon, in_flight, self.window_start);
        self.loops_in_flight.set(horizon, loops, self.window_start);
        if let Some(ts) = &mut self.timeseries {
            ts.finish(horizon);
        }
        // Replicas alive up to the horizon, in the run and in each window.
        for (pool, stats) in facts.replica_stats.iter().enumerate() {
            if stats.is_some() {
                let alive = self.pools[pool].replicas.level as u32;
                self.replicas_to(horizon, pool, alive);
            }
        }
        let replica_seconds: Vec<f64> = self
            .pools
            .iter()
            .map(|p| p.replicas.area as f64 / TICKS_PER_SECOND as f64)
            .collect();
        let window = horizon.since(self.window_start);
        let window_min = window.as_secs_f64() / 60.0;
        let mean_in_flight = self.in_flight.mean(window);
        let pool_tokens: Vec<TokenUse> = match self.pools.as_slice() {
            [] => vec![self.tokens],
            pools => pools.iter().map(|p| p.tokens).collect(),
        };
        let cost_usd = pools_cost_usd(facts.pools, &pool_tokens, window, &replica_seconds);
        let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
        let loops_failed =
            self.loops_exhausted + self.loops_deadline + self.loops_too_large + self.loops_denied;
        let faults = self.faults.take().map_or_else(Vec::new, |mut goodput| {
            goodput.finish(horizon);
            goodput
                .into_sink()
                .0
                .iter()
                .map(FaultWatch::verdict)
                .collect()
        });
        let lane_queue = self.lane_queue.as_ref().map(|q| q.verdict(horizon));
        let mut loop_latency = Recorder::durations();
        let mut classes = BTreeMap::new();
        for (class, (name, in_flight)) in self.classes.iter().zip(&facts.classes) {
            loop_latency.merge(&class.latency);
            classes.insert(
                (*name).to_owned(),
                ClassSummary {
                    loops_started: class.started,
                    loops_completed: class.completed,
                    loops_failed: class.failed,
                    loops_in_flight: *in_flight,
                    loops_failed_share: failed_share(class.failed, class.completed + class.failed),
                    loops_per_min: ratio(class.completions_in_window as f64, window_min)
                        .unwrap_or(0.0),
                    loop_latency_s: class.latency.percentiles(),
                    arrivals_per_min: ratio(class.started as f64, window_min).unwrap_or(0.0),
                    interarrival_cv: class.gaps.cv(),
                },
            );
        }
        let total = |f: fn(&ClassSummary) -> u64| classes.values().map(f).sum::<u64>();
        let completions_in_window: u64 = self.classes.iter().map(|c| c.completions_in_window).sum();
        let summary = Summary {
            model: facts.model.to_owned(),
            seed: facts.seed,
            duration_s: horizon.as_secs_f64(),
            warmup_s: self.window_start.as_secs_f64(),
            retry_after: facts.retry_after.name().to_owned(),
            loops_started: total(|c| c.loops_started),
            loops_completed: total(|c| c.loops_completed),
            loops_failed,
            loops_in_flight: total(|c| c.loops_in_flight),
            loops_failed_exhausted: self.loops_exhausted,
            loops_failed_deadline: self.loops_deadline,
            loops_failed_too_large: self.loops_too_large,
            loops_failed_denied: self.loops_denied,
            loops_failed_share: failed_share(
                loops_failed,
                total(|c| c.loops_completed) + loops_failed,
            ),
            loops_per_min: ratio(completions_in_window as f64, window_min).unwrap_or(0.0),
            loop_latency_s: loop_latency.percentiles(),
            loop_latency_cdf_s: loop_latency.quantiles(&CDF_QUANTILES),
            steps_per_loop: self.steps_per_loop.percentiles(),
            step_latency_s: self.step_latency.percentiles(),
            calls: self.calls,
            attempts: self.attempts,
            retries: self.retries,
            attempts_per_min: ratio(self.attempts as f64, window_min).unwrap_or(0.0),
            throttled: self.throttled,
            rate_limited: self.rate_limited,
            overloaded: self.overloaded,
            timeouts: self.timeouts,
            expired: self.expired,
            queue_rejected: self.queue_rejected,
            too_large: self.too_large,
            unavailable: self.unavailable,
            server_errors: self.server_errors,
            rejected_locally: self.rejected_locally,
            retries_denied: self.retries_denied,
            // Retries over every try: attempts sent plus those the client failed itself.
            retry_rate: ratio(
                self.retries as f64,
                (self.attempts + self.rejected_locally) as f64,
            ),
            amplification: ratio(self.attempts as f64, completions_in_window as f64),
            peak_in_flight: self.in_flight.peak,
            mean_in_flight,
            mean_loops_in_flight: self.loops_in_flight.mean(window),
            lane_queue_growth_per_min: lane_queue.map(|(growth, _)| growth),
            lane_queue_unbounded: lane_queue.map(|(_, unbounded)| unbounded),
            lane_utilization: match facts.pools {
                [only] => only
                    .capacity
                    .lanes()
                    .map(|lanes| mean_in_flight / f64::from(lanes.max(1))),
                _ => None,
            },
            queue_wait_s: self.queue_wait.percentiles(),
            waited_share: ratio(self.waited as f64, self.queue_wait.histogram.len() as f64),
            input_tokens: self.tokens.input,
            cached_input_tokens: self.tokens.cached_input,
            cache_write_tokens: self.tokens.cache_write,
            output_tokens: self.tokens.output,
            cost_usd,
            loops_per_dollar: ratio(completions_in_window as f64, cost_usd),
            cost_per_loop_usd: ratio(cost_usd, completions_in_window as f64),
            classes,
            faults,
            windows: self
                .windows
                .iter()
                .map(|w| w.summary(facts.pools))
                .collect(),
            by_model: self
                .models
                .iter()
                .zip(facts.models)
                .map(|(tally, llm)| tally.summary(&llm.name, facts.pools))
                .collect(),
            pools: self
                .pools
                .iter_mut()
                .zip(facts.pools)
                .zip(&facts.replica_stats)
                .zip(&replica_seconds)
                .map(|(((p, spec), stats), &seconds)| {
                    let level = p.in_flight.level;
                    p.in_flight.set(horizon, level, self.window_start);
                    let cost =
                        pools_cost_usd(std::slice::from_ref(spec), &[p.tokens], window, &[seconds]);
                    let mut summary = p.summary(spec, window, cost);
                    summary.self_hosted = stats
                        .as_ref()
                        .map(|stats| hosted_summary(p, stats, seconds, window));
                    summary
                })
                .collect(),
            warm_loops: self.warmth.as_ref().map(|g| g[0].group_summary(window_min)),
            cold_loops: self.warmth.as_ref().map(|g| g[1].group_summary(window_min)),
            events: facts.events,
            wall_s: facts.wall_s,
            events_per_s: ratio(facts.events as f64, facts.wall_s).unwrap_or(0.0),
        };
        (summary, self.timeseries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_gauge_averages_only_after_warmup() {
        let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
        let mut g = WindowGauge::new();
        g.set(s(0), 10, s(10)); // 10 during warm-up...
        g.set(s(15), 2, s(10)); // ...and 5 s into the window
        g.set(s(20), 2, s(10));
        // Window 10..20: 10 for 5 s, 2 for 5 s -> mean 6.
        assert_eq!(g.mean(SimDuration::from_secs(10)), 6.0);
        assert_eq!(g.peak, 10);
    }

    #[test]
    fn recorder_reports_exact_mean_and_close_percentiles() {
        let mut r = Recorder::durations();
        for ms in 1..=1000u64 {
            r.record(ms * 1000);
        }
        let p = r.percentiles().unwrap();
        assert!((p.mean - 0.5005).abs() < 1e-12);
        assert_eq!(p.max, 1.0);
        // HDR with 3 significant digits: within 0.1% of the exact order statistic.
        assert!((p.p50 - 0.5).abs() / 0.5 < 1e-3, "{}", p.p50);
        assert!((p.p99 - 0.99).abs() / 0.99 < 1e-3, "{}", p.p99);
        assert!(Recorder::durations().percentiles().is_none());
    }
}
