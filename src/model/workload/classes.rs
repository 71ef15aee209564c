//! User classes: who starts agent loops, and when.

use std::sync::Arc;

use rand::RngExt;

use crate::engine::{SimDuration, SimTime, Stream};
use crate::model::distribution::residual::Residual;
use crate::model::distribution::{DurationDist, exponential_draw};
use crate::model::workload::sessions::SessionTrace;
use crate::model::workload::trace::TraceSpec;

/// A group of users with one arrival process and one agent profile.
#[derive(Clone, Debug)]
pub struct UserClass {
    pub name: String,
    /// Index into the model's agent profiles.
    pub agent: usize,
    pub population: Population,
    pub surges: Vec<Surge>,
    /// The shape of its load over the day and week, if it has one.
    pub profile: Option<Profile>,
    /// At a coordinated throttle's gate, higher priorities go first.
    pub priority: u8,
}

/// A class's load over the clock: a factor on its users or its rate from
/// each time of day to the next, times a factor for each day of the week.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// (time of day, factor from then on), ascending; the last holds past
    /// midnight until the first.
    pub hours: Vec<(SimDuration, f64)>,
    /// The factor's own factor on each day, from Monday.
    pub days: [f64; 7],
    /// Where the run's t = 0 falls in the week, from Monday 00:00.
    pub start: SimDuration,
}

const DAY: SimDuration = SimDuration::from_secs(86_400);

/// The days of the week, from Monday, as clock times name them.
pub const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A time in the week, `at` from Monday 00:00 (weeks wrap), as `"Tue 10:00"`.
pub fn week_time(at: SimDuration) -> String {
    let minutes = at.ticks() / SimDuration::from_secs(60).ticks();
    let (day, minute) = ((minutes / (24 * 60)) % 7, minutes % (24 * 60));
    format!(
        "{} {:02}:{:02}",
        DAYS[day as usize],
        minute / 60,
        minute % 60
    )
}

impl Profile {
    /// The run's `now` as (day of the week from Monday = 0, time of day).
    fn clock(&self, now: SimTime) -> (u64, SimDuration) {
        let since_monday = now.since(SimTime::ZERO).ticks() + self.start.ticks();
        let (day, tick) = (since_monday / DAY.ticks(), since_monday % DAY.ticks());
        (day % 7, SimDuration::from_ticks(tick))
    }

    /// The factor at `now`.
    pub fn factor(&self, now: SimTime) -> f64 {
        let (day, time) = self.clock(now);
        let step = self
            .hours
            .iter()
            .rev()
            .find(|(from, _)| *from <= time)
            .or(self.hours.last())
            .map_or(1.0, |&(_, f)| f);
        step * self.days[day as usize]
    }

    /// Every instant in (0, `horizon`) at which the factor may change: each
    /// day's step times, and midnight (when the day's factor changes).
    pub fn changes(&self, horizon: SimTime) -> Vec<SimTime> {
        let (day, end) = (DAY.ticks(), horizon.since(SimTime::ZERO).ticks());
        // The time of day at t = 0: the clock counts from the midnight before it.
        let into_day = self.start.ticks() % day;
        let mut at = Vec::new();
        let mut midnight = 0;
        while midnight < end + into_day {
            for offset in self.hours.iter().map(|(from, _)| from.ticks()).chain([0]) {
                let clock = midnight + offset;
                if clock > into_day && clock - into_day < end {
                    at.push(SimTime::from_ticks(clock - into_day));
                }
            }
            midnight += day;
        }
        at.sort_unstable();
        at.dedup();
        at
    }
}

#[derive(Clone, Debug)]
pub enum Population {
    /// A fixed number of users, each starting a loop after thinking, one at a time.
    Closed {
        users: u32,
        think_time: DurationDist,
        /// How users who join in their steady state (`first_think =
        /// "steady"`) start; otherwise a user joins with a whole think time.
        joining: Option<Joining>,
        /// Recorded sessions each user replays whole, one drawn at random
        /// after each think (`resample` with `users`), instead of the agent's
        /// loops: the think time is then the time between sessions.
        sessions: Option<SessionTrace>,
    },
    /// Loops arriving regardless of how many are already running.
    Open(Arrivals),
    /// A recorded trace: each row one call, arriving at its recorded time.
    Trace(TraceSpec),
    /// Recorded sessions: each request a loop of recorded rounds, the
    /// user's recorded think time between requests.
    Sessions(SessionTrace),
    /// An open stream of sessions, each one of the recorded sessions drawn
    /// at random (uniformly, with replacement) and replayed whole: its
    /// requests, their rounds, tool times and think times as recorded, so
    /// whatever the recording ties together (long sessions' growing
    /// context, compaction) stays tied.
    Resampled {
        arrivals: Arrivals,
        sessions: SessionTrace,
    },
}

/// Users joining a closed population in its steady state: some are in a
/// loop, the rest part-way through a think.
#[derive(Clone, Debug)]
pub struct Joining {
    /// The time left of a think in progress.
    pub left: Residual,
    /// The share of users in a loop (a loop's share of a user's cycle,
    /// from the means of an unqueued loop and of the think time); they
    /// start with a whole think time, as a user whose loop just ended.
    pub mid_loop: f64,
}

impl Population {
    /// Whether its loops are the requests of recorded sessions (replayed in
    /// order, resampled, or streamed from a trace with a session column),
    /// so that it starts sessions as well as loops.
    pub fn replays_sessions(&self) -> bool {
        match self {
            Population::Sessions(_) | Population::Resampled { .. } => true,
            Population::Closed { sessions, .. } => sessions.is_some(),
            Population::Trace(trace) => trace.sessions.is_some(),
            Population::Open(_) => false,
        }
    }

    /// The arrival process of an open stream (of loops or of resampled sessions).
    pub fn arrivals(&self) -> Option<&Arrivals> {
        match self {
            Population::Open(arrivals) | Population::Resampled { arrivals, .. } => Some(arrivals),
            Population::Closed { .. } | Population::Trace(_) | Population::Sessions(_) => None,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Arrivals {
    Poisson {
        per_min: f64,
    },
    /// A two-state Markov-modulated Poisson process: Poisson at `on_per_min`
    /// or `off_per_min`, switching after exponentially distributed sojourns.
    OnOff {
        on_per_min: f64,
        off_per_min: f64,
        mean_on: SimDuration,
        mean_off: SimDuration,
    },
    /// A recorded sequence of gaps between arrivals, replayed in windows
    /// of `block` cut from the recording at times drawn uniformly (see
    /// [`GapCursor`]). Its rate is the recording's, and its burstiness at
    /// scales shorter than a window.
    Recorded {
        gaps: RecordedGaps,
        block: SimDuration,
    },
}

/// Recorded gaps between arrivals, and the time each one starts at.
#[derive(Clone, Debug)]
pub struct RecordedGaps {
    gaps: Arc<[SimDuration]>,
    /// When each gap starts, from 0: a sum of the gaps before it.
    starts: Arc<[SimDuration]>,
    total: SimDuration,
}

impl RecordedGaps {
    /// Gaps whose sum is not zero.
    pub fn new(gaps: Vec<SimDuration>) -> Self {
        let mut at = SimDuration::ZERO;
        let starts = gaps
            .iter()
            .map(|&g| {
                let start = at;
                at = at + g;
                start
            })
            .collect();
        assert!(at > SimDuration::ZERO, "recorded gaps that take no time");
        RecordedGaps {
            gaps: gaps.into(),
            starts,
            total: at,
        }
    }

    /// Arrivals a minute over the recording.
    pub fn per_min(&self) -> f64 {
        60.0 * self.gaps.len() as f64 / self.total.as_secs_f64()
    }
}

/// Multiplies a class's arrival rate (open) or user count (closed) by
/// `factor` from `at` for `duration`. Overlapping surges multiply.
#[derive(Clone, Copy, Debug)]
pub struct Surge {
    pub at: SimTime,
    pub duration: SimDuration,
    pub factor: f64,
}

impl Surge {
    pub fn end(&self) -> SimTime {
        self.at + self.duration
    }

    pub fn is_active(&self, now: SimTime) -> bool {
        self.at <= now && now < self.end()
    }
}

impl UserClass {
    /// The product of the factors of the surges active at `now`, and of
    /// the profile's at that time of day.
    pub fn multiplier(&self, now: SimTime) -> f64 {
        let surges: f64 = self
            .surges
            .iter()
            .filter(|s| s.is_active(now))
            .map(|s| s.factor)
            .product();
        self.profile
            .as_ref()
            .map_or(surges, |p| surges * p.factor(now))
    }
}

impl Arrivals {
    pub fn per_min(&self, on: bool) -> f64 {
        match *self {
            Arrivals::Poisson { per_min } => per_min,
            Arrivals::Recorded { .. } => self.mean_per_min(),
            Arrivals::OnOff {
                on_per_min,
                off_per_min,
                ..
            } => {
                if on {
                    on_per_min
                } else {
                    off_per_min
                }
            }
        }
    }

    /// The long-run arrival rate per minute: on/off processes spend
    /// mean_on / (mean_on + mean_off) of the time on.
    pub fn mean_per_min(&self) -> f64 {
        match *self {
            Arrivals::Poisson { per_min } => per_min,
            Arrivals::Recorded { ref gaps, .. } => gaps.per_min(),
            Arrivals::OnOff {
                on_per_min,
                off_per_min,
                mean_on,
                mean_off,
            } => {
                let (on, off) = (mean_on.as_secs_f64(), mean_off.as_secs_f64());
                (on_per_min * on + off_per_min * off) / (on + off)
            }
        }
    }

    /// Draws the initial on/off phase from the stationary distribution
    /// (on with probability mean_on / (mean_on + mean_off)).
    pub fn initial_phase(&self, rng: &mut Stream) -> bool {
        match *self {
            Arrivals::Poisson { .. } | Arrivals::Recorded { .. } => true,
            Arrivals::OnOff {
                mean_on, mean_off, ..
            } => {
                let on = mean_on.as_secs_f64();
                let p_on = on / (on + mean_off.as_secs_f64());
                rng.random::<f64>() < p_on
            }
        }
    }

    /// How long the current phase lasts, for on/off processes.
    pub fn phase_length(&self, on: bool, rng: &mut Stream) -> Option<SimDuration> {
        match *self {
            Arrivals::Poisson { .. } | Arrivals::Recorded { .. } => None,
            Arrivals::OnOff {
                mean_on, mean_off, ..
            } => {
                let mean = if on { mean_on } else { mean_off };
                Some(exponential(mean.as_secs_f64(), rng))
            }
        }
    }
}

/// Where a class replaying recorded gaps is: the recording read as a
/// circle of arrivals, cut into windows of a block's length at times drawn
/// uniformly, and the windows laid end to end. Each window holds the
/// recording's arrivals in it at their offsets, so the rate is the
/// recording's and its burstiness within a block is kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct GapCursor {
    /// The gap under way, ending with the next arrival.
    next: usize,
    /// Where in the recording the window has reached.
    at: SimDuration,
    /// What is left of the window.
    left: SimDuration,
}

impl GapCursor {
    /// The time to the next arrival of `recorded`, replayed in windows of `block`.
    pub fn next_gap(
        &mut self,
        recorded: &RecordedGaps,
        block: SimDuration,
        rng: &mut Stream,
    ) -> SimDuration {
        let mut waited = SimDuration::ZERO;
        loop {
            if self.left == SimDuration::ZERO {
                let at = rng.random_range(0..recorded.total.ticks());
                self.next = recorded.starts.partition_point(|s| s.ticks() <= at) - 1;
                self.at = SimDuration::from_ticks(at);
                self.left = block;
            }
            let end = recorded.starts[self.next] + recorded.gaps[self.next];
            let to_next = SimDuration::from_ticks(end.ticks() - self.at.ticks());
            if to_next > self.left {
                // The window ends first: the next one starts elsewhere.
                waited = waited + self.left;
                self.left = SimDuration::ZERO;
                continue;
            }
            self.left = SimDuration::from_ticks(self.left.ticks() - to_next.ticks());
            self.next += 1;
            self.at = end;
            if self.next == recorded.gaps.len() {
                (self.next, self.at) = (0, SimDuration::ZERO);
            }
            return waited + to_next;
        }
    }
}

/// An exponential delay with the given mean, in seconds.
#[inline]
pub fn exponential(mean_s: f64, rng: &mut Stream) -> SimDuration {
    SimDuration::from_secs_f64(exponential_draw(mean_s, rng))
}

/// What a closed-population user is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserState {
    /// Retired by a surge that shrank the population, or not yet recruited.
    Idle,
    Thinking,
    Looping,
}

/// A class's run-time state.
pub struct ClassState {
    pub multiplier: f64,
    /// On/off phase (always on for plain Poisson).
    pub on: bool,
    /// Bumped whenever the arrival rate changes, so that the arrival already
    /// scheduled under the old rate is recognised as stale. Exponential
    /// inter-arrivals are memoryless, so redrawing at a rate change is exact.
    pub arrival_generation: u32,
    /// Users with an index below this are active.
    pub target_users: u32,
    pub users: Vec<UserState>,
    /// A resampling class's sessions in progress: the recorded session each
    /// slot replays, and the slots free for the next.
    pub resampled: Vec<u32>,
    pub free_slots: Vec<u32>,
    /// Where recorded arrival gaps are replayed from.
    pub gaps: GapCursor,
    /// The recorded gap in progress, for a class replaying recorded gaps.
    pub pending_gap: Option<PendingGap>,
}

/// A recorded gap in progress: how much of it, in the recording's
/// seconds, was left at `since`, replayed from then at `speed` (the
/// multiplier: a surge runs the recording's clock faster).
#[derive(Clone, Copy, Debug)]
pub struct PendingGap {
    pub since: SimTime,
    pub left_s: f64,
    pub speed: f64,
}

impl ClassState {
    pub fn new(class: &UserClass) -> Self {
        let users = match class.population {
            Population::Closed { users, .. } => users,
            Population::Open(_)
            | Population::Trace(_)
            | Population::Sessions(_)
            | Population::Resampled { .. } => 0,
        };
        // A profile shapes the load from the start; surges come as events.
        let multiplier = class
            .profile
            .as_ref()
            .map_or(1.0, |p| p.factor(SimTime::ZERO));
        ClassState {
            multiplier,
            on: true,
            arrival_generation: 0,
            target_users: (f64::from(users) * multiplier).round() as u32,
            users: vec![UserState::Idle; users as usize],
            resampled: Vec::new(),
            free_slots: Vec::new(),
            gaps: GapCursor::default(),
            pending_gap: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    #[test]
    fn overlapping_surges_multiply_and_end_exclusively() {
        let class = UserClass {
            name: "c".into(),
            agent: 0,
            population: Population::Open(Arrivals::Poisson { per_min: 1.0 }),
            priority: 0,
            surges: vec![
                Surge {
                    at: SimTime::from_ticks(10),
                    duration: SimDuration::from_ticks(10),
                    factor: 2.0,
                },
                Surge {
                    at: SimTime::from_ticks(15),
                    duration: SimDuration::from_ticks(10),
                    factor: 3.0,
                },
            ],
            profile: None,
        };
        let m = |t| class.multiplier(SimTime::from_ticks(t));
        assert_eq!(
            [m(9), m(10), m(15), m(20), m(25)],
            [1.0, 2.0, 6.0, 3.0, 1.0]
        );
    }

    fn hours(h: f64) -> SimDuration {
        SimDuration::from_secs_f64(h * 3600.0)
    }

    /// A working day (0.1 at night, 1 from 09:00, 0.5 over lunch, 0.2 from
    /// 18:00) at half on weekends, the run starting on Friday at 16:00.
    fn working_day() -> Profile {
        Profile {
            hours: vec![
                (hours(9.0), 1.0),
                (hours(12.0), 0.5),
                (hours(13.0), 1.0),
                (hours(18.0), 0.2),
                (hours(21.0), 0.1),
            ],
            days: [1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5],
            start: hours(4.0 * 24.0 + 16.0),
        }
    }

    #[test]
    fn a_time_in_the_week_reads_as_its_day_and_clock() {
        assert_eq!(week_time(SimDuration::ZERO), "Mon 00:00");
        assert_eq!(week_time(hours(4.0 * 24.0 + 12.5)), "Fri 12:30");
        assert_eq!(week_time(hours(7.0 * 24.0 + 9.0)), "Mon 09:00");
    }

    #[test]
    fn a_profile_follows_the_clock_from_the_runs_start() {
        let p = working_day();
        let at = |h: f64| p.factor(SimTime::ZERO + hours(h));
        // Friday 16:00, 18:00, 21:00; before 09:00 the last step (21:00) holds.
        assert_eq!([at(0.0), at(2.0), at(5.0)], [1.0, 0.2, 0.1]);
        // Saturday 10:00 and 12:30 and Sunday 10:00 at half; Monday 08:54
        // at night's 0.1, 09:00 whole again.
        assert_eq!([at(18.0), at(20.5), at(42.0)], [0.5, 0.25, 0.5]);
        assert_eq!(at(2.0 * 24.0 + 16.9), 0.1);
        assert_eq!(at(2.0 * 24.0 + 17.0), 1.0);
    }

    #[test]
    fn a_profile_changes_at_each_step_and_midnight_within_the_run() {
        let p = working_day();
        let changes: Vec<f64> = p
            .changes(SimTime::ZERO + hours(24.0))
            .iter()
            .map(|t| t.since(SimTime::ZERO).as_secs_f64() / 3600.0)
            .collect();
        // Friday 18:00 and 21:00, midnight, Saturday 09:00 and 12:00, 13:00.
        assert_eq!(changes, [2.0, 5.0, 8.0, 17.0, 20.0, 21.0]);
        // Between two changes the factor is constant; across each it may move.
        let instants: Vec<SimTime> = [SimTime::ZERO]
            .into_iter()
            .chain(p.changes(SimTime::ZERO + hours(24.0 * 9.0)))
            .collect();
        for pair in instants.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let before = SimTime::from_ticks(b.since(SimTime::ZERO).ticks() - 1);
            assert_eq!(p.factor(a), p.factor(before), "{a:?} to {b:?}");
        }
    }

    /// Recorded gaps of a burst (100 arrivals 10 ms apart) then a wait of
    /// 99 s: 101 arrivals in 100 s. Replayed in windows of 20 s from
    /// times drawn uniformly, 10^6 arrivals keep that rate within 2%
    /// (windows started at a gap drawn uniformly would start in the burst
    /// 99 times in 100: near five times the rate; windows that end at a
    /// gap rather than at their length favour the long wait: this cursor
    /// did so once and ran at 18 a minute).
    #[test]
    fn recorded_gaps_replay_at_the_recordings_rate() {
        let mut gaps = vec![SimDuration::from_secs_f64(0.01); 100];
        gaps.push(SimDuration::from_secs(99));
        let recorded = RecordedGaps::new(gaps);
        assert!((recorded.per_min() - 60.6).abs() < 1e-9);
        let mut rng = RandomStreams::new(3).stream("gaps");
        let mut cursor = GapCursor::default();
        let block = SimDuration::from_secs(20);
        let n = 1_000_000;
        let total: f64 = (0..n)
            .map(|_| cursor.next_gap(&recorded, block, &mut rng).as_secs_f64())
            .sum();
        let per_min = 60.0 * n as f64 / total;
        assert!((per_min / 60.6 - 1.0).abs() < 0.02, "{per_min}");
    }

    #[test]
    fn on_off_starts_in_its_stationary_phase() {
        // P(on) = 1/(1+3) = 0.25; 20k draws give sd 0.003, tolerance 0.015 is 5 sd.
        let a = Arrivals::OnOff {
            on_per_min: 100.0,
            off_per_min: 1.0,
            mean_on: SimDuration::from_secs(60),
            mean_off: SimDuration::from_secs(180),
        };
        let mut rng = RandomStreams::new(5).stream("phase");
        let n = 20_000;
        let on = (0..n).filter(|_| a.initial_phase(&mut rng)).count();
        let share = on as f64 / f64::from(n);
        assert!((share - 0.25).abs() < 0.015, "share on {share}");
        assert_eq!(a.per_min(true), 100.0);
        assert_eq!(a.per_min(false), 1.0);
    }
}
