//! The future-event list: a 4-ary min-heap ordered by (time, rank, insertion order).
//!
//! A 4-ary heap is half as deep as a binary one, and its four children sit in
//! one or two cache lines, so an event loop spends less time in it than in
//! `std::collections::BinaryHeap` (see `benches/compare.rs`).

use super::time::SimTime;

/// Bits of the order key that hold the insertion counter; the rank sits above them.
const SEQ_BITS: u32 = 56;
/// Children per node.
const ARITY: usize = 4;

/// Pending events, popped earliest first. Events due at the same instant pop
/// by ascending rank, and events of equal rank in the order they were pushed
/// (FIFO), so a run never depends on heap internals.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    next_seq: u64,
}

#[derive(Clone, Copy)]
struct Entry<E> {
    /// Time, then rank, then insertion order, as one integer: keys are unique
    /// and one comparison settles every tie-break.
    key: u128,
    event: E,
}

impl<E: Copy> EventQueue<E> {
    /// What one pending event holds.
    pub const BYTES_PER_EVENT: usize = size_of::<Entry<E>>();

    /// Bytes the pending events hold.
    pub fn bytes(&self) -> usize {
        self.heap.len() * Self::BYTES_PER_EVENT
    }

    pub fn new() -> Self {
        EventQueue {
            heap: Vec::new(),
            next_seq: 0,
        }
    }

    /// Adds `event` due at `time`. `rank` orders events due at the same instant.
    #[inline]
    pub fn push(&mut self, time: SimTime, rank: u8, event: E) {
        // 2^56 pushes is beyond any run's reach (about two years at 10^9 events/s).
        let order = (u64::from(rank) << SEQ_BITS) | self.next_seq;
        self.next_seq += 1;
        let key = (u128::from(time.ticks()) << 64) | u128::from(order);
        let entry = Entry { key, event };
        // Grow by one, then sift the new entry up from the end while it is
        // still in registers: writing it first and reading it back would
        // stall on store forwarding.
        let hole = self.heap.len();
        self.heap.push(entry);
        self.sift_up(hole, entry);
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let last = self.heap.pop()?;
        let first = match self.heap.first() {
            // The last entry fills the hole at the root and sifts down.
            Some(&first) => {
                self.sift_down(0, last);
                first
            }
            None => last,
        };
        Some((SimTime::from_ticks((first.key >> 64) as u64), first.event))
    }

    /// Places `moving` at the hole `i` or above it, shifting parents down into
    /// the hole rather than swapping at every level.
    #[inline]
    fn sift_up(&mut self, mut i: usize, moving: Entry<E>) {
        let heap = &mut self.heap[..=i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let above = heap[parent];
            if above.key <= moving.key {
                break;
            }
            heap[i] = above;
            i = parent;
        }
        heap[i] = moving;
    }

    /// Places `moving` at the hole `i` or below it, shifting the smallest
    /// child up into the hole.
    #[inline]
    fn sift_down(&mut self, mut i: usize, moving: Entry<E>) {
        let heap = &mut self.heap[..];
        loop {
            let first = i * ARITY + 1;
            if first >= heap.len() {
                break;
            }
            let (smallest, least) = match heap.get(first..first + ARITY) {
                // A full family: a two-round tournament, whose first-round
                // comparisons do not wait on each other.
                Some([a, b, c, d]) => {
                    let (ab, ab_key) = if b.key < a.key {
                        (1, b.key)
                    } else {
                        (0, a.key)
                    };
                    let (cd, cd_key) = if d.key < c.key {
                        (3, d.key)
                    } else {
                        (2, c.key)
                    };
                    if cd_key < ab_key {
                        (cd, cd_key)
                    } else {
                        (ab, ab_key)
                    }
                }
                _ => {
                    let children = &heap[first..];
                    let (mut smallest, mut least) = (0, children[0].key);
                    for (c, child) in children.iter().enumerate().skip(1) {
                        if child.key < least {
                            (smallest, least) = (c, child.key);
                        }
                    }
                    (smallest, least)
                }
            };
            if moving.key <= least {
                break;
            }
            heap[i] = heap[first + smallest];
            i = first + smallest;
        }
        heap[i] = moving;
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap
            .first()
            .map(|entry| SimTime::from_ticks((entry.key >> 64) as u64))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
        assert_eq!(q.peek_time(), Some(SimTime::from_ticks(10)));
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
        /// Whatever the pushes, pops come out in (time, rank, push order).
        #[test]
        fn pops_in_key_order(items in proptest::collection::vec((0u64..50, 0u8..4), 0..300)) {
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
