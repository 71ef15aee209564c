//! The client as written: attempts, backoff and jitter, retry-after,
//! timeout, the per-agent rate limit and resilience policies.

use serde::Deserialize;

use super::checks::{Checked, at_least, positive, positive_duration, whole};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::policy::RawPolicy;
use super::quantity::{Duration, Number};
use super::tagged::{Tagged, Variants};
use crate::engine::SimDuration;
use crate::model::client::policy::{Backoff, ClientPolicy, Jitter, OnCallFailure, RetryAfter};
use crate::model::client::rate_limit::RateLimit;
use crate::model::client::resilience::Policy;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    max_attempts: Option<Number>,
    backoff: Option<Tagged<RawBackoff>>,
    /// Accepted for older models: true is retry_after = "exact", false "ignore".
    honor_retry_after: Option<bool>,
    retry_after: Option<RetryAfter>,
    on_call_failure: Option<OnCallFailure>,
    retry_too_large: Option<bool>,
    timeout: Option<Duration>,
    agent_rate_limit: Option<RawAgentRateLimit>,
    #[serde(default)]
    policy: Vec<Tagged<RawPolicy>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAgentRateLimit {
    per_min: Number,
    burst: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawBackoff {
    None(RawNoBackoff),
    Constant(RawConstantBackoff),
    Exponential(RawExponentialBackoff),
}

impl Variants for RawBackoff {
    const TAG: &'static str = "kind";
    type Common = super::tagged::NoCommon;
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNoBackoff {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConstantBackoff {
    delay: Duration,
    jitter: Option<Jitter>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExponentialBackoff {
    base: Duration,
    cap: Option<Duration>,
    multiplier: Option<Number>,
    jitter: Option<Jitter>,
}

impl RawClient {
    pub fn check(&self) -> Checked<ClientPolicy> {
        let at = FieldPath::root("client");
        let defaults = ClientPolicy::default();
        let policies = self
            .policy
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let at = at.child("policy").child(i);
                p.read(&at)?.check(&at)
            })
            .collect::<Checked<Vec<_>>>()?;
        let kinds: Vec<&str> = policies.iter().map(Policy::kind).collect();
        if let Some((i, kind)) = kinds
            .iter()
            .enumerate()
            .find(|(i, k)| kinds[..*i].contains(k))
        {
            return Err(Invalid::new(
                at.child("policy").child(i).child("kind"),
                format!("a second {kind} policy: give each kind at most once"),
            ));
        }
        Ok(ClientPolicy {
            max_attempts: self
                .max_attempts
                .map(|n| whole(&at.child("max_attempts"), n, 1, 1000))
                .transpose()?
                .map_or(defaults.max_attempts, |n| n as u32),
            backoff: match &self.backoff {
                Some(b) => {
                    let at = at.child("backoff");
                    b.read(&at)?.check(&at)?
                }
                None => defaults.backoff,
            },
            retry_after: match (self.retry_after, self.honor_retry_after) {
                (Some(_), Some(_)) => {
                    return Err(Invalid::new(
                        at.child("honor_retry_after"),
                        "give retry_after or the older honor_retry_after, not both",
                    ));
                }
                (Some(mode), None) => mode,
                (None, Some(true)) => RetryAfter::Exact,
                (None, Some(false)) => RetryAfter::Ignore,
                (None, None) => defaults.retry_after,
            },
            on_call_failure: self.on_call_failure.unwrap_or(defaults.on_call_failure),
            retry_too_large: self.retry_too_large.unwrap_or(defaults.retry_too_large),
            timeout: self
                .timeout
                .map(|d| positive_duration(&at.child("timeout"), d))
                .transpose()?,
            agent_rate_limit: self
                .agent_rate_limit
                .as_ref()
                .map(|r| {
                    let at = at.child("agent_rate_limit");
                    let per_min = positive(&at.child("per_min"), r.per_min)?;
                    let burst = r
                        .burst
                        .map(|b| whole(&at.child("burst"), b, 1, 1_000_000))
                        .transpose()?
                        .unwrap_or(1) as u32;
                    Ok(RateLimit::new(per_min, burst))
                })
                .transpose()?,
            policies,
        })
    }
}

impl RawBackoff {
    fn check(self, at: &FieldPath) -> Checked<Backoff> {
        Ok(match self {
            RawBackoff::None(RawNoBackoff {}) => Backoff::None,
            RawBackoff::Constant(raw) => {
                let jitter = raw.jitter.unwrap_or(Jitter::None);
                if jitter == Jitter::Decorrelated {
                    return Err(Invalid::new(
                        at.child("jitter"),
                        "decorrelated jitter grows from base towards cap: use it with kind = \"exponential\"",
                    ));
                }
                Backoff::Constant {
                    delay: raw.delay.0,
                    jitter,
                }
            }
            RawBackoff::Exponential(raw) => {
                let base = positive_duration(&at.child("base"), raw.base)?;
                let cap = raw.cap.map_or(SimDuration::from_secs(60), |c| c.0);
                if cap < base {
                    return Err(Invalid::new(
                        at.child("cap"),
                        format!("must be >= base ({cap} < {base}; cap defaults to 60s)"),
                    ));
                }
                Backoff::Exponential {
                    base,
                    cap,
                    multiplier: raw
                        .multiplier
                        .map_or(Ok(2.0), |m| at_least(&at.child("multiplier"), m, 1.0, ""))?,
                    jitter: raw.jitter.unwrap_or(Jitter::None),
                }
            }
        })
    }
}
