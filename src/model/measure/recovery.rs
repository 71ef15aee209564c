//! The metastability verdict: did goodput come back after each fault?
//!
//! Goodput is loops completed per minute. For each fault it is measured
//! before (from warm-up, or the start, to the fault), during, and after the
//! fault. The system has recovered at the start of the first window, of
//! `window` length, lying wholly after the fault, whose goodput is within
//! `tolerance` of the goodput before; if no such window fits before the
//! horizon, it did not recover.

use serde::{Deserialize, Serialize};

use crate::model::fault::Fault;
use std::collections::VecDeque;

use crate::engine::{SimDuration, SimTime};
use crate::model::measure::timeseries::{Bin, BinSink, Counter};

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

/// Loops completed and ticks over a run of bins.
#[derive(Clone, Copy, Debug, Default)]
struct Goodput {
    loops: u64,
    ticks: u64,
}

impl Goodput {
    fn add(&mut self, bin: &Bin) {
        self.loops += bin.counts[Counter::LoopsCompleted as usize];
        self.ticks += bin.length.ticks();
    }

    fn remove(&mut self, bin: &Bin) {
        self.loops -= bin.counts[Counter::LoopsCompleted as usize];
        self.ticks -= bin.length.ticks();
    }

    /// Loops completed per minute; `None` over no time.
    fn per_min(self) -> Option<f64> {
        (self.ticks > 0)
            .then(|| self.loops as f64 / (SimDuration::from_ticks(self.ticks).as_secs_f64() / 60.0))
    }
}

/// One fault's verdict, worked out bin by bin as the run goes: memory
/// stays flat in the horizon (the bins of one recovery window at most).
#[derive(Clone, Debug)]
pub struct FaultWatch {
    fault: Fault,
    rule: RecoveryRule,
    /// Where goodput before the fault is measured from: the end of warm-up,
    /// or the start when the fault begins during warm-up.
    baseline_from: SimTime,
    before: Goodput,
    during: Goodput,
    after: Goodput,
    /// The bins after the fault not yet ruled out as the start of the
    /// first recovered window, and their total.
    candidates: VecDeque<Bin>,
    in_candidates: Goodput,
    recovered_at: Option<SimTime>,
}

impl FaultWatch {
    /// Watches `fault`; `measured_from` is where warm-up ends.
    pub fn new(fault: Fault, measured_from: SimTime, rule: RecoveryRule) -> Self {
        FaultWatch {
            fault,
            rule,
            baseline_from: if measured_from < fault.start {
                measured_from
            } else {
                SimTime::ZERO
            },
            before: Goodput::default(),
            during: Goodput::default(),
            after: Goodput::default(),
            candidates: VecDeque::new(),
            in_candidates: Goodput::default(),
            recovered_at: None,
        }
    }

    /// Goodput before the fault, if any loops completed then.
    fn baseline(&self) -> Option<f64> {
        self.before.per_min().filter(|g| *g > 0.0)
    }

    fn take(&mut self, bin: &Bin) {
        let (start, end) = (self.fault.start, self.fault.end());
        if bin.start < start {
            if bin.start >= self.baseline_from {
                self.before.add(bin);
            }
            return;
        }
        if bin.start < end {
            self.during.add(bin);
            return;
        }
        self.after.add(bin);
        // Every bin before the fault has closed, so the baseline is final.
        let Some(target) = self.baseline().map(|b| b * (1.0 - self.rule.tolerance)) else {
            return;
        };
        if self.recovered_at.is_some() {
            return;
        }
        self.candidates.push_back(bin.clone());
        self.in_candidates.add(bin);
        // The window starting at the oldest candidate is whole once a bin
        // ends at or after its end; the candidates then are its bins.
        let closed_to = bin.start + bin.length;
        while let Some(first) = self.candidates.front() {
            if first.start + self.rule.window > closed_to {
                break;
            }
            if self.in_candidates.per_min().is_some_and(|g| g >= target) {
                self.recovered_at = Some(first.start);
                self.candidates.clear();
                break;
            }
            let first = self.candidates.pop_front().expect("a front");
            self.in_candidates.remove(&first);
        }
    }

    pub fn verdict(&self) -> FaultVerdict {
        let before = self.baseline();
        FaultVerdict {
            kind: self.fault.kind.name().to_owned(),
            start_s: self.fault.start.as_secs_f64(),
            end_s: self.fault.end().as_secs_f64(),
            goodput_before_per_min: before,
            goodput_during_per_min: self.during.per_min(),
            goodput_after_per_min: self.after.per_min(),
            recovered: before.map(|_| self.recovered_at.is_some()),
            recovery_s: self
                .recovered_at
                .map(|s| s.since(self.fault.end()).as_secs_f64()),
        }
    }
}

/// Every fault's watch, fed the run's bins as they close.
#[derive(Clone, Debug, Default)]
pub struct FaultWatches(pub Vec<FaultWatch>);

impl BinSink for FaultWatches {
    fn take(&mut self, bin: Bin) {
        for watch in &mut self.0 {
            watch.take(&bin);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fault::FaultKind;
    use crate::model::measure::timeseries::Timeseries;
    use proptest::prelude::*;

    /// The verdict worked out from all the bins at once, as the definition
    /// in this module's header reads: the oracle for [`FaultWatch`].
    fn verdict_from_all(
        fault: &Fault,
        bins: &[Bin],
        measured_from: SimTime,
        rule: RecoveryRule,
    ) -> FaultVerdict {
        let goodput = |from: SimTime, to: SimTime| {
            let mut g = Goodput::default();
            for b in bins.iter().filter(|b| b.start >= from && b.start < to) {
                g.add(b);
            }
            g.per_min()
        };
        let (start, end) = (fault.start, fault.end());
        let horizon = bins.last().map_or(SimTime::ZERO, |b| b.start + b.length);
        let from = if measured_from < start {
            measured_from
        } else {
            SimTime::ZERO
        };
        let before = goodput(from, start).filter(|g| *g > 0.0);
        let recovered_at = before.and_then(|before| {
            let target = before * (1.0 - rule.tolerance);
            bins.iter()
                .map(|b| b.start)
                .filter(|&s| s >= end && s + rule.window <= horizon)
                .find(|&s| goodput(s, s + rule.window).is_some_and(|g| g >= target))
        });
        FaultVerdict {
            kind: fault.kind.name().to_owned(),
            start_s: start.as_secs_f64(),
            end_s: end.as_secs_f64(),
            goodput_before_per_min: before,
            goodput_during_per_min: goodput(start, end),
            goodput_after_per_min: goodput(end, horizon),
            recovered: before.map(|_| recovered_at.is_some()),
            recovery_s: recovered_at.map(|s| s.since(end).as_secs_f64()),
        }
    }

    fn verdict(
        fault: &Fault,
        bins: &[Bin],
        measured_from: SimTime,
        rule: RecoveryRule,
    ) -> FaultVerdict {
        let mut watch = FaultWatch::new(*fault, measured_from, rule);
        for bin in bins {
            watch.take(bin);
        }
        watch.verdict()
    }

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
            pool: None,
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

    proptest! {
        /// Bin by bin gives the verdict all the bins at once give, for any
        /// goodput, fault, warm-up and window (bins of 60 s, the last one
        /// shorter when the horizon is not a whole minute).
        #[test]
        fn the_running_verdict_is_the_verdict_of_all_bins(
            per_min in proptest::collection::vec(0u64..12, 1..40),
            last_s in 1u64..=60,
            at_min in 0u64..30,
            for_min in 1u64..10,
            warmup_min in 0u64..10,
            window_min in 1u64..8,
            tolerance in 0.0f64..0.5,
        ) {
            let mut ts = Timeseries::new(SimDuration::from_secs(60));
            for (minute, &n) in per_min.iter().enumerate() {
                for _ in 0..n {
                    ts.count(SimTime::ZERO + SimDuration::from_secs(minute as u64 * 60), Counter::LoopsCompleted);
                }
            }
            let horizon = (per_min.len() as u64 - 1) * 60 + last_s;
            ts.finish(SimTime::ZERO + SimDuration::from_secs(horizon));
            let rule = RecoveryRule { window: SimDuration::from_secs(window_min * 60), tolerance };
            let warmup = SimTime::ZERO + SimDuration::from_secs(warmup_min * 60);
            let fault = outage(at_min, for_min);
            prop_assert_eq!(
                verdict(&fault, ts.bins(), warmup, rule),
                verdict_from_all(&fault, ts.bins(), warmup, rule)
            );
        }
    }
}
