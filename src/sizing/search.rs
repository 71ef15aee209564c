//! The search along one axis: galloping up from the bottom of the range,
//! then bisecting, as a state machine whose next probes can run ahead in
//! parallel without changing the probes it takes.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::judge::Probe;
use super::slo::Slo;

/// A finished search.
#[derive(Clone, Debug, Serialize)]
pub struct Search {
    /// The least value that meets every SLO; `None` when none in the range does.
    pub answer: Option<i64>,
    /// In the order they ran.
    pub probes: Vec<Probe>,
    /// Probes that contradict "more is never worse".
    pub warnings: Vec<String>,
}

/// What a search looks for along its axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The least value that meets every SLO (capacity: more is never worse).
    LeastMeeting,
    /// The largest value that still meets every SLO (users: more are never better).
    MostMeeting,
}

impl Goal {
    /// Whether a probe is past the boundary the search looks for.
    fn past(self, met: bool) -> bool {
        match self {
            Goal::LeastMeeting => met,
            Goal::MostMeeting => !met,
        }
    }
}

/// Where the search is: galloping and bisection as a state machine, so
/// that the probes it may want next can be run ahead of it, in parallel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Probing the bottom of the range.
    First,
    /// `before` is not past the boundary; the next probe is `lo + step`.
    Gallop { before: i64, step: i64 },
    /// `before` is not past the boundary and `after` is.
    Bisect { before: i64, after: i64 },
    /// The least value past the boundary, if the range has one.
    Done(Option<i64>),
}

impl Phase {
    /// The value this phase probes next; none when the search is done.
    fn wants(self, lo: i64, hi: i64) -> Option<i64> {
        match self {
            Phase::First => Some(lo),
            Phase::Gallop { step, .. } => Some(lo.saturating_add(step).min(hi)),
            Phase::Bisect { before, after } => Some(before + (after - before) / 2),
            Phase::Done(_) => None,
        }
    }

    /// The phase after the probe at [`Phase::wants`] came out `past` the
    /// boundary or not.
    fn then(self, lo: i64, hi: i64, past: bool) -> Phase {
        let Some(v) = self.wants(lo, hi) else {
            return self;
        };
        let next = match (self, past) {
            (Phase::First, true) => Phase::Done(Some(lo)),
            (Phase::First, false) => Phase::Gallop {
                before: lo,
                step: 1,
            },
            (Phase::Gallop { before, .. }, true) => Phase::Bisect { before, after: v },
            (Phase::Gallop { step, .. }, false) => Phase::Gallop {
                before: v,
                step: step.saturating_mul(2),
            },
            (Phase::Bisect { before, .. }, true) => Phase::Bisect { before, after: v },
            (Phase::Bisect { after, .. }, false) => Phase::Bisect { before: v, after },
            (Phase::Done(_), _) => self,
        };
        match next {
            Phase::Gallop { before, .. } if before >= hi => Phase::Done(None),
            Phase::Bisect { before, after } if after - before <= 1 => Phase::Done(Some(after)),
            other => other,
        }
    }
}

/// Up to `width` values the search may probe next from `phase`: the one
/// it wants, then those it would want after either outcome, breadth first
/// (following the outcomes already `known`).
fn ahead(
    phase: Phase,
    values: &[i64],
    goal: Goal,
    width: usize,
    known: &HashMap<i64, Probe>,
) -> Vec<i64> {
    let (lo, hi) = (0, values.len() as i64 - 1);
    let mut wanted = Vec::new();
    let mut frontier = VecDeque::from([phase]);
    while let Some(p) = frontier.pop_front() {
        if wanted.len() >= width {
            break;
        }
        let Some(v) = p.wants(lo, hi).map(|i| values[i as usize]) else {
            continue;
        };
        match known.get(&v) {
            Some(k) => frontier.push_back(p.then(lo, hi, goal.past(k.met))),
            None => {
                if !wanted.contains(&v) {
                    wanted.push(v);
                }
                frontier.extend([p.then(lo, hi, true), p.then(lo, hi, false)]);
            }
        }
    }
    wanted
}

/// Gallops up `values` (sorted, at least one) from the first (the first,
/// second, third, fifth, ..., the last) to the first probe
/// past the boundary (meeting every SLO for [`Goal::LeastMeeting`], missing
/// one for [`Goal::MostMeeting`]), then bisects down to the first value
/// past it: the answer, or for `MostMeeting` the value below it.
///
/// `probe` runs a batch of values at once. With `width` above 1 each batch
/// holds the value the search wants and those it may want after it (a
/// speculative k-ary search), so `width` probes run side by side; the
/// search still takes only the outcomes the one-at-a-time search would,
/// so its probes and answer are the same for every `width`.
pub fn search<E>(
    values: &[i64],
    goal: Goal,
    slos: &[Slo],
    width: usize,
    mut probe: impl FnMut(&[i64]) -> Result<Vec<Probe>, E>,
) -> Result<Search, E> {
    // The search runs over the values' indices; probes and the answer are values.
    let (lo, hi) = (0, values.len() as i64 - 1);
    let value = |i: i64| values[i as usize];
    let mut known: HashMap<i64, Probe> = HashMap::new();
    let mut probes: Vec<Probe> = Vec::new();
    let mut phase = Phase::First;
    while let Some(v) = phase.wants(lo, hi).map(value) {
        match known.get(&v) {
            Some(p) => {
                phase = phase.then(lo, hi, goal.past(p.met));
                probes.push(p.clone());
            }
            None => {
                let batch = ahead(phase, values, goal, width.max(1), &known);
                known.extend(probe(&batch)?.into_iter().map(|p| (p.value, p)));
                assert!(known.contains_key(&v), "a batch answers every value asked");
            }
        }
    }
    let Phase::Done(first_past) = phase else {
        unreachable!("the search ends done")
    };
    let answer = match (goal, first_past) {
        (Goal::LeastMeeting, first) => first,
        (Goal::MostMeeting, Some(first)) => (first > lo).then_some(first - 1),
        (Goal::MostMeeting, None) => Some(hi),
    }
    .map(value);
    let warnings = monotonicity_warnings(&probes, slos, goal);
    Ok(Search {
        answer,
        probes,
        warnings,
    })
}

/// Where an SLO's verdict goes the wrong way along the axis (met at one
/// probe and missed at a larger one when looking for the least value
/// that meets; the reverse when looking for the largest): the axis is not
/// monotone there, so the answer may not be the boundary. (A metric may
/// move the wrong way where another SLO fails anyway, as the latency of
/// the few loops that survive a starved capacity does; only a verdict that
/// flips is reported.)
fn monotonicity_warnings(probes: &[Probe], slos: &[Slo], goal: Goal) -> Vec<String> {
    let mut sorted: Vec<&Probe> = probes.iter().collect();
    sorted.sort_by_key(|p| p.value);
    let mut warnings = Vec::new();
    for (i, slo) in slos.iter().enumerate() {
        let met = |p: &Probe| p.verdicts.get(i).is_some_and(|v| v.met);
        let Some(low) = sorted.iter().find(|p| goal.past(met(p))) else {
            continue;
        };
        if let Some(high) = sorted
            .iter()
            .find(|p| p.value > low.value && !goal.past(met(p)))
        {
            let (at, not_at) = match goal {
                Goal::LeastMeeting => (low.value, high.value),
                Goal::MostMeeting => (high.value, low.value),
            };
            warnings.push(format!(
                "not monotone: {} is met at {at} but not at {not_at}; the answer may not be the boundary",
                slo.text
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizing::judge::Verdict;

    /// The whole numbers `lo..=hi`, as a range's axis takes them.
    fn range(lo: i64, hi: i64) -> Vec<i64> {
        (lo..=hi).collect()
    }

    fn names() -> Vec<String> {
        ["loop_latency_s.p99", "loops_per_min"]
            .map(str::to_owned)
            .to_vec()
    }

    /// A batch prober from a one-value prober.
    fn each<E>(
        mut f: impl FnMut(i64) -> Result<Probe, E>,
    ) -> impl FnMut(&[i64]) -> Result<Vec<Probe>, E> {
        move |values| values.iter().map(|&v| f(v)).collect()
    }

    fn threshold(at: i64) -> impl FnMut(&[i64]) -> Result<Vec<Probe>, ()> {
        each(move |value| {
            Ok(Probe {
                value,
                verdicts: Vec::new(),
                met: value >= at,
                cost_per_hour_usd: (None, None),
                cost_per_month_usd: (None, None),
                over_spend_cap: false,
            })
        })
    }

    /// Along a stepped axis (PTUs sold from 15 in steps of 5) the search
    /// probes only the values on it and answers the least that meets: a
    /// threshold anywhere in (110, 115] is answered 115, and nothing off
    /// the steps is ever probed.
    #[test]
    fn a_stepped_axis_is_searched_along_its_steps() {
        let values: Vec<i64> = (15..=200).step_by(5).collect();
        for at in 111..=115 {
            let s = search(&values, Goal::LeastMeeting, &[], 1, threshold(at)).unwrap();
            assert_eq!(s.answer, Some(115), "threshold {at}");
            assert!(s.probes.iter().all(|p| values.contains(&p.value)));
        }
        let most = search(&values, Goal::MostMeeting, &[], 1, |vs: &[i64]| {
            Ok::<_, ()>(
                vs.iter()
                    .map(|&value| Probe {
                        value,
                        verdicts: Vec::new(),
                        met: value <= 42,
                        cost_per_hour_usd: (None, None),
                        cost_per_month_usd: (None, None),
                        over_spend_cap: false,
                    })
                    .collect(),
            )
        })
        .unwrap();
        assert_eq!(most.answer, Some(40));
    }

    /// Galloping then bisection finds every threshold in 1..=300 exactly,
    /// in at most 2·log2(range) + 2 probes.
    #[test]
    fn the_search_finds_the_least_value_that_meets() {
        for at in 1..=300 {
            let s = search(&range(1, 300), Goal::LeastMeeting, &[], 1, threshold(at)).unwrap();
            assert_eq!(s.answer, Some(at), "threshold {at}");
            assert!(
                s.probes.len() <= 2 * 9 + 2,
                "{at}: {} probes",
                s.probes.len()
            );
            assert!(s.warnings.is_empty());
        }
        assert_eq!(
            search(&range(1, 300), Goal::LeastMeeting, &[], 1, threshold(301))
                .unwrap()
                .answer,
            None
        );
    }

    /// An SLO met at a probe and missed at a larger one is reported.
    #[test]
    fn a_verdict_that_flips_with_more_capacity_is_warned_about() {
        let slos = vec![
            Slo::parse("loop_latency_s.p99 <= 4", &names()).unwrap(),
            Slo::parse("loops_per_min >= 1", &names()).unwrap(),
        ];
        // p99 is 3 at 2 lanes, 8 at 3 and 4, 3 from 5; throughput 0 below 3.
        // The probes: 1, 2, 3 (miss), 5 (meets), then 4 (miss).
        let metrics = |v: i64| {
            let p99 = match v {
                1 => 10.0,
                3 | 4 => 8.0,
                _ => 3.0,
            };
            [p99, if v < 3 { 0.0 } else { 5.0 }]
        };
        let s = search(
            &range(1, 64),
            Goal::LeastMeeting,
            &slos,
            1,
            each(|value| {
                let verdicts: Vec<Verdict> = slos
                    .iter()
                    .zip(metrics(value))
                    .map(|(slo, m)| Verdict::of(slo, ((Some(m), Some(0.5)), None)))
                    .collect();
                Ok::<_, ()>(Probe {
                    value,
                    met: verdicts.iter().all(|v| v.met),
                    verdicts,
                    cost_per_hour_usd: (None, None),
                    cost_per_month_usd: (None, None),
                    over_spend_cap: false,
                })
            }),
        )
        .unwrap();
        assert_eq!(s.answer, Some(5));
        assert_eq!(
            s.warnings,
            [
                "not monotone: loop_latency_s.p99 <= 4 is met at 2 but not at 3; the answer may not be the boundary"
            ]
        );
    }

    /// Looking for the largest value that meets finds every threshold too,
    /// and none when even the bottom misses.
    #[test]
    fn the_search_finds_the_largest_value_that_meets() {
        let below = |at: i64| {
            each(move |value| {
                Ok::<_, ()>(Probe {
                    value,
                    verdicts: Vec::new(),
                    met: value <= at,
                    cost_per_hour_usd: (None, None),
                    cost_per_month_usd: (None, None),
                    over_spend_cap: false,
                })
            })
        };
        for at in 1..=300 {
            let s = search(&range(1, 300), Goal::MostMeeting, &[], 1, below(at)).unwrap();
            assert_eq!(s.answer, Some(at), "threshold {at}");
        }
        assert_eq!(
            search(&range(1, 300), Goal::MostMeeting, &[], 1, below(0))
                .unwrap()
                .answer,
            None
        );
    }

    /// Probing ahead in batches takes the same probes to the same answer
    /// in fewer rounds: 4 at a time explores two levels of bisection a round.
    #[test]
    fn probes_run_ahead_in_batches_change_nothing_but_the_rounds() {
        for goal in [Goal::LeastMeeting, Goal::MostMeeting] {
            for at in [1, 2, 7, 100, 255, 300, 301] {
                let met = move |v: i64| match goal {
                    Goal::LeastMeeting => v >= at,
                    Goal::MostMeeting => v < at,
                };
                let run = |width: usize| {
                    let mut rounds = 0;
                    let s = search(&range(1, 300), goal, &[], width, |values: &[i64]| {
                        rounds += 1;
                        assert!(values.len() <= width.max(1));
                        Ok::<_, ()>(
                            values
                                .iter()
                                .map(|&value| Probe {
                                    value,
                                    verdicts: Vec::new(),
                                    met: met(value),
                                    cost_per_hour_usd: (None, None),
                                    cost_per_month_usd: (None, None),
                                    over_spend_cap: false,
                                })
                                .collect(),
                        )
                    })
                    .unwrap();
                    let values: Vec<i64> = s.probes.iter().map(|p| p.value).collect();
                    (s.answer, values, rounds)
                };
                let (answer, values, one_at_a_time) = run(1);
                assert_eq!(one_at_a_time, values.len(), "one probe a round");
                for width in [2, 3, 4, 7, 16] {
                    let (a, v, rounds) = run(width);
                    assert_eq!((a, &v), (answer, &values), "{goal:?} {at} width {width}");
                    assert!(rounds <= one_at_a_time, "{rounds} > {one_at_a_time}");
                }
                let (_, _, four) = run(4);
                if values.len() >= 8 {
                    assert!(
                        2 * four <= values.len() + 2,
                        "{at}: {four} rounds of 4 for {} probes",
                        values.len()
                    );
                }
            }
        }
    }
}
