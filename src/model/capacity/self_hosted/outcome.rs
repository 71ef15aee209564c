//! What replicas tell their pool: the attempts a wake-up moved on, and the
//! figures they count over the measured window.

use crate::engine::Key;

/// What a replica's wake-up did.
#[derive(Debug, Default, PartialEq)]
pub struct Woken {
    /// Attempts whose first token came (their prefill ended), and whether
    /// each waited on a cold start.
    pub first_tokens: Vec<(Key, bool)>,
    /// Attempts done, in the order they finished.
    pub finished: Vec<Key>,
    /// Seconds per output token after the first of those that made more than one.
    pub per_token_s: Vec<f64>,
}

/// A pool's figures over the measured window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStats {
    /// Seconds spent decoding at each batch size, summed over replicas.
    pub batch_seconds: Vec<f64>,
    /// KV-cache token-seconds held, and offered by warm replicas.
    pub kv_held: f64,
    pub kv_offered: f64,
    pub cold_starts: u64,
    /// Running sequences preempted when KV-cache blocks ran out.
    pub preemptions: u64,
    /// Prompt tokens that could have come from the prefix cache (each
    /// call's cached input) as calls were admitted, and those that did.
    pub cacheable_tokens: u64,
    pub cache_hit_tokens: u64,
}

/// A pool's replicas and KV cache at an instant.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FleetLevel {
    /// Replicas loading or warm.
    pub alive: u32,
    /// KV-cache tokens held (blocks in use, or tokens computed), and
    /// those warm replicas offer.
    pub kv_held: f64,
    pub kv_offered: f64,
}
