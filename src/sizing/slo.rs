//! An SLO: a bound on one summary metric, met only when the whole 95%
//! interval of the metric's mean is on its right side; and which way each
//! metric is better.

use crate::model::measure::catalogue::{self, Better, Unit};
use serde::{Deserialize, Serialize};

use crate::config::quantity::parse_duration;
use crate::error::BadInput;

/// Which side of the bound is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// The metric must be at most the bound (latency, failures, cost).
    #[serde(rename = "<=")]
    AtMost,
    /// The metric must be at least the bound (throughput, loops per dollar).
    #[serde(rename = ">=")]
    AtLeast,
}

/// One objective: `metric <= bound` or `metric >= bound`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub metric: String,
    pub direction: Direction,
    pub bound: f64,
    /// As written, for messages.
    pub text: String,
}

impl Slo {
    /// Parses `metric <= value` (or `>=`, `<`, `>`). `metrics` are the
    /// names the summary has; a duration bound of a metric in seconds
    /// (`..._s`) may carry a unit (`25m`), and a share a percent sign.
    pub fn parse(text: &str, metrics: &[String]) -> Result<Slo, BadInput> {
        let (at, direction, width) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| {
                text.find(op).map(|at| {
                    let direction = if op.starts_with('<') {
                        Direction::AtMost
                    } else {
                        Direction::AtLeast
                    };
                    (at, direction, op.len())
                })
            })
            .ok_or_else(|| {
                BadInput(format!(
                    "--slo '{text}': expected METRIC <= VALUE or METRIC >= VALUE"
                ))
            })?;
        let metric = text[..at].trim().to_owned();
        let value = text[at + width..].trim();
        if !metrics.contains(&metric) {
            return Err(BadInput(format!(
                "--slo '{text}': unknown metric `{metric}`; the model's metrics are: {}",
                metrics.join(", ")
            )));
        }
        let bound = parse_bound(&metric, value).ok_or_else(|| {
            BadInput(format!(
                "--slo '{text}': `{value}` is not a number{}",
                unit_hint(&metric)
            ))
        })?;
        // A share is a fraction, so a bare 1 reads as 100%: written
        // without its `%`, it is far more likely 1% meant.
        if catalogue::is_share(&metric) && bound >= 1.0 && !value.ends_with('%') {
            return Err(BadInput(format!(
                "--slo '{text}': {metric} is a share, a fraction of 1, so `{value}` reads as {}%; write {value}% for {value} in a hundred, or {}% if that is meant",
                bound * 100.0,
                bound * 100.0
            )));
        }
        Ok(Slo {
            metric,
            direction,
            bound,
            text: text.trim().to_owned(),
        })
    }

    /// The failed share of the loops this SLO's metric describes, when it
    /// is a latency, which counts only the loops that completed.
    pub fn failed_share(&self) -> Option<String> {
        catalogue::failed_share_beside(&self.metric)
    }

    /// Whether a metric's mean ± half-width meets this SLO with confidence.
    pub fn met_by(&self, mean: Option<f64>, half: Option<f64>) -> bool {
        let Some(mean) = mean else { return false };
        let half = half.unwrap_or(0.0);
        match self.direction {
            Direction::AtMost => mean + half <= self.bound,
            Direction::AtLeast => mean - half >= self.bound,
        }
    }

    /// Whether a metric's 95% interval, mean ± half-width, holds the bound
    /// (a bound on its edge included): the verdict could go either way.
    pub fn straddled_by(&self, mean: Option<f64>, half: Option<f64>) -> bool {
        match (mean, half) {
            (Some(mean), Some(half)) if half > 0.0 => {
                mean - half <= self.bound && self.bound <= mean + half
            }
            _ => false,
        }
    }
}

/// Which way a metric is better, as the catalogue says: lower for
/// latencies, waits, failures, refusals, retries and cost; higher for
/// throughput, loops per dollar and recovery goodput. Counts of loops
/// started or tokens, utilisation and the like have none.
pub fn better(metric: &str) -> Option<Direction> {
    match catalogue::find(metric)?.metric.better? {
        Better::Lower => Some(Direction::AtMost),
        Better::Higher => Some(Direction::AtLeast),
    }
}

impl Slo {
    /// A warning when the SLO bounds its metric from the side that is worse
    /// (a failure share at least 1%, say): likely a mistyped comparison.
    pub fn direction_warning(&self) -> Option<String> {
        let better = better(&self.metric)?;
        (better != self.direction).then(|| {
            let (way, op) = match better {
                Direction::AtMost => ("lower", "<="),
                Direction::AtLeast => ("higher", ">="),
            };
            format!(
                "--slo '{}': {} is better {way}; did you mean {} {op} ...?",
                self.text, self.metric, self.metric
            )
        })
    }
}

/// Metrics in seconds take durations; others plain numbers or percentages.
fn is_seconds(metric: &str) -> bool {
    catalogue::find(metric).is_some_and(|n| n.metric.unit == Unit::Seconds)
}

fn unit_hint(metric: &str) -> &'static str {
    if is_seconds(metric) {
        " or a duration such as 25m or 1500s"
    } else {
        " (a share may be written as a percentage, e.g. 1%)"
    }
}

fn parse_bound(metric: &str, value: &str) -> Option<f64> {
    if let Ok(x) = value.parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    if is_seconds(metric) {
        return parse_duration(value).ok().map(|d| d.as_secs_f64());
    }
    let percent = value.strip_suffix('%')?.trim().parse::<f64>().ok()?;
    percent.is_finite().then_some(percent / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["loop_latency_s.p99", "loops_failed_share", "loops_per_min"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn slos_parse_with_units_and_directions() {
        let slo = Slo::parse("loop_latency_s.p99 <= 25m", &names()).unwrap();
        assert_eq!((slo.direction, slo.bound), (Direction::AtMost, 1500.0));
        let slo = Slo::parse("loops_failed_share<=1%", &names()).unwrap();
        assert_eq!(slo.bound, 0.01);
        let slo = Slo::parse("loops_per_min >= 2.5", &names()).unwrap();
        assert_eq!((slo.direction, slo.bound), (Direction::AtLeast, 2.5));
        let e = Slo::parse("p99 <= 3", &names()).unwrap_err().to_string();
        assert!(
            e.contains("unknown metric `p99`") && e.contains("loops_per_min"),
            "{e}"
        );
        // A share written without its `%`: 1 or more is refused, naming both readings.
        for bare in ["1", "5", "1.0"] {
            let e = Slo::parse(&format!("loops_failed_share <= {bare}"), &names())
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("write {bare}% for")), "{e}");
            assert!(e.contains("% if that is meant"), "{e}");
        }
        assert_eq!(
            Slo::parse("loops_failed_share <= 0.01", &names())
                .unwrap()
                .bound,
            0.01
        );
        assert_eq!(
            Slo::parse("loops_failed_share <= 100%", &names())
                .unwrap()
                .bound,
            1.0
        );
        // Not a share: a plain 5 stays 5.
        assert_eq!(
            Slo::parse("loops_per_min >= 5", &names()).unwrap().bound,
            5.0
        );
        let e = Slo::parse("loops_per_min = 3", &names())
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected METRIC <= VALUE"), "{e}");
        let e = Slo::parse("loops_per_min >= fast", &names())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`fast` is not a number"), "{e}");
    }

    /// Every column of a summary with every part can be bounded, a
    /// duration only where the catalogue's unit is seconds, and a bound
    /// the wrong way round is warned of only where the catalogue says
    /// which way is better.
    #[test]
    fn every_summary_metric_takes_an_slo_as_its_catalogue_entry_says() {
        use crate::model::measure::summary::tests::every_column;
        let columns = every_column();
        let mut seconds = 0;
        for column in &columns {
            let entry = catalogue::find(column).expect("the catalogue's test holds this");
            let slo = Slo::parse(&format!("{column} >= 0.5"), &columns).unwrap();
            assert_eq!(slo.bound, 0.5, "{column}");
            let in_seconds = entry.metric.unit == Unit::Seconds;
            let timed = Slo::parse(&format!("{column} >= 2m"), &columns);
            assert_eq!(timed.is_ok(), in_seconds, "{column} with a duration");
            seconds += usize::from(in_seconds);
            assert_eq!(
                slo.direction_warning().is_some(),
                entry.metric.better == Some(Better::Lower),
                "{column}"
            );
        }
        assert!(seconds > 10, "{seconds} columns in seconds");
    }

    #[test]
    fn each_metric_says_which_way_is_better() {
        assert_eq!(better("loop_latency_s.p99"), Some(Direction::AtMost));
        assert_eq!(
            better("windows.surge-developers-1.loop_latency_s.p99"),
            Some(Direction::AtMost)
        );
        assert_eq!(better("loops_failed_share"), Some(Direction::AtMost));
        assert_eq!(better("cost_per_loop_usd"), Some(Direction::AtMost));
        assert_eq!(better("classes.a.loops_per_min"), Some(Direction::AtLeast));
        assert_eq!(better("loops_per_dollar"), Some(Direction::AtLeast));
        assert_eq!(better("loop_latency_cdf_s.q50"), Some(Direction::AtMost));
        assert_eq!(better("loops_started"), None);
        let names = names();
        let wrong = Slo::parse("loops_failed_share >= 1%", &names).unwrap();
        assert_eq!(
            wrong.direction_warning().unwrap(),
            "--slo 'loops_failed_share >= 1%': loops_failed_share is better lower; did you mean loops_failed_share <= ...?"
        );
        assert!(
            Slo::parse("loops_per_min >= 2", &names)
                .unwrap()
                .direction_warning()
                .is_none()
        );
    }

    #[test]
    fn a_bound_is_met_only_by_the_whole_interval() {
        let slo = Slo::parse("loops_failed_share <= 0.01", &names()).unwrap();
        assert!(slo.met_by(Some(0.008), Some(0.002)));
        assert!(!slo.met_by(Some(0.008), Some(0.0021)));
        assert!(!slo.met_by(None, None));
        let slo = Slo::parse("loops_per_min >= 2", &names()).unwrap();
        assert!(slo.met_by(Some(2.5), Some(0.5)));
        assert!(!slo.met_by(Some(2.5), Some(0.6)));
    }
}
