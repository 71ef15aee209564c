//! What `size` answers: the value or plan found, the evidence, and why
//! there is none when there is none.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::grid::{Axis, Point, Skipped};
use super::judge::{Interval, PlanResult, Probe, Verdict};
use super::search::{Goal, Search};
use super::slo::{Direction, Slo};
use super::table::{short, verdict_value};
use crate::report::verdict::{SURVIVORS, dollars, percent, with_interval};

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
    /// Other plans or settings that meet every SLO at a cost a month whose
    /// 95% interval overlaps the answer's: as cheap as far as the
    /// replications can tell (of a grid, among the settings run: one whose
    /// commitment alone is above the answer's mean cost was not).
    #[serde(default)]
    pub as_cheap: Vec<String>,
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
        let as_cheap = as_cheap(&kind);
        Answer {
            kind,
            replications,
            slos: slos.to_vec(),
            floor: floor.verdicts.clone(),
            explanations: match found {
                true => Vec::new(),
                false => explain_plans(slos, floor, beyond),
            },
            as_cheap,
        }
    }

    /// The answer in one sentence, first in what `size` prints and on its
    /// page: what to buy, what it costs an hour and a month, and the SLOs
    /// it meets; or that nothing in the range does.
    pub fn sentence(&self) -> String {
        let slos = self.slos_text();
        match &self.kind {
            AnswerKind::Search {
                answer,
                axis,
                goal,
                range: [lo, hi],
                probes,
                ..
            } => {
                let which = match goal {
                    Goal::LeastMeeting => "least",
                    Goal::MostMeeting => "largest",
                };
                let Some(v) = answer else {
                    return format!("Nothing in {axis} = {lo}..{hi} meets {slos}.");
                };
                let costs = probes
                    .iter()
                    .find(|p| p.value == *v)
                    .map_or(String::new(), |p| {
                        costs(p.cost_per_hour_usd, p.cost_per_month_usd)
                    });
                format!(
                    "{} {axis} = {v}{costs}: the {which} value in {lo}..{hi} that meets {slos}.",
                    match goal {
                        Goal::LeastMeeting => "Buy",
                        Goal::MostMeeting => "Serve up to",
                    }
                )
            }
            AnswerKind::Plans { answer, plans } => {
                match plans.iter().find(|p| Some(&p.name) == answer.as_ref()) {
                    Some(p) => format!(
                        "Buy {}{}: the cheapest plan a month that meets {slos}.",
                        p.name,
                        costs(p.cost_per_hour_usd, p.cost_per_month_usd)
                    ),
                    None => format!("No plan meets {slos}."),
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
                    return format!("No setting of the ranges meets {slos}.");
                };
                let setting: Vec<String> = axes
                    .iter()
                    .filter_map(|a| Some(format!("{} = {}", a.path, answer.get(&a.path)?)))
                    .collect();
                let point = answer_point(answer, axes, points).map(|i| &points[i]);
                let costs = point.map_or_else(
                    || costs((None, None), *cost_per_month_usd),
                    |p| costs(p.cost_per_hour_usd, p.cost_per_month_usd),
                );
                if minimize == "cost_per_month_usd" {
                    format!(
                        "Buy {}{costs}: the cheapest setting a month that meets {slos}.",
                        setting.join(", ")
                    )
                } else {
                    let value = point
                        .and_then(|p| p.objective.0)
                        .map_or("-".to_owned(), short);
                    format!(
                        "Buy {}{costs}: the setting with the least {minimize} ({value}) that meets {slos}.",
                        setting.join(", ")
                    )
                }
            }
        }
    }

    /// What the planner reads under the sentence: why nothing meets, or
    /// for an answer whose latency SLO more than 1% of loops escape by
    /// failing (and no SLO bounds their share), that it does.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.explanations.clone();
        let verdicts = self.answers_verdicts().unwrap_or_default();
        for (slo, v) in self.slos.iter().zip(verdicts) {
            let (Some(share), Some((Some(failed), half))) = (slo.failed_share(), v.failed_share)
            else {
                continue;
            };
            if failed > SURVIVORS && !self.slos.iter().any(|s| s.metric == share) {
                notes.push(format!(
                    "{} of loops fail at this answer: {} counts only those that complete. Bound them too, e.g. --slo '{share} <= 1%'.",
                    with_interval(failed, half, percent),
                    slo.text
                ));
            }
        }
        let (over, all, what) = self.over_spend_cap();
        if over > 0 {
            notes.push(format!(
                "{over} of the {all} {what} run pass their tier's monthly spend cap in a replication: the provider stops serving past it, so they do not meet the SLOs, whatever their figures"
            ));
        }
        notes
    }

    /// How many of the probes, plans or settings run passed their tier's
    /// spend cap, of how many, and what they are called.
    fn over_spend_cap(&self) -> (usize, usize, &'static str) {
        let count = |over: Vec<bool>| (over.iter().filter(|&&o| o).count(), over.len());
        let ((over, all), what) = match &self.kind {
            AnswerKind::Search { probes, .. } => (
                count(probes.iter().map(|p| p.over_spend_cap).collect()),
                "values",
            ),
            AnswerKind::Plans { plans, .. } => (
                count(plans.iter().map(|p| p.over_spend_cap).collect()),
                "plans",
            ),
            AnswerKind::Grid { points, .. } => (
                count(points.iter().map(|p| p.over_spend_cap).collect()),
                "settings",
            ),
        };
        (over, all, what)
    }

    /// The verdicts of the answer's probe, plan or setting, if there is one.
    fn answers_verdicts(&self) -> Option<&[Verdict]> {
        match &self.kind {
            AnswerKind::Search { answer, probes, .. } => probes
                .iter()
                .find(|p| Some(p.value) == *answer)
                .map(|p| p.verdicts.as_slice()),
            AnswerKind::Plans { answer, plans } => plans
                .iter()
                .find(|p| Some(&p.name) == answer.as_ref())
                .map(|p| p.verdicts.as_slice()),
            AnswerKind::Grid {
                answer,
                axes,
                points,
                ..
            } => {
                answer_point(answer.as_ref()?, axes, points).map(|i| points[i].verdicts.as_slice())
            }
        }
    }

    /// The SLOs in words: `p99 <= 25m and failed <= 1%`, or `every SLO`.
    fn slos_text(&self) -> String {
        match self.slos.as_slice() {
            [] => "every SLO".to_owned(),
            slos => slos
                .iter()
                .map(|s| s.text.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }
}

/// ` ($3.29/hour, $2,400/month)`: the means of what a plan costs, those known.
fn costs(hour: Interval, month: Interval) -> String {
    let known: Vec<String> = [(hour.0, "hour"), (month.0, "month")]
        .into_iter()
        .filter_map(|(x, per)| Some(format!("{}/{per}", dollars(x?))))
        .collect();
    match known.as_slice() {
        [] => String::new(),
        _ => format!(" ({})", known.join(", ")),
    }
}

/// Which of a grid search's `points` its `answer` (axis path → value) is.
fn answer_point(answer: &BTreeMap<String, i64>, axes: &[Axis], points: &[Point]) -> Option<usize> {
    points.iter().position(|p| {
        axes.iter()
            .zip(&p.setting)
            .all(|(a, v)| answer.get(&a.path) == Some(v))
    })
}

/// The alternatives of a comparison that meet every SLO at a cost a month
/// whose 95% interval overlaps the answer's, each as "name: $cost ± half".
fn as_cheap(kind: &AnswerKind) -> Vec<String> {
    let (answer, costs): (Option<usize>, Vec<(String, bool, Interval)>) = match kind {
        AnswerKind::Plans { answer, plans } => (
            plans.iter().position(|p| Some(&p.name) == answer.as_ref()),
            plans
                .iter()
                .map(|p| (p.name.clone(), p.met, p.cost_per_month_usd))
                .collect(),
        ),
        AnswerKind::Grid {
            answer,
            axes,
            points,
            ..
        } => (
            answer
                .as_ref()
                .and_then(|answer| answer_point(answer, axes, points)),
            points
                .iter()
                .map(|p| {
                    let setting: Vec<String> = axes
                        .iter()
                        .zip(&p.setting)
                        .map(|(a, v)| format!("{} = {v}", a.path))
                        .collect();
                    (setting.join(", "), p.met, p.cost_per_month_usd)
                })
                .collect(),
        ),
        AnswerKind::Search { .. } => return Vec::new(),
    };
    let Some((_, _, (Some(best), best_half))) = answer.map(|i| &costs[i]) else {
        return Vec::new();
    };
    costs
        .iter()
        .enumerate()
        .filter(|&(i, (_, met, _))| *met && Some(i) != answer)
        .filter_map(|(_, (name, _, (mean, half)))| {
            let (mean, half) = (mean.as_ref()?, half.unwrap_or(0.0));
            ((mean - best).abs() <= half + best_half.unwrap_or(0.0))
                .then(|| format!("{name}: ${} ± {} a month", short(*mean), short(half)))
        })
        .collect()
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
    verdict_value(v).unwrap_or_else(|| "undefined (no loop completed)".to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str, met: bool, cost: f64, half: f64) -> PlanResult {
        PlanResult {
            name: name.to_owned(),
            verdicts: Vec::new(),
            met,
            cost_per_hour_usd: (None, None),
            cost_per_month_usd: (Some(cost), Some(half)),
            cost_per_loop_usd: (None, None),
            loops_per_dollar: (None, None),
            over_spend_cap: false,
        }
    }

    /// A plan that meets, whose interval overlaps the answer's, is as
    /// cheap as far as the replications tell (8 apart, half-widths 5 + 4);
    /// one further off (20 apart, 5 + 5) or one that misses is not.
    #[test]
    fn plans_whose_cost_interval_overlaps_the_answers_are_as_cheap() {
        let kind = AnswerKind::Plans {
            answer: Some("a".to_owned()),
            plans: vec![
                plan("a", true, 100.0, 5.0),
                plan("b", true, 108.0, 4.0),
                plan("c", true, 120.0, 5.0),
                plan("d", false, 101.0, 1.0),
            ],
        };
        assert_eq!(as_cheap(&kind), ["b: $108 ± 4 a month"]);
        let apart = AnswerKind::Plans {
            answer: Some("a".to_owned()),
            plans: vec![plan("a", true, 100.0, 5.0), plan("b", true, 109.5, 4.0)],
        };
        assert!(as_cheap(&apart).is_empty());
    }

    /// An answer whose latency SLO more than 1% of loops escape by failing
    /// says so under its sentence (1.1% fail: a note; 1%: none), unless an
    /// SLO bounds the failed share; a plan that is not the answer is not read.
    #[test]
    fn an_answer_met_by_a_survivors_latency_says_so() {
        let names = ["loop_latency_s.p99", "loops_failed_share"].map(str::to_owned);
        let p99 = Slo::parse("loop_latency_s.p99 <= 6", &names).unwrap();
        let failed = Slo::parse("loops_failed_share <= 5%", &names).unwrap();
        let answer = |slos: Vec<Slo>, share: f64| {
            let measured = ((Some(4.0), Some(0.1)), Some((Some(share), Some(0.002))));
            let mut a = plan("a", true, 100.0, 5.0);
            a.verdicts = slos.iter().map(|slo| Verdict::of(slo, measured)).collect();
            let mut b = a.clone();
            b.name = "b".to_owned();
            b.verdicts[0].failed_share = Some((Some(0.9), None));
            Answer {
                kind: AnswerKind::Plans {
                    answer: Some("a".to_owned()),
                    plans: vec![b, a],
                },
                replications: 2,
                slos,
                floor: Vec::new(),
                explanations: Vec::new(),
                as_cheap: Vec::new(),
            }
        };
        assert_eq!(
            answer(vec![p99.clone()], 0.011).notes(),
            [
                "1.1% ± 0.2% of loops fail at this answer: loop_latency_s.p99 <= 6 counts only those that complete. Bound them too, e.g. --slo 'loops_failed_share <= 1%'."
            ]
        );
        assert!(answer(vec![p99.clone()], 0.01).notes().is_empty());
        assert!(answer(vec![p99, failed], 0.03).notes().is_empty());
    }
}
