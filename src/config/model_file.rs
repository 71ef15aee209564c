//! A model file as written, and the whole-model checks: horizon, warm-up
//! and names that refer to each other (what only warns is in `warnings`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::agent::RawAgent;
use super::capacity::{RawCapacity, RawSharedApi};
use super::checks::{self, Checked, positive_duration, positive_duration_or};
use super::client::RawClient;
use super::diagnostic::Invalid;
use super::fault::{RawFault, RawRecovery};
use super::field_path::FieldPath;
use super::llm::RawLlm;
use super::pools::{Calls, RawPool, RawRouting};
use super::prices::RawPrices;
use super::quantity::{At, Duration, Number, parse_week_time};
use super::router::RawRouter;
use super::shared_limits::{RawSharedLimits, check_accounts, check_shared_limits};
use super::tagged::Tagged;
use super::warnings::warnings;
use super::workload::{RawUserClass, check_workload};
use crate::engine::{SimDuration, SimTime};
use crate::model::ModelSpec;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::estimate::typical::mean_unqueued_loop_s;
use crate::model::fault::Fault;
use crate::model::measure::recovery::RecoveryRule;
use crate::model::measure::window::{Window, WindowKind};
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::classes::{Population, UserClass};
use crate::model::workload::llm::Llm;

/// The bin width of `timeseries.csv` when the model does not set one.
pub const DEFAULT_TIMESERIES_BIN: SimDuration = SimDuration::from_secs(10);

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    name: String,
    seed: Number,
    /// When the run starts in the week: `"Mon 08:00"`, or `"08:00"` on a
    /// Monday (default: Monday 00:00). Classes' profiles follow this clock.
    start: Option<String>,
    duration: Duration,
    warmup: Option<Duration>,
    timeseries_bin: Option<Duration>,
    workload: Vec<RawUserClass>,
    agents: BTreeMap<String, RawAgent>,
    /// The LLMs the agents call, by name (default: one unnamed model).
    #[serde(default)]
    models: BTreeMap<String, RawLlm>,
    /// The one capacity of a model without `[[pool]]`s.
    capacity: Option<Tagged<RawCapacity>>,
    /// Limits over every shared API pool together, as an organization's
    /// over its projects': their buckets, shared, and their counting rules.
    organization: Option<RawSharedApi>,
    /// Limits over the shared API pools each names, together (an
    /// organization's for one model over its projects' pools).
    #[serde(default)]
    shared_limits: BTreeMap<String, RawSharedLimits>,
    client: Option<RawClient>,
    /// The prices of a model without `[[pool]]`s.
    prices: Option<RawPrices>,
    /// Named capacity pools, each with its prices, behind a `[router]`.
    #[serde(default)]
    pool: Vec<RawPool>,
    router: Option<Tagged<RawRouter>>,
    /// Routers of classes that do not use `[router]`, by class name.
    #[serde(default)]
    class_router: BTreeMap<String, Tagged<RawRouter>>,
    #[serde(default)]
    fault: Vec<Tagged<RawFault>>,
    recovery: Option<RawRecovery>,
    #[serde(default)]
    window: Vec<RawWindow>,
}

/// A `[[window]]`: a stretch of time the summary reports on its own.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    name: String,
    at: At,
    #[serde(rename = "for")]
    duration: Duration,
}

/// The named windows, each starting before the horizon, with a name unique
/// among every window (surges' and faults' included) that can address it.
fn check_windows(raw: &[RawWindow], spec: &ModelSpec, start: SimDuration) -> Checked<Vec<Window>> {
    let mut taken: Vec<String> = spec.all_windows().into_iter().map(|w| w.name).collect();
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
        let from = w.at.after(start);
        if from >= spec.duration {
            return Err(Invalid::new(
                at.child("at"),
                format!(
                    "starts at or after the horizon ({from} >= {})",
                    spec.duration
                ),
            ));
        }
        taken.push(w.name.clone());
        named.push(Window {
            name: w.name.clone(),
            kind: WindowKind::Named,
            start: SimTime::ZERO + from,
            end: SimTime::ZERO + from + duration,
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
        let model_names: Vec<String> = self.models.keys().cloned().collect();
        let models = match self.models.is_empty() {
            true => vec![Llm {
                name: "model".to_owned(),
                input_tokens: None,
                output_tokens: None,
            }],
            false => self
                .models
                .iter()
                .map(|(name, m)| m.check(name, base_dir))
                .collect::<Checked<Vec<_>>>()?,
        };
        let agents = self
            .agents
            .iter()
            .map(|(name, agent)| agent.check(name, &model_names, base_dir))
            .collect::<Checked<Vec<_>>>()?;
        let start = self
            .start
            .as_deref()
            .map_or(Ok(SimDuration::ZERO), parse_week_time)
            .map_err(|e| Invalid::new("start", e.0))?;
        let classes = check_workload(&self.workload, &agent_names, &model_names, base_dir, start)?;
        let class_names: Vec<String> = classes.iter().map(|c| c.name.clone()).collect();
        let every_model: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        let raw_routing = RawRouting {
            capacity: self.capacity.as_ref(),
            prices: self.prices.as_ref(),
            pools: &self.pool,
            router: self.router.as_ref(),
            class_routers: &self.class_router,
        };
        let routing = raw_routing.check(
            &calls(&every_model, &class_names, &agent_names, &classes, &agents),
            base_dir,
        )?;
        let superseded = raw_routing.superseded_presets();
        let client = self.client.unwrap_or_default().check()?;
        let pool_names: Vec<String> = routing.pools.iter().map(|p| p.name.clone()).collect();
        let faults = check_faults(&self.fault, &pool_names, start)?;
        let recovery = self
            .recovery
            .map_or(Ok(RecoveryRule::default()), |r| r.check())?;
        // A self-hosted pool has figures of its own to report.
        let reports_pools = !self.pool.is_empty()
            || routing
                .pools
                .iter()
                .any(|p| matches!(p.capacity, CapacitySpec::SelfHosted(_)));
        let shared_limits = check_shared_limits(
            &routing.preset_limits,
            &self.shared_limits,
            self.organization.as_ref(),
            &routing.pools,
        )?;
        let accounts = check_accounts(&routing.preset_accounts, &routing.pools)?;
        let mut spec = ModelSpec {
            start: self.start.is_some().then_some(start),
            name: self.name,
            seed: checks::seed(&FieldPath::root("seed"), self.seed)?,
            duration,
            warmup,
            timeseries_bin,
            classes,
            agents,
            reports_models: !self.models.is_empty(),
            models,
            pools: routing.pools,
            routers: routing.routers,
            router_of: routing.router_of,
            reports_pools,
            client,
            shared_limits,
            accounts,
            faults,
            recovery,
            windows: Vec::new(),
        };
        spec.windows = check_windows(&self.window, &spec, start)?;
        share_mid_loop(&mut spec);
        let mut warnings = warnings(&spec);
        warnings.extend(superseded);
        Ok((spec, warnings))
    }
}

/// Users who join a closed population steady are in a loop as often as a
/// loop takes of their cycle: an unqueued loop's mean (or a resampled
/// session's, as recorded) against the think time's.
fn share_mid_loop(spec: &mut ModelSpec) {
    for class in 0..spec.classes.len() {
        let loop_s = match &spec.classes[class].population {
            Population::Closed {
                joining: Some(_),
                sessions: Some(trace),
                ..
            } => trace.mean_session().2,
            Population::Closed {
                joining: Some(_), ..
            } => mean_unqueued_loop_s(spec, class),
            _ => continue,
        };
        if let Population::Closed {
            think_time,
            joining: Some(joining),
            ..
        } = &mut spec.classes[class].population
        {
            let cycle_s = loop_s + think_time.dist().mean();
            joining.mid_loop = if cycle_s > 0.0 { loop_s / cycle_s } else { 0.0 };
        }
    }
}

/// The faults, each with the pool it targets.
fn check_faults(
    raw: &[Tagged<RawFault>],
    pool_names: &[String],
    start: SimDuration,
) -> Checked<Vec<Fault>> {
    raw.iter()
        .enumerate()
        .map(|(i, f)| {
            let at = FieldPath::root("fault").child(i);
            let (target, fault) = f.read_with_common(&at)?;
            let pool = target.check(&at, pool_names)?;
            fault.check(&at, pool, start)
        })
        .collect::<Checked<Vec<_>>>()
}

/// Who calls which model: what the routers are checked against.
fn calls<'a>(
    models: &'a [String],
    classes: &'a [String],
    agent_names: &'a [String],
    checked: &[UserClass],
    agents: &[AgentProfile],
) -> Calls<'a> {
    Calls {
        models,
        classes,
        agents: checked
            .iter()
            .map(|c| agent_names[c.agent].as_str())
            .collect(),
        class_models: checked
            .iter()
            .map(|c| {
                let mut used = agents[c.agent].mix.models();
                if let Population::Sessions(trace)
                | Population::Resampled {
                    sessions: trace, ..
                } = &c.population
                {
                    used.extend(trace.models());
                    used.sort_unstable();
                    used.dedup();
                }
                used
            })
            .collect(),
    }
}
