//! The event list's near end: the few earliest events, kept sorted latest
//! first, so the earliest is popped off the end.
//!
//! A run with a handful of pending events (an M/M/c queue holds about as
//! many as it has lanes) keeps them all here. Popping is one read; adding
//! moves the events due no later than the new one up a place, from the
//! earliest end, as an insertion sort does. Against a 4-ary heap of ten
//! events that is a third of the instructions an event, and the queue
//! spills the events later than its limit past `SPILL` (in the parent),
//! so the moves stay short; ties at that limit stay, and each new one
//! moves them all.
//!
//! Events with equal keys need no insertion counter: a new one goes in
//! front of (so pops after) every one already here with its key, and a
//! batch sorted at once keeps the order it came in.

use std::cell::Cell;

/// A pending event, here or in a bucket.
#[derive(Clone, Copy)]
pub(super) struct Entry<E> {
    /// Time, then rank, as one integer.
    pub key: u64,
    pub event: E,
}

pub(super) struct Near<E> {
    /// Latest first; among equal keys, the last to come first.
    entries: Vec<Entry<E>>,
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

    /// The earliest entry, first come among equal keys.
    #[inline(always)]
    pub fn peek(&self) -> Option<&Entry<E>> {
        self.entries.last()
    }

    /// Adds `entry`, after every entry with its key.
    #[inline(always)]
    pub fn push(&mut self, entry: Entry<E>) {
        self.entries.push(entry);
        // From the earliest end, each entry due no later moves up a place
        // (through cells, pair by pair, so no index is checked).
        let cells = Cell::from_mut(self.entries.as_mut_slice()).as_slice_of_cells();
        for pair in cells.windows(2).rev() {
            let earlier = pair[0].get();
            if earlier.key > entry.key {
                pair[1].set(entry);
                return;
            }
            pair[1].set(earlier);
        }
        cells[0].set(entry);
    }

    /// Adds `entry` without sorting: [`Near::sort`] must follow before the
    /// next read.
    pub fn push_unsorted(&mut self, entry: Entry<E>) {
        self.entries.push(entry);
    }

    /// Sorts the entries added by [`Near::push_unsorted`], those with equal
    /// keys in the order they came.
    pub fn sort(&mut self) {
        self.entries.sort_by_key(|e| e.key);
        self.entries.reverse();
    }

    /// Removes and returns the earliest entry.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Entry<E>> {
        self.entries.pop()
    }

    /// Removes the entries keyed above `limit` and returns them, earliest
    /// first and those with equal keys in the order they came.
    pub fn split_above(&mut self, limit: u64) -> impl Iterator<Item = Entry<E>> + '_ {
        let later = self.entries.partition_point(|e| e.key > limit);
        self.entries.drain(..later).rev()
    }
}
