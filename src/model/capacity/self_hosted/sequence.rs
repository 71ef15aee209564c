//! A call on a self-hosted pool: what its replica needs to know of it.

use crate::engine::{Key, SimTime};
use crate::model::capacity::prompt_cache::{Conversation, Session};

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
    /// Whose conversation it continues, and the part its class's sessions
    /// send alike, for the prefix cache.
    pub(super) conversation: Option<Conversation>,
    /// It waited for a replica that was still loading when it arrived.
    pub(super) cold: bool,
}

impl Sequence {
    /// Whose conversation it continues.
    pub(super) fn session(&self) -> Option<Session> {
        self.conversation.map(|c| c.session)
    }

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
