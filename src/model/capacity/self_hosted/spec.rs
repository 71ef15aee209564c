//! What a self-hosted pool is: its replicas' decode speed, routing and
//! autoscaling, as a model file sets them.

use crate::engine::SimDuration;
use crate::model::capacity::admission::Request;
use crate::model::distribution::DurationDist;

/// Aggregate decode speed against the number of sequences decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodeSpeed {
    /// Measured points: (batch, aggregate output tokens/s), batches strictly
    /// increasing from 1; linear between points, flat past the last.
    Table(Vec<(f64, f64)>),
    /// An iteration takes `base_s + per_sequence_s × batch`.
    Linear { base_s: f64, per_sequence_s: f64 },
}

impl DecodeSpeed {
    /// Seconds one decode iteration takes with `batch` sequences.
    pub fn iteration_s(&self, batch: u32) -> f64 {
        let b = f64::from(batch.max(1));
        match self {
            DecodeSpeed::Linear {
                base_s,
                per_sequence_s,
            } => base_s + per_sequence_s * b,
            DecodeSpeed::Table(points) => {
                let tokens_per_s = match points.iter().position(|&(pb, _)| pb >= b) {
                    Some(0) => points[0].1,
                    Some(i) => {
                        let (b0, t0) = points[i - 1];
                        let (b1, t1) = points[i];
                        t0 + (t1 - t0) * (b - b0) / (b1 - b0)
                    }
                    None => points[points.len() - 1].1,
                };
                b / tokens_per_s
            }
        }
    }
}

/// Which warm replica with room takes the queue's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The one with the fewest sequences (the lowest index on a tie).
    LeastLoaded,
    /// The next in turn after the last one chosen.
    RoundRobin,
}

/// What the autoscaler watches, per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMetric {
    /// Sequences waiting in the queue.
    Queue,
    /// Sequences waiting or being served.
    InFlight,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Autoscale {
    pub metric: ScaleMetric,
    /// The metric's value per replica the autoscaler aims at.
    pub target: f64,
    /// How often it decides.
    pub interval: SimDuration,
    /// The metric is averaged over the samples of this long.
    pub window: SimDuration,
    /// How long the fleet must be larger than it needs before the excess
    /// replicas are drained: they take no new sequences and stop once
    /// their last one is done (Kubernetes' scale-down stabilization window).
    pub scale_down_after: SimDuration,
}

#[derive(Clone, Debug)]
pub struct SelfHostedSpec {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Replicas warm at time zero.
    pub initial_replicas: u32,
    pub max_sequences: u32,
    pub kv_cache_tokens: u64,
    pub prefill_tokens_per_s: f64,
    pub decode: DecodeSpeed,
    pub routing: Routing,
    pub queue_limit: Option<u32>,
    pub queue_full_retry_after: Option<SimDuration>,
    pub autoscale: Option<Autoscale>,
    /// Model load time of a replica started by the autoscaler.
    pub cold_start: Option<DurationDist>,
}

impl SelfHostedSpec {
    /// What a call holds of a replica's KV cache at most.
    pub fn reservation(request: Request) -> u64 {
        u64::from(request.input_tokens) + u64::from(request.max_output_tokens)
    }
}
