//! One pool's figures over the measured window, as the summary reports them.

use serde::{Deserialize, Serialize};

use crate::model::measure::by_model::Refusals;
use crate::model::measure::percentiles::Percentiles;

/// One pool's figures over the measured window, as the summary reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolSummary {
    pub name: String,
    pub kind: String,
    /// Attempts the router sent it.
    pub attempts: u64,
    /// Attempts it finished serving (billed, answered or abandoned).
    pub served: u64,
    pub rate_limited: u64,
    /// Its 429s by its own limits, and the one that binds.
    #[serde(flatten)]
    pub refusals: Refusals,
    /// Its 429s from limits it shares with other pools (`[organization]`,
    /// `[shared_limits]`, a provider's limit its preset names): each
    /// group's figures say which limit of which group.
    #[serde(default)]
    pub rate_limited_by_shared_limits: u64,
    pub overloaded: u64,
    pub queue_rejected: u64,
    pub too_large: u64,
    pub unavailable: u64,
    pub server_errors: u64,
    /// Attempts whose client timed out while the pool held them.
    pub timed_out: u64,
    /// Batch API calls whose batch expired before reaching them.
    pub expired: u64,
    /// Cool-downs a failover router started on it.
    pub cool_downs: u64,
    /// Time-averaged attempts in service.
    pub mean_in_flight: f64,
    /// Mean busy lanes / lanes, or mean in flight / `max_concurrency`.
    pub busy_share: Option<f64>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Its month's bill, and the part of it billed whatever the use.
    #[serde(default)]
    pub cost_per_month_usd: f64,
    #[serde(default)]
    pub committed_per_month_usd: f64,
    /// How it is billed, in words.
    #[serde(default)]
    pub billing: String,
    /// Self-hosted pools only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_hosted: Option<SelfHostedSummary>,
}

/// A group of limits over several pools, and its 429s.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitGroupSummary {
    /// As the model names it: `organization`, `shared_limits.NAME`, or
    /// `preset_limit.NAME`.
    pub name: String,
    /// The pools it holds together.
    pub pools: Vec<String>,
    pub rate_limited: u64,
    /// Its 429s by limit, and the limit that binds.
    #[serde(flatten)]
    pub refusals: Refusals,
}

/// A shared pool, or a group of them (`[organization]`, a
/// `[shared_limits]` group), whose month would cost more than its tier
/// lets an organization spend: the provider refuses its calls once the
/// cap is spent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OverSpendCap {
    /// The pool, or the group as the model names it (`organization`,
    /// `shared_limits.NAME`).
    pub pool: String,
    /// A group's pools, whose months together passed its cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<String>,
    pub cap_usd: f64,
    pub cost_per_month_usd: f64,
}

impl OverSpendCap {
    /// The share of a month the cap lasts at this month's rate of spending.
    pub fn month_share(&self) -> f64 {
        self.cap_usd / self.cost_per_month_usd
    }

    /// The share of a month spending lasts before the first of `over`'s
    /// caps is spent: 1 when none is passed.
    pub fn month_within(over: &[OverSpendCap]) -> f64 {
        over.iter()
            .map(OverSpendCap::month_share)
            .fold(1.0, f64::min)
    }
}

/// A self-hosted pool's replicas over the measured window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SelfHostedSummary {
    /// Time-averaged replicas alive (loading or warm).
    pub mean_replicas: f64,
    /// Replica-hours alive: what `per_replica_hour` bills.
    pub replica_hours: f64,
    /// Replicas the autoscaler started.
    pub cold_starts: u64,
    /// The fleet's floor and cap (equal for a fixed fleet).
    #[serde(default)]
    pub min_replicas: u32,
    #[serde(default)]
    pub max_replicas: u32,
    /// Sequences decoding together, time-weighted over decoding replicas.
    pub mean_batch: Option<f64>,
    pub p95_batch: Option<f64>,
    /// Output tokens billed per second of the window.
    pub output_tokens_per_s: f64,
    /// From an attempt's send to its first token (queue, prefills before it, its own).
    pub time_to_first_token_s: Option<Percentiles>,
    /// From an attempt's first token to its last, per output token after the first.
    #[serde(default)]
    pub time_per_output_token_s: Option<Percentiles>,
    /// Running sequences preempted when KV-cache blocks ran out.
    #[serde(default)]
    pub preemptions: u64,
    /// vLLM's replicas: of the prompt tokens calls could have read from the
    /// prefix cache, the share they did (admissions and recomputes).
    #[serde(default)]
    pub prefix_cache_hit_share: Option<f64>,
    /// KV-cache tokens held over those warm replicas offer, time-averaged.
    pub kv_cache_utilization: Option<f64>,
}
