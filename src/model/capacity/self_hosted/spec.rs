//! What a self-hosted pool is: its replicas' decode speed, routing and
//! autoscaling, as a model file sets them.

use crate::engine::SimDuration;
use crate::model::distribution::DurationDist;

/// Aggregate decode speed against the number of sequences decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodeSpeed {
    /// Measured points: (batch, aggregate output tokens/s), batches strictly
    /// increasing from 1; linear between points, flat past the last.
    Table(Vec<(f64, f64)>),
    /// An iteration takes `base_s + per_sequence_s × batch +
    /// per_context_token_s × context`, where `context` is the tokens the
    /// batch's sequences attend to (their KV cache, summed).
    Linear {
        base_s: f64,
        per_sequence_s: f64,
        per_context_token_s: f64,
    },
}

impl DecodeSpeed {
    /// Seconds one decode iteration takes with `batch` sequences attending
    /// to `context` tokens in all.
    pub fn iteration_s(&self, batch: u32, context: u64) -> f64 {
        let b = f64::from(batch.max(1));
        match self {
            DecodeSpeed::Linear {
                base_s,
                per_sequence_s,
                per_context_token_s,
            } => base_s + per_sequence_s * b + per_context_token_s * context as f64,
            DecodeSpeed::Table(points) => b / interpolate(points, b),
        }
    }

    /// Whether an iteration's time depends on the context attended to.
    pub fn reads_context(&self) -> bool {
        match self {
            DecodeSpeed::Linear {
                per_context_token_s,
                ..
            } => *per_context_token_s != 0.0,
            DecodeSpeed::Table(_) => false,
        }
    }
}

/// How fast a replica prefills, against the prompt tokens in one step.
#[derive(Clone, Debug, PartialEq)]
pub enum PrefillSpeed {
    /// Tokens per second, whatever the chunk.
    Constant(f64),
    /// Measured points: (tokens in the step, tokens/s), tokens strictly
    /// increasing; linear between points, flat beyond the ends.
    Table(Vec<(f64, f64)>),
    /// A step prefilling `tokens` spends `base_s + per_token_s × tokens` on them.
    Linear { base_s: f64, per_token_s: f64 },
}

impl PrefillSpeed {
    /// Tokens per second when a step prefills `tokens` (any number, when
    /// a prompt is prefilled whole).
    pub fn tokens_per_s(&self, tokens: f64) -> f64 {
        match self {
            PrefillSpeed::Constant(rate) => *rate,
            PrefillSpeed::Table(points) => interpolate(points, tokens),
            PrefillSpeed::Linear {
                base_s,
                per_token_s,
            } if tokens.is_finite() => tokens / (base_s + per_token_s * tokens),
            PrefillSpeed::Linear { per_token_s, .. } => 1.0 / per_token_s,
        }
    }

    /// Seconds a step spends prefilling `tokens`.
    pub fn seconds(&self, tokens: u64) -> f64 {
        match self {
            _ if tokens == 0 => 0.0,
            PrefillSpeed::Linear {
                base_s,
                per_token_s,
            } => base_s + per_token_s * tokens as f64,
            _ => tokens as f64 / self.tokens_per_s(tokens as f64),
        }
    }
}

/// The value at `x` of measured `points` (x strictly increasing): linear
/// between points, flat beyond the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    match points.iter().position(|&(px, _)| px >= x) {
        Some(0) => points[0].1,
        Some(i) => {
            let (x0, y0) = points[i - 1];
            let (x1, y1) = points[i];
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        }
        None => points[points.len() - 1].1,
    }
}

/// How a replica decides what runs in each step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheduler {
    /// As vLLM's V1 engine schedules: KV cache in blocks of `block_size`
    /// tokens taken as a sequence grows; a waiting sequence admitted when
    /// its next chunk fits; every step runs each running sequence's next
    /// token and up to `max_num_batched_tokens` tokens in all, prompts in
    /// chunks; a running sequence preempted (the latest admitted first)
    /// when blocks run out.
    Vllm {
        block_size: u32,
        max_num_batched_tokens: u32,
        preemption: Preemption,
        prefix_cache: PrefixCaching,
        /// Each step planned when the one before it starts (vLLM's async
        /// scheduling): a sequence arriving during a step waits for the
        /// next one too, unless nothing else would run.
        async_scheduling: bool,
    },
    /// Each call reserves its input plus `max_tokens` of KV cache when it
    /// is admitted, as TGI's router plans a batch; one prefill at a time,
    /// whole, with decoding paused.
    Reserve,
}

/// Which prompt tokens a vLLM replica does not compute again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixCaching {
    /// A call's cached input, as its agent or trace gives it, in whole blocks.
    Given,
    /// The whole blocks of its cached input that its session's earlier
    /// calls left in this replica's cache (least recently used evicted
    /// first when blocks run out).
    Blocks,
}

/// What becomes of a preempted sequence's KV cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preemption {
    /// Freed: the sequence prefills its prompt and what it made again
    /// (vLLM V1's only mode).
    Recompute,
    /// Copied to host memory and back when it resumes, computing nothing
    /// again (vLLM V0's `preemption_mode = "swap"`). Copying its KV
    /// tokens out and back in at `tokens_per_s` lengthens the steps they
    /// happen in.
    Swap { tokens_per_s: f64 },
}

/// Which warm replica with room takes the queue's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The one with the fewest sequences (the lowest index on a tie).
    LeastLoaded,
    /// The next in turn after the last one chosen.
    RoundRobin,
    /// The one the call's session hashes to among those open (rendezvous
    /// hashing, as vLLM's production-stack router routes by session), so
    /// a session's calls find the blocks it left; calls of no session go
    /// to the least loaded.
    Session,
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
    pub prefill: PrefillSpeed,
    pub decode: DecodeSpeed,
    pub scheduler: Scheduler,
    pub routing: Routing,
    pub queue_limit: Option<u32>,
    pub queue_full_retry_after: Option<SimDuration>,
    pub autoscale: Option<Autoscale>,
    /// Model load time of a replica started by the autoscaler.
    pub cold_start: Option<DurationDist>,
}

impl SelfHostedSpec {
    /// Prefill tokens per second of a call alone on a replica: in chunks
    /// of a step's budget, or whole.
    pub fn lone_prefill_tokens_per_s(&self) -> f64 {
        let chunk = match self.scheduler {
            Scheduler::Vllm {
                max_num_batched_tokens,
                ..
            } => f64::from(max_num_batched_tokens),
            Scheduler::Reserve => f64::INFINITY,
        };
        self.prefill.tokens_per_s(chunk)
    }

    /// Whether a replica's KV cache could hold a call of `tokens` (its
    /// input and `max_tokens`) alone: within its tokens, or its whole blocks.
    pub fn could_hold(&self, tokens: u64) -> bool {
        match self.scheduler {
            Scheduler::Reserve => tokens <= self.kv_cache_tokens,
            Scheduler::Vllm { block_size, .. } => {
                let block_size = u64::from(block_size);
                tokens.div_ceil(block_size) <= self.kv_cache_tokens / block_size
            }
        }
    }
}
