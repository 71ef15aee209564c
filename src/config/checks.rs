//! The checks on single values that every part of a model file shares:
//! positive rates, whole numbers in a range, probabilities, durations.

use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use crate::engine::SimDuration;
use crate::model::bound;

/// A validated value, or what is wrong with it and where.
pub type Checked<T> = Result<T, Invalid>;

pub fn positive(at: &FieldPath, n: Number) -> Checked<f64> {
    bound::positive(n.0).map_err(|m| Invalid::new(at, m.0))
}

/// A data file's name as the model gives it: not empty.
pub fn file_name<'a>(at: &FieldPath, name: &'a str) -> Checked<&'a str> {
    if name.trim().is_empty() {
        return Err(Invalid::new(
            at,
            "must name a file, relative to the model's directory, e.g. \"data.csv\" (got an empty string)",
        ));
    }
    Ok(name)
}

/// Each of `weights` (positive, finite) over their total. The weights are
/// scaled by the largest first: their plain sum can pass the largest `f64`
/// (`1.7e308` and `1e307`), which made every share 0 but the last.
pub fn shares(weights: &[f64]) -> Vec<f64> {
    let largest = weights.iter().copied().fold(0.0, f64::max);
    let scaled: Vec<f64> = weights.iter().map(|w| w / largest).collect();
    let total: f64 = scaled.iter().sum();
    scaled.iter().map(|w| w / total).collect()
}

pub fn non_negative(at: &FieldPath, n: Number) -> Checked<f64> {
    bound::non_negative(n.0).map_err(|m| Invalid::new(at, m.0))
}

/// A whole number in `min..=max`.
pub fn whole(at: &FieldPath, n: Number, min: u64, max: u64) -> Checked<u64> {
    let exact = match n.1 {
        Some(integer) => u64::try_from(integer).ok(),
        None => Some(n.0)
            .filter(|x| x.fract() == 0.0 && *x >= 0.0)
            .map(|x| x as u64),
    };
    if let Some(x) = exact.filter(|x| (min..=max).contains(x)) {
        return Ok(x);
    }
    let range = if max == u64::MAX {
        format!(">= {min}")
    } else {
        format!("from {min} to {max}")
    };
    Err(Invalid::new(
        at,
        format!("must be a whole number {range} (got {n})"),
    ))
}

/// The largest seed: seeds are TOML integers (and `--seed` values), which
/// are signed 64-bit.
pub const MAX_SEED: u64 = i64::MAX as u64;

/// A seed: a whole number from 0 to [`MAX_SEED`].
pub fn seed(at: &FieldPath, n: Number) -> Checked<u64> {
    whole(at, n, 0, MAX_SEED)
}

/// A whole number in `min..=u32::MAX`, or `default` when absent.
pub fn count_or(at: &FieldPath, n: Option<Number>, min: u64, default: u32) -> Checked<u32> {
    n.map_or(Ok(default), |n| {
        whole(at, n, min, u64::from(u32::MAX)).map(|v| v as u32)
    })
}

/// A probability in (0, 1].
/// A share from 0 to 1, both included.
pub fn share(at: &FieldPath, n: Number) -> Checked<f64> {
    if (0.0..=1.0).contains(&n.0) {
        Ok(n.0)
    } else {
        Err(Invalid::new(
            at,
            format!("must be a share from 0 to 1 (got {})", n.0),
        ))
    }
}

pub fn probability(at: &FieldPath, n: Number) -> Checked<f64> {
    let p = n.0;
    if p > 0.0 && p <= 1.0 {
        Ok(p)
    } else {
        Err(Invalid::new(
            at,
            format!("must be a probability in (0, 1] (got {p})"),
        ))
    }
}

/// A number of at least `min`, as for multipliers and ratios.
pub fn at_least(at: &FieldPath, n: Number, min: f64, hint: &str) -> Checked<f64> {
    if n.0.is_finite() && n.0 >= min {
        Ok(n.0)
    } else {
        Err(Invalid::new(
            at,
            format!("must be >= {min} (got {n}{hint})"),
        ))
    }
}

pub fn positive_duration(at: &FieldPath, d: Duration) -> Checked<SimDuration> {
    if d.0.is_zero() {
        Err(Invalid::new(at, "must be longer than zero"))
    } else {
        Ok(d.0)
    }
}

/// An optional duration that must be longer than zero, or `default`.
pub fn positive_duration_or(
    at: &FieldPath,
    d: Option<Duration>,
    default: SimDuration,
) -> Checked<SimDuration> {
    d.map_or(Ok(default), |d| positive_duration(at, d))
}

/// A whole number of at most `u32::MAX`, at least `min`.
pub fn optional_u32(at: &FieldPath, n: Option<Number>, min: u64) -> Checked<Option<u32>> {
    n.map(|n| whole(at, n, min, u64::from(u32::MAX)).map(|v| v as u32))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_weights_over_their_total_even_past_f64s_range() {
        assert_eq!(shares(&[7.0, 3.0]), [0.7, 0.3]);
        let huge = shares(&[1.7e308, 1e307]);
        assert!((huge[0] - 17.0 / 18.0).abs() < 1e-12, "{huge:?}");
        assert!((huge.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
