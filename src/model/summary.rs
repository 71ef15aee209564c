//! The result of one run: the summary metrics named in DESIGN.md, and a few more.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Percentiles and mean of one metric; `null` in JSON when nothing was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The loop figures of one user class (cohort counts, window throughput).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    pub loops_started: u64,
    pub loops_completed: u64,
    pub loops_failed: u64,
    pub loops_in_flight: u64,
    pub loops_per_min: f64,
    pub loop_latency_s: Option<Percentiles>,
}

/// One run's summary. Times are in seconds. Loop counts cover the cohort of
/// loops that arrived after warm-up (so started = completed + failed +
/// in flight, exactly); rates, attempt counts and costs cover the measured
/// window from warm-up to the horizon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,

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
    /// Every loop completed in the window, per simulated minute.
    pub loops_per_min: f64,
    pub loop_latency_s: Option<Percentiles>,
    pub steps_per_loop: Option<Percentiles>,
    pub step_latency_s: Option<Percentiles>,

    /// LLM calls started (a fan-out step starts several).
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    /// HTTP 429s.
    pub rate_limited: u64,
    /// HTTP 529s.
    pub overloaded: u64,
    pub timeouts: u64,
    pub queue_rejected: u64,
    /// Attempts refused because they can never fit a token bucket.
    pub too_large: u64,
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
    /// From a call's first attempt to the start of the service that answered it.
    pub queue_wait_s: Option<Percentiles>,

    /// Tokens billed: every attempt the provider finished, abandoned or not.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub loops_per_dollar: Option<f64>,

    /// The loop figures of each user class, by name.
    pub classes: BTreeMap<String, ClassSummary>,

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

    /// The same summary labelled with another seed, to compare results alone.
    pub fn with_seed(&self, seed: u64) -> Summary {
        Summary {
            seed,
            ..self.clone()
        }
    }
}
