//! Generational slab: entity storage that reuses slots and never allocates once warm.

/// A handle to a slab entry. A key whose entry was removed never matches a
/// later occupant of the same slot, so stale events are recognised safely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    index: u32,
    /// The slot's stamp while this entry lives in it (odd).
    stamp: u32,
}

impl Key {
    /// Where its entry is kept.
    pub fn place(self) -> Place {
        Place(self.index)
    }

    /// A number standing for it (its slot, and how many entries the slot
    /// held before), the same in every run.
    pub fn id(self) -> u64 {
        u64::from(self.index) << 32 | u64::from(self.stamp >> 1)
    }
}

/// Where an entry is kept, without its stamp: enough to fetch the
/// entry ahead of use ([`Slab::prefetch`]), never to read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place(u32);

/// Entries addressed by [`Key`]. Removed slots are recycled, so a run's
/// memory follows the peak number of live entities, not the total created.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// The most recently freed slot; free slots chain through `next_free`.
    free_head: u32,
    live: usize,
}

/// Marks the end of the free chain.
const NONE: u32 = u32::MAX;

/// A slot keeps its last value when freed (removing an entry moves
/// nothing), until an insert overwrites it.
struct Slot<T> {
    /// Counts inserts and removes: odd while an entry lives in the slot,
    /// so a key matches only while its own entry lives there, in one test.
    /// (It wraps after 2^31 entries in one slot; a key that old would see
    /// the slot's occupant then, as any generational index may.)
    stamp: u32,
    /// The next free slot, while this one is free.
    next_free: u32,
    value: T,
}

impl<T> Slot<T> {
    fn holds(&self, key: Key) -> bool {
        self.stamp == key.stamp
    }

    fn is_live(&self) -> bool {
        self.stamp & 1 == 1
    }
}

impl<T> Slab<T> {
    /// What one slot holds.
    pub const BYTES_PER_ENTRY: usize = size_of::<Slot<T>>();

    /// Bytes the slots hold: as many as the most entries live at once.
    pub fn bytes(&self) -> usize {
        self.slots.len() * Self::BYTES_PER_ENTRY
    }

    pub fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free_head: NONE,
            live: 0,
        }
    }

    #[inline(always)]
    pub fn insert(&mut self, value: T) -> Key {
        self.live += 1;
        if let Some(slot) = self.slots.get_mut(self.free_head as usize) {
            let index = self.free_head;
            self.free_head = slot.next_free;
            slot.stamp = slot.stamp.wrapping_add(1);
            slot.value = value;
            return Key {
                index,
                stamp: slot.stamp,
            };
        }
        // The last index stays free for NONE.
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&index| index < NONE)
            .expect("fewer than 2^32 - 1 live entities");
        self.slots.push(Slot {
            stamp: 1,
            next_free: NONE,
            value,
        });
        Key { index, stamp: 1 }
    }

    #[inline(always)]
    pub fn get(&self, key: Key) -> Option<&T> {
        self.slots
            .get(key.index as usize)
            .filter(|slot| slot.holds(key))
            .map(|slot| &slot.value)
    }

    #[inline(always)]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|slot| slot.holds(key))
            .map(|slot| &mut slot.value)
    }

    /// Removes the entry at `key`, and returns it to be read until the
    /// next insert: the slot is free, its value not yet moved or dropped.
    #[inline(always)]
    pub fn remove(&mut self, key: Key) -> Option<&T> {
        let slot = self
            .slots
            .get_mut(key.index as usize)
            .filter(|slot| slot.holds(key))?;
        slot.stamp = slot.stamp.wrapping_add(1);
        slot.next_free = self.free_head;
        self.free_head = key.index;
        self.live -= 1;
        Some(&slot.value)
    }

    /// Asks the CPU to start loading the slot at `place`, which an event
    /// about to be handled will read: a hint only, which never faults.
    #[inline(always)]
    pub fn prefetch(&self, place: Place) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(place.0 as usize) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is only a hint; it reads nothing and cannot
            // fault, and the pointer is into a live allocation anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = place;
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live entries in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots
            .iter()
            .filter(|slot| slot.is_live())
            .map(|slot| &slot.value)
    }
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_keys_go_stale_when_the_slot_is_reused() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some(&"a"));
        let b = slab.insert("b");
        assert_eq!(
            slab.get(a),
            None,
            "the old key must not see the new occupant"
        );
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn a_key_names_its_slot_and_the_entries_the_slot_held_before() {
        // The ids seed hashes (a session's replica), so they must count
        // entries, however the slot marks what lives in it.
        let mut slab = Slab::new();
        let _first = slab.insert(0);
        let ids: Vec<u64> = (0..3)
            .map(|n| {
                let key = slab.insert(n);
                slab.remove(key);
                key.id()
            })
            .collect();
        assert_eq!(ids, [1 << 32, 1 << 32 | 1, 1 << 32 | 2]);
    }

    #[test]
    fn a_slot_tells_live_from_free_across_its_stamp_wrapping() {
        let mut slab = Slab::new();
        let key = slab.insert("a");
        slab.remove(key);
        slab.slots[0].stamp = u32::MAX - 1; // free, one insert from wrapping
        let last = slab.insert("b");
        assert_eq!(slab.get(last), Some(&"b"));
        assert_eq!(slab.values().count(), 1);
        assert_eq!(slab.remove(last), Some(&"b"));
        assert_eq!(slab.slots[0].stamp, 0, "wrapped");
        assert_eq!((slab.get(last), slab.values().count()), (None, 0));
        let next = slab.insert("c");
        assert_eq!((slab.get(next), slab.get(last)), (Some(&"c"), None));
    }

    #[test]
    fn slots_are_recycled_instead_of_growing() {
        let mut slab = Slab::new();
        for round in 0..100 {
            let keys: Vec<_> = (0..10).map(|i| slab.insert(round * 10 + i)).collect();
            for key in keys {
                slab.remove(key);
            }
        }
        assert!(slab.is_empty());
        assert_eq!(slab.slots.len(), 10);
    }

    proptest::proptest! {
        /// Any interleaving of inserts and removes behaves like a map from
        /// live keys to values, and the slab never holds more slots than its
        /// peak number of live entries.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec(proptest::option::of(0usize..64), 0..400)) {
            let mut slab = Slab::new();
            let mut live: Vec<(Key, usize)> = Vec::new();
            let mut dead: Vec<Key> = Vec::new();
            let mut peak = 0;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    // Remove the pick-th live entry, if any.
                    Some(pick) if !live.is_empty() => {
                        let (key, value) = live.swap_remove(pick % live.len());
                        proptest::prop_assert_eq!(slab.remove(key), Some(&value));
                        dead.push(key);
                    }
                    _ => live.push((slab.insert(n), n)),
                }
                peak = peak.max(live.len());
                proptest::prop_assert_eq!(slab.len(), live.len());
                // Freed slots keep their values, which no read may see.
                let mut values: Vec<usize> = slab.values().copied().collect();
                let mut expected: Vec<usize> = live.iter().map(|&(_, v)| v).collect();
                values.sort_unstable();
                expected.sort_unstable();
                proptest::prop_assert_eq!(values, expected);
                for &(key, value) in &live {
                    proptest::prop_assert_eq!(slab.get(key), Some(&value));
                }
                for &key in &dead {
                    proptest::prop_assert_eq!(slab.get(key), None);
                }
            }
            proptest::prop_assert!(slab.slots.len() <= peak);
        }
    }
}
