//! The result of one run: the summary metrics named in DESIGN.md, and a few more.

use crate::model::measure::by_model::ModelSummary;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::measure::pool_summary::{PoolSummary, SelfHostedSummary};
use crate::model::measure::recovery::FaultVerdict;
use crate::model::measure::window::WindowSummary;

use crate::model::measure::percentiles::{CDF_QUANTILES, Percentiles, quantile_name};

/// The loop figures of one user class (cohort counts, window throughput).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub loops_started: u64,
    pub loops_completed: u64,
    pub loops_failed: u64,
    pub loops_in_flight: u64,
    /// failed / (completed + failed).
    pub loops_failed_share: Option<f64>,
    pub loops_per_min: f64,
    pub loop_latency_s: Option<Percentiles>,
    /// Loops started per minute of the measured window: the offered load.
    #[serde(default)]
    pub arrivals_per_min: f64,
    /// The coefficient of variation of the times between loop starts (1
    /// for Poisson arrivals, above for bursts); none with fewer than two gaps.
    #[serde(default)]
    pub interarrival_cv: Option<f64>,
}

/// Loops of the cohort that ended, grouped by something that happened to them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopGroupSummary {
    pub loops_completed: u64,
    pub loops_failed: u64,
    pub loops_failed_share: Option<f64>,
    /// Completed in the measured window, per minute.
    pub loops_per_min: f64,
    pub loop_latency_s: Option<Percentiles>,
}

/// One run's summary. Times are in seconds. Loop counts cover the cohort of
/// loops that arrived after warm-up (so started = completed + failed +
/// in flight, exactly); rates, attempt counts and costs cover the measured
/// window from warm-up to the horizon.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// The client's retry-after mode: exact, at_least, sdk or ignore.
    pub retry_after: String,

    pub loops_started: u64,
    pub loops_completed: u64,
    pub loops_failed: u64,
    /// Still running at the horizon.
    pub loops_in_flight: u64,
    /// Failed because one call used up its attempts.
    pub loops_failed_exhausted: u64,
    pub loops_failed_deadline: u64,
    /// Failed because a call was larger than a token bucket can hold.
    pub loops_failed_too_large: u64,
    /// Failed because a resilience policy refused a needed retry.
    pub loops_failed_denied: u64,
    /// failed / (completed + failed): the loops that ended, and how many of
    /// them failed. Read latency beside it.
    pub loops_failed_share: Option<f64>,
    /// Every loop completed in the window, per simulated minute.
    pub loops_per_min: f64,
    pub loop_latency_s: Option<Percentiles>,
    /// Loop latency at each of [`CDF_QUANTILES`], for CDF plots.
    pub loop_latency_cdf_s: Option<Vec<f64>>,
    pub steps_per_loop: Option<Percentiles>,
    pub step_latency_s: Option<Percentiles>,

    /// LLM calls that sent their first attempt (a fan-out step makes several).
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    /// Attempts per simulated minute: the request rate the provider sees.
    pub attempts_per_min: f64,
    /// Attempts the client's per-agent rate limit held back before sending.
    pub throttled: u64,
    /// HTTP 429s.
    pub rate_limited: u64,
    /// HTTP 529s.
    pub overloaded: u64,
    pub timeouts: u64,
    /// Batch API calls whose batch expired before it reached them.
    pub expired: u64,
    pub queue_rejected: u64,
    /// Attempts refused because they can never fit a token bucket.
    pub too_large: u64,
    /// HTTP 503s during outages.
    pub unavailable: u64,
    /// HTTP 500s during error bursts.
    pub server_errors: u64,
    /// Requests the client failed itself: an open circuit, adaptive throttling.
    pub rejected_locally: u64,
    /// Retries a budget, throttle or quota refused.
    pub retries_denied: u64,
    /// Retries over all tries (attempts sent plus those failed by the client itself).
    pub retry_rate: Option<f64>,
    /// Attempts per completed loop.
    pub amplification: Option<f64>,
    pub peak_in_flight: u64,
    /// Time-averaged attempts in service (including abandoned ones).
    pub mean_in_flight: f64,
    /// Time-averaged loops running (Little's law: loops_per_min / 60 × mean latency).
    pub mean_loops_in_flight: f64,
    /// Reserved capacity only: mean busy lanes / lanes.
    pub lane_utilization: Option<f64>,
    /// Reserved capacity only: how much longer the lane queue got per
    /// minute over the second half of the measured window.
    pub lane_queue_growth_per_min: Option<f64>,
    /// Reserved capacity only: the lane queue never emptied in the second
    /// half, ended longer than at the middle and has no limit: the load
    /// offered exceeds the lanes, and the figures describe a transient.
    pub lane_queue_unbounded: Option<bool>,
    /// From a call's first attempt to the start of the service that answered it.
    pub queue_wait_s: Option<Percentiles>,
    /// The share of answered calls that waited at all (P(wait) in queueing terms).
    pub waited_share: Option<f64>,

    /// Tokens billed: every attempt the provider finished, abandoned or not.
    pub input_tokens: u64,
    /// The part of `input_tokens` read from the prompt cache.
    pub cached_input_tokens: u64,
    /// The part of `input_tokens` written to the prompt cache (a pool with
    /// `cache_ttl` whose cache no longer held the session's prefix).
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub loops_per_dollar: Option<f64>,
    /// The measured window's cost over the loops completed in it.
    pub cost_per_loop_usd: Option<f64>,

    /// The loop figures of each user class, by name.
    pub classes: BTreeMap<String, ClassSummary>,
    /// Per fault, in model order: goodput around it and whether it recovered.
    pub faults: Vec<FaultVerdict>,
    /// Per window (surges, faults, then named ones): what happened in it.
    pub windows: Vec<WindowSummary>,
    /// Per `[[pool]]` of a model that declares them, in model order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSummary>,
    /// Per model of a model that declares `[models]`, in name order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_model: Vec<ModelSummary>,
    /// Models with self-hosted pools: loops none of whose calls waited for
    /// a replica still loading, and loops one of whose calls did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_loops: Option<LoopGroupSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_loops: Option<LoopGroupSummary>,

    pub events: u64,
    pub wall_s: f64,
    pub events_per_s: f64,
}

impl Summary {
    /// The same summary with the wall-clock fields zeroed: what must be
    /// identical across reruns of one model and seed.
    pub fn without_wall_clock(&self) -> Summary {
        Summary {
            wall_s: 0.0,
            events_per_s: 0.0,
            ..self.clone()
        }
    }

    /// Every deterministic metric as (name, value), flattened with dots
    /// (`loop_latency_s.p99`, `classes.developers.loops_per_min`). The names
    /// depend only on the model's user classes, never on the values, so they
    /// make stable CSV columns. Wall-clock fields are left out: they differ
    /// between reruns.
    pub fn metrics(&self) -> Vec<(String, Option<f64>)> {
        let mut m = MetricList::default();
        run_metrics(&mut m, self);
        for (name, c) in &self.classes {
            m.scope(format!("classes.{name}."));
            class_metrics(&mut m, c);
        }
        for (i, f) in self.faults.iter().enumerate() {
            m.scope(format!("fault.{i}."));
            fault_metrics(&mut m, f);
        }
        for w in &self.windows {
            m.scope(format!("windows.{}.", w.name));
            window_metrics(&mut m, w);
        }
        for pool in &self.pools {
            m.scope(format!("pools.{}.", pool.name));
            pool_metrics(&mut m, pool);
        }
        for (name, group) in [
            ("warm_loops", &self.warm_loops),
            ("cold_loops", &self.cold_loops),
        ] {
            if let Some(g) = group {
                m.scope(format!("{name}."));
                group_metrics(&mut m, g);
            }
        }
        for model in &self.by_model {
            m.scope(format!("by_model.{}.", model.name));
            model_metrics(&mut m, model);
        }
        m.scope(String::new());
        m.count("events", self.events);
        m.0
    }

    /// The names [`Summary::metrics`] gives for a model with these user
    /// classes, this many faults, these windows, these reported pools
    /// (each named, and whether it is self-hosted) and these reported models.
    pub fn metric_names<'a>(
        classes: impl IntoIterator<Item = &'a str>,
        faults: usize,
        windows: impl IntoIterator<Item = &'a str>,
        pools: impl IntoIterator<Item = (&'a str, bool)>,
        models: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let pools: Vec<PoolSummary> = pools
            .into_iter()
            .map(|(name, self_hosted)| PoolSummary {
                name: name.to_owned(),
                self_hosted: self_hosted.then(SelfHostedSummary::default),
                ..PoolSummary::default()
            })
            .collect();
        let hosted = pools.iter().any(|p| p.self_hosted.is_some());
        let summary = Summary {
            classes: classes
                .into_iter()
                .map(|c| (c.to_owned(), ClassSummary::default()))
                .collect(),
            faults: vec![FaultVerdict::default(); faults],
            windows: windows
                .into_iter()
                .map(|name| WindowSummary {
                    name: name.to_owned(),
                    ..WindowSummary::default()
                })
                .collect(),
            pools,
            by_model: models
                .into_iter()
                .map(|name| ModelSummary {
                    name: name.to_owned(),
                    ..ModelSummary::default()
                })
                .collect(),
            warm_loops: hosted.then(LoopGroupSummary::default),
            cold_loops: hosted.then(LoopGroupSummary::default),
            ..Summary::default()
        };
        summary
            .metrics()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// The same summary labelled with another seed, to compare results alone.
    pub fn with_seed(&self, seed: u64) -> Summary {
        Summary {
            seed,
            ..self.clone()
        }
    }
}

/// Builds the flat metric list, each name after the scope being written.
#[derive(Default)]
struct MetricList(Vec<(String, Option<f64>)>, String);

impl MetricList {
    /// Names from now on start with `prefix` (`classes.a.`, or none).
    fn scope(&mut self, prefix: String) {
        self.1 = prefix;
    }

    fn value(&mut self, name: &str, value: Option<f64>) {
        self.0.push((format!("{}{name}", self.1), value));
    }

    fn count(&mut self, name: &str, value: u64) {
        self.value(name, Some(value as f64));
    }

    fn percentiles(&mut self, name: &str, p: Option<Percentiles>) {
        let fields = [
            ("p50", p.map(|p| p.p50)),
            ("p95", p.map(|p| p.p95)),
            ("p99", p.map(|p| p.p99)),
            ("max", p.map(|p| p.max)),
            ("mean", p.map(|p| p.mean)),
        ];
        for (field, value) in fields {
            self.value(&format!("{name}.{field}"), value);
        }
    }
}

/// The run's own metrics, unscoped.
fn run_metrics(m: &mut MetricList, s: &Summary) {
    m.count("loops_started", s.loops_started);
    m.count("loops_completed", s.loops_completed);
    m.count("loops_failed", s.loops_failed);
    m.count("loops_in_flight", s.loops_in_flight);
    m.count("loops_failed_exhausted", s.loops_failed_exhausted);
    m.count("loops_failed_deadline", s.loops_failed_deadline);
    m.count("loops_failed_too_large", s.loops_failed_too_large);
    m.count("loops_failed_denied", s.loops_failed_denied);
    m.value("loops_failed_share", s.loops_failed_share);
    m.value("loops_per_min", Some(s.loops_per_min));
    m.percentiles("loop_latency_s", s.loop_latency_s);
    for (i, q) in CDF_QUANTILES.iter().enumerate() {
        let value = s.loop_latency_cdf_s.as_ref().map(|v| v[i]);
        m.value(&format!("loop_latency_cdf_s.{}", quantile_name(*q)), value);
    }
    m.percentiles("steps_per_loop", s.steps_per_loop);
    m.percentiles("step_latency_s", s.step_latency_s);
    m.count("calls", s.calls);
    m.count("attempts", s.attempts);
    m.count("retries", s.retries);
    m.value("attempts_per_min", Some(s.attempts_per_min));
    m.count("throttled", s.throttled);
    m.count("rate_limited", s.rate_limited);
    m.count("overloaded", s.overloaded);
    m.count("timeouts", s.timeouts);
    m.count("expired", s.expired);
    m.count("queue_rejected", s.queue_rejected);
    m.count("too_large", s.too_large);
    m.count("unavailable", s.unavailable);
    m.count("server_errors", s.server_errors);
    m.count("rejected_locally", s.rejected_locally);
    m.count("retries_denied", s.retries_denied);
    m.value("retry_rate", s.retry_rate);
    m.value("amplification", s.amplification);
    m.count("peak_in_flight", s.peak_in_flight);
    m.value("mean_in_flight", Some(s.mean_in_flight));
    m.value("mean_loops_in_flight", Some(s.mean_loops_in_flight));
    m.value("lane_utilization", s.lane_utilization);
    m.value("lane_queue_growth_per_min", s.lane_queue_growth_per_min);
    m.value(
        "lane_queue_unbounded",
        s.lane_queue_unbounded.map(|u| f64::from(u8::from(u))),
    );
    m.percentiles("queue_wait_s", s.queue_wait_s);
    m.value("waited_share", s.waited_share);
    m.count("input_tokens", s.input_tokens);
    m.count("cached_input_tokens", s.cached_input_tokens);
    m.count("cache_write_tokens", s.cache_write_tokens);
    m.count("output_tokens", s.output_tokens);
    m.value("cost_usd", Some(s.cost_usd));
    m.value("loops_per_dollar", s.loops_per_dollar);
    m.value("cost_per_loop_usd", s.cost_per_loop_usd);
}

fn class_metrics(m: &mut MetricList, c: &ClassSummary) {
    m.count("loops_started", c.loops_started);
    m.count("loops_completed", c.loops_completed);
    m.count("loops_failed", c.loops_failed);
    m.count("loops_in_flight", c.loops_in_flight);
    m.value("loops_failed_share", c.loops_failed_share);
    m.value("loops_per_min", Some(c.loops_per_min));
    m.percentiles("loop_latency_s", c.loop_latency_s);
    m.value("arrivals_per_min", Some(c.arrivals_per_min));
    m.value("interarrival_cv", c.interarrival_cv);
}

fn fault_metrics(m: &mut MetricList, f: &FaultVerdict) {
    m.value("goodput_before_per_min", f.goodput_before_per_min);
    m.value("goodput_during_per_min", f.goodput_during_per_min);
    m.value("goodput_after_per_min", f.goodput_after_per_min);
    m.value("recovered", f.recovered.map(|r| f64::from(u8::from(r))));
    m.value("recovery_s", f.recovery_s);
}

fn window_metrics(m: &mut MetricList, w: &WindowSummary) {
    m.count("loops_started", w.loops_started);
    m.count("loops_completed", w.loops_completed);
    m.count("loops_failed", w.loops_failed);
    m.value("loops_failed_share", w.loops_failed_share);
    m.value("loops_per_min", Some(w.loops_per_min));
    m.percentiles("loop_latency_s", w.loop_latency_s);
    m.count("attempts", w.attempts);
    m.count("retries", w.retries);
    m.count("rate_limited", w.rate_limited);
    m.value("retry_rate", w.retry_rate);
    m.count("peak_in_flight", w.peak_in_flight);
    m.value("cost_usd", Some(w.cost_usd));
}

fn pool_metrics(m: &mut MetricList, pool: &PoolSummary) {
    m.count("attempts", pool.attempts);
    m.count("served", pool.served);
    m.count("rate_limited", pool.rate_limited);
    m.count("overloaded", pool.overloaded);
    m.count("queue_rejected", pool.queue_rejected);
    m.count("too_large", pool.too_large);
    m.count("unavailable", pool.unavailable);
    m.count("server_errors", pool.server_errors);
    m.count("timed_out", pool.timed_out);
    m.count("expired", pool.expired);
    m.count("cool_downs", pool.cool_downs);
    m.value("mean_in_flight", Some(pool.mean_in_flight));
    m.value("busy_share", pool.busy_share);
    m.count("input_tokens", pool.input_tokens);
    m.count("cached_input_tokens", pool.cached_input_tokens);
    m.count("cache_write_tokens", pool.cache_write_tokens);
    m.count("output_tokens", pool.output_tokens);
    m.value("cost_usd", Some(pool.cost_usd));
    if let Some(h) = &pool.self_hosted {
        m.value("mean_replicas", Some(h.mean_replicas));
        m.value("replica_hours", Some(h.replica_hours));
        m.count("cold_starts", h.cold_starts);
        m.value("mean_batch", h.mean_batch);
        m.value("p95_batch", h.p95_batch);
        m.value("output_tokens_per_s", Some(h.output_tokens_per_s));
        m.percentiles("time_to_first_token_s", h.time_to_first_token_s);
        m.value("kv_cache_utilization", h.kv_cache_utilization);
    }
}

fn group_metrics(m: &mut MetricList, g: &LoopGroupSummary) {
    m.count("loops_completed", g.loops_completed);
    m.count("loops_failed", g.loops_failed);
    m.value("loops_failed_share", g.loops_failed_share);
    m.value("loops_per_min", Some(g.loops_per_min));
    m.percentiles("loop_latency_s", g.loop_latency_s);
}

fn model_metrics(m: &mut MetricList, model: &ModelSummary) {
    m.count("attempts", model.attempts);
    m.count("rate_limited", model.rate_limited);
    for (limit, n) in model.rate_limited_by.named() {
        m.count(&format!("rate_limited_by.{limit}"), n);
    }
    m.value("first_limit_s", model.first_limit_s);
    m.count("input_tokens", model.input_tokens);
    m.count("cached_input_tokens", model.cached_input_tokens);
    m.count("cache_write_tokens", model.cache_write_tokens);
    m.count("output_tokens", model.output_tokens);
    m.value("cost_usd", Some(model.cost_usd));
}

#[cfg(test)]
mod tests;
