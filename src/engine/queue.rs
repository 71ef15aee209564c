//! The future-event list: events ordered by (time, rank), first in first out
//! among events due at the same instant with the same rank.
//!
//! Two parts. The near end is a short run kept sorted by (time, rank): a
//! model with a few dozen events pending lives there whole, and pops one
//! by reading the end of a vector. The far end is a radix heap: a run's
//! clock only moves forward, so bucket `i` holds the events whose key first
//! differs from `last`, the least key taken from the buckets, at bit `i`.
//! Scheduling there appends to a bucket; when the near end runs dry, the
//! lowest bucket either moves into it (with the next buckets, while they
//! total at most [`NEAR`] events) or, when larger, is dealt out to lower
//! buckets in order. Both passes read and write memory in order, where a heap of 10^5
//! events pays a cache miss at every level, so a run with 10^5 pending
//! events spends about as long here per event as one with 10^3 (see
//! `benches/population.rs`).
//!
//! Every event in the near end is due before every event in the buckets.
//! Neither needs an insertion counter for ties: events with equal keys are
//! always in the same bucket, every bucket keeps the order events reach it
//! in, and the near end keeps that order when they move there and places
//! a new event after those with its key.

mod near;

use super::time::SimTime;
use near::{Entry, Near};

/// Bits of a key below the time, holding the rank.
const RANK_BITS: u32 = 8;
/// The latest time a key holds: 2^56 µs, about 2,283 years, beyond the
/// end of any run (a run lasts at most two centuries, warm-up included).
/// Events scheduled later are held at it, never to be due.
const LATEST: u64 = (1 << (64 - RANK_BITS)) - 1;
/// Bits of a key, and so buckets.
const BUCKETS: usize = 64;
/// Events a chunk of a bucket holds (8 KiB of 32-byte events).
const CHUNK: usize = 256;
/// The most events the lowest buckets may hold to move into the near end.
const NEAR: usize = 32;
/// Events in the near end beyond which those later than `last` go back to
/// the buckets (a model whose pending events keep growing).
const SPILL: usize = 4 * NEAR;

/// Pending events, popped earliest first. Events due at the same instant pop
/// by ascending rank, and events of equal rank in the order they were pushed
/// (FIFO), so a run never depends on the queue's internals.
pub struct EventQueue<E> {
    /// Events due before any in the buckets: those keyed at or below
    /// `near_limit`.
    near: Near<E>,
    /// The latest key the near end takes: `last`, with the bits below bucket
    /// `b` set while the buckets below `b` go to the near end (a key above
    /// `last` is in a bucket below `b` exactly when it shares `last`'s
    /// bits from `b` up). Above `last`, the near end may hold later events.
    near_limit: u64,
    /// Bucket `i` holds the events whose key's highest bit differing from
    /// `last` is bit `i` (all of them are later than `last`), in chunks.
    buckets: [Vec<Chunk<E>>; BUCKETS],
    /// Bit `i` is set when bucket `i` is not empty.
    occupied: u64,
    /// Emptied chunks, for any bucket to reuse: the buckets' room follows
    /// the events pending, wherever they are, and never allocates once warm.
    free: Vec<Chunk<E>>,
    /// The least key taken from the buckets.
    last: u64,
    /// Events in the buckets.
    far: usize,
}

/// Up to [`CHUNK`] events, in the order they came.
type Chunk<E> = Vec<Entry<E>>;

/// The time a key holds.
fn time_of(key: u64) -> SimTime {
    SimTime::from_ticks(key >> RANK_BITS)
}

/// The bucket of `key` relative to `last`, which it must differ from.
#[inline(always)]
fn bucket(key: u64, last: u64) -> usize {
    (BUCKETS - 1) - (key ^ last).leading_zeros() as usize
}

/// Events in a bucket: every chunk but its last is full.
fn count<E>(bucket: &[Chunk<E>]) -> usize {
    bucket
        .last()
        .map_or(0, |chunk| (bucket.len() - 1) * CHUNK + chunk.len())
}

impl<E: Copy> EventQueue<E> {
    /// What one pending event holds, in the near end or in a bucket.
    pub const BYTES_PER_EVENT: usize = size_of::<Entry<E>>();

    /// Bytes the pending events hold.
    pub fn bytes(&self) -> usize {
        self.len() * Self::BYTES_PER_EVENT
    }

    pub fn new() -> Self {
        EventQueue {
            near: Near::new(),
            near_limit: 0,
            buckets: std::array::from_fn(|_| Vec::new()),
            occupied: 0,
            free: Vec::new(),
            last: 0,
            far: 0,
        }
    }

    /// Adds `event` due at `time`. `rank` orders events due at the same instant.
    #[inline(always)]
    pub fn push(&mut self, time: SimTime, rank: u8, event: E) {
        let key = (time.ticks().min(LATEST) << RANK_BITS) | u64::from(rank);
        if self.place(Entry { key, event })
            && self.near.len() > SPILL
            && self.near_limit > self.last
        {
            self.spill();
        }
    }

    /// Puts `entry` in the near end or in its bucket; true for the near end.
    #[inline(always)]
    fn place(&mut self, entry: Entry<E>) -> bool {
        if entry.key > self.near_limit {
            self.append(bucket(entry.key, self.last), entry);
            return false;
        }
        self.near.push(entry);
        true
    }

    /// Appends `entry` to bucket `b`.
    #[inline(always)]
    fn append(&mut self, b: usize, entry: Entry<E>) {
        self.far += 1;
        self.occupied |= 1 << b;
        match self.buckets[b].last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(entry),
            _ => self.append_chunk(b, entry),
        }
    }

    /// Appends `entry` to bucket `b` in a fresh chunk, a free one if any.
    #[inline(never)]
    fn append_chunk(&mut self, b: usize, entry: Entry<E>) {
        let mut chunk = self.free.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
        chunk.push(entry);
        self.buckets[b].push(chunk);
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_due(SimTime::MAX)
    }

    /// Removes and returns the earliest event if it is due at or before `horizon`.
    #[inline]
    pub fn pop_due(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        if !self.ready() {
            return None;
        }
        let time = time_of(self.near.peek()?.key);
        if time > horizon {
            return None;
        }
        let entry = self.near.pop()?;
        Some((time, entry.event))
    }

    /// The earliest event, if any.
    #[inline]
    pub fn peek(&mut self) -> Option<&E> {
        if !self.ready() {
            return None;
        }
        self.near.peek().map(|entry| &entry.event)
    }

    /// Whether the near end holds the earliest event, refilled if it ran
    /// dry; false when nothing is pending.
    #[inline(always)]
    fn ready(&mut self) -> bool {
        !self.near.is_empty() || self.refill()
    }

    /// Moves the earliest events from the buckets into the empty near end;
    /// false when there are none.
    fn refill(&mut self) -> bool {
        if self.occupied == 0 {
            return false;
        }
        let b = self.occupied.trailing_zeros() as usize;
        let lowest = &self.buckets[b];
        self.last = lowest
            .iter()
            .flatten()
            .map(|e| e.key)
            .min()
            .expect("occupied");
        // Bucket `b` and the next ones while they hold few events go to the
        // near end whole; a larger bucket is dealt out, to the near end (the
        // events keyed `last`) and to lower buckets.
        let mut near = count(lowest);
        let mut near_below = 0;
        if near <= NEAR {
            near_below = b + 1;
            while near_below < BUCKETS {
                let next = count(&self.buckets[near_below]);
                if near + next > NEAR {
                    break;
                }
                near += next;
                near_below += 1;
            }
        }
        self.near_below(near_below);
        for dealt in b..near_below.max(b + 1) {
            if self.occupied & (1 << dealt) != 0 {
                self.occupied &= !(1 << dealt);
                let mut taken = std::mem::take(&mut self.buckets[dealt]);
                self.deal(&mut taken);
                self.buckets[dealt] = taken;
            }
        }
        self.near.sort();
        true
    }

    /// Places each event of a bucket anew, in the order they came, and
    /// frees its chunks. The bucket's list keeps its room (a pointer a
    /// chunk). The near end is sorted once the buckets are dealt.
    fn deal(&mut self, taken: &mut Vec<Chunk<E>>) {
        self.far -= count(taken);
        for mut chunk in taken.drain(..) {
            for entry in chunk.drain(..) {
                if entry.key > self.near_limit {
                    self.append(bucket(entry.key, self.last), entry);
                } else {
                    self.near.push_unsorted(entry);
                }
            }
            self.free.push(chunk);
        }
    }

    /// Sends the near end's events later than `last` back to the buckets,
    /// earliest first and ties in the order they came, which they keep.
    #[cold]
    fn spill(&mut self) {
        self.near_below(0);
        let spilled: Vec<_> = self.near.split_above(self.near_limit).collect();
        for entry in spilled {
            self.append(bucket(entry.key, self.last), entry);
        }
    }

    /// The near end takes the events keyed at most `last` and those in
    /// buckets below `near_below` from now on.
    fn near_below(&mut self, near_below: usize) {
        self.near_limit = match near_below {
            BUCKETS => u64::MAX,
            n => self.last | ((1 << n) - 1),
        };
    }

    pub fn len(&self) -> usize {
        self.near.len() + self.far
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut EventQueue<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect()
    }

    #[test]
    fn earlier_events_pop_first() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_ticks(30), 0, "c");
        q.push(SimTime::from_ticks(10), 0, "a");
        q.push(SimTime::from_ticks(20), 0, "b");
        assert_eq!(q.peek(), Some(&"a"));
        assert_eq!(drain(&mut q), ["a", "b", "c"]);
    }

    #[test]
    fn same_instant_same_rank_is_fifo() {
        let mut q = EventQueue::new();
        let t = SimTime::from_ticks(5);
        for name in ["first", "second", "third", "fourth"] {
            q.push(t, 3, name);
        }
        assert_eq!(drain(&mut q), ["first", "second", "third", "fourth"]);
    }

    #[test]
    fn same_instant_lower_rank_first_then_fifo() {
        let mut q = EventQueue::new();
        let t = SimTime::from_ticks(5);
        q.push(t, 2, "retry-1");
        q.push(t, 0, "completion-1");
        q.push(t, 2, "retry-2");
        q.push(t, 0, "completion-2");
        q.push(SimTime::from_ticks(4), 9, "earlier");
        assert_eq!(
            drain(&mut q),
            [
                "earlier",
                "completion-1",
                "completion-2",
                "retry-1",
                "retry-2"
            ]
        );
    }

    proptest::proptest! {
        /// Whatever the pushes, pops come out in (time, rank, push order),
        /// many to a bucket (several chunks of one key included).
        #[test]
        fn pops_in_key_order(items in proptest::collection::vec((0u64..50, 0u8..4), 0..3000)) {
            let mut q = EventQueue::new();
            for (i, &(t, r)) in items.iter().enumerate() {
                q.push(SimTime::from_ticks(t), r, i);
            }
            let mut expected: Vec<usize> = (0..items.len()).collect();
            expected.sort_by_key(|&i| (items[i].0, items[i].1, i));
            let popped: Vec<usize> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
            proptest::prop_assert_eq!(popped, expected);
        }
    }

    /// A delay drawn to reach every bucket: none, a few ticks, or up to 2^45.
    fn delay() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::prelude::*;
        prop_oneof![Just(0u64), 0u64..8, 0u64..1 << 20, 0u64..1 << 45]
    }

    /// Events to push: a few as a rule, sometimes more than the near end
    /// holds before it spills, or than the buckets hold before they are
    /// dealt out.
    fn batch(least: usize) -> impl proptest::strategy::Strategy<Value = Vec<(u64, u8)>> {
        use proptest::prelude::*;
        prop_oneof![
            20 => proptest::collection::vec((delay(), 0u8..4), least..6),
            1 => proptest::collection::vec((delay(), 0u8..4), least..3 * SPILL),
        ]
    }

    proptest::proptest! {
        /// The one comparison `place` makes is the rule it stands for: a
        /// key goes to the near end when it is at most `last`, or when the
        /// highest bit where it differs from `last` is below `near_below`.
        #[test]
        fn near_limit_is_the_bucket_rule(
            last: u64,
            near_below in 0..=BUCKETS,
            bits: u64,
            shift in 0..64u32,
        ) {
            // Keys differing from `last` first at any bit, evenly.
            let key = last ^ (bits >> shift);
            let mut q = EventQueue::<()>::new();
            q.last = last;
            q.near_below(near_below);
            // The highest bit where they differ, for a key above `last`.
            let to_heap = key <= last || 63 - ((key ^ last).leading_zeros() as usize) < near_below;
            proptest::prop_assert_eq!(key <= q.near_limit, to_heap);
        }
    }

    #[test]
    fn a_near_end_grown_past_its_bound_spills_to_the_buckets_in_order() {
        let mut q = EventQueue::new();
        let t = |ticks| SimTime::from_ticks(ticks);
        q.push(t(1), 0, 0);
        q.push(t(9), 0, 1);
        assert_eq!(q.pop().map(|(_, e)| e), Some(0));
        // Everything pending fits the near end: every later event goes there.
        assert_eq!(q.near_limit, u64::MAX);
        // Pairs of events at one instant and rank, far and near, alternating.
        let pairs = SPILL as u64;
        for i in 0..pairs {
            let at = if i % 2 == 0 { 1_000_000 + i } else { 5 + i };
            q.push(t(at), 1, 2 + 2 * i as usize);
            q.push(t(at), 1, 3 + 2 * i as usize);
        }
        assert_eq!(q.near_limit, q.last, "spilled");
        let mut expected: Vec<(u64, usize)> = (0..pairs)
            .flat_map(|i| {
                let at = if i % 2 == 0 { 1_000_000 + i } else { 5 + i };
                [(at, 2 + 2 * i as usize), (at, 3 + 2 * i as usize)]
            })
            .chain([(9, 1)])
            .collect();
        expected.sort();
        let popped: Vec<(u64, usize)> =
            std::iter::from_fn(|| q.pop().map(|(t, e)| (t.ticks(), e))).collect();
        assert_eq!(popped, expected);
    }

    proptest::proptest! {
        /// As a run uses it: each pop due by a horizon, then pushes at the
        /// popped instant or later (lower ranks at that instant included).
        /// Pops come out as from a binary heap keyed by (time, rank, push
        /// order), computed independently.
        #[test]
        fn pops_as_a_heap_would_while_the_clock_moves(
            first in batch(1),
            rounds in proptest::collection::vec((delay(), batch(0)), 0..200),
        ) {
            use std::cmp::Reverse;
            use std::collections::BinaryHeap;
            let mut q = EventQueue::new();
            let mut heap = BinaryHeap::new();
            let mut pushed = 0usize;
            let mut push = |q: &mut EventQueue<usize>, heap: &mut BinaryHeap<_>, t: u64, r: u8| {
                q.push(SimTime::from_ticks(t), r, pushed);
                heap.push(Reverse((t, r, pushed)));
                pushed += 1;
            };
            for &(t, r) in &first {
                push(&mut q, &mut heap, t, r);
            }
            let mut now = 0;
            for (step, batch) in &rounds {
                let horizon = now + step;
                let due = heap.peek().is_some_and(|Reverse((t, _, _))| *t <= horizon);
                let expected = if due { heap.pop().map(|Reverse(k)| k) } else { None };
                let popped = q.pop_due(SimTime::from_ticks(horizon));
                proptest::prop_assert_eq!(
                    popped.map(|(t, e)| (t.ticks(), e)),
                    expected.map(|(t, _, e)| (t, e))
                );
                if let Some((t, _, _)) = expected {
                    now = t;
                }
                for &(d, r) in batch {
                    push(&mut q, &mut heap, now + d, r);
                }
                proptest::prop_assert_eq!(q.len(), heap.len());
            }
            let rest: Vec<usize> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
            let expected: Vec<usize> =
                std::iter::from_fn(|| heap.pop().map(|Reverse((_, _, e))| e)).collect();
            proptest::prop_assert_eq!(rest, expected);
        }
    }

    #[test]
    fn events_beyond_the_latest_time_are_never_due_before_it() {
        let mut q = EventQueue::new();
        q.push(SimTime::MAX, 0, "never");
        q.push(SimTime::from_ticks(LATEST + 5), 0, "also never");
        q.push(SimTime::from_ticks(7), 3, "soon");
        assert_eq!(
            q.pop_due(SimTime::from_ticks(LATEST - 1)).map(|(_, e)| e),
            Some("soon")
        );
        assert_eq!(q.pop_due(SimTime::from_ticks(LATEST - 1)), None);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn fifo_holds_across_interleaved_pops() {
        let mut q = EventQueue::new();
        let t = SimTime::from_ticks(1);
        q.push(t, 0, "a");
        q.push(t, 0, "b");
        assert_eq!(q.pop().map(|(_, e)| e), Some("a"));
        q.push(t, 0, "c");
        assert_eq!(drain(&mut q), ["b", "c"]);
        assert!(q.is_empty());
    }

    /// Events moved to the near end at once, ties among them interleaved
    /// with other keys, keep each tie's order: a bucket moved whole, and
    /// one dealt out (more ties than the near end takes at once).
    #[test]
    fn ties_moved_from_a_bucket_keep_their_order() {
        for n in [NEAR, 8 * NEAR] {
            let mut q = EventQueue::new();
            // Every event is later than the empty queue's limit: all go to buckets.
            let events: Vec<(u64, usize)> = (0..n).map(|i| (5 + (i * 7 % 3) as u64, i)).collect();
            for &(at, e) in &events {
                q.push(SimTime::from_ticks(at), 0, e);
            }
            assert_eq!(q.far, n);
            let mut expected = events.clone();
            expected.sort_by_key(|&(at, _)| at); // stable: ties in push order
            let popped: Vec<(u64, usize)> =
                std::iter::from_fn(|| q.pop().map(|(t, e)| (t.ticks(), e))).collect();
            assert_eq!(popped, expected, "{n} events");
        }
    }
}
