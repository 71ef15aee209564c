//! One quantity of a trace fitted: parametric candidates by maximum
//! likelihood (lognormal) or moments (gamma, exponential), each scored by
//! its Kolmogorov–Smirnov distance to the trace's values; the closest is
//! written if it is close enough, else the values themselves (empirical).

use serde::Serialize;

use crate::csv_row::significant;
use crate::model::distribution::{Dist, Z_P99};
use crate::statistics::quantile;

/// A parametric fit is written only within this KS distance of the trace.
pub const KS_GOOD_ENOUGH: f64 = 0.05;
/// ... and only if its p50, p90 and p99 are each within this share of the trace's.
pub const QUANTILE_TOLERANCE: f64 = 0.05;
/// Fewer values than this are written as they are.
pub const MIN_TO_FIT: usize = 30;
/// An empirical distribution keeps at most this many values (quantiles of the trace's).
pub const EMPIRICAL_VALUES: usize = 10_000;

/// Whether a quantity is a whole count (drawn and rounded) or seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Seconds,
}

/// A candidate as it is written in a model file.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Candidate {
    Constant {
        value: f64,
    },
    Exponential {
        mean: f64,
    },
    Lognormal {
        median: f64,
        p99: f64,
    },
    Gamma {
        shape: f64,
        scale: f64,
    },
    /// The trace's values (or quantiles of them), in a CSV beside the model.
    Empirical {
        values: usize,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Scored {
    #[serde(flatten)]
    pub candidate: Candidate,
    pub ks: f64,
    /// Its p50, p90 and p99 are within [`QUANTILE_TOLERANCE`] of the trace's.
    pub quantiles_hold: bool,
}

/// A quantity's fit: the candidates with their KS distances, the one chosen.
#[derive(Clone, Debug, Serialize)]
pub struct QuantityFit {
    pub candidates: Vec<Scored>,
    pub chosen: Candidate,
    /// The values an empirical choice writes, sorted.
    #[serde(skip)]
    pub empirical: Vec<f64>,
}

/// Fits `values` (at least one, all finite and ≥ 0).
pub fn fit(values: &[f64], kind: Kind) -> QuantityFit {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let empirical = thin(&sorted);
    if sorted[0] == sorted[sorted.len() - 1] {
        return QuantityFit {
            candidates: Vec::new(),
            chosen: Candidate::Constant { value: sorted[0] },
            empirical,
        };
    }
    let mut candidates = Vec::new();
    if sorted.len() >= MIN_TO_FIT {
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let var = sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let logs: Vec<f64> = sorted
            .iter()
            .filter(|x| **x > 0.0)
            .map(|x| x.ln())
            .collect();
        let mut parametric = vec![Candidate::Exponential { mean }];
        if logs.len() >= 2 {
            let mu = logs.iter().sum::<f64>() / logs.len() as f64;
            let sd =
                (logs.iter().map(|l| (l - mu).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
            if sd > 0.0 {
                parametric.push(Candidate::Lognormal {
                    median: mu.exp(),
                    p99: (mu + Z_P99 * sd).exp(),
                });
            }
        }
        if var > 0.0 {
            parametric.push(Candidate::Gamma {
                shape: mean * mean / var,
                scale: var / mean,
            });
        }
        for candidate in parametric {
            if let Some(dist) = candidate.dist() {
                let ks = ks_distance(&sorted, &dist, kind);
                let quantiles_hold = [0.5, 0.9, 0.99].iter().all(|&q| {
                    let (trace, model) = (quantile(&sorted, q), dist_quantile(&dist, q, kind));
                    (model - trace).abs() <= QUANTILE_TOLERANCE * trace
                });
                candidates.push(Scored {
                    candidate,
                    ks,
                    quantiles_hold,
                });
            }
        }
    }
    let best = candidates
        .iter()
        .filter(|c| c.ks <= KS_GOOD_ENOUGH && c.quantiles_hold)
        .min_by(|a, b| a.ks.total_cmp(&b.ks));
    let chosen = match best {
        Some(best) => best.candidate.clone(),
        None => Candidate::Empirical {
            values: empirical.len(),
        },
    };
    QuantityFit {
        candidates,
        chosen,
        empirical,
    }
}

impl Candidate {
    /// The distribution it stands for (`None` for an empirical one).
    pub fn dist(&self) -> Option<Dist> {
        match *self {
            Candidate::Constant { value } => Dist::constant(value).ok(),
            Candidate::Exponential { mean } => Dist::exponential(mean).ok(),
            Candidate::Lognormal { median, p99 } => Dist::lognormal(median, p99, "p99", Z_P99).ok(),
            Candidate::Gamma { shape, scale } => Dist::gamma(shape, scale).ok(),
            Candidate::Empirical { .. } => None,
        }
    }

    /// Its TOML inline table (an empirical one reads `file`'s `value` column).
    pub fn toml(&self, kind: Kind, file: &str) -> String {
        let q = |x: f64| quantity(x, kind);
        match *self {
            Candidate::Constant { value } => q(value),
            Candidate::Exponential { mean } => {
                format!("{{ dist = \"exponential\", mean = {} }}", q(mean))
            }
            Candidate::Lognormal { median, p99 } => format!(
                "{{ dist = \"lognormal\", median = {}, p99 = {} }}",
                q(median),
                q(p99)
            ),
            Candidate::Gamma { shape, scale } => format!(
                "{{ dist = \"gamma\", shape = {}, scale = {} }}",
                number(shape),
                q(scale)
            ),
            Candidate::Empirical { .. } => match kind {
                Kind::Count => {
                    format!("{{ dist = \"empirical\", file = \"{file}\", column = \"value\" }}")
                }
                Kind::Seconds => format!(
                    "{{ dist = \"empirical\", file = \"{file}\", column = \"value\", unit = \"s\" }}"
                ),
            },
        }
    }
}

/// A number as TOML writes it, to six significant digits.
pub fn number(x: f64) -> String {
    significant(x, 6)
}

/// A count as a number, seconds as a duration string.
fn quantity(x: f64, kind: Kind) -> String {
    match kind {
        Kind::Count => number(x),
        Kind::Seconds => format!("\"{}s\"", number(x)),
    }
}

/// At most [`EMPIRICAL_VALUES`] values standing for sorted `values`: all
/// of them, or their quantiles at (i + ½) / N.
fn thin(sorted: &[f64]) -> Vec<f64> {
    if sorted.len() <= EMPIRICAL_VALUES {
        return sorted.to_vec();
    }
    (0..EMPIRICAL_VALUES)
        .map(|i| {
            let q = (i as f64 + 0.5) / EMPIRICAL_VALUES as f64;
            sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)]
        })
        .collect()
}

/// The KS distance between sorted `values` and `dist`: the largest gap
/// between their CDFs, at and just below each distinct value. A count
/// distribution's draws are rounded, so a count v is drawn from (v − ½, v + ½].
pub fn ks_distance(sorted: &[f64], dist: &Dist, kind: Kind) -> f64 {
    let n = sorted.len() as f64;
    let cdf = |x: f64| 1.0 - dist.exceedance(x);
    let (below, at) = match kind {
        Kind::Count => (-0.5, 0.5),
        Kind::Seconds => (0.0, 0.0),
    };
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let v = sorted[i];
        let mut j = i;
        while j < sorted.len() && sorted[j] == v {
            j += 1;
        }
        let (before, upto) = (i as f64 / n, j as f64 / n);
        d = d
            .max((cdf(v + below) - before).abs())
            .max((cdf(v + at) - upto).abs());
        i = j;
    }
    d
}

/// The `q`-quantile of `dist` (by bisection on its CDF); a count's is whole.
pub fn dist_quantile(dist: &Dist, q: f64, kind: Kind) -> f64 {
    let (mut low, mut high) = (0.0, 1.0);
    while dist.exceedance(high) > 1.0 - q && high < 1e15 {
        high *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if dist.exceedance(mid) > 1.0 - q {
            low = mid;
        } else {
            high = mid;
        }
    }
    match kind {
        Kind::Count => (high - 0.5).ceil().max(0.0),
        Kind::Seconds => high,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    fn draws(dist: &Dist, n: usize) -> Vec<f64> {
        let mut rng = RandomStreams::new(3).stream("fit");
        (0..n).map(|_| dist.sample(&mut rng)).collect()
    }

    /// Draws from a lognormal are fitted as that lognormal (within 3% on
    /// its median and p99 from 20,000 draws), and its KS distance to them
    /// is small, as the KS statistic's null distribution says (√n·D < 1.63,
    /// the 1% critical value).
    #[test]
    fn a_lognormal_sample_is_fitted_as_its_lognormal() {
        let truth = Dist::lognormal(500.0, 4000.0, "p99", Z_P99).unwrap();
        let values = draws(&truth, 20_000);
        let fit = fit(&values, Kind::Seconds);
        let Candidate::Lognormal { median, p99 } = fit.chosen else {
            panic!("{:?}", fit.chosen);
        };
        assert!((median / 500.0 - 1.0).abs() < 0.03, "{median}");
        assert!((p99 / 4000.0 - 1.0).abs() < 0.03, "{p99}");
        let ks = ks_distance(&fit.empirical, &truth, Kind::Seconds);
        assert!(ks * (20_000f64).sqrt() < 1.63, "{ks}");
        // A lognormal 10% off in its median is seen by the test.
        let nudged = Dist::lognormal(550.0, 4400.0, "p99", Z_P99).unwrap();
        assert!(ks_distance(&fit.empirical, &nudged, Kind::Seconds) * (20_000f64).sqrt() > 1.63);
    }

    /// The quantile by bisection inverts a lognormal's CDF.
    #[test]
    fn dist_quantiles_invert_the_cdf() {
        let d = Dist::lognormal(500.0, 4000.0, "p99", Z_P99).unwrap();
        assert!((dist_quantile(&d, 0.5, Kind::Seconds) - 500.0).abs() < 1e-6);
        assert!((dist_quantile(&d, 0.99, Kind::Seconds) - 4000.0).abs() < 1e-6);
        assert_eq!(dist_quantile(&d, 0.5, Kind::Count), 500.0);
    }

    /// A two-humped sample fits no single candidate: its values are kept.
    #[test]
    fn a_bimodal_sample_is_kept_empirical() {
        let values: Vec<f64> = (0..1000)
            .map(|i| if i % 2 == 0 { 10.0 } else { 5000.0 } + f64::from(i % 7))
            .collect();
        let fit = fit(&values, Kind::Count);
        assert_eq!(fit.chosen, Candidate::Empirical { values: 1000 });
        assert!(fit.candidates.iter().all(|c| c.ks > KS_GOOD_ENOUGH));
    }

    /// A count's KS distance uses the rounding: the constant 3 is at distance
    /// 0 from values all 3, and an exponential's CDF is read at v ± ½.
    #[test]
    fn count_ks_reads_the_cdf_at_half_steps() {
        let three = Dist::constant(3.0).unwrap();
        assert_eq!(ks_distance(&[3.0, 3.0], &three, Kind::Count), 0.0);
        let exp = Dist::exponential(2.0).unwrap();
        // Values {0, 1}: F(0.5) = 1 − e^−¼ ≈ 0.221 vs ½; F(1.5) ≈ 0.528 vs 1.
        let d = ks_distance(&[0.0, 1.0], &exp, Kind::Count);
        assert!((d - (1.0 - (1.0 - (-0.75f64).exp()))).abs() < 1e-12, "{d}");
    }

    #[test]
    fn numbers_keep_six_significant_digits() {
        assert_eq!(number(1234.5678), "1234.57");
        assert_eq!(number(0.000123456789), "0.000123457");
        assert_eq!(number(3.0), "3");
        assert_eq!(quantity(0.285, Kind::Seconds), "\"0.285s\"");
    }
}
