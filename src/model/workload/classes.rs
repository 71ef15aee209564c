//! User classes: who starts agent loops, and when.

use rand::RngExt;

use crate::engine::{SimDuration, SimTime, Stream};
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
    /// At a coordinated throttle's gate, higher priorities go first.
    pub priority: u8,
}

#[derive(Clone, Debug)]
pub enum Population {
    /// A fixed number of users, each starting a loop after thinking, one at a time.
    Closed {
        users: u32,
        think_time: DurationDist,
    },
    /// Loops arriving regardless of how many are already running.
    Open(Arrivals),
    /// A recorded trace: each row one call, arriving at its recorded time.
    Trace(TraceSpec),
    /// Recorded sessions: each request a loop of recorded rounds, the
    /// user's recorded think time between requests.
    Sessions(SessionTrace),
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
    /// The product of the factors of the surges active at `now`.
    pub fn multiplier(&self, now: SimTime) -> f64 {
        self.surges
            .iter()
            .filter(|s| s.is_active(now))
            .map(|s| s.factor)
            .product()
    }
}

impl Arrivals {
    pub fn per_min(&self, on: bool) -> f64 {
        match *self {
            Arrivals::Poisson { per_min } => per_min,
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
            Arrivals::Poisson { .. } => true,
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
            Arrivals::Poisson { .. } => None,
            Arrivals::OnOff {
                mean_on, mean_off, ..
            } => {
                let mean = if on { mean_on } else { mean_off };
                Some(exponential(mean.as_secs_f64(), rng))
            }
        }
    }
}

/// An exponential delay with the given mean, in seconds.
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
}

impl ClassState {
    pub fn new(class: &UserClass) -> Self {
        let users = match class.population {
            Population::Closed { users, .. } => users,
            Population::Open(_) | Population::Trace(_) | Population::Sessions(_) => 0,
        };
        ClassState {
            multiplier: 1.0,
            on: true,
            arrival_generation: 0,
            target_users: users,
            users: vec![UserState::Idle; users as usize],
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
        };
        let m = |t| class.multiplier(SimTime::from_ticks(t));
        assert_eq!(
            [m(9), m(10), m(15), m(20), m(25)],
            [1.0, 2.0, 6.0, 3.0, 1.0]
        );
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
