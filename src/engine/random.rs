//! Seeded random streams: one portable generator per named part of a model.
//!
//! Each stream is a PCG-64 generator (O'Neill 2014, the XSL-RR 128/64 variant
//! in `rand_pcg`, whose output is fixed by its specification and so portable
//! across machines and crate versions). A stream's state and increment both
//! come from hashing (seed, name), so adding a stream, or drawing more from
//! one, never shifts the numbers another stream produces.

use rand::SeedableRng;
use rand_pcg::Pcg64;

/// A source of random numbers for one part of a model.
pub type Stream = Pcg64;

/// Hands out independent [`Stream`]s derived from one seed and a stream name.
#[derive(Clone, Copy, Debug)]
pub struct RandomStreams {
    seed: u64,
}

impl RandomStreams {
    pub fn new(seed: u64) -> Self {
        RandomStreams { seed }
    }

    /// The stream called `name`; the same (seed, name) always gives the same stream.
    pub fn stream(&self, name: &str) -> Stream {
        let mut state = splitmix64(self.seed ^ fnv1a64(name.as_bytes()));
        let mut words = [0u64; 4];
        for word in &mut words {
            state = splitmix64(state);
            *word = state;
        }
        let mut seed = [0u8; 32];
        for (chunk, word) in seed.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        Pcg64::from_seed(seed)
    }
}

/// The seed of child `index` of `parent` (e.g. one run of a sweep): the same
/// pair always gives the same seed, and nearby indices give unrelated ones.
pub fn derive_seed(parent: u64, index: u64) -> u64 {
    splitmix64(parent ^ splitmix64(index))
}

/// FNV-1a, 64-bit: a fixed, documented hash (unlike std's `Hasher`), for
/// stream names and for fingerprints of input files.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

/// SplitMix64 (Steele, Lea and Flood 2014): spreads nearby seeds far apart.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    fn first_draws(stream: &mut Stream) -> Vec<u64> {
        (0..8).map(|_| stream.random()).collect()
    }

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        let a = first_draws(&mut RandomStreams::new(7).stream("capacity"));
        let b = first_draws(&mut RandomStreams::new(7).stream("capacity"));
        assert_eq!(a, b);
    }

    #[test]
    fn names_and_seeds_give_different_streams() {
        let base = first_draws(&mut RandomStreams::new(7).stream("capacity"));
        assert_ne!(
            base,
            first_draws(&mut RandomStreams::new(7).stream("client"))
        );
        assert_ne!(
            base,
            first_draws(&mut RandomStreams::new(8).stream("capacity"))
        );
    }

    #[test]
    fn streams_are_pinned_to_their_algorithm() {
        // If this changes, every published run stops reproducing: it must not.
        let draw: u64 = RandomStreams::new(42).stream("pin").random();
        assert_eq!(draw, PINNED_DRAW);
    }

    /// The first draw of stream "pin" under seed 42, recorded when streams were defined.
    const PINNED_DRAW: u64 = 4_766_976_350_296_378_204;

    #[test]
    fn uniform_draws_pass_a_chi_square_test() {
        // 20 equal bins, 100k draws: the statistic has 19 degrees of freedom,
        // whose 99.9th percentile is 43.82; a fixed seed keeps the test stable.
        let mut stream = RandomStreams::new(1).stream("chi-square");
        let mut bins = [0u32; 20];
        let n = 100_000;
        for _ in 0..n {
            let u: f64 = stream.random();
            bins[(u * 20.0) as usize] += 1;
        }
        let expected = f64::from(n) / 20.0;
        let chi2: f64 = bins
            .iter()
            .map(|&o| (f64::from(o) - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 43.82, "chi-square {chi2} over 19 d.o.f.");
    }
}
