//! The AWS SDKs' retry quota ("standard" retry mode, the AWS SDKs and Tools
//! Reference Guide): a quota of 500 units; a retry costs 5, a retry after a
//! timeout 10; a retry is refused when the quota cannot pay for it; a
//! success gives back what its retry cost, or 1 if it was a first attempt.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryQuota {
    pub capacity: u32,
    pub retry_cost: u32,
    pub timeout_cost: u32,
    /// Added by a success that needed no retry.
    pub success_increment: u32,
}

impl Default for RetryQuota {
    fn default() -> Self {
        RetryQuota {
            capacity: 500,
            retry_cost: 5,
            timeout_cost: 10,
            success_increment: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryQuotaState {
    spec: RetryQuota,
    available: u32,
}

impl RetryQuotaState {
    pub fn new(spec: RetryQuota) -> Self {
        RetryQuotaState {
            spec,
            available: spec.capacity,
        }
    }

    /// Takes the cost of a retry after a timeout (or another failure); returns
    /// the cost taken, or `None` if the quota cannot pay and the retry is refused.
    pub fn acquire(&mut self, after_timeout: bool) -> Option<u32> {
        let cost = if after_timeout {
            self.spec.timeout_cost
        } else {
            self.spec.retry_cost
        };
        self.available = self.available.checked_sub(cost)?;
        Some(cost)
    }

    /// A success: refunds `retry_cost` (what its retry took), or adds the
    /// increment if the success needed no retry.
    pub fn on_success(&mut self, retry_cost: u32) {
        let back = if retry_cost > 0 {
            retry_cost
        } else {
            self.spec.success_increment
        };
        self.available = (self.available + back).min(self.spec.capacity);
    }

    pub fn available(&self) -> u32 {
        self.available
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_pays_for_retries_until_it_runs_dry() {
        let mut q = RetryQuotaState::new(RetryQuota::default());
        // 50 timeout retries at 10 each use up all 500.
        for _ in 0..50 {
            assert_eq!(q.acquire(true), Some(10));
        }
        assert_eq!(q.acquire(false), None, "not even 5 left");
        // A successful retry returns its cost; first-attempt successes add 1.
        q.on_success(10);
        assert_eq!(q.available(), 10);
        for _ in 0..5 {
            q.on_success(0);
        }
        assert_eq!(q.available(), 15);
        assert_eq!(q.acquire(false), Some(5));
        // Never above the capacity.
        let mut full = RetryQuotaState::new(RetryQuota::default());
        full.on_success(0);
        assert_eq!(full.available(), 500);
    }
}
