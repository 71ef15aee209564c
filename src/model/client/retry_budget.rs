//! A retry budget, as Envoy's (and Finagle's) proxies enforce it.
//!
//! Envoy (`retry_budget`, envoy.config.cluster.v3.CircuitBreakers): retries
//! in progress may not exceed `budget_percent` of the requests in progress,
//! but at least `min_retry_concurrency` retries are always allowed.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    /// Percent of requests in progress that may be retries (0 to 100).
    pub budget_percent: f64,
    pub min_retry_concurrency: u32,
}

impl RetryBudget {
    /// Whether one more retry may start, with `retries` of the `requests`
    /// now in progress (sent or backing off) already retries.
    pub fn allows(&self, retries: u32, requests: u32) -> bool {
        let budget = self.budget_percent / 100.0 * f64::from(requests);
        f64::from(retries) < budget.max(f64::from(self.min_retry_concurrency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_budget_or_its_floor() {
        let budget = RetryBudget {
            budget_percent: 20.0,
            min_retry_concurrency: 3,
        };
        // 100 requests in progress: 20 retries allowed.
        assert!(budget.allows(19, 100));
        assert!(!budget.allows(20, 100));
        // Few requests: the floor of 3 concurrent retries still holds.
        assert!(budget.allows(2, 5));
        assert!(!budget.allows(3, 5));
    }
}
