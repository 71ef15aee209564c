//! The cheapest setting of several capacity axes (`size --over A --over B
//! --cheapest`, or `--minimize METRIC`): the setting of every axis that
//! meets every SLO at the least cost a month (or least metric).
//!
//! Cost is not monotone along an axis (more reserved lanes cost more but
//! spill less to a priced tier), so the search assumes nothing about it:
//! it is exact over the grid. What makes it cheaper than trying every
//! setting is a bound no run is needed for: a setting's committed cost
//! (lanes and replicas billed all month, flat fees) is known from the
//! model alone and use only adds to it, so once a setting meets every SLO
//! at a month's cost C, no setting whose committed cost alone is above C
//! can be cheaper. Settings run in order of committed cost, a fixed
//! number at a time (so the settings run, like the answer, are the same
//! on any number of threads), and those the bound rules out are listed,
//! not run.

use serde::{Deserialize, Serialize};

use super::judge::{Interval, Probe, Verdict};
pub use crate::config::axis::{Axis, parse_axis, settings};

/// How many settings run side by side: fixed, so that which settings run
/// does not depend on the thread count.
pub const BATCH: usize = 4;

/// What the search minimises among the settings that meet every SLO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Objective {
    /// `cost_per_month_usd`, with the committed-cost bound.
    Cost,
    /// Any other metric's mean; every setting runs.
    Metric(String),
}

impl Objective {
    pub fn metric(&self) -> &str {
        match self {
            Objective::Cost => "cost_per_month_usd",
            Objective::Metric(m) => m,
        }
    }
}

/// One setting of the axes, judged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Point {
    /// Each axis's value, in axis order.
    pub setting: Vec<i64>,
    /// What it costs a month whatever the use.
    pub committed_per_month_usd: f64,
    pub verdicts: Vec<Verdict>,
    pub met: bool,
    pub cost_per_hour_usd: Interval,
    pub cost_per_month_usd: Interval,
    /// The objective's mean and 95% half-width.
    pub objective: Interval,
    /// Its month passed a tier's spend cap in a replication: not met.
    #[serde(default)]
    pub over_spend_cap: bool,
}

impl Point {
    /// The setting judged as `probe`, its objective `objective`.
    pub fn of(setting: Vec<i64>, committed: f64, probe: Probe, objective: Interval) -> Point {
        Point {
            setting,
            committed_per_month_usd: committed,
            verdicts: probe.verdicts,
            met: probe.met,
            cost_per_hour_usd: probe.cost_per_hour_usd,
            cost_per_month_usd: probe.cost_per_month_usd,
            objective,
            over_spend_cap: probe.over_spend_cap,
        }
    }

    /// Its objective's mean, undefined ranking last.
    fn rank(&self) -> f64 {
        self.objective.0.unwrap_or(f64::INFINITY)
    }
}

/// A setting not run: its committed cost alone was above the answer's cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Skipped {
    pub setting: Vec<i64>,
    pub committed_per_month_usd: f64,
}

/// A finished grid search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridSearch {
    /// The settings run, in the order they ran.
    pub points: Vec<Point>,
    /// The answer: an index into `points`.
    pub answer: Option<usize>,
    pub skipped: Vec<Skipped>,
}

/// The setting that meets every SLO with the least `objective` (the first
/// in run order among equals) among `settings`, each with its committed
/// cost a month; `run` judges a batch of settings.
pub fn cheapest<E>(
    settings: Vec<(Vec<i64>, f64)>,
    objective: &Objective,
    mut run: impl FnMut(&[(Vec<i64>, f64)]) -> Result<Vec<Point>, E>,
) -> Result<GridSearch, E> {
    let mut order = settings;
    if *objective == Objective::Cost {
        // Stable: among equal commitments, the grid's order.
        order.sort_by(|a, b| a.1.total_cmp(&b.1));
    }
    let mut points: Vec<Point> = Vec::new();
    let mut answer: Option<usize> = None;
    let mut skipped = Vec::new();
    let mut queue = order.into_iter().peekable();
    while queue.peek().is_some() {
        let best = answer.map(|i| points[i].rank());
        let bound =
            |committed: f64| *objective == Objective::Cost && best.is_some_and(|b| committed > b);
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            let Some((setting, committed)) = queue.next() else {
                break;
            };
            if bound(committed) {
                skipped.push(Skipped {
                    setting,
                    committed_per_month_usd: committed,
                });
            } else {
                batch.push((setting, committed));
            }
        }
        for point in run(&batch)? {
            points.push(point);
            let new = points.len() - 1;
            let better = |i: usize| points[new].rank() < points[i].rank();
            if points[new].met && answer.is_none_or(better) {
                answer = Some(new);
            }
        }
    }
    Ok(GridSearch {
        points,
        answer,
        skipped,
    })
}

#[cfg(test)]
mod tests;
