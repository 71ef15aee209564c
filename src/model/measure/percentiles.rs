//! Percentiles of a metric, and the quantiles a distribution is sampled at.

use serde::{Deserialize, Serialize};

/// Percentiles and mean of one metric; `null` in JSON when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    /// Published latency figures are often p50 and p90.
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The quantiles at which `loop_latency_cdf_s` samples the loop-latency distribution.
pub const CDF_QUANTILES: [f64; 21] = [
    0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
    0.85, 0.90, 0.95, 0.99, 0.999,
];

/// How a quantile is named in metric names: `q05`, `q50`, `q99`, `q999`.
pub fn quantile_name(q: f64) -> String {
    let permille = (q * 1000.0).round() as u32;
    if permille.is_multiple_of(10) {
        format!("q{:02}", permille / 10)
    } else {
        format!("q{permille}")
    }
}
