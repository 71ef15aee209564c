//! A class's typical loop, worked out from the model without running it:
//! how long its calls, tools and loops take when nothing waits, how many
//! calls a step makes, and its load at its peak. The memory and work
//! estimates ([`super::footprint`], [`super::work`]) and the model's
//! warnings read them.

use crate::engine::SimTime;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::distribution::Dist;
use crate::model::spec::ModelSpec;
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::classes::{Population, UserClass};

/// The largest factor on a class's load before `horizon`: the product of
/// the surges active at once, and its profile's.
pub(super) fn peak_multiplier(class: &UserClass, horizon: SimTime) -> f64 {
    let profile = class.profile.iter().flat_map(|p| p.changes(horizon));
    class
        .surges
        .iter()
        .map(|s| s.at)
        .chain(profile)
        .chain([SimTime::ZERO])
        .map(|at| class.multiplier(at))
        .fold(1.0, f64::max)
}

/// A class's highest arrival rate per minute, surges and profile included.
pub(super) fn peak_rate(class: &UserClass, horizon: SimTime) -> f64 {
    match &class.population {
        Population::Open(arrivals) | Population::Resampled { arrivals, .. } => {
            arrivals.per_min(true) * peak_multiplier(class, horizon)
        }
        // A trace's rate over its window (its bursts are not in the estimate).
        Population::Trace(trace) => trace.per_min,
        Population::Closed { .. } | Population::Sessions(_) => 0.0,
    }
}

/// Calls a step makes on average: one, or a fan-out's median width every
/// `every` steps.
pub(super) fn calls_per_step(agent: &AgentProfile) -> f64 {
    agent.fan_out.as_ref().map_or(1.0, |f| {
        let every = f64::from(f.every);
        (median(f.width.dist()).max(1.0) + every - 1.0) / every
    })
}

/// How long a typical loop of `agent` runs when it never waits: its
/// typical steps (the median's, say, or the mean's), each a typical time to
/// first token plus typical decoding, with typical tool time between them;
/// capped by its deadline.
pub(super) fn unqueued_loop_s(
    spec: &ModelSpec,
    class: usize,
    agent: &AgentProfile,
    typical: Typical,
) -> f64 {
    let steps = typical(agent.steps.dist()).max(1.0);
    let call_s = call_s(spec, class, agent, typical);
    let loop_s = steps * call_s + (steps - 1.0) * tool_s(agent, typical);
    agent
        .deadline
        .map_or(loop_s, |d| loop_s.min(d.as_secs_f64()))
}

/// The typical wait for tools between two steps of `agent` (0 without
/// tools): a typical call's, times the typical number of calls when they
/// run one after another.
pub(super) fn tool_s(agent: &AgentProfile, typical: Typical) -> f64 {
    let one = agent
        .tool_latency
        .as_ref()
        .map_or(0.0, |t| typical(t.dist()));
    match &agent.tool_calls {
        Some(calls) if calls.serial => one * typical(calls.per_step.dist()),
        _ => one,
    }
}

/// How long a typical call of `agent` (run by user class `class`) takes in
/// service at the pool its attempts go to first: typical time to first
/// token plus typical decoding (for a Batch API, half a collection and a
/// typical latency; for self-hosted replicas, prefill and decoding alone).
pub(super) fn call_s(
    spec: &ModelSpec,
    class: usize,
    agent: &AgentProfile,
    typical: Typical,
) -> f64 {
    let service = match &spec.entry_pool(class).capacity {
        // Half a collection, then the batch.
        CapacitySpec::Batch(batch) => {
            return batch.collect_for.as_secs_f64() / 2.0 + typical(batch.latency.dist());
        }
        // Prefill, then decoding alone.
        CapacitySpec::SelfHosted(fleet) => {
            let input = typical(agent.input_tokens.dist()) * (1.0 - agent.cached_input_share);
            let output =
                typical(agent.output_tokens.dist()).min(f64::from(agent.max_output_tokens));
            return input / fleet.lone_prefill_tokens_per_s()
                + output * fleet.decode.iteration_s(1, input as u64);
        }
        capacity => capacity
            .service()
            .expect("every other kind has a service time"),
    };
    let decode_s = service.output_tokens_per_s.map_or(0.0, |tps| {
        typical(agent.output_tokens.dist()).min(f64::from(agent.max_output_tokens)) / tps
    });
    typical(service.time_to_first_token.dist()) + decode_s
}

/// A statistic of a distribution that stands for its typical value:
/// [`median`], or [`Dist::mean`].
pub(super) type Typical = fn(&Dist) -> f64;

/// How long a loop of class `class` runs on average when it never waits
/// (the means of its steps, service times and tool times; a parallel
/// tool wait counted as one call's).
pub fn mean_unqueued_loop_s(spec: &ModelSpec, class: usize) -> f64 {
    let agent = &spec.agents[spec.classes[class].agent];
    unqueued_loop_s(spec, class, agent, Dist::mean)
}

pub(super) fn median(dist: &Dist) -> f64 {
    quantile(dist, 0.5)
}

/// The `p`-quantile of `dist`: the least x with P(X > x) <= 1 - p, found
/// by bisection on its exceedance.
pub(super) fn quantile(dist: &Dist, p: f64) -> f64 {
    let tail = 1.0 - p;
    let mut high = 1.0;
    while dist.exceedance(high) > tail {
        if high > 1e300 {
            return f64::INFINITY;
        }
        high *= 2.0;
    }
    let mut low = 0.0;
    if dist.exceedance(low) <= tail {
        return 0.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (low + high);
        if dist.exceedance(mid) > tail {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}
