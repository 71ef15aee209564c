//! How much memory a run of a model holds at its peak, worked out from the
//! model before running it, so that a model that cannot fit is refused
//! rather than left to exhaust the machine.
//!
//! The estimate counts what grows with the model: every user class's
//! metrics; every user of a closed population (a pending event each, and a
//! running loop for the share of time a user is not thinking); the loops an
//! open arrival process keeps running (Little's law: arrivals per second
//! times how long a loop takes without waiting); and the largest fan-out
//! step one loop plausibly draws. Surges multiply users and arrival rates,
//! and overlapping surges multiply each other. Loop times are those of a
//! loop that never waits (medians of steps, time to first token, decoding
//! and tool time), so a loop that queues or backs off holds its memory
//! longer. Measured against the heap real runs take at their peak
//! (`tests/allocations.rs`), the estimate is of the right size: runs took
//! 0.7x to 2.5x of it, the excess being slabs growing by doubling (a
//! fan-out's widest step, counted on top of typical loops, takes less). A
//! run whose state outgrows the limit anyway stops cleanly.

use crate::engine::{Key, SimTime};
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::self_hosted::REPLICA_BYTES;
use crate::model::estimate::typical::{
    call_s, calls_per_step, median, peak_multiplier, peak_rate, quantile, unqueued_loop_s,
};
use crate::model::measure::metrics::WINDOW_METRICS_BYTES;
use crate::model::measure::timeseries::{Bin, MAX_TIMESERIES_BINS, PoolBin};
use crate::model::spec::ModelSpec;
use crate::model::system::{CALL_BYTES, CLASS_BYTES, EVENT_BYTES, LOOP_BYTES};
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::classes::{Population, UserClass};
use crate::model::workload::sessions::RecordedRound;
use crate::model::workload::trace::TraceSpec;

/// The part of a model an estimated need comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// How many user classes there are.
    Classes,
    /// A closed population's users.
    Users { class: usize },
    /// A open class's arrival rate.
    Arrivals { class: usize },
    /// A class's surges, multiplying its users or arrival rate.
    Surges { class: usize },
    /// An agent's fan-out width.
    FanOut { agent: usize },
    /// Reserved lanes too few for the open arrivals, with no queue limit.
    LaneQueue,
    /// A closed population's think time, which paces its loops.
    ThinkTime { class: usize },
    /// An on/off arrival process's phases.
    Phases { class: usize },
    /// A self-hosted pool's autoscaler.
    Autoscaler { pool: usize },
    /// A self-hosted pool's replicas.
    Replicas { pool: usize },
    /// The time-series bins.
    Bins,
    /// The windows: named, and one a surge and a fault.
    Windows,
    /// An agent's steps a loop.
    Steps { agent: usize },
    /// The time series a run keeps for `--out`.
    Timeseries,
}

/// Memory one part of a model needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    pub cause: Cause,
    pub bytes: f64,
    /// What holds it, in words: "2000000 users, 30% of the time in a loop".
    pub what: String,
    /// What to change to need less, when it is not lowering the field.
    pub advice: Option<String>,
}

/// `x` as a whole number, or in scientific notation past what a reader
/// counts digits of.
pub(super) fn count(x: f64) -> String {
    if x.abs() < 1e12 {
        format!("{x:.0}")
    } else {
        format!("{x:.2e}")
    }
}

/// What a run holds beyond the sum of its needs: slabs grow by doubling and
/// the event list by chunks, so up to about twice their live entries, and
/// more while a burst is at its peak. Runs measured in
/// `tests/allocations.rs` held 0.87 to 2.49 times the sum of their needs.
pub const HEADROOM: f64 = 2.5;

/// What every run holds whatever its model: the run-wide histograms,
/// random streams and summary (about 1.3 MB measured).
pub const FIXED_BYTES: f64 = 2.0 * 1024.0 * 1024.0;

/// The most a run whose parts need `needs` holds at its peak: their sum
/// with [`HEADROOM`], and [`FIXED_BYTES`].
pub fn bound(needs: &[Need]) -> f64 {
    HEADROOM * needs.iter().map(|n| n.bytes).sum::<f64>() + FIXED_BYTES
}

/// Draws of a fan-out width above this one come about once in this many
/// steps: the largest step the estimate expects a run to meet.
const RARE_STEP: f64 = 1e6;

/// The memory a run of `spec` needs at least, part by part.
pub fn estimate(spec: &ModelSpec) -> Vec<Need> {
    let mut needs = vec![Need {
        cause: Cause::Classes,
        bytes: (spec.classes.len() * CLASS_BYTES) as f64,
        what: format!("{} user classes", spec.classes.len()),
        advice: None,
    }];
    let loops_per_s = population(spec, &mut needs);
    needs.extend(lane_queue(spec));
    needs.push(timeseries(spec, loops_per_s));
    needs.extend(windows(spec));
    needs.extend(fault_bins(spec));
    needs.extend(replicas(spec));
    needs.extend(fan_outs(spec));
    needs
}

/// Each class's users or loops at once; adds their needs to `needs` and
/// gives the loops completed a second, at most.
fn population(spec: &ModelSpec, needs: &mut Vec<Need>) -> f64 {
    // Loops completed a second, at most: a time series holds the
    // latencies of one bin's.
    let mut loops_per_s = 0.0;
    for (index, class) in spec.classes.iter().enumerate() {
        let agent = &spec.agents[class.agent];
        let of = ClassLoad {
            spec,
            index,
            class,
            loop_s: unqueued_loop_s(spec, index, agent, median),
            loop_bytes: per_loop_bytes(agent),
            surge: peak_multiplier(class, SimTime::ZERO + spec.duration),
        };
        loops_per_s += of.needs(needs);
    }
    loops_per_s
}

/// One class as its footprint is estimated: its loop's time without
/// queueing and memory, and its surges' peak factor.
struct ClassLoad<'a> {
    spec: &'a ModelSpec,
    index: usize,
    class: &'a UserClass,
    loop_s: f64,
    loop_bytes: f64,
    surge: f64,
}

impl ClassLoad<'_> {
    /// Pushes what the class holds to `needs`; its loops completed a
    /// second, at most.
    fn needs(&self, needs: &mut Vec<Need>) -> f64 {
        let (index, class) = (self.index, self.class);
        match &class.population {
            Population::Closed {
                users,
                think_time,
                sessions,
                ..
            } => {
                // Resampled sessions are held in memory.
                if let Some(trace) = sessions {
                    needs.push(Need {
                        cause: Cause::Users { class: index },
                        bytes: (trace.rounds() * size_of::<RecordedRound>()) as f64,
                        what: format!(
                            "the {} recorded sessions {} resamples, held in memory,",
                            trace.sessions.len(),
                            class.name
                        ),
                        advice: None,
                    });
                }
                self.users(f64::from(*users), median(think_time.dist()), needs)
            }
            Population::Sessions(trace) => {
                let rounds = trace.rounds();
                let sessions = trace.sessions.len();
                needs.push(Need {
                    cause: Cause::Arrivals { class: index },
                    bytes: sessions as f64 * (self.loop_bytes + EVENT_BYTES as f64)
                        + (rounds * size_of::<RecordedRound>()) as f64,
                    what: format!(
                        "{sessions} recorded sessions of {} ({rounds} rounds) held in memory, each at most one loop at a time,",
                        class.name
                    ),
                    advice: None,
                });
                0.0
            }
            Population::Resampled {
                sessions: trace, ..
            } => {
                let per_s = self.peak_per_s();
                let (requests, _, session_s) = trace.mean_session();
                // A session is at most one loop at a time, and holds its
                // slot while its user thinks.
                let sessions = per_s * session_s.min(self.spec.duration.as_secs_f64());
                needs.push(Need {
                    cause: self.surged(Cause::Arrivals { class: index }),
                    bytes: sessions * (self.loop_bytes + EVENT_BYTES as f64)
                        + (trace.rounds() * size_of::<RecordedRound>()) as f64,
                    what: format!(
                        "{} resampled sessions of {} at once ({per_s:.3} arrivals/s{}, {} s each as recorded), and the {} recorded ones held in memory,",
                        count(sessions),
                        class.name,
                        self.of_surges(),
                        count(session_s),
                        trace.sessions.len()
                    ),
                    advice: None,
                });
                per_s * requests
            }
            Population::Open(_) | Population::Trace(_) => self.arrivals(needs),
        }
    }

    /// A closed population's users (before surges), thinking `think_s`
    /// between loops.
    fn users(&self, users: f64, think_s: f64, needs: &mut Vec<Need>) -> f64 {
        let users = users * self.surge;
        let loop_s = self.loop_s;
        let busy = if loop_s + think_s > 0.0 {
            loop_s / (loop_s + think_s)
        } else {
            1.0
        };
        needs.push(Need {
            cause: self.surged(Cause::Users { class: self.index }),
            bytes: users * (EVENT_BYTES as f64 + busy * self.loop_bytes),
            what: format!(
                "{} users of {}{}, in a loop {:.0}% of the time,",
                count(users),
                self.class.name,
                self.of_surges(),
                busy * 100.0
            ),
            advice: None,
        });
        users / (loop_s + think_s).max(1e-6)
    }

    /// An open stream's (or a trace's) loops running at once, and a
    /// session trace's row counts.
    fn arrivals(&self, needs: &mut Vec<Need>) -> f64 {
        let (index, class) = (self.index, self.class);
        let per_s = self.peak_per_s();
        // A loop longer than the run is held until the run ends:
        // no more run at once than arrive in the whole run.
        let loops = per_s * self.loop_s.min(self.spec.duration.as_secs_f64());
        needs.push(Need {
            cause: self.surged(Cause::Arrivals { class: index }),
            bytes: loops * self.loop_bytes + EVENT_BYTES as f64,
            what: format!(
                "{} loops of {} running at once ({per_s:.3} arrivals/s{}, {} s each without waiting, at most the run's {})",
                count(loops),
                class.name,
                self.of_surges(),
                count(self.loop_s),
                self.spec.duration
            ),
            advice: None,
        });
        if let Population::Trace(TraceSpec {
            sessions: Some(counts),
            ..
        }) = &class.population
        {
            needs.push(Need {
                cause: Cause::Arrivals { class: index },
                bytes: (counts.len() * SESSION_COUNT_BYTES) as f64,
                what: format!(
                    "the row counts of {}'s {} recorded sessions",
                    class.name,
                    counts.len()
                ),
                advice: None,
            });
        }
        per_s
    }

    /// The class's arrivals a second at their peak.
    fn peak_per_s(&self) -> f64 {
        peak_rate(self.class, SimTime::ZERO + self.spec.duration) / 60.0
    }

    /// `cause`, or the class's surges when they multiply its load.
    fn surged(&self, cause: Cause) -> Cause {
        if self.surge > 1.0 {
            Cause::Surges { class: self.index }
        } else {
            cause
        }
    }

    /// What the surges do to the class's load, said after it.
    fn of_surges(&self) -> String {
        if self.surge > 1.0 {
            format!(" (surges multiply it by up to {})", self.surge)
        } else {
            String::new()
        }
    }
}

/// The time series a run with `--out` keeps, and one bin's latencies.
fn timeseries(spec: &ModelSpec, loops_per_s: f64) -> Need {
    // The time series a run with `--out` keeps: a bin a `timeseries_bin`,
    // at most as many as a written series may have (more is refused).
    let bins = (spec.duration.as_secs_f64() / spec.timeseries_bin.as_secs_f64().max(1e-6))
        .ceil()
        .min(MAX_TIMESERIES_BINS as f64);
    let pool_bins = if spec.reports_pools {
        spec.pools.len()
    } else {
        0
    };
    // And the latencies of the loops completed in the open bin.
    let latencies = loops_per_s * spec.timeseries_bin.min(spec.duration).as_secs_f64();
    Need {
        cause: Cause::Timeseries,
        bytes: bins * (size_of::<Bin>() + pool_bins * size_of::<PoolBin>()) as f64
            + latencies * size_of::<u64>() as f64,
        what: format!(
            "a time series of {} bins kept for --out, and the latencies of one bin's {} loops,",
            count(bins),
            count(latencies)
        ),
        advice: None,
    }
}

/// Each window's metrics.
fn windows(spec: &ModelSpec) -> Option<Need> {
    let windows = spec.all_windows().len();
    (windows > 0).then(|| Need {
            cause: Cause::Windows,
            bytes: (windows * WINDOW_METRICS_BYTES) as f64,
            what: format!(
                "{windows} windows (named ones, and one a surge and a fault), each with a latency histogram,"
            ),
            advice: None,
        })
}

/// The bins held to judge each fault's recovery.
fn fault_bins(spec: &ModelSpec) -> Option<Need> {
    if spec.faults.is_empty() {
        return None;
    }
    // A fault's recovery is judged over its bins, one recovery window
    // of them held at a time.
    let held = spec.recovery.window.min(spec.duration).as_secs_f64()
        / spec.timeseries_bin.as_secs_f64().max(1e-6);
    let bins = spec.faults.len() as f64 * held.ceil();
    Some(Need {
        cause: Cause::Bins,
        bytes: bins * size_of::<Bin>() as f64,
        what: format!(
            "{} time-series bins held to judge {} faults' recovery ({} each),",
            count(bins),
            spec.faults.len(),
            count(held.ceil())
        ),
        advice: None,
    })
}

/// Each self-hosted fleet's replicas, at its largest.
fn replicas(spec: &ModelSpec) -> Vec<Need> {
    let mut needs = Vec::new();
    for (index, pool) in spec.pools.iter().enumerate() {
        if let CapacitySpec::SelfHosted(fleet) = &pool.capacity {
            let replicas = f64::from(fleet.max_replicas);
            needs.push(Need {
                cause: Cause::Replicas { pool: index },
                bytes: replicas * REPLICA_BYTES as f64,
                what: format!("{} replicas of {}", count(replicas), pool.name),
                advice: None,
            });
        }
    }
    needs
}

/// Each fan-out step's calls, at the widest step a run meets.
fn fan_outs(spec: &ModelSpec) -> Vec<Need> {
    let mut needs = Vec::new();
    for (index, agent) in spec.agents.iter().enumerate() {
        if let Some(fan_out) = &agent.fan_out {
            let width = quantile(fan_out.width.dist(), 1.0 - 1.0 / RARE_STEP)
                .round()
                .min(f64::from(u32::MAX));
            needs.push(Need {
                cause: Cause::FanOut { agent: index },
                bytes: width * CALL_BYTES as f64,
                what: format!(
                    "one step of {} parallel calls of agent {}{}",
                    count(width),
                    agent.name,
                    if fan_out.width.dist().constant_value().is_some() {
                        ""
                    } else {
                        " (a width one step in a million exceeds)"
                    }
                ),
                advice: None,
            });
        }
    }
    needs
}

/// The lane queue at the horizon when open arrivals offer more calls than
/// the lanes serve and no queue limit stops it: the loops waiting grow by
/// the arrivals the lanes cannot finish for the whole run (surges aside).
/// A loop waits for one step at a time, so it is loops that pile up, each
/// holding its loop and its step's queued calls, not every call it will
/// make.
fn lane_queue(spec: &ModelSpec) -> Option<Need> {
    // Other pools hold at most their `queue_up_to`; the last one takes the rest.
    let CapacitySpec::Reserved(reserved) = &spec.last_pool()?.capacity else {
        return None;
    };
    if reserved.queue_limit.is_some() {
        return None;
    }
    // Calls offered per second, and lanes they keep busy.
    let (mut loops_per_s, mut busy_lanes, mut waiting_bytes) = (0.0, 0.0, 0.0f64);
    for (index, class) in spec.classes.iter().enumerate() {
        let agent = &spec.agents[class.agent];
        // Loops a second, and calls a loop: a resampled session's own.
        let (loops, calls_per_loop) = match &class.population {
            Population::Open(arrivals) => (
                arrivals.mean_per_min() / 60.0,
                median(agent.steps.dist()).max(1.0) * calls_per_step(agent),
            ),
            Population::Resampled { arrivals, sessions } => {
                let (requests, rounds, _) = sessions.mean_session();
                (
                    arrivals.mean_per_min() / 60.0 * requests,
                    rounds / requests.max(1.0),
                )
            }
            _ => continue,
        };
        loops_per_s += loops;
        busy_lanes += loops * calls_per_loop * call_s(spec, index, agent, median);
        waiting_bytes = waiting_bytes
            .max(per_loop_bytes(agent) + calls_per_step(agent) * size_of::<Key>() as f64);
    }
    let lanes = f64::from(reserved.lanes);
    // Lanes finish loops at the offered loops' mean pace.
    let growth = loops_per_s * (1.0 - lanes / busy_lanes);
    (growth > 0.0).then(|| {
        let waiting = growth * spec.duration.as_secs_f64();
        Need {
            cause: Cause::LaneQueue,
            bytes: waiting * waiting_bytes,
            what: format!(
                "loops waiting for a lane, {growth:.2} more a second to {} by the horizon (an offered load of {:.2}x the {} lanes, and no queue_limit),",
                count(waiting),
                busy_lanes / lanes,
                reserved.lanes
            ),
            advice: Some(
                "Raise the lanes past the offered load, set a queue_limit, or shorten the run"
                    .to_owned(),
            ),
        }
    })
}

/// A session's row count in a hash map: key, count and the map's spare room.
const SESSION_COUNT_BYTES: usize = 32;

/// What a running loop of `agent` holds: itself, its pending event and
/// its calls in progress.
fn per_loop_bytes(agent: &AgentProfile) -> f64 {
    (LOOP_BYTES + EVENT_BYTES) as f64 + calls_per_step(agent) * CALL_BYTES as f64
}
