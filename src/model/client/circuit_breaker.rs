//! A circuit breaker (Nygard, "Release It!"): closed until
//! `failure_threshold` attempts fail in a row, then open (every request fails
//! fast on the client) for `open_for`, then half-open: `probes` requests go
//! through, and if all succeed it closes; a failure opens it again.

use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircuitBreaker {
    pub failure_threshold: u32,
    pub open_for: SimDuration,
    pub probes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed { failures: u32 },
    Open { until: SimTime },
    HalfOpen { sent: u32, succeeded: u32 },
}

#[derive(Clone, Copy, Debug)]
pub struct CircuitBreakerState {
    spec: CircuitBreaker,
    state: BreakerState,
}

impl CircuitBreakerState {
    pub fn new(spec: CircuitBreaker) -> Self {
        CircuitBreakerState {
            spec,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a request may go out now (counting it as a probe when half-open).
    pub fn admit(&mut self, now: SimTime) -> bool {
        if let BreakerState::Open { until } = self.state
            && now >= until
        {
            self.state = BreakerState::HalfOpen {
                sent: 0,
                succeeded: 0,
            };
        }
        match &mut self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { sent, .. } => {
                let admit = *sent < self.spec.probes;
                *sent += u32::from(admit);
                admit
            }
        }
    }

    pub fn on_success(&mut self) {
        match &mut self.state {
            BreakerState::Closed { failures } => *failures = 0,
            BreakerState::HalfOpen { succeeded, .. } => {
                *succeeded += 1;
                if *succeeded >= self.spec.probes {
                    self.state = BreakerState::Closed { failures: 0 };
                }
            }
            // A late answer to a request sent before the breaker opened.
            BreakerState::Open { .. } => {}
        }
    }

    pub fn on_failure(&mut self, now: SimTime) {
        let open = BreakerState::Open {
            until: now + self.spec.open_for,
        };
        match &mut self.state {
            BreakerState::Closed { failures } => {
                *failures += 1;
                if *failures >= self.spec.failure_threshold {
                    self.state = open;
                }
            }
            BreakerState::HalfOpen { .. } => self.state = open,
            BreakerState::Open { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_probes_then_closes() {
        let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
        let mut b = CircuitBreakerState::new(CircuitBreaker {
            failure_threshold: 3,
            open_for: SimDuration::from_secs(30),
            probes: 2,
        });
        b.on_failure(s(0));
        b.on_failure(s(1));
        b.on_success();
        b.on_failure(s(2));
        b.on_failure(s(3));
        assert!(b.admit(s(3)), "a success reset the run");
        b.on_failure(s(4));
        assert_eq!(b.state(), BreakerState::Open { until: s(34) });
        assert!(!b.admit(s(33)), "fails fast while open");
        assert!(b.admit(s(34)) && b.admit(s(34)), "two probes");
        assert!(!b.admit(s(34)), "no third probe");
        b.on_success();
        assert!(matches!(b.state(), BreakerState::HalfOpen { .. }));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        // A failed probe opens it again.
        for t in 40..43 {
            b.on_failure(s(t));
        }
        assert!(b.admit(s(80)));
        b.on_failure(s(80));
        assert_eq!(b.state(), BreakerState::Open { until: s(110) });
    }
}
