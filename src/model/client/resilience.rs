//! The client's resilience policies, as a model lists them, and their state
//! while it runs: the checks before a request goes out, the decision whether
//! a failed call may retry, and what each outcome teaches them.

use crate::engine::{SimTime, Stream};
use crate::model::client::adaptive_throttle::{AdaptiveThrottle, AdaptiveThrottleState};
use crate::model::client::circuit_breaker::{CircuitBreaker, CircuitBreakerState};
use crate::model::client::coordinated_throttle::{CoordinatedThrottle, Gate};
use crate::model::client::retry_budget::RetryBudget;
use crate::model::client::retry_quota::{RetryQuota, RetryQuotaState};
use crate::model::client::retry_throttle::{RetryThrottle, RetryThrottleState};

/// One policy of `client.policy` (at most one of each kind).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    RetryBudget(RetryBudget),
    RetryThrottle(RetryThrottle),
    RetryQuota(RetryQuota),
    AdaptiveThrottle(AdaptiveThrottle),
    CircuitBreaker(CircuitBreaker),
    Coordinated(CoordinatedThrottle),
}

impl Policy {
    pub fn kind(&self) -> &'static str {
        match self {
            Policy::RetryBudget(_) => "retry_budget",
            Policy::RetryThrottle(_) => "retry_throttle",
            Policy::RetryQuota(_) => "retry_quota",
            Policy::AdaptiveThrottle(_) => "adaptive_throttle",
            Policy::CircuitBreaker(_) => "circuit_breaker",
            Policy::Coordinated(_) => "coordinated",
        }
    }
}

/// Requests and retries in progress, for the retry budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InProgress {
    pub requests: u32,
    pub retries: u32,
}

/// The policies' state during a run.
pub struct Resilience {
    budget: Option<RetryBudget>,
    throttle: Option<RetryThrottleState>,
    quota: Option<RetryQuotaState>,
    adaptive: Option<AdaptiveThrottleState>,
    breaker: Option<CircuitBreakerState>,
    /// The coordinated throttle's gate, which the system drives directly.
    pub gate: Option<Gate>,
}

impl Resilience {
    pub fn new(policies: &[Policy]) -> Self {
        let mut r = Resilience {
            budget: None,
            throttle: None,
            quota: None,
            adaptive: None,
            breaker: None,
            gate: None,
        };
        for policy in policies {
            match *policy {
                Policy::RetryBudget(b) => r.budget = Some(b),
                Policy::RetryThrottle(t) => r.throttle = Some(RetryThrottleState::new(t)),
                Policy::RetryQuota(q) => r.quota = Some(RetryQuotaState::new(q)),
                Policy::AdaptiveThrottle(a) => r.adaptive = Some(AdaptiveThrottleState::new(a)),
                Policy::CircuitBreaker(c) => r.breaker = Some(CircuitBreakerState::new(c)),
                Policy::Coordinated(c) => r.gate = Some(Gate::new(c)),
            }
        }
        r
    }

    /// The client's own checks just before a request would go out: an open
    /// circuit fails it fast, adaptive throttling may reject it.
    #[inline]
    pub fn admit(&mut self, now: SimTime, rng: &mut Stream) -> bool {
        let breaker = self.breaker.as_mut().is_none_or(|b| b.admit(now));
        breaker && self.adaptive.as_mut().is_none_or(|a| a.admit(now, rng))
    }

    /// Whether a failed call may retry. On yes, returns what the retry quota
    /// charged for it (refunded if it succeeds).
    pub fn allow_retry(&mut self, after_timeout: bool, in_progress: InProgress) -> Option<u32> {
        if self
            .budget
            .is_some_and(|b| !b.allows(in_progress.retries, in_progress.requests))
        {
            return None;
        }
        if self.throttle.is_some_and(|t| !t.allows_retry()) {
            return None;
        }
        match &mut self.quota {
            Some(quota) => quota.acquire(after_timeout),
            None => Some(0),
        }
    }

    /// A request was answered at `now`; `quota_cost` is what its retry was charged.
    #[inline(always)]
    pub fn on_success(&mut self, now: SimTime, quota_cost: u32) {
        if let Some(adaptive) = &mut self.adaptive {
            adaptive.on_accept(now);
        }
        if let Some(t) = &mut self.throttle {
            t.on_success();
        }
        if let Some(q) = &mut self.quota {
            q.on_success(quota_cost);
        }
        if let Some(b) = &mut self.breaker {
            b.on_success();
        }
    }

    /// A request failed at the provider (refused, erred or timed out).
    pub fn on_failure(&mut self, now: SimTime) {
        if let Some(t) = &mut self.throttle {
            t.on_failure();
        }
        if let Some(b) = &mut self.breaker {
            b.on_failure(now);
        }
    }
}
