//! Grid axes: what a sweep varies, their values, and the points they span.
//!
//! `[grid]` holds one axis per leaf, under its dotted model path:
//! a list (`capacity.lanes = [8, 16, 32]`), a range (`workload.developers.users
//! = { from = 50, to = 1000, steps = 20 }`, optionally `scale = "log"`), or
//! labelled values (`client.backoff = { values = [...], labels = [...] }`).
//! The axis `model` lists base model files, to compare whole models. The
//! axis `plan` lists labelled alternatives, each a table of model paths whose
//! values replace the model's whole value there (`{ capacity = { kind =
//! "reserved", lanes = 16, ... }, prices = { per_lane_hour = 4.0 } }`), to
//! compare alternatives that differ in several tables at once, across kinds.

use std::collections::BTreeMap;

use super::diagnostic::Invalid;
use super::field_path::{FieldPath, leaves};

/// The axis that picks the base model file instead of overriding a field.
pub const MODEL_AXIS: &str = "model";
/// The axis whose values each replace several model paths at once.
pub const PLAN_AXIS: &str = "plan";
/// The most points a grid may span. Every point is validated and its
/// memory estimated before any run (about 60 µs and 3.4 KB a point), so
/// `check` answers in seconds; a grid this size already takes hours to run.
pub const MAX_POINTS: usize = 100_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The dotted model path it overrides, or [`MODEL_AXIS`].
    pub path: String,
    pub values: Vec<AxisValue>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AxisValue {
    /// How the value appears in CSV files and plot legends.
    pub label: String,
    pub value: toml::Value,
    /// The value as a number, for axes that can be plotted along x.
    pub number: Option<f64>,
}

impl Axis {
    /// Whether every value is a number, so the axis can be an x axis.
    pub fn is_numeric(&self) -> bool {
        self.values.iter().all(|v| v.number.is_some())
    }
}

/// How a value is written in CSV files and legends: strings bare, others as TOML.
pub fn label(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn number(value: &toml::Value) -> Option<f64> {
    match value {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn axis_value(value: toml::Value) -> AxisValue {
    AxisValue {
        label: label(&value),
        number: number(&value),
        value,
    }
}

/// Whether a `[grid]` value is an axis rather than a table of further axes.
fn is_axis(value: &toml::Value) -> bool {
    value
        .as_table()
        .is_none_or(|t| t.contains_key("from") || t.contains_key("values"))
}

/// The axes of a `[grid]` table, in file order, nested tables flattened into
/// dotted paths.
pub fn axes(grid: &toml::Table) -> Result<Vec<Axis>, Invalid> {
    leaves(grid, &FieldPath::default(), &is_axis)
        .into_iter()
        .map(|(path, value)| axis(path.as_str(), value))
        .collect()
}

fn axis(path: &str, value: &toml::Value) -> Result<Axis, Invalid> {
    let mut values: Vec<AxisValue> = match value {
        toml::Value::Array(items) => items.iter().cloned().map(axis_value).collect(),
        toml::Value::Table(t) if t.contains_key("from") => range(path, t)?,
        toml::Value::Table(t) => labelled(path, t)?,
        other => {
            return Err(Invalid::new(
                format!("grid.{path}"),
                format!(
                    "an axis needs a list of values, a range {{ from, to, steps }} or {{ values, labels }} (got {other})"
                ),
            ));
        }
    };
    if values.is_empty() {
        return Err(Invalid::new(
            format!("grid.{path}"),
            "an axis needs at least one value",
        ));
    }
    if let Some((first, i)) = first_repeat(values.iter().map(|v| canonical(&v.value))) {
        return Err(Invalid::new(
            format!("grid.{path}"),
            format!(
                "value {} is listed twice (as values {} and {}): each point must differ",
                values[i].label,
                first + 1,
                i + 1
            ),
        ));
    }
    if path == MODEL_AXIS {
        if values.iter().any(|v| !v.value.is_str()) {
            return Err(Invalid::new(
                "grid.model",
                "the model axis lists model files, as strings",
            ));
        }
        // Label a model by its file name without extension.
        for v in &mut values {
            let file = std::path::Path::new(&v.label);
            if let Some(stem) = file.file_stem() {
                v.label = stem.to_string_lossy().into_owned();
            }
        }
    }
    if path == PLAN_AXIS {
        check_plans(value, &values)?;
    }
    if let Some((_, i)) = first_repeat(values.iter().map(|v| v.label.as_str())) {
        let v = &values[i];
        return Err(Invalid::new(
            format!("grid.{path}"),
            format!(
                "two values are labelled `{}`: runs.csv and points.csv could not tell their points apart; give them distinct labels",
                v.label
            ),
        ));
    }
    Ok(Axis {
        path: path.to_owned(),
        values,
    })
}

/// Plans are labelled tables of model paths.
fn check_plans(axis: &toml::Value, values: &[AxisValue]) -> Result<(), Invalid> {
    let example = "e.g. plan = { values = [{ capacity = { ... }, prices = { ... } }, ...], labels = [\"shared\", \"16 lanes\"] }";
    if !axis.as_table().is_some_and(|t| t.contains_key("labels")) {
        return Err(Invalid::new(
            "grid.plan",
            format!("plans need labels, one per plan: {example}"),
        ));
    }
    for (i, v) in values.iter().enumerate() {
        if !v.value.is_table() {
            return Err(Invalid::new(
                format!("grid.plan.values.{i}"),
                format!(
                    "a plan is a table of the model paths it replaces (got {}): {example}",
                    v.value
                ),
            ));
        }
    }
    Ok(())
}

/// The overrides one axis value stands for: the value at the axis's path,
/// or, for a plan, each of its paths replaced by its value.
pub fn replacements<'a>(
    axis: &'a Axis,
    value: &'a AxisValue,
) -> Box<dyn Iterator<Item = (&'a str, &'a toml::Value)> + 'a> {
    match &value.value {
        toml::Value::Table(plan) if axis.path == PLAN_AXIS => {
            Box::new(plan.iter().map(|(path, v)| (path.as_str(), v)))
        }
        v => Box::new(std::iter::once((axis.path.as_str(), v))),
    }
}

fn range(path: &str, t: &toml::Table) -> Result<Vec<AxisValue>, Invalid> {
    let at = |field: &str| format!("grid.{path}.{field}");
    if let Some(key) = t
        .keys()
        .find(|k| !["from", "to", "steps", "scale"].contains(&k.as_str()))
    {
        return Err(Invalid::new(
            at(key),
            "a range takes from, to, steps and scale",
        ));
    }
    let bound = |field: &str| {
        t.get(field).and_then(number).ok_or_else(|| {
            Invalid::new(at(field), "missing: a range needs numbers `from` and `to`")
        })
    };
    let (from, to) = (bound("from")?, bound("to")?);
    let steps = match t.get("steps") {
        Some(toml::Value::Integer(n)) if (1..=100_000).contains(n) => *n as usize,
        other => {
            return Err(Invalid::new(
                at("steps"),
                format!(
                    "must be a whole number of values from 1 to 100000 (got {})",
                    other.map_or("nothing".to_owned(), toml::Value::to_string)
                ),
            ));
        }
    };
    let log = match t.get("scale").map(|s| s.as_str()) {
        None | Some(Some("linear")) => false,
        Some(Some("log")) => true,
        Some(_) => return Err(Invalid::new(at("scale"), "must be \"linear\" or \"log\"")),
    };
    if log && (from <= 0.0 || to <= 0.0) {
        return Err(Invalid::new(
            at("from"),
            "a log range needs from and to above zero",
        ));
    }
    let integers = matches!(
        (t.get("from"), t.get("to")),
        (Some(toml::Value::Integer(_)), Some(toml::Value::Integer(_)))
    );
    let values: Vec<f64> = (0..steps)
        .map(|i| {
            let f = if steps == 1 {
                0.0
            } else {
                i as f64 / (steps - 1) as f64
            };
            if log {
                (from.ln() + f * (to.ln() - from.ln())).exp()
            } else {
                from + f * (to - from)
            }
        })
        .collect();
    if integers {
        let rounded: Vec<i64> = values.iter().map(|v| v.round() as i64).collect();
        if rounded.windows(2).any(|w| w[0] == w[1]) {
            return Err(Invalid::new(
                at("steps"),
                format!("{steps} steps from {from} to {to} repeat whole numbers: use fewer steps"),
            ));
        }
        Ok(rounded
            .into_iter()
            .map(|v| axis_value(toml::Value::Integer(v)))
            .collect())
    } else {
        Ok(values
            .into_iter()
            .map(|v| axis_value(toml::Value::Float(v)))
            .collect())
    }
}

fn labelled(path: &str, t: &toml::Table) -> Result<Vec<AxisValue>, Invalid> {
    let at = |field: &str| format!("grid.{path}.{field}");
    if let Some(key) = t
        .keys()
        .find(|k| !["values", "labels"].contains(&k.as_str()))
    {
        return Err(Invalid::new(
            at(key),
            "labelled values take values and labels",
        ));
    }
    let values = t
        .get("values")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| Invalid::new(at("values"), "must be a list"))?;
    let labels: Vec<String> = match t.get("labels") {
        None => values.iter().map(label).collect(),
        Some(toml::Value::Array(l))
            if l.len() == values.len() && l.iter().all(toml::Value::is_str) =>
        {
            l.iter().map(label).collect()
        }
        Some(_) => {
            return Err(Invalid::new(
                at("labels"),
                format!("must be a list of {} strings, one per value", values.len()),
            ));
        }
    };
    Ok(values
        .iter()
        .zip(labels)
        .map(|(v, label)| AxisValue {
            label,
            number: number(v),
            value: v.clone(),
        })
        .collect())
}

/// The first key equal to an earlier one, as (earlier index, index), in
/// O(n log n): a range axis may have 100,000 values.
fn first_repeat<K: Ord>(keys: impl Iterator<Item = K>) -> Option<(usize, usize)> {
    let mut seen = BTreeMap::new();
    keys.enumerate()
        .find_map(|(i, key)| seen.insert(key, i).map(|first| (first, i)))
}

/// A value as text that is the same exactly when the values are equal:
/// TOML text with every table's keys in sorted order.
fn canonical(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(t) => {
            let mut entries: Vec<(&String, String)> =
                t.iter().map(|(k, v)| (k, canonical(v))).collect();
            entries.sort();
            let inner: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}={v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        toml::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

/// Every combination of axis values, as value indices per axis: the first
/// axis varies slowest. Errors if there are more than [`MAX_POINTS`].
pub fn points(axes: &[Axis]) -> Result<Vec<Vec<usize>>, Invalid> {
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_POINTS)
        .ok_or_else(|| {
            let product = axes
                .iter()
                .map(|a| a.values.len().to_string())
                .collect::<Vec<_>>()
                .join(" x ");
            Invalid::new(
                "grid",
                format!(
                    "spans {product} points, more than {MAX_POINTS}: split it into several experiments, or take fewer values per axis"
                ),
            )
        })?;
    Ok((0..total)
        .map(|mut index| {
            let mut coords = vec![0; axes.len()];
            for (coord, axis) in coords.iter_mut().zip(axes).rev() {
                *coord = index % axis.values.len();
                index /= axis.values.len();
            }
            coords
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Vec<Axis>, Invalid> {
        let table: toml::Table = toml::from_str(text).unwrap();
        axes(&table)
    }

    fn labels(axis: &Axis) -> Vec<&str> {
        axis.values.iter().map(|v| v.label.as_str()).collect()
    }

    #[test]
    fn nested_tables_flatten_into_dotted_axes_in_file_order() {
        let axes = grid(
            r#"
            workload.developers.users = { from = 10, to = 50, steps = 5 }
            capacity.kind = ["shared_api", "reserved"]
            "client.max_attempts" = [3, 6]
            "#,
        )
        .unwrap();
        let paths: Vec<&str> = axes.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "workload.developers.users",
                "capacity.kind",
                "client.max_attempts"
            ]
        );
        assert_eq!(labels(&axes[0]), ["10", "20", "30", "40", "50"]);
        assert_eq!(labels(&axes[1]), ["shared_api", "reserved"]);
        assert!(axes[0].is_numeric() && !axes[1].is_numeric());
    }

    #[test]
    fn ranges_are_linear_or_log_and_integer_when_their_bounds_are() {
        let a = grid("x = { from = 1.0, to = 2.0, steps = 3 }").unwrap();
        assert_eq!(labels(&a[0]), ["1.0", "1.5", "2.0"]);
        let a = grid("x = { from = 10, to = 1000, steps = 3, scale = \"log\" }").unwrap();
        assert_eq!(labels(&a[0]), ["10", "100", "1000"]);
        assert!(
            grid("x = { from = 1, to = 3, steps = 5 }")
                .unwrap_err()
                .message
                .contains("repeat whole numbers")
        );
        assert!(grid("x = { from = 0, to = 3, steps = 3, scale = \"log\" }").is_err());
        assert!(
            grid("x = { from = 1, to = 3, step = 3 }")
                .unwrap_err()
                .path
                .ends_with(".step")
        );
    }

    #[test]
    fn labelled_values_carry_their_labels() {
        let a = grid(
            r#"client.backoff = { values = [{ kind = "none" }, { kind = "constant", delay = "1s" }], labels = ["none", "constant"] }"#,
        )
        .unwrap();
        assert_eq!(a[0].path, "client.backoff");
        assert_eq!(labels(&a[0]), ["none", "constant"]);
        assert!(a[0].values[1].value.is_table());
        assert!(grid(r#"x = { values = [1, 2], labels = ["one"] }"#).is_err());
    }

    #[test]
    fn repeated_values_and_labels_are_refused() {
        let err =
            grid(r#"x = { values = [{ a = 1, b = 2 }, { b = 2, a = 1 }], labels = ["ab", "ba"] }"#)
                .unwrap_err();
        assert!(
            err.message.contains("value ba is listed twice"),
            "{}",
            err.message
        );
        // Ten thousand distinct values are checked at once, not pairwise.
        assert!(grid("x = { from = 1, to = 10000, steps = 10000 }").is_ok());
        let err = grid("x = [1, 2, 1]").unwrap_err();
        assert!(
            err.message
                .contains("value 1 is listed twice (as values 1 and 3)"),
            "{}",
            err.message
        );
        let err = grid(r#"x = { values = [1, 2], labels = ["a", "a"] }"#).unwrap_err();
        assert!(
            err.message.contains("two values are labelled `a`"),
            "{}",
            err.message
        );
        let err = grid(r#"model = ["a/m.toml", "b/m.toml"]"#).unwrap_err();
        assert!(
            err.message.contains("two values are labelled `m`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn bad_axes_are_named() {
        assert_eq!(grid("x = 5").unwrap_err().path, "grid.x");
        assert_eq!(grid("x = []").unwrap_err().path, "grid.x");
        assert_eq!(grid("model = [1]").unwrap_err().path, "grid.model");
    }

    #[test]
    fn points_enumerate_the_product_with_the_first_axis_slowest() {
        let axes = grid("a = [1, 2]\nb = [\"x\", \"y\", \"z\"]").unwrap();
        let p = points(&axes).unwrap();
        assert_eq!(p, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
        assert_eq!(points(&[]).unwrap(), [Vec::<usize>::new()]);
    }

    #[test]
    fn a_grid_beyond_the_most_points_is_refused_before_any_point_is_made() {
        let at_most = grid(
            "a = { from = 1, to = 1000, steps = 1000 }\nb = { from = 1, to = 100, steps = 100 }",
        )
        .unwrap();
        assert_eq!(points(&at_most).unwrap().len(), MAX_POINTS);
        let over = grid(
            "a = { from = 1, to = 1000, steps = 1000 }\nb = { from = 1, to = 101, steps = 101 }",
        )
        .unwrap();
        let err = points(&over).unwrap_err();
        assert!(
            err.message
                .starts_with("spans 1000 x 101 points, more than 100000"),
            "{}",
            err.message
        );
    }
}
