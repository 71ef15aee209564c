//! A streaming histogram of non-negative integers in fixed memory: exact
//! below 2,048, then 1,024 buckets per power of two, so any recorded value
//! is known to within 0.1% (the layout of an HDR histogram with three
//! significant digits, and the same quantiles). Recording is a few
//! instructions: it runs several times per simulated loop.
//!
//! Why not the `hdrhistogram` crate: measured against it on
//! `models/mmc.toml` (`scripts/bench-histogram.sh`, 2026-11-29, 2 cores),
//! the whole run is 1.17x faster with this one (median of per-round
//! events/s ratios over 7 interleaved rounds of 200 simulated hours; rounds
//! 0.94-1.24x) and executes 12% fewer instructions (callgrind, 20 h: 939 M
//! against 1,069 M), with byte-identical summaries.

/// Values below this are counted exactly.
const EXACT: u64 = 2048;
/// Buckets per power of two above `EXACT` (2^10: 0.1% resolution).
const SUB_BITS: u32 = 10;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered above `EXACT`: up to 2^41 (25 days in µs); larger values saturate.
const MAGNITUDES: usize = 30;
const BUCKETS: usize = EXACT as usize + MAGNITUDES * SUB;
// `record` masks indices with `BUCKETS - 1`.
const _: () = assert!(BUCKETS.is_power_of_two());
/// Buckets summed at once when looking for a quantile.
const SKIP: usize = 32;
/// The largest value recorded as itself.
pub const MAX_VALUE: u64 = (1 << (11 + MAGNITUDES)) - 1;

pub struct Histogram {
    /// A fixed-size array, so that an index (always below `BUCKETS`) is
    /// not checked against a length read at run time.
    counts: Box<[u64; BUCKETS]>,
    total: u64,
}

impl Histogram {
    /// What one histogram holds: its buckets.
    pub const BYTES: usize = BUCKETS * size_of::<u64>();

    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS]
                .into_boxed_slice()
                .try_into()
                .expect("BUCKETS counts"),
            total: 0,
        }
    }

    fn index(value: u64) -> usize {
        let value = value.min(MAX_VALUE);
        if value < EXACT {
            return value as usize;
        }
        let msb = 63 - value.leading_zeros(); // 11 or more
        let shift = msb - SUB_BITS;
        let sub = (value >> shift) as usize & (SUB - 1); // the bits below the top one
        EXACT as usize + (msb as usize - 11) * SUB + sub
    }

    /// The largest value that falls in bucket `index`.
    fn highest(index: usize) -> u64 {
        if index < EXACT as usize {
            return index as u64;
        }
        let k = (index - EXACT as usize) / SUB;
        let sub = (SUB + (index - EXACT as usize) % SUB) as u64;
        let shift = k as u32 + 1;
        (sub << shift) + (1 << shift) - 1
    }

    #[inline(always)]
    pub fn record(&mut self, value: u64) {
        // A mask the index always passes, in place of a bounds check.
        self.counts[Self::index(value) & (BUCKETS - 1)] += 1;
        self.total += 1;
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// For each of `quantiles` (ascending), the smallest recorded value (to
    /// the bucket's top) with at least that share of values at or below it:
    /// one pass over the buckets for them all.
    pub fn values_at_quantiles(&self, quantiles: &[f64]) -> Vec<u64> {
        debug_assert!(quantiles.is_sorted(), "quantiles ascend");
        let mut values = Vec::with_capacity(quantiles.len());
        let mut wanted = quantiles
            .iter()
            .map(|q| ((q * self.total as f64).ceil() as u64).clamp(1, self.total.max(1)))
            .peekable();
        let mut seen = 0;
        // Most buckets are empty: a chunk that holds no wanted rank is
        // skipped on its sum, which the compiler vectorises.
        for (c, chunk) in self.counts.chunks(SKIP).enumerate() {
            let Some(&rank) = wanted.peek() else {
                break;
            };
            let sum: u64 = chunk.iter().sum();
            if seen + sum < rank {
                seen += sum;
                continue;
            }
            for (i, &count) in chunk.iter().enumerate() {
                seen += count;
                while wanted.next_if(|&rank| rank <= seen).is_some() {
                    values.push(Self::highest(c * SKIP + i));
                }
            }
        }
        // An empty histogram: every quantile is 0.
        values.resize(quantiles.len(), 0);
        values
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The `hdrhistogram` crate's histogram behind the same interface, built with
/// `--features hdrhistogram` only to measure the own one against it.
#[cfg(feature = "hdrhistogram")]
pub mod hdr {
    use super::MAX_VALUE;

    pub struct Histogram(hdrhistogram::Histogram<u64>);

    impl Histogram {
        /// The own histogram's size: the same layout.
        pub const BYTES: usize = super::Histogram::BYTES;

        pub fn new() -> Self {
            Histogram(
                hdrhistogram::Histogram::new_with_max(MAX_VALUE, 3)
                    .expect("3 significant digits up to MAX_VALUE is a valid histogram"),
            )
        }

        pub fn record(&mut self, value: u64) {
            self.0.saturating_record(value);
        }

        pub fn len(&self) -> u64 {
            self.0.len()
        }

        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }

        pub fn values_at_quantiles(&self, quantiles: &[f64]) -> Vec<u64> {
            quantiles
                .iter()
                .map(|&q| self.0.value_at_quantile(q))
                .collect()
        }

        pub fn merge(&mut self, other: &Histogram) {
            self.0.add(&other.0).expect("histograms of one shape add");
        }
    }

    impl Default for Histogram {
        fn default() -> Self {
            Self::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in [0, 1, 5, 2047] {
            h.record(v);
        }
        assert_eq!(
            h.values_at_quantiles(&[0.25, 0.5, 0.75, 1.0]),
            [0, 1, 5, 2047]
        );
    }

    #[test]
    fn quantiles_of_a_uniform_range() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let quantiles = [0.5, 0.95, 0.99];
        for (q, got) in quantiles.into_iter().zip(h.values_at_quantiles(&quantiles)) {
            let exact = q * 100_000.0 * 1000.0;
            let got = got as f64;
            assert!(
                (got - exact).abs() / exact < 1.5e-3,
                "q {q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn merging_adds_counts() {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        a.record(10);
        b.record(1_000_000);
        a.merge(&b);
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.values_at_quantiles(&[1.0]),
            [Histogram::highest(Histogram::index(1_000_000))]
        );
    }

    proptest! {
        /// Each quantile of one pass is the bucket top of the value at that
        /// rank of the sorted values (a recount); an empty histogram gives 0s.
        #[test]
        fn one_pass_gives_each_quantile_of_the_sorted_values(
            mut values in proptest::collection::vec(0u64..1 << 40, 0..300),
            mut quantiles in proptest::collection::vec(0.0f64..=1.0, 1..25),
        ) {
            let mut h = Histogram::new();
            for &v in &values {
                h.record(v);
            }
            values.sort_unstable();
            quantiles.sort_by(f64::total_cmp);
            let expected: Vec<u64> = quantiles
                .iter()
                .map(|&q| {
                    // The rank of the q quantile: at least one, at most all.
                    let rank = ((q * values.len() as f64).ceil() as usize).max(1);
                    values.get(rank - 1).map_or(0, |&v| Histogram::highest(Histogram::index(v)))
                })
                .collect();
            prop_assert_eq!(h.values_at_quantiles(&quantiles), expected);
        }

        /// Every value lands in a bucket that contains it, no wider than 0.1% of it.
        #[test]
        fn buckets_contain_their_values_to_a_tenth_of_a_percent(value in 0u64..MAX_VALUE) {
            let index = Histogram::index(value);
            let high = Histogram::highest(index);
            let low = if index == 0 { 0 } else { Histogram::highest(index - 1) + 1 };
            prop_assert!(low <= value && value <= high, "{value} in [{low}, {high}]");
            prop_assert!((high - low) as f64 <= value as f64 / 1000.0 + 1.0);
        }
    }
}
