//! The future-event list: a binary heap ordered by (time, rank, insertion order).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::SimTime;

/// Bits of the order key that hold the insertion counter; the rank sits above them.
const SEQ_BITS: u32 = 56;

/// Pending events, popped earliest first. Events due at the same instant pop
/// by ascending rank, and events of equal rank in the order they were pushed
/// (FIFO), so a run never depends on heap internals.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

struct Entry<E> {
    time: SimTime,
    /// `rank << SEQ_BITS | seq`: one integer comparison settles both tie-breaks.
    order: u64,
    event: E,
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Adds `event` due at `time`. `rank` orders events due at the same instant.
    pub fn push(&mut self, time: SimTime, rank: u8, event: E) {
        // 2^56 pushes is beyond any run's reach (about two years at 10^9 events/s).
        let order = (u64::from(rank) << SEQ_BITS) | self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, order, event });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|entry| (entry.time, entry.event))
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|entry| entry.time)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.order == other.order
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, because `BinaryHeap` is a max-heap and the earliest entry must pop first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.order).cmp(&(self.time, self.order))
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
