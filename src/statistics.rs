//! Confidence intervals over independent replications (Student t), and
//! quantiles of a sample.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean and half-width of the two-sided confidence interval of `xs`, a
/// sample of independent replications: mean ± t(q, n − 1) · s / √n, with
/// `q` the upper quantile (0.975 for a 95% interval, 0.995 for 99%).
/// The half-width needs at least two values.
pub fn mean_ci(xs: &[f64], q: f64) -> (Option<f64>, Option<f64>) {
    let n = xs.len();
    if n == 0 {
        return (None, None);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (Some(mean), None);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("positive degrees of freedom")
        .inverse_cdf(q);
    (Some(mean), Some(t * (var / n as f64).sqrt()))
}

/// The `q`-quantile of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A sample's mean and nearest-rank p50, p90 and p99.
#[derive(Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
}

impl Quantiles {
    pub fn of(values: &[f64]) -> Quantiles {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Quantiles {
            p50: quantile(&sorted, 0.5),
            p90: quantile(&sorted, 0.9),
            p99: quantile(&sorted, 0.99),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_interval() {
        // 2, 4, 6: mean 4, s = 2, t(0.975, 2) = 4.302653: half-width 4.9682.
        let (mean, half) = mean_ci(&[2.0, 4.0, 6.0], 0.975);
        assert_eq!(mean, Some(4.0));
        assert!((half.unwrap() - 4.302_653 * 2.0 / 3f64.sqrt()).abs() < 1e-5);
        assert_eq!(mean_ci(&[5.0], 0.975), (Some(5.0), None));
        assert_eq!(mean_ci(&[], 0.975), (None, None));
    }
}
