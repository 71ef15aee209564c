//! Judging replications against the SLOs: each SLO's verdict at a probe
//! of the search or at a plan, with what the capacity costs.

use serde::{Deserialize, Serialize};

use super::slo::Slo;
use crate::model::measure::summary::Summary;
use crate::report::replicated::{MetricStats, stats};

/// A metric's mean and 95% half-width over the replications, either
/// undefined where no replication defines it.
pub type Interval = (Option<f64>, Option<f64>);

/// What replications measured of one SLO's metric: its interval and, for
/// a latency (which counts only the loops that completed), the interval
/// of the failed share beside it.
pub type Measured = (Interval, Option<Interval>);

/// One SLO's metric at a probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub metric: String,
    pub mean: Option<f64>,
    pub ci95: Option<f64>,
    pub met: bool,
    /// Missed with a 95% interval that straddles the bound: more
    /// replications may meet it, or miss it for sure.
    #[serde(default)]
    pub borderline: bool,
    /// For a latency SLO: the share of the loops it describes that failed
    /// (mean and 95% half-width), which its figure draws beneath it, since
    /// a latency that looks good may be that of the few loops that survived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_share: Option<Interval>,
}

impl Verdict {
    /// `slo` judged on what was `measured` of its metric: a mean and 95%
    /// half-width, and for a latency the failed share beside it (undefined
    /// where none was measured).
    pub fn of(slo: &Slo, ((mean, ci95), failed): Measured) -> Verdict {
        let met = slo.met_by(mean, ci95);
        Verdict {
            metric: slo.metric.clone(),
            mean,
            ci95,
            met,
            borderline: !met && slo.straddled_by(mean, ci95),
            failed_share: slo.failed_share().map(|_| failed.unwrap_or((None, None))),
        }
    }
}

/// A probe's or plan's word: it meets every SLO, cannot be bought since
/// its month passes its tier's spend cap, misses an SLO for sure, or
/// misses only by intervals that straddle their bounds.
pub fn outcome(verdicts: &[Verdict], met: bool, over_spend_cap: bool) -> &'static str {
    match met {
        true => "meets",
        false if over_spend_cap => "over its tier's spend cap",
        false if verdicts.iter().all(|v| v.met || v.borderline) => "borderline",
        false => "misses",
    }
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
    /// What it costs a month (committed capacity all month, use scaled).
    #[serde(default = "undefined")]
    pub cost_per_month_usd: Interval,
    /// Whether its month passed a tier's monthly spend cap in any
    /// replication: the provider would stop serving it, whatever the SLOs
    /// say, so it does not meet them.
    #[serde(default)]
    pub over_spend_cap: bool,
}

/// An interval no replication defined: what files written before a field was kept read as.
fn undefined() -> Interval {
    (None, None)
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
    let measured: Vec<Measured> = slos
        .iter()
        .map(|slo| {
            let failed = slo.failed_share().map(|share| metric(all, &share));
            (metric(all, &slo.metric), failed)
        })
        .collect();
    // Every replication measures the same window.
    let hours = summaries
        .first()
        .map_or(0.0, |s| (s.duration_s - s.warmup_s) / 3600.0);
    let per_hour = |x: Option<f64>| x.filter(|_| hours > 0.0).map(|x| x / hours);
    let (cost, cost_ci) = metric(all, "cost_usd");
    let costs = Costs {
        per_hour: (per_hour(cost), per_hour(cost_ci)),
        per_month: metric(all, "cost_per_month_usd"),
    };
    let mut probe = Probe::of(value, slos, &measured, costs);
    probe.over_spend_cap = summaries.iter().any(|s| !s.over_spend_cap.is_empty());
    probe.met &= !probe.over_spend_cap;
    probe
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
        }
        // Nobody sells the floor's capacity: no spend cap holds it back.
        floor.over_spend_cap = false;
        floor.met = floor.verdicts.iter().all(|v| v.met);
        floor
    }

    /// The probe at `value` where the SLOs' metrics `measured` these, at
    /// these costs.
    pub fn of(value: i64, slos: &[Slo], measured: &[Measured], costs: Costs) -> Probe {
        let verdicts: Vec<Verdict> = slos
            .iter()
            .zip(measured)
            .map(|(slo, &measured)| Verdict::of(slo, measured))
            .collect();
        Probe {
            value,
            met: verdicts.iter().all(|v| v.met),
            verdicts,
            cost_per_hour_usd: costs.per_hour,
            cost_per_month_usd: costs.per_month,
            over_spend_cap: false,
        }
    }
}

/// What a probe's or plan's capacity costs, mean and 95% half-width.
#[derive(Clone, Copy, Debug, Default)]
pub struct Costs {
    pub per_hour: Interval,
    pub per_month: Interval,
}

/// One named alternative judged against the SLOs, with what it costs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanResult {
    pub name: String,
    pub verdicts: Vec<Verdict>,
    pub met: bool,
    /// Mean and 95% half-width over the replications.
    pub cost_per_hour_usd: Interval,
    #[serde(default = "undefined")]
    pub cost_per_month_usd: Interval,
    pub cost_per_loop_usd: Interval,
    pub loops_per_dollar: Interval,
    /// Whether its month passed a tier's monthly spend cap in any
    /// replication: the provider would stop serving it, whatever the SLOs
    /// say, so the plan cannot be bought.
    #[serde(default)]
    pub over_spend_cap: bool,
}

/// Judges one plan's `summaries` (one per replication) against `slos`.
pub fn judge_plan(name: &str, summaries: &[Summary], slos: &[Slo]) -> PlanResult {
    let all = stats(summaries);
    let probe = judged(0, &all, summaries, slos);
    PlanResult {
        name: name.to_owned(),
        verdicts: probe.verdicts,
        met: probe.met,
        over_spend_cap: probe.over_spend_cap,
        cost_per_hour_usd: probe.cost_per_hour_usd,
        cost_per_month_usd: probe.cost_per_month_usd,
        cost_per_loop_usd: metric(&all, "cost_per_loop_usd"),
        loops_per_dollar: metric(&all, "loops_per_dollar"),
    }
}

/// Judges one setting's `summaries` (one per replication) against
/// `slos`, with the mean and half-width of metric `objective`.
pub fn judge_with(summaries: &[Summary], slos: &[Slo], objective: &str) -> (Probe, Interval) {
    let all = stats(summaries);
    (judged(0, &all, summaries, slos), metric(&all, objective))
}

/// The plan that meets every SLO at the least cost a month (the first
/// of those that cost the same).
pub fn cheapest(plans: &[PlanResult]) -> Option<&PlanResult> {
    plans.iter().filter(|p| p.met).min_by(|a, b| {
        let cost = |p: &PlanResult| p.cost_per_month_usd.0.unwrap_or(f64::INFINITY);
        cost(a).total_cmp(&cost(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A miss whose interval holds the bound is borderline, on either side
    /// of it and either direction; a clear miss, a hit, or a figure without
    /// an interval is not.
    #[test]
    fn a_miss_whose_interval_holds_the_bound_is_borderline() {
        let names = ["loops_failed_share", "loops_per_min"].map(str::to_owned);
        let at_most = Slo::parse("loops_failed_share <= 0.01", &names).unwrap();
        let verdict = |slo: &Slo, mean: f64, half: Option<f64>| {
            let v = Verdict::of(slo, ((Some(mean), half), None));
            (v.met, v.borderline)
        };
        // Mean above the bound, interval reaching below it; mean below, interval above.
        assert_eq!(verdict(&at_most, 0.011, Some(0.002)), (false, true));
        assert_eq!(verdict(&at_most, 0.009, Some(0.002)), (false, true));
        assert_eq!(verdict(&at_most, 0.0125, Some(0.002)), (false, false));
        assert_eq!(verdict(&at_most, 0.007, Some(0.002)), (true, false));
        assert_eq!(verdict(&at_most, 0.011, None), (false, false));
        let at_least = Slo::parse("loops_per_min >= 2", &names).unwrap();
        assert_eq!(verdict(&at_least, 2.1, Some(0.2)), (false, true));
        assert_eq!(verdict(&at_least, 1.9, Some(0.2)), (false, true));
        assert_eq!(verdict(&at_least, 1.7, Some(0.2)), (false, false));
        assert_eq!(verdict(&at_least, 2.3, Some(0.2)), (true, false));
    }
}
