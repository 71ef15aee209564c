//! A rate cap enforced by delaying requests: the generic cell rate algorithm.

use crate::engine::{SimDuration, SimTime};

/// A rate cap with a burst allowance, as the generic cell rate algorithm's
/// virtual scheduling (ITU-T I.371): requests are spaced `interval` apart,
/// except that up to `burst` may go back to back. A request over the cap is
/// delayed, not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    interval: SimDuration,
    /// How far ahead of schedule a request may go: (burst − 1) intervals.
    tolerance: SimDuration,
}

impl RateLimit {
    /// `per_min` requests a minute (> 0), `burst` (>= 1) at once.
    pub fn new(per_min: f64, burst: u32) -> Self {
        let interval = SimDuration::from_secs_f64(60.0 / per_min);
        RateLimit {
            interval,
            tolerance: SimDuration::from_ticks(
                interval.ticks().saturating_mul(u64::from(burst.max(1) - 1)),
            ),
        }
    }

    /// When a request the agent wants to send at `now` may go. `tat` is the
    /// agent's theoretical arrival time (start at zero); it is updated.
    pub fn release(&self, now: SimTime, tat: &mut SimTime) -> SimTime {
        let send = now.max(tat.saturating_sub(self.tolerance));
        *tat = (*tat).max(send) + self.interval;
        send
    }

    /// When the next request may go under theoretical arrival time `tat`.
    pub fn next_slot(&self, tat: SimTime) -> SimTime {
        tat.saturating_sub(self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_requests_after_a_burst() {
        let secs = |s: f64| SimTime::ZERO + SimDuration::from_secs_f64(s);
        // 8 a minute: one every 7.5 s; a burst of 3 goes at once.
        let limit = RateLimit::new(8.0, 3);
        let mut tat = SimTime::ZERO;
        let sends: Vec<f64> = (0..6)
            .map(|_| limit.release(secs(10.0), &mut tat).as_secs_f64())
            .collect();
        assert_eq!(sends, [10.0, 10.0, 10.0, 17.5, 25.0, 32.5]);
        // After a quiet spell the burst allowance is back.
        assert_eq!(limit.release(secs(100.0), &mut tat), secs(100.0));
        assert_eq!(limit.release(secs(100.0), &mut tat), secs(100.0));
        // With no burst, requests never come closer than the interval.
        let spaced = RateLimit::new(8.0, 1);
        let mut tat = SimTime::ZERO;
        assert_eq!(spaced.release(secs(0.0), &mut tat), secs(0.0));
        assert_eq!(spaced.release(secs(1.0), &mut tat), secs(7.5));
    }
}
