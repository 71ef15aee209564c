//! A replica's prefix cache, as vLLM's automatic prefix caching keeps it:
//! the KV-cache blocks of a finished (or preempted) call stay in the
//! cache, unreferenced, for a later call of the same session to reuse as
//! its prompt's prefix, until blocks run out and the least recently used
//! are evicted.
//!
//! A session's blocks are a prefix of its tokens: a call that reuses them
//! takes them over, and leaves its own (the longer prefix) when it ends.
//! Blocks are counted, not named: a session keeps its longest prefix.

use std::collections::BTreeMap;

use crate::engine::fast_map::FastMap;

use crate::model::capacity::prompt_cache::Session;

pub(super) struct PrefixCache {
    /// Each session's unreferenced blocks, and when they were last left.
    entries: FastMap<Session, (u64, u64)>,
    /// Sessions by when their blocks were last left: the least recent first.
    lru: BTreeMap<u64, Session>,
    stamp: u64,
    /// Blocks held in all.
    blocks: u64,
}

impl PrefixCache {
    pub(super) fn new() -> Self {
        PrefixCache {
            entries: FastMap::default(),
            lru: BTreeMap::new(),
            stamp: 0,
            blocks: 0,
        }
    }

    /// Blocks held, none referenced: they free when evicted.
    pub(super) fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Blocks `session` holds.
    pub(super) fn peek(&self, session: Session) -> u64 {
        self.entries.get(&session).map_or(0, |e| e.0)
    }

    /// Takes `session`'s blocks out of the cache (a call reuses them).
    pub(super) fn take(&mut self, session: Session) -> u64 {
        let Some((blocks, stamp)) = self.entries.remove(&session) else {
            return 0;
        };
        self.lru.remove(&stamp);
        self.blocks -= blocks;
        blocks
    }

    /// Leaves `blocks` of `session`'s prefix in the cache; returns the
    /// blocks freed: the shorter of the prefix it held and this one.
    pub(super) fn leave(&mut self, session: Session, blocks: u64) -> u64 {
        let held = self.take(session);
        let (kept, freed) = (held.max(blocks), held.min(blocks));
        if kept > 0 {
            self.stamp += 1;
            self.entries.insert(session, (kept, self.stamp));
            self.lru.insert(self.stamp, session);
            self.blocks += kept;
        }
        freed
    }

    /// Evicts the least recently used sessions' blocks until `wanted` are
    /// freed, or none is left; returns the blocks freed. A session's blocks
    /// go from its prefix's end, as vLLM frees a call's blocks.
    pub(super) fn evict(&mut self, wanted: u64) -> u64 {
        let mut freed = 0;
        while freed < wanted {
            let Some((&stamp, &session)) = self.lru.iter().next() else {
                break;
            };
            let entry = self
                .entries
                .get_mut(&session)
                .expect("an entry for each stamp");
            let taken = entry.0.min(wanted - freed);
            entry.0 -= taken;
            freed += taken;
            self.blocks -= taken;
            if entry.0 == 0 {
                self.entries.remove(&session);
                self.lru.remove(&stamp);
            }
        }
        freed
    }
}
