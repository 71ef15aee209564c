//! One replica of a self-hosted pool: its life (loading, warm, draining,
//! stopped) and its sequences, scheduled as its [`Scheduler`] says.

use super::clocked::Clocked;
use super::spec::{Scheduler, SelfHostedSpec};
use super::stepped::Stepped;
use crate::engine::{Key, SimTime};

/// A call on its way through the pool.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sequence {
    pub(super) attempt: Key,
    pub(super) input: u32,
    /// Input tokens its prompt cache holds (not computed again).
    pub(super) cached: u32,
    pub(super) output: u32,
    /// The most output tokens it may make (its `max_tokens`).
    pub(super) max_output: u32,
    pub(super) arrived: SimTime,
    /// It waited for a replica that was still loading when it arrived.
    pub(super) cold: bool,
}

impl Sequence {
    pub(super) fn uncached(&self) -> u32 {
        self.input - self.cached
    }

    /// What it holds of a replica's KV cache at most: its input plus its `max_tokens`.
    pub(super) fn reserved(&self) -> u64 {
        u64::from(self.input) + u64::from(self.max_output)
    }

    /// Output tokens it makes: what it was asked for, at least one, at most `max_tokens`.
    pub(super) fn makes(&self) -> u32 {
        self.output.min(self.max_output).max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReplicaState {
    Stopped,
    Starting,
    Warm,
}

/// A replica's sequences, as its scheduler keeps them.
pub(super) enum Work {
    Clocked(Clocked),
    Stepped(Stepped),
}

/// Bytes one replica holds before its sequences.
pub const REPLICA_BYTES: usize = size_of::<Replica>();

pub(super) struct Replica {
    pub(super) state: ReplicaState,
    /// Started by the autoscaler (so a sequence waiting for it waited on a
    /// cold start), and when it is or was warm.
    pub(super) cold_started: bool,
    pub(super) ready_at: SimTime,
    pub(super) work: Work,
    /// Scaled down: it takes no new sequences and stops when empty.
    pub(super) draining: bool,
    /// Its pending wake-up's number: older ones are stale.
    pub(super) generation: u32,
    /// A capacity drop holds it: it takes nothing new.
    pub(super) held: bool,
}

impl Replica {
    pub(super) fn new(
        spec: &SelfHostedSpec,
        state: ReplicaState,
        now: SimTime,
        ready_at: SimTime,
        cold_started: bool,
    ) -> Self {
        let work = match spec.scheduler {
            Scheduler::Reserve => Work::Clocked(Clocked::new(now)),
            Scheduler::Vllm { block_size, .. } => {
                Work::Stepped(Stepped::new(spec.kv_cache_tokens / u64::from(block_size), now))
            }
        };
        Replica {
            state,
            cold_started,
            ready_at,
            work,
            draining: false,
            generation: 0,
            held: false,
        }
    }

    /// Sequences it holds: waiting for it, prefilling or decoding.
    pub(super) fn sequences(&self) -> u32 {
        match &self.work {
            Work::Clocked(c) => c.sequences(),
            Work::Stepped(s) => s.waiting() + s.running(),
        }
    }

    /// Sequences it serves (a stepped replica's waiting ones aside).
    pub(super) fn in_service(&self) -> u32 {
        match &self.work {
            Work::Clocked(c) => c.sequences(),
            Work::Stepped(s) => s.running(),
        }
    }

    /// Sequences waiting for it to take them in.
    pub(super) fn waiting(&self) -> u32 {
        match &self.work {
            Work::Clocked(_) => 0,
            Work::Stepped(s) => s.waiting(),
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        match &self.work {
            Work::Clocked(c) => c.is_idle(),
            Work::Stepped(s) => s.is_idle(),
        }
    }

    pub(super) fn is_alive(&self) -> bool {
        self.state != ReplicaState::Stopped
    }

    /// Whether it takes new sequences at all.
    pub(super) fn open(&self) -> bool {
        self.state == ReplicaState::Warm && !self.held && !self.draining
    }
}
