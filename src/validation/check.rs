//! A check against theory: its model, how its measurement is compared
//! with its expectation, and the verdict.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::config::{self, Diagnostic, Source};
use crate::engine::random::derive_seed;
use crate::model::measure::summary::Summary;
use crate::model::{self, RunError};
use crate::statistics::mean_ci;

/// The share of its expectation within which every exact or approximate
/// check must resolve its measurement.
pub const RESOLUTION: f64 = 0.025;
/// How far a wrong expectation may be off and still be caught: twice the resolution.
pub const NUDGE: f64 = 2.0 * RESOLUTION;

/// How a measurement is compared with its expectation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Criterion {
    /// Exact in theory: the expectation lies in the 99% confidence interval.
    Exact,
    /// Approximate in theory: within this relative tolerance (at most [`RESOLUTION`]).
    About(f64),
    /// A threshold: the whole 99% confidence interval lies at or above it ...
    AtLeast,
    /// ... or at or below it.
    AtMost,
}

/// A check that could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("a check's model is invalid: {0}")]
    Model(Diagnostic),
    #[error("{0}: {1}")]
    Run(&'static str, RunError),
}

/// One check's definition.
pub struct Check {
    pub name: &'static str,
    pub expected: f64,
    pub criterion: Criterion,
    pub(super) model: &'static str,
    pub(super) overrides: Vec<String>,
    pub(super) replications: u64,
    /// Replication r runs with seed `derive_seed(seed, r)`.
    pub(super) seed: u64,
    pub(super) measure: fn(&Summary) -> f64,
    /// Thresholds only: overrides, on the other side of the threshold,
    /// under which the check must fail.
    pub(super) across: Vec<String>,
}

/// Whether a measurement meets its expectation, and whether it could have failed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    pub mean: f64,
    /// Half-width of the 99% confidence interval of the mean.
    pub half_width: f64,
    /// The criterion holds.
    pub met: bool,
    /// The check resolves its expectation to within [`RESOLUTION`].
    pub powered: bool,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.met && self.powered
    }
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckOutcome {
    pub name: &'static str,
    pub expected: f64,
    pub criterion: Criterion,
    /// One measurement per replication.
    pub values: Vec<f64>,
    pub verdict: Verdict,
}

impl Check {
    /// Runs the replications (in parallel) and judges the result.
    pub fn run(&self) -> Result<CheckOutcome, CheckError> {
        self.run_with(&[])
    }

    /// For a threshold check: the outcome across its threshold, which must
    /// fail; `None` for other checks.
    pub fn run_across(&self) -> Option<Result<CheckOutcome, CheckError>> {
        (!self.across.is_empty()).then(|| self.run_with(&self.across))
    }

    fn run_with(&self, extra: &[String]) -> Result<CheckOutcome, CheckError> {
        let source = Source {
            name: format!("validate: {}", self.name),
            text: self.model.to_owned(),
            base_dir: PathBuf::from("."),
        };
        let flags: Vec<&String> = self.overrides.iter().chain(extra).collect();
        let spec = config::load_model_with(&source, &flags)
            .map_err(CheckError::Model)?
            .spec;
        let values: Vec<f64> = (1..=self.replications)
            .into_par_iter()
            .map(|r| {
                let mut spec = spec.clone();
                spec.seed = derive_seed(self.seed, r) >> 1;
                model::simulate(&spec, false).map(|run| (self.measure)(&run.summary))
            })
            .collect::<Result<_, RunError>>()
            .map_err(|e| CheckError::Run(self.name, e))?;
        Ok(CheckOutcome {
            name: self.name,
            expected: self.expected,
            criterion: self.criterion,
            verdict: judge(&values, self.expected, self.criterion),
            values,
        })
    }
}

/// Judges `values` against `expected` by `criterion`.
pub fn judge(values: &[f64], expected: f64, criterion: Criterion) -> Verdict {
    let (mean, half_width) = mean_ci(values, 0.995);
    let (mean, half_width) = (mean.unwrap_or(f64::NAN), half_width.unwrap_or(f64::NAN));
    let scale = RESOLUTION * expected.abs();
    let (met, powered) = match criterion {
        Criterion::Exact => ((mean - expected).abs() <= half_width, half_width <= scale),
        Criterion::About(tolerance) => (
            (mean - expected).abs() <= tolerance * expected.abs(),
            tolerance <= RESOLUTION && half_width <= tolerance * expected.abs(),
        ),
        Criterion::AtLeast => (mean - half_width >= expected, true),
        Criterion::AtMost => (mean + half_width <= expected, true),
    };
    Verdict {
        mean,
        half_width,
        met: met && mean.is_finite(),
        powered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_follows_each_criterion() {
        // Mean 10, sd √(2/3), n = 4: t(0.995, 3) = 5.8409, half-width 2.385,
        // so the interval is [7.615, 12.385].
        let values = [9.0, 10.0, 11.0, 10.0];
        let sd = (2.0f64 / 3.0).sqrt();
        let v = judge(&values, 12.3, Criterion::Exact);
        assert_eq!(v.mean, 10.0);
        assert!((v.half_width - 5.840_909 * sd / 2.0).abs() < 1e-5);
        assert!(v.met && !v.powered, "a 24% interval cannot resolve 2.5%");
        assert!(!judge(&values, 12.5, Criterion::Exact).met);
        let tight = [9.99, 10.0, 10.01, 10.0];
        assert!(judge(&tight, 10.0, Criterion::Exact).passed());
        assert!(!judge(&tight, 10.0 * (1.0 + NUDGE), Criterion::Exact).passed());
        assert!(judge(&tight, 10.2, Criterion::About(0.025)).passed());
        assert!(!judge(&tight, 10.5, Criterion::About(0.025)).passed());
        assert!(
            !judge(&tight, 10.0, Criterion::About(0.1)).powered,
            "a 10% tolerance cannot resolve 2.5%"
        );
        // Thresholds need the whole interval, [7.615, 12.385], on their side.
        assert!(
            judge(&values, 7.6, Criterion::AtLeast).passed()
                && !judge(&values, 7.7, Criterion::AtLeast).passed()
        );
        assert!(
            judge(&values, 12.4, Criterion::AtMost).passed()
                && !judge(&values, 12.3, Criterion::AtMost).passed()
        );
        assert!(!judge(&[f64::NAN, 1.0], 1.0, Criterion::AtLeast).passed());
    }
}
