//! What `loopcap run --replications N` prints: each metric's mean over the
//! replications with the half-width of its 95% confidence interval, since
//! one seed's p99 says little about the next.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::model::measure::summary::Summary;
use crate::statistics::mean_ci;

/// One metric over the replications that defined it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricStats {
    #[serde(skip)]
    pub name: String,
    pub mean: Option<f64>,
    /// Half-width of the two-sided 95% Student-t interval.
    pub ci95: Option<f64>,
}

/// Each metric of `summaries` (one per replication), in summary order.
pub fn stats(summaries: &[Summary]) -> Vec<MetricStats> {
    let runs: Vec<Vec<(String, Option<f64>)>> = summaries.iter().map(Summary::metrics).collect();
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let xs: Vec<f64> = runs.iter().filter_map(|m| m[i].1).collect();
            let (mean, ci95) = mean_ci(&xs, 0.975);
            MetricStats {
                name: name.clone(),
                mean,
                ci95,
            }
        })
        .collect()
}

/// A table: the model, the seeds, then a metric a line.
pub fn render(model: &str, seeds: &[u64], stats: &[MetricStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{model}: {} replications (seeds {}), mean ± half-width of the 95% CI\n",
        seeds.len(),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let width = stats.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in stats {
        let cell = match (s.mean, s.ci95) {
            (Some(mean), Some(ci)) => format!("{mean:>14.4} ± {ci:.4}"),
            (Some(mean), None) => format!("{mean:>14.4}"),
            _ => format!("{:>14}", "-"),
        };
        let _ = writeln!(out, "  {:<width$}  {cell}", s.name);
    }
    out
}

/// `{"metric": {"mean": m, "ci95": h}, ...}` in summary order.
pub fn write_json(w: impl Write, stats: &[MetricStats]) -> io::Result<()> {
    crate::json::write_named_json(w, stats.iter().map(|s| (s.name.as_str(), s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_metric_gets_its_mean_and_interval_over_the_replications() {
        let summaries: Vec<Summary> = [2, 4, 6]
            .map(|n| Summary {
                loops_completed: n,
                ..Summary::default()
            })
            .into();
        let stats = stats(&summaries);
        let completed = stats.iter().find(|s| s.name == "loops_completed").unwrap();
        assert_eq!(completed.mean, Some(4.0));
        // s = 2, t(0.975, 2) = 4.302653: half-width 4.9683.
        assert!((completed.ci95.unwrap() - 4.302_653 * 2.0 / 3f64.sqrt()).abs() < 1e-5);
        // Undefined in every replication: no mean.
        let p99 = stats
            .iter()
            .find(|s| s.name == "loop_latency_s.p99")
            .unwrap();
        assert_eq!((p99.mean, p99.ci95), (None, None));
        let mut json = Vec::new();
        write_json(&mut json, &stats).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["loops_completed"]["mean"], 4.0);
        assert!(render("m", &[1, 2, 3], &stats).contains("4.0000 ± 4.9683"));
    }
}
