//! The time left of a draw in progress, seen at a random instant: a
//! distribution's equilibrium (stationary-excess) distribution, of density
//! P(X > x) / E[X].
//!
//! A user who joins a population that has been going for a while is most
//! likely in the middle of a think time, and more likely in a long one than
//! a short one: what it has left to think is this, not a fresh think time.
//! Starting every user with a fresh one overstates the arrival rate until
//! the longest think times have come round, which takes hours when their
//! tail is heavy.
//!
//! A draw is U × L: L length-biased (density x dF(x) / E[X]) and U uniform
//! on [0, 1). Clamping makes L a mixture of the atom at `min` (weight
//! min · P(X ≤ min)), the length-biased shape between the bounds (weight
//! E[X; min < X < max]) and the atom at `max` (weight max · P(X > max)).

use std::sync::Arc;

use rand::RngExt;
use statrs::distribution::{ContinuousCDF, Gamma, Normal};

use super::{Dist, DistError, Shape};
use crate::engine::Stream;

/// The time left of a draw in progress (see the module's documentation).
#[derive(Clone, Debug)]
pub struct Residual(Length);

/// The length-biased distribution the time left is a uniform fraction of.
#[derive(Clone, Debug)]
enum Length {
    /// Every length the same.
    Fixed(f64),
    /// Recorded values (clamped), each drawn in proportion to its length:
    /// the running sums of the values.
    Recorded {
        values: Arc<[f64]>,
        running: Arc<[f64]>,
    },
    /// The atoms at the bounds and the length-biased shape between them.
    Mixture {
        low: f64,
        high: f64,
        /// Weight of the atom at `low`.
        at_low: f64,
        /// `partial(low)` and `partial(high)`.
        from: f64,
        to: f64,
        /// Weight of the atom at `high`.
        at_high: f64,
        shape: Partial,
    },
}

/// A shape's partial expectation E[X; X ≤ x] and its inverse.
#[derive(Clone, Debug)]
enum Partial {
    /// Gamma(shape, scale) (the exponential is shape 1): kθ · G(x), G the
    /// CDF of Gamma(shape + 1, scale).
    Gamma { shape: f64, scale: f64 },
    /// ln X ~ Normal(mu, sigma): E[X] · Φ((ln x − mu − sigma²) / sigma).
    LogNormal { mu: f64, sigma: f64 },
    /// Uniform on [low, high]: (x² − low²) / (2 (high − low)).
    Uniform { low: f64, high: f64 },
    /// P(X > x) = (scale / x)^shape: shape · scale^shape · ∫ t^-shape dt
    /// from scale to x.
    Pareto { scale: f64, shape: f64 },
}

impl Partial {
    /// E[X; X ≤ x].
    fn at(&self, x: f64) -> f64 {
        match *self {
            // statrs's CDF panics where x / scale overflows: all of it is below.
            Partial::Gamma { shape, scale } if !(x / scale).is_finite() => shape * scale,
            Partial::Gamma { shape, scale } => shape * scale * biased_gamma(shape, scale).cdf(x),
            Partial::LogNormal { mu, sigma } => {
                let mean = (mu + sigma * sigma / 2.0).exp();
                mean * Normal::standard().cdf((x.ln() - mu - sigma * sigma) / sigma)
            }
            Partial::Uniform { low, high } => {
                let x = x.clamp(low, high);
                (x * x - low * low) / (2.0 * (high - low))
            }
            Partial::Pareto { scale, shape } => {
                if x <= scale {
                    return 0.0;
                }
                let integral = if shape == 1.0 {
                    (x / scale).ln()
                } else {
                    (x.powf(1.0 - shape) - scale.powf(1.0 - shape)) / (1.0 - shape)
                };
                shape * scale.powf(shape) * integral
            }
        }
    }

    /// The x at which E[X; X ≤ x] is `partial`.
    fn inverse(&self, partial: f64) -> f64 {
        match *self {
            Partial::Gamma { shape, scale } => {
                biased_gamma(shape, scale).inverse_cdf(partial / (shape * scale))
            }
            Partial::LogNormal { mu, sigma } => {
                let mean = (mu + sigma * sigma / 2.0).exp();
                (mu + sigma * sigma + sigma * Normal::standard().inverse_cdf(partial / mean)).exp()
            }
            Partial::Uniform { low, high } => (low * low + 2.0 * (high - low) * partial).sqrt(),
            Partial::Pareto { scale, shape } => {
                let integral = partial / (shape * scale.powf(shape));
                if shape == 1.0 {
                    scale * integral.exp()
                } else {
                    (scale.powf(1.0 - shape) + (1.0 - shape) * integral).powf(1.0 / (1.0 - shape))
                }
            }
        }
    }
}

/// Gamma(shape + 1, scale), the length-biased Gamma(shape, scale).
fn biased_gamma(shape: f64, scale: f64) -> Gamma {
    Gamma::new(shape + 1.0, 1.0 / scale).expect("shape and scale checked positive")
}

impl Dist {
    /// The time left of a draw of this distribution in progress; an error
    /// when its mean is infinite (then no draw in progress has a steady state).
    pub fn residual(&self) -> Result<Residual, DistError> {
        self.length().map(Residual)
    }

    /// The mean (after clamping), infinite for a pareto of shape <= 1
    /// without a max.
    pub fn mean(&self) -> f64 {
        match self.length() {
            Ok(Length::Fixed(v)) => v,
            Ok(Length::Recorded { values, running }) => {
                running.last().copied().unwrap_or(0.0) / values.len() as f64
            }
            Ok(Length::Mixture {
                at_low,
                from,
                to,
                at_high,
                ..
            }) => at_low + (to - from) + at_high,
            Err(_) => f64::INFINITY,
        }
    }

    /// The length-biased distribution (see [`Residual`]).
    fn length(&self) -> Result<Length, DistError> {
        let (low, high) = (self.min, self.max);
        let partial = match &self.shape {
            Shape::Constant(v) => return Ok(Length::Fixed(v.clamp(low, high))),
            Shape::Empirical(values) => {
                let values: Arc<[f64]> = values.iter().map(|v| v.clamp(low, high)).collect();
                let running = values
                    .iter()
                    .scan(0.0, |sum, v| {
                        *sum += v;
                        Some(*sum)
                    })
                    .collect();
                return Ok(Length::Recorded { values, running });
            }
            Shape::Exponential { mean } => Partial::Gamma {
                shape: 1.0,
                scale: *mean,
            },
            Shape::Gamma { shape, scale, .. } => Partial::Gamma {
                shape: *shape,
                scale: *scale,
            },
            Shape::LogNormal { mu, sigma } => Partial::LogNormal {
                mu: *mu,
                sigma: *sigma,
            },
            Shape::Uniform { low: a, high: b } if b > a => Partial::Uniform { low: *a, high: *b },
            Shape::Uniform { low: a, .. } => {
                return Ok(Length::Fixed(a.clamp(low, high)));
            }
            Shape::Pareto { scale, shape } => {
                if *shape <= 1.0 && high.is_infinite() {
                    return Err(DistError::InfiniteMean);
                }
                Partial::Pareto {
                    scale: *scale,
                    shape: *shape,
                }
            }
        };
        if low >= high {
            return Ok(Length::Fixed(low));
        }
        let at_high = if high.is_finite() {
            high * self.shape.exceedance(high)
        } else {
            0.0
        };
        Ok(Length::Mixture {
            low,
            high,
            at_low: low * (1.0 - self.shape.exceedance(low)),
            from: partial.at(low),
            to: partial.at(high),
            at_high,
            shape: partial,
        })
    }
}

impl Residual {
    pub fn sample(&self, rng: &mut Stream) -> f64 {
        self.length(rng) * rng.random::<f64>()
    }

    /// A length-biased draw: a length in proportion to its weight times how long it is.
    fn length(&self, rng: &mut Stream) -> f64 {
        match self.0 {
            Length::Fixed(length) => length,
            Length::Recorded {
                ref values,
                ref running,
            } => {
                let total = running.last().copied().unwrap_or(0.0);
                let at = total * rng.random::<f64>();
                values[running
                    .partition_point(|sum| *sum <= at)
                    .min(values.len() - 1)]
            }
            Length::Mixture {
                low,
                high,
                at_low,
                from,
                to,
                at_high,
                ref shape,
            } => {
                let middle = to - from;
                let at = (at_low + middle + at_high) * rng.random::<f64>();
                if at < at_low {
                    low
                } else if at < at_low + middle {
                    shape.inverse(from + (at - at_low)).clamp(low, high)
                } else {
                    high
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;
    use crate::model::distribution::Z_P99;

    const N: usize = 200_000;

    /// P(time left > x) as theory has it, E[(X − x)⁺] / E[X], estimated
    /// from ordinary draws of the distribution (not from the residual's own
    /// code), at the quartiles and p90 of X; and the same from N draws of
    /// the residual, scaled by `nudge`.
    fn tails(dist: &Dist, nudge: f64, seed: u64) -> Vec<(f64, f64, f64)> {
        let streams = RandomStreams::new(seed);
        let mut rng = streams.stream("plain");
        let mut xs: Vec<f64> = (0..N).map(|_| dist.sample(&mut rng)).collect();
        xs.sort_by(f64::total_cmp);
        let mean = xs.iter().sum::<f64>() / N as f64;
        let residual = dist.residual().unwrap();
        let mut rng = streams.stream("residual");
        let left: Vec<f64> = (0..N).map(|_| nudge * residual.sample(&mut rng)).collect();
        [0.25, 0.5, 0.75, 0.9]
            .iter()
            .map(|q| {
                let x = xs[(q * N as f64) as usize];
                let expected = xs.iter().map(|v| (v - x).max(0.0)).sum::<f64>() / N as f64 / mean;
                let measured = left.iter().filter(|v| **v > x).count() as f64 / N as f64;
                (x, expected, measured)
            })
            .collect()
    }

    fn cases() -> Vec<(&'static str, Dist)> {
        let lognormal = || Dist::lognormal(10.0, 60.0, "p99", Z_P99).unwrap();
        vec![
            ("exponential", Dist::exponential(30.0).unwrap()),
            (
                "exponential under a second",
                Dist::exponential(0.5).unwrap(),
            ),
            ("gamma", Dist::gamma(2.5, 4.0).unwrap()),
            ("lognormal", lognormal()),
            (
                "lognormal clamped",
                lognormal().bounded(Some(5.0), Some(30.0)).unwrap(),
            ),
            ("uniform", Dist::uniform(2.0, 10.0).unwrap()),
            (
                "uniform clamped",
                Dist::uniform(2.0, 10.0)
                    .unwrap()
                    .bounded(Some(4.0), Some(8.0))
                    .unwrap(),
            ),
            ("pareto", Dist::pareto(1.0, 3.0).unwrap()),
            (
                "pareto of infinite mean, clamped",
                Dist::pareto(1.0, 0.8)
                    .unwrap()
                    .bounded(None, Some(50.0))
                    .unwrap(),
            ),
            (
                "pareto of shape 1, clamped",
                Dist::pareto(2.0, 1.0)
                    .unwrap()
                    .bounded(Some(3.0), Some(40.0))
                    .unwrap(),
            ),
            (
                "empirical",
                Dist::empirical(vec![1.0, 2.0, 2.0, 7.0, 30.0]).unwrap(),
            ),
            (
                "constant",
                Dist::constant(12.0)
                    .unwrap()
                    .bounded(None, Some(9.0))
                    .unwrap(),
            ),
        ]
    }

    /// Tolerance on a probability: each side of the comparison is an
    /// average of 200k draws, with a standard error of at most 0.0011
    /// (0.5 / √N), so 0.008 is over five standard errors of the difference.
    const TOL: f64 = 0.008;

    #[test]
    fn time_left_is_the_equilibrium_distribution_of_every_shape() {
        for (i, (name, dist)) in cases().into_iter().enumerate() {
            for (x, expected, measured) in tails(&dist, 1.0, i as u64) {
                assert!(
                    (measured - expected).abs() < TOL,
                    "{name}: P(left > {x}) {measured}, theory {expected}"
                );
            }
        }
    }

    #[test]
    fn the_check_fails_a_residual_off_by_five_percent_or_a_fresh_draw() {
        for (i, (name, dist)) in cases().into_iter().enumerate() {
            let worst = |nudge| {
                tails(&dist, nudge, i as u64)
                    .into_iter()
                    .map(|(_, e, m)| (m - e).abs())
                    .fold(0.0, f64::max)
            };
            assert!(worst(1.05) > TOL, "{name}: a 5% nudge passes");
        }
        // A fresh draw is not a draw in progress (but for the
        // exponential): half of fresh lognormal draws exceed its median,
        // ten tolerances fewer times left do.
        let lognormal = Dist::lognormal(10.0, 60.0, "p99", Z_P99).unwrap();
        let (_, expected, _) = tails(&lognormal, 1.0, 9)[1];
        assert!(0.5 - expected > 10.0 * TOL, "P(left > median) {expected}");
    }

    /// The mean from the partial expectations is the mean of ordinary
    /// draws: within 2% (the CVs here are at most 1.2, so the standard
    /// error of 200k draws is under 0.3%), and 5% off fails.
    #[test]
    fn the_mean_after_clamping_is_the_mean_of_draws() {
        for (i, (name, dist)) in cases().into_iter().enumerate() {
            let mut rng = RandomStreams::new(i as u64).stream("mean");
            let drawn = (0..N).map(|_| dist.sample(&mut rng)).sum::<f64>() / N as f64;
            let rel = |m: f64| (m - drawn).abs() / drawn;
            assert!(
                rel(dist.mean()) < 0.02,
                "{name}: {} vs {drawn}",
                dist.mean()
            );
            assert!(rel(1.05 * dist.mean()) > 0.02, "{name}: nudged");
        }
        assert_eq!(Dist::pareto(1.0, 0.9).unwrap().mean(), f64::INFINITY);
    }

    #[test]
    fn an_infinite_mean_has_no_time_left() {
        let err = Dist::pareto(1.0, 1.0).unwrap().residual().unwrap_err();
        assert_eq!(err, DistError::InfiniteMean);
    }
}
