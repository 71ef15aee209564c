//! Client-side adaptive throttling (Google, "Site Reliability Engineering",
//! ch. 21 "Handling Overload"): each client rejects requests locally with
//! probability max(0, (requests − K·accepts) / (requests + 1)), counted over
//! a sliding window, so the backend sees about K times what it accepts.
//!
//! An accept is a request the client got an answer to. A refusal, an error
//! and the client's own timeout all count against it, as gRPC's adaptive
//! throttler counts them (grpc-java's RLS client calls
//! `registerBackendResponse(true)`, throttled, on any error, a deadline
//! exceeded included): a request that waits in a queue past the client's
//! timeout tells the client nothing was accepted.

use rand::RngExt;

use crate::engine::{SimDuration, SimTime, Stream};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveThrottle {
    /// How many requests per accepted one the client will still send (2 in the book).
    pub k: f64,
    pub window: SimDuration,
}

/// Buckets the window is divided into: expiry is exact to 1/60 of the window.
const BUCKETS: usize = 60;

/// Requests and accepts over a sliding window, in fixed memory.
#[derive(Clone, Debug)]
pub struct AdaptiveThrottleState {
    spec: AdaptiveThrottle,
    width: u64,
    /// Per bucket: (requests, accepts); bucket b sits at b % BUCKETS.
    ring: [(u64, u64); BUCKETS],
    /// Totals over the ring.
    requests: u64,
    accepts: u64,
    /// The bucket `now` fell in when last seen.
    current: u64,
}

impl AdaptiveThrottleState {
    pub fn new(spec: AdaptiveThrottle) -> Self {
        AdaptiveThrottleState {
            spec,
            width: (spec.window.ticks() / BUCKETS as u64).max(1),
            ring: [(0, 0); BUCKETS],
            requests: 0,
            accepts: 0,
            current: 0,
        }
    }

    /// Drops the buckets that have left the window by `now`.
    fn advance(&mut self, now: SimTime) {
        let bucket = now.ticks() / self.width;
        if bucket <= self.current {
            return;
        }
        if bucket - self.current >= BUCKETS as u64 {
            self.ring = [(0, 0); BUCKETS];
            self.requests = 0;
            self.accepts = 0;
        } else {
            for b in self.current + 1..=bucket {
                let slot = &mut self.ring[(b % BUCKETS as u64) as usize];
                self.requests -= slot.0;
                self.accepts -= slot.1;
                *slot = (0, 0);
            }
        }
        self.current = bucket;
    }

    /// The probability of rejecting the next request locally.
    pub fn rejection_probability(&mut self, now: SimTime) -> f64 {
        self.advance(now);
        let (requests, accepts) = (self.requests as f64, self.accepts as f64);
        ((requests - self.spec.k * accepts) / (requests + 1.0)).max(0.0)
    }

    /// Counts a request and decides whether to reject it locally.
    pub fn admit(&mut self, now: SimTime, rng: &mut Stream) -> bool {
        let p = self.rejection_probability(now);
        self.count(now, 1, 0);
        !(p > 0.0 && rng.random::<f64>() < p)
    }

    /// The backend answered a request.
    pub fn on_accept(&mut self, now: SimTime) {
        self.count(now, 0, 1);
    }

    fn count(&mut self, now: SimTime, requests: u64, accepts: u64) {
        self.advance(now);
        let slot = &mut self.ring[(self.current % BUCKETS as u64) as usize];
        slot.0 += requests;
        slot.1 += accepts;
        self.requests += requests;
        self.accepts += accepts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    fn spec() -> AdaptiveThrottle {
        AdaptiveThrottle {
            k: 2.0,
            window: SimDuration::from_secs(120),
        }
    }

    fn at(s: f64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs_f64(s)
    }

    #[test]
    fn the_probability_follows_the_formula_and_forgets_after_the_window() {
        let mut t = AdaptiveThrottleState::new(spec());
        let mut rng = RandomStreams::new(1).stream("sre");
        // 100 requests, 10 accepted: p = (100 − 20) / 101 once they are in.
        for i in 0..100 {
            t.count(at(f64::from(i)), 1, 0);
        }
        for i in 0..10 {
            t.on_accept(at(f64::from(i)));
        }
        let p = t.rejection_probability(at(100.0));
        assert!((p - 80.0 / 101.0).abs() < 1e-12, "{p}");
        // Two minutes later, only what happened since counts.
        assert_eq!(t.rejection_probability(at(300.0)), 0.0);
        assert!(t.admit(at(300.0), &mut rng));
    }

    #[test]
    fn with_k_2_the_backend_sees_about_twice_what_it_accepts() {
        // The client wants 100 requests a second; the backend accepts at most
        // 10 a second and rejects the rest. In steady state the client lets
        // through K × accepts = 20 a second. Over 1,000 s the counts are in
        // the tens of thousands, so ±5% is several standard errors.
        let mut t = AdaptiveThrottleState::new(spec());
        let mut rng = RandomStreams::new(2).stream("sre");
        let (mut sent, mut accepted) = (0u32, 0u32);
        let (mut second, mut this_second) = (0u64, 0u32);
        for i in 0..100_000 {
            let now = at(f64::from(i) * 0.01);
            if !t.admit(now, &mut rng) {
                continue;
            }
            sent += 1;
            if now.ticks() / 1_000_000 != second {
                (second, this_second) = (now.ticks() / 1_000_000, 0);
            }
            if this_second < 10 {
                this_second += 1;
                accepted += 1;
                t.on_accept(now);
            }
        }
        let ratio = f64::from(sent) / f64::from(accepted);
        assert!(
            (ratio - 2.0).abs() < 0.1,
            "sent {sent}, accepted {accepted}"
        );
        assert!(accepted > 9_000, "the backend stays busy: {accepted}");
    }
}
