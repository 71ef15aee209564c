//! A hash map for the simulation's own small keys (sessions, places),
//! hashed by the multiply-and-rotate function rustc's own `FxHasher`
//! uses: a few instructions a word where std's SipHash, built to resist
//! chosen keys no simulation meets, takes dozens. Its order is never
//! read, so it changes no result.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed by [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// rustc-hash's `FxHasher` (its 64-bit seed): each word is mixed in as
/// `(hash.rotate_left(5) ^ word) * seed`. Smaller integers come through
/// `write` as their bytes, one word each.
#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// rustc-hash's own value for one word: (0 ^ 1) × seed.
    #[test]
    fn one_word_hashes_as_fx_does() {
        let mut h = FastHasher::default();
        h.write_u64(1);
        assert_eq!(h.finish(), SEED);
        // Bytes are read as little-endian words, the last padded with zeros.
        let mut bytes = FastHasher::default();
        bytes.write(&[1, 0, 0]);
        assert_eq!(bytes.finish(), SEED);
    }

    /// Distinct small keys spread: no two of 10,000 pairs share a hash.
    #[test]
    fn small_keys_do_not_collide() {
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut seen = std::collections::HashSet::new();
        for a in 0..100u16 {
            for b in 0..100u32 {
                assert!(seen.insert(build.hash_one((a, b))), "{a}, {b}");
            }
        }
    }
}
