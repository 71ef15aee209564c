//! User classes as written: a closed population or open arrivals, surges, priority.

use std::path::Path;

use serde::Deserialize;

use super::checks::{Checked, non_negative, positive, positive_duration, whole};
use super::diagnostic::Invalid;
use super::distribution::{RawDist, Unit, column_values};
use super::field_path::FieldPath;
use super::quantity::{At, Duration, Number, parse_clock};
use super::tagged::{Tagged, Variants};
use super::trace::RawTrace;
use crate::engine::{SimDuration, SimTime};
use crate::error::BadInput;
use crate::model::workload::classes::{
    Arrivals, DAYS, Joining, Population, Profile, RecordedGaps, Surge, UserClass,
};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUserClass {
    pub name: String,
    agent: String,
    users: Option<Number>,
    think_time: Option<RawDist>,
    /// A closed population's users join thinking afresh (as if each had
    /// just finished a loop) or in their steady state, part-way through a
    /// think.
    first_think: Option<FirstThink>,
    arrivals: Option<Tagged<RawArrivals>>,
    /// A recorded trace replayed instead of users or arrivals.
    trace: Option<RawTrace>,
    /// Recorded sessions resampled whole: each of `arrivals` replays one
    /// drawn at random.
    resample: Option<RawTrace>,
    #[serde(default)]
    surges: Vec<RawSurge>,
    /// The load's shape over the day and week.
    profile: Option<RawProfile>,
    priority: Option<Number>,
}

/// `profile = { hours = { "00:00" = 0.05, "09:00" = 1, ... }, weekend = 0.1 }`:
/// a factor on the users or rate from each time of day until the next,
/// times `weekend` on Saturdays and Sundays, or a factor for any day
/// (`days = { Fri = 0.8, Sat = 0.1, Sun = 0.05 }`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    hours: std::collections::BTreeMap<String, Number>,
    weekend: Option<Number>,
    /// A factor for each day named (Mon ... Sun; default 1, or `weekend`
    /// on Saturdays and Sundays).
    #[serde(default)]
    days: std::collections::BTreeMap<String, Number>,
    /// The class's own clock against the model's, "+HH:MM" or "-HH:MM":
    /// with "-06:00" its 09:00 is 15:00 on the model's clock, and its
    /// weekend starts at Saturday 06:00 there. Default: the model's clock.
    time_zone: Option<String>,
}

/// A clock's offset from the model's, `"+05:30"` or `"-06:00"` (at most
/// 14:59 either way), in ticks (negative behind).
fn parse_offset(text: &str) -> Result<i64, BadInput> {
    let bad = || {
        BadInput(format!(
            "`{text}` is not a clock offset: expected +HH:MM or -HH:MM, like \"-06:00\" or \"+05:30\""
        ))
    };
    let (sign, rest) = match text.trim().split_at_checked(1) {
        Some(("+", rest)) => (1, rest),
        Some(("-", rest)) => (-1, rest),
        _ => return Err(bad()),
    };
    let offset = parse_clock(rest)
        .ok()
        .filter(|o| rest.len() == 5 && *o < SimDuration::from_secs(15 * 3600))
        .ok_or_else(bad)?;
    Ok(sign * offset.ticks() as i64)
}

impl RawProfile {
    /// The profile, with the run's t = 0 at `start` in the week.
    fn check(&self, at: &FieldPath, start: SimDuration) -> Checked<Profile> {
        if self.hours.is_empty() {
            return Err(Invalid::new(
                at.child("hours"),
                "give at least one time of day and its factor, like { \"09:00\" = 1 }",
            ));
        }
        let mut hours = Vec::with_capacity(self.hours.len());
        for (time, factor) in &self.hours {
            let field = at.child("hours").child(time);
            let from = parse_clock(time).map_err(|e| Invalid::new(&field, e.0))?;
            hours.push((from, non_negative(&field, *factor)?));
        }
        hours.sort_by_key(|&(from, _)| from);
        let weekend = self
            .weekend
            .map_or(Ok(1.0), |w| non_negative(&at.child("weekend"), w))?;
        let mut days = [1.0, 1.0, 1.0, 1.0, 1.0, weekend, weekend];
        for (day, factor) in &self.days {
            let field = at.child("days").child(day);
            let Some(i) = DAYS.iter().position(|d| d == day) else {
                return Err(Invalid::new(
                    &field,
                    format!("unknown day `{day}`, expected one of {}", DAYS.join(", ")),
                ));
            };
            if i >= 5 && self.weekend.is_some() {
                return Err(Invalid::new(
                    &field,
                    "`weekend` already gives Saturday's and Sunday's factor: give one or the other",
                ));
            }
            days[i] = non_negative(&field, *factor)?;
        }
        // The class's clock at the run's t = 0, within the week.
        let offset = match &self.time_zone {
            Some(text) => {
                parse_offset(text).map_err(|e| Invalid::new(at.child("time_zone"), e.0))?
            }
            None => 0,
        };
        let week = SimDuration::from_secs(7 * 86_400).ticks() as i64;
        let local = (start.ticks() as i64 + offset).rem_euclid(week);
        Ok(Profile {
            hours,
            days,
            start: SimDuration::from_ticks(local as u64),
        })
    }
}

/// How a closed population's users join (at the start, or as surges and
/// the profile add them).
#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum FirstThink {
    /// A whole think time, as if each user had just finished a loop (the
    /// default): users who join together arrive in a burst.
    Fresh,
    /// The time left of a think in progress, so that the class arrives at
    /// its steady rate from the moment its users join.
    Steady,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawArrivals {
    Poisson(RawPoisson),
    OnOff(RawOnOff),
    Recorded(RawRecorded),
}

impl Variants for RawArrivals {
    const TAG: &'static str = "process";
    type Common = super::tagged::NoCommon;
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPoisson {
    per_min: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOnOff {
    on_per_min: Number,
    off_per_min: Number,
    mean_on: Duration,
    mean_off: Duration,
}

/// `{ process = "recorded", file = "gaps.csv", column = "value", unit = "s", block = "10m" }`:
/// recorded gaps between arrivals, replayed in windows cut at random times.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRecorded {
    /// A CSV file, relative to the model file.
    file: String,
    /// The column's header name.
    column: String,
    /// The gaps' unit, e.g. "s" or "ms".
    unit: String,
    /// How long a window of the recording is replayed before the next is cut.
    block: Duration,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawSurge {
    at: At,
    #[serde(rename = "for")]
    duration: Duration,
    factor: Number,
}

/// Checks every class of `[[workload]]`; `agents` are the agents' names, in order.
pub fn check_workload(
    raw: &[RawUserClass],
    agents: &[String],
    models: &[String],
    base_dir: &Path,
    start: SimDuration,
) -> Checked<Vec<UserClass>> {
    let workload = FieldPath::root("workload");
    if raw.is_empty() {
        return Err(Invalid::new(
            workload,
            "needs at least one user class ([[workload]] with a name, an agent and users or arrivals)",
        ));
    }
    if raw.len() > usize::from(u16::MAX) {
        return Err(Invalid::new(workload, "at most 65535 user classes"));
    }
    let mut classes: Vec<UserClass> = Vec::with_capacity(raw.len());
    for (index, class) in raw.iter().enumerate() {
        let name_path = workload.child(index).child("name");
        if class.name.is_empty() || class.name.contains('.') {
            return Err(Invalid::new(
                name_path,
                format!(
                    "must be non-empty and contain no dots (got \"{}\")",
                    class.name
                ),
            ));
        }
        if classes.iter().any(|c| c.name == class.name) {
            return Err(Invalid::new(
                name_path,
                format!(
                    "two user classes are called \"{}\": names must be unique",
                    class.name
                ),
            ));
        }
        classes.push(class.check(
            &workload.child(&class.name),
            agents,
            models,
            (base_dir, start),
        )?);
    }
    Ok(classes)
}

/// The first of `fields` (a name, and whether it is given) that is given.
fn first_given<'a>(fields: &[(&'a str, bool)]) -> Option<&'a str> {
    fields
        .iter()
        .find_map(|&(name, given)| given.then_some(name))
}

impl RawUserClass {
    fn check(
        &self,
        at: &FieldPath,
        agents: &[String],
        models: &[String],
        (base_dir, start): (&Path, SimDuration),
    ) -> Checked<UserClass> {
        let agent = self.agent_index(at, agents)?;
        if let Some(trace) = &self.trace {
            if let Some(field) = first_given(&[
                ("users", self.users.is_some()),
                ("arrivals", self.arrivals.is_some()),
                ("resample", self.resample.is_some()),
                ("think_time", self.think_time.is_some()),
                ("first_think", self.first_think.is_some()),
                ("surges", !self.surges.is_empty()),
                ("profile", self.profile.is_some()),
            ]) {
                return Err(Invalid::new(
                    at.child(field),
                    "does not go with `trace`: a trace's calls arrive as recorded (use trace.speed to replay it faster)",
                ));
            }
            return Ok(UserClass {
                name: self.name.clone(),
                agent,
                population: trace.check(&at.child("trace"), base_dir, models)?,
                surges: Vec::new(),
                profile: None,
                priority: self.priority(at)?,
            });
        }
        let population = match &self.resample {
            Some(trace) => self.resampled(at, trace, (base_dir, models))?,
            None => self.population(at, base_dir)?,
        };
        let surges = self
            .surges
            .iter()
            .enumerate()
            .map(|(i, s)| s.check(&at.child("surges").child(i), start))
            .collect::<Checked<Vec<_>>>()?;
        let profile = self
            .profile
            .as_ref()
            .map(|p| p.check(&at.child("profile"), start))
            .transpose()?;
        Ok(UserClass {
            name: self.name.clone(),
            agent,
            population,
            surges,
            profile,
            priority: self.priority(at)?,
        })
    }
    /// Its agent's index among `agents`.
    fn agent_index(&self, at: &FieldPath, agents: &[String]) -> Checked<usize> {
        agents.iter().position(|a| *a == self.agent).ok_or_else(|| {
            Invalid::new(
                at.child("agent"),
                format!(
                    "no agent named `{}` (agents defined: {})",
                    self.agent,
                    if agents.is_empty() {
                        "none".to_owned()
                    } else {
                        agents.join(", ")
                    }
                ),
            )
        })
    }

    /// Its priority at a coordinated throttle (0 unless given).
    fn priority(&self, at: &FieldPath) -> Checked<u8> {
        Ok(self
            .priority
            .map(|p| whole(&at.child("priority"), p, 0, 255))
            .transpose()?
            .map_or(0, |p| p as u8))
    }

    /// Sessions resampled from `trace`: an open stream of them (`arrivals`
    /// says how often one starts), or closed users who each replay one
    /// after another, `think_time` between them.
    fn resampled(
        &self,
        at: &FieldPath,
        trace: &RawTrace,
        (base_dir, models): (&Path, &[String]),
    ) -> Checked<Population> {
        let recorded = trace.sessions(&at.child("resample"), base_dir, models)?;
        Ok(match self.population(at, base_dir)? {
            Population::Closed {
                users,
                think_time,
                joining,
                ..
            } => Population::Closed {
                users,
                think_time,
                joining,
                sessions: Some(recorded),
            },
            Population::Open(arrivals) => Population::Resampled {
                arrivals,
                sessions: recorded,
            },
            _ => unreachable!("users or arrivals"),
        })
    }

    /// A closed population (users who think between loops) or open arrivals.
    fn population(&self, at: &FieldPath, base_dir: &Path) -> Checked<Population> {
        Ok(match (self.users, &self.arrivals) {
            (Some(users), None) => {
                let users = whole(&at.child("users"), users, 0, u64::from(u32::MAX))? as u32;
                let think = self.think_time.as_ref().ok_or_else(|| {
                    Invalid::new(
                        at.child("think_time"),
                        "missing: a closed population (users = N) needs `think_time`",
                    )
                })?;
                let think_time = think.duration(&at.child("think_time"), base_dir)?;
                let joining = match self.first_think.unwrap_or(FirstThink::Fresh) {
                    FirstThink::Fresh => None,
                    // The share mid-loop is known once the agent and capacity are.
                    FirstThink::Steady => Some(Joining {
                        left: think_time
                            .dist()
                            .residual()
                            .map_err(|e| Invalid::new(at.child("think_time"), e.to_string()))?,
                        mid_loop: 0.0,
                    }),
                };
                Population::Closed {
                    users,
                    think_time,
                    joining,
                    sessions: None,
                }
            }
            (None, Some(arrivals)) => {
                if let Some(field) = first_given(&[
                    ("think_time", self.think_time.is_some()),
                    ("first_think", self.first_think.is_some()),
                ]) {
                    return Err(Invalid::new(
                        at.child(field),
                        format!(
                            "only closed populations (users = N) think; open arrivals take no {field}"
                        ),
                    ));
                }
                let at = at.child("arrivals");
                Population::Open(arrivals.read(&at)?.check(&at, base_dir)?)
            }
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at,
                    "give either users (a closed population) or arrivals (an open one), not both",
                ));
            }
            (None, None) => {
                return Err(Invalid::new(
                    at,
                    "needs users = N with a think_time (closed population) or arrivals = { process = \"poisson\", per_min = R } (open)",
                ));
            }
        })
    }
}

impl RawArrivals {
    /// The process; a file of recorded gaps is read relative to `base_dir`.
    fn check(self, at: &FieldPath, base_dir: &Path) -> Checked<Arrivals> {
        Ok(match self {
            RawArrivals::Recorded(r) => {
                let values = column_values(
                    at,
                    (&r.file, &r.column, Some(&r.unit)),
                    Unit::Duration,
                    base_dir,
                )?;
                if let Some(bad) = values.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                    return Err(Invalid::new(
                        at.child("file"),
                        format!("{}: a gap of {bad} s: gaps must be finite and >= 0", r.file),
                    ));
                }
                if values.iter().all(|&v| v <= 0.0) {
                    return Err(Invalid::new(
                        at.child("file"),
                        format!(
                            "{}: every gap is 0: arrivals need time between them",
                            r.file
                        ),
                    ));
                }
                Arrivals::Recorded {
                    gaps: RecordedGaps::new(
                        values
                            .iter()
                            .map(|&v| SimDuration::from_secs_f64(v))
                            .collect(),
                    ),
                    block: positive_duration(&at.child("block"), r.block)?,
                }
            }
            RawArrivals::Poisson(p) => Arrivals::Poisson {
                per_min: non_negative(&at.child("per_min"), p.per_min)?,
            },
            RawArrivals::OnOff(o) => Arrivals::OnOff {
                on_per_min: positive(&at.child("on_per_min"), o.on_per_min)?,
                off_per_min: non_negative(&at.child("off_per_min"), o.off_per_min)?,
                mean_on: positive_duration(&at.child("mean_on"), o.mean_on)?,
                mean_off: positive_duration(&at.child("mean_off"), o.mean_off)?,
            },
        })
    }
}

impl RawSurge {
    /// The surge, on a clock whose t = 0 falls at `start` in the week.
    fn check(&self, at: &FieldPath, start: SimDuration) -> Checked<Surge> {
        Ok(Surge {
            at: SimTime::ZERO + self.at.after(start),
            duration: positive_duration(&at.child("for"), self.duration)?,
            factor: non_negative(&at.child("factor"), self.factor)?,
        })
    }
}
