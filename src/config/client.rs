//! The client as written: attempts, backoff and jitter, retry-after,
//! timeout, the per-agent rate limit and resilience policies.

use serde::Deserialize;

use super::checks::{Checked, at_least, positive, positive_duration, probability, whole};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::policy::RawPolicy;
use super::presets;
use super::quantity::{Duration, Number};
use super::tagged::{Tagged, Variants};
use crate::engine::SimDuration;
use crate::model::client::policy::{Backoff, ClientPolicy, Jitter, OnCallFailure, RetryAfter};
use crate::model::client::rate_limit::RateLimit;
use crate::model::client::resilience::Policy;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// A client preset (`loopcap presets`): an SDK's retry behaviour, each
    /// key given beside it replacing the preset's.
    preset: Option<String>,
    max_attempts: Option<Number>,
    backoff: Option<Tagged<RawBackoff>>,
    /// Accepted for older models: true is retry_after = "exact", false "ignore".
    honor_retry_after: Option<bool>,
    retry_after: Option<RawRetryAfter>,
    /// With `retry_after = "capped"`: the longest retry-after taken as given.
    retry_after_max: Option<Duration>,
    on_call_failure: Option<OnCallFailure>,
    retry_too_large: Option<bool>,
    timeout: Option<Duration>,
    agent_rate_limit: Option<RawAgentRateLimit>,
    #[serde(default)]
    policy: Vec<Tagged<RawPolicy>>,
}

/// What a client does with a provider's retry-after, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawRetryAfter {
    Exact,
    AtLeast,
    /// Taken as given up to `retry_after_max`, else the backoff.
    Capped,
    /// The older name of the Anthropic Python SDK's rule: `capped` at its
    /// preset's `retry_after_max`.
    Sdk,
    Ignore,
}

/// A backoff's jitter, as written; `partial` takes `jitter_share`,
/// `added` takes `jitter_max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawJitter {
    None,
    Full,
    Equal,
    Decorrelated,
    Partial,
    Added,
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
    jitter: Option<RawJitter>,
    jitter_share: Option<Number>,
    jitter_max: Option<Duration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExponentialBackoff {
    base: Duration,
    cap: Option<Duration>,
    multiplier: Option<Number>,
    /// The shortest delay; full jitter draws from it (tenacity's `min`).
    min: Option<Duration>,
    jitter: Option<RawJitter>,
    /// With `jitter = "partial"`: the most of a delay taken off (0.25 in
    /// the SDKs: `1 - 0.25 * random()`).
    jitter_share: Option<Number>,
    /// With `jitter = "added"`: the most added to a delay (LiteLLM's 0.75 s).
    jitter_max: Option<Duration>,
}

impl RawClient {
    /// The client policy, its preset's keys filling those not given.
    pub fn check(self) -> Checked<ClientPolicy> {
        let at = FieldPath::root("client");
        match &self.preset {
            Some(name) => {
                let preset = preset(name).ok_or_else(|| {
                    Invalid::new(
                        at.child("preset"),
                        format!(
                            "no client preset `{name}`; `loopcap presets` lists them: {}",
                            presets::names(presets::Fills::Client).join(", ")
                        ),
                    )
                })?;
                self.over(preset).checked(&at)
            }
            None => self.checked(&at),
        }
    }

    /// These keys over `preset`'s: each given here replaces the preset's,
    /// `backoff` whole; a retry-after mode given here comes without the
    /// preset's `retry_after_max`.
    fn over(self, preset: RawClient) -> RawClient {
        let mode_given = self.retry_after.is_some() || self.honor_retry_after.is_some();
        RawClient {
            preset: None,
            max_attempts: self.max_attempts.or(preset.max_attempts),
            backoff: self.backoff.or(preset.backoff),
            honor_retry_after: self.honor_retry_after,
            retry_after: if mode_given {
                self.retry_after
            } else {
                preset.retry_after
            },
            retry_after_max: if mode_given {
                self.retry_after_max
            } else {
                self.retry_after_max.or(preset.retry_after_max)
            },
            on_call_failure: self.on_call_failure.or(preset.on_call_failure),
            retry_too_large: self.retry_too_large.or(preset.retry_too_large),
            timeout: self.timeout.or(preset.timeout),
            agent_rate_limit: self.agent_rate_limit.or(preset.agent_rate_limit),
            policy: if self.policy.is_empty() {
                preset.policy
            } else {
                self.policy
            },
        }
    }

    fn checked(self, at: &FieldPath) -> Checked<ClientPolicy> {
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
            retry_after: self.retry_after_mode(at, defaults.retry_after)?,
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

impl RawClient {
    /// What the client does with a retry-after.
    fn retry_after_mode(&self, at: &FieldPath, default: RetryAfter) -> Checked<RetryAfter> {
        let capped = self.retry_after == Some(RawRetryAfter::Capped);
        if self.retry_after_max.is_some() && !capped {
            return Err(Invalid::new(
                at.child("retry_after_max"),
                "only with retry_after = \"capped\": the longest retry-after taken as given",
            ));
        }
        Ok(match (self.retry_after, self.honor_retry_after) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at.child("honor_retry_after"),
                    "give retry_after or the older honor_retry_after, not both",
                ));
            }
            (Some(RawRetryAfter::Exact), None) | (None, Some(true)) => RetryAfter::Exact,
            (Some(RawRetryAfter::AtLeast), None) => RetryAfter::AtLeast,
            (Some(RawRetryAfter::Ignore), None) | (None, Some(false)) => RetryAfter::Ignore,
            (Some(RawRetryAfter::Capped), None) => {
                let max = self.retry_after_max.ok_or_else(|| {
                    Invalid::new(
                        at.child("retry_after_max"),
                        "missing: with retry_after = \"capped\", the longest retry-after taken as given (the Anthropic Python SDK's 60s)",
                    )
                })?;
                RetryAfter::Capped(positive_duration(&at.child("retry_after_max"), max)?)
            }
            (Some(RawRetryAfter::Sdk), None) => RetryAfter::Capped(
                preset(SDK)
                    .and_then(|c| c.retry_after_max)
                    .expect(
                        "the anthropic-python preset names its retry_after_max (a test checks it)",
                    )
                    .0,
            ),
            (None, None) => default,
        })
    }
}

/// The preset whose retry-after rule `retry_after = "sdk"` (the older name
/// of that rule) names.
const SDK: &str = "anthropic-python";

/// Client preset `name` as written in presets/clients.toml.
fn preset(name: &str) -> Option<RawClient> {
    presets::client_table(name).map(|table| {
        table
            .try_into()
            .expect("every client preset reads (a test reads each)")
    })
}

/// A backoff's jitter: `partial` with its `jitter_share`, `added` with its
/// `jitter_max`, the others alone.
fn jitter(
    at: &FieldPath,
    name: Option<RawJitter>,
    share: Option<Number>,
    max: Option<Duration>,
) -> Checked<Jitter> {
    let name = name.unwrap_or(RawJitter::None);
    if share.is_some() && name != RawJitter::Partial {
        return Err(Invalid::new(
            at.child("jitter_share"),
            "only with jitter = \"partial\"",
        ));
    }
    if max.is_some() && name != RawJitter::Added {
        return Err(Invalid::new(
            at.child("jitter_max"),
            "only with jitter = \"added\"",
        ));
    }
    Ok(match name {
        RawJitter::None => Jitter::None,
        RawJitter::Full => Jitter::Full,
        RawJitter::Equal => Jitter::Equal,
        RawJitter::Decorrelated => Jitter::Decorrelated,
        RawJitter::Partial => {
            let share = share.ok_or_else(|| {
                Invalid::new(
                    at.child("jitter_share"),
                    "missing: with jitter = \"partial\", the most of a delay taken off, above 0 and at most 1 (the SDKs' 0.25)",
                )
            })?;
            Jitter::Partial(probability(&at.child("jitter_share"), share)?)
        }
        RawJitter::Added => {
            let max = max.ok_or_else(|| {
                Invalid::new(
                    at.child("jitter_max"),
                    "missing: with jitter = \"added\", the most added to a delay (LiteLLM's 0.75s)",
                )
            })?;
            Jitter::Added(positive_duration(&at.child("jitter_max"), max)?)
        }
    })
}

impl RawBackoff {
    fn check(self, at: &FieldPath) -> Checked<Backoff> {
        Ok(match self {
            RawBackoff::None(RawNoBackoff {}) => Backoff::None,
            RawBackoff::Constant(raw) => {
                let jitter = jitter(at, raw.jitter, raw.jitter_share, raw.jitter_max)?;
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
                let min = raw.min.map_or(SimDuration::ZERO, |m| m.0);
                if min > cap {
                    return Err(Invalid::new(
                        at.child("min"),
                        format!("must be <= cap ({min} > {cap}; cap defaults to 60s)"),
                    ));
                }
                Backoff::Exponential {
                    base,
                    cap,
                    multiplier: raw
                        .multiplier
                        .map_or(Ok(2.0), |m| at_least(&at.child("multiplier"), m, 1.0, ""))?,
                    min,
                    jitter: jitter(at, raw.jitter, raw.jitter_share, raw.jitter_max)?,
                }
            }
        })
    }
}
