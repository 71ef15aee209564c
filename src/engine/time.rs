//! Simulated time: an integer count of microsecond ticks, so runs are exact and portable.

use std::fmt;
use std::ops::{Add, AddAssign};

/// Ticks per simulated second (one tick is one microsecond).
pub const TICKS_PER_SECOND: u64 = 1_000_000;

/// Ticks per simulated minute, the period of every per-minute rate limit.
pub const TICKS_PER_MINUTE: u64 = 60 * TICKS_PER_SECOND;

/// An instant of simulated time, in ticks since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    pub const fn from_ticks(ticks: u64) -> Self {
        SimTime(ticks)
    }

    pub const fn ticks(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        as_f64(self.0) / TICKS_PER_SECOND as f64
    }

    /// This instant moved back by `d`, or zero.
    pub fn saturating_sub(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_sub(d.0))
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    pub const fn from_ticks(ticks: u64) -> Self {
        SimDuration(ticks)
    }

    pub const fn from_secs(secs: u64) -> Self {
        SimDuration(secs * TICKS_PER_SECOND)
    }

    /// Rounds to the nearest tick (halves up); negative and NaN inputs give
    /// zero, huge ones saturate.
    pub fn from_secs_f64(secs: f64) -> Self {
        // `as` truncates, saturates and maps NaN to 0: adding a half first
        // rounds any value it does not clamp, without the libm call that
        // `f64::round` costs on the hottest path.
        SimDuration(to_ticks(secs * TICKS_PER_SECOND as f64 + 0.5))
    }

    pub const fn ticks(self) -> u64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        as_f64(self.0) / TICKS_PER_SECOND as f64
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for SimDuration {
    /// The largest unit that divides the duration exactly: `90s`, `1500ms`, `2h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 5] = [
            ("d", 86_400 * TICKS_PER_SECOND),
            ("h", 3_600 * TICKS_PER_SECOND),
            ("m", TICKS_PER_MINUTE),
            ("s", TICKS_PER_SECOND),
            ("ms", 1_000),
        ];
        for (unit, ticks) in UNITS {
            if self.0 >= ticks && self.0.is_multiple_of(ticks) {
                return write!(f, "{}{unit}", self.0 / ticks);
            }
        }
        write!(f, "{}us", self.0)
    }
}

/// `x as u64`, through the signed conversion x86-64 has one instruction
/// for wherever the two agree (below 2^63): the same value for every `x`,
/// in half the instructions on the hottest path.
#[inline(always)]
fn to_ticks(x: f64) -> u64 {
    if x < 9_223_372_036_854_775_808.0 {
        (x as i64).max(0) as u64
    } else {
        x as u64
    }
}

/// `x as f64`, through the signed conversion x86-64 has one instruction
/// for wherever the two agree (below 2^63): the same value for every `x`,
/// where the unsigned one takes several.
#[inline(always)]
pub fn as_f64(x: u64) -> f64 {
    match i64::try_from(x) {
        Ok(signed) => signed as f64,
        Err(_) => x as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The conversion agrees with `as u64` on every bit pattern.
        #[test]
        fn ticks_convert_as_the_unsigned_cast_does(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(to_ticks(x), x as u64, "{:e}", x);
        }
    }

    proptest::proptest! {
        /// Integers convert as the unsigned cast does, every one of them.
        #[test]
        fn integers_convert_as_the_unsigned_cast_does(x in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(as_f64(x).to_bits(), (x as f64).to_bits(), "{}", x);
        }
    }

    #[test]
    fn integers_convert_as_the_unsigned_cast_does_at_the_edges() {
        let two_63 = 1u64 << 63;
        for x in [
            0,
            1,
            two_63 - 1,
            two_63,
            two_63 + 1,
            u64::MAX - 1,
            u64::MAX,
            1 << 53,
            (1 << 53) + 1,
        ] {
            assert_eq!(as_f64(x).to_bits(), (x as f64).to_bits(), "{x}");
        }
    }

    #[test]
    fn ticks_convert_as_the_unsigned_cast_does_at_the_edges() {
        let two_63 = 9_223_372_036_854_775_808.0_f64;
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            -1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            two_63,
            two_63.next_down(),
            two_63.next_up(),
            18_446_744_073_709_551_616.0,
            1e300,
        ] {
            assert_eq!(to_ticks(x), x as u64, "{x:e}");
        }
    }

    #[test]
    fn seconds_round_to_the_nearest_tick() {
        assert_eq!(SimDuration::from_secs_f64(1.5).ticks(), 1_500_000);
        assert_eq!(SimDuration::from_secs_f64(0.000_000_4).ticks(), 0);
        assert_eq!(SimDuration::from_secs_f64(0.000_000_6).ticks(), 1);
        assert_eq!(SimDuration::from_secs_f64(-3.0), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(f64::NAN), SimDuration::ZERO);
        assert_eq!(SimDuration::from_secs_f64(f64::INFINITY), SimDuration::MAX);
    }

    #[test]
    fn adding_saturates_instead_of_wrapping() {
        assert_eq!(
            SimTime::from_ticks(u64::MAX - 1) + SimDuration::from_secs(1),
            SimTime::MAX
        );
    }

    #[test]
    fn durations_display_in_their_largest_exact_unit() {
        assert_eq!(SimDuration::from_secs(90).to_string(), "90s");
        assert_eq!(SimDuration::from_secs(7200).to_string(), "2h");
        assert_eq!(SimDuration::from_ticks(1_500_000).to_string(), "1500ms");
        assert_eq!(SimDuration::from_ticks(7).to_string(), "7us");
        assert_eq!(SimDuration::ZERO.to_string(), "0us");
    }
}
