//! Resilience policies as written: a `kind` and that kind's own fields.

use serde::Deserialize;

use super::checks::{
    Checked, at_least, count_or, positive, positive_duration, positive_duration_or,
};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use super::tagged::Variants;
use crate::engine::SimDuration;
use crate::model::client::adaptive_throttle::AdaptiveThrottle;
use crate::model::client::circuit_breaker::CircuitBreaker;
use crate::model::client::coordinated_throttle::{CoordinatedThrottle, SpendCap};
use crate::model::client::rate_limit::RateLimit;
use crate::model::client::resilience::Policy;
use crate::model::client::retry_budget::RetryBudget;
use crate::model::client::retry_quota::RetryQuota;
use crate::model::client::retry_throttle::RetryThrottle;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawPolicy {
    RetryBudget(RawRetryBudget),
    RetryThrottle(RawRetryThrottle),
    RetryQuota(RawRetryQuota),
    AdaptiveThrottle(RawAdaptiveThrottle),
    CircuitBreaker(RawCircuitBreaker),
    Coordinated(RawCoordinated),
}

impl Variants for RawPolicy {
    const TAG: &'static str = "kind";
    type Common = super::tagged::NoCommon;
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryBudget {
    budget_percent: Number,
    min_retry_concurrency: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryThrottle {
    max_tokens: Number,
    token_ratio: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetryQuota {
    capacity: Option<Number>,
    retry_cost: Option<Number>,
    timeout_cost: Option<Number>,
    success_increment: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAdaptiveThrottle {
    k: Option<Number>,
    window: Option<Duration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreaker {
    failure_threshold: Option<Number>,
    open_for: Option<Duration>,
    probes: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCoordinated {
    requests_per_min: Option<Number>,
    burst: Option<Number>,
    shared_backoff: Option<bool>,
    spend_cap_usd: Option<Number>,
    spend_period: Option<Duration>,
}

impl RawPolicy {
    pub fn check(self, at: &FieldPath) -> Checked<Policy> {
        let field = |name: &str| at.child(name);
        Ok(match self {
            RawPolicy::RetryBudget(raw) => raw.check(at)?,
            RawPolicy::RetryThrottle(raw) => Policy::RetryThrottle(RetryThrottle {
                max_tokens: positive(&field("max_tokens"), raw.max_tokens)?,
                token_ratio: positive(&field("token_ratio"), raw.token_ratio)?,
            }),
            RawPolicy::RetryQuota(raw) => raw.check(at)?,
            RawPolicy::AdaptiveThrottle(raw) => Policy::AdaptiveThrottle(AdaptiveThrottle {
                k: raw.k.map_or(Ok(2.0), |k| {
                    at_least(&field("k"), k, 1.0, "; the SRE book uses 2")
                })?,
                window: positive_duration_or(
                    &field("window"),
                    raw.window,
                    SimDuration::from_secs(120),
                )?,
            }),
            RawPolicy::CircuitBreaker(raw) => Policy::CircuitBreaker(CircuitBreaker {
                failure_threshold: count_or(
                    &field("failure_threshold"),
                    raw.failure_threshold,
                    1,
                    5,
                )?,
                open_for: positive_duration_or(
                    &field("open_for"),
                    raw.open_for,
                    SimDuration::from_secs(30),
                )?,
                probes: count_or(&field("probes"), raw.probes, 1, 1)?,
            }),
            RawPolicy::Coordinated(raw) => raw.check(at)?,
        })
    }
}

impl RawRetryBudget {
    /// A retry budget: retries as a percentage of requests in progress, above a floor.
    fn check(&self, at: &FieldPath) -> Checked<Policy> {
        let field = |name: &str| at.child(name);
        let percent = self.budget_percent.0;
        if !(percent > 0.0 && percent <= 100.0) {
            return Err(Invalid::new(
                field("budget_percent"),
                format!("must be a percentage above 0, up to 100 (got {percent})"),
            ));
        }
        Ok(Policy::RetryBudget(RetryBudget {
            budget_percent: percent,
            // Envoy's default floor.
            min_retry_concurrency: count_or(
                &field("min_retry_concurrency"),
                self.min_retry_concurrency,
                0,
                3,
            )?,
        }))
    }
}

impl RawRetryQuota {
    /// A retry quota, AWS's defaults where not given.
    fn check(&self, at: &FieldPath) -> Checked<Policy> {
        let field = |name: &str| at.child(name);
        let aws = RetryQuota::default();
        Ok(Policy::RetryQuota(RetryQuota {
            capacity: count_or(&field("capacity"), self.capacity, 1, aws.capacity)?,
            retry_cost: count_or(&field("retry_cost"), self.retry_cost, 0, aws.retry_cost)?,
            timeout_cost: count_or(
                &field("timeout_cost"),
                self.timeout_cost,
                0,
                aws.timeout_cost,
            )?,
            success_increment: count_or(
                &field("success_increment"),
                self.success_increment,
                0,
                aws.success_increment,
            )?,
        }))
    }
}

impl RawCoordinated {
    /// A coordinated throttle: a shared rate, a shared backoff and a spend cap.
    fn check(&self, at: &FieldPath) -> Checked<Policy> {
        let field = |name: &str| at.child(name);
        let burst = count_or(&field("burst"), self.burst, 1, 1)?;
        let rate = self
            .requests_per_min
            .map(|n| positive(&field("requests_per_min"), n).map(|r| RateLimit::new(r, burst)))
            .transpose()?;
        if self.spend_period.is_some() && self.spend_cap_usd.is_none() {
            return Err(Invalid::new(
                field("spend_period"),
                "is the period of a spend cap: set spend_cap_usd too",
            ));
        }
        let spend_cap = self
            .spend_cap_usd
            .map(|usd| {
                Ok(SpendCap {
                    usd: positive(&field("spend_cap_usd"), usd)?,
                    period: self
                        .spend_period
                        .map(|p| positive_duration(&field("spend_period"), p))
                        .transpose()?,
                })
            })
            .transpose()?;
        Ok(Policy::Coordinated(CoordinatedThrottle {
            rate,
            shared_backoff: self.shared_backoff.unwrap_or(true),
            spend_cap,
        }))
    }
}
