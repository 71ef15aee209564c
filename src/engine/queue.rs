//! The future-event list: a radix heap ordered by (time, rank), first in
//! first out among events due at the same instant with the same rank.
//!
//! A run's clock only moves forward, so every event scheduled is due no
//! earlier than the last one taken, and a radix heap fits: bucket `i` holds
//! the events whose key first differs from the last key taken at bit `i`.
//! Scheduling appends to a bucket; taking the earliest, when no event is
//! known to be due at the last key, scans the lowest bucket once for its
//! least key and deals its events out to lower buckets, in order. Each pass
//! reads and writes memory in order, where a binary or 4-ary heap pays a
//! cache miss at every level once it outgrows the cache, so a run with 10^5
//! pending events spends about as long here per event as one with 10^2 (see
//! `benches/population.rs`).
//!
//! Ties need no insertion counter: events with equal keys are always in the
//! same bucket, and every bucket keeps the order events reached it in.

use super::time::SimTime;

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

/// Pending events, popped earliest first. Events due at the same instant pop
/// by ascending rank, and events of equal rank in the order they were pushed
/// (FIFO), so a run never depends on the queue's internals.
pub struct EventQueue<E> {
    /// Bucket `i` holds the events whose key's highest bit differing from
    /// `last` is bit `i` (all of them are later than `last`), in chunks.
    buckets: [Vec<Chunk<E>>; BUCKETS],
    /// Bit `i` is set when bucket `i` is not empty.
    occupied: u64,
    /// Emptied chunks, for any bucket to reuse: the buckets' room follows
    /// the events pending, wherever they are, and never allocates once warm.
    free: Vec<Chunk<E>>,
    /// The key of the events in `due`: the least key taken from the buckets.
    last: u64,
    /// Events keyed `last`, in the order they came, from `next_due` on.
    due: Vec<Entry<E>>,
    next_due: usize,
    /// Events keyed below `last`, latest first: scheduled at the current
    /// instant with a lower rank than the event being handled. They are
    /// due before anything else, and rare.
    early: Vec<Entry<E>>,
    len: usize,
}

/// Up to [`CHUNK`] events, in the order they came.
type Chunk<E> = Vec<Entry<E>>;

#[derive(Clone, Copy)]
struct Entry<E> {
    /// Time, then rank, as one integer.
    key: u64,
    event: E,
}

impl<E> Entry<E> {
    fn time(&self) -> SimTime {
        SimTime::from_ticks(self.key >> RANK_BITS)
    }
}

/// The bucket of `key` relative to `last`, which it must differ from.
#[inline(always)]
fn bucket(key: u64, last: u64) -> usize {
    (BUCKETS - 1) - (key ^ last).leading_zeros() as usize
}

/// Appends `entry` to `bucket`, in a fresh chunk (a free one if any) when
/// its last is full.
#[inline(always)]
fn append<E>(bucket: &mut Vec<Chunk<E>>, free: &mut Vec<Chunk<E>>, entry: Entry<E>) {
    match bucket.last_mut() {
        Some(chunk) if chunk.len() < CHUNK => chunk.push(entry),
        _ => {
            let mut chunk = free.pop().unwrap_or_else(|| Vec::with_capacity(CHUNK));
            chunk.push(entry);
            bucket.push(chunk);
        }
    }
}

impl<E: Copy> EventQueue<E> {
    /// What one pending event holds.
    pub const BYTES_PER_EVENT: usize = size_of::<Entry<E>>();

    /// Bytes the pending events hold.
    pub fn bytes(&self) -> usize {
        self.len * Self::BYTES_PER_EVENT
    }

    pub fn new() -> Self {
        EventQueue {
            buckets: std::array::from_fn(|_| Vec::new()),
            occupied: 0,
            free: Vec::new(),
            last: 0,
            due: Vec::new(),
            next_due: 0,
            early: Vec::new(),
            len: 0,
        }
    }

    /// Adds `event` due at `time`. `rank` orders events due at the same instant.
    #[inline]
    pub fn push(&mut self, time: SimTime, rank: u8, event: E) {
        let key = (time.ticks().min(LATEST) << RANK_BITS) | u64::from(rank);
        let entry = Entry { key, event };
        self.len += 1;
        if key > self.last {
            let b = bucket(key, self.last);
            append(&mut self.buckets[b], &mut self.free, entry);
            self.occupied |= 1 << b;
        } else if key == self.last {
            self.due.push(entry);
        } else {
            // Behind those of equal key already waiting, which pop first.
            let at = self.early.partition_point(|e| e.key > key);
            self.early.insert(at, entry);
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_due(SimTime::MAX)
    }

    /// Removes and returns the earliest event if it is due at or before `horizon`.
    #[inline]
    pub fn pop_due(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        let entry = if let Some(&early) = self.early.last() {
            if early.time() > horizon {
                return None;
            }
            self.early.pop();
            early
        } else {
            let &due = self.earliest()?;
            if due.time() > horizon {
                return None;
            }
            self.next_due += 1;
            due
        };
        self.len -= 1;
        Some((entry.time(), entry.event))
    }

    /// The earliest event, if any.
    #[inline]
    pub fn peek(&mut self) -> Option<&E> {
        if !self.early.is_empty() {
            return self.early.last().map(|e| &e.event);
        }
        self.earliest().map(|e| &e.event)
    }

    /// The earliest event outside `early`: the next in `due`, refilled from
    /// the lowest bucket when it has run out.
    #[inline]
    fn earliest(&mut self) -> Option<&Entry<E>> {
        if self.next_due == self.due.len() {
            self.due.clear();
            self.next_due = 0;
            if self.occupied == 0 {
                return None;
            }
            let b = self.occupied.trailing_zeros() as usize;
            self.occupied &= !(1 << b);
            let mut taken = std::mem::take(&mut self.buckets[b]);
            self.last = taken
                .iter()
                .flatten()
                .map(|e| e.key)
                .min()
                .expect("occupied");
            // Every event of bucket `b` agrees with `last` above bit `b`,
            // so each lands in `due` or a lower bucket, in the order it had.
            for mut chunk in taken.drain(..) {
                for entry in chunk.drain(..) {
                    if entry.key == self.last {
                        self.due.push(entry);
                    } else {
                        let to = bucket(entry.key, self.last);
                        append(&mut self.buckets[to], &mut self.free, entry);
                        self.occupied |= 1 << to;
                    }
                }
                self.free.push(chunk);
            }
            // The emptied bucket keeps its list's room (a pointer a chunk).
            self.buckets[b] = taken;
        }
        self.due.get(self.next_due)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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

    proptest::proptest! {
        /// As a run uses it: each pop due by a horizon, then pushes at the
        /// popped instant or later (lower ranks at that instant included).
        /// Pops come out as from a binary heap keyed by (time, rank, push
        /// order), computed independently.
        #[test]
        fn pops_as_a_heap_would_while_the_clock_moves(
            first in proptest::collection::vec((delay(), 0u8..4), 1..1000),
            rounds in proptest::collection::vec(
                (delay(), proptest::collection::vec((delay(), 0u8..4), 0..6)),
                0..200,
            ),
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
}
