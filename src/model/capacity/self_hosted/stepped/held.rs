//! A sequence a replica holds: how far it got, where its prompt's blocks
//! are cached, and where it starts when it is admitted.

use std::cmp::Reverse;

use super::Stepped;
use crate::engine::SimTime;
use crate::model::capacity::self_hosted::prefix_cache::Part;
use crate::model::capacity::self_hosted::sequence::Sequence;

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

/// Where a waiting sequence starts when it is admitted: the tokens it has
/// computed, the blocks of its class's part it references (`common`), and
/// of its session's (`reuses`, if it reaches it: its class's whole), of
/// which `pinned` were unreferenced, and `promoted` the blocks a part
/// gains from the running sequence at that index first.
#[derive(Clone, Copy)]
pub(super) struct Resume {
    pub(super) computed: u32,
    pub(super) common: u64,
    pub(super) reuses: Option<u64>,
    pub(super) pinned: u64,
    pub(super) promoted: Option<(Part, usize, u64)>,
}

impl Stepped {
    /// Where `held`, waiting, would start if admitted now, the running
    /// sequences computing `scheduled` tokens each in this step (changing
    /// nothing).
    pub(super) fn resume(&self, held: &Held, scheduled: &[u32]) -> Resume {
        let block_size = self.block_size;
        // Blocks of its own for all it starts with: what it computed
        // (swapped out), or its given cached blocks, or none.
        let anew = |computed| Resume {
            computed,
            common: 0,
            reuses: None,
            pinned: 0,
            promoted: None,
        };
        let cacheable = held.cacheable_blocks(block_size);
        let (cache, parts) = match (&self.cache, held.parts(block_size)) {
            _ if held.computed > 0 => return anew(held.computed),
            (Some(cache), Some(parts)) => (cache, parts),
            (Some(_), None) => return anew(0),
            // Given: its cached blocks are a hit, held anew.
            (None, _) => return anew((cacheable * u64::from(block_size)) as u32),
        };
        let at = |common, reuses: u64| ((common + reuses) * u64::from(block_size)) as u32;
        // As much of its class's part as is cached, or being computed; its
        // session's blocks continue the whole of it, so none is found
        // past a missing block.
        let (cached, pinned) = parts.class.map_or((0, 0), |class| {
            let (blocks, referenced) = cache.prefix(class);
            let cached = parts.blocks.min(blocks);
            (cached, cached.saturating_sub(referenced))
        });
        if let Some(class) = parts.class.filter(|_| cached < parts.blocks) {
            let promoted = self.continuing(scheduled, class, (0, cached), parts.blocks);
            let common = cached + promoted.map_or(0, |p| p.1);
            return Resume {
                computed: at(common, 0),
                common,
                pinned,
                promoted: promoted.map(|(i, more)| (class, i, more)),
                ..anew(0)
            };
        }
        let (prefix, referenced) = cache.prefix(parts.session);
        let promoted = self.continuing(scheduled, parts.session, (parts.blocks, prefix), cacheable);
        let reuses = (cacheable - parts.blocks).min(prefix + promoted.map_or(0, |p| p.1));
        Resume {
            computed: at(cached, reuses),
            common: cached,
            reuses: Some(reuses),
            pinned: pinned + reuses.min(prefix).saturating_sub(referenced),
            promoted: promoted.map(|(i, more)| (parts.session, i, more)),
        }
    }

    /// The running sequence that references the first `prefix` blocks of
    /// `part` (from its block `start` on) and nothing past them, and
    /// continues them furthest towards block `end` with whole blocks of
    /// its prompt (of a class's part, its own), computed or being computed
    /// in this step, as vLLM caches a call's whole blocks when it
    /// schedules them: its index and how many blocks more.
    fn continuing(
        &self,
        scheduled: &[u32],
        part: Part,
        (start, prefix): (u64, u64),
        end: u64,
    ) -> Option<(usize, u64)> {
        if end <= start + prefix {
            return None;
        }
        let block_size = self.block_size;
        self.running
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.references(part, block_size) == Some(prefix) && h.referenced() == start + prefix
            })
            .map(|(i, h)| {
                let now = scheduled.get(i).copied().unwrap_or(0);
                let through = u64::from((h.computed + now).min(h.seq.input) / block_size);
                let its_end = h
                    .parts(block_size)
                    .map_or(0, |p| if p.session == part { end } else { p.blocks });
                (
                    i,
                    through.min(end).min(its_end).saturating_sub(start + prefix),
                )
            })
            .filter(|&(_, more)| more > 0)
            .max_by_key(|&(i, more)| (more, Reverse(i)))
    }
}
