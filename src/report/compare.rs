//! `loopcap compare A B`: two results side by side, each metric with its
//! difference and, for replicated results, whether the difference is more
//! than the noise between replications.
//!
//! A side is a run's directory (`run --out`: one replication) or a point
//! of a finished sweep (`SWEEP_DIR:K`, or `SWEEP_DIR` when the sweep has one
//! point): its replications from runs.csv. When both sides have the same
//! seeds in the same order, as two points of one sweep with common random
//! numbers do, replication r of A and of B saw the same random numbers, and
//! the difference is judged on the paired differences (a paired t
//! interval); otherwise on the two samples (Welch's t interval). A
//! difference is significant when its 95% interval excludes zero.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::ReadError;
use crate::model::measure::catalogue;
use crate::model::measure::summary::Summary;
use crate::output::marker;
use crate::statistics::mean_ci;
use crate::sweep_dir;
use crate::sweep_dir::runs_file::{cells, first_metric};

/// One side of a comparison: its replications' metrics and seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    /// What it is, for the table's header.
    pub label: String,
    pub names: Vec<String>,
    /// Per replication, a value per metric (of `names`).
    pub runs: Vec<Vec<Option<f64>>>,
    pub seeds: Vec<u64>,
}

impl Side {
    /// One run: a run's summary.
    pub fn from_summary(label: String, summary: &Summary) -> Side {
        let (names, values) = summary.metrics().into_iter().unzip();
        Side {
            label,
            names,
            runs: vec![values],
            seeds: vec![summary.seed],
        }
    }

    /// The values of `metric` over the replications that define it, with
    /// their replication index.
    fn values(&self, metric: &str) -> Vec<(usize, f64)> {
        let Some(m) = self.names.iter().position(|n| n == metric) else {
            return Vec::new();
        };
        self.runs
            .iter()
            .enumerate()
            .filter_map(|(r, run)| run[m].map(|v| (r, v)))
            .collect()
    }
}

/// Reads a side: a run's directory (with summary.json), `SWEEP_DIR:K` for
/// point K of a sweep, or a sweep's directory with a single point.
pub fn read_side(arg: &str) -> Result<Side, ReadError> {
    let path = Path::new(arg);
    if path.join("summary.json").is_file() {
        marker::verify(path)?;
        let file = path.join("summary.json");
        let text = std::fs::read_to_string(&file).map_err(ReadError::io(&file))?;
        let summary: Summary = serde_json::from_str(&text)
            .map_err(|e| ReadError::bad(format!("{}: not a run's summary: {e}", file.display())))?;
        return Ok(Side::from_summary(arg.to_owned(), &summary));
    }
    let (dir, point) = match arg.rsplit_once(':') {
        Some((dir, k)) if !path.exists() => {
            let k = k.parse::<usize>().map_err(|_| {
                ReadError::bad(format!(
                    "{arg}: after the `:` comes a point number of the sweep, e.g. {dir}:0"
                ))
            })?;
            (PathBuf::from(dir), Some(k))
        }
        _ => (path.to_owned(), None),
    };
    if !dir.join("manifest.json").is_file() || !dir.join("runs.csv").is_file() {
        return Err(ReadError::bad(format!(
            "{}: neither a run's directory (summary.json) nor a sweep's (manifest.json and runs.csv)",
            dir.display()
        )));
    }
    let (exp, rows) = sweep_dir::read(&dir)?;
    let points = exp.points.len();
    let point = match point {
        Some(k) if k < points => k,
        Some(k) => {
            return Err(ReadError::bad(format!(
                "{arg}: {} has points 0 to {} (got {k})",
                dir.display(),
                points - 1
            )));
        }
        None if points == 1 => 0,
        None => {
            return Err(ReadError::bad(format!(
                "{}: the sweep has {points} points: name one, e.g. {}:0 (points.csv lists them)",
                dir.display(),
                dir.display()
            )));
        }
    };
    let offset = first_metric(exp.axes.len());
    let columns = offset + exp.metric_names.len();
    let mut side = Side {
        label: format!(
            "{} point {point} ({})",
            dir.display(),
            exp.axes
                .iter()
                .zip(exp.point_labels(point))
                .map(|(axis, label)| format!("{} = {label}", axis.path))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        names: exp.metric_names.clone(),
        runs: Vec::new(),
        seeds: Vec::new(),
    };
    let replications = exp.replications as usize;
    for run in point * replications..(point + 1) * replications {
        let record = cells(&rows[&run], columns).ok_or_else(|| {
            ReadError::bad(format!(
                "{}: run {run} has not {columns} cells",
                dir.display()
            ))
        })?;
        side.seeds.push(record[3].parse().map_err(|_| {
            ReadError::bad(format!(
                "{}: run {run}: bad seed `{}`",
                dir.display(),
                &record[3]
            ))
        })?);
        side.runs.push(
            record
                .iter()
                .skip(offset)
                .map(|cell| cell.parse().ok())
                .collect(),
        );
    }
    Ok(side)
}

/// A mean and the half-width of its 95% interval, if there are two values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: Option<f64>,
}

fn estimate(xs: &[f64]) -> Option<Estimate> {
    let (mean, ci95) = mean_ci(xs, 0.975);
    Some(Estimate { mean: mean?, ci95 })
}

/// One metric on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    #[serde(skip)]
    pub metric: String,
    pub a: Option<Estimate>,
    pub b: Option<Estimate>,
    /// B − A, with the half-width of its 95% interval when there is one.
    pub diff: Option<Estimate>,
    /// B − A relative to A.
    pub relative: Option<f64>,
    /// Whether the difference's interval excludes zero; `None` without one.
    pub significant: Option<bool>,
}

/// How the difference was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing {
    /// Replication by replication: the sides share their seeds.
    Paired,
    /// Two independent samples (Welch).
    Unpaired,
    /// One run on a side at least: no interval.
    Single,
}

/// Compares every metric of A (then those only B has), in A's order.
pub fn compare(a: &Side, b: &Side) -> (Pairing, Vec<Row>) {
    let pairing = if a.runs.len() < 2 || b.runs.len() < 2 {
        Pairing::Single
    } else if a.seeds == b.seeds {
        Pairing::Paired
    } else {
        Pairing::Unpaired
    };
    let mut names: Vec<&String> = a.names.iter().collect();
    names.extend(b.names.iter().filter(|n| !a.names.contains(n)));
    let rows = names
        .into_iter()
        .map(|metric| {
            let (av, bv) = (a.values(metric), b.values(metric));
            let xs = |v: &[(usize, f64)]| v.iter().map(|&(_, x)| x).collect::<Vec<_>>();
            let (ea, eb) = (estimate(&xs(&av)), estimate(&xs(&bv)));
            let diff = match pairing {
                Pairing::Paired => {
                    let d: Vec<f64> = av
                        .iter()
                        .filter_map(|&(r, x)| {
                            bv.iter().find(|&&(s, _)| s == r).map(|&(_, y)| y - x)
                        })
                        .collect();
                    estimate(&d)
                }
                Pairing::Unpaired => welch(&xs(&av), &xs(&bv)),
                Pairing::Single => match (ea, eb) {
                    (Some(a), Some(b)) => Some(Estimate {
                        mean: b.mean - a.mean,
                        ci95: None,
                    }),
                    _ => None,
                },
            };
            let relative = match (ea, diff) {
                (Some(a), Some(d)) if a.mean != 0.0 => Some(d.mean / a.mean.abs()),
                _ => None,
            };
            let significant = diff.and_then(|d| d.ci95.map(|h| d.mean.abs() > h));
            Row {
                metric: metric.clone(),
                a: ea,
                b: eb,
                diff,
                relative,
                significant,
            }
        })
        .collect();
    (pairing, rows)
}

/// The difference of the means of two independent samples, with Welch's
/// 95% interval (unequal variances, Welch–Satterthwaite degrees of freedom).
fn welch(a: &[f64], b: &[f64]) -> Option<Estimate> {
    let (ma, mb) = (estimate(a)?.mean, estimate(b)?.mean);
    let mean = mb - ma;
    let var = |xs: &[f64], m: f64| {
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() as f64 - 1.0)
    };
    if a.len() < 2 || b.len() < 2 {
        return Some(Estimate { mean, ci95: None });
    }
    let (va, vb) = (var(a, ma) / a.len() as f64, var(b, mb) / b.len() as f64);
    let se2 = va + vb;
    if se2 == 0.0 {
        return Some(Estimate {
            mean,
            ci95: Some(0.0),
        });
    }
    let df =
        se2.powi(2) / (va.powi(2) / (a.len() as f64 - 1.0) + vb.powi(2) / (b.len() as f64 - 1.0));
    let t = StudentsT::new(0.0, 1.0, df)
        .expect("positive degrees of freedom")
        .inverse_cdf(0.975);
    Some(Estimate {
        mean,
        ci95: Some(t * se2.sqrt()),
    })
}

/// `x` with about four significant digits (all of its integer part).
fn short(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{x:.decimals$}")
}

/// An estimate as the table shows it: a difference `signed`; a share of
/// `metric` in percent, and a difference of shares in percentage points.
fn cell(e: Option<Estimate>, signed: bool, metric: &str) -> String {
    let Some(Estimate { mean, ci95 }) = e else {
        return "-".to_owned();
    };
    let (scale, unit) = match (catalogue::is_share(metric), signed) {
        (false, _) => (1.0, ""),
        (true, false) => (100.0, "%"),
        (true, true) => (100.0, " pp"),
    };
    let sign = if signed && mean >= 0.0 { "+" } else { "" };
    let mut s = format!("{sign}{}{unit}", short(scale * mean));
    if let Some(h) = ci95 {
        let _ = write!(s, " ± {}{unit}", short(scale * h));
    }
    s
}

/// The comparison as a table: a line per metric.
pub fn render(a: &Side, b: &Side, pairing: Pairing, rows: &[Row]) -> String {
    let mut out = String::new();
    let runs = |s: &Side| match s.runs.len() {
        1 => "1 run".to_owned(),
        n => format!("{n} replications"),
    };
    let _ = writeln!(out, "A: {}, {}", a.label, runs(a));
    let _ = writeln!(out, "B: {}, {}", b.label, runs(b));
    let _ = writeln!(
        out,
        "{}\n",
        match pairing {
            Pairing::Paired =>
                "same seeds (common random numbers): B − A replication by replication, mean ± half-width of the 95% CI; significant when it excludes 0",
            Pairing::Unpaired =>
                "different seeds: B − A of the means, ± half-width of Welch's 95% CI; significant when it excludes 0",
            Pairing::Single =>
                "one run on a side: B − A without an interval; replicate both (sweep points, or run --replications into a sweep) to judge it",
        }
    );
    let width = rows.iter().map(|r| r.metric.len()).max().unwrap_or(6);
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.metric.clone(),
                cell(r.a, false, &r.metric),
                cell(r.b, false, &r.metric),
                cell(r.diff, true, &r.metric),
                r.relative
                    .map_or_else(String::new, |x| format!("{:+.1}%", 100.0 * x)),
                match r.significant {
                    Some(true) => "yes".to_owned(),
                    Some(false) => "no".to_owned(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let w = |i: usize| table.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let (wa, wb, wd, wr) = (w(1).max(1), w(2).max(1), w(3).max(5), w(4).max(8));
    let _ = writeln!(
        out,
        "  {:<width$}  {:>wa$}  {:>wb$}  {:>wd$}  {:>wr$}  significant",
        "metric", "A", "B", "B − A", "relative"
    );
    for [metric, a, b, d, rel, sig] in &table {
        let _ = writeln!(
            out,
            "  {metric:<width$}  {a:>wa$}  {b:>wb$}  {d:>wd$}  {rel:>wr$}  {sig}"
        );
    }
    out
}

/// `{"metric": {a, b, diff, relative, significant}, ...}`, in table order.
pub fn write_json(w: impl Write, rows: &[Row]) -> io::Result<()> {
    crate::json::write_named_json(w, rows.iter().map(|r| (r.metric.as_str(), r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(values: &[f64], seeds: &[u64]) -> Side {
        Side {
            label: String::new(),
            names: vec!["m".to_owned()],
            runs: values.iter().map(|&v| vec![Some(v)]).collect(),
            seeds: seeds.to_vec(),
        }
    }

    #[test]
    fn cells_keep_about_four_significant_digits() {
        assert_eq!(short(888.5), "888.5");
        assert_eq!(short(17.152_8), "17.15");
        assert_eq!(short(0.047_43), "0.04743");
        assert_eq!(short(1_546.714_3), "1547");
        assert_eq!(short(0.0), "0");
        let diff = Estimate {
            mean: 38.1,
            ci95: Some(10.955_6),
        };
        assert_eq!(cell(Some(diff), true, "loops_per_min"), "+38.10 ± 10.96");
        assert_eq!(cell(None, true, "loops_per_min"), "-");
        // A share in percent, a difference of shares in percentage points.
        let share = Estimate {
            mean: 0.000_381_9,
            ci95: Some(0.000_146),
        };
        assert_eq!(
            cell(Some(share), false, "loops_failed_share"),
            "0.03819% ± 0.01460%"
        );
        assert_eq!(
            cell(Some(share), true, "loops_failed_share"),
            "+0.03819 pp ± 0.01460 pp"
        );
    }

    #[test]
    fn welch_matches_a_hand_computed_interval() {
        // A = 1, 2, 3, 4 (mean 2.5, s² = 5/3); B = 2, 4, 6 (mean 4, s² = 4).
        // se² = 5/12 + 4/3 = 1.75; df = 1.75² / ((5/12)²/3 + (4/3)²/2) = 3.2347
        // (the df scipy.stats.ttest_ind(equal_var=False) reports);
        // t(0.975, 3.2347) = 3.0557 (scipy.stats.t.ppf): half-width 4.0423.
        let d = welch(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0]).unwrap();
        assert!((d.mean - 1.5).abs() < 1e-12);
        let half = d.ci95.unwrap();
        assert!((half - 4.0423).abs() < 1e-3, "{half}");
    }

    #[test]
    fn shared_seeds_pair_the_replications() {
        // B = A + 1 + a little: paired, the shift is plain; unpaired, the
        // spread between replications hides it.
        let a = [10.0, 20.0, 30.0, 40.0];
        let b = [11.1, 20.9, 31.0, 41.0];
        let (pairing, rows) = compare(&side(&a, &[1, 2, 3, 4]), &side(&b, &[1, 2, 3, 4]));
        assert_eq!(pairing, Pairing::Paired);
        assert_eq!(rows[0].significant, Some(true));
        // Differences 1.1, 0.9, 1.0, 1.0: mean 1.0, s = 0.0816, t(0.975, 3) = 3.1824.
        let d = rows[0].diff.unwrap();
        assert!((d.mean - 1.0).abs() < 1e-9);
        assert!((d.ci95.unwrap() - 3.182_446 * 0.081_65 / 2.0).abs() < 1e-4);
        let (pairing, rows) = compare(&side(&a, &[1, 2, 3, 4]), &side(&b, &[5, 6, 7, 8]));
        assert_eq!(pairing, Pairing::Unpaired);
        assert_eq!(rows[0].significant, Some(false));
        let (pairing, rows) = compare(&side(&a[..1], &[1]), &side(&b[..1], &[1]));
        assert_eq!(pairing, Pairing::Single);
        assert_eq!(rows[0].significant, None);
        assert!((rows[0].diff.unwrap().mean - 1.1).abs() < 1e-9);
        assert!((rows[0].relative.unwrap() - 0.11).abs() < 1e-9);
    }
}
