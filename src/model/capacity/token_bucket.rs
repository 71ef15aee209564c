//! A token bucket with continuous refill, in exact integer arithmetic.
//!
//! A limit of `L` tokens per minute refills at `L` per minute, continuously,
//! as provider rate limiters do, and holds at most its burst: `L` tokens (one
//! minute's worth) unless the model sets another. Levels are kept
//! in units of 1/`TICKS_PER_MINUTE` token, so a tick adds exactly `L` units:
//! no rounding drift however long the run.
//!
//! Most buckets admit a request only when they hold all it asks for. One
//! that [overdraws](TokenBucket::overdrawing) admits any request while it
//! holds anything at all and lets the request take it below empty, the debt
//! repaid by the refill before the next is admitted: Azure's provisioned
//! deployments ("calls are accepted until utilization reaches 100%").

use crate::engine::{SimDuration, SimTime, TICKS_PER_MINUTE};

/// Units per token: one minute's worth of ticks.
const UNITS_PER_TOKEN: u64 = TICKS_PER_MINUTE;

/// The largest per-minute limit a bucket accepts: keeps every level, refund
/// and request (up to `u32::MAX` tokens) inside `i64` units.
pub const MAX_PER_MIN: u64 = 10_000_000_000;

#[derive(Clone, Debug)]
pub struct TokenBucket {
    per_min: u64,
    /// The most tokens it holds.
    burst: u64,
    capacity: i64,
    /// Below zero only in a bucket that overdraws: its debt.
    level: i64,
    updated_at: SimTime,
    overdraws: bool,
}

/// `tokens` in units, saturating (no request comes near).
fn units(tokens: u64) -> i64 {
    tokens.saturating_mul(UNITS_PER_TOKEN).min(i64::MAX as u64) as i64
}

impl TokenBucket {
    /// A full bucket for a limit of `per_min` tokens per minute, holding one
    /// minute's worth (both in 1..=`MAX_PER_MIN`).
    pub fn new(per_min: u64) -> Self {
        Self::with_burst(per_min, per_min)
    }

    /// A full bucket refilling at `per_min` that holds at most `burst` tokens.
    pub fn with_burst(per_min: u64, burst: u64) -> Self {
        assert!(
            (1..=MAX_PER_MIN).contains(&per_min) && (1..=MAX_PER_MIN).contains(&burst),
            "bucket limit {per_min} or burst {burst} out of range; config validation must reject it"
        );
        let capacity = units(burst);
        TokenBucket {
            per_min,
            burst,
            capacity,
            level: capacity,
            updated_at: SimTime::ZERO,
            overdraws: false,
        }
    }

    /// The same bucket admitting any request while it holds anything, the
    /// request taking it below empty if it must.
    pub fn overdrawing(self) -> Self {
        TokenBucket {
            overdraws: true,
            ..self
        }
    }

    fn refill(&mut self, now: SimTime) {
        let elapsed = now.since(self.updated_at).ticks();
        let added = elapsed.saturating_mul(self.per_min).min(i64::MAX as u64) as i64;
        self.level = self.level.saturating_add(added).min(self.capacity);
        self.updated_at = self.updated_at.max(now);
    }

    /// Changes the rate to `per_min` and the burst to `burst` from `now` on
    /// (e.g. a provider cutting capacity); it holds no more than it can.
    pub fn set_limit(&mut self, now: SimTime, per_min: u64, burst: u64) {
        assert!(
            (1..=MAX_PER_MIN).contains(&per_min) && (1..=MAX_PER_MIN).contains(&burst),
            "bucket limit {per_min} or burst {burst} out of range"
        );
        self.refill(now);
        self.per_min = per_min;
        self.burst = burst;
        self.capacity = units(burst);
        self.level = self.level.min(self.capacity);
    }

    /// Whether `tokens` could ever be admitted: they do not exceed the
    /// bucket's burst, or the bucket overdraws.
    pub fn can_ever_hold(&self, tokens: u64) -> bool {
        self.overdraws || tokens <= self.burst
    }

    /// How long until `tokens` are admitted (zero if they are now), or `None`
    /// if they never will be because they exceed the bucket's capacity. A
    /// bucket that overdraws admits them as soon as it holds anything.
    pub fn wait_for(&mut self, now: SimTime, tokens: u64) -> Option<SimDuration> {
        if !self.can_ever_hold(tokens) {
            return None;
        }
        self.refill(now);
        let need = if self.overdraws { 1 } else { units(tokens) };
        let missing = need.saturating_sub(self.level);
        if missing <= 0 {
            // The common case, spared a 64-bit division.
            return Some(SimDuration::ZERO);
        }
        Some(SimDuration::from_ticks(
            (missing as u64).div_ceil(self.per_min),
        ))
    }

    /// Removes `tokens`, which must be admitted now (`wait_for` returned
    /// zero); only a bucket that overdraws goes below empty.
    pub fn take(&mut self, now: SimTime, tokens: u64) {
        self.refill(now);
        let need = units(tokens);
        debug_assert!(
            self.overdraws || need <= self.level,
            "took {tokens} tokens that were not there"
        );
        let floor = if self.overdraws { i64::MIN } else { 0 };
        self.level = self.level.saturating_sub(need).max(floor);
    }

    /// Takes `tokens` if admitted now; otherwise leaves the bucket untouched.
    pub fn try_take(&mut self, now: SimTime, tokens: u64) -> bool {
        let ready = self.wait_for(now, tokens) == Some(SimDuration::ZERO);
        if ready {
            self.take(now, tokens);
        }
        ready
    }

    /// Removes `tokens`, or as many as there are (a refused request that
    /// the provider counts all the same).
    pub fn drain(&mut self, now: SimTime, tokens: u64) {
        self.refill(now);
        self.level -= units(tokens).min(self.level.max(0));
    }

    /// Returns `tokens` (e.g. an over-reservation), up to the capacity.
    pub fn refund(&mut self, now: SimTime, tokens: u64) {
        self.refill(now);
        self.level = self.level.saturating_add(units(tokens)).min(self.capacity);
    }

    /// Tokens available at `now`, as a real number (below zero: a debt).
    pub fn available(&mut self, now: SimTime) -> f64 {
        self.refill(now);
        self.level as f64 / UNITS_PER_TOKEN as f64
    }

    /// Whether the bucket has refilled to its capacity by `now`.
    pub fn is_full(&mut self, now: SimTime) -> bool {
        self.refill(now);
        self.level == self.capacity
    }

    pub fn per_min(&self) -> u64 {
        self.per_min
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(secs: f64) -> SimTime {
        SimTime::from_ticks((secs * 1e6) as u64)
    }

    #[test]
    fn starts_full_and_refills_continuously() {
        let mut b = TokenBucket::new(60); // one token per second
        assert!(b.try_take(t(0.0), 60));
        assert!(!b.try_take(t(0.0), 1));
        assert_eq!(b.wait_for(t(0.0), 1), Some(SimDuration::from_secs(1)));
        assert!((b.available(t(0.5)) - 0.5).abs() < 1e-12);
        assert!(b.try_take(t(1.0), 1));
        // Refill stops at capacity.
        assert!((b.available(t(1000.0)) - 60.0).abs() < 1e-12);
    }

    #[test]
    fn wait_is_exact_to_the_tick() {
        let mut b = TokenBucket::new(7);
        assert!(b.try_take(SimTime::ZERO, 7));
        // 3 tokens at 7/min take 3/7 min = 25_714_285.7 ticks: round up.
        let wait = b.wait_for(SimTime::ZERO, 3).unwrap();
        assert_eq!(wait.ticks(), 25_714_286);
        assert!(!b.try_take(SimTime::from_ticks(wait.ticks() - 1), 3));
        assert!(b.try_take(SimTime::from_ticks(wait.ticks()), 3));
    }

    #[test]
    fn requests_above_capacity_never_fit() {
        let mut b = TokenBucket::new(1000);
        assert_eq!(b.wait_for(SimTime::ZERO, 1001), None);
        assert_eq!(b.wait_for(SimTime::ZERO, 1000), Some(SimDuration::ZERO));
        assert!(!b.try_take(SimTime::ZERO, 1001));
    }

    #[test]
    fn refunds_never_overfill() {
        let mut b = TokenBucket::new(100);
        assert!(b.try_take(SimTime::ZERO, 40));
        b.refund(SimTime::ZERO, 90);
        assert!((b.available(SimTime::ZERO) - 100.0).abs() < 1e-12);
    }

    #[test]
    fn a_lower_limit_shrinks_the_bucket_and_slows_the_refill() {
        let mut b = TokenBucket::new(600);
        b.set_limit(t(0.0), 60, 60);
        assert!((b.available(t(0.0)) - 60.0).abs() < 1e-12);
        assert!(b.try_take(t(0.0), 60));
        assert!(
            (b.available(t(1.0)) - 1.0).abs() < 1e-12,
            "one per second now"
        );
        b.set_limit(t(1.0), 600, 600);
        assert!(
            (b.available(t(2.0)) - 11.0).abs() < 1e-12,
            "ten per second again"
        );
    }

    #[test]
    fn extreme_limits_and_long_gaps_do_not_overflow() {
        let mut b = TokenBucket::new(MAX_PER_MIN);
        assert!(b.try_take(SimTime::ZERO, u64::from(u32::MAX)));
        b.refund(SimTime::MAX, u64::from(u32::MAX));
        assert_eq!(b.available(SimTime::MAX), MAX_PER_MIN as f64);
    }

    /// The requests (gap since the last, tokens) `bucket` admits, with when.
    fn admitted(mut bucket: TokenBucket, requests: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        let mut now = 0u64;
        let mut admitted = Vec::new();
        for (gap, tokens) in requests {
            now += gap;
            if bucket.try_take(SimTime::from_ticks(now), tokens) {
                admitted.push((now, tokens));
            }
        }
        admitted
    }

    /// The first window of `admitted` requests, i..=j, in which the tokens
    /// admitted before its last (all of them, `with_last`) exceed the
    /// bucket's capacity (`per_min`) plus its refill over the window; none
    /// if every window holds.
    fn window_over(admitted: &[(u64, u64)], per_min: u64, with_last: bool) -> Option<String> {
        for i in 0..admitted.len() {
            let mut sum = 0u128;
            for j in i..admitted.len() {
                sum += u128::from(admitted[j].1);
                let counted = if with_last {
                    sum
                } else {
                    sum - u128::from(admitted[j].1)
                };
                let window = u128::from(admitted[j].0 - admitted[i].0);
                // In units: counted * U <= capacity + per_min * window (ticks).
                let lhs = counted * u128::from(UNITS_PER_TOKEN);
                let rhs = u128::from(per_min) * u128::from(UNITS_PER_TOKEN)
                    + u128::from(per_min) * window;
                if lhs > rhs {
                    return Some(format!("window {i}..={j}: {sum} tokens in {window} ticks"));
                }
            }
        }
        None
    }

    proptest! {
        /// Over any window of length W, a bucket admits at most
        /// capacity + rate * W tokens: the defining bound of a token bucket.
        #[test]
        fn never_admits_more_than_capacity_plus_refill_in_any_window(
            per_min in 1u64..500,
            requests in prop::collection::vec((0u64..3_000_000, 1u64..40), 1..300),
        ) {
            let admitted = admitted(TokenBucket::new(per_min), requests);
            prop_assert_eq!(window_over(&admitted, per_min, true), None);
        }

        /// An overdrawing bucket admits, over any window, at most its
        /// capacity plus its refill plus the last request it let through
        /// (the one that took it below empty).
        #[test]
        fn an_overdrawing_bucket_admits_at_most_one_request_more(
            per_min in 1u64..500,
            requests in prop::collection::vec((0u64..3_000_000, 1u64..1_000), 1..300),
        ) {
            let admitted = admitted(TokenBucket::new(per_min).overdrawing(), requests);
            prop_assert_eq!(window_over(&admitted, per_min, false), None);
        }

        #[test]
        fn level_stays_within_zero_and_capacity(
            ops in prop::collection::vec((0u64..5_000_000, 0u64..200, any::<bool>()), 1..200),
        ) {
            let mut bucket = TokenBucket::new(120);
            let mut now = 0u64;
            for (gap, tokens, refund) in ops {
                now += gap;
                let at = SimTime::from_ticks(now);
                if refund { bucket.refund(at, tokens) } else { bucket.try_take(at, tokens); }
                let level = bucket.available(at);
                prop_assert!((0.0..=120.0).contains(&level), "level {level}");
            }
        }
    }

    /// Azure's provisioned rule: a full bucket of 60 a minute admits a
    /// request of 100 (it holds something), owes 40, and admits the next
    /// only once the refill has repaid them and left a unit: 40 s and a
    /// tick later. Nothing is too large for it.
    #[test]
    fn an_overdrawing_bucket_admits_while_it_holds_anything() {
        let mut b = TokenBucket::new(60).overdrawing();
        assert!(b.can_ever_hold(u64::from(u32::MAX)));
        assert!(b.try_take(t(0.0), 100));
        assert_eq!(b.available(t(0.0)), -40.0);
        let wait = b.wait_for(t(0.0), 1).unwrap();
        assert_eq!(wait.ticks(), 40_000_001);
        assert!(!b.try_take(SimTime::from_ticks(wait.ticks() - 1), 1));
        assert!(b.try_take(SimTime::from_ticks(wait.ticks()), 1));
        // A refund repays the debt first, and still never overfills.
        b.refund(t(40.0), 1_000);
        assert_eq!(b.available(t(40.0)), 60.0);
    }

    #[test]
    fn a_burst_caps_what_the_bucket_holds_but_not_its_rate() {
        // 60 a minute, holding at most 5: five at once, then one a second.
        let mut b = TokenBucket::with_burst(60, 5);
        assert!(b.can_ever_hold(5) && !b.can_ever_hold(6));
        for _ in 0..5 {
            assert!(b.try_take(t(0.0), 1));
        }
        assert_eq!(b.wait_for(t(0.0), 1), Some(SimDuration::from_secs(1)));
        // An hour idle refills it to 5, not 60.
        assert_eq!(b.available(t(3600.0)), 5.0);
        assert_eq!(
            b.wait_for(t(3600.0), 6),
            None,
            "more than the burst never fits"
        );
        // A burst above a minute's worth holds more than the rate refills in a minute.
        let mut big = TokenBucket::with_burst(60, 600);
        assert!(big.try_take(t(0.0), 600));
        assert_eq!(big.available(t(60.0)), 60.0);
    }
}
