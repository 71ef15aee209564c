//! The whole-model warnings: what does not stop a run but probably spoils
//! it (calls too large ever to be admitted, batches that expire, classes
//! that never think, counts rounded up, rows skipped, rules left unstated).

use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use crate::model::ModelSpec;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::capacity::shared_api::{Admit, SharedApiSpec};
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::classes::{Arrivals, Population, UserClass};

/// Warn about calls too large for a bucket only when at least this share of
/// calls is: below it, a run would rarely meet one.
const TOO_LARGE_WARN_SHARE: f64 = 1e-6;
/// Warn about batches that expire only when at least this share does: a
/// batch's latency is a distribution whose far tail (1 in 30,000 for the
/// shipped Batch pool's lognormal past 24 h) is the provider's own risk,
/// not a mistake in the model.
const EXPIRY_WARN_SHARE: f64 = 0.01;

/// What does not stop a run but probably spoils it.
pub(super) fn warnings(spec: &ModelSpec) -> Vec<Invalid> {
    // Calls too large for the buckets of the pool that takes what the
    // others cannot are refused for good.
    let mut warnings = spec.last_pool().map_or_else(Vec::new, |p| {
        too_large(&spec.agents, &spec.classes, &p.capacity)
    });
    warnings.extend(unstated_cache_reads(spec));
    warnings.extend(unpriced_units(spec));
    warnings.extend(expiring(&spec.pools));
    warnings.extend(thoughtless(&spec.classes));
    warnings.extend(rounded_up(&spec.agents, &spec.classes));
    warnings.extend(empty(&spec.classes));
    warnings.extend(skipped_rows(&spec.classes));
    warnings.extend(failed_calls(&spec.classes));
    warnings
}

/// Warnings about calls that a token bucket can never admit.
fn too_large(
    agents: &[AgentProfile],
    classes: &[UserClass],
    capacity: &CapacitySpec,
) -> Vec<Invalid> {
    let mut warnings = Vec::new();
    if let CapacitySpec::SelfHosted(hosted) = capacity {
        for agent in agents
            .iter()
            .enumerate()
            .filter(|(i, _)| classes.iter().any(|c| c.agent == *i))
            .map(|(_, a)| a)
        {
            warnings.extend(too_large_for_kv(agent, hosted.kv_cache_tokens));
        }
        return warnings;
    }
    let CapacitySpec::SharedApi(api) = capacity else {
        return warnings;
    };
    for (index, agent) in agents.iter().enumerate() {
        if !classes.iter().any(|c| c.agent == index) {
            continue;
        }
        warnings.extend(too_large_for_buckets(agent, api));
    }
    warnings
}

/// Where a bucket's capacity is set: its burst, or its limit.
fn held_by(burst: Option<u64>, key: &str) -> String {
    if burst.is_some() {
        format!("capacity.burst.{key}")
    } else {
        format!("capacity.{key}_per_min")
    }
}

/// Warnings about calls of `agent` larger than a bucket of `api` can ever
/// hold: its input limit, its output limit, or its combined limit (which
/// asks `max_output_tokens` weighted beside the input).
fn too_large_for_buckets(agent: &AgentProfile, api: &SharedApiSpec) -> Vec<Invalid> {
    let at = FieldPath::root("agents").child(&agent.name);
    // The limits see only uncached input when cache reads do not count.
    let counted = if api.counting.cache_reads() {
        1.0
    } else {
        1.0 - agent.cached_input_share
    };
    // The share of calls whose counted input exceeds `room` tokens (all of
    // them where there is no room). Counts round to the nearest token, so
    // only draws above room + 0.5 exceed it.
    let exceeding = |room: Option<u64>| -> f64 {
        match (room, counted > 0.0) {
            (None, _) => 1.0,
            (Some(room), true) => agent
                .input_tokens
                .dist()
                .exceedance((room as f64 + 0.5) / counted),
            (Some(_), false) => 0.0,
        }
    };
    let output = u64::from(agent.max_output_tokens) * u64::from(api.output_token_weight);
    let mut warnings = Vec::new();
    // Each bucket's capacity, the room it leaves for counted input, its
    // key and its burst.
    let input = api.input_tokens_per_min.map(|r| {
        let limit = api.burst.input_tokens.unwrap_or(r);
        (limit, Some(limit), "input_tokens", api.burst.input_tokens)
    });
    // A combined limit that admits below it never refuses a call for its size.
    let combined = api
        .tokens_per_min
        .filter(|_| api.admit == Admit::WithinLimit)
        .map(|r| {
            let limit = api.burst.tokens.unwrap_or(r);
            let room = api.tokens_charged.input_room(limit, output);
            (limit, room, "tokens", api.burst.tokens)
        });
    for (limit, room, key, burst) in input.into_iter().chain(combined) {
        let share = exceeding(room);
        if share >= TOO_LARGE_WARN_SHARE {
            warnings.push(Invalid::new(
                at.child("input_tokens"),
                format!(
                    "{} of calls ask for more than {} ({limit}) and can never be admitted; run fails their loops and counts them as too_large",
                    share_text(share),
                    held_by(burst, key)
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
    warnings
}

/// A warning when calls of `agent` can hold more of a replica's KV cache
/// (input plus `max_output_tokens`) than it has: no replica can take them.
fn too_large_for_kv(agent: &AgentProfile, kv_cache_tokens: u64) -> Option<Invalid> {
    let at = FieldPath::root("agents").child(&agent.name);
    let room = kv_cache_tokens as f64 - f64::from(agent.max_output_tokens);
    // Counts round to the nearest token: only draws above room + 0.5 exceed it.
    let share = if room < 1.0 {
        1.0
    } else {
        agent.input_tokens.dist().exceedance(room + 0.5)
    };
    (share >= TOO_LARGE_WARN_SHARE).then(|| {
        Invalid::new(
            at.child("input_tokens"),
            format!(
                "{} would hold more KV cache (input plus max_output_tokens = {}) than a replica has (capacity.kv_cache_tokens = {kv_cache_tokens}) and can never be served; run fails their loops and counts them as too_large",
                how_many(share, "call", "calls"),
                agent.max_output_tokens
            ),
        )
    })
}

/// Warnings about batch pools whose batches can take longer than their
/// completion window: those batches expire, and their calls fail.
/// A warning, once, when a shared API with an input limit leaves unstated
/// whether prompt-cache reads count towards it and the model's calls read
/// from the cache: providers differ, by a factor of several at coding
/// agents' hit rates.
fn unstated_cache_reads(spec: &ModelSpec) -> Option<Invalid> {
    let reads = spec
        .classes
        .iter()
        .any(|c| spec.agents[c.agent].cached_input_share > 0.0);
    if !reads {
        return None;
    }
    let pool = spec.pools.iter().find(|p| {
        matches!(&p.capacity, CapacitySpec::SharedApi(api)
            if api.counting.cache_reads.is_none()
                && (api.input_tokens_per_min.is_some() || api.tokens_per_min.is_some()))
    })?;
    let at = match spec.reports_pools {
        false => FieldPath::root("capacity"),
        true => FieldPath::root("pool").child(&pool.name).child("capacity"),
    };
    Some(Invalid::new(
        at.child("cache_reads_count"),
        "unstated, so prompt-cache reads count towards input_tokens_per_min (and tokens_per_min), as OpenAI counts them; Anthropic does not count them for its current models, which lets several times the input through at agents' cache hit rates: say which, or name a preset (loopcap presets)",
    ))
}

/// A warning for each pool deployed in provisioned units with no price
/// for them: its month would read $0, as if the deployment were free.
fn unpriced_units(spec: &ModelSpec) -> Vec<Invalid> {
    spec.pools
        .iter()
        .filter(|p| {
            p.capacity.provisioned_units().is_some()
                && p.prices.per_unit_hour == 0.0
                && p.prices.per_month == 0.0
        })
        .map(|pool| {
            let at = match spec.reports_pools {
                false => FieldPath::root("prices"),
                true => FieldPath::root("pool").child(&pool.name).child("prices"),
            };
            Invalid::new(
                at.child("per_provisioned_unit_hour"),
                "unstated, so the deployment's units cost $0: give your rate a unit-hour, or per_provisioned_unit_month for units reserved by the month (an Azure preset carries its PTU-hour rate; `loopcap presets` lists them)",
            )
        })
        .collect()
}

fn expiring(pools: &[PoolSpec]) -> Vec<Invalid> {
    pools
        .iter()
        .filter_map(|pool| {
            let CapacitySpec::Batch(batch) = &pool.capacity else {
                return None;
            };
            let share = batch
                .latency
                .dist()
                .exceedance(batch.completion_window.as_secs_f64());
            (share >= EXPIRY_WARN_SHARE).then(|| {
                Invalid::new(
                    FieldPath::root("pool").child(&pool.name).child("capacity").child("latency"),
                    format!(
                        "{} would take longer than the completion window ({}) and expire, failing every call in them",
                        how_many(share, "batch", "batches"),
                        batch.completion_window
                    ),
                )
            })
        })
        .collect()
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
/// Warnings about recorded calls that failed, left out of a replay.
fn failed_calls(classes: &[UserClass]) -> Vec<Invalid> {
    classes
        .iter()
        .filter_map(|c| {
            let (Population::Sessions(s) | Population::Resampled { sessions: s, .. }) =
                &c.population
            else {
                return None;
            };
            (s.failed_calls > 0).then(|| {
                Invalid::new(
                    FieldPath::root("workload").child(&c.name),
                    format!(
                        "{} calls of {} failed as recorded (error spans, such as 429s) and are left out: the simulation makes its own failures",
                        s.failed_calls, s.shown
                    ),
                )
            })
        })
        .collect()
}

/// Warnings about trace rows skipped as bad.
fn skipped_rows(classes: &[UserClass]) -> Vec<Invalid> {
    classes
        .iter()
        .filter_map(|c| {
            let (skipped, shown, field) = match &c.population {
                Population::Trace(t) => (t.skipped_rows, &t.shown, "trace"),
                Population::Sessions(s) => (s.skipped_rows, &s.shown, "trace"),
                Population::Resampled { sessions: s, .. } => (s.skipped_rows, &s.shown, "resample"),
                _ => return None,
            };
            (skipped > 0).then(|| {
                Invalid::new(
                    FieldPath::root("workload").child(&c.name).child(field),
                    format!("{skipped} bad rows of {shown} are skipped (bad_rows = \"skip\")"),
                )
            })
        })
        .collect()
}

fn empty(classes: &[UserClass]) -> Vec<Invalid> {
    classes
        .iter()
        .filter_map(|c| {
            let at = FieldPath::root("workload").child(&c.name);
            match &c.population {
                Population::Closed { users: 0, .. } => Some(at.child("users")),
                Population::Open(Arrivals::Poisson { per_min })
                | Population::Resampled {
                    arrivals: Arrivals::Poisson { per_min },
                    ..
                } if *per_min == 0.0 => Some(at.child("arrivals").child("per_min")),
                _ => None,
            }
        })
        .map(|at| {
            Invalid::new(
                at,
                "is 0: this class starts no loops, and a surge multiplies 0 by 0",
            )
        })
        .collect()
}

/// `0.3%`, or `about 1 in 40000` for small shares.
/// "every call" for a share of 1, else "12.5% of calls".
fn how_many(share: f64, one: &str, many: &str) -> String {
    if share >= 1.0 {
        format!("every {one}")
    } else {
        format!("{} of {many}", share_text(share))
    }
}

fn share_text(share: f64) -> String {
    if share >= 0.001 {
        format!("{:.1}%", share * 100.0)
    } else {
        format!("about 1 in {:.0}", 1.0 / share)
    }
}
