//! A model file as written, and the whole-model checks: horizon, warm-up,
//! names that refer to each other, and calls too large ever to be admitted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::agent::RawAgent;
use super::capacity::RawCapacity;
use super::checks::{self, Checked, positive_duration, positive_duration_or};
use super::client::RawClient;
use super::diagnostic::Invalid;
use super::fault::{RawFault, RawRecovery};
use super::field_path::FieldPath;
use super::prices::RawPrices;
use super::quantity::{Duration, Number};
use super::tagged::{Tagged, Variants};
use super::workload::{RawUserClass, check_workload};
use crate::engine::{SimDuration, SimTime};
use crate::model::ModelSpec;
use crate::model::agent_loop::AgentProfile;
use crate::model::capacity::CapacitySpec;
use crate::model::pool::{PoolSpec, Router};
use crate::model::prices::Prices;
use crate::model::recovery::RecoveryRule;
use crate::model::window::{Window, WindowKind, windows};
use crate::model::workload::{Population, UserClass};

/// The bin width of `timeseries.csv` when the model does not set one.
pub const DEFAULT_TIMESERIES_BIN: SimDuration = SimDuration::from_secs(10);
/// Warn about calls too large for a bucket only when at least this share of
/// calls is: below it, a run would rarely meet one.
const TOO_LARGE_WARN_SHARE: f64 = 1e-6;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    name: String,
    seed: Number,
    duration: Duration,
    warmup: Option<Duration>,
    timeseries_bin: Option<Duration>,
    workload: Vec<RawUserClass>,
    agents: BTreeMap<String, RawAgent>,
    /// The one capacity of a model without `[[pool]]`s.
    capacity: Option<Tagged<RawCapacity>>,
    client: Option<RawClient>,
    /// The prices of a model without `[[pool]]`s.
    prices: Option<RawPrices>,
    /// Named capacity pools, each with its prices, behind a `[router]`.
    #[serde(default)]
    pool: Vec<RawPool>,
    router: Option<Tagged<RawRouter>>,
    #[serde(default)]
    fault: Vec<Tagged<RawFault>>,
    recovery: Option<RawRecovery>,
    #[serde(default)]
    window: Vec<RawWindow>,
}

/// A `[[pool]]`: capacity of any kind, with its own prices.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: String,
    capacity: Tagged<RawCapacity>,
    prices: Option<RawPrices>,
}

/// `[router]`: how attempts are spread over the pools.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RawRouter {
    Spillover(RawSpillover),
}

impl Variants for RawRouter {
    const TAG: &'static str = "kind";
    type Common = super::tagged::NoCommon;
}

/// Every pool, in the order attempts are offered to them.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSpillover {
    order: Vec<String>,
    /// Per reserved pool (not the last): how many attempts its lane queue
    /// may hold and still take more (default 0: only a free lane).
    #[serde(default)]
    queue_up_to: BTreeMap<String, Number>,
}

/// A `[[window]]`: a stretch of time the summary reports on its own.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    name: String,
    at: Duration,
    #[serde(rename = "for")]
    duration: Duration,
}

/// The named windows, each starting before the horizon, with a name unique
/// among every window (surges' and faults' included) that can address it.
fn check_windows(raw: &[RawWindow], spec: &ModelSpec) -> Checked<Vec<Window>> {
    let mut taken: Vec<String> = windows(spec).into_iter().map(|w| w.name).collect();
    let mut named = Vec::with_capacity(raw.len());
    for (i, w) in raw.iter().enumerate() {
        let at = FieldPath::root("window").child(i);
        if w.name.is_empty() || w.name.contains(['.', ',']) || taken.contains(&w.name) {
            return Err(Invalid::new(
                at.child("name"),
                format!(
                    "must be non-empty, without dots or commas, and unlike every other window's (got \"{}\"; taken: {})",
                    w.name,
                    taken.join(", ")
                ),
            ));
        }
        let duration = positive_duration(&at.child("for"), w.duration)?;
        if w.at.0 >= spec.duration {
            return Err(Invalid::new(
                at.child("at"),
                format!(
                    "starts at or after the horizon ({} >= {})",
                    w.at.0, spec.duration
                ),
            ));
        }
        taken.push(w.name.clone());
        named.push(Window {
            name: w.name.clone(),
            kind: WindowKind::Named,
            start: SimTime::ZERO + w.at.0,
            end: SimTime::ZERO + w.at.0 + duration,
        });
    }
    Ok(named)
}

impl RawModel {
    /// The validated model, and warnings about what would probably spoil a run.
    pub fn check(self, base_dir: &Path) -> Checked<(ModelSpec, Vec<Invalid>)> {
        let duration = positive_duration(&FieldPath::root("duration"), self.duration)?;
        let warmup = self.warmup.map_or(SimDuration::ZERO, |w| w.0);
        if warmup >= duration {
            return Err(Invalid::new(
                "warmup",
                format!("must be shorter than duration ({warmup} >= {duration})"),
            ));
        }
        let timeseries_bin = positive_duration_or(
            &FieldPath::root("timeseries_bin"),
            self.timeseries_bin,
            DEFAULT_TIMESERIES_BIN,
        )?;
        let agent_names: Vec<String> = self.agents.keys().cloned().collect();
        let agents = self
            .agents
            .iter()
            .map(|(name, agent)| agent.check(name, base_dir))
            .collect::<Checked<Vec<_>>>()?;
        let classes = check_workload(&self.workload, &agent_names, base_dir)?;
        let (pools, router) = check_pools(
            self.capacity.as_ref(),
            self.prices.as_ref(),
            &self.pool,
            self.router.as_ref(),
            base_dir,
        )?;
        let client = self.client.unwrap_or_default().check()?;
        let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
        let faults = self
            .fault
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let at = FieldPath::root("fault").child(i);
                let (target, fault) = f.read_with_common(&at)?;
                let pool = target.check(&at, &pool_names)?;
                fault.check(&at, pool)
            })
            .collect::<Checked<Vec<_>>>()?;
        let recovery = self
            .recovery
            .map_or(Ok(RecoveryRule::default()), |r| r.check())?;
        let mut spec = ModelSpec {
            name: self.name,
            seed: checks::seed(&FieldPath::root("seed"), self.seed)?,
            duration,
            warmup,
            timeseries_bin,
            classes,
            agents,
            pools,
            router,
            reports_pools: !self.pool.is_empty(),
            client,
            faults,
            recovery,
            windows: Vec::new(),
        };
        spec.windows = check_windows(&self.window, &spec)?;
        // Calls too large for the last pool's buckets are refused for good.
        let mut warnings = too_large(&spec.agents, &spec.classes, &spec.last_pool().capacity);
        warnings.extend(thoughtless(&spec.classes));
        warnings.extend(rounded_up(&spec.agents, &spec.classes));
        warnings.extend(empty(&spec.classes));
        Ok((spec, warnings))
    }
}

/// The model's pools and router: one pool named `capacity` from
/// `[capacity]` and `[prices]`, or the `[[pool]]`s behind a `[router]` (which
/// a single pool may leave out).
fn check_pools(
    capacity: Option<&Tagged<RawCapacity>>,
    prices: Option<&RawPrices>,
    raw: &[RawPool],
    router: Option<&Tagged<RawRouter>>,
    base_dir: &Path,
) -> Checked<(Vec<PoolSpec>, Router)> {
    // The capacity at `at` and the prices at `prices_at`.
    let read = |at: FieldPath,
                prices_at: FieldPath,
                capacity: &Tagged<RawCapacity>,
                prices: Option<&RawPrices>| {
        let (service, kind) = capacity.read_with_common(&at)?;
        let capacity = kind.check(&service, &at, base_dir)?;
        let prices = prices.map_or(Ok(Prices::default()), |p| p.check(&prices_at, &capacity))?;
        Ok::<_, Invalid>((capacity, prices))
    };
    match (capacity, raw.is_empty()) {
        (Some(capacity), true) => {
            if router.is_some() {
                return Err(Invalid::new(
                    "router",
                    "a router spreads attempts over `[[pool]]`s; this model has one `[capacity]`",
                ));
            }
            let (capacity, prices) = read(
                FieldPath::root("capacity"),
                FieldPath::root("prices"),
                capacity,
                prices,
            )?;
            let name = "capacity".to_owned();
            return Ok((
                vec![PoolSpec {
                    name,
                    capacity,
                    prices,
                }],
                Router::Only,
            ));
        }
        (Some(_), false) => {
            return Err(Invalid::new(
                "capacity",
                "give either one `[capacity]` or `[[pool]]`s, not both",
            ));
        }
        (None, true) => {
            return Err(Invalid::new(
                "capacity",
                "missing: a `[capacity]` table (or `[[pool]]`s with a `[router]`)",
            ));
        }
        (None, false) => {}
    }
    if prices.is_some() {
        return Err(Invalid::new(
            "prices",
            "with `[[pool]]`s each pool has its own `prices`: move these into the pools",
        ));
    }
    let mut pools: Vec<PoolSpec> = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let at = FieldPath::root("pool").child(i);
        if p.name.is_empty()
            || p.name.contains(['.', ','])
            || pools.iter().any(|q| q.name == p.name)
        {
            return Err(Invalid::new(
                at.child("name"),
                format!(
                    "must be non-empty, without dots or commas, and unlike every other pool's (got \"{}\")",
                    p.name
                ),
            ));
        }
        let (capacity, prices) = read(
            at.child("capacity"),
            at.child("prices"),
            &p.capacity,
            p.prices.as_ref(),
        )?;
        pools.push(PoolSpec {
            name: p.name.clone(),
            capacity,
            prices,
        });
    }
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    let Some(router) = router else {
        if pools.len() == 1 {
            return Ok((pools, Router::Only));
        }
        return Err(Invalid::new(
            "router",
            format!(
                "missing: {} pools need a router, e.g. [router] kind = \"spillover\", order = [\"{}\"]",
                pools.len(),
                names.join("\", \"")
            ),
        ));
    };
    let at = FieldPath::root("router");
    let RawRouter::Spillover(spill) = router.read(&at)?;
    let mut order = Vec::with_capacity(spill.order.len());
    for (i, name) in spill.order.iter().enumerate() {
        let Some(p) = names.iter().position(|n| n == name) else {
            return Err(Invalid::new(
                at.child("order").child(i),
                format!(
                    "no pool is called `{name}`: the pools are {}",
                    names.join(", ")
                ),
            ));
        };
        if order.contains(&p) {
            return Err(Invalid::new(
                at.child("order").child(i),
                format!("`{name}` is listed twice: each pool is offered attempts once"),
            ));
        }
        order.push(p);
    }
    if let Some(missing) = names.iter().enumerate().find(|(p, _)| !order.contains(p)) {
        return Err(Invalid::new(
            at.child("order"),
            format!(
                "pool `{}` is not in the order, so no attempt could reach it: list every pool",
                missing.1
            ),
        ));
    }
    let mut queue_up_to = vec![0; order.len()];
    for (name, n) in &spill.queue_up_to {
        let field = at.child("queue_up_to").child(name);
        let position = order.iter().position(|&p| names[p] == name.as_str());
        let Some(i) = position.filter(|&i| i + 1 < order.len()) else {
            return Err(Invalid::new(
                field,
                "names a pool before the last in `order`: the last takes every attempt the others cannot",
            ));
        };
        if pools[order[i]].capacity.lanes().is_none() {
            return Err(Invalid::new(
                field,
                "applies to reserved pools only: a shared API has no lane queue",
            ));
        }
        queue_up_to[i] = checks::whole(&field, *n, 0, u64::from(u32::MAX))? as u32;
    }
    Ok((pools, Router::Spillover { order, queue_up_to }))
}

/// Warnings about calls that a token bucket can never admit.
fn too_large(
    agents: &[AgentProfile],
    classes: &[UserClass],
    capacity: &CapacitySpec,
) -> Vec<Invalid> {
    let mut warnings = Vec::new();
    let CapacitySpec::SharedApi(api) = capacity else {
        return warnings;
    };
    for (index, agent) in agents.iter().enumerate() {
        if !classes.iter().any(|c| c.agent == index) {
            continue;
        }
        let at = FieldPath::root("agents").child(&agent.name);
        // A call larger than a bucket's burst can never be admitted.
        let held_by = |burst: Option<u64>, key: &str| {
            if burst.is_some() {
                format!("capacity.burst.{key}")
            } else {
                format!("capacity.{key}_per_min")
            }
        };
        if let Some(limit) = api
            .input_tokens_per_min
            .map(|r| api.burst.input_tokens.unwrap_or(r))
        {
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
                warnings.push(Invalid::new(
                    at.child("input_tokens"),
                    format!(
                        "{} of calls ask for more than {} ({limit}) and can never be admitted; run fails their loops and counts them as too_large",
                        share_text(share),
                        held_by(api.burst.input_tokens, "input_tokens")
                    ),
                ));
            }
        }
        if let Some(limit) = api
            .output_tokens_per_min
            .map(|r| api.burst.output_tokens.unwrap_or(r))
            && u64::from(agent.max_output_tokens) > limit
        {
            warnings.push(Invalid::new(
                at.child("max_output_tokens"),
                format!(
                    "every call reserves {} output tokens, more than {} ({limit}) can ever hold: no call can be admitted",
                    agent.max_output_tokens,
                    held_by(api.burst.output_tokens, "output_tokens")
                ),
            ));
        }
    }
    warnings
}

/// Warnings about closed populations whose think time can be 0: a user whose
/// loop fails at once starts the next at the same instant, and if every try
/// fails at once the clock never moves (`run` stops such a run).
fn thoughtless(classes: &[UserClass]) -> Vec<Invalid> {
    classes
        .iter()
        .filter_map(|class| match &class.population {
            Population::Closed { think_time, .. } if think_time.dist().exceedance(0.0) < 1.0 => {
                Some(Invalid::new(
                    FieldPath::root("workload").child(&class.name).child("think_time"),
                    "can be 0: users whose loops fail at once restart them at the same instant, and if every loop does, simulated time stops (run then stops with an error); give users a moment to think",
                ))
            }
            _ => None,
        })
        .collect()
}

/// Warnings about step and burst-width distributions whose draws can round
/// to 0: such a draw is taken as 1.
fn rounded_up(agents: &[AgentProfile], classes: &[UserClass]) -> Vec<Invalid> {
    let mut warnings = Vec::new();
    for (index, agent) in agents.iter().enumerate() {
        if !classes.iter().any(|c| c.agent == index) {
            continue;
        }
        let at = FieldPath::root("agents").child(&agent.name);
        let counts = [
            (at.child("steps"), Some(&agent.steps)),
            (
                at.child("fan_out").child("width"),
                agent.fan_out.as_ref().map(|f| &f.width),
            ),
        ];
        for (path, count) in counts {
            // Draws below a half round to 0.
            let share = count.map_or(0.0, |c| 1.0 - c.dist().exceedance(0.5));
            if share >= TOO_LARGE_WARN_SHARE {
                warnings.push(Invalid::new(
                    path,
                    format!(
                        "{} of draws round to 0, and are taken as 1",
                        share_text(share)
                    ),
                ));
            }
        }
    }
    warnings
}

/// Warnings about classes that can never start a loop.
fn empty(classes: &[UserClass]) -> Vec<Invalid> {
    classes
        .iter()
        .filter(|c| matches!(c.population, Population::Closed { users: 0, .. }))
        .map(|c| {
            Invalid::new(
                FieldPath::root("workload").child(&c.name).child("users"),
                "is 0: this class starts no loops, and a surge multiplies 0 users to 0",
            )
        })
        .collect()
}

/// `0.3%`, or `about 1 in 40000` for small shares.
fn share_text(share: f64) -> String {
    if share >= 0.001 {
        format!("{:.1}%", share * 100.0)
    } else {
        format!("about 1 in {:.0}", 1.0 / share)
    }
}
