//! One replica of a self-hosted pool: its life (loading, warm, draining,
//! stopped) and its sequences, scheduled as its [`Scheduler`] says.

use super::clocked::Clocked;
use super::spec::{Scheduler, SelfHostedSpec};
use super::stepped::Stepped;
use crate::engine::SimTime;

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
            Scheduler::Vllm {
                block_size,
                prefix_cache,
                ..
            } => Work::Stepped(Stepped::new(
                spec.kv_cache_tokens,
                block_size,
                prefix_cache,
                now,
            )),
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
