//! Model files as written: serde types that reject unknown keys.
//!
//! Variant tables (`capacity`, `arrivals`, `backoff`, distributions) are flat
//! structs with a `kind`-like tag read as a serde enum, rather than serde's
//! internally tagged enums: those buffer their contents, which loses the path
//! of any error inside them. Validation checks that only the fields of the
//! chosen variant are present.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

use super::quantity::{Duration, Number, Quantity};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    pub seed: u64,
    pub duration: Duration,
    pub warmup: Option<Duration>,
    pub timeseries_bin: Option<Duration>,
    pub workload: Vec<RawUserClass>,
    pub agents: BTreeMap<String, RawAgent>,
    pub capacity: RawCapacity,
    pub client: Option<RawClient>,
    pub prices: Option<RawPrices>,
    #[serde(default)]
    pub fault: Vec<RawFault>,
    pub recovery: Option<RawRecovery>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Outage,
    LatencySpike,
    CapacityDrop,
    ErrorBurst,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: FaultKind,
    pub at: Duration,
    #[serde(rename = "for")]
    pub duration: Duration,
    pub factor: Option<Number>,
    pub probability: Option<Number>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecovery {
    pub window: Option<Duration>,
    pub tolerance: Option<Number>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUserClass {
    pub name: String,
    pub agent: String,
    pub users: Option<Number>,
    pub think_time: Option<RawDist>,
    pub arrivals: Option<RawArrivals>,
    #[serde(default)]
    pub surges: Vec<RawSurge>,
    pub priority: Option<Number>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalProcess {
    Poisson,
    OnOff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArrivals {
    pub process: ArrivalProcess,
    pub per_min: Option<Number>,
    pub on_per_min: Option<Number>,
    pub off_per_min: Option<Number>,
    pub mean_on: Option<Duration>,
    pub mean_off: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSurge {
    pub at: Duration,
    #[serde(rename = "for")]
    pub duration: Duration,
    pub factor: Number,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub steps: RawDist,
    pub input_tokens: RawDist,
    pub cached_input_share: Option<Number>,
    pub output_tokens: RawDist,
    pub max_output_tokens: Option<Number>,
    pub tool_latency: Option<RawDist>,
    pub fan_out: Option<RawFanOut>,
    pub deadline: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFanOut {
    pub every: Number,
    pub width: RawDist,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CapacityKind {
    SharedApi,
    Reserved,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    pub kind: CapacityKind,
    pub time_to_first_token: RawDist,
    pub output_tokens_per_s: Option<Number>,
    // shared_api
    pub requests_per_min: Option<Number>,
    pub input_tokens_per_min: Option<Number>,
    pub cache_reads_count: Option<bool>,
    pub output_tokens_per_min: Option<Number>,
    pub max_concurrency: Option<Number>,
    pub concurrency_retry_after: Option<Duration>,
    pub overload: Option<RawOverload>,
    // reserved
    pub lanes: Option<Number>,
    pub queue_limit: Option<Number>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverload {
    pub threshold: Number,
    pub saturation: Number,
    pub max_probability: Number,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub max_attempts: Option<Number>,
    pub backoff: Option<RawBackoff>,
    pub honor_retry_after: Option<bool>,
    pub timeout: Option<Duration>,
    pub agent_rate_limit: Option<RawAgentRateLimit>,
    #[serde(default)]
    pub policy: Vec<RawPolicy>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    RetryBudget,
    RetryThrottle,
    RetryQuota,
    AdaptiveThrottle,
    CircuitBreaker,
    Coordinated,
}

/// One resilience policy; which fields it takes depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub kind: PolicyKind,
    // retry_budget
    pub budget_percent: Option<Number>,
    pub min_retry_concurrency: Option<Number>,
    // retry_throttle
    pub max_tokens: Option<Number>,
    pub token_ratio: Option<Number>,
    // retry_quota
    pub capacity: Option<Number>,
    pub retry_cost: Option<Number>,
    pub timeout_cost: Option<Number>,
    pub success_increment: Option<Number>,
    // adaptive_throttle
    pub k: Option<Number>,
    pub window: Option<Duration>,
    // circuit_breaker
    pub failure_threshold: Option<Number>,
    pub open_for: Option<Duration>,
    pub probes: Option<Number>,
    // coordinated
    pub requests_per_min: Option<Number>,
    pub burst: Option<Number>,
    pub shared_backoff: Option<bool>,
    pub spend_cap_usd: Option<Number>,
    pub spend_period: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentRateLimit {
    pub per_min: Number,
    pub burst: Option<Number>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    None,
    Constant,
    Exponential,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum JitterKind {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackoff {
    pub kind: BackoffKind,
    pub delay: Option<Duration>,
    pub base: Option<Duration>,
    pub cap: Option<Duration>,
    pub multiplier: Option<Number>,
    pub jitter: Option<JitterKind>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrices {
    pub input_per_mtok: Option<Number>,
    pub cached_input_per_mtok: Option<Number>,
    pub output_per_mtok: Option<Number>,
    pub per_lane_hour: Option<Number>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    Constant,
    Exponential,
    Uniform,
    Lognormal,
    Gamma,
    Pareto,
    Empirical,
}

/// A distribution: a table with a `dist` key, or a bare number or duration
/// as shorthand for a constant (`width = 10`, `tool_latency = "2s"`).
#[derive(Debug)]
pub enum RawDist {
    Constant(Quantity),
    Table(Box<RawDistTable>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistTable {
    pub dist: DistKind,
    pub value: Option<Quantity>,
    pub mean: Option<Quantity>,
    pub median: Option<Quantity>,
    pub p95: Option<Quantity>,
    pub p99: Option<Quantity>,
    pub shape: Option<Quantity>,
    pub scale: Option<Quantity>,
    /// Lower bound (uniform: the low end; others: samples are clamped up to it).
    pub min: Option<Quantity>,
    /// Upper bound (uniform: the high end; others: samples are clamped down to it).
    pub max: Option<Quantity>,
    pub file: Option<String>,
    pub column: Option<String>,
    /// The unit of an empirical column of durations, e.g. "ms".
    pub unit: Option<String>,
}

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DistVisitor;

        impl<'de> Visitor<'de> for DistVisitor {
            type Value = RawDist;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a distribution table like { dist = \"exponential\", mean = \"90s\" }, or a constant")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v as f64)))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v as f64)))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDist, E> {
                super::quantity::parse_duration(v)
                    .map(|d| RawDist::Constant(Quantity::Duration(d)))
                    .map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDist, A::Error> {
                RawDistTable::deserialize(MapAccessDeserializer::new(map))
                    .map(|t| RawDist::Table(Box::new(t)))
            }
        }

        d.deserialize_any(DistVisitor)
    }
}
