//! The streaming measures metrics are made of: a histogram with exact
//! mean and maximum, time-weighted gauges, a queue's trend and the gaps
//! between arrivals.

use crate::engine::{SimDuration, SimTime, TICKS_PER_SECOND, as_f64};
#[cfg(not(feature = "hdrhistogram"))]
use crate::histogram::Histogram;
use crate::histogram::MAX_VALUE;
#[cfg(feature = "hdrhistogram")]
use crate::histogram::hdr::Histogram;
use crate::model::measure::percentiles::Percentiles;

/// A histogram with an exact mean and maximum.
pub(super) struct Recorder {
    pub(super) histogram: Histogram,
    pub(super) sum: u128,
    pub(super) max: u64,
    /// Divides recorded values to give reported ones (ticks per second for times).
    pub(super) scale: f64,
}

impl Recorder {
    pub(super) fn new(scale: f64) -> Self {
        Recorder {
            histogram: Histogram::new(),
            sum: 0,
            max: 0,
            scale,
        }
    }

    pub(super) fn durations() -> Self {
        Self::new(TICKS_PER_SECOND as f64)
    }

    #[inline(always)]
    pub(super) fn record(&mut self, value: u64) {
        self.histogram.record(value);
        self.sum += u128::from(value);
        self.max = self.max.max(value.min(MAX_VALUE));
    }

    /// The values at each of `quantiles`. HDR reports the top of a value's
    /// bucket, so each is capped at the true maximum.
    pub(super) fn quantiles(&self, quantiles: &[f64]) -> Option<Vec<f64>> {
        (!self.histogram.is_empty()).then(|| {
            self.histogram
                .values_at_quantiles(quantiles)
                .into_iter()
                .map(|v| v.min(self.max) as f64 / self.scale)
                .collect()
        })
    }

    pub(super) fn merge(&mut self, other: &Recorder) {
        self.histogram.merge(&other.histogram);
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub(super) fn percentiles(&self) -> Option<Percentiles> {
        let q = self.quantiles(&[0.50, 0.90, 0.95, 0.99])?;
        let n = self.histogram.len();
        Some(Percentiles {
            p50: q[0],
            p90: q[1],
            p95: q[2],
            p99: q[3],
            max: self.max as f64 / self.scale,
            mean: self.sum as f64 / n as f64 / self.scale,
        })
    }
}

/// The time averages and peaks of `N` levels over the measured window,
/// integrated together: levels that change at the same events (attempts
/// and loops in flight) share one clock and one test for a change.
pub(super) struct WindowGauge<const N: usize = 1> {
    pub(super) level: [u64; N],
    pub(super) last: SimTime,
    pub(super) area: [u128; N],
    pub(super) peak: [u64; N],
}

impl<const N: usize> WindowGauge<N> {
    pub(super) fn new() -> Self {
        WindowGauge {
            level: [0; N],
            last: SimTime::ZERO,
            area: [0; N],
            peak: [0; N],
        }
    }

    /// The levels from `now` on. Unchanged levels are integrated later in
    /// one piece, with the same area and peak, so a set that changes
    /// nothing costs one comparison; except the first set in the window,
    /// which brings levels held from before it into the peak.
    #[inline]
    pub(super) fn set(&mut self, now: SimTime, level: [u64; N], window_start: SimTime) {
        let in_window = self.last >= window_start;
        if level == self.level && (now < window_start || in_window) {
            return;
        }
        if in_window {
            // The common case, written out: the levels held since the last
            // set, all of it inside the window.
            let held = u128::from(now.ticks() - self.last.ticks());
            for ((area, peak), (&was, new)) in self
                .area
                .iter_mut()
                .zip(&mut self.peak)
                .zip(self.level.iter().zip(level))
            {
                *area += u128::from(was) * held;
                *peak = (*peak).max(new);
            }
            self.level = level;
            self.last = now;
            return;
        }
        self.set_now(now, level, window_start);
    }

    /// The levels from `now` on, integrated up to `now` whether they
    /// changed or not: for a caller that reads [`WindowGauge::last`] as the
    /// instant the levels were last integrated.
    #[inline]
    pub(super) fn set_now(&mut self, now: SimTime, level: [u64; N], window_start: SimTime) {
        self.advance(now, window_start);
        if now >= window_start {
            for (peak, level) in self.peak.iter_mut().zip(level) {
                *peak = (*peak).max(level);
            }
        }
        self.level = level;
    }

    /// Integrates the levels up to `horizon`: the books closed at the end.
    pub(super) fn close(&mut self, horizon: SimTime, window_start: SimTime) {
        self.set_now(horizon, self.level, window_start);
    }

    #[inline]
    fn advance(&mut self, now: SimTime, window_start: SimTime) {
        if now > window_start {
            let held = u128::from(now.since(self.last.max(window_start)).ticks());
            // Levels set in the window are in the peaks already; those set
            // before it count from the window's start.
            let before = self.last < window_start;
            for i in 0..N {
                self.area[i] += u128::from(self.level[i]) * held;
                if before {
                    self.peak[i] = self.peak[i].max(self.level[i]);
                }
            }
        }
        self.last = now;
    }

    /// Each level's time average over a window `window` long.
    pub(super) fn mean(&self, window: SimDuration) -> [f64; N] {
        self.area
            .map(|area| area as f64 / window.ticks().max(1) as f64)
    }
}

/// Does the lane queue settle? Its length at the middle of the measured
/// window, whether it emptied after, and its length now: a queue that never
/// empties in the second half and ends longer than at the middle is
/// growing, and without a queue limit nothing stops it.
pub(super) struct QueueTrend {
    pub(super) middle: SimTime,
    pub(super) at_middle: Option<u64>,
    pub(super) emptied_after: bool,
    pub(super) level: u64,
    /// A queue limit stops it growing.
    pub(super) limited: bool,
}

impl QueueTrend {
    /// The queue holds `level` from `now` on. A set that changes nothing is
    /// skipped: the level it would note at the middle is the one held
    /// there anyway, and one never noted gives the verdict it would.
    pub(super) fn set(&mut self, now: SimTime, level: u64) {
        if level == self.level {
            return;
        }
        if now >= self.middle {
            if self.at_middle.is_none() {
                self.at_middle = Some(self.level);
                self.emptied_after = self.level == 0;
            }
            self.emptied_after |= level == 0;
        }
        self.level = level;
    }

    /// Growth per minute over the second half, and whether it grows without bound.
    pub(super) fn verdict(&self, horizon: SimTime) -> (f64, bool) {
        let at_middle = self.at_middle.unwrap_or(self.level);
        let half_min = horizon.since(self.middle).as_secs_f64() / 60.0;
        let growth = (self.level as f64 - at_middle as f64) / half_min.max(f64::MIN_POSITIVE);
        let growing = !self.emptied_after && self.level > at_middle;
        (growth, growing && !self.limited)
    }
}

/// The mean and variance of the gaps between arrivals (Welford's method).
#[derive(Default)]
pub(super) struct Gaps {
    pub(super) last: Option<SimTime>,
    pub(super) count: u64,
    pub(super) mean: f64,
    pub(super) m2: f64,
}

impl Gaps {
    pub(super) fn arrival(&mut self, now: SimTime) {
        if let Some(last) = self.last.replace(now) {
            let gap = now.since(last).as_secs_f64();
            self.count += 1;
            let delta = gap - self.mean;
            self.mean += delta / as_f64(self.count);
            self.m2 += delta * (gap - self.mean);
        }
    }

    /// Standard deviation over mean (population variance), with at least two gaps.
    pub(super) fn cv(&self) -> Option<f64> {
        (self.count >= 2 && self.mean > 0.0)
            .then(|| (self.m2 / self.count as f64).sqrt() / self.mean)
    }
}

/// A count of the run over its measured window: one slot of [`Counts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Count {
    LoopsExhausted,
    LoopsDeadline,
    LoopsTooLarge,
    LoopsDenied,
    Calls,
    Attempts,
    Retries,
    Throttled,
    RateLimited,
    Overloaded,
    Timeouts,
    Expired,
    QueueRejected,
    TooLarge,
    Unavailable,
    ServerErrors,
    RejectedLocally,
    RetriesDenied,
}

impl Count {
    const ALL: usize = Count::RetriesDenied as usize + 1;

    /// The loops that failed, by why.
    pub(super) const LOOPS_FAILED: [Count; 4] = [
        Count::LoopsExhausted,
        Count::LoopsDeadline,
        Count::LoopsTooLarge,
        Count::LoopsDenied,
    ];
}

/// The run's counts, indexed by [`Count`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts([u64; Count::ALL]);

impl std::ops::Index<Count> for Counts {
    type Output = u64;
    fn index(&self, count: Count) -> &u64 {
        &self.0[count as usize]
    }
}

impl std::ops::IndexMut<Count> for Counts {
    fn index_mut(&mut self, count: Count) -> &mut u64 {
        &mut self.0[count as usize]
    }
}
