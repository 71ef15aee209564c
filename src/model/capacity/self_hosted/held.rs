//! A sequence a vLLM replica holds: how far it got, and where its
//! prompt's blocks are cached.

use super::prefix_cache::Part;
use super::sequence::Sequence;
use crate::engine::SimTime;

/// A sequence the replica holds, and how far it got.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) seq: Sequence,
    /// Output tokens made.
    pub(super) made: u32,
    /// Tokens whose KV cache is computed.
    pub(super) computed: u32,
    /// KV-cache blocks it holds of its own.
    pub(super) blocks: u64,
    /// Blocks of its session's prefix it references, shared with other
    /// calls (with prefix caching by blocks), past its class's part.
    pub(super) shared: u64,
    /// Blocks of its class's part it references.
    pub(super) common: u64,
    /// It caught up with its tokens since it was (re)admitted: it decodes.
    pub(super) decoding: bool,
    /// Its service started (it was scheduled once).
    pub(super) started: bool,
    pub(super) first_at: SimTime,
    /// The steps its replica had scheduled when it arrived.
    pub(super) queued_at: u64,
}

impl Held {
    /// Blocks it holds or references.
    pub(super) fn holds(&self) -> u64 {
        self.blocks + self.referenced()
    }

    /// Blocks of its class's and its session's parts it references.
    pub(super) fn referenced(&self) -> u64 {
        self.common + self.shared
    }

    /// Its tokens: the prompt and what it made.
    pub(super) fn tokens(&self) -> u32 {
        self.seq.input + self.made
    }

    /// The tokens of its prompt it may find cached: its cached input, but
    /// not its last token, which vLLM always computes to sample from.
    pub(super) fn cacheable_tokens(&self) -> u32 {
        self.seq.cached.min(self.tokens().saturating_sub(1))
    }

    /// The most whole blocks of its prompt it may find cached.
    pub(super) fn cacheable_blocks(&self, block_size: u32) -> u64 {
        u64::from(self.cacheable_tokens() / block_size)
    }

    /// Where its prompt's blocks are cached: its class's part (its
    /// cacheable whole blocks every session of its class sends alike,
    /// not its last token), then its session's.
    pub(super) fn parts(&self, block_size: u32) -> Option<Parts> {
        let conversation = self.seq.conversation?;
        let common = conversation
            .shared
            .min(self.seq.cached)
            .min(self.seq.input - 1);
        let blocks = u64::from(common / block_size);
        Some(Parts {
            class: conversation
                .shared_part()
                .filter(|_| blocks > 0)
                .map(|class| (class, 0)),
            blocks,
            session: (conversation.session, blocks),
        })
    }

    /// The blocks of `part` it references.
    pub(super) fn references(&self, part: Part, block_size: u32) -> Option<u64> {
        let parts = self.parts(block_size)?;
        if parts.session == part {
            Some(self.shared)
        } else {
            (parts.class == Some(part)).then_some(self.common)
        }
    }
}

/// Where a sequence's prompt blocks are cached: the first `blocks` in its
/// class's part, if it has one, the rest in its session's.
#[derive(Clone, Copy, PartialEq)]
pub(super) struct Parts {
    pub(super) class: Option<Part>,
    pub(super) blocks: u64,
    pub(super) session: Part,
}
