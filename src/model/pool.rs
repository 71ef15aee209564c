//! Capacity pools and the router that picks one per attempt.
//!
//! A model with one `[capacity]` has one pool, and every attempt goes there.
//! With `[[pool]]`s, a spillover router offers each attempt to the pools in
//! order: the first that can take it now ([`super::capacity::Capacity::can_take_now`])
//! gets it, and the last pool takes whatever the others could not.

use serde::{Deserialize, Serialize};

use super::capacity::CapacitySpec;
use super::prices::Prices;

/// One pool: capacity of any kind, with its own prices.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub name: String,
    pub capacity: CapacitySpec,
    pub prices: Prices,
}

/// How attempts are spread over the pools (indices into the model's pools).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Router {
    /// Every attempt to pool 0: a model with one `[capacity]`.
    Only,
    /// The first of `order` that can take the attempt now, else the last.
    /// `queue_up_to[i]` is how many attempts pool `order[i]`'s lane queue
    /// may hold and still take more (reserved pools; 0: only a free lane).
    Spillover {
        order: Vec<usize>,
        queue_up_to: Vec<u32>,
    },
}

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
    pub overloaded: u64,
    pub queue_rejected: u64,
    pub too_large: u64,
    pub unavailable: u64,
    pub server_errors: u64,
    /// Time-averaged attempts in service.
    pub mean_in_flight: f64,
    /// Mean busy lanes / lanes, or mean in flight / `max_concurrency`.
    pub busy_share: Option<f64>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}
