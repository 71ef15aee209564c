//! Closing the books at the horizon: the summary, and the time series.

use std::collections::BTreeMap;

use crate::engine::TICKS_PER_SECOND;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::measure::bill::{self, Bill};
use crate::model::measure::by_model::ModelSummary;
use crate::model::measure::percentiles::CDF_QUANTILES;
use crate::model::measure::recovery::FaultWatch;
use crate::model::measure::summary::{ClassSummary, Summary};
use crate::model::measure::timeseries::Timeseries;
use crate::model::measure::window::WindowSummary;
use crate::model::prices::TokenUse;

use super::groups::{failed_share, hosted_summary, pools_cost_usd};
use super::measures::Count;
use super::measures::Recorder;
use super::{Metrics, RunFacts};
use crate::engine::{SimDuration, SimTime};
use crate::model::measure::pool_summary::{LimitGroupSummary, OverSpendCap, PoolSummary};
use crate::model::measure::recovery::FaultVerdict;

impl Metrics {
    /// Closes the books at the horizon.
    pub fn finish(mut self, facts: &RunFacts<'_>) -> (Summary, Option<Timeseries>) {
        let horizon = facts.horizon;
        let replica_seconds = self.close_levels(facts);
        let window = horizon.since(self.window_start);
        let window_min = window.as_secs_f64() / 60.0;
        let [mean_in_flight, mean_loops_in_flight] = self.in_flight.mean(window);
        let (cost_usd, months) = self.bills(facts, window, &replica_seconds);
        let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
        let loops_failed: u64 = Count::LOOPS_FAILED.iter().map(|&c| self.counts[c]).sum();
        let faults = self.fault_verdicts(horizon);
        let lane_queue = self.lane_queue.as_ref().map(|q| q.verdict(horizon));
        let (classes, loop_latency) = self.class_summaries(facts, window_min);
        let total = |f: fn(&ClassSummary) -> u64| classes.values().map(f).sum::<u64>();
        let completions_in_window: u64 = self.classes.iter().map(|c| c.completions_in_window).sum();
        let over_spend_cap = over_spend_cap(facts, &months);
        let summary = Summary {
            model: facts.model.to_owned(),
            seed: facts.seed,
            duration_s: horizon.as_secs_f64(),
            warmup_s: self.window_start.as_secs_f64(),
            retry_after: facts.retry_after.name().to_owned(),
            start_in_week_s: facts.start.map(|s| s.as_secs_f64()),
            loops_started: total(|c| c.loops_started),
            loops_completed: total(|c| c.loops_completed),
            loops_failed,
            loops_in_flight: total(|c| c.loops_in_flight),
            loops_failed_exhausted: self.counts[Count::LoopsExhausted],
            loops_failed_deadline: self.counts[Count::LoopsDeadline],
            loops_failed_too_large: self.counts[Count::LoopsTooLarge],
            loops_failed_denied: self.counts[Count::LoopsDenied],
            loops_failed_share: failed_share(
                loops_failed,
                total(|c| c.loops_completed) + loops_failed,
            ),
            loops_per_min: ratio(completions_in_window as f64, window_min).unwrap_or(0.0),
            loop_latency_s: loop_latency.percentiles(),
            loop_latency_cdf_s: loop_latency.quantiles(&CDF_QUANTILES),
            steps_per_loop: self.steps_per_loop.percentiles(),
            step_latency_s: self.step_latency.percentiles(),
            calls: self.counts[Count::Calls],
            attempts: self.counts[Count::Attempts],
            retries: self.counts[Count::Retries],
            attempts_per_min: ratio(self.counts[Count::Attempts] as f64, window_min).unwrap_or(0.0),
            throttled: self.counts[Count::Throttled],
            rate_limited: self.counts[Count::RateLimited],
            refusals: self.limits.refusals(),
            overloaded: self.counts[Count::Overloaded],
            timeouts: self.counts[Count::Timeouts],
            expired: self.counts[Count::Expired],
            queue_rejected: self.counts[Count::QueueRejected],
            too_large: self.counts[Count::TooLarge],
            unavailable: self.counts[Count::Unavailable],
            server_errors: self.counts[Count::ServerErrors],
            rejected_locally: self.counts[Count::RejectedLocally],
            retries_denied: self.counts[Count::RetriesDenied],
            // Retries over every try: attempts sent plus those the client failed itself.
            retry_rate: ratio(
                self.counts[Count::Retries] as f64,
                (self.counts[Count::Attempts] + self.counts[Count::RejectedLocally]) as f64,
            ),
            amplification: ratio(
                self.counts[Count::Attempts] as f64,
                completions_in_window as f64,
            ),
            peak_in_flight: self.in_flight.peak[0],
            mean_in_flight,
            mean_loops_in_flight,
            lane_queue_growth_per_min: lane_queue.map(|(growth, _)| growth),
            lane_queue_unbounded: lane_queue.map(|(_, unbounded)| unbounded),
            lane_utilization: lane_utilization(facts.pools, mean_in_flight),
            queue_wait_s: self.queue_wait.percentiles(),
            waited_share: ratio(self.waited as f64, self.queue_wait.histogram.len() as f64),
            input_tokens: self.tokens.all.input,
            cached_input_tokens: self.tokens.all.cached_input,
            cache_write_tokens: self.tokens.all.cache_write,
            long_context_input_tokens: bill::long_context_input(facts.pools, self.tokens),
            output_tokens: self.tokens.all.output,
            cost_usd,
            loops_per_dollar: ratio(completions_in_window as f64, cost_usd),
            cost_per_loop_usd: ratio(cost_usd, completions_in_window as f64),
            cost_per_month_usd: months.iter().map(|b| b.total_usd).sum(),
            committed_per_month_usd: months.iter().map(|b| b.committed_usd).sum(),
            month_basis: bill::basis(window),
            classes,
            faults,
            windows: self.window_summaries(facts.pools),
            by_model: self.model_summaries(facts),
            spend_cap_month_share: OverSpendCap::month_within(&over_spend_cap),
            over_spend_cap,
            limits: self.limit_groups(facts),
            pools: self.pool_summaries(facts, window, &replica_seconds, &months),
            warm_loops: self.warmth.as_ref().map(|g| g[0].group_summary(window_min)),
            cold_loops: self.warmth.as_ref().map(|g| g[1].group_summary(window_min)),
            events: facts.events,
            wall_s: facts.wall_s,
            events_per_s: ratio(facts.events as f64, facts.wall_s).unwrap_or(0.0),
        };
        (summary, self.timeseries)
    }

    /// The run's cost over the window, and each pool's bill for a month.
    fn bills(
        &self,
        facts: &RunFacts<'_>,
        window: SimDuration,
        replica_seconds: &[f64],
    ) -> (f64, Vec<Bill>) {
        let pool_tokens: Vec<TokenUse> = match self.pools.as_slice() {
            [] => vec![self.tokens],
            pools => pools.iter().map(|p| p.tokens).collect(),
        };
        let cost_usd = pools_cost_usd(facts.pools, &pool_tokens, window, replica_seconds);
        let months = facts
            .pools
            .iter()
            .zip(&pool_tokens)
            .enumerate()
            .map(|(i, (pool, &tokens))| {
                let seconds = replica_seconds.get(i).copied().unwrap_or(0.0);
                bill::month(pool, tokens, seconds, window)
            })
            .collect();
        (cost_usd, months)
    }

    /// Each window's summary, in the order the windows were declared.
    fn window_summaries(&self, pools: &[PoolSpec]) -> Vec<WindowSummary> {
        self.windows.iter().map(|w| w.summary(pools)).collect()
    }

    /// Each model's calls, tokens and cost.
    fn model_summaries(&self, facts: &RunFacts<'_>) -> Vec<ModelSummary> {
        self.models
            .iter()
            .zip(facts.models)
            .map(|(tally, llm)| tally.summary(&llm.name, facts.pools))
            .collect()
    }

    /// Each group of limits over several pools, and its 429s.
    fn limit_groups(&self, facts: &RunFacts<'_>) -> Vec<LimitGroupSummary> {
        self.groups
            .iter()
            .zip(facts.shared_limits)
            .map(|(tally, group)| LimitGroupSummary {
                name: group.name.clone(),
                pools: group
                    .pools
                    .iter()
                    .map(|&p| facts.pools[p].name.clone())
                    .collect(),
                rate_limited: tally.total(),
                refusals: tally.refusals(),
            })
            .collect()
    }

    /// Integrates the levels up to the horizon, and each pool's replicas:
    /// the replica-seconds of each pool.
    fn close_levels(&mut self, facts: &RunFacts<'_>) -> Vec<f64> {
        let horizon = facts.horizon;
        self.in_flight.close(horizon, self.window_start);
        if let Some(ts) = &mut self.timeseries {
            ts.finish(horizon);
            ts.set_clock(facts.start);
        }
        // Replicas alive up to the horizon, in the run and in each window.
        for (pool, stats) in facts.replica_stats.iter().enumerate() {
            if stats.is_some() {
                let alive = self.pools[pool].replicas.level[0] as u32;
                self.replicas_to(horizon, pool, alive);
            }
        }
        self.pools
            .iter()
            .map(|p| p.replicas.area[0] as f64 / TICKS_PER_SECOND as f64)
            .collect()
    }

    /// Each fault's recovery verdict.
    fn fault_verdicts(&mut self, horizon: SimTime) -> Vec<FaultVerdict> {
        self.faults.take().map_or_else(Vec::new, |mut goodput| {
            goodput.finish(horizon);
            goodput
                .into_sink()
                .0
                .iter()
                .map(FaultWatch::verdict)
                .collect()
        })
    }

    /// Each class's figures, and the latency of every class's loops together.
    fn class_summaries(
        &self,
        facts: &RunFacts<'_>,
        window_min: f64,
    ) -> (BTreeMap<String, ClassSummary>, Recorder) {
        let ratio = |num: f64, den: f64| (den > 0.0).then(|| num / den);
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
                    sessions_per_min: class
                        .sessions
                        .map(|n| ratio(n as f64, window_min).unwrap_or(0.0)),
                    interarrival_cv: class.gaps.cv(),
                },
            );
        }
        (classes, loop_latency)
    }

    /// Each reported pool's figures, a self-hosted pool's replicas among them.
    fn pool_summaries(
        &mut self,
        facts: &RunFacts<'_>,
        window: SimDuration,
        replica_seconds: &[f64],
        months: &[Bill],
    ) -> Vec<PoolSummary> {
        let (horizon, window_start) = (facts.horizon, self.window_start);
        self.pools
            .iter_mut()
            .zip(facts.pools)
            .zip(&facts.replica_stats)
            .zip(replica_seconds)
            .zip(months)
            .map(|((((p, spec), stats), &seconds), &month)| {
                p.in_flight.close(horizon, window_start);
                let cost =
                    pools_cost_usd(std::slice::from_ref(spec), &[p.tokens], window, &[seconds]);
                let mut summary = p.summary(spec, window, cost, month);
                summary.self_hosted = match (stats, &spec.capacity) {
                    (Some(stats), CapacitySpec::SelfHosted(hosted)) => {
                        Some(hosted_summary(p, hosted, stats, seconds, window))
                    }
                    _ => None,
                };
                summary
            })
            .collect()
    }
}

/// The pools whose `months` cost more than their tier's monthly spend
/// cap, then the groups of them whose months together do: the accounts'
/// (a pool in one has no cap of its own: the account's is its pools'
/// together), then the limit groups' that give a cap.
fn over_spend_cap(facts: &RunFacts<'_>, months: &[Bill]) -> Vec<OverSpendCap> {
    let pools = facts.pools;
    let in_account = |p: usize| facts.accounts.iter().any(|a| a.pools.contains(&p));
    let own = pools
        .iter()
        .zip(months)
        .enumerate()
        .filter_map(|(p, (pool, month))| {
            let cap = pool
                .capacity
                .monthly_spend_cap()
                .filter(|_| !in_account(p))?;
            (month.total_usd > cap).then(|| OverSpendCap {
                pool: pool.name.clone(),
                pools: Vec::new(),
                cap_usd: cap,
                cost_per_month_usd: month.total_usd,
            })
        });
    let accounts = facts
        .accounts
        .iter()
        .map(|a| (&a.name, &a.pools, Some(a.monthly_spend_cap)));
    let groups = facts
        .shared_limits
        .iter()
        .map(|g| (&g.name, &g.pools, g.limits.monthly_spend_cap));
    let grouped = accounts.chain(groups).filter_map(|(name, held, cap)| {
        let cap = cap?;
        let month: f64 = held.iter().map(|&p| months[p].total_usd).sum();
        (month > cap).then(|| OverSpendCap {
            pool: name.clone(),
            pools: held.iter().map(|&p| pools[p].name.clone()).collect(),
            cap_usd: cap,
            cost_per_month_usd: month,
        })
    });
    own.chain(grouped).collect()
}

/// The share of its lanes a run's one pool kept busy; none for a pool
/// without lanes, or several pools (each pool's `busy_share` says its own).
fn lane_utilization(pools: &[PoolSpec], mean_in_flight: f64) -> Option<f64> {
    match pools {
        [only] => only
            .capacity
            .lanes()
            .map(|lanes| mean_in_flight / f64::from(lanes.max(1))),
        _ => None,
    }
}
