//! Distributions as written: a table with a `dist` key, or a bare number or
//! duration as shorthand for a constant (`width = 10`, `tool_latency = "2s"`).

use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

use super::checks::{Checked, file_name};
use super::diagnostic::Invalid;
use super::empirical::read_column;
use super::field_path::FieldPath;
use super::quantity::{Number, Quantity, parse_duration};
use super::tagged::{Tagged, Variants};
use crate::model::distribution::{CountDist, Dist, DistError, DurationDist, Z_P95, Z_P99};

/// What a distribution describes, which decides how its parameters are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Parameters are durations with units (`"800ms"`).
    Duration,
    /// Parameters are plain numbers (steps, tokens).
    Count,
}

#[derive(Clone, Debug)]
pub enum RawDist {
    Constant(Quantity),
    Table(Tagged<RawDistTable>),
}

/// `min` and `max` clamp any distribution (uniform's are its range).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawDistTable {
    Constant(RawConstant),
    Exponential(RawExponential),
    Uniform(RawUniform),
    Lognormal(RawLognormal),
    Gamma(RawGamma),
    Pareto(RawPareto),
    Empirical(RawEmpirical),
}

impl Variants for RawDistTable {
    const TAG: &'static str = "dist";
    type Common = super::tagged::NoCommon;
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawConstant {
    value: Quantity,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExponential {
    mean: Quantity,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUniform {
    min: Quantity,
    max: Quantity,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLognormal {
    median: Quantity,
    p95: Option<Quantity>,
    p99: Option<Quantity>,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGamma {
    shape: Number,
    scale: Option<Quantity>,
    mean: Option<Quantity>,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPareto {
    /// The minimum.
    scale: Quantity,
    shape: Number,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEmpirical {
    /// A CSV file, relative to the model file.
    file: String,
    /// The column's header name.
    column: String,
    /// The unit of a column of durations, e.g. "ms".
    unit: Option<String>,
    min: Option<Quantity>,
    max: Option<Quantity>,
}

/// A distribution parameter in the unit the distribution describes, as seconds or a count.
fn param(at: &FieldPath, q: Quantity, unit: Unit) -> Checked<f64> {
    match (unit, q) {
        (Unit::Duration, Quantity::Duration(d)) => Ok(d.as_secs_f64()),
        (Unit::Count, Quantity::Number(x)) => Ok(x),
        (Unit::Duration, Quantity::Number(x)) => Err(Invalid::new(
            at,
            format!("durations need a unit, like \"{x}s\" or \"{x}ms\" (got {x})"),
        )),
        (Unit::Count, Quantity::Duration(d)) => Err(Invalid::new(
            at,
            format!("expected a plain number here, not a duration (got \"{d}\")"),
        )),
    }
}

impl RawDist {
    /// The distribution at `at`; empirical files are read relative to `base_dir`.
    pub fn check(&self, at: &FieldPath, unit: Unit, base_dir: &Path) -> Checked<Dist> {
        let fail = |e: DistError| Invalid::new(at, e.to_string());
        let table = match self {
            RawDist::Constant(q) => return Dist::constant(param(at, *q, unit)?).map_err(fail),
            RawDist::Table(t) => t.read(at)?,
        };
        let get = |field: &str, q: Option<Quantity>| {
            q.map(|q| param(&at.child(field), q, unit)).transpose()
        };
        let need = |field: &str, q: Quantity| param(&at.child(field), q, unit);
        let (dist, min, max) = match table {
            RawDistTable::Constant(t) => (Dist::constant(need("value", t.value)?), t.min, t.max),
            RawDistTable::Exponential(t) => {
                (Dist::exponential(need("mean", t.mean)?), t.min, t.max)
            }
            RawDistTable::Uniform(t) => {
                return Dist::uniform(need("min", t.min)?, need("max", t.max)?).map_err(fail);
            }
            RawDistTable::Lognormal(t) => {
                let median = need("median", t.median)?;
                let dist = match (t.p95, t.p99) {
                    (Some(q), None) => Dist::lognormal(median, need("p95", q)?, "p95", Z_P95),
                    (None, Some(q)) => Dist::lognormal(median, need("p99", q)?, "p99", Z_P99),
                    (Some(_), Some(_)) => {
                        return Err(Invalid::new(at, "give one of p95 or p99, not both"));
                    }
                    (None, None) => {
                        return Err(Invalid::new(
                            at.child("p99"),
                            "missing: dist = \"lognormal\" needs `median` and one of `p95` or `p99`",
                        ));
                    }
                };
                (dist, t.min, t.max)
            }
            RawDistTable::Gamma(t) => {
                let shape = t.shape.0;
                let scale = match (t.scale, t.mean) {
                    (Some(s), None) => need("scale", s)?,
                    (None, Some(m)) => need("mean", m)? / shape,
                    _ => {
                        return Err(Invalid::new(
                            at,
                            "dist = \"gamma\" needs `shape` and one of `scale` or `mean`",
                        ));
                    }
                };
                (Dist::gamma(shape, scale), t.min, t.max)
            }
            RawDistTable::Pareto(t) => (
                Dist::pareto(need("scale", t.scale)?, t.shape.0),
                t.min,
                t.max,
            ),
            RawDistTable::Empirical(t) => {
                let values = t.values(at, unit, base_dir)?;
                (Dist::empirical(values), t.min, t.max)
            }
        };
        let (min, max) = (get("min", min)?, get("max", max)?);
        dist.and_then(|d| d.bounded(min, max)).map_err(fail)
    }

    /// A distribution of counts; a constant count must be whole (other
    /// distributions' draws are rounded to the nearest whole count).
    pub fn count(&self, at: &FieldPath, base_dir: &Path) -> Checked<CountDist> {
        let dist = self.check(at, Unit::Count, base_dir)?;
        if let Some(v) = dist.constant_value().filter(|v| v.fract() != 0.0) {
            return Err(Invalid::new(
                at,
                format!("a count must be a whole number (got {v})"),
            ));
        }
        Ok(CountDist::new(dist))
    }

    /// A distribution of counts of at least one (steps, calls in a burst):
    /// a constant below one is an error; draws of other distributions that
    /// round below one are taken as one, which `check` warns about.
    pub fn count_of_at_least_one(&self, at: &FieldPath, base_dir: &Path) -> Checked<CountDist> {
        let count = self.count(at, base_dir)?;
        match count.dist().constant_value() {
            Some(v) if v < 1.0 => Err(Invalid::new(at, format!("must be at least 1 (got {v})"))),
            _ => Ok(count),
        }
    }

    pub fn duration(&self, at: &FieldPath, base_dir: &Path) -> Checked<DurationDist> {
        self.check(at, Unit::Duration, base_dir)
            .map(DurationDist::new)
    }
}

impl RawEmpirical {
    /// The column's values, in seconds for durations.
    fn values(&self, at: &FieldPath, unit: Unit, base_dir: &Path) -> Checked<Vec<f64>> {
        column_values(
            at,
            (&self.file, &self.column, self.unit.as_deref()),
            unit,
            base_dir,
        )
    }
}

/// The values of a CSV's column (`file`, `column` and the values' `unit`
/// as written at `at`), in seconds for durations; the file is read
/// relative to `base_dir`.
pub(super) fn column_values(
    at: &FieldPath,
    (file, column, given_unit): (&str, &str, Option<&str>),
    unit: Unit,
    base_dir: &Path,
) -> Checked<Vec<f64>> {
    file_name(&at.child("file"), file)?;
    let seconds_per_value = match (unit, given_unit) {
        (Unit::Duration, Some(u)) => parse_duration(&format!("1{u}"))
            .map_err(|_| {
                Invalid::new(
                    at.child("unit"),
                    format!("unknown unit `{u}`: use us, ms, s, m, h or d"),
                )
            })?
            .as_secs_f64(),
        (Unit::Duration, None) => {
            return Err(Invalid::new(
                at.child("unit"),
                "missing: an empirical distribution of durations needs the column's unit, e.g. unit = \"ms\"",
            ));
        }
        (Unit::Count, Some(_)) => {
            return Err(Invalid::new(
                at.child("unit"),
                "counts have no unit: remove it",
            ));
        }
        (Unit::Count, None) => 1.0,
    };
    let values = read_column(&base_dir.join(file), column)
        .map_err(|m| Invalid::new(at.child("file"), m.0))?;
    Ok(values.into_iter().map(|v| v * seconds_per_value).collect())
}

impl schemars::JsonSchema for RawDist {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Distribution".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a distribution table like { dist = \"exponential\", mean = \"90s\" }, or a constant",
            "anyOf": [
                <Quantity as schemars::JsonSchema>::json_schema(generator),
                <Tagged<RawDistTable> as schemars::JsonSchema>::json_schema(generator),
            ],
        })
    }
}

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DistVisitor;

        impl<'de> Visitor<'de> for DistVisitor {
            type Value = RawDist;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a distribution table like { dist = \"exponential\", mean = \"90s\" }, or a constant")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v as f64)))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v as f64)))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDist, E> {
                Ok(RawDist::Constant(Quantity::Number(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDist, E> {
                parse_duration(v)
                    .map(|d| RawDist::Constant(Quantity::Duration(d)))
                    .map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDist, A::Error> {
                toml::Table::deserialize(MapAccessDeserializer::new(map))
                    .map(|t| RawDist::Table(Tagged::new(t)))
            }
        }

        d.deserialize_any(DistVisitor)
    }
}
