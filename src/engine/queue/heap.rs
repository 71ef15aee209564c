//! A 4-ary min-heap of events keyed by unique 128-bit keys: the event
//! list's near end, where a few hundred events at most wait.
//!
//! A 4-ary heap is half as deep as a binary one, and its four children sit
//! in one or two cache lines.

/// Children per node.
const ARITY: usize = 4;

pub(super) struct Heap<E> {
    entries: Vec<Entry<E>>,
}

#[derive(Clone, Copy)]
pub(super) struct Entry<E> {
    pub key: u128,
    pub event: E,
}

impl<E: Copy> Heap<E> {
    pub fn new() -> Self {
        Heap {
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
        self.entries.first()
    }

    #[inline]
    pub fn push(&mut self, key: u128, event: E) {
        let entry = Entry { key, event };
        // Grow by one, then sift the new entry up from the end while it is
        // still in registers: writing it first and reading it back would
        // stall on store forwarding.
        let hole = self.entries.len();
        self.entries.push(entry);
        self.sift_up(hole, entry);
    }

    /// Removes and returns the least entry.
    #[inline]
    pub fn pop(&mut self) -> Option<Entry<E>> {
        let last = self.entries.pop()?;
        Some(match self.entries.first() {
            // The last entry fills the hole at the root and sifts down.
            Some(&first) => {
                self.sift_down(0, last);
                first
            }
            None => last,
        })
    }

    /// Removes every entry, in no particular order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Entry<E>> {
        self.entries.drain(..)
    }

    /// Places `moving` at the hole `i` or above it, shifting parents down into
    /// the hole rather than swapping at every level.
    #[inline]
    fn sift_up(&mut self, mut i: usize, moving: Entry<E>) {
        let heap = &mut self.entries[..=i];
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
        let heap = &mut self.entries[..];
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
}
