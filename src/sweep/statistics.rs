//! Means and 95% confidence intervals over replications (Student t).

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::experiment::Experiment;
use super::runs_file::Rows;

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
pub fn aggregate(exp: &Experiment, rows: &Rows) -> Result<Vec<PointStats>, String> {
    let metrics = exp.metric_names.len();
    let offset = 4 + exp.axes.len();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); metrics]; exp.points.len()];
    let mut counts = vec![0usize; exp.points.len()];
    for (run, line) in rows {
        let record = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .and_then(Result::ok)
            .filter(|r| r.len() == offset + metrics)
            .ok_or_else(|| {
                format!(
                    "run {run}: the row does not have {} columns",
                    offset + metrics
                )
            })?;
        let point: usize = record[1]
            .parse()
            .ok()
            .filter(|p| *p < exp.points.len())
            .ok_or_else(|| format!("run {run}: bad point `{}`", &record[1]))?;
        counts[point] += 1;
        for (m, cell) in record.iter().skip(offset).enumerate() {
            if !cell.is_empty() {
                let value = cell
                    .parse()
                    .map_err(|_| format!("run {run}: `{cell}` is not a number"))?;
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
