//! The client: its retry policy, and the resilience policies around it
//! (retry budgets, quotas and throttles, adaptive throttling, circuit
//! breakers, a rate cap, the coordinated throttle).

pub mod adaptive_throttle;
pub mod circuit_breaker;
pub mod coordinated_throttle;
pub mod policy;
pub mod rate_limit;
pub mod resilience;
pub mod retry_budget;
pub mod retry_quota;
pub mod retry_throttle;
