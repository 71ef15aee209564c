//! What `size` answers: the value or plan found, the evidence, and why
//! there is none when there is none.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::grid::{Axis, Point, Skipped};
use super::judge::{Interval, PlanResult, Probe, Verdict};
use super::search::{Goal, Search};
use super::slo::{Direction, Slo};
use super::table::short;

/// What `size` answers, as `--json` prints it and `--out` keeps it in
/// [`RESULT_FILE`]: the SLOs, the floor, and the search or the plans.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Answer {
    #[serde(flatten)]
    pub kind: AnswerKind,
    pub replications: u32,
    pub slos: Vec<Slo>,
    /// Each SLO on unlimited capacity.
    pub floor: Vec<Verdict>,
    /// Why there is no answer, if there is none.
    pub explanations: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnswerKind {
    /// `--over` or `--max-users`: the value found, `None` when none meets.
    Search {
        answer: Option<i64>,
        axis: String,
        goal: Goal,
        range: [i64; 2],
        probes: Vec<Probe>,
        warnings: Vec<String>,
    },
    /// `--plans`: the cheapest plan that meets, `None` when none does.
    Plans {
        answer: Option<String>,
        plans: Vec<PlanResult>,
    },
    /// Several `--over`, `--cheapest` or `--minimize`: each axis's value
    /// at the setting that meets every SLO with the least `minimize`.
    Grid {
        answer: Option<BTreeMap<String, i64>>,
        /// The answer's cost a month, mean and 95% half-width.
        cost_per_month_usd: Interval,
        minimize: String,
        axes: Vec<Axis>,
        /// The settings run, in the order they ran.
        points: Vec<Point>,
        /// Settings whose committed cost alone was above the answer's.
        skipped: Vec<Skipped>,
    },
}

impl Answer {
    /// The answer of a comparison of plans or settings, `kind`, judged on
    /// `slos` with the `floor`; when none meets (`found` false), why:
    /// `beyond`, more capacity than any alternative has, would.
    pub fn of_comparison(
        kind: AnswerKind,
        found: bool,
        replications: u32,
        (slos, floor): (&[Slo], &Probe),
        beyond: &str,
    ) -> Answer {
        Answer {
            kind,
            replications,
            slos: slos.to_vec(),
            floor: floor.verdicts.clone(),
            explanations: match found {
                true => Vec::new(),
                false => explain_plans(slos, floor, beyond),
            },
        }
    }

    /// The answer in one line, as `size` ends its table with it.
    pub fn sentence(&self) -> String {
        match &self.kind {
            AnswerKind::Search {
                answer,
                axis,
                goal,
                range: [lo, hi],
                ..
            } => {
                let which = match goal {
                    Goal::LeastMeeting => "least",
                    Goal::MostMeeting => "largest",
                };
                match answer {
                    Some(v) => format!(
                        "answer: {axis} = {v}, the {which} value in {lo}..{hi} that meets every SLO"
                    ),
                    None => format!("no value of {axis} in {lo}..{hi} meets every SLO"),
                }
            }
            AnswerKind::Plans { answer, plans } => {
                match plans.iter().find(|p| Some(&p.name) == answer.as_ref()) {
                    Some(p) => {
                        let usd = |x: Option<f64>| x.map_or("-".to_owned(), |c| format!("{c:.2}"));
                        format!(
                            "answer: {}, the cheapest plan a month that meets every SLO (${}/month, ${}/hour)",
                            p.name,
                            usd(p.cost_per_month_usd.0),
                            usd(p.cost_per_hour_usd.0)
                        )
                    }
                    None => "no plan meets every SLO".to_owned(),
                }
            }
            AnswerKind::Grid {
                answer,
                cost_per_month_usd,
                minimize,
                axes,
                points,
                ..
            } => {
                let Some(answer) = answer else {
                    return "no setting of the ranges meets every SLO".to_owned();
                };
                let setting: Vec<String> = axes
                    .iter()
                    .filter_map(|a| Some(format!("{} = {}", a.path, answer.get(&a.path)?)))
                    .collect();
                let usd = |x: Option<f64>| x.map_or("-".to_owned(), |c| format!("{c:.2}"));
                let month = usd(cost_per_month_usd.0);
                if minimize == "cost_per_month_usd" {
                    format!(
                        "answer: {}, the cheapest setting a month that meets every SLO (${month}/month)",
                        setting.join(", ")
                    )
                } else {
                    let value = points
                        .iter()
                        .find(|p| {
                            axes.iter()
                                .zip(&p.setting)
                                .all(|(a, v)| answer.get(&a.path) == Some(v))
                        })
                        .and_then(|p| p.objective.0)
                        .map_or("-".to_owned(), short);
                    format!(
                        "answer: {}, the setting with the least {minimize} ({value}) that meets every SLO (${month}/month)",
                        setting.join(", ")
                    )
                }
            }
        }
    }
}

/// Each SLO the floor (the model on unlimited capacity) misses, which no
/// capacity can meet, as a sentence.
fn beyond_the_floor(slos: &[Slo], floor: &Probe) -> Vec<String> {
    let side = |slo: &Slo| match slo.direction {
        Direction::AtMost => "below",
        Direction::AtLeast => "above",
    };
    slos.iter()
        .zip(&floor.verdicts)
        .filter(|(_, v)| !v.met)
        .map(|(slo, v)| {
            format!(
                "{} is {} this workload's own {} of {} with unlimited capacity: no capacity meets it",
                slo.text,
                side(slo),
                slo.metric,
                shown(v)
            )
        })
        .collect()
}

/// A verdict's metric as mean ± half-width.
fn shown(v: &Verdict) -> String {
    match (v.mean, v.ci95) {
        (Some(m), Some(h)) => format!("{} ± {}", short(m), short(h)),
        (Some(m), None) => short(m),
        _ => "undefined (no loop completed)".to_owned(),
    }
}

/// Why a search has no answer: the SLOs beyond the floor; else those the
/// end of the range nearest the answer (the top for the least value that
/// meets, the bottom for the largest) still misses.
pub fn explain(
    slos: &[Slo],
    floor: &Probe,
    search: &Search,
    axis: &str,
    (goal, lo, hi): (Goal, i64, i64),
) -> Vec<String> {
    if search.answer.is_some() {
        return Vec::new();
    }
    let unreachable = beyond_the_floor(slos, floor);
    if !unreachable.is_empty() {
        return unreachable;
    }
    let (end, advice) = match goal {
        Goal::LeastMeeting => (hi, "widen the range"),
        Goal::MostMeeting => (
            lo,
            "even the smallest population is too many for this capacity",
        ),
    };
    let probe = search.probes.iter().find(|p| p.value == end);
    slos.iter()
        .enumerate()
        .filter_map(|(i, slo)| {
            let v = probe?.verdicts.get(i)?;
            (!v.met).then(|| {
                format!(
                    "even {axis} = {end} misses {} ({}), which unlimited capacity meets: {advice}",
                    slo.text,
                    shown(v)
                )
            })
        })
        .collect()
}

/// Why no plan (or setting) meets every SLO: the SLOs beyond the floor,
/// or that the floor meets them all, so `beyond` (more capacity than any
/// alternative has) would.
fn explain_plans(slos: &[Slo], floor: &Probe, beyond: &str) -> Vec<String> {
    let unreachable = beyond_the_floor(slos, floor);
    if unreachable.is_empty() {
        vec![format!(
            "unlimited capacity meets every SLO: {beyond} would"
        )]
    } else {
        unreachable
    }
}
