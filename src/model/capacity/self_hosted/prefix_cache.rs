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
//!
//! vLLM names a block by its tokens and all before them, so the blocks
//! every session of a user class starts with alike (a system prompt, tool
//! definitions) are one prefix for all of them, the class's part
//! (`Session::Agent`), and each session's own blocks continue it: a
//! session's part counts its blocks past the class's (`Part`). The
//! class's part has no branches, only lengths: a call referencing fewer
//! of its blocks frees none, and one that ends leaves the longer. A call
//! that ends leaves its session's part before its class's, so the class's
//! is evicted only after the sessions' parts left before it, which are
//! of no use without it. A session's part is kept apart for each length
//! of its class's part: a session whose calls start with class parts of
//! other lengths (a call with fewer cached tokens than the part) finds
//! only the blocks its calls of the same length left.

use std::collections::BTreeMap;

use crate::engine::fast_map::FastMap;

use crate::model::capacity::prompt_cache::Session;

/// Where a prefix's blocks are: a session's past the first blocks of its
/// class's part (how many), or a class's part (`Session::Agent`, 0).
pub(super) type Part = (Session, u64);

/// Whether a part follows a conversation's branches (a session's), or
/// only grows and shrinks (a class's).
fn branches((session, _): Part) -> bool {
    !matches!(session, Session::Agent { .. })
}

/// A part's prefix.
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
    entries: FastMap<Part, Entry>,
    /// Sessions with unreferenced blocks by when they were last left: the
    /// least recent first.
    lru: BTreeMap<u64, Part>,
    stamp: u64,
    /// Unreferenced blocks in all: they free when evicted.
    unreferenced: u64,
}

impl PrefixCache {
    pub(super) fn new() -> Self {
        PrefixCache {
            entries: FastMap::default(),
            lru: BTreeMap::new(),
            stamp: 0,
            unreferenced: 0,
        }
    }

    /// Blocks held that no running call references: they free when evicted.
    pub(super) fn unreferenced(&self) -> u64 {
        self.unreferenced
    }

    /// Blocks running calls reference (each once, however many do).
    #[cfg(test)]
    pub(super) fn referenced(&self) -> u64 {
        self.entries.values().map(|e| e.referenced).sum()
    }

    /// Blocks `part`'s prefix holds, and how many of its first running
    /// calls reference.
    pub(super) fn prefix(&self, part: Part) -> (u64, u64) {
        self.entries
            .get(&part)
            .map_or((0, 0), |e| (e.blocks, e.referenced))
    }

    /// `part`'s prefix after `change`, its totals and its place in the
    /// order of eviction kept (`left`: its blocks were left just now).
    fn update<R>(&mut self, part: Part, left: bool, change: impl FnOnce(&mut Entry) -> R) -> R {
        let entry = self.entries.entry(part).or_default();
        self.unreferenced -= entry.unreferenced();
        let result = change(entry);
        debug_assert!(entry.referenced <= entry.blocks);
        self.unreferenced += entry.unreferenced();
        if (left || entry.unreferenced() == 0)
            && let Some(stamp) = entry.stamp.take()
        {
            self.lru.remove(&stamp);
        }
        if entry.unreferenced() > 0 && entry.stamp.is_none() {
            self.stamp += 1;
            entry.stamp = Some(self.stamp);
            self.lru.insert(self.stamp, part);
        }
        if entry.blocks == 0 {
            self.entries.remove(&part);
        }
        result
    }

    /// A running call of a session that references the whole prefix of
    /// its `part` adds `blocks` of its own to it, for another call to
    /// reference.
    pub(super) fn extend(&mut self, part: Part, blocks: u64) {
        self.update(part, false, |e| {
            debug_assert_eq!(e.referenced, e.blocks, "a prefix extended past its tail");
            e.blocks += blocks;
            e.referenced = e.blocks;
        });
    }

    /// A call is admitted referencing the first `blocks` of `part`'s
    /// prefix. Past them its prompt is another branch of the
    /// conversation, the one a later call continues: unless running calls
    /// reference blocks past them, or the part is a class's, the prefix's
    /// tail is freed (as [`leave`] would replace it). Returns the blocks
    /// freed.
    ///
    /// [`leave`]: PrefixCache::leave
    pub(super) fn reference(&mut self, part: Part, blocks: u64) -> u64 {
        if !self.entries.contains_key(&part) {
            return 0; // nothing held: nothing referenced, nothing freed
        }
        self.update(part, false, |e| {
            debug_assert!(blocks <= e.blocks);
            if e.referenced > blocks {
                return 0;
            }
            if !branches(part) {
                e.referenced = blocks;
                return 0;
            }
            let freed = e.blocks - blocks;
            e.blocks = blocks;
            e.referenced = blocks;
            freed
        })
    }

    /// A call leaves `part`: it referenced `shared` blocks of the prefix
    /// and held `own` more, of which the first `kept` continue it; running
    /// calls now reference `still` of the prefix. A session's is the
    /// prefix a later call continues, so it replaces the prefix's tail
    /// past `shared` (another branch of the conversation); but while other
    /// calls reference blocks past `shared`, or the part is a class's, the
    /// prefix keeps the longer of the two. Returns the blocks freed.
    pub(super) fn leave(
        &mut self,
        part: Part,
        (shared, own, kept): (u64, u64, u64),
        still: u64,
    ) -> u64 {
        self.update(part, true, |e| {
            debug_assert!(shared <= e.blocks && kept <= own && still <= e.referenced);
            let before = e.blocks;
            e.blocks = if still > shared || !branches(part) {
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
            let Some((_, &part)) = self.lru.iter().next() else {
                break;
            };
            freed += self.update(part, false, |e| {
                let taken = e.unreferenced().min(wanted - freed);
                e.blocks -= taken;
                taken
            });
        }
        freed
    }
}
