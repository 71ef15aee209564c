//! Per-bin counts and gauges over simulated time: the picture of a storm.

use crate::engine::{SimDuration, SimTime};
use crate::model::capacity::self_hosted::FleetLevel;

/// The columns of the p50 and p99 latency of the loops completed in each bin.
pub const LOOP_LATENCY: [&str; 2] = ["loop_latency_p50_s", "loop_latency_p99_s"];

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

/// The most bins a written time series may have (about 150 MB held while running).
pub const MAX_TIMESERIES_BINS: u64 = 1_000_000;

/// One closed bin.
#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    pub start: SimTime,
    pub length: SimDuration,
    pub counts: [u64; COUNTERS],
    /// Time-averaged level of each gauge over the bin.
    pub mean: [f64; GAUGES],
    pub max: [u64; GAUGES],
    /// The p50 and p99 latency of the loops completed in the bin, in ticks
    /// (nearest rank: exact order statistics), if any completed.
    pub loop_latency: Option<(u64, u64)>,
    /// Per pool, for models that report pools.
    pub pools: Vec<PoolBin>,
}

/// One pool's figures in a bin.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolBin {
    /// Attempts the router sent it.
    pub attempts: u64,
    /// Of those, refused.
    pub refused: u64,
    /// Time-averaged attempts in service.
    pub in_flight: f64,
    /// Self-hosted pools: time-averaged replicas alive.
    pub replicas: Option<f64>,
    /// Self-hosted pools: KV-cache tokens held over those warm replicas
    /// offer, time-averaged (none while none is warm).
    pub kv_cache_utilization: Option<f64>,
}

/// One pool's counts and level in the open bin.
#[derive(Clone, Debug, Default)]
struct PoolTrack {
    name: String,
    attempts: u64,
    refused: u64,
    level: u64,
    area: u128,
    /// Self-hosted pools: replicas alive, and their area in the open bin.
    replicas: Option<(u64, u128)>,
    /// Self-hosted pools: KV-cache tokens held and offered, and their
    /// areas in the open bin (token-ticks).
    kv: [(f64, f64); 2],
}

/// The nearest-rank `q`-quantile of `sorted`: the value at rank ⌈q·n⌉.
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
    /// Latencies of the loops completed in the open bin: as many as one bin
    /// holds, so memory stays flat in the horizon.
    latencies: Vec<u64>,
    pools: Vec<PoolTrack>,
    /// Where t = 0 falls in the week, when the model names its start.
    clock: Option<SimDuration>,
}

impl Timeseries {
    /// Where t = 0 falls in the week (from Monday 00:00), if the model has a clock.
    pub fn clock(&self) -> Option<SimDuration> {
        self.clock
    }

    /// Sets where t = 0 falls in the week.
    pub fn set_clock(&mut self, start: Option<SimDuration>) {
        self.clock = start;
    }

    /// A series that keeps every bin.
    pub fn new(width: SimDuration) -> Self {
        Timeseries::with_sink(width, Vec::new())
    }

    pub fn bins(&self) -> &[Bin] {
        &self.sink
    }

    /// The pools each bin reports on: each name, and whether it is self-hosted.
    pub fn pool_names(&self) -> impl Iterator<Item = (&str, bool)> {
        self.pools
            .iter()
            .map(|p| (p.name.as_str(), p.replicas.is_some()))
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
            latencies: Vec::new(),
            pools: Vec::new(),
            clock: None,
        }
    }

    /// Reports on these pools too, in this order: each named, and whether
    /// it is self-hosted (its replicas are reported too).
    pub fn with_pools(mut self, pools: impl IntoIterator<Item = (String, bool)>) -> Self {
        self.pools = pools
            .into_iter()
            .map(|(name, hosted)| PoolTrack {
                name,
                replicas: hosted.then_some((0, 0)),
                ..PoolTrack::default()
            })
            .collect();
        self
    }

    fn integrate(&mut self, to: SimTime) {
        let dt = u128::from(to.since(self.last).ticks());
        for (area, level) in self.area.iter_mut().zip(self.levels) {
            *area += u128::from(level) * dt;
        }
        for pool in &mut self.pools {
            pool.area += u128::from(pool.level) * dt;
            if let Some((level, area)) = &mut pool.replicas {
                *area += u128::from(*level) * dt;
            }
            for (level, area) in &mut pool.kv {
                *area += *level * dt as f64;
            }
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
        self.latencies.sort_unstable();
        let loop_latency = (!self.latencies.is_empty()).then(|| {
            (
                nearest_rank(&self.latencies, 0.5),
                nearest_rank(&self.latencies, 0.99),
            )
        });
        self.latencies.clear();
        self.sink.take(Bin {
            start: self.start,
            length,
            counts: self.counts,
            mean: self.area.map(|a| a as f64 / ticks),
            max: self.max,
            loop_latency,
            pools: self
                .pools
                .iter_mut()
                .map(|p| PoolBin {
                    attempts: std::mem::take(&mut p.attempts),
                    refused: std::mem::take(&mut p.refused),
                    in_flight: std::mem::take(&mut p.area) as f64 / ticks,
                    replicas: p
                        .replicas
                        .as_mut()
                        .map(|(_, area)| std::mem::take(area) as f64 / ticks),
                    kv_cache_utilization: {
                        let [(_, held), (_, offered)] = &mut p.kv;
                        let (held, offered) = (std::mem::take(held), std::mem::take(offered));
                        (p.replicas.is_some() && offered > 0.0).then(|| held / offered)
                    },
                })
                .collect(),
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

    /// A loop completed at `now` after `latency` ticks.
    pub fn loop_completed(&mut self, now: SimTime, latency: u64) {
        self.count(now, Counter::LoopsCompleted);
        self.latencies.push(latency);
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

    /// The router sent an attempt to `pool`; `refused` if it turned it away.
    pub fn pool_offered(&mut self, now: SimTime, pool: usize, refused: bool) {
        self.roll(now);
        let p = &mut self.pools[pool];
        p.attempts += 1;
        p.refused += u64::from(refused);
    }

    /// Records `pool`'s attempts in service (and its `fleet` of replicas,
    /// if it is self-hosted) from `now` on.
    pub fn observe_pool(
        &mut self,
        now: SimTime,
        pool: usize,
        in_flight: u64,
        fleet: Option<FleetLevel>,
    ) {
        self.roll(now);
        self.integrate(now);
        let p = &mut self.pools[pool];
        p.level = in_flight;
        if let (Some((level, _)), Some(fleet)) = (&mut p.replicas, fleet) {
            *level = u64::from(fleet.alive);
            p.kv[0].0 = fleet.kv_held;
            p.kv[1].0 = fleet.kv_offered;
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
    fn each_bin_has_the_exact_p50_and_p99_of_the_loops_it_completed() {
        let mut ts = Timeseries::new(SimDuration::from_secs(10));
        // Bin 0: latencies 100, 99, ..., 1 (in any order); bin 1: none; bin 2: one.
        for latency in (1..=100).rev() {
            ts.loop_completed(secs(3), latency);
        }
        ts.loop_completed(secs(25), 7);
        ts.finish(secs(30));
        let bins = ts.bins();
        // Nearest rank: the 50th and the 99th of 100.
        assert_eq!(bins[0].loop_latency, Some((50, 99)));
        assert_eq!(bins[0].counts[Counter::LoopsCompleted as usize], 100);
        assert_eq!(bins[1].loop_latency, None);
        assert_eq!(bins[2].loop_latency, Some((7, 7)));
        assert_eq!(nearest_rank(&[1, 2, 3], 0.5), 2);
        assert_eq!(nearest_rank(&[1, 2], 0.5), 1);
    }

    #[test]
    fn pools_have_their_own_counts_and_time_averaged_levels() {
        let mut ts = Timeseries::new(SimDuration::from_secs(10))
            .with_pools([("a".to_owned(), false), ("b".to_owned(), true)]);
        ts.observe(secs(0), [0; GAUGES]);
        ts.pool_offered(secs(1), 0, false);
        ts.observe_pool(secs(1), 0, 2, None);
        // Pool b: 3 replicas (2 warm, 100 tokens each) from 1 s, holding 50
        // tokens until 4 s, then 150.
        let fleet = |kv_held| FleetLevel {
            alive: 3,
            kv_held,
            kv_offered: 200.0,
        };
        ts.observe_pool(secs(1), 1, 0, Some(fleet(50.0)));
        ts.pool_offered(secs(2), 1, true);
        ts.observe_pool(secs(4), 1, 0, Some(fleet(150.0)));
        // Pool a: 2 in flight from 1 s to 6 s, then 1 until 15 s.
        ts.observe_pool(secs(6), 0, 1, None);
        ts.finish(secs(15));
        let bins = ts.bins();
        let a = |b: usize| bins[b].pools[0];
        assert_eq!((a(0).attempts, a(0).refused), (1, 0));
        assert_eq!(
            (bins[0].pools[1].attempts, bins[0].pools[1].refused),
            (1, 1)
        );
        assert_eq!(a(0).in_flight, (2.0 * 5.0 + 4.0) / 10.0);
        assert_eq!(a(1).in_flight, 1.0);
        assert_eq!(a(1).attempts, 0);
        assert_eq!(bins[0].pools[1].replicas, Some(3.0 * 9.0 / 10.0));
        assert_eq!(bins[0].pools[0].replicas, None);
        // Held over offered, each integrated over the bin: (50 x 3 + 150 x 6) / (200 x 9).
        assert_eq!(
            bins[0].pools[1].kv_cache_utilization,
            Some((50.0 * 3.0 + 150.0 * 6.0) / (200.0 * 9.0))
        );
        assert_eq!(bins[1].pools[1].kv_cache_utilization, Some(0.75));
        assert_eq!(bins[0].pools[0].kv_cache_utilization, None);
        assert_eq!(
            ts.pool_names().collect::<Vec<_>>(),
            [("a", false), ("b", true)]
        );
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
