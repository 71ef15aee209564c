//! The event list's near end: the few earliest events, kept sorted latest
//! first under unique 128-bit keys, so the earliest is popped off the end.
//!
//! A run with a handful of pending events (an M/M/c queue holds about as
//! many as it has lanes) keeps them all here. Popping is one read; adding
//! is a search from the earliest end and a short move of the events due before the new
//! one. Against a 4-ary heap of ten events that is a third of the
//! instructions an event, and the queue bounds how many it holds (see
//! `SPILL` in the parent), so the search and the move stay short.

pub(super) struct Near<E> {
    /// Latest first.
    entries: Vec<Entry<E>>,
}

#[derive(Clone, Copy)]
pub(super) struct Entry<E> {
    pub key: u128,
    pub event: E,
}

impl<E: Copy> Near<E> {
    pub fn new() -> Self {
        Near {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The least entry.
    #[inline(always)]
    pub fn peek(&self) -> Option<&Entry<E>> {
        self.entries.last()
    }

    /// Adds an entry keyed `key`, which no entry holds. Its place is
    /// sought from the earliest end, where new events mostly fall, and
    /// the move that makes room is as long as that search.
    #[inline]
    pub fn push(&mut self, key: u128, event: E) {
        let at = self
            .entries
            .iter()
            .rposition(|e| e.key > key)
            .map_or(0, |later| later + 1);
        self.entries.insert(at, Entry { key, event });
    }

    /// Adds an entry keyed `key`, which no entry holds, without sorting:
    /// [`Near::sort`] must follow before the next read.
    pub fn push_unsorted(&mut self, key: u128, event: E) {
        self.entries.push(Entry { key, event });
    }

    /// Sorts entries added by [`Near::push_unsorted`].
    pub fn sort(&mut self) {
        self.entries
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
    }

    /// Removes and returns the least entry.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Entry<E>> {
        self.entries.pop()
    }

    /// Removes the entries keyed above `limit` (in their `key >> 64`) and
    /// returns them, least first.
    pub fn split_above(&mut self, limit: u64) -> impl Iterator<Item = Entry<E>> + '_ {
        let later = self
            .entries
            .partition_point(|e| (e.key >> 64) as u64 > limit);
        self.entries.drain(..later).rev()
    }
}
