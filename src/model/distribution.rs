//! Probability distributions for durations and counts, sampled from seeded streams.

use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution, Exp1, StandardNormal};
use statrs::distribution::{ContinuousCDF, Gamma as GammaCdf, LogNormal as LogNormalCdf};

use crate::engine::{SimDuration, Stream};
use crate::model::bound;

pub mod residual;

/// Standard normal quantile at 0.95 (Φ⁻¹(0.95), to double precision).
pub const Z_P95: f64 = 1.644_853_626_951_472_2;
/// Standard normal quantile at 0.99 (Φ⁻¹(0.99), to double precision).
pub const Z_P99: f64 = 2.326_347_874_040_840_8;

/// A distribution over non-negative reals, optionally clamped to `[min, max]`.
#[derive(Clone, Debug)]
pub struct Dist {
    shape: Shape,
    min: f64,
    max: f64,
}

#[derive(Clone, Debug)]
enum Shape {
    Constant(f64),
    Exponential {
        mean: f64,
    },
    Uniform {
        low: f64,
        high: f64,
    },
    /// ln X ~ Normal(mu, sigma).
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    Gamma {
        shape: f64,
        scale: f64,
        sampler: rand_distr::Gamma<f64>,
    },
    /// P(X > x) = (scale / x)^shape for x >= scale.
    Pareto {
        scale: f64,
        shape: f64,
    },
    /// Resampled uniformly from observed values, kept sorted.
    Empirical(Arc<[f64]>),
}

/// Why a distribution's parameters make no distribution.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DistError {
    /// A parameter out of its bound, e.g. `mean must be > 0 (got -1)`.
    #[error("{parameter} {problem}")]
    OutOfBound {
        parameter: &'static str,
        problem: String,
    },
    /// Two parameters in the wrong order, e.g. `p99 (10) must be above the median (30)`.
    #[error("{upper} ({upper_value}) must be {relation} {lower} ({lower_value})")]
    Order {
        upper: &'static str,
        upper_value: f64,
        relation: &'static str,
        lower: &'static str,
        lower_value: f64,
    },
    #[error("has no values to sample from")]
    NoValues,
    #[error("values must be finite and >= 0 (found {0})")]
    BadValue(f64),
    #[error(
        "has an infinite mean (a pareto of shape <= 1), so a draw in progress has no steady state: give it a max"
    )]
    InfiniteMean,
}

/// `x` if it is positive, else what is wrong with parameter `parameter`.
fn positive(parameter: &'static str, x: f64) -> Result<f64, DistError> {
    bound::positive(x).map_err(|problem| DistError::OutOfBound {
        parameter,
        problem: problem.0,
    })
}

fn non_negative(parameter: &'static str, x: f64) -> Result<f64, DistError> {
    bound::non_negative(x).map_err(|problem| DistError::OutOfBound {
        parameter,
        problem: problem.0,
    })
}

/// `high` unless it is below `low`.
fn ordered(high: f64, low: f64) -> Result<(), DistError> {
    if high < low {
        return Err(DistError::Order {
            upper: "max",
            upper_value: high,
            relation: ">=",
            lower: "min",
            lower_value: low,
        });
    }
    Ok(())
}

/// A draw from the exponential distribution of mean `mean`.
#[inline(never)]
pub fn exponential_draw(mean: f64, rng: &mut Stream) -> f64 {
    let draw: f64 = Exp1.sample(rng);
    mean * draw
}

impl Dist {
    fn new(shape: Shape) -> Self {
        Dist {
            shape,
            min: 0.0,
            max: f64::INFINITY,
        }
    }

    pub fn constant(value: f64) -> Result<Self, DistError> {
        Ok(Self::new(Shape::Constant(non_negative("value", value)?)))
    }

    pub fn exponential(mean: f64) -> Result<Self, DistError> {
        Ok(Self::new(Shape::Exponential {
            mean: positive("mean", mean)?,
        }))
    }

    pub fn uniform(low: f64, high: f64) -> Result<Self, DistError> {
        let low = non_negative("min", low)?;
        let high = non_negative("max", high)?;
        ordered(high, low)?;
        Ok(Self::new(Shape::Uniform { low, high }))
    }

    /// The lognormal with the given median whose quantile at `z` standard
    /// deviations is `upper` (e.g. `z = Z_P99` for a p99).
    pub fn lognormal(
        median: f64,
        upper: f64,
        upper_name: &'static str,
        z: f64,
    ) -> Result<Self, DistError> {
        let median = positive("median", median)?;
        let upper = positive(upper_name, upper)?;
        if upper <= median {
            return Err(DistError::Order {
                upper: upper_name,
                upper_value: upper,
                relation: "above",
                lower: "the median",
                lower_value: median,
            });
        }
        Ok(Self::new(Shape::LogNormal {
            mu: median.ln(),
            sigma: (upper / median).ln() / z,
        }))
    }

    pub fn gamma(shape: f64, scale: f64) -> Result<Self, DistError> {
        let shape = positive("shape", shape)?;
        let scale = positive("scale", scale)?;
        let sampler = rand_distr::Gamma::new(shape, scale).map_err(|e| DistError::OutOfBound {
            parameter: "shape",
            problem: e.to_string(),
        })?;
        Ok(Self::new(Shape::Gamma {
            shape,
            scale,
            sampler,
        }))
    }

    pub fn pareto(scale: f64, shape: f64) -> Result<Self, DistError> {
        Ok(Self::new(Shape::Pareto {
            scale: positive("scale", scale)?,
            shape: positive("shape", shape)?,
        }))
    }

    pub fn empirical(mut values: Vec<f64>) -> Result<Self, DistError> {
        if values.is_empty() {
            return Err(DistError::NoValues);
        }
        if let Some(&bad) = values.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
            return Err(DistError::BadValue(bad));
        }
        values.sort_by(f64::total_cmp);
        Ok(Self::new(Shape::Empirical(values.into())))
    }

    /// Clamps samples into `[min, max]` (either bound optional).
    pub fn bounded(mut self, min: Option<f64>, max: Option<f64>) -> Result<Self, DistError> {
        if let Some(min) = min {
            self.min = non_negative("min", min)?;
        }
        if let Some(max) = max {
            self.max = non_negative("max", max)?;
        }
        ordered(self.max, self.min)?;
        Ok(self)
    }

    #[inline]
    pub fn sample(&self, rng: &mut Stream) -> f64 {
        // The commonest shape is drawn here; the others, whose draws need
        // many registers, out of line, where they cost only their own calls.
        let x = match self.shape {
            Shape::Exponential { mean } => exponential_draw(mean, rng),
            _ => self.sample_shape(rng),
        };
        x.clamp(self.min, self.max)
    }

    /// A draw of the shape, before clamping.
    #[inline(never)]
    fn sample_shape(&self, rng: &mut Stream) -> f64 {
        match &self.shape {
            Shape::Constant(v) => *v,
            Shape::Exponential { mean } => exponential_draw(*mean, rng),
            Shape::Uniform { low, high } => low + (high - low) * rng.random::<f64>(),
            Shape::LogNormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                (mu + sigma * z).exp()
            }
            Shape::Gamma { sampler, .. } => sampler.sample(rng),
            Shape::Pareto { scale, shape } => {
                // Inverse CDF; 1 - u lies in (0, 1], so the power is finite.
                let u: f64 = rng.random();
                scale * (1.0 - u).powf(-1.0 / shape)
            }
            Shape::Empirical(values) => values[rng.random_range(0..values.len())],
        }
    }

    /// The value every sample takes, for a constant (after clamping).
    pub fn constant_value(&self) -> Option<f64> {
        match self.shape {
            Shape::Constant(v) => Some(v.clamp(self.min, self.max)),
            _ => None,
        }
    }

    /// P(X > x), after clamping: how often a sample exceeds `x`.
    pub fn exceedance(&self, x: f64) -> f64 {
        if x >= self.max {
            return 0.0;
        }
        if x < self.min {
            return 1.0;
        }
        self.shape.exceedance(x)
    }
}

impl Shape {
    /// P(X > x) before any clamping.
    fn exceedance(&self, x: f64) -> f64 {
        match self {
            Shape::Constant(v) => f64::from(u8::from(*v > x)),
            Shape::Exponential { mean } => (-x / mean).exp(),
            Shape::Uniform { low, high } => {
                if x < *low {
                    1.0
                } else if high <= low {
                    0.0
                } else {
                    ((high - x) / (high - low)).max(0.0)
                }
            }
            Shape::LogNormal { mu, sigma } => LogNormalCdf::new(*mu, *sigma)
                .map(|d| d.sf(x))
                .unwrap_or(0.0),
            Shape::Gamma { shape, scale, .. } => GammaCdf::new(*shape, 1.0 / scale)
                .map(|d| d.sf(x))
                .unwrap_or(0.0),
            Shape::Pareto { scale, shape } => {
                if x < *scale {
                    1.0
                } else {
                    (scale / x).powf(*shape)
                }
            }
            Shape::Empirical(values) => {
                let at_or_below = values.partition_point(|v| *v <= x);
                (values.len() - at_or_below) as f64 / values.len() as f64
            }
        }
    }
}

/// A distribution of durations; its parameters are held in seconds.
#[derive(Clone, Debug)]
pub struct DurationDist(Dist);

impl DurationDist {
    pub fn new(seconds: Dist) -> Self {
        DurationDist(seconds)
    }

    pub fn sample(&self, rng: &mut Stream) -> SimDuration {
        SimDuration::from_secs_f64(self.0.sample(rng))
    }

    pub fn dist(&self) -> &Dist {
        &self.0
    }
}

/// A distribution of whole counts (steps, tokens): samples round to the nearest integer.
#[derive(Clone, Debug)]
pub struct CountDist {
    dist: Dist,
    /// The value of a constant distribution, drawn without a call.
    constant: Option<u32>,
}

impl CountDist {
    pub fn new(dist: Dist) -> Self {
        let constant = dist.constant_value().map(round_count);
        CountDist { dist, constant }
    }

    /// A sample rounded to the nearest whole count (halves up), saturating
    /// at `u32::MAX`.
    pub fn sample(&self, rng: &mut Stream) -> u32 {
        match self.constant {
            Some(value) => value,
            None => round_count(self.dist.sample(rng)),
        }
    }

    pub fn dist(&self) -> &Dist {
        &self.dist
    }

    /// The one value of a constant distribution.
    pub fn constant(&self) -> Option<u32> {
        self.constant
    }
}

/// Rounds a non-negative sample to a count. `as` truncates and saturates, so
/// adding a half rounds without `f64::round`'s libm call, and a huge
/// heavy-tail draw cannot wrap around.
pub fn round_count(x: f64) -> u32 {
    (x + 0.5) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    const N: usize = 200_000;

    fn samples(dist: &Dist, seed: u64) -> Vec<f64> {
        let mut rng = RandomStreams::new(seed).stream("dist-test");
        let mut xs: Vec<f64> = (0..N).map(|_| dist.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        xs
    }

    fn quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
    }

    fn mean(xs: &[f64]) -> f64 {
        xs.iter().sum::<f64>() / xs.len() as f64
    }

    /// Relative tolerance for sample means of 200k draws: the standard error
    /// of the mean is sd/sqrt(N) ≈ 0.22% of the mean for CV = 1, so 1% is
    /// more than four standard errors.
    const MEAN_TOL: f64 = 0.01;

    fn assert_close(measured: f64, expected: f64, tol: f64, what: &str) {
        let rel = (measured - expected).abs() / expected;
        assert!(
            rel < tol,
            "{what}: measured {measured}, expected {expected} (rel err {rel:.4} >= {tol})"
        );
    }

    #[test]
    fn lognormal_hits_its_median_and_upper_quantile() {
        // Order statistics at q from 200k draws have a relative standard error
        // under 0.5% here, so 2% tolerance is about four standard errors.
        let d = Dist::lognormal(14_000.0, 62_000.0, "p99", Z_P99).unwrap();
        let xs = samples(&d, 1);
        assert_close(quantile(&xs, 0.5), 14_000.0, 0.02, "median");
        assert_close(quantile(&xs, 0.99), 62_000.0, 0.02, "p99");
        let d = Dist::lognormal(4.0, 20.0, "p95", Z_P95).unwrap();
        let xs = samples(&d, 2);
        assert_close(quantile(&xs, 0.95), 20.0, 0.02, "p95");
    }

    #[test]
    fn lognormal_rejects_upper_quantile_below_median() {
        let err = Dist::lognormal(100.0, 50.0, "p99", Z_P99).unwrap_err();
        assert_eq!(err.to_string(), "p99 (50) must be above the median (100)");
        assert_eq!(
            Dist::uniform(3.0, 2.0).unwrap_err().to_string(),
            "max (2) must be >= min (3)"
        );
        assert_eq!(
            Dist::exponential(-1.0).unwrap_err().to_string(),
            "mean must be > 0 (got -1)"
        );
    }

    #[test]
    fn exponential_uniform_gamma_pareto_have_their_means() {
        assert_close(
            mean(&samples(&Dist::exponential(90.0).unwrap(), 3)),
            90.0,
            MEAN_TOL,
            "exp",
        );
        assert_close(
            mean(&samples(&Dist::uniform(5.0, 10.0).unwrap(), 4)),
            7.5,
            MEAN_TOL,
            "uniform",
        );
        // Gamma(shape 2, scale 3): mean 6, CV 0.71.
        assert_close(
            mean(&samples(&Dist::gamma(2.0, 3.0).unwrap(), 5)),
            6.0,
            MEAN_TOL,
            "gamma",
        );
        // Pareto(scale 1, shape 3): mean 1.5, finite variance 0.75, CV 0.58.
        assert_close(
            mean(&samples(&Dist::pareto(1.0, 3.0).unwrap(), 6)),
            1.5,
            MEAN_TOL,
            "pareto",
        );
    }

    #[test]
    fn empirical_resamples_only_observed_values_with_their_frequencies() {
        let d = Dist::empirical(vec![3.0, 1.0, 1.0, 2.0]).unwrap();
        let xs = samples(&d, 7);
        assert!(xs.iter().all(|x| [1.0, 2.0, 3.0].contains(x)));
        let ones = xs.iter().filter(|&&x| x == 1.0).count() as f64 / N as f64;
        // Binomial proportion with p = 0.5: sd 0.0011 at 200k draws.
        assert!((ones - 0.5).abs() < 0.01, "share of ones {ones}");
        assert!(Dist::empirical(vec![]).is_err());
        assert!(Dist::empirical(vec![1.0, f64::NAN]).is_err());
    }

    #[test]
    fn bounds_clamp_samples() {
        let d = Dist::exponential(10.0)
            .unwrap()
            .bounded(Some(2.0), Some(12.0))
            .unwrap();
        let xs = samples(&d, 8);
        assert_eq!(xs[0], 2.0);
        assert_eq!(xs[N - 1], 12.0);
        assert!(
            Dist::constant(1.0)
                .unwrap()
                .bounded(Some(5.0), Some(4.0))
                .is_err()
        );
    }

    #[test]
    fn exceedance_matches_the_sampled_tail() {
        // Each analytic P(X > x) is compared with the sampled share; at 200k
        // draws the share's standard error is at most 0.0011, so 0.006 is
        // more than five standard errors.
        let cases = [
            (Dist::exponential(2.0).unwrap(), 3.0),
            (Dist::uniform(0.0, 10.0).unwrap(), 7.5),
            (
                Dist::lognormal(14_000.0, 62_000.0, "p99", Z_P99).unwrap(),
                40_000.0,
            ),
            (Dist::gamma(2.0, 3.0).unwrap(), 10.0),
            (Dist::pareto(1.0, 1.5).unwrap(), 4.0),
            (Dist::empirical(vec![1.0, 2.0, 3.0, 4.0]).unwrap(), 2.5),
            (Dist::constant(5.0).unwrap(), 4.0),
            (
                Dist::exponential(2.0)
                    .unwrap()
                    .bounded(None, Some(3.0))
                    .unwrap(),
                3.0,
            ),
        ];
        for (i, (dist, x)) in cases.iter().enumerate() {
            let xs = samples(dist, 100 + i as u64);
            let share = xs.iter().filter(|&&s| s > *x).count() as f64 / N as f64;
            let p = dist.exceedance(*x);
            assert!(
                (share - p).abs() < 0.006,
                "case {i}: sampled {share}, analytic {p}"
            );
        }
    }

    #[test]
    fn counts_round_and_saturate() {
        let mut rng = RandomStreams::new(1).stream("counts");
        assert_eq!(
            CountDist::new(Dist::constant(2.5).unwrap()).sample(&mut rng),
            3
        );
        assert_eq!(
            CountDist::new(Dist::constant(1e300).unwrap()).sample(&mut rng),
            u32::MAX
        );
        let d = DurationDist::new(Dist::constant(0.25).unwrap());
        assert_eq!(d.sample(&mut rng), SimDuration::from_ticks(250_000));
    }
}
