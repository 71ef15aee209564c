//! The coordinated client-side throttle that teams running many agents build:
//! one gate that every agent's requests pass through, with a team-wide rate,
//! priority tiers, a shared backoff (one 429 pauses every agent) and a spend
//! cap that pauses every agent once reached. (Each agent's own cap is
//! `client.agent_rate_limit`.)

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::{Key, SimDuration, SimTime};
use crate::model::client::rate_limit::RateLimit;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CoordinatedThrottle {
    /// The team's request rate through the gate, if capped.
    pub rate: Option<RateLimit>,
    /// A 429's retry-after pauses every agent, not just the one refused.
    pub shared_backoff: bool,
    pub spend_cap: Option<SpendCap>,
}

/// Stop sending once `usd` has been spent, until the period ends (or for good).
/// A request is charged its worst-case cost (its `max_tokens` of output) as
/// it passes the gate, and the charge is corrected to what it really cost
/// when it finishes, so requests in flight count against the cap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpendCap {
    pub usd: f64,
    pub period: Option<SimDuration>,
}

/// What the spend cap charged one call in advance (its worst case), and in
/// which period, so the correction lands in that period's books.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Charge {
    pub usd: f64,
    period: u64,
}

/// The gate's state: waiting calls, by priority (higher first) then arrival.
pub struct Gate {
    spec: CoordinatedThrottle,
    tat: SimTime,
    paused_until: SimTime,
    spent: f64,
    period: u64,
    queue: BinaryHeap<(u8, Reverse<u64>, Key)>,
    seq: u64,
}

impl Gate {
    pub fn new(spec: CoordinatedThrottle) -> Self {
        Gate {
            spec,
            tat: SimTime::ZERO,
            paused_until: SimTime::ZERO,
            spent: 0.0,
            period: 0,
            queue: BinaryHeap::new(),
            seq: 0,
        }
    }

    fn roll_period(&mut self, now: SimTime) {
        if let Some(period) = self.spec.spend_cap.and_then(|c| c.period) {
            let current = now.ticks() / period.ticks().max(1);
            if current != self.period {
                self.period = current;
                self.spent = 0.0;
            }
        }
    }

    /// When the gate next lets a request through (now, if open); `None` if a
    /// spend cap without a period has closed it for good.
    pub fn opens_at(&mut self, now: SimTime) -> Option<SimTime> {
        self.roll_period(now);
        let mut at = now.max(self.paused_until);
        if let Some(cap) = self.spec.spend_cap
            && self.spent >= cap.usd
        {
            let period = cap.period?;
            let next = (self.period + 1) * period.ticks();
            at = at.max(SimTime::from_ticks(next));
        }
        if let Some(rate) = &self.spec.rate {
            at = at.max(rate.next_slot(self.tat));
        }
        Some(at)
    }

    /// A call costing at most `cost` wants to send: its charge if it may go
    /// now (taking a slot and charging `cost`), `None` if it must wait in the
    /// queue for [`Gate::release`].
    pub fn request(&mut self, now: SimTime, priority: u8, call: Key, cost: f64) -> Option<Charge> {
        if self.queue.is_empty() && self.opens_at(now) == Some(now) {
            return Some(self.take(now, cost));
        }
        self.seq += 1;
        self.queue.push((priority, Reverse(self.seq), call));
        None
    }

    fn take(&mut self, now: SimTime, cost: f64) -> Charge {
        if let Some(rate) = &self.spec.rate {
            rate.release(now, &mut self.tat);
        }
        self.roll_period(now);
        self.spent += cost;
        Charge {
            usd: cost,
            period: self.period,
        }
    }

    /// The gate is open at `now`: the highest-priority waiting call that is
    /// still wanted goes, charged its cost. `cost` says what a call costs at
    /// most, or `None` if it is no longer wanted (its loop ended): such calls
    /// are dropped without taking a slot.
    pub fn release(
        &mut self,
        now: SimTime,
        mut cost: impl FnMut(Key) -> Option<f64>,
    ) -> Option<(Key, Charge)> {
        if self.opens_at(now) != Some(now) {
            return None;
        }
        while let Some((_, _, call)) = self.queue.pop() {
            if let Some(cost) = cost(call) {
                return Some((call, self.take(now, cost)));
            }
        }
        None
    }

    pub fn has_waiting(&self) -> bool {
        !self.queue.is_empty()
    }

    /// A 429 told one agent to wait `retry_after`: with a shared backoff, all wait.
    pub fn on_rate_limited(&mut self, now: SimTime, retry_after: SimDuration) {
        if self.spec.shared_backoff {
            self.paused_until = self.paused_until.max(now + retry_after);
        }
    }

    /// Corrects `charge` to what its call really cost (nothing, if it never
    /// reached the provider). A charge from a period that has ended is not
    /// corrected: that period's books are closed, and the new period's spend
    /// must not go below what it has charged itself.
    pub fn settle(&mut self, now: SimTime, charge: Charge, cost: f64) {
        self.roll_period(now);
        if charge.period == self.period {
            self.spent += cost - charge.usd;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Slab;

    fn s(x: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(x)
    }

    fn gate(spec: CoordinatedThrottle) -> (Gate, Vec<Key>) {
        let mut slab = Slab::new();
        (Gate::new(spec), (0..6).map(|i| slab.insert(i)).collect())
    }

    const OPEN: CoordinatedThrottle = CoordinatedThrottle {
        rate: None,
        shared_backoff: true,
        spend_cap: None,
    };

    #[test]
    fn waiting_calls_leave_by_priority_then_in_order() {
        let (mut g, k) = gate(CoordinatedThrottle {
            rate: Some(RateLimit::new(60.0, 1)),
            ..OPEN
        });
        let any = |_| Some(0.0);
        assert!(
            g.request(s(0), 0, k[0], 0.0).is_some(),
            "the first goes at once"
        );
        assert!(g.request(s(0), 0, k[1], 0.0).is_none());
        assert!(g.request(s(0), 5, k[2], 0.0).is_none());
        assert!(g.request(s(0), 0, k[3], 0.0).is_none());
        assert!(g.request(s(0), 0, k[4], 0.0).is_none());
        assert_eq!(g.opens_at(s(0)), Some(s(1)));
        assert_eq!(g.release(s(0), any), None, "not yet");
        assert_eq!(
            g.release(s(1), any).map(|(call, _)| call),
            Some(k[2]),
            "the high-priority call first"
        );
        // A call no longer wanted is dropped without using the slot.
        assert_eq!(
            g.release(s(2), |c| (c != k[1]).then_some(0.0))
                .map(|(call, _)| call),
            Some(k[3])
        );
        assert_eq!(g.release(s(3), any).map(|(call, _)| call), Some(k[4]));
        assert!(!g.has_waiting());
    }

    #[test]
    fn one_429_pauses_every_agent() {
        let (mut g, k) = gate(OPEN);
        g.on_rate_limited(s(10), SimDuration::from_secs(5));
        assert!(g.request(s(12), 0, k[0], 0.0).is_none());
        assert_eq!(g.opens_at(s(12)), Some(s(15)));
        assert_eq!(
            g.release(s(15), |_| Some(0.0)).map(|(call, _)| call),
            Some(k[0])
        );
        let (mut private, k) = gate(CoordinatedThrottle {
            shared_backoff: false,
            ..OPEN
        });
        private.on_rate_limited(s(10), SimDuration::from_secs(5));
        assert!(private.request(s(12), 0, k[0], 0.0).is_some());
    }

    #[test]
    fn the_spend_cap_pauses_everyone_until_the_period_ends() {
        let (mut g, k) = gate(CoordinatedThrottle {
            spend_cap: Some(SpendCap {
                usd: 10.0,
                period: Some(SimDuration::from_secs(3600)),
            }),
            ..OPEN
        });
        assert!(
            g.request(s(100), 0, k[0], 6.0).is_some(),
            "charged 6 of 10 dollars"
        );
        let second = g.request(s(150), 0, k[1], 5.0);
        assert!(second.is_some(), "11 of 10: this one went, the next waits");
        g.settle(s(160), second.unwrap(), 3.0);
        assert!(
            g.request(s(170), 0, k[2], 1.0).is_some(),
            "a correction gave 2 back: 10 of 10"
        );
        assert!(g.request(s(300), 0, k[3], 1.0).is_none());
        assert_eq!(g.opens_at(s(300)), Some(s(3600)));
        let (call, _) = g.release(s(3600), |_| Some(1.0)).unwrap();
        assert_eq!(call, k[3], "a new period, a new budget");
        let (mut once, k) = gate(CoordinatedThrottle {
            spend_cap: Some(SpendCap {
                usd: 1.0,
                period: None,
            }),
            ..OPEN
        });
        assert!(once.request(s(0), 0, k[0], 2.0).is_some());
        assert!(once.request(s(1), 0, k[1], 0.0).is_none());
        assert_eq!(once.opens_at(s(99_999)), None, "closed for good");
    }

    #[test]
    fn a_charge_from_an_ended_period_is_not_refunded_into_the_next() {
        let (mut g, k) = gate(CoordinatedThrottle {
            spend_cap: Some(SpendCap {
                usd: 10.0,
                period: Some(SimDuration::from_secs(60)),
            }),
            ..OPEN
        });
        // A worst case of 9 dollars charged at 50 s; the call is billed 1
        // dollar at 70 s, in the next period.
        let early = g.request(s(50), 0, k[0], 9.0).unwrap();
        let late = g.request(s(65), 0, k[1], 10.0).unwrap();
        g.settle(s(70), early, 1.0);
        // The new period has charged itself 10: with the old charge's 8
        // refunded into it, it would read 2 and let another 8 through.
        assert!(
            g.request(s(80), 0, k[2], 8.0).is_none(),
            "the cap of 10 per period was exceeded"
        );
        g.settle(s(90), late, 4.0);
        let (call, _) = g
            .release(s(100), |_| Some(5.0))
            .expect("this period's own correction still counts: 4 + 5 of 10");
        assert_eq!(call, k[2]);
    }
}
