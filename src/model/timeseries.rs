//! Per-bin counts and gauges over simulated time: the picture of a storm.

use crate::engine::{SimDuration, SimTime};

/// Events counted per bin.
#[derive(Clone, Copy, Debug)]
pub enum Counter {
    Arrivals,
    LoopsCompleted,
    LoopsFailed,
    Attempts,
    Retries,
    RateLimited,
    Overloaded,
    Timeouts,
    QueueRejected,
    /// 500s and 503s.
    Errors,
    /// Requests the client failed itself (open circuit, adaptive throttling).
    RejectedLocally,
}

impl Counter {
    pub const ALL: [Counter; 11] = [
        Counter::Arrivals,
        Counter::LoopsCompleted,
        Counter::LoopsFailed,
        Counter::Attempts,
        Counter::Retries,
        Counter::RateLimited,
        Counter::Overloaded,
        Counter::Timeouts,
        Counter::QueueRejected,
        Counter::Errors,
        Counter::RejectedLocally,
    ];

    pub fn from_name(name: &str) -> Option<Counter> {
        Counter::ALL.into_iter().find(|c| c.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Counter::Arrivals => "arrivals",
            Counter::LoopsCompleted => "loops_completed",
            Counter::LoopsFailed => "loops_failed",
            Counter::Attempts => "attempts",
            Counter::Retries => "retries",
            Counter::RateLimited => "rate_limited",
            Counter::Overloaded => "overloaded",
            Counter::Timeouts => "timeouts",
            Counter::QueueRejected => "queue_rejected",
            Counter::Errors => "errors",
            Counter::RejectedLocally => "rejected_locally",
        }
    }
}

/// Levels sampled per bin as a time average and a maximum.
#[derive(Clone, Copy, Debug)]
pub enum Gauge {
    /// Attempts in service at the provider, abandoned ones included.
    InFlight,
    /// Attempts waiting for a lane.
    Queued,
    /// Calls waiting to retry.
    BackingOff,
    LoopsInFlight,
}

impl Gauge {
    pub const ALL: [Gauge; 4] = [
        Gauge::InFlight,
        Gauge::Queued,
        Gauge::BackingOff,
        Gauge::LoopsInFlight,
    ];

    pub fn from_name(name: &str) -> Option<Gauge> {
        Gauge::ALL.into_iter().find(|g| g.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Gauge::InFlight => "in_flight",
            Gauge::Queued => "queued",
            Gauge::BackingOff => "backing_off",
            Gauge::LoopsInFlight => "loops_in_flight",
        }
    }
}

const COUNTERS: usize = Counter::ALL.len();
const GAUGES: usize = Gauge::ALL.len();

/// One closed bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    pub start: SimTime,
    pub length: SimDuration,
    pub counts: [u64; COUNTERS],
    /// Time-averaged level of each gauge over the bin.
    pub mean: [f64; GAUGES],
    pub max: [u64; GAUGES],
}

/// Where a [`Timeseries`] puts the bins it closes: kept in a `Vec`, or
/// folded into running figures so memory stays flat in the horizon.
pub trait BinSink {
    fn take(&mut self, bin: Bin);
}

impl BinSink for Vec<Bin> {
    fn take(&mut self, bin: Bin) {
        self.push(bin);
    }
}

/// Fixed-width bins from time zero to the horizon (warm-up included).
pub struct Timeseries<S = Vec<Bin>> {
    width: SimDuration,
    sink: S,
    start: SimTime,
    counts: [u64; COUNTERS],
    levels: [u64; GAUGES],
    /// Level × ticks accumulated in the open bin.
    area: [u128; GAUGES],
    max: [u64; GAUGES],
    last: SimTime,
}

impl Timeseries {
    /// A series that keeps every bin.
    pub fn new(width: SimDuration) -> Self {
        Timeseries::with_sink(width, Vec::new())
    }

    pub fn bins(&self) -> &[Bin] {
        &self.sink
    }
}

impl<S: BinSink> Timeseries<S> {
    pub fn with_sink(width: SimDuration, sink: S) -> Self {
        assert!(!width.is_zero(), "bin width must be positive");
        Timeseries {
            width,
            sink,
            start: SimTime::ZERO,
            counts: [0; COUNTERS],
            levels: [0; GAUGES],
            area: [0; GAUGES],
            max: [0; GAUGES],
            last: SimTime::ZERO,
        }
    }

    fn integrate(&mut self, to: SimTime) {
        let dt = u128::from(to.since(self.last).ticks());
        for (area, level) in self.area.iter_mut().zip(self.levels) {
            *area += u128::from(level) * dt;
        }
        self.last = to;
    }

    /// Closes every bin that ends at or before `now`.
    fn roll(&mut self, now: SimTime) {
        while now >= self.start + self.width {
            self.close(self.start + self.width);
        }
    }

    fn close(&mut self, end: SimTime) {
        self.integrate(end);
        let length = end.since(self.start);
        let ticks = length.ticks().max(1) as f64;
        self.sink.take(Bin {
            start: self.start,
            length,
            counts: self.counts,
            mean: self.area.map(|a| a as f64 / ticks),
            max: self.max,
        });
        self.start = end;
        self.counts = [0; COUNTERS];
        self.area = [0; GAUGES];
        self.max = self.levels;
    }

    pub fn count(&mut self, now: SimTime, counter: Counter) {
        self.roll(now);
        self.counts[counter as usize] += 1;
    }

    /// Records the gauge levels holding from `now` on.
    pub fn observe(&mut self, now: SimTime, levels: [u64; GAUGES]) {
        self.roll(now);
        self.integrate(now);
        self.levels = levels;
        for (max, level) in self.max.iter_mut().zip(levels) {
            *max = (*max).max(level);
        }
    }

    /// Closes the remaining bins up to `horizon` (the last may be shorter).
    pub fn finish(&mut self, horizon: SimTime) {
        self.roll(horizon);
        if horizon > self.start {
            self.close(horizon);
        }
    }

    pub fn into_sink(self) -> S {
        self.sink
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    #[test]
    fn counts_land_in_their_bins_and_gauges_are_time_averaged() {
        let mut ts = Timeseries::new(SimDuration::from_secs(10));
        // In flight: 4 from t=0 to 5, then 0 until 25.
        ts.observe(secs(0), [4, 0, 0, 0]);
        ts.count(secs(1), Counter::Attempts);
        ts.observe(secs(5), [0, 0, 0, 0]);
        ts.count(secs(9), Counter::Attempts);
        ts.count(secs(10), Counter::Retries);
        ts.count(secs(24), Counter::RateLimited);
        ts.finish(secs(25));
        let bins = ts.bins();
        assert_eq!(bins.len(), 3);
        assert_eq!(bins[0].counts[Counter::Attempts as usize], 2);
        assert_eq!(bins[1].counts[Counter::Retries as usize], 1);
        assert_eq!(bins[2].counts[Counter::RateLimited as usize], 1);
        assert_eq!(bins[0].mean[Gauge::InFlight as usize], 2.0);
        assert_eq!(bins[0].max[Gauge::InFlight as usize], 4);
        assert_eq!(bins[1].mean[Gauge::InFlight as usize], 0.0);
        assert_eq!(bins[1].max[Gauge::InFlight as usize], 0);
        assert_eq!(bins[2].length, SimDuration::from_secs(5));
    }

    #[test]
    fn idle_stretches_still_produce_every_bin() {
        let mut ts = Timeseries::new(SimDuration::from_secs(1));
        ts.observe(secs(0), [0, 0, 0, 3]);
        ts.finish(secs(100));
        assert_eq!(ts.bins().len(), 100);
        assert!(
            ts.bins()
                .iter()
                .all(|b| b.mean[Gauge::LoopsInFlight as usize] == 3.0)
        );
    }
}
