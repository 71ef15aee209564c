//! Raw model → validated [`ModelSpec`]: every invariant checked, every
//! problem reported at its dotted path with what a valid value looks like.

use std::path::Path;

use super::diagnostic::Invalid;
use super::empirical::read_column;
use super::locate::value_at;
use super::quantity::{Duration, Number, Quantity, parse_duration};
use super::raw::{
    ArrivalProcess, BackoffKind, CapacityKind, DistKind, FaultKind as RawFaultKind, JitterKind,
    PolicyKind, RawAgent, RawArrivals, RawBackoff, RawCapacity, RawClient, RawDist, RawDistTable,
    RawFault, RawModel, RawOverload, RawPolicy, RawPrices, RawUserClass,
};
use crate::engine::{SimDuration, SimTime};
use crate::model::ModelSpec;
use crate::model::adaptive_throttle::AdaptiveThrottle;
use crate::model::agent_loop::{AgentProfile, FanOut};
use crate::model::capacity::CapacitySpec;
use crate::model::circuit_breaker::CircuitBreaker;
use crate::model::client_policy::{Backoff, ClientPolicy, Jitter};
use crate::model::coordinated_throttle::{CoordinatedThrottle, SpendCap};
use crate::model::distribution::{CountDist, Dist, DurationDist, Z_P95, Z_P99};
use crate::model::fault::{Fault, FaultKind};
use crate::model::prices::Prices;
use crate::model::rate_limit::RateLimit;
use crate::model::recovery::RecoveryRule;
use crate::model::reserved::ReservedSpec;
use crate::model::resilience::Policy;
use crate::model::retry_budget::RetryBudget;
use crate::model::retry_quota::RetryQuota;
use crate::model::retry_throttle::RetryThrottle;
use crate::model::service_time::ServiceTime;
use crate::model::shared_api::{Overload, SharedApiSpec};
use crate::model::token_bucket::MAX_PER_MIN;
use crate::model::workload::{Arrivals, Population, Surge, UserClass};

type Checked<T> = Result<T, Invalid>;

/// The bin width of `timeseries.csv` when the model does not set one.
pub const DEFAULT_TIMESERIES_BIN: SimDuration = SimDuration::from_secs(10);
/// The `max_tokens` of each request when the agent does not set one.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;
/// Warn about calls too large for a bucket only when at least this share of
/// calls is: below it, a run would rarely meet one.
const TOO_LARGE_WARN_SHARE: f64 = 1e-6;

/// What a distribution describes, which decides how its parameters are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Parameters are durations with units (`"800ms"`).
    Duration,
    /// Parameters are plain numbers (steps, tokens).
    Count,
}

fn sub(path: &str, field: &str) -> String {
    format!("{path}.{field}")
}

fn positive(path: &str, n: Number) -> Checked<f64> {
    if n.0.is_finite() && n.0 > 0.0 {
        Ok(n.0)
    } else {
        Err(Invalid::new(path, format!("must be > 0 (got {})", n.0)))
    }
}

fn non_negative(path: &str, n: Number) -> Checked<f64> {
    if n.0.is_finite() && n.0 >= 0.0 {
        Ok(n.0)
    } else {
        Err(Invalid::new(path, format!("must be >= 0 (got {})", n.0)))
    }
}

/// A whole number in `min..=max`.
pub fn whole(path: &str, n: Number, min: u64, max: u64) -> Checked<u64> {
    let x = n.0;
    if x.fract() == 0.0 && x >= min as f64 && x <= max as f64 {
        return Ok(x as u64);
    }
    let range = if max == u64::MAX {
        format!(">= {min}")
    } else {
        format!("from {min} to {max}")
    };
    Err(Invalid::new(
        path,
        format!("must be a whole number {range} (got {x})"),
    ))
}

/// A probability in (0, 1].
fn probability(path: &str, n: Number) -> Checked<f64> {
    let p = n.0;
    if p > 0.0 && p <= 1.0 {
        Ok(p)
    } else {
        Err(Invalid::new(
            path,
            format!("must be a probability in (0, 1] (got {p})"),
        ))
    }
}

fn positive_duration(path: &str, d: Duration) -> Checked<SimDuration> {
    if d.0.is_zero() {
        Err(Invalid::new(path, "must be longer than zero"))
    } else {
        Ok(d.0)
    }
}

fn required<T>(path: &str, field: &str, value: Option<T>, what: &str) -> Checked<T> {
    value.ok_or_else(|| Invalid::new(sub(path, field), format!("missing: {what} needs `{field}`")))
}

/// A distribution parameter in the unit the distribution describes, as seconds or a count.
fn param(path: &str, q: Quantity, unit: Unit) -> Checked<f64> {
    match (unit, q) {
        (Unit::Duration, Quantity::Duration(d)) => Ok(d.as_secs_f64()),
        (Unit::Count, Quantity::Number(x)) => Ok(x),
        (Unit::Duration, Quantity::Number(x)) => Err(Invalid::new(
            path,
            format!("durations need a unit, like \"{x}s\" or \"{x}ms\" (got {x})"),
        )),
        (Unit::Count, Quantity::Duration(d)) => Err(Invalid::new(
            path,
            format!("expected a plain number here, not a duration (got \"{d}\")"),
        )),
    }
}

/// A dimensionless parameter such as a shape.
fn plain(path: &str, q: Quantity) -> Checked<f64> {
    param(path, q, Unit::Count)
}

fn jitter(kind: JitterKind) -> Jitter {
    match kind {
        JitterKind::None => Jitter::None,
        JitterKind::Full => Jitter::Full,
        JitterKind::Equal => Jitter::Equal,
        JitterKind::Decorrelated => Jitter::Decorrelated,
    }
}

/// Checks a raw model against the resolved TOML it came from, collecting warnings.
pub struct Validator<'a> {
    table: &'a toml::Table,
    base_dir: &'a Path,
    warnings: Vec<Invalid>,
}

impl<'a> Validator<'a> {
    pub fn new(table: &'a toml::Table, base_dir: &'a Path) -> Self {
        Validator {
            table,
            base_dir,
            warnings: Vec::new(),
        }
    }

    pub fn into_warnings(self) -> Vec<Invalid> {
        self.warnings
    }

    /// Rejects keys of the table at `path` that `variant` does not take.
    fn only(&self, path: &str, allowed: &[&str], variant: &str) -> Checked<()> {
        let Some(toml::Value::Table(table)) = value_at(self.table, path) else {
            return Ok(());
        };
        match table.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(key) => Err(Invalid::new(
                sub(path, key),
                format!("not used by {variant} (it takes: {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    pub fn model(&mut self, raw: RawModel) -> Checked<ModelSpec> {
        let duration = positive_duration("duration", raw.duration)?;
        let warmup = raw.warmup.map_or(SimDuration::ZERO, |w| w.0);
        if warmup >= duration {
            return Err(Invalid::new(
                "warmup",
                format!("must be shorter than duration ({warmup} >= {duration})"),
            ));
        }
        let timeseries_bin = raw.timeseries_bin.map_or(Ok(DEFAULT_TIMESERIES_BIN), |b| {
            positive_duration("timeseries_bin", b)
        })?;

        let agent_names: Vec<String> = raw.agents.keys().cloned().collect();
        let agents = raw
            .agents
            .iter()
            .map(|(name, agent)| self.agent(&sub("agents", name), name, agent))
            .collect::<Checked<Vec<_>>>()?;

        if raw.workload.is_empty() {
            return Err(Invalid::new(
                "workload",
                "needs at least one user class ([[workload]] with a name, an agent and users or arrivals)",
            ));
        }
        let mut classes: Vec<UserClass> = Vec::new();
        for (index, class) in raw.workload.iter().enumerate() {
            let path = sub("workload", &index.to_string());
            if class.name.is_empty() || class.name.contains('.') {
                return Err(Invalid::new(
                    sub(&path, "name"),
                    format!(
                        "must be non-empty and contain no dots (got \"{}\")",
                        class.name
                    ),
                ));
            }
            if classes.iter().any(|c| c.name == class.name) {
                return Err(Invalid::new(
                    sub(&path, "name"),
                    format!(
                        "two user classes are called \"{}\": names must be unique",
                        class.name
                    ),
                ));
            }
            classes.push(self.class(&sub("workload", &class.name), class, &agent_names)?);
        }
        if classes.len() > usize::from(u16::MAX) {
            return Err(Invalid::new("workload", "at most 65535 user classes"));
        }

        let capacity = self.capacity(&raw.capacity)?;
        let client = self.client(raw.client.unwrap_or_default())?;
        let faults = raw
            .fault
            .iter()
            .enumerate()
            .map(|(i, f)| self.fault(&format!("fault.{i}"), f))
            .collect::<Checked<Vec<_>>>()?;
        let recovery = match raw.recovery {
            None => RecoveryRule::default(),
            Some(r) => {
                let defaults = RecoveryRule::default();
                RecoveryRule {
                    window: r.window.map_or(Ok(defaults.window), |w| {
                        positive_duration("recovery.window", w)
                    })?,
                    tolerance: match r.tolerance {
                        None => defaults.tolerance,
                        Some(t) if (0.0..1.0).contains(&t.0) => t.0,
                        Some(t) => {
                            return Err(Invalid::new(
                                "recovery.tolerance",
                                format!("must be a share from 0 up to 1 (got {})", t.0),
                            ));
                        }
                    },
                }
            }
        };
        let prices = self.prices(raw.prices.unwrap_or_default(), &capacity)?;
        self.warn_too_large(&agents, &classes, &capacity);
        Ok(ModelSpec {
            name: raw.name,
            seed: raw.seed,
            duration,
            warmup,
            timeseries_bin,
            classes,
            agents,
            capacity,
            client,
            prices,
            faults,
            recovery,
        })
    }

    fn class(&mut self, path: &str, raw: &RawUserClass, agents: &[String]) -> Checked<UserClass> {
        let agent = agents.iter().position(|a| *a == raw.agent).ok_or_else(|| {
            Invalid::new(
                sub(path, "agent"),
                format!(
                    "no agent named `{}` (agents defined: {})",
                    raw.agent,
                    if agents.is_empty() {
                        "none".to_owned()
                    } else {
                        agents.join(", ")
                    }
                ),
            )
        })?;
        let population = match (raw.users, &raw.arrivals) {
            (Some(users), None) => {
                let users = whole(&sub(path, "users"), users, 0, u64::from(u32::MAX))? as u32;
                let think = required(
                    path,
                    "think_time",
                    raw.think_time.as_ref(),
                    "a closed population (users = N)",
                )?;
                let think_time = self.dist(&sub(path, "think_time"), think, Unit::Duration)?;
                Population::Closed {
                    users,
                    think_time: DurationDist::new(think_time),
                }
            }
            (None, Some(arrivals)) => {
                if raw.think_time.is_some() {
                    return Err(Invalid::new(
                        sub(path, "think_time"),
                        "only closed populations (users = N) think; open arrivals take no think_time",
                    ));
                }
                Population::Open(self.arrivals(&sub(path, "arrivals"), arrivals)?)
            }
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    path,
                    "give either users (a closed population) or arrivals (an open one), not both",
                ));
            }
            (None, None) => {
                return Err(Invalid::new(
                    path,
                    "needs users = N with a think_time (closed population) or arrivals = { process = \"poisson\", per_min = R } (open)",
                ));
            }
        };
        let surges = raw
            .surges
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let p = sub(&sub(path, "surges"), &i.to_string());
                Ok(Surge {
                    at: SimTime::ZERO + s.at.0,
                    duration: positive_duration(&sub(&p, "for"), s.duration)?,
                    factor: non_negative(&sub(&p, "factor"), s.factor)?,
                })
            })
            .collect::<Checked<Vec<_>>>()?;
        Ok(UserClass {
            name: raw.name.clone(),
            agent,
            population,
            surges,
            priority: raw
                .priority
                .map(|p| whole(&sub(path, "priority"), p, 0, 255))
                .transpose()?
                .map_or(0, |p| p as u8),
        })
    }

    fn arrivals(&self, path: &str, raw: &RawArrivals) -> Checked<Arrivals> {
        match raw.process {
            ArrivalProcess::Poisson => {
                let what = "process = \"poisson\"";
                self.only(path, &["process", "per_min"], what)?;
                let per_min = required(path, "per_min", raw.per_min, what)?;
                Ok(Arrivals::Poisson {
                    per_min: positive(&sub(path, "per_min"), per_min)?,
                })
            }
            ArrivalProcess::OnOff => {
                let what = "process = \"on_off\"";
                self.only(
                    path,
                    &[
                        "process",
                        "on_per_min",
                        "off_per_min",
                        "mean_on",
                        "mean_off",
                    ],
                    what,
                )?;
                let on = required(path, "on_per_min", raw.on_per_min, what)?;
                let off = required(path, "off_per_min", raw.off_per_min, what)?;
                let mean_on = required(path, "mean_on", raw.mean_on, what)?;
                let mean_off = required(path, "mean_off", raw.mean_off, what)?;
                Ok(Arrivals::OnOff {
                    on_per_min: positive(&sub(path, "on_per_min"), on)?,
                    off_per_min: non_negative(&sub(path, "off_per_min"), off)?,
                    mean_on: positive_duration(&sub(path, "mean_on"), mean_on)?,
                    mean_off: positive_duration(&sub(path, "mean_off"), mean_off)?,
                })
            }
        }
    }

    fn agent(&mut self, path: &str, name: &str, raw: &RawAgent) -> Checked<AgentProfile> {
        let count = |this: &mut Self, field: &str, d: &RawDist| {
            this.dist(&sub(path, field), d, Unit::Count)
                .map(CountDist::new)
        };
        let steps = count(self, "steps", &raw.steps)?;
        let input_tokens = count(self, "input_tokens", &raw.input_tokens)?;
        let cached_input_share = match raw.cached_input_share {
            None => 0.0,
            Some(n) if (0.0..=1.0).contains(&n.0) => n.0,
            Some(n) => {
                return Err(Invalid::new(
                    sub(path, "cached_input_share"),
                    format!("must be a share from 0 to 1 (got {})", n.0),
                ));
            }
        };
        let output_tokens = count(self, "output_tokens", &raw.output_tokens)?;
        let max_output_tokens = raw
            .max_output_tokens
            .map(|n| whole(&sub(path, "max_output_tokens"), n, 0, u64::from(u32::MAX)))
            .transpose()?
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS) as u32;
        let tool_latency = raw
            .tool_latency
            .as_ref()
            .map(|d| {
                self.dist(&sub(path, "tool_latency"), d, Unit::Duration)
                    .map(DurationDist::new)
            })
            .transpose()?;
        let fan_out = match &raw.fan_out {
            None => None,
            Some(f) => {
                let p = sub(path, "fan_out");
                Some(FanOut {
                    every: whole(&sub(&p, "every"), f.every, 1, u64::from(u32::MAX))? as u32,
                    width: count(self, "fan_out.width", &f.width)?,
                })
            }
        };
        let deadline = raw
            .deadline
            .map(|d| positive_duration(&sub(path, "deadline"), d))
            .transpose()?;
        Ok(AgentProfile {
            name: name.to_owned(),
            steps,
            input_tokens,
            cached_input_share,
            output_tokens,
            max_output_tokens,
            tool_latency,
            fan_out,
            deadline,
        })
    }

    fn capacity(&mut self, raw: &RawCapacity) -> Checked<CapacitySpec> {
        let path = "capacity";
        let field = |name: &str| sub(path, name);
        let service = ServiceTime {
            time_to_first_token: DurationDist::new(self.dist(
                &field("time_to_first_token"),
                &raw.time_to_first_token,
                Unit::Duration,
            )?),
            output_tokens_per_s: raw
                .output_tokens_per_s
                .map(|n| positive(&field("output_tokens_per_s"), n))
                .transpose()?,
        };
        const COMMON: [&str; 3] = ["kind", "time_to_first_token", "output_tokens_per_s"];
        match raw.kind {
            CapacityKind::SharedApi => {
                let allowed = [
                    &COMMON[..],
                    &[
                        "requests_per_min",
                        "input_tokens_per_min",
                        "cache_reads_count",
                        "output_tokens_per_min",
                        "max_concurrency",
                        "concurrency_retry_after",
                        "overload",
                    ],
                ]
                .concat();
                self.only(path, &allowed, "kind = \"shared_api\"")?;
                let limit = |name: &str, value: Option<Number>| {
                    value
                        .map(|n| whole(&field(name), n, 1, MAX_PER_MIN))
                        .transpose()
                };
                Ok(CapacitySpec::SharedApi(SharedApiSpec {
                    requests_per_min: limit("requests_per_min", raw.requests_per_min)?,
                    input_tokens_per_min: limit("input_tokens_per_min", raw.input_tokens_per_min)?,
                    cache_reads_count: raw.cache_reads_count.unwrap_or(true),
                    output_tokens_per_min: limit(
                        "output_tokens_per_min",
                        raw.output_tokens_per_min,
                    )?,
                    max_concurrency: raw
                        .max_concurrency
                        .map(|n| whole(&field("max_concurrency"), n, 1, u64::from(u32::MAX)))
                        .transpose()?
                        .map(|n| n as u32),
                    concurrency_retry_after: raw
                        .concurrency_retry_after
                        .map_or(SimDuration::from_secs(1), |d| d.0),
                    overload: raw
                        .overload
                        .as_ref()
                        .map(|o| overload(&field("overload"), o))
                        .transpose()?,
                    service,
                }))
            }
            CapacityKind::Reserved => {
                let allowed = [&COMMON[..], &["lanes", "queue_limit"]].concat();
                self.only(path, &allowed, "kind = \"reserved\"")?;
                let lanes = required(path, "lanes", raw.lanes, "kind = \"reserved\"")?;
                Ok(CapacitySpec::Reserved(ReservedSpec {
                    lanes: whole(&field("lanes"), lanes, 1, 1_000_000)? as u32,
                    queue_limit: raw
                        .queue_limit
                        .map(|n| whole(&field("queue_limit"), n, 0, u64::from(u32::MAX)))
                        .transpose()?
                        .map(|n| n as u32),
                    service,
                }))
            }
        }
    }

    fn client(&self, raw: RawClient) -> Checked<ClientPolicy> {
        let defaults = ClientPolicy::default();
        Ok(ClientPolicy {
            max_attempts: raw
                .max_attempts
                .map(|n| whole("client.max_attempts", n, 1, 1000))
                .transpose()?
                .map_or(defaults.max_attempts, |n| n as u32),
            backoff: match &raw.backoff {
                Some(b) => self.backoff("client.backoff", b)?,
                None => defaults.backoff,
            },
            honor_retry_after: raw.honor_retry_after.unwrap_or(defaults.honor_retry_after),
            timeout: raw
                .timeout
                .map(|d| positive_duration("client.timeout", d))
                .transpose()?,
            agent_rate_limit: raw
                .agent_rate_limit
                .map(|r| {
                    let path = "client.agent_rate_limit";
                    let per_min = positive(&sub(path, "per_min"), r.per_min)?;
                    let burst = r
                        .burst
                        .map(|b| whole(&sub(path, "burst"), b, 1, 1_000_000))
                        .transpose()?
                        .unwrap_or(1) as u32;
                    Ok(RateLimit::new(per_min, burst))
                })
                .transpose()?,
            policies: raw
                .policy
                .iter()
                .enumerate()
                .map(|(i, p)| self.policy(&format!("client.policy.{i}"), p))
                .collect::<Checked<Vec<_>>>()?,
        })
        .and_then(|client| {
            let kinds: Vec<&str> = client.policies.iter().map(Policy::kind).collect();
            match kinds
                .iter()
                .enumerate()
                .find(|(i, k)| kinds[..*i].contains(k))
            {
                Some((i, kind)) => Err(Invalid::new(
                    format!("client.policy.{i}.kind"),
                    format!("a second {kind} policy: give each kind at most once"),
                )),
                None => Ok(client),
            }
        })
    }

    fn policy(&self, path: &str, raw: &RawPolicy) -> Checked<Policy> {
        let field = |name: &str| sub(path, name);
        let count = |name: &str, value: Option<Number>, min: u64, default: u64| {
            value
                .map(|n| whole(&field(name), n, min, u64::from(u32::MAX)))
                .transpose()
                .map(|v| v.unwrap_or(default) as u32)
        };
        Ok(match raw.kind {
            PolicyKind::RetryBudget => {
                let what = "kind = \"retry_budget\"";
                self.only(
                    path,
                    &["kind", "budget_percent", "min_retry_concurrency"],
                    what,
                )?;
                let percent = required(path, "budget_percent", raw.budget_percent, what)?;
                if !(percent.0 > 0.0 && percent.0 <= 100.0) {
                    return Err(Invalid::new(
                        field("budget_percent"),
                        format!(
                            "must be a percentage above 0, up to 100 (got {})",
                            percent.0
                        ),
                    ));
                }
                Policy::RetryBudget(RetryBudget {
                    budget_percent: percent.0,
                    // Envoy's default floor.
                    min_retry_concurrency: count(
                        "min_retry_concurrency",
                        raw.min_retry_concurrency,
                        0,
                        3,
                    )?,
                })
            }
            PolicyKind::RetryThrottle => {
                let what = "kind = \"retry_throttle\"";
                self.only(path, &["kind", "max_tokens", "token_ratio"], what)?;
                let max = required(path, "max_tokens", raw.max_tokens, what)?;
                let ratio = required(path, "token_ratio", raw.token_ratio, what)?;
                Policy::RetryThrottle(RetryThrottle {
                    max_tokens: positive(&field("max_tokens"), max)?,
                    token_ratio: positive(&field("token_ratio"), ratio)?,
                })
            }
            PolicyKind::RetryQuota => {
                self.only(
                    path,
                    &[
                        "kind",
                        "capacity",
                        "retry_cost",
                        "timeout_cost",
                        "success_increment",
                    ],
                    "kind = \"retry_quota\"",
                )?;
                let aws = RetryQuota::default();
                Policy::RetryQuota(RetryQuota {
                    capacity: count("capacity", raw.capacity, 1, u64::from(aws.capacity))?,
                    retry_cost: count("retry_cost", raw.retry_cost, 0, u64::from(aws.retry_cost))?,
                    timeout_cost: count(
                        "timeout_cost",
                        raw.timeout_cost,
                        0,
                        u64::from(aws.timeout_cost),
                    )?,
                    success_increment: count(
                        "success_increment",
                        raw.success_increment,
                        0,
                        u64::from(aws.success_increment),
                    )?,
                })
            }
            PolicyKind::AdaptiveThrottle => {
                self.only(
                    path,
                    &["kind", "k", "window"],
                    "kind = \"adaptive_throttle\"",
                )?;
                let k = match raw.k {
                    None => 2.0,
                    Some(n) if n.0.is_finite() && n.0 >= 1.0 => n.0,
                    Some(n) => {
                        return Err(Invalid::new(
                            field("k"),
                            format!("must be >= 1 (got {}; the SRE book uses 2)", n.0),
                        ));
                    }
                };
                Policy::AdaptiveThrottle(AdaptiveThrottle {
                    k,
                    window: raw.window.map_or(Ok(SimDuration::from_secs(120)), |w| {
                        positive_duration(&field("window"), w)
                    })?,
                })
            }
            PolicyKind::CircuitBreaker => {
                self.only(
                    path,
                    &["kind", "failure_threshold", "open_for", "probes"],
                    "kind = \"circuit_breaker\"",
                )?;
                Policy::CircuitBreaker(CircuitBreaker {
                    failure_threshold: count("failure_threshold", raw.failure_threshold, 1, 5)?,
                    open_for: raw.open_for.map_or(Ok(SimDuration::from_secs(30)), |d| {
                        positive_duration(&field("open_for"), d)
                    })?,
                    probes: count("probes", raw.probes, 1, 1)?,
                })
            }
            PolicyKind::Coordinated => {
                self.only(
                    path,
                    &[
                        "kind",
                        "requests_per_min",
                        "burst",
                        "shared_backoff",
                        "spend_cap_usd",
                        "spend_period",
                    ],
                    "kind = \"coordinated\"",
                )?;
                let burst = count("burst", raw.burst, 1, 1)?;
                let rate = raw
                    .requests_per_min
                    .map(|n| {
                        positive(&field("requests_per_min"), n).map(|r| RateLimit::new(r, burst))
                    })
                    .transpose()?;
                if raw.spend_period.is_some() && raw.spend_cap_usd.is_none() {
                    return Err(Invalid::new(
                        field("spend_period"),
                        "is the period of a spend cap: set spend_cap_usd too",
                    ));
                }
                let spend_cap = raw
                    .spend_cap_usd
                    .map(|usd| {
                        Ok(SpendCap {
                            usd: positive(&field("spend_cap_usd"), usd)?,
                            period: raw
                                .spend_period
                                .map(|p| positive_duration(&field("spend_period"), p))
                                .transpose()?,
                        })
                    })
                    .transpose()?;
                Policy::Coordinated(CoordinatedThrottle {
                    rate,
                    shared_backoff: raw.shared_backoff.unwrap_or(true),
                    spend_cap,
                })
            }
        })
    }

    fn fault(&self, path: &str, raw: &RawFault) -> Checked<Fault> {
        let field = |name: &str| sub(path, name);
        let (name, fields): (&str, &[&str]) = match raw.kind {
            RawFaultKind::Outage => ("outage", &[]),
            RawFaultKind::LatencySpike => ("latency_spike", &["factor"]),
            RawFaultKind::CapacityDrop => ("capacity_drop", &["factor"]),
            RawFaultKind::ErrorBurst => ("error_burst", &["probability"]),
        };
        let what = format!("kind = \"{name}\"");
        self.only(path, &[&["kind", "at", "for"][..], fields].concat(), &what)?;
        let factor = || -> Checked<f64> {
            positive(
                &field("factor"),
                required(path, "factor", raw.factor, &what)?,
            )
        };
        let kind = match raw.kind {
            RawFaultKind::Outage => FaultKind::Outage,
            RawFaultKind::LatencySpike => FaultKind::LatencySpike { factor: factor()? },
            RawFaultKind::CapacityDrop => FaultKind::CapacityDrop { factor: factor()? },
            RawFaultKind::ErrorBurst => {
                let p = required(path, "probability", raw.probability, &what)?;
                FaultKind::ErrorBurst {
                    probability: probability(&field("probability"), p)?,
                }
            }
        };
        Ok(Fault {
            kind,
            start: SimTime::ZERO + raw.at.0,
            duration: positive_duration(&field("for"), raw.duration)?,
        })
    }

    fn backoff(&self, path: &str, raw: &RawBackoff) -> Checked<Backoff> {
        let jitter = raw.jitter.map_or(Jitter::None, jitter);
        match raw.kind {
            BackoffKind::None => {
                self.only(path, &["kind"], "kind = \"none\"")?;
                Ok(Backoff::None)
            }
            BackoffKind::Constant => {
                let what = "kind = \"constant\"";
                self.only(path, &["kind", "delay", "jitter"], what)?;
                if jitter == Jitter::Decorrelated {
                    return Err(Invalid::new(
                        sub(path, "jitter"),
                        "decorrelated jitter grows from base towards cap: use it with kind = \"exponential\"",
                    ));
                }
                Ok(Backoff::Constant {
                    delay: required(path, "delay", raw.delay, what)?.0,
                    jitter,
                })
            }
            BackoffKind::Exponential => {
                let what = "kind = \"exponential\"";
                self.only(path, &["kind", "base", "cap", "multiplier", "jitter"], what)?;
                let base =
                    positive_duration(&sub(path, "base"), required(path, "base", raw.base, what)?)?;
                let cap = raw.cap.map_or(SimDuration::from_secs(60), |c| c.0);
                if cap < base {
                    return Err(Invalid::new(
                        sub(path, "cap"),
                        format!("must be >= base ({cap} < {base}; cap defaults to 60s)"),
                    ));
                }
                let multiplier = match raw.multiplier {
                    Some(m) if m.0.is_finite() && m.0 >= 1.0 => m.0,
                    Some(m) => {
                        return Err(Invalid::new(
                            sub(path, "multiplier"),
                            format!("must be >= 1 (got {})", m.0),
                        ));
                    }
                    None => 2.0,
                };
                Ok(Backoff::Exponential {
                    base,
                    cap,
                    multiplier,
                    jitter,
                })
            }
        }
    }

    fn prices(&self, raw: RawPrices, capacity: &CapacitySpec) -> Checked<Prices> {
        let price = |name: &str, value: Option<Number>| {
            value
                .map(|n| non_negative(&sub("prices", name), n))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        if raw.per_lane_hour.is_some() && capacity.lanes().is_none() {
            return Err(Invalid::new(
                "prices.per_lane_hour",
                "applies to reserved capacity only (capacity.kind is \"shared_api\")",
            ));
        }
        let input_per_mtok = price("input_per_mtok", raw.input_per_mtok)?;
        Ok(Prices {
            input_per_mtok,
            // Without a cache price, cached input costs what other input does.
            cached_input_per_mtok: match raw.cached_input_per_mtok {
                Some(n) => non_negative("prices.cached_input_per_mtok", n)?,
                None => input_per_mtok,
            },
            output_per_mtok: price("output_per_mtok", raw.output_per_mtok)?,
            per_lane_hour: price("per_lane_hour", raw.per_lane_hour)?,
        })
    }

    /// Warns about calls that a token bucket can never admit.
    fn warn_too_large(
        &mut self,
        agents: &[AgentProfile],
        classes: &[UserClass],
        capacity: &CapacitySpec,
    ) {
        let CapacitySpec::SharedApi(api) = capacity else {
            return;
        };
        for (index, agent) in agents.iter().enumerate() {
            if !classes.iter().any(|c| c.agent == index) {
                continue;
            }
            let path = sub("agents", &agent.name);
            if let Some(limit) = api.input_tokens_per_min {
                // The limit sees only uncached input when cache reads do not count.
                let counted = if api.cache_reads_count {
                    1.0
                } else {
                    1.0 - agent.cached_input_share
                };
                // Counts round to the nearest token, so only draws above limit + 0.5 exceed it.
                let share = if counted > 0.0 {
                    agent
                        .input_tokens
                        .dist()
                        .exceedance((limit as f64 + 0.5) / counted)
                } else {
                    0.0
                };
                if share >= TOO_LARGE_WARN_SHARE {
                    self.warnings.push(Invalid::new(
                        sub(&path, "input_tokens"),
                        format!(
                            "{} of calls ask for more than capacity.input_tokens_per_min ({limit}) and can never be admitted; run fails their loops and counts them as too_large",
                            share_text(share)
                        ),
                    ));
                }
            }
            if let Some(limit) = api.output_tokens_per_min
                && u64::from(agent.max_output_tokens) > limit
            {
                self.warnings.push(Invalid::new(
                    sub(&path, "max_output_tokens"),
                    format!(
                        "every call reserves {} output tokens, more than capacity.output_tokens_per_min ({limit}) can ever hold: no call can be admitted",
                        agent.max_output_tokens
                    ),
                ));
            }
        }
    }

    fn dist(&mut self, path: &str, raw: &RawDist, unit: Unit) -> Checked<Dist> {
        let t = match raw {
            RawDist::Constant(q) => {
                return Dist::constant(param(path, *q, unit)?).map_err(|m| Invalid::new(path, m));
            }
            RawDist::Table(t) => t,
        };
        let (name, fields): (&str, &[&str]) = match t.dist {
            DistKind::Constant => ("constant", &["value"]),
            DistKind::Exponential => ("exponential", &["mean"]),
            DistKind::Uniform => ("uniform", &[]),
            DistKind::Lognormal => ("lognormal", &["median", "p95", "p99"]),
            DistKind::Gamma => ("gamma", &["shape", "scale", "mean"]),
            DistKind::Pareto => ("pareto", &["scale", "shape"]),
            DistKind::Empirical => ("empirical", &["file", "column", "unit"]),
        };
        let what = format!("dist = \"{name}\"");
        let allowed = [&["dist", "min", "max"][..], fields].concat();
        self.only(path, &allowed, &what)?;
        let get = |field: &str, q: Option<Quantity>| {
            q.map(|q| param(&sub(path, field), q, unit)).transpose()
        };
        let need = |field: &str, q: Option<Quantity>| {
            param(&sub(path, field), required(path, field, q, &what)?, unit)
        };
        let fail = |message: String| Invalid::new(path, message);
        let (min, max) = (get("min", t.min)?, get("max", t.max)?);
        let dist = match t.dist {
            DistKind::Constant => Dist::constant(need("value", t.value)?),
            DistKind::Exponential => Dist::exponential(need("mean", t.mean)?),
            DistKind::Uniform => {
                return Dist::uniform(need("min", t.min)?, need("max", t.max)?).map_err(fail);
            }
            DistKind::Lognormal => {
                let median = need("median", t.median)?;
                match (t.p95, t.p99) {
                    (Some(q), None) => Dist::lognormal(median, param(&sub(path, "p95"), q, unit)?, "p95", Z_P95),
                    (None, Some(q)) => Dist::lognormal(median, param(&sub(path, "p99"), q, unit)?, "p99", Z_P99),
                    (Some(_), Some(_)) => return Err(fail("give one of p95 or p99, not both".into())),
                    (None, None) => {
                        return Err(Invalid::new(
                            sub(path, "p99"),
                            "missing: dist = \"lognormal\" needs `median` and one of `p95` or `p99`",
                        ));
                    }
                }
            }
            DistKind::Gamma => {
                let shape = plain(&sub(path, "shape"), required(path, "shape", t.shape, &what)?)?;
                let scale = match (t.scale, t.mean) {
                    (Some(s), None) => param(&sub(path, "scale"), s, unit)?,
                    (None, Some(m)) => param(&sub(path, "mean"), m, unit)? / shape,
                    _ => return Err(fail("dist = \"gamma\" needs `shape` and one of `scale` or `mean`".into())),
                };
                Dist::gamma(shape, scale)
            }
            DistKind::Pareto => Dist::pareto(
                need("scale", t.scale)?,
                plain(&sub(path, "shape"), required(path, "shape", t.shape, &what)?)?,
            ),
            DistKind::Empirical => Dist::empirical(self.empirical(path, t, unit, &what)?),
        }
        .map_err(fail)?;
        dist.bounded(min, max).map_err(fail)
    }

    /// The values of an empirical distribution, in seconds for durations.
    fn empirical(&self, path: &str, t: &RawDistTable, unit: Unit, what: &str) -> Checked<Vec<f64>> {
        let file = required(path, "file", t.file.as_ref(), what)?;
        let column = required(path, "column", t.column.as_ref(), what)?;
        let seconds_per_value = match (unit, &t.unit) {
            (Unit::Duration, Some(u)) => parse_duration(&format!("1{u}"))
                .map_err(|_| {
                    Invalid::new(
                        sub(path, "unit"),
                        format!("unknown unit `{u}`: use us, ms, s, m, h or d"),
                    )
                })?
                .as_secs_f64(),
            (Unit::Duration, None) => {
                return Err(Invalid::new(
                    sub(path, "unit"),
                    "missing: an empirical distribution of durations needs the column's unit, e.g. unit = \"ms\"",
                ));
            }
            (Unit::Count, Some(_)) => {
                return Err(Invalid::new(
                    sub(path, "unit"),
                    "counts have no unit: remove it",
                ));
            }
            (Unit::Count, None) => 1.0,
        };
        let values = read_column(&self.base_dir.join(file), column)
            .map_err(|m| Invalid::new(sub(path, "file"), m))?;
        Ok(values.into_iter().map(|v| v * seconds_per_value).collect())
    }
}

fn overload(path: &str, raw: &RawOverload) -> Checked<Overload> {
    let threshold = whole(
        &sub(path, "threshold"),
        raw.threshold,
        0,
        u64::from(u32::MAX),
    )? as u32;
    let saturation = whole(
        &sub(path, "saturation"),
        raw.saturation,
        0,
        u64::from(u32::MAX),
    )? as u32;
    if saturation <= threshold {
        return Err(Invalid::new(
            sub(path, "saturation"),
            format!("must be above threshold ({saturation} <= {threshold})"),
        ));
    }
    Ok(Overload {
        threshold,
        saturation,
        max_probability: probability(&sub(path, "max_probability"), raw.max_probability)?,
    })
}

/// `0.3%`, or `about 1 in 40000` for small shares.
fn share_text(share: f64) -> String {
    if share >= 0.001 {
        format!("{:.1}%", share * 100.0)
    } else {
        format!("about 1 in {:.0}", 1.0 / share)
    }
}
