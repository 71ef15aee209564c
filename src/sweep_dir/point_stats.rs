//! `PointStats`: each grid point's metrics, as means and 95% confidence
//! intervals over its replications.

use super::runs_file::{Rows, cells, first_metric};
use crate::config::experiment::Experiment;
use crate::error::BadInput;
use crate::statistics::mean_ci;

/// One grid point's metrics over its replications.
#[derive(Clone, Debug, PartialEq)]
pub struct PointStats {
    pub point: usize,
    pub replications: usize,
    /// Per metric (in `Experiment::metric_names` order): the mean, or `None`
    /// if no replication defined it.
    pub mean: Vec<Option<f64>>,
    /// Per metric: the half-width of the 95% confidence interval.
    pub ci95: Vec<Option<f64>>,
}

impl PointStats {
    /// The mean and half-width of `metric`.
    pub fn get(&self, exp: &Experiment, metric: &str) -> (Option<f64>, Option<f64>) {
        exp.metric_names
            .iter()
            .position(|m| m == metric)
            .map_or((None, None), |i| (self.mean[i], self.ci95[i]))
    }
}

/// Every point's statistics, from the rows of runs.csv (parsed back from
/// their text, so a resumed or merged sweep computes exactly the same).
pub fn aggregate(exp: &Experiment, rows: &Rows) -> Result<Vec<PointStats>, BadInput> {
    let metrics = exp.metric_names.len();
    let offset = first_metric(exp.axes.len());
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); metrics]; exp.points.len()];
    let mut counts = vec![0usize; exp.points.len()];
    for (run, line) in rows {
        let record = cells(line, offset + metrics).ok_or_else(|| {
            BadInput(format!(
                "run {run}: the row does not have {} columns",
                offset + metrics
            ))
        })?;
        let point: usize = record[1]
            .parse()
            .ok()
            .filter(|p| *p < exp.points.len())
            .ok_or_else(|| BadInput(format!("run {run}: bad point `{}`", &record[1])))?;
        counts[point] += 1;
        for (m, cell) in record.iter().skip(offset).enumerate() {
            if !cell.is_empty() {
                let value = cell
                    .parse()
                    .map_err(|_| BadInput(format!("run {run}: `{cell}` is not a number")))?;
                samples[point][m].push(value);
            }
        }
    }
    Ok(samples
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(point, (per_metric, replications))| {
            let (mean, ci95) = per_metric.iter().map(|xs| mean_ci(xs, 0.975)).unzip();
            PointStats {
                point,
                replications,
                mean,
                ci95,
            }
        })
        .collect())
}
