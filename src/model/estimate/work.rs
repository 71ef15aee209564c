//! How much work a run of a model is, worked out from the model before
//! running it, so that a model that would run for days is refused rather
//! than left to, and a run that makes far more events than its model
//! should is stopped.
//!
//! Work is counted in events handled: the loops each class starts over the
//! run (open arrivals at their peak rate; closed users once per think time
//! and loop; a trace's rows; recorded sessions' rounds), each loop an
//! arrival plus [`EVENTS_PER_CALL`] for each call of its median steps and
//! an event for each tool call; an on/off process's phase changes; an
//! autoscaler's decisions; the time-series bins a fault's recovery is
//! judged on; and, for self-hosted replicas, a look at every replica for
//! each call and decision (routing and autoscaling scan the fleet). A run
//! that handles [`RUN_MARGIN`] times its estimate (plus [`RUN_SLACK`]) is
//! stopped: e.g. users who think for a microsecond and whose loops fail at
//! once restart them millions of times a second, which no estimate of a
//! loop that runs foresees.

use crate::engine::SimTime;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::distribution::DurationDist;
use crate::model::estimate::footprint::{Cause, count};
use crate::model::estimate::typical::{
    call_s, calls_per_step, median, peak_multiplier, peak_rate, tool_s, unqueued_loop_s,
};
use crate::model::spec::ModelSpec;
use crate::model::workload::classes::{Arrivals, Population};
use crate::model::workload::sessions::SessionTrace;

/// Events a call makes on average: its attempt sent and finished, a retry's
/// backoff, a decode step. Shipped models make 1.2 to 5.6 events an attempt
/// (`loopcap run MODEL --json`: `events` / `attempts`), 2.1 at the median.
pub const EVENTS_PER_CALL: f64 = 2.0;

/// A run is stopped past this many times its estimated events...
pub const RUN_MARGIN: f64 = 20.0;

/// ... plus this many: a small model's estimate is far below what a run
/// handles in a second.
pub const RUN_SLACK: f64 = 1e7;

/// An event's work on one window, as a share of an event's own.
const WINDOW_SHARE: f64 = 30.0;
/// A window's summary at the end, in events.
const WINDOW_SUMMARY: f64 = 1000.0;

/// The events a budget allows unless told otherwise: about a minute of work
/// on one core (a run handles 3 to 6 million events a second).
pub const EVENT_BUDGET: u64 = 300_000_000;

/// Events one part of a model makes over a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    pub cause: Cause,
    pub events: f64,
    /// What makes them, in words.
    pub what: String,
}

/// The events a run of `spec` makes, part by part.
pub fn estimate(spec: &ModelSpec) -> Vec<Load> {
    let duration_s = spec.duration.as_secs_f64();
    let mut loads = Vec::new();
    let mut calls = 0.0;
    for index in 0..spec.classes.len() {
        calls += class_loads(spec, index, &mut loads);
    }
    fleet_loads(spec, calls, &mut loads);
    // Every event looks at every window, and each window's figures are
    // summed up at the end: measured, a window costs an event about a
    // thirtieth of an event's own work (`run` of models/mmc.toml for 20
    // minutes with 2,000 windows: 0.25 s against 0.004 s), and its summary
    // about a thousand events.
    let windows = spec.all_windows().len() as f64;
    if windows > 0.0 {
        let events = total(&loads);
        loads.push(Load {
            cause: Cause::Windows,
            events: events * windows / WINDOW_SHARE + windows * WINDOW_SUMMARY,
            what: format!(
                "{} windows, each looked at by every one of about {} events,",
                count(windows),
                count(events)
            ),
        });
    }
    if !spec.faults.is_empty() {
        let bins = duration_s / spec.timeseries_bin.as_secs_f64().max(1e-6);
        loads.push(Load {
            cause: Cause::Bins,
            events: bins,
            what: format!(
                "{} time-series bins a fault's recovery is judged on",
                count(bins)
            ),
        });
    }
    loads
}

/// The events of user class `index`'s loops (and fan-outs and phases),
/// added to `loads`; gives the calls its loops make.
fn class_loads(spec: &ModelSpec, index: usize, loads: &mut Vec<Load>) -> f64 {
    let class = &spec.classes[index];
    let duration_s = spec.duration.as_secs_f64();
    let agent = &spec.agents[class.agent];
    // No loop takes more steps in the run than fit in it, one after
    // another without waiting.
    let step_s = (call_s(spec, index, agent, median) + tool_s(agent, median)).max(1e-6);
    let steps = median(agent.steps.dist())
        .max(1.0)
        .min((duration_s / step_s).max(1.0));
    let per_step = calls_per_step(agent);
    let tools = if agent.tool_latency.is_some() {
        steps - 1.0
    } else {
        0.0
    };
    // The calls past one a step are a fan-out's.
    let per_loop = 1.0 + steps * EVENTS_PER_CALL + tools;
    let fanned = steps * (per_step - 1.0) * EVENTS_PER_CALL;
    let surge = peak_multiplier(class, SimTime::ZERO + spec.duration);
    let (loops, cause, what) = match &class.population {
        Population::Closed {
            users,
            think_time,
            sessions: Some(trace),
            ..
        } => {
            let users = f64::from(*users) * surge;
            return resampling_users(spec, index, (users, think_time), trace, loads);
        }
        Population::Closed {
            users, think_time, ..
        } => closed_loops(spec, index, f64::from(*users) * surge, think_time),
        Population::Sessions(trace) => return recorded_sessions(spec, index, trace, loads),
        Population::Resampled {
            sessions: trace, ..
        } => return resampled_sessions(spec, (index, surge), trace, loads),
        Population::Open(_) | Population::Trace(_) => {
            let per_s = peak_rate(class, SimTime::ZERO + spec.duration) / 60.0;
            (
                per_s * duration_s,
                Cause::Arrivals { class: index },
                format!(
                    "{} loops of {} ({per_s:.3} a second)",
                    count(per_s * duration_s),
                    class.name
                ),
            )
        }
    };
    let calls = loops * steps * per_step;
    if fanned > 0.0 {
        loads.push(Load {
            cause: Cause::FanOut { agent: class.agent },
            events: loops * fanned,
            what: format!(
                "the fan-out calls of {}'s {} loops, {fanned:.0} events a loop,",
                class.name,
                count(loops)
            ),
        });
    }
    loads.push(Load {
        // Loops longer than there are of them: their steps make the work.
        cause: match () {
            () if per_loop > loops.max(1000.0) => Cause::Steps { agent: class.agent },
            () if surge > 1.0 => Cause::Surges { class: index },
            () => cause,
        },
        events: loops * per_loop,
        what: format!("{what}, {} events each,", count(per_loop)),
    });
    loads.extend(phase_load(spec, index));
    calls
}

/// The sessions closed class `index`'s `users` (thinking between them)
/// resample from `trace`, added to `loads`; gives the calls they make.
fn resampling_users(
    spec: &ModelSpec,
    index: usize,
    (users, think_time): (f64, &DurationDist),
    trace: &SessionTrace,
    loads: &mut Vec<Load>,
) -> f64 {
    let (requests, rounds, session_s) = trace.mean_session();
    let cycle_s = (median(think_time.dist()) + session_s).max(1e-6);
    let sessions = users * spec.duration.as_secs_f64() / cycle_s;
    loads.push(Load {
        cause: Cause::Users { class: index },
        events: sessions * (requests + rounds * EVENTS_PER_CALL),
        what: format!(
            "{} sessions of {}'s {} users, resampled from {} recorded ones of {rounds:.1} rounds on average,",
            count(sessions),
            spec.classes[index].name,
            count(users),
            trace.sessions.len()
        ),
    });
    sessions * rounds
}

/// Class `index`'s recorded sessions, replayed once, added to `loads`;
/// gives the calls they make.
fn recorded_sessions(
    spec: &ModelSpec,
    index: usize,
    trace: &SessionTrace,
    loads: &mut Vec<Load>,
) -> f64 {
    let rounds = trace.rounds();
    loads.push(Load {
        cause: Cause::Arrivals { class: index },
        events: trace.sessions.len() as f64 + rounds as f64 * EVENTS_PER_CALL,
        what: format!(
            "{} recorded sessions of {} ({rounds} rounds)",
            trace.sessions.len(),
            spec.classes[index].name
        ),
    });
    rounds as f64
}

/// The sessions class `index` (its surges' peak factor `surge`) resamples
/// from `trace` as an open stream, added to `loads` with its phases'
/// events; gives the calls they make.
fn resampled_sessions(
    spec: &ModelSpec,
    (index, surge): (usize, f64),
    trace: &SessionTrace,
    loads: &mut Vec<Load>,
) -> f64 {
    let class = &spec.classes[index];
    let per_s = peak_rate(class, SimTime::ZERO + spec.duration) / 60.0;
    let sessions = per_s * spec.duration.as_secs_f64();
    let (requests, rounds, _) = trace.mean_session();
    loads.push(Load {
        cause: if surge > 1.0 {
            Cause::Surges { class: index }
        } else {
            Cause::Arrivals { class: index }
        },
        events: sessions * (requests + rounds * EVENTS_PER_CALL),
        what: format!(
            "{} sessions of {} ({per_s:.3} a second), resampled from {} recorded ones of {rounds:.1} rounds on average,",
            count(sessions),
            class.name,
            trace.sessions.len()
        ),
    });
    loads.extend(phase_load(spec, index));
    sessions * rounds
}

/// The loops `users` of closed class `index` start in the run, thinking
/// `think_time` between loops; what paces them, and the load in words.
fn closed_loops(
    spec: &ModelSpec,
    index: usize,
    users: f64,
    think_time: &DurationDist,
) -> (f64, Cause, String) {
    let class = &spec.classes[index];
    let agent = &spec.agents[class.agent];
    // A cycle of a microsecond at least: the clock's tick.
    let cycle_s =
        (median(think_time.dist()) + unqueued_loop_s(spec, index, agent, median)).max(1e-6);
    let loops = users * spec.duration.as_secs_f64() / cycle_s;
    // Users who start a loop more than once a second are paced by too
    // short a think time; else there are many.
    let cause = if cycle_s < 1.0 {
        Cause::ThinkTime { class: index }
    } else {
        Cause::Users { class: index }
    };
    let what = format!(
        "{} users of {} each starting a loop every {cycle_s:.3} s (think time and loop)",
        count(users),
        class.name
    );
    (loops, cause, what)
}

/// The phase changes of on/off class `index`, whose phases last `mean_on`
/// and `mean_off` on average.
fn phase_load(spec: &ModelSpec, index: usize) -> Option<Load> {
    let Some(Arrivals::OnOff {
        mean_on, mean_off, ..
    }) = spec.classes[index].population.arrivals()
    else {
        return None;
    };
    let cycle_s = (mean_on.as_secs_f64() + mean_off.as_secs_f64()).max(1e-6);
    Some(Load {
        cause: Cause::Phases { class: index },
        events: 2.0 * spec.duration.as_secs_f64() / cycle_s,
        what: format!(
            "the on/off phases of {}, one change every {:.6} s,",
            spec.classes[index].name,
            cycle_s / 2.0
        ),
    })
}

/// The events of each self-hosted fleet: its autoscaler's decisions, and
/// its replicas looked at for each of the run's `calls`.
fn fleet_loads(spec: &ModelSpec, calls: f64, loads: &mut Vec<Load>) {
    let duration_s = spec.duration.as_secs_f64();
    for (index, pool) in spec.pools.iter().enumerate() {
        let CapacitySpec::SelfHosted(fleet) = &pool.capacity else {
            continue;
        };
        let ticks = fleet
            .autoscale
            .as_ref()
            .map_or(0.0, |a| duration_s / a.interval.as_secs_f64().max(1e-6));
        let replicas = f64::from(fleet.max_replicas);
        if ticks > 0.0 {
            loads.push(Load {
                cause: Cause::Autoscaler { pool: index },
                events: ticks * (1.0 + replicas),
                what: format!(
                    "{} decisions of {}'s autoscaler, each looking at {} replicas,",
                    count(ticks),
                    pool.name,
                    count(replicas)
                ),
            });
        }
        loads.push(Load {
            cause: Cause::Replicas { pool: index },
            events: calls * replicas,
            what: format!(
                "{} replicas of {} looked at for each of {} calls",
                count(replicas),
                pool.name,
                count(calls)
            ),
        });
    }
}

/// The events all of `loads` make.
pub fn total(loads: &[Load]) -> f64 {
    loads.iter().map(|l| l.events).sum()
}

/// The events past which a run of a model estimated at `estimate` is
/// stopped.
pub fn run_limit(estimate: f64) -> u64 {
    let limit = RUN_MARGIN * estimate + RUN_SLACK;
    // `as` saturates: a limit past u64 is none.
    limit as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_limit_is_a_margin_over_the_estimate_and_saturates() {
        assert_eq!(run_limit(0.0), 10_000_000);
        assert_eq!(run_limit(1e6), 30_000_000);
        assert_eq!(run_limit(f64::INFINITY), u64::MAX);
    }
}
