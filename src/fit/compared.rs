//! A figure of the trace beside the fitted model's, and whether the model
//! is too far from it.

use serde::Serialize;

/// A figure of the model this far from the trace's, relative to it, is
/// warned of.
const TOLERANCE: f64 = 0.10;

/// A figure of the trace (or its replay) and of the fitted model, with
/// their 95% half-widths where they are estimates.
#[derive(Serialize)]
pub struct Compared {
    pub trace: f64,
    /// The 95% half-width of the trace's figure, where it is an estimate
    /// whose noise matters (the dispersion of counts over few windows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_ci: Option<f64>,
    pub model: f64,
    pub model_ci: Option<f64>,
}

impl Compared {
    /// Whether the model's figure is more than [`TOLERANCE`] from the
    /// trace's, relative to it, with their 95% intervals clear of that band.
    pub fn off(&self) -> bool {
        let band = TOLERANCE * self.trace.abs();
        let half = self.model_ci.unwrap_or(0.0) + self.trace_ci.unwrap_or(0.0);
        (self.model - self.trace).abs() - half > band
    }

    /// How far the model's figure is from the trace's, relative to it.
    pub fn error(&self) -> String {
        match self.trace {
            0.0 => "the trace's is 0".to_owned(),
            t => format!("{:+.0}%", 100.0 * (self.model - t) / t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure is off when it is more than 10% from the trace's with its
    /// interval clear of the band: 11% off is, 9% is not, 15% ± 6% is not
    /// (its interval reaches 9%), and the sign does not matter.
    #[test]
    fn a_figure_more_than_a_tenth_off_is_warned_of() {
        let c = |model: f64, ci: Option<f64>| Compared {
            trace: 100.0,
            trace_ci: None,
            model,
            model_ci: ci,
        };
        assert!(c(111.0, None).off() && c(89.0, Some(0.5)).off());
        assert!(!c(109.0, None).off() && !c(91.0, Some(0.5)).off());
        assert!(!c(115.0, Some(6.0)).off() && c(115.0, Some(4.0)).off());
        assert_eq!(c(111.0, None).error(), "+11%");
    }
}
