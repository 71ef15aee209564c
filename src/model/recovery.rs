//! The metastability verdict: did goodput come back after each fault?
//!
//! Goodput is loops completed per minute. For each fault it is measured
//! before (from warm-up, or the start, to the fault), during, and after the
//! fault. The system has recovered at the start of the first window, of
//! `window` length, lying wholly after the fault, whose goodput is within
//! `tolerance` of the goodput before; if no such window fits before the
//! horizon, it did not recover.

use serde::{Deserialize, Serialize};

use super::fault::Fault;
use super::timeseries::{Bin, Counter};
use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecoveryRule {
    pub window: SimDuration,
    /// The share of the goodput before the fault that counts as recovered: 0.1
    /// means within 10%.
    pub tolerance: f64,
}

impl Default for RecoveryRule {
    fn default() -> Self {
        RecoveryRule {
            window: SimDuration::from_secs(300),
            tolerance: 0.1,
        }
    }
}

/// One fault's verdict, as the summary reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultVerdict {
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
    /// `null` when the fault starts before any goodput could be measured.
    pub goodput_before_per_min: Option<f64>,
    pub goodput_during_per_min: Option<f64>,
    pub goodput_after_per_min: Option<f64>,
    /// `null` without a goodput before to recover to.
    pub recovered: Option<bool>,
    /// From the fault's end to the start of the first recovered window.
    pub recovery_s: Option<f64>,
}

/// Loops completed per minute over the bins that start in [from, to).
fn goodput(bins: &[Bin], from: SimTime, to: SimTime) -> Option<f64> {
    let (loops, ticks) = bins
        .iter()
        .filter(|b| b.start >= from && b.start < to)
        .fold((0u64, 0u64), |(n, t), b| {
            (
                n + b.counts[Counter::LoopsCompleted as usize],
                t + b.length.ticks(),
            )
        });
    (ticks > 0).then(|| loops as f64 / (SimDuration::from_ticks(ticks).as_secs_f64() / 60.0))
}

/// The verdict on `fault`, from the run's bins; `measured_from` is where
/// warm-up ends.
pub fn verdict(
    fault: &Fault,
    bins: &[Bin],
    measured_from: SimTime,
    rule: RecoveryRule,
) -> FaultVerdict {
    let (start, end) = (fault.start, fault.end());
    let horizon = bins.last().map_or(SimTime::ZERO, |b| b.start + b.length);
    let baseline_from = if measured_from < start {
        measured_from
    } else {
        SimTime::ZERO
    };
    let before = goodput(bins, baseline_from, start).filter(|g| *g > 0.0);
    let mut verdict = FaultVerdict {
        kind: fault.kind.name().to_owned(),
        start_s: start.as_secs_f64(),
        end_s: end.as_secs_f64(),
        goodput_before_per_min: before,
        goodput_during_per_min: goodput(bins, start, end),
        goodput_after_per_min: goodput(bins, end, horizon),
        recovered: None,
        recovery_s: None,
    };
    let Some(before) = before else {
        return verdict;
    };
    let target = before * (1.0 - rule.tolerance);
    let recovered_at = bins
        .iter()
        .map(|b| b.start)
        .filter(|&s| s >= end && s + rule.window <= horizon)
        .find(|&s| goodput(bins, s, s + rule.window).is_some_and(|g| g >= target));
    verdict.recovered = Some(recovered_at.is_some());
    verdict.recovery_s = recovered_at.map(|s| s.since(end).as_secs_f64());
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fault::FaultKind;
    use crate::model::timeseries::Timeseries;

    /// Bins of one minute with `per_min[i]` completions in minute i.
    fn bins(per_min: &[u64]) -> Vec<Bin> {
        let mut ts = Timeseries::new(SimDuration::from_secs(60));
        for (minute, &n) in per_min.iter().enumerate() {
            for _ in 0..n {
                ts.count(
                    SimTime::ZERO + SimDuration::from_secs(minute as u64 * 60),
                    Counter::LoopsCompleted,
                );
            }
        }
        ts.finish(SimTime::ZERO + SimDuration::from_secs(per_min.len() as u64 * 60));
        ts.bins().to_vec()
    }

    fn outage(at_min: u64, for_min: u64) -> Fault {
        Fault {
            kind: FaultKind::Outage,
            start: SimTime::ZERO + SimDuration::from_secs(at_min * 60),
            duration: SimDuration::from_secs(for_min * 60),
        }
    }

    const RULE: RecoveryRule = RecoveryRule {
        window: SimDuration::from_secs(180),
        tolerance: 0.1,
    };

    #[test]
    fn a_system_that_comes_back_recovers_when_a_full_window_is_back() {
        // 10/min, an outage in minutes 5-6, slowly back: 5, 9, 10, 10, ...
        let b = bins(&[10, 10, 10, 10, 10, 0, 0, 5, 9, 10, 10, 10, 10, 10]);
        let v = verdict(&outage(5, 2), &b, SimTime::ZERO, RULE);
        assert_eq!(v.goodput_before_per_min, Some(10.0));
        assert_eq!(v.goodput_during_per_min, Some(0.0));
        assert_eq!(v.recovered, Some(true));
        // Windows from minute 7 (5+9+10 = 8/min) fail; from minute 8 (29/3 = 9.67) pass.
        assert_eq!(v.recovery_s, Some(60.0));
    }

    #[test]
    fn a_system_that_stays_down_did_not_recover() {
        let b = bins(&[10, 10, 10, 10, 10, 0, 0, 2, 3, 2, 3, 2, 3, 2]);
        let v = verdict(&outage(5, 2), &b, SimTime::ZERO, RULE);
        assert_eq!(v.recovered, Some(false));
        assert_eq!(v.recovery_s, None);
        assert!(v.goodput_after_per_min.unwrap() < 3.0);
    }

    #[test]
    fn without_goodput_before_there_is_no_verdict() {
        let b = bins(&[0, 0, 10, 10, 10, 10]);
        let v = verdict(&outage(0, 1), &b, SimTime::ZERO, RULE);
        assert_eq!(v.recovered, None);
    }
}
