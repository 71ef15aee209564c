//! One replica of a self-hosted pool: its sequences waiting for prefill
//! and decoding, and the virtual clock of tokens made per sequence.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::engine::{Key, SimTime};

/// A call on its way through the pool.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sequence {
    pub(super) attempt: Key,
    pub(super) input: u32,
    pub(super) uncached: u32,
    pub(super) output: u32,
    pub(super) reserved: u64,
    pub(super) arrived: SimTime,
    /// It waited for a replica that was still loading when it arrived.
    pub(super) cold: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplicaState {
    Stopped,
    Starting,
    Warm,
}

/// A decoding sequence, ordered by its finish mark (ties by admission).
#[derive(Clone, Copy, Debug)]
pub(super) struct Decoding {
    pub(super) finish: f64,
    pub(super) order: u64,
    pub(super) attempt: Key,
    pub(super) input: u32,
    pub(super) reserved: u64,
    pub(super) start_v: f64,
}

impl PartialEq for Decoding {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Decoding {}
impl PartialOrd for Decoding {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Decoding {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.finish
            .total_cmp(&other.finish)
            .then(self.order.cmp(&other.order))
    }
}

/// Bytes one replica holds before its sequences.
pub const REPLICA_BYTES: usize = size_of::<Replica>();

pub(super) struct Replica {
    pub(super) state: ReplicaState,
    /// Started by the autoscaler (so a sequence waiting for it waited on a
    /// cold start), and when it is or was warm.
    pub(super) cold_started: bool,
    pub(super) ready_at: SimTime,
    /// Waiting for their prefill; the head prefilling since `prefill_since`.
    pub(super) prefill: VecDeque<Sequence>,
    pub(super) prefill_since: SimTime,
    pub(super) decoding: BinaryHeap<Reverse<Decoding>>,
    /// Tokens made per decoding sequence since the replica started, as of `v_at`.
    pub(super) v: f64,
    pub(super) v_at: SimTime,
    /// Sums over decoding sequences, for the KV cache they hold.
    pub(super) decoding_input: u64,
    pub(super) decoding_start_v: f64,
    pub(super) kv_reserved: u64,
    /// Scaled down: it takes no new sequences and stops when empty.
    pub(super) draining: bool,
    /// Its pending wake-up's number: older ones are stale.
    pub(super) generation: u32,
    /// A capacity drop holds it: it takes nothing new.
    pub(super) held: bool,
}

impl Replica {
    pub(super) fn new(
        state: ReplicaState,
        now: SimTime,
        ready_at: SimTime,
        cold_started: bool,
    ) -> Self {
        Replica {
            state,
            cold_started,
            ready_at,
            prefill: VecDeque::new(),
            prefill_since: now,
            decoding: BinaryHeap::new(),
            v: 0.0,
            v_at: now,
            decoding_input: 0,
            decoding_start_v: 0.0,
            kv_reserved: 0,
            draining: false,
            generation: 0,
            held: false,
        }
    }

    pub(super) fn sequences(&self) -> u32 {
        (self.prefill.len() + self.decoding.len()) as u32
    }

    pub(super) fn is_idle(&self) -> bool {
        self.prefill.is_empty() && self.decoding.is_empty()
    }

    pub(super) fn is_alive(&self) -> bool {
        self.state != ReplicaState::Stopped
    }

    /// KV-cache tokens held: inputs of sequences past prefill plus every
    /// token they made.
    pub(super) fn kv_held(&self) -> f64 {
        let n = self.decoding.len() as f64;
        self.decoding_input as f64 + n * (1.0 + self.v) - self.decoding_start_v
    }
}
