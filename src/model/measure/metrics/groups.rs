//! The figures kept per window, per pool and per user class, and how
//! each becomes its part of the summary.

use crate::engine::{SimDuration, TICKS_PER_SECOND};
#[cfg(not(feature = "hdrhistogram"))]
use crate::histogram::Histogram;
#[cfg(feature = "hdrhistogram")]
use crate::histogram::hdr::Histogram;
use crate::model::capacity::admission::Rejection;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::capacity::self_hosted::{ReplicaStats, SelfHostedSpec};
use crate::model::measure::bill::{self, Bill};
use crate::model::measure::by_model::LimitTally;
use crate::model::measure::pool_summary::{PoolSummary, SelfHostedSummary};
use crate::model::measure::summary::LoopGroupSummary;
use crate::model::measure::timeseries::Counter;
use crate::model::measure::window::{Window, WindowSummary};
use crate::model::prices::TokenUse;

use super::measures::{Gaps, Recorder, WindowGauge};

/// The figures of one window (see [`super::window`]).
pub(super) struct WindowMetrics {
    pub(super) window: Window,
    /// Timeseries counters, of what happened inside the window.
    pub(super) counts: [u64; Counter::ALL.len()],
    /// Of the loops that arrived in the window, followed to their end.
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) latency: Recorder,
    pub(super) peak_in_flight: u64,
    /// Tokens billed inside the window, per pool.
    pub(super) tokens: Vec<TokenUse>,
    /// Self-hosted replicas alive inside the window, in replica-ticks (exact,
    /// like the run's own gauge), per pool.
    pub(super) replica_ticks: Vec<u128>,
}

impl WindowMetrics {
    pub(super) fn new(window: Window, pools: usize) -> Self {
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

    pub(super) fn summary(&self, pools: &[PoolSpec]) -> WindowSummary {
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
pub(super) fn pools_cost_usd(
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
                CapacitySpec::SelfHosted(_) => {
                    replica_seconds.get(i).copied().unwrap_or(0.0) / 3600.0
                }
                _ => bill::committed_units(pool) * length.as_secs_f64() / 3600.0,
            };
            pool.prices
                .cost_usd(tokens, unit_hours, length.as_secs_f64() / 3600.0)
        })
        .sum()
}

/// One pool's counts over the measured window.
pub(super) struct PoolMetrics {
    pub(super) attempts: u64,
    pub(super) served: u64,
    /// Refusals, by [`refusal_index`].
    pub(super) refused: [u64; 6],
    /// Its 429s, by the limit that refused them.
    pub(super) limits: LimitTally,
    pub(super) timed_out: u64,
    pub(super) expired: u64,
    pub(super) cool_downs: u64,
    pub(super) tokens: TokenUse,
    pub(super) in_flight: WindowGauge,
    /// Self-hosted pools: replicas alive, and time to first token.
    pub(super) replicas: WindowGauge,
    pub(super) first_token: Option<Recorder>,
    /// Self-hosted pools: each attempt's time per output token after its first.
    pub(super) per_token: Option<Recorder>,
}

/// Where a refusal is counted in [`PoolMetrics::refused`].
pub(super) fn refusal_index(rejection: Rejection) -> usize {
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
    pub(super) fn summary(
        &self,
        pool: &PoolSpec,
        window: SimDuration,
        cost_usd: f64,
        month: Bill,
    ) -> PoolSummary {
        let [mean_in_flight] = self.in_flight.mean(window);
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
            refusals: self.limits.refusals(),
            rate_limited_by_shared_limits: self.refused[0] - self.limits.total(),
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
            input_tokens: self.tokens.all.input,
            cached_input_tokens: self.tokens.all.cached_input,
            cache_write_tokens: self.tokens.all.cache_write,
            output_tokens: self.tokens.all.output,
            cost_usd,
            cost_per_month_usd: month.total_usd,
            committed_per_month_usd: month.committed_usd,
            billing: bill::rule(pool, self.tokens),
            self_hosted: None,
        }
    }
}

/// A self-hosted pool's figures: `p`'s counts, its fleet's `stats`, and
/// the `replica_seconds` alive over the measured `window`.
pub(super) fn hosted_summary(
    p: &PoolMetrics,
    spec: &SelfHostedSpec,
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
        min_replicas: spec.min_replicas,
        max_replicas: spec.max_replicas,
        mean_batch,
        p95_batch,
        output_tokens_per_s: p.tokens.all.output as f64 / window_s.max(f64::MIN_POSITIVE),
        time_to_first_token_s: p.first_token.as_ref().and_then(Recorder::percentiles),
        time_per_output_token_s: p.per_token.as_ref().and_then(Recorder::percentiles),
        preemptions: stats.preemptions,
        prefix_cache_hit_share: (stats.cacheable_tokens > 0)
            .then(|| stats.cache_hit_tokens as f64 / stats.cacheable_tokens as f64),
        kv_cache_utilization: (stats.kv_offered > 0.0).then(|| stats.kv_held / stats.kv_offered),
    }
}

/// failed / ended, when any ended.
pub(super) fn failed_share(failed: u64, ended: u64) -> Option<f64> {
    (ended > 0).then(|| failed as f64 / ended as f64)
}

/// What one user class's metrics hold: nearly all of it its loop-latency histogram.
pub const CLASS_METRICS_BYTES: usize = size_of::<ClassMetrics>() + Histogram::BYTES;

/// Bytes one window's figures hold: its latency histogram, mostly.
pub const WINDOW_METRICS_BYTES: usize = size_of::<WindowMetrics>() + Histogram::BYTES;

/// Loop counts and latency of one user class.
pub(super) struct ClassMetrics {
    pub(super) started: u64,
    /// Sessions started in the measured window, for a class that replays
    /// recorded sessions.
    pub(super) sessions: Option<u64>,
    /// The gaps between the cohort's loop starts.
    pub(super) gaps: Gaps,
    pub(super) completed: u64,
    pub(super) failed: u64,
    pub(super) completions_in_window: u64,
    pub(super) latency: Recorder,
}

impl ClassMetrics {
    /// Its figures as a group of loops, over a window of `window_min` minutes.
    pub(super) fn group_summary(&self, window_min: f64) -> LoopGroupSummary {
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

    /// A class's metrics, counting sessions if it `replays_sessions`.
    pub(super) fn new(replays_sessions: bool) -> Self {
        ClassMetrics {
            started: 0,
            sessions: replays_sessions.then_some(0),
            gaps: Gaps::default(),
            completed: 0,
            failed: 0,
            completions_in_window: 0,
            latency: Recorder::durations(),
        }
    }
}
