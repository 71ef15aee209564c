//! How long a replica's step lasts: its decode iteration and its prefill,
//! in whole ticks.

use super::spec::SelfHostedSpec;
use crate::engine::{SimDuration, TICKS_PER_SECOND};

/// Ticks a step of `decodes` decoding sequences attending to `context`
/// tokens and `prefill` prompt tokens lasts, `slowdown` times slower than
/// the spec's speeds: at least one.
pub(super) fn step_ticks(
    spec: &SelfHostedSpec,
    (decodes, context, prefill): (u32, u64, u64),
    slowdown: f64,
) -> u64 {
    let decode_s = if decodes > 0 {
        spec.decode.iteration_s(decodes, context)
    } else {
        0.0
    };
    let seconds = (decode_s + spec.prefill.seconds(prefill)) * slowdown;
    // Up to whole ticks, past a hair of rounding (0.01 + 0.28 s is 290 ms).
    whole_ticks(seconds * TICKS_PER_SECOND as f64 - 1e-6)
}

/// `ticks` rounded up, at least one: `ticks.ceil().max(1.0) as u64`
/// without a call to libm's `ceil` (x86-64's baseline has no rounding
/// instruction), which took an eighth of a self-hosted run's time.
#[inline]
fn whole_ticks(ticks: f64) -> u64 {
    // Not above one, or NaN.
    if ticks.partial_cmp(&1.0) != Some(std::cmp::Ordering::Greater) {
        return 1;
    }
    // Truncated (saturating); below 2^53 the conversion back is exact, and
    // from there on every f64 is a whole number.
    let whole = ticks as u64;
    if (whole as f64) < ticks {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// How long a decode step of `decodes` sequences attending to `context` tokens lasts.
pub(super) fn decode_ticks(
    spec: &SelfHostedSpec,
    decodes: u32,
    context: u64,
    slowdown: f64,
) -> SimDuration {
    SimDuration::from_ticks(step_ticks(spec, (decodes, context, 0), slowdown))
}

#[cfg(test)]
mod tests {
    use super::whole_ticks;

    proptest::proptest! {
        /// Whatever the value (NaN, infinities, negatives, huge or tiny
        /// ones, halves and whole numbers), it rounds as libm's `ceil` does.
        #[test]
        fn whole_ticks_rounds_up_as_ceil_does(bits: u64, small in -4.0f64..1e7, k in 0u64..1 << 60) {
            for x in [f64::from_bits(bits), small, k as f64, k as f64 + 0.5, (k as f64).next_up()] {
                proptest::prop_assert_eq!(whole_ticks(x), x.ceil().max(1.0) as u64, "{}", x);
            }
        }
    }
}
