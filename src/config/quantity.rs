//! Numbers and durations as written in model files.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::engine::{SimDuration, TICKS_PER_SECOND};
use crate::error::BadInput;
use crate::model::workload::classes::DAYS;

/// Units a duration string may use, with their length in ticks.
const UNITS: [(&str, f64); 6] = [
    ("us", 1.0),
    ("ms", 1e3),
    ("s", TICKS_PER_SECOND as f64),
    ("m", 60.0 * TICKS_PER_SECOND as f64),
    ("h", 3600.0 * TICKS_PER_SECOND as f64),
    ("d", 86_400.0 * TICKS_PER_SECOND as f64),
];

pub const DURATION_HELP: &str = "a number with a unit (us, ms, s, m, h, d), like \"90s\" or \"1.5h\", or several, like \"1h30m\"";

/// The longest duration a model may write, for any field: a century. Far
/// beyond any planning horizon, and far enough below the clock's limit
/// (2^64 µs, about 584,000 years) that no sum of durations overflows it.
pub const MAX_DURATION_DAYS: u64 = 36_500;

/// Parses `"600ms"`, `"2m"`, `"1.5h"`, and sums of them written together:
/// `"1h30m"`, `"2d 12h"`.
pub fn parse_duration(text: &str) -> Result<SimDuration, BadInput> {
    let parts = compound_parts(text.trim());
    if parts.len() < 2 {
        return parse_one_duration(text);
    }
    let mut total = SimDuration::ZERO;
    for part in &parts {
        let d = parse_one_duration(part)
            .map_err(|e| BadInput(format!("`{}`: {}", text.trim(), e.0)))?;
        total = total + d;
    }
    let max = SimDuration::from_secs(MAX_DURATION_DAYS * 86_400);
    if total > max {
        return Err(BadInput(format!(
            "`{}` is longer than the longest duration a model may use, {MAX_DURATION_DAYS}d (a century)",
            text.trim()
        )));
    }
    Ok(total)
}

/// `text` cut after each unit that a number follows: `"1h30m"` into
/// `"1h"` and `"30m"` (an exponent, as in `"1e3s"`, is part of its number).
fn compound_parts(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..bytes.len() {
        let (before, here) = (bytes[i - 1], bytes[i]);
        let exponent = matches!(before, b'e' | b'E')
            && i >= 2
            && (bytes[i - 2].is_ascii_digit() || bytes[i - 2] == b'.');
        if before.is_ascii_alphabetic() && !exponent && (here.is_ascii_digit() || here == b' ') {
            parts.push(text[start..i].trim());
            start = i;
        }
    }
    parts.push(text[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// `text` split into its number and its unit, the trailing letters (so an
/// exponent, as in `1e3s`, stays in the number), and the unit's size in
/// `units` if it is one of them.
fn number_and_unit<'a>(text: &'a str, units: &[(&str, f64)]) -> (&'a str, &'a str, Option<f64>) {
    let split = text
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .len();
    let (number, unit) = text.split_at(split);
    let size = units
        .iter()
        .find(|(u, _)| *u == unit.trim())
        .map(|(_, size)| *size);
    (number.trim(), unit, size)
}

/// Parses one number with its unit.
fn parse_one_duration(text: &str) -> Result<SimDuration, BadInput> {
    let text = text.trim();
    let (number, unit, ticks_per_unit) = number_and_unit(text, &UNITS);
    if unit.is_empty() {
        return Err(BadInput(format!(
            "`{text}` has no unit: expected {DURATION_HELP}"
        )));
    }
    let ticks_per_unit = ticks_per_unit.ok_or_else(|| {
        BadInput(format!(
            "`{text}`: unknown unit `{unit}`, expected {DURATION_HELP}"
        ))
    })?;
    let value: f64 = number.parse().map_err(|_| {
        BadInput(format!(
            "`{text}` is not a duration: expected {DURATION_HELP}"
        ))
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(BadInput(format!("`{text}` must be a finite duration >= 0")));
    }
    let max_ticks = MAX_DURATION_DAYS as f64 * 86_400.0 * TICKS_PER_SECOND as f64;
    if value * ticks_per_unit > max_ticks {
        return Err(BadInput(format!(
            "`{text}` is longer than the longest duration a model may use, {MAX_DURATION_DAYS}d (a century)"
        )));
    }
    Ok(SimDuration::from_ticks(
        (value * ticks_per_unit).round() as u64
    ))
}

/// Parses a time of day, `"HH:MM"` (00:00 to 23:59): its distance from midnight.
pub fn parse_clock(text: &str) -> Result<SimDuration, BadInput> {
    let bad = || {
        BadInput(format!(
            "`{text}` is not a time of day: expected HH:MM, like \"09:30\""
        ))
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u64, u64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 || text.trim().len() != 5 {
        return Err(bad());
    }
    Ok(SimDuration::from_secs(h * 3600 + m * 60))
}

/// Parses a time in the week, `"Tue 10:00"` (or `"10:00"`, a Monday): its
/// distance from Monday 00:00.
pub fn parse_week_time(text: &str) -> Result<SimDuration, BadInput> {
    let text = text.trim();
    let (day, clock) = match text.split_once(' ') {
        Some((day, clock)) => {
            let index = DAYS.iter().position(|d| *d == day).ok_or_else(|| {
                BadInput(format!(
                    "`{text}`: unknown day `{day}`, expected one of {}",
                    DAYS.join(", ")
                ))
            })?;
            (index as u64, clock)
        }
        None => (0, text),
    };
    Ok(SimDuration::from_secs(day * 86_400) + parse_clock(clock)?)
}

/// When something starts: a duration after the run's start (`"2h"`), or
/// a clock time, `"10:00"` (the first at or after the start) or
/// `"Tue 10:00"` (the first such day and time).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum At {
    After(SimDuration),
    /// A time of day, from midnight.
    Daily(SimDuration),
    /// A time in the week, from Monday 00:00.
    Weekly(SimDuration),
}

impl At {
    /// Its distance from the run's t = 0, which falls at `start` in the week.
    pub fn after(self, start: SimDuration) -> SimDuration {
        let next = |period: u64, point: SimDuration| {
            let now = start.ticks() % period;
            SimDuration::from_ticks((point.ticks() + period - now) % period)
        };
        match self {
            At::After(d) => d,
            At::Daily(time) => next(SimDuration::from_secs(86_400).ticks(), time),
            At::Weekly(time) => next(SimDuration::from_secs(7 * 86_400).ticks(), time),
        }
    }

    fn parse(text: &str) -> Result<At, BadInput> {
        if !text.contains(':') {
            return parse_duration(text).map(At::After);
        }
        if text.trim().contains(' ') {
            parse_week_time(text).map(At::Weekly)
        } else {
            parse_clock(text).map(At::Daily)
        }
    }
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        At::parse(&text).map_err(de::Error::custom)
    }
}

impl schemars::JsonSchema for At {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "At".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("{DURATION_PATTERN}|{CLOCK_PATTERN}"),
            "description": "a duration after the start, like \"2h\", or a clock time, like \"10:00\" or \"Tue 10:00\"",
        })
    }
}

/// A clock time's pattern: an optional day, then HH:MM.
const CLOCK_PATTERN: &str =
    r"^\s*((Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?([01][0-9]|2[0-3]):[0-5][0-9]\s*$";

/// A number, integer or float, as TOML writes it: its value, and the
/// integer itself when it was one (an `f64` cannot hold every `i64`, and
/// messages echo what was written).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number(pub f64, pub Option<i64>);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(integer) => write!(f, "{integer}"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A duration written as a string with a unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Duration(pub SimDuration);

/// Either of the above: distribution parameters are durations or counts
/// depending on what the distribution describes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quantity {
    Number(f64),
    Duration(SimDuration),
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Number(x) => write!(f, "{x}"),
            Quantity::Duration(d) => write!(f, "\"{d}\""),
        }
    }
}

struct QuantityVisitor {
    /// What the field accepts, for error messages.
    expecting: &'static str,
    /// Whether strings (durations) are accepted at all.
    strings: bool,
}

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Ok(Quantity::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Ok(Quantity::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        Ok(Quantity::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        if !self.strings {
            return Err(E::invalid_type(de::Unexpected::Str(v), &self));
        }
        parse_duration(v).map(Quantity::Duration).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(QuantityVisitor {
            expecting: "a number, or a duration with a unit like \"90s\"",
            strings: true,
        })
    }
}

struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(Number(v as f64, Some(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(Number(v as f64, i64::try_from(v).ok()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
        Ok(Number(v, None))
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(QuantityVisitor {
            expecting: DURATION_HELP,
            strings: true,
        })? {
            Quantity::Duration(x) => Ok(Duration(x)),
            Quantity::Number(x) => Err(de::Error::custom(format!(
                "durations need a unit (got {x}): expected {DURATION_HELP}"
            ))),
        }
    }
}

/// Units a step cost may use, with their length in seconds.
const STEP_UNITS: [(&str, f64); 4] = [("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0)];

pub const STEP_COST_HELP: &str = "a number with a unit (ns, us, ms, s), like \"6ms\" or \"40ns\"";

/// A step cost's pattern: one number with one of [`STEP_UNITS`].
const STEP_COST_PATTERN: &str = r"^\s*[0-9][0-9.eE+-]*\s*(ns|us|ms|s)\s*$";

/// A model server's cost per step, per sequence or per token of context:
/// a short duration kept exact below the clock's microsecond (a token of
/// context costs nanoseconds), in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepCost(pub f64);

impl StepCost {
    pub fn parse(text: &str) -> Result<StepCost, BadInput> {
        let bad = || BadInput(format!("`{text}`: expected {STEP_COST_HELP}"));
        let (number, _, seconds) = number_and_unit(text.trim(), &STEP_UNITS);
        let seconds = seconds.ok_or_else(bad)?;
        let value: f64 = number.parse().map_err(|_| bad())?;
        if !value.is_finite() || value < 0.0 || value * seconds > 3600.0 {
            return Err(BadInput(format!(
                "`{text}` must be a duration from 0 to an hour"
            )));
        }
        Ok(StepCost(value * seconds))
    }
}

impl<'de> Deserialize<'de> for StepCost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        StepCost::parse(&text).map_err(de::Error::custom)
    }
}

impl schemars::JsonSchema for StepCost {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepCost".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": STEP_COST_PATTERN,
            "description": STEP_COST_HELP,
        })
    }
}

/// A duration's pattern: numbers each with one of [`UNITS`], spaces allowed.
const DURATION_PATTERN: &str = r"^(\s*[0-9][0-9.eE+-]*\s*(us|ms|s|m|h|d))+\s*$";

impl schemars::JsonSchema for Number {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Number".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "number" })
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": DURATION_HELP,
        })
    }
}

impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a number, or a duration with a unit like \"90s\"",
            "anyOf": [{ "type": "number" }, Duration::json_schema(generator)],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_every_unit() {
        let ticks = |s| parse_duration(s).unwrap().ticks();
        assert_eq!(ticks("250us"), 250);
        assert_eq!(ticks("600ms"), 600_000);
        assert_eq!(ticks("1.5s"), 1_500_000);
        assert_eq!(ticks("2m"), 120_000_000);
        assert_eq!(ticks("1h"), 3_600_000_000);
        assert_eq!(ticks("1d"), 86_400_000_000);
        assert_eq!(ticks(" 3 s "), 3_000_000);
    }

    #[test]
    fn a_start_is_a_duration_or_the_next_clock_time() {
        let hours = |h: u64| SimDuration::from_secs(h * 3600);
        // The run starts on a Friday at 12:00.
        let start = parse_week_time("Fri 12:00").unwrap();
        assert_eq!(start, hours(4 * 24 + 12));
        let after = |text: &str| At::parse(text).unwrap().after(start);
        assert_eq!(after("2h"), hours(2));
        assert_eq!(after("13:00"), hours(1));
        assert_eq!(after("12:00"), hours(0));
        assert_eq!(after("10:00"), hours(22));
        assert_eq!(after("Sat 00:00"), hours(12));
        assert_eq!(after("Mon 09:00"), hours(2 * 24 + 21));
        assert_eq!(after("Fri 11:00"), hours(7 * 24 - 1));
        assert_eq!(
            At::parse("10:00").unwrap().after(SimDuration::ZERO),
            hours(10)
        );
        for bad in ["24:00", "Tue 9:5", "Someday 10:00", "10:00:00"] {
            assert!(At::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn step_costs_keep_what_the_clock_cannot() {
        let seconds = |s| StepCost::parse(s).unwrap().0;
        // Below the clock's microsecond, exactly as written.
        assert_eq!(seconds("40ns"), 40e-9);
        assert_eq!(seconds("0.15ms"), 0.15e-3);
        assert_eq!(seconds("1.5us"), 1.5e-6);
        assert_eq!(seconds("6 ms"), 6e-3);
        assert_eq!(seconds("0.02s"), 0.02);
        // A duration, not a sum of them, nor anything longer than an hour.
        for bad in ["40", "2ps", "1h", "1ms2us", "-1ms", "2h", "7200s", "abc"] {
            assert!(StepCost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_written_together_add_up() {
        let ticks = |s| parse_duration(s).unwrap().ticks();
        assert_eq!(ticks("1h30m"), 5_400_000_000);
        assert_eq!(ticks("1h 30m"), 5_400_000_000);
        assert_eq!(ticks("2d12h"), 216_000_000_000);
        assert_eq!(ticks("1m30.5s"), 90_500_000);
        assert_eq!(ticks("1s500ms"), 1_500_000);
        // An exponent is part of its number, not a unit.
        assert_eq!(ticks("1e3s"), 1_000_000_000);
        assert_eq!(ticks("1h1e3s"), 4_600_000_000);
        for (bad, says) in [
            ("1h30", "`1h30`: `30` has no unit"),
            ("1h30x", "unknown unit `x`"),
            ("36500d1h", "longer than the longest duration"),
        ] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn durations_beyond_a_century_are_refused() {
        assert_eq!(
            parse_duration("36500d").unwrap().ticks(),
            36_500 * 86_400_000_000
        );
        for long in ["36501d", "213503983d", "1e30s", "876001h"] {
            let err = parse_duration(long).unwrap_err().to_string();
            assert!(
                err.contains("longer than the longest duration"),
                "{long}: {err}"
            );
        }
    }

    #[test]
    fn bad_durations_say_what_is_allowed() {
        for bad in ["90", "5x", "s", "-1s", "1e400s", "fast"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains(bad.trim()), "{bad}: {err}");
        }
        assert!(
            parse_duration("90")
                .unwrap_err()
                .to_string()
                .contains("no unit")
        );
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit `x`")
        );
    }
}
