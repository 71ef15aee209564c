//! What `loopcap run --replications N` prints and keeps: each metric's mean
//! over the replications with the half-width of its 95% confidence
//! interval, since one seed's p99 says little about the next; grouped as
//! the single run's table is, shares in %, after the verdict.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;

use crate::model::measure::catalogue::{self, Form, Named, Scope, Unit};
use crate::model::measure::summary::Summary;
use crate::report::verdict::{
    self, Verdict, count, dollars, percent, seconds, seconds_interval, survivors_note,
    with_interval,
};
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

/// The metrics of one scope and owner (the run, a window, a pool, ...),
/// in summary order: what the single run's table shows under one heading.
pub struct Group<'a> {
    /// "run", "window surge-1", "pool tier2".
    pub heading: String,
    pub metrics: Vec<(Named<'a>, &'a MetricStats)>,
}

/// `stats` grouped by scope and owner, in summary order, leaving out the
/// latency distributions' quantiles (their percentiles are there), metrics
/// no replication defined or that are zero in every one (but the failed
/// shares), and the class of a model with one.
pub fn groups(stats: &[MetricStats]) -> Vec<Group<'_>> {
    let named: Vec<(Named<'_>, &MetricStats)> = stats
        .iter()
        .filter_map(|s| Some((catalogue::find(&s.name)?, s)))
        .collect();
    // One class is the run: its figures are the run's.
    let classes: BTreeSet<&str> = named
        .iter()
        .filter(|(n, _)| n.scope == Scope::Class)
        .map(|(n, _)| n.owner)
        .collect();
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (named, s) in named {
        let nothing = s.mean == Some(0.0) && s.ci95.is_none_or(|h| h == 0.0);
        if s.mean.is_none()
            || named.metric.form == Form::Quantiles
            || (nothing && named.metric.name != "loops_failed_share")
            || (named.scope == Scope::Class && classes.len() < 2)
        {
            continue;
        }
        let heading = named.scope.heading(named.owner);
        match groups.iter_mut().find(|g| g.heading == heading) {
            Some(g) => g.metrics.push((named, s)),
            None => groups.push(Group {
                heading,
                metrics: vec![(named, s)],
            }),
        }
    }
    groups
}

/// A metric's words: its statistic, then its label ("p99 loop latency").
pub fn words(named: &Named<'_>) -> String {
    match named.statistic {
        Some(stat) => format!("{stat} {}", named.metric.label),
        None => named.metric.label.to_owned(),
    }
}

/// A mean and its interval as a reader takes them: shares in %, seconds,
/// dollars; four significant digits.
pub fn interval(unit: Unit, mean: Option<f64>, ci95: Option<f64>) -> String {
    let Some(mean) = mean else {
        return "-".to_owned();
    };
    let (scale, before, after) = match unit {
        Unit::Share => (100.0, "", "%"),
        Unit::Seconds => (1.0, "", " s"),
        Unit::Usd => (1.0, "$", ""),
        _ => (1.0, "", ""),
    };
    with_interval(mean, ci95, |x| {
        format!("{before}{}{after}", verdict::number(x * scale))
    })
}

/// The table: the model, the seeds, the verdict, then each group's
/// metrics, a mean ± half-width a line.
pub fn render(model: &str, seeds: &[u64], stats: &[MetricStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{model}: {} replications (seeds {}), each figure the mean ± the half-width of its 95% interval",
        seeds.len(),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str(&verdict(stats).text());
    for group in groups(stats) {
        let _ = writeln!(out, "\n{}", group.heading);
        for (named, s) in &group.metrics {
            let _ = writeln!(
                out,
                "  {:<36}{}",
                words(named),
                interval(named.metric.unit, s.mean, s.ci95)
            );
        }
    }
    out
}

/// The verdict of replications of one run, from each metric's mean and
/// 95% half-width: the failed share, throughput, p99 and month's bill,
/// and whether the p99 is a survivors' one.
pub fn verdict(stats: &[MetricStats]) -> Verdict {
    let get = |name: &str| {
        stats
            .iter()
            .find(|s| s.name == name)
            .map_or((None, None), |s| (s.mean, s.ci95))
    };
    let pm = |(m, h): (Option<f64>, Option<f64>), show: fn(f64) -> String| {
        m.map(|m| with_interval(m, h, show))
    };
    let failed = get("loops_failed_share");
    let figures: Vec<String> = [
        pm(get("loops_per_min"), count).map(|x| format!("{x} loops/min")),
        match get("loop_latency_s.p99") {
            (Some(m), Some(h)) if h > 1e-9 * m.abs() => {
                Some(format!("p99 {}", seconds_interval(m, h)))
            }
            (m, _) => m.map(|m| format!("p99 {}", seconds(m))),
        },
        pm(get("cost_per_month_usd"), dollars)
            .filter(|_| get("cost_per_month_usd").0 > Some(0.0))
            .map(|x| format!("{x} a month")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let headline = match failed.0 {
        None => "No loop ended in the measured window of any replication.".to_owned(),
        Some(0.0) => format!("Every loop completed: {}.", figures.join(", ")),
        Some(_) => format!(
            "{} of loops fail; those that complete: {}.",
            pm(failed, percent).unwrap_or_default(),
            figures.join(", ")
        ),
    };
    let notes = match (failed.0, get("loop_latency_s.p99").0) {
        (Some(share), Some(p99)) => survivors_note(share, p99).into_iter().collect(),
        _ => Vec::new(),
    };
    Verdict { headline, notes }
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
        let table = render("m", &[1, 2, 3], &stats);
        assert!(table.contains("\nrun\n"), "{table}");
        assert!(table.contains("  loops completed  "), "{table}");
        assert!(table.contains("4 ± 4.968\n"), "{table}");
    }
}
