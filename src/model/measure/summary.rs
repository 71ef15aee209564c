//! The result of one run: the summary metrics named in DESIGN.md, and a few more.

use crate::model::measure::by_model::{ModelSummary, Refusals};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::measure::pool_summary::{
    LimitGroupSummary, OverSpendCap, PoolSummary, SelfHostedSummary,
};
use crate::model::measure::recovery::FaultVerdict;
use crate::model::measure::window::WindowSummary;

use crate::json::at;
use crate::model::measure::catalogue::{Form, Metric, PERCENTILE_FIELDS, Scope};
use crate::model::measure::percentiles::{CDF_QUANTILES, Percentiles, quantile_name};
use serde_json::Value;

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
    /// Recorded sessions started per minute of the measured window, for a
    /// class that replays them (each session one or more loops).
    #[serde(default)]
    pub sessions_per_min: Option<f64>,
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
    /// Where the run's t = 0 falls in the week, in seconds from Monday
    /// 00:00, when the model names its start (`start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_in_week_s: Option<f64>,
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
    /// 429s by limit, and the limit that binds.
    #[serde(flatten)]
    pub refusals: Refusals,
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
    /// The part of `input_tokens` in calls billed whole at a pool's
    /// long-context rates (`[prices.long_context]`); none without them.
    #[serde(default)]
    pub long_context_input_tokens: Option<u64>,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub loops_per_dollar: Option<f64>,
    /// The measured window's cost over the loops completed in it.
    pub cost_per_loop_usd: Option<f64>,
    /// A month's bill: capacity that exists billed all month, use scaled
    /// from the measured window (see `month_basis`).
    #[serde(default)]
    pub cost_per_month_usd: f64,
    /// The part of `cost_per_month_usd` billed whatever the use.
    #[serde(default)]
    pub committed_per_month_usd: f64,
    /// The share of a month spending at this rate lasts before the first
    /// of its tiers' monthly spend caps is spent (of a pool, or of a group
    /// of pools together): 1 when every cap covers the month, or none is set.
    #[serde(default = "whole_month")]
    pub spend_cap_month_share: f64,
    /// What a month's use is reckoned from, in words.
    #[serde(default)]
    pub month_basis: String,

    /// The loop figures of each user class, by name.
    pub classes: BTreeMap<String, ClassSummary>,
    /// Per fault, in model order: goodput around it and whether it recovered.
    pub faults: Vec<FaultVerdict>,
    /// Per window (surges, faults, then named ones): what happened in it.
    pub windows: Vec<WindowSummary>,
    /// Per `[[pool]]` of a model that declares them, in model order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSummary>,
    /// Pools whose month costs more than their tier's monthly spend cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub over_spend_cap: Vec<OverSpendCap>,
    /// Per group of limits over several pools, in model order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitGroupSummary>,
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

fn whole_month() -> f64 {
    1.0
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
    /// between reruns. The catalogue says which metrics, in which order;
    /// each is read from the part of the summary summary.json holds it in.
    pub fn metrics(&self) -> Vec<(String, Option<f64>)> {
        // Serialised once: each scope reads its part of the whole.
        let whole = json(self);
        let mut columns = Vec::new();
        let mut add = |scope: Scope, prefix: String, object: &Value| {
            for metric in scope.metrics() {
                // The engine's count closes the list, after every scope.
                if !(scope == Scope::Run && metric.name == "events") {
                    push_columns(&mut columns, &prefix, metric, object);
                }
            }
        };
        add(Scope::Run, String::new(), &whole);
        for name in self.classes.keys() {
            add(
                Scope::Class,
                format!("classes.{name}."),
                &whole["classes"][name],
            );
        }
        for i in 0..self.faults.len() {
            add(Scope::Fault, format!("fault.{i}."), &whole["faults"][i]);
        }
        for (i, w) in self.windows.iter().enumerate() {
            add(
                Scope::Window,
                format!("windows.{}.", w.name),
                &whole["windows"][i],
            );
        }
        for (i, pool) in self.pools.iter().enumerate() {
            add(
                Scope::Pool,
                format!("pools.{}.", pool.name),
                &whole["pools"][i],
            );
        }
        for (scope, name, group) in [
            (Scope::WarmLoops, "warm_loops", &self.warm_loops),
            (Scope::ColdLoops, "cold_loops", &self.cold_loops),
        ] {
            if group.is_some() {
                add(scope, format!("{name}."), &whole[name]);
            }
        }
        for (i, model) in self.by_model.iter().enumerate() {
            add(
                Scope::Model,
                format!("by_model.{}.", model.name),
                &whole["by_model"][i],
            );
        }
        for (i, group) in self.limits.iter().enumerate() {
            add(
                Scope::Limits,
                format!("limits.{}.", group.name),
                &whole["limits"][i],
            );
        }
        columns.push(("events".to_owned(), Some(self.events as f64)));
        columns
    }

    /// The names [`Summary::metrics`] gives for a model with these user
    /// classes, this many faults, these windows, these reported pools
    /// (each named, and whether it is self-hosted), these reported models
    /// and these groups of limits over several pools.
    pub fn metric_names<'a>(
        classes: impl IntoIterator<Item = &'a str>,
        faults: usize,
        windows: impl IntoIterator<Item = &'a str>,
        pools: impl IntoIterator<Item = (&'a str, bool)>,
        (models, limits): (
            impl IntoIterator<Item = &'a str>,
            impl IntoIterator<Item = &'a str>,
        ),
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
            limits: limits
                .into_iter()
                .map(|name| LimitGroupSummary {
                    name: name.to_owned(),
                    ..LimitGroupSummary::default()
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

/// A part of a summary as the JSON object summary.json holds.
fn json(part: &impl Serialize) -> Value {
    serde_json::to_value(part).expect("a summary is plain data")
}

/// The columns of `metric` with names after `prefix`, read from `object`
/// (or its `self_hosted` part): none when neither holds it, as a pool
/// that is not self-hosted has no replicas.
fn push_columns(
    columns: &mut Vec<(String, Option<f64>)>,
    prefix: &str,
    metric: &Metric,
    object: &Value,
) {
    let Some(value) =
        at(object, metric.name).or_else(|| at(object.get("self_hosted")?, metric.name))
    else {
        return;
    };
    let number = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_f64()
                .or_else(|| v.as_bool().map(|b| f64::from(u8::from(b))))
        })
    };
    let name = format!("{prefix}{}", metric.name);
    match metric.form {
        Form::Value => columns.push((name, number(Some(value)))),
        Form::Percentiles => {
            for field in PERCENTILE_FIELDS {
                columns.push((format!("{name}.{field}"), number(value.get(field))));
            }
        }
        Form::Quantiles => {
            for (i, q) in CDF_QUANTILES.iter().enumerate() {
                columns.push((
                    format!("{name}.{}", quantile_name(*q)),
                    number(value.get(i)),
                ));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
