//! A replica's prefix cache, as vLLM's automatic prefix caching keeps it
//! (`vllm/v1/core/kv_cache_manager.py`, `block_pool.py`): a call's whole
//! blocks are cached as soon as they are scheduled, so a later call of the
//! same session reuses them by reference, even while the first still runs;
//! blocks no running call references stay cached, unreferenced, until
//! blocks run out and the least recently left are evicted, a prefix's
//! tail first.
//!
//! Blocks are counted, not named. A session's blocks are one prefix of
//! its tokens: running calls reference its first blocks (the longest any
//! references is its referenced part); the rest are unreferenced. The
//! prefix follows the session's latest branch: a call whose prompt leaves
//! it frees its tail, and a call that ends leaves its own blocks as the
//! prefix, unless running calls reference past where it left it (then
//! the longer of the two stays).

use std::collections::BTreeMap;

use crate::engine::fast_map::FastMap;

use crate::model::capacity::prompt_cache::Session;

/// A session's prefix.
#[derive(Clone, Copy, Default)]
struct Entry {
    /// Blocks held, referenced or not.
    blocks: u64,
    /// Of them, the first that running calls reference.
    referenced: u64,
    /// Its place in the order of eviction while it has unreferenced blocks.
    stamp: Option<u64>,
}

impl Entry {
    fn unreferenced(&self) -> u64 {
        self.blocks - self.referenced
    }
}

pub(super) struct PrefixCache {
    entries: FastMap<Session, Entry>,
    /// Sessions with unreferenced blocks by when they were last left: the
    /// least recent first.
    lru: BTreeMap<u64, Session>,
    stamp: u64,
    /// Unreferenced blocks in all: they free when evicted.
    unreferenced: u64,
    /// Referenced blocks in all.
    referenced: u64,
}

impl PrefixCache {
    pub(super) fn new() -> Self {
        PrefixCache {
            entries: FastMap::default(),
            lru: BTreeMap::new(),
            stamp: 0,
            unreferenced: 0,
            referenced: 0,
        }
    }

    /// Blocks held that no running call references: they free when evicted.
    pub(super) fn unreferenced(&self) -> u64 {
        self.unreferenced
    }

    /// Blocks running calls reference (each once, however many do).
    pub(super) fn referenced(&self) -> u64 {
        self.referenced
    }

    /// Blocks `session`'s prefix holds, and how many of its first running
    /// calls reference.
    pub(super) fn prefix(&self, session: Session) -> (u64, u64) {
        self.entries
            .get(&session)
            .map_or((0, 0), |e| (e.blocks, e.referenced))
    }

    /// `session`'s prefix after `change`, its totals and its place in the
    /// order of eviction kept (`left`: its blocks were left just now).
    fn update<R>(
        &mut self,
        session: Session,
        left: bool,
        change: impl FnOnce(&mut Entry) -> R,
    ) -> R {
        let entry = self.entries.entry(session).or_default();
        self.unreferenced -= entry.unreferenced();
        self.referenced -= entry.referenced;
        let result = change(entry);
        debug_assert!(entry.referenced <= entry.blocks);
        self.unreferenced += entry.unreferenced();
        self.referenced += entry.referenced;
        if (left || entry.unreferenced() == 0)
            && let Some(stamp) = entry.stamp.take()
        {
            self.lru.remove(&stamp);
        }
        if entry.unreferenced() > 0 && entry.stamp.is_none() {
            self.stamp += 1;
            entry.stamp = Some(self.stamp);
            self.lru.insert(self.stamp, session);
        }
        if entry.blocks == 0 {
            self.entries.remove(&session);
        }
        result
    }

    /// A running call of `session` that references the whole prefix adds
    /// `blocks` of its own to it, for another call to reference.
    pub(super) fn extend(&mut self, session: Session, blocks: u64) {
        self.update(session, false, |e| {
            debug_assert_eq!(e.referenced, e.blocks, "a prefix extended past its tail");
            e.blocks += blocks;
            e.referenced = e.blocks;
        });
    }

    /// A call of `session` is admitted referencing the first `blocks` of
    /// its prefix. Past them its prompt is another branch of the
    /// conversation, the one a later call continues: unless running calls
    /// reference blocks past them, the prefix's tail is freed (as [`leave`]
    /// would replace it). Returns the blocks freed.
    ///
    /// [`leave`]: PrefixCache::leave
    pub(super) fn reference(&mut self, session: Session, blocks: u64) -> u64 {
        if !self.entries.contains_key(&session) {
            return 0; // nothing held: nothing referenced, nothing freed
        }
        self.update(session, false, |e| {
            debug_assert!(blocks <= e.blocks);
            if e.referenced > blocks {
                return 0;
            }
            let freed = e.blocks - blocks;
            e.blocks = blocks;
            e.referenced = blocks;
            freed
        })
    }

    /// A call of `session` leaves: it referenced `shared` blocks of the
    /// prefix and held `own` more, of which the first `kept` continue it;
    /// running calls now reference `still` of the prefix. The call's is
    /// the prefix a later call continues, so it replaces the prefix's tail
    /// past `shared` (another branch of the conversation); but while other
    /// calls reference blocks past `shared`, the prefix keeps the longer
    /// of the two. Returns the blocks freed.
    pub(super) fn leave(
        &mut self,
        session: Session,
        (shared, own, kept): (u64, u64, u64),
        still: u64,
    ) -> u64 {
        self.update(session, true, |e| {
            debug_assert!(shared <= e.blocks && kept <= own && still <= e.referenced);
            let before = e.blocks;
            e.blocks = if still > shared {
                before.max(shared + kept)
            } else {
                shared + kept
            };
            e.referenced = still;
            before + own - e.blocks
        })
    }

    /// Evicts the least recently left sessions' unreferenced blocks until
    /// `wanted` are freed, or none is left; returns the blocks freed. A
    /// prefix loses its tail first, as vLLM frees a call's blocks in
    /// reverse so that its tail is evicted first.
    pub(super) fn evict(&mut self, wanted: u64) -> u64 {
        let mut freed = 0;
        while freed < wanted {
            let Some((_, &session)) = self.lru.iter().next() else {
                break;
            };
            freed += self.update(session, false, |e| {
                let taken = e.unreferenced().min(wanted - freed);
                e.blocks -= taken;
                taken
            });
        }
        freed
    }
}
