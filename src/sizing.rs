//! `loopcap size`: the least value of one capacity axis that meets every
//! service-level objective, with confidence. An SLO is a bound on a
//! summary metric; it is met only when the whole 95% interval of the
//! metric's mean over the replications is on the right side of the bound.
//! The search gallops up from the bottom of the range (1, 2, 4, ... above
//! it) until a probe meets every SLO, then bisects between that probe and
//! the last that did not, assuming more capacity is never worse; the
//! probes it makes check that assumption. Every probe runs the same seeds
//! (common random numbers), its replications in parallel.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::quantity::parse_duration;
use crate::csv_row::significant;
use crate::model::summary::Summary;
use crate::report::replicated::{MetricStats, stats};

pub mod command;
pub mod journal;

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

/// What `size --out` writes beside sizing.csv: the answer and its
/// evidence, as `--json` prints them.
pub const RESULT_FILE: &str = "result.json";

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
}

impl Answer {
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
                    Some(p) => format!(
                        "answer: {}, the cheapest plan that meets every SLO (${}/hour)",
                        p.name,
                        p.cost_per_hour_usd
                            .0
                            .map_or("-".to_owned(), |c| format!("{c:.2}"))
                    ),
                    None => "no plan meets every SLO".to_owned(),
                }
            }
        }
    }
}

/// A metric's mean and 95% half-width over the replications, either
/// undefined where no replication defines it.
pub type Interval = (Option<f64>, Option<f64>);

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
    pub fn parse(text: &str, metrics: &[String]) -> Result<Slo, String> {
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
                format!("--slo '{text}': expected METRIC <= VALUE or METRIC >= VALUE")
            })?;
        let metric = text[..at].trim().to_owned();
        let value = text[at + width..].trim();
        if !metrics.contains(&metric) {
            return Err(format!(
                "--slo '{text}': unknown metric `{metric}`; the model's metrics are: {}",
                metrics.join(", ")
            ));
        }
        let bound = parse_bound(&metric, value).ok_or_else(|| {
            format!(
                "--slo '{text}': `{value}` is not a number{}",
                unit_hint(&metric)
            )
        })?;
        Ok(Slo {
            metric,
            direction,
            bound,
            text: text.trim().to_owned(),
        })
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
}

/// Which way a metric is better, when it has one: lower for latencies,
/// waits, failures, refusals, retries and cost; higher for throughput,
/// loops per dollar and recovery goodput. Counts of loops started or
/// tokens, utilisation and the like have none.
pub fn better(metric: &str) -> Option<Direction> {
    // The metric's name without its statistic (p99, q50, mean, max).
    let statistic = |p: &str| {
        matches!(p, "mean" | "max")
            || (p.len() > 1
                && (p.starts_with('p') || p.starts_with('q'))
                && p[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    let last = metric.rsplit('.').find(|p| !statistic(p))?;
    let lower = last.ends_with("_s")
        || last.starts_with("loops_failed")
        || last.ends_with("_usd")
        || matches!(
            last,
            "retries"
                | "retry_rate"
                | "amplification"
                | "rate_limited"
                | "overloaded"
                | "timeouts"
                | "expired"
                | "queue_rejected"
                | "too_large"
                | "unavailable"
                | "server_errors"
                | "rejected_locally"
                | "retries_denied"
                | "waited_share"
                | "cold_starts"
        );
    let higher = matches!(
        last,
        "loops_per_min"
            | "loops_completed"
            | "loops_per_dollar"
            | "goodput_during_per_min"
            | "goodput_after_per_min"
    );
    match (lower, higher) {
        (true, _) => Some(Direction::AtMost),
        (_, true) => Some(Direction::AtLeast),
        _ => None,
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
    metric.ends_with("_s") || metric.contains("_s.")
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

/// One SLO's metric at a probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub metric: String,
    pub mean: Option<f64>,
    pub ci95: Option<f64>,
    pub met: bool,
}

/// What every SLO's metric was over one probe's replications.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    pub value: i64,
    pub verdicts: Vec<Verdict>,
    /// Every SLO met.
    pub met: bool,
    /// What the capacity costs an hour of the measured window: mean and
    /// 95% half-width over the replications.
    pub cost_per_hour_usd: Interval,
}

/// Judges `summaries` (one per replication) against `slos`.
pub fn judge(value: i64, summaries: &[Summary], slos: &[Slo]) -> Probe {
    judged(value, &stats(summaries), summaries, slos)
}

/// A metric's mean and 95% half-width among `all`.
fn metric(all: &[MetricStats], name: &str) -> Interval {
    all.iter()
        .find(|m| m.name == name)
        .map_or((None, None), |m| (m.mean, m.ci95))
}

/// [`judge`], given the statistics `all` of `summaries`.
fn judged(value: i64, all: &[MetricStats], summaries: &[Summary], slos: &[Slo]) -> Probe {
    let means: Vec<Interval> = slos.iter().map(|slo| metric(all, &slo.metric)).collect();
    // Every replication measures the same window.
    let hours = summaries
        .first()
        .map_or(0.0, |s| (s.duration_s - s.warmup_s) / 3600.0);
    let per_hour = |x: Option<f64>| x.filter(|_| hours > 0.0).map(|x| x / hours);
    let (cost, cost_ci) = metric(all, "cost_usd");
    Probe::of(value, slos, &means, (per_hour(cost), per_hour(cost_ci)))
}

impl Probe {
    /// The floor, the model on unlimited capacity, judged: an SLO whose
    /// metric unlimited capacity leaves undefined although loops completed
    /// (the utilization of lanes it does not have) holds no capacity back,
    /// and is judged at each probe instead.
    pub fn floor(summaries: &[Summary], slos: &[Slo]) -> Probe {
        let mut floor = judge(i64::MIN, summaries, slos);
        if summaries.iter().any(|s| s.loops_completed > 0) {
            for v in floor.verdicts.iter_mut().filter(|v| v.mean.is_none()) {
                v.met = true;
            }
            floor.met = floor.verdicts.iter().all(|v| v.met);
        }
        floor
    }

    /// The probe at `value` whose SLO metrics had these means and
    /// half-widths, at this cost an hour.
    pub fn of(value: i64, slos: &[Slo], means: &[Interval], cost_per_hour_usd: Interval) -> Probe {
        let verdicts: Vec<Verdict> = slos
            .iter()
            .zip(means)
            .map(|(slo, &(mean, ci95))| Verdict {
                metric: slo.metric.clone(),
                mean,
                ci95,
                met: slo.met_by(mean, ci95),
            })
            .collect();
        Probe {
            value,
            met: verdicts.iter().all(|v| v.met),
            verdicts,
            cost_per_hour_usd,
        }
    }
}

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
    (lo, hi): (i64, i64),
    goal: Goal,
    width: usize,
    known: &HashMap<i64, Probe>,
) -> Vec<i64> {
    let mut wanted = Vec::new();
    let mut frontier = VecDeque::from([phase]);
    while let Some(p) = frontier.pop_front() {
        if wanted.len() >= width {
            break;
        }
        let Some(v) = p.wants(lo, hi) else {
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

/// Gallops up from `lo` (lo, lo+1, lo+2, lo+4, ..., hi) to the first probe
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
    (lo, hi): (i64, i64),
    goal: Goal,
    slos: &[Slo],
    width: usize,
    mut probe: impl FnMut(&[i64]) -> Result<Vec<Probe>, E>,
) -> Result<Search, E> {
    let mut known: HashMap<i64, Probe> = HashMap::new();
    let mut probes: Vec<Probe> = Vec::new();
    let mut phase = Phase::First;
    while let Some(v) = phase.wants(lo, hi) {
        match known.get(&v) {
            Some(p) => {
                phase = phase.then(lo, hi, goal.past(p.met));
                probes.push(p.clone());
            }
            None => {
                let batch = ahead(phase, (lo, hi), goal, width.max(1), &known);
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
    };
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

/// Each SLO the floor (the model on unlimited capacity) misses, which no
/// capacity can meet, as a sentence.
pub fn beyond_the_floor(slos: &[Slo], floor: &Probe) -> Vec<String> {
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

/// Why no plan meets every SLO: the SLOs beyond the floor, or that the
/// floor meets them all, so more capacity than any plan has would.
pub fn explain_plans(slos: &[Slo], floor: &Probe) -> Vec<String> {
    let unreachable = beyond_the_floor(slos, floor);
    if unreachable.is_empty() {
        vec![
            "unlimited capacity meets every SLO: a plan with more capacity than these would"
                .to_owned(),
        ]
    } else {
        unreachable
    }
}

/// One named alternative judged against the SLOs, with what it costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanResult {
    pub name: String,
    pub verdicts: Vec<Verdict>,
    pub met: bool,
    /// Mean and 95% half-width over the replications.
    pub cost_per_hour_usd: Interval,
    pub cost_per_loop_usd: Interval,
    pub loops_per_dollar: Interval,
}

/// Judges one plan's `summaries` (one per replication) against `slos`.
pub fn judge_plan(name: &str, summaries: &[Summary], slos: &[Slo]) -> PlanResult {
    let all = stats(summaries);
    let probe = judged(0, &all, summaries, slos);
    PlanResult {
        name: name.to_owned(),
        verdicts: probe.verdicts,
        met: probe.met,
        cost_per_hour_usd: probe.cost_per_hour_usd,
        cost_per_loop_usd: metric(&all, "cost_per_loop_usd"),
        loops_per_dollar: metric(&all, "loops_per_dollar"),
    }
}

/// The plans as sizing.csv: name, verdict, each SLO metric and the costs,
/// each with its 95% half-width.
pub fn plans_csv(slos: &[Slo], plans: &[PlanResult]) -> String {
    let cell = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
    let mut out = String::from("plan,met");
    for name in slos.iter().map(|s| s.metric.as_str()).chain([
        "cost_per_hour_usd",
        "cost_per_loop_usd",
        "loops_per_dollar",
    ]) {
        out.push_str(&format!(",{name},{name}.ci95"));
    }
    out.push('\n');
    for p in plans {
        out.push_str(&format!("\"{}\",{}", p.name.replace('"', "\"\""), p.met));
        let costs = [p.cost_per_hour_usd, p.cost_per_loop_usd, p.loops_per_dollar];
        for (mean, half) in p.verdicts.iter().map(|v| (v.mean, v.ci95)).chain(costs) {
            out.push_str(&format!(",{},{}", cell(mean), cell(half)));
        }
        out.push('\n');
    }
    out
}

/// The plan that meets every SLO at the least cost per hour.
pub fn cheapest(plans: &[PlanResult]) -> Option<&PlanResult> {
    plans.iter().filter(|p| p.met).min_by(|a, b| {
        let cost = |p: &PlanResult| p.cost_per_hour_usd.0.unwrap_or(f64::INFINITY);
        cost(a).total_cmp(&cost(b))
    })
}

/// A cost (or a plan's metric) as mean ± half-width; a half-width of
/// rounding noise (a fixed price) shows as none.
fn priced_cell((m, h): Interval) -> String {
    match (m, h) {
        (Some(m), Some(h)) if h > 1e-9 * m.abs() => format!("{} ± {}", short(m), short(h)),
        (Some(m), _) => short(m),
        _ => "-".to_owned(),
    }
}

/// The plans as a table: cost, each SLO's metric, the verdict.
pub fn render_plans(
    slos: &[Slo],
    floor: &Probe,
    plans: &[PlanResult],
    replications: u32,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plans: each {replications} replications, SLOs met only with their whole 95% interval"
    );
    let _ = write!(
        out,
        "\n{:<20}{:>20}{:>22}{:>20}",
        "plan", "$/hour", "$/loop", "loops/$"
    );
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    let verdict = |v: &Verdict| {
        format!(
            "{}{}",
            priced_cell((v.mean, v.ci95)),
            if v.met { "" } else { " ✗" }
        )
    };
    let _ = write!(
        out,
        "{:<20}{:>20}{:>22}{:>20}",
        "unlimited capacity", "", "", ""
    );
    for v in &floor.verdicts {
        let _ = write!(out, "  {:>26}", verdict(v));
    }
    let _ = writeln!(out);
    for p in plans {
        let _ = write!(
            out,
            "{:<20}{:>20}{:>22}{:>20}",
            p.name,
            priced_cell(p.cost_per_hour_usd),
            priced_cell(p.cost_per_loop_usd),
            priced_cell(p.loops_per_dollar)
        );
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", verdict(v));
        }
        let _ = writeln!(out, "  {}", if p.met { "meets" } else { "misses" });
    }
    out
}

/// The search as a table: the SLOs, the floor, each probe, the answer.
pub fn render(
    axis: &str,
    slos: &[Slo],
    floor: Option<&Probe>,
    search: &Search,
    replications: u32,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sizing {axis}: each probe {replications} replications, SLOs met only with their whole 95% interval"
    );
    let cell = |v: &Verdict| match (v.mean, v.ci95) {
        (Some(m), Some(h)) => format!(
            "{} ± {}{}",
            short(m),
            short(h),
            if v.met { "" } else { " ✗" }
        ),
        (Some(m), None) => format!("{}{}", short(m), if v.met { "" } else { " ✗" }),
        _ => format!("-{}", if v.met { "" } else { " ✗" }),
    };
    let _ = write!(out, "\n{:>14}{:>20}", "value", "$/hour");
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    // The floor's capacity is not one anyone sells: it has no cost.
    let mut row = |label: String, p: &Probe, priced: bool| {
        let price = if priced {
            priced_cell(p.cost_per_hour_usd)
        } else {
            "-".to_owned()
        };
        let _ = write!(out, "{label:>14}{price:>20}");
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", cell(v));
        }
        let _ = writeln!(out, "  {}", if p.met { "meets" } else { "misses" });
    };
    if let Some(floor) = floor {
        row("unlimited".to_owned(), floor, false);
    }
    let mut sorted: Vec<&Probe> = search.probes.iter().collect();
    sorted.sort_by_key(|p| p.value);
    for p in sorted {
        row(p.value.to_string(), p, true);
    }
    out
}

/// Four significant digits, without trailing zeros.
fn short(x: f64) -> String {
    significant(x, 4)
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
        let e = Slo::parse("p99 <= 3", &names()).unwrap_err();
        assert!(
            e.contains("unknown metric `p99`") && e.contains("loops_per_min"),
            "{e}"
        );
        let e = Slo::parse("loops_per_min = 3", &names()).unwrap_err();
        assert!(e.contains("expected METRIC <= VALUE"), "{e}");
        let e = Slo::parse("loops_per_min >= fast", &names()).unwrap_err();
        assert!(e.contains("`fast` is not a number"), "{e}");
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
            })
        })
    }

    /// Galloping then bisection finds every threshold in 1..=300 exactly,
    /// in at most 2·log2(range) + 2 probes.
    #[test]
    fn the_search_finds_the_least_value_that_meets() {
        for at in 1..=300 {
            let s = search((1, 300), Goal::LeastMeeting, &[], 1, threshold(at)).unwrap();
            assert_eq!(s.answer, Some(at), "threshold {at}");
            assert!(
                s.probes.len() <= 2 * 9 + 2,
                "{at}: {} probes",
                s.probes.len()
            );
            assert!(s.warnings.is_empty());
        }
        assert_eq!(
            search((1, 300), Goal::LeastMeeting, &[], 1, threshold(301))
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
            (1, 64),
            Goal::LeastMeeting,
            &slos,
            1,
            each(|value| {
                let verdicts: Vec<Verdict> = slos
                    .iter()
                    .zip(metrics(value))
                    .map(|(slo, m)| Verdict {
                        metric: slo.metric.clone(),
                        mean: Some(m),
                        ci95: Some(0.5),
                        met: slo.met_by(Some(m), Some(0.5)),
                    })
                    .collect();
                Ok::<_, ()>(Probe {
                    value,
                    met: verdicts.iter().all(|v| v.met),
                    verdicts,
                    cost_per_hour_usd: (None, None),
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
                })
            })
        };
        for at in 1..=300 {
            let s = search((1, 300), Goal::MostMeeting, &[], 1, below(at)).unwrap();
            assert_eq!(s.answer, Some(at), "threshold {at}");
        }
        assert_eq!(
            search((1, 300), Goal::MostMeeting, &[], 1, below(0))
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
                    let s = search((1, 300), goal, &[], width, |values: &[i64]| {
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
