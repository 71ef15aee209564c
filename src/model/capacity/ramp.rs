//! A ramp-rate limit: a provider that refuses traffic growing faster than
//! it can follow, even within the per-minute limits (OpenAI's `429
//! slow_down`: "once your traffic reaches 1 million input tokens per minute
//! (TPM), increase it by no more than 50% every 15 minutes"; Anthropic's
//! acceleration limits, whose numbers it does not publish).
//!
//! Traffic is the counted input tokens admitted in each minute of the run
//! (minute bins of simulated time). A minute may admit up to the larger of
//! `above_per_min` and `1 + growth` times what the minute `every` minutes
//! before it admitted; until `every` minutes have passed there is no
//! earlier traffic to compare with, and the limit does not apply. A run
//! starts cold, its traffic rising from nothing through its warm-up, where
//! a provider would have seen the steady traffic the warm-up stands for:
//! minutes before the warm-up's end are not compared with either.

use crate::engine::{SimDuration, SimTime, TICKS_PER_MINUTE};

/// A ramp-rate limit as a model states it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RampLimit {
    /// The input tokens a minute below which traffic may grow as it likes.
    pub above_per_min: u64,
    /// How much a minute's traffic may exceed that of the minute `every`
    /// minutes before it (0.5: by half).
    pub growth: f64,
    /// How far back, in whole minutes, a minute's traffic is compared.
    pub every_min: u32,
}

/// The traffic a ramp-rate limit watches: the input admitted in each of
/// the last `every_min + 1` minutes.
#[derive(Clone, Debug)]
pub struct RampWatch {
    limit: RampLimit,
    /// Input admitted by minute, indexed by the minute modulo its length.
    bins: Vec<u64>,
    /// The minute `bins` holds last.
    minute: u64,
    /// The first minute a later one is compared with.
    since: u64,
}

impl RampWatch {
    /// A watch comparing each minute with one no earlier than `since`'s.
    pub fn new(limit: RampLimit, since: SimTime) -> Self {
        RampWatch {
            limit,
            bins: vec![0; limit.every_min as usize + 1],
            minute: 0,
            since: since.ticks().div_ceil(TICKS_PER_MINUTE),
        }
    }

    /// Moves the window to the minute of `now`, clearing the minutes passed.
    fn advance(&mut self, now: SimTime) {
        let minute = now.ticks() / TICKS_PER_MINUTE;
        let len = self.bins.len() as u64;
        for m in (self.minute + 1)..=minute.min(self.minute + len) {
            self.bins[(m % len) as usize] = 0;
        }
        self.minute = self.minute.max(minute);
    }

    /// The most input the minute of `now` may admit; none while no minute
    /// `every_min` before it has been watched.
    fn ceiling(&self) -> Option<u64> {
        let every = u64::from(self.limit.every_min);
        let earlier = self.minute.checked_sub(every)?;
        if earlier < self.since {
            return None;
        }
        let len = self.bins.len() as u64;
        let grown = (1.0 + self.limit.growth) * self.bins[(earlier % len) as usize] as f64;
        Some(self.limit.above_per_min.max(grown as u64))
    }

    /// How long a request counting `input` tokens waits to be admitted: zero
    /// when the minute of `now` still has room for it (a minute that has
    /// admitted nothing takes any one request: the limit is on growth, not
    /// on a call's size), otherwise until the next minute, whose ceiling is
    /// another.
    pub fn wait_for(&mut self, now: SimTime, input: u64) -> SimDuration {
        self.advance(now);
        let len = self.bins.len() as u64;
        let admitted = self.bins[(self.minute % len) as usize];
        match self.ceiling() {
            Some(ceiling) if admitted > 0 && admitted + input > ceiling => {
                let next = SimTime::from_ticks((self.minute + 1) * TICKS_PER_MINUTE);
                next.since(now)
            }
            _ => SimDuration::ZERO,
        }
    }

    /// An admitted request's counted `input`, in the minute of `now`.
    pub fn take(&mut self, now: SimTime, input: u64) {
        self.advance(now);
        let len = self.bins.len() as u64;
        self.bins[(self.minute % len) as usize] += input;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: RampLimit = RampLimit {
        above_per_min: 1_000_000,
        growth: 0.5,
        every_min: 15,
    };

    fn at_minute(m: f64) -> SimTime {
        SimTime::from_ticks((m * TICKS_PER_MINUTE as f64) as u64)
    }

    /// Offers `per_min` input tokens in calls of `call` from minute `from`
    /// to minute `to`, spread evenly, and returns what each minute admitted
    /// (recounted here, apart from the watch).
    fn drive(watch: &mut RampWatch, load: &[(u64, u64, u64)], call: u64) -> Vec<u64> {
        let mut admitted = Vec::new();
        for &(from, to, per_min) in load {
            for minute in from..to {
                let calls = per_min / call;
                let mut this = 0;
                for i in 0..calls {
                    let now = at_minute(minute as f64 + i as f64 / calls as f64);
                    if watch.wait_for(now, call).is_zero() {
                        watch.take(now, call);
                        this += call;
                    }
                }
                admitted.push(this);
            }
        }
        admitted
    }

    /// Steady traffic above the threshold is never refused, however high;
    /// a jump to twice it is held to one and a half times the traffic of
    /// 15 minutes before for 15 minutes, then admitted whole.
    #[test]
    fn traffic_may_grow_by_half_every_15_minutes() {
        let mut watch = RampWatch::new(OPENAI, SimTime::ZERO);
        let admitted = drive(
            &mut watch,
            &[(0, 30, 2_000_000), (30, 60, 4_000_000)],
            10_000,
        );
        assert!(
            admitted[..30].iter().all(|&a| a == 2_000_000),
            "{admitted:?}"
        );
        assert!(
            admitted[30..45].iter().all(|&a| a == 3_000_000),
            "{admitted:?}"
        );
        assert!(
            admitted[45..].iter().all(|&a| a == 4_000_000),
            "{admitted:?}"
        );
    }

    /// Below the threshold a jump is not held; above it from nothing, it is
    /// held to the threshold, once there is an earlier minute to compare.
    #[test]
    fn below_the_threshold_and_before_any_history_traffic_is_free() {
        let mut watch = RampWatch::new(OPENAI, SimTime::ZERO);
        let admitted = drive(&mut watch, &[(0, 20, 100_000), (20, 40, 900_000)], 10_000);
        assert!(admitted[20..].iter().all(|&a| a == 900_000), "{admitted:?}");
        let mut cold = RampWatch::new(OPENAI, SimTime::ZERO);
        let admitted = drive(&mut cold, &[(0, 20, 0), (20, 25, 5_000_000)], 10_000);
        assert!(
            admitted.iter().skip(20).all(|&a| a == 1_000_000),
            "{admitted:?}"
        );
        let mut fresh = RampWatch::new(OPENAI, SimTime::ZERO);
        let admitted = drive(&mut fresh, &[(0, 15, 5_000_000)], 10_000);
        assert!(admitted.iter().all(|&a| a == 5_000_000), "{admitted:?}");
    }

    /// Minutes before the warm-up's end are compared with nothing: a run's
    /// cold start, rising from no traffic, is not a ramp.
    #[test]
    fn the_warm_up_is_not_a_ramp() {
        let mut watch = RampWatch::new(OPENAI, at_minute(30.0));
        let admitted = drive(&mut watch, &[(0, 30, 0), (30, 45, 5_000_000)], 10_000);
        assert!(
            admitted[30..].iter().all(|&a| a == 5_000_000),
            "{admitted:?}"
        );
        let mut early = RampWatch::new(OPENAI, at_minute(10.0));
        let admitted = drive(&mut early, &[(0, 30, 0), (30, 31, 5_000_000)], 10_000);
        assert_eq!(admitted[30], 1_000_000);
    }

    /// A call larger than a minute's ceiling is not refused for ever: the
    /// first of a minute is admitted, the next waits.
    #[test]
    fn a_minute_takes_one_call_however_large() {
        let mut watch = RampWatch::new(OPENAI, SimTime::ZERO);
        let now = at_minute(20.5);
        assert!(watch.wait_for(now, 2_500_000).is_zero());
        watch.take(now, 2_500_000);
        assert_eq!(watch.wait_for(now, 1), SimDuration::from_secs(30));
    }

    /// A refused request waits for the next minute.
    #[test]
    fn a_refusal_waits_for_the_next_minute() {
        let mut watch = RampWatch::new(OPENAI, SimTime::ZERO);
        drive(&mut watch, &[(0, 16, 1_000_000)], 10_000);
        let now = at_minute(16.25);
        watch.take(now, 1_500_000);
        assert_eq!(watch.wait_for(now, 1), SimDuration::from_secs(45));
        assert!(watch.wait_for(at_minute(17.0), 1).is_zero());
    }
}
