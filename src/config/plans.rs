//! A plans file for `loopcap size --plans`: named alternatives, each a
//! table of model paths and the values that replace them, as a grid's
//! `plan` axis writes them.
//!
//! ```toml
//! [[plan]]
//! name = "16 reserved lanes"
//! set = { pool = [{ name = "lanes", capacity = { kind = "reserved", lanes = 16 } }] }
//! ```
//!
//! Pools several plans share are named once, under `[pools.NAME]`, and a
//! plan takes them by name (`pools = ["lanes", "tier4"]`: the model's
//! pools become these; one pool is routed to alone, several spill over in
//! the order given unless the plan sets a `router`). A plan with `over`
//! is a template: one plan per setting of its ranges (`over = {
//! "pool.lanes.capacity.lanes" = "16..64 step 8" }`, or a list of whole
//! numbers), its name's `{lanes}` (a path's last part, or the whole path)
//! replaced by each value.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::axis::{self, Axis};
use super::diagnostic::Diagnostic;
use super::overrides::Override;
use super::read::{Source, parse_toml};
use crate::error::BadInput;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlans {
    /// What the alternatives are for.
    name: Option<String>,
    /// Pools plans take by name: each a `[[pool]]` table without its name.
    #[serde(default)]
    pools: BTreeMap<String, toml::Table>,
    plan: Vec<RawPlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: String,
    /// Model paths and the values that replace them; `{}` is the model as it is.
    set: Option<toml::Table>,
    /// Named pools that become the model's pools, in order.
    pools: Option<Vec<String>>,
    /// Model paths and the whole numbers each takes: one plan per setting.
    #[serde(default)]
    over: toml::Table,
}

/// One alternative: its name and the overrides it applies, whole tables first.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub overrides: Vec<Override>,
}

/// Whether `source` is a plans file: `[[plan]]` tables and no model.
pub fn is_plans(source: &Source) -> bool {
    parse_toml(source).is_ok_and(|t| t.contains_key("plan") && !t.contains_key("workload"))
}

/// The plans of the file at `path`.
pub fn read_plans(path: &Path) -> Result<(Option<String>, Vec<Plan>), Diagnostic> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::general(&shown, format!("cannot read: {e}")))?;
    let raw: RawPlans = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1));
        Diagnostic {
            origin: shown.clone(),
            line,
            path: None,
            message: format!(
                "{} (a plans file is [[plan]] tables, each with a `name` and a `set` table of model paths)",
                e.message()
            ),
        }
    })?;
    if raw.plan.is_empty() {
        return Err(Diagnostic::general(&shown, "no [[plan]] tables"));
    }
    // The line of the `nth` plan so named (counting from 0).
    let line_of = |name: &str, nth: usize| {
        text.lines()
            .enumerate()
            .filter(|(_, l)| l.contains(&format!("\"{name}\"")))
            .nth(nth)
            .map_or(0, |(i, _)| i + 1)
    };
    let mut plans: Vec<Plan> = Vec::new();
    for plan in raw.plan {
        let same = plans.iter().filter(|p| p.name == plan.name).count();
        let line = line_of(&plan.name, same);
        let at = |path: &str, message: String| Diagnostic {
            origin: shown.clone(),
            line: Some(line),
            path: Some(path.to_owned()),
            message,
        };
        if plan.set.is_none() && plan.pools.is_none() && plan.over.is_empty() {
            return Err(at(
                "plan",
                "says nothing: give `set` (`set = {}` is the model as it is), `pools` or `over`"
                    .to_owned(),
            ));
        }
        let mut set = plan.set.clone().unwrap_or_default();
        if let Some(names) = &plan.pools {
            set.extend(named_pools(names, &raw.pools, &set).map_err(|m| at("plan.pools", m.0))?);
        }
        let axes = plan
            .over
            .iter()
            .map(|(path, values)| {
                template_axis(path, values).map_err(|m| at(&format!("plan.over.{path}"), m.0))
            })
            .collect::<Result<Vec<Axis>, _>>()?;
        for setting in axis::settings(&axes) {
            let name = named(&plan.name, &axes, &setting).map_err(|m| at("plan.name", m.0))?;
            if plans.iter().any(|p| p.name == name) {
                return Err(at(
                    "plan.name",
                    format!("`{name}` names two plans: each needs its own name"),
                ));
            }
            let origin = |key: &str| format!("{shown}:{line}: plan \"{name}\": {key}");
            let mut overrides: Vec<Override> = set
                .iter()
                .map(|(key, value)| Override::new(key, value.clone(), origin(key)))
                .chain(axes.iter().zip(&setting).map(|(axis, &v)| {
                    Override::new(&axis.path, toml::Value::Integer(v), origin(&axis.path))
                }))
                .collect();
            // Whole tables first, so a field inside one changes the plan's table.
            overrides.sort_by_key(|o| o.path.split('.').count());
            plans.push(Plan { name, overrides });
        }
    }
    Ok((raw.name, plans))
}

/// The `pool` list (and, unless `set` has one, the `router`) that the
/// named pools `names` make.
fn named_pools(
    names: &[String],
    pools: &BTreeMap<String, toml::Table>,
    set: &toml::Table,
) -> Result<toml::Table, BadInput> {
    let mut list = Vec::new();
    for name in names {
        let Some(pool) = pools.get(name) else {
            let known: Vec<&str> = pools.keys().map(String::as_str).collect();
            return Err(BadInput(format!(
                "no pool named `{name}` under [pools] (it has: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        };
        let mut pool = pool.clone();
        pool.insert("name".to_owned(), toml::Value::String(name.clone()));
        list.push(toml::Value::Table(pool));
    }
    let mut out = toml::Table::new();
    out.insert("pool".to_owned(), toml::Value::Array(list));
    if !set.contains_key("router") {
        let router = match names {
            [] => return Err(BadInput::new("names no pool: give at least one")),
            [one] => toml::toml! { kind = "single" }
                .into_iter()
                .chain([("pool".to_owned(), toml::Value::String(one.clone()))])
                .collect(),
            several => toml::toml! { kind = "spillover" }
                .into_iter()
                .chain([(
                    "order".to_owned(),
                    toml::Value::Array(several.iter().cloned().map(toml::Value::String).collect()),
                )])
                .collect(),
        };
        out.insert("router".to_owned(), toml::Value::Table(router));
    }
    Ok(out)
}

/// A template's axis: `values` a range as `--over` takes it, or a list of
/// whole numbers.
fn template_axis(path: &str, values: &toml::Value) -> Result<Axis, BadInput> {
    match values {
        toml::Value::String(range) => axis::parse_axis("over", &format!("{path}={range}")),
        toml::Value::Array(list) => {
            let values = list
                .iter()
                .map(|v| {
                    v.as_integer()
                        .ok_or_else(|| BadInput(format!("`{v}` is not a whole number")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Axis {
                path: path.to_owned(),
                values,
            })
        }
        other => Err(BadInput(format!(
            "`{other}`: expected a range (\"16..64 step 8\") or a list of whole numbers"
        ))),
    }
}

/// A template's `name` at `setting`: each `{part}` (an axis path's last
/// part, or its whole path) replaced by its value; without any, the
/// values follow the name.
fn named(name: &str, axes: &[Axis], setting: &[i64]) -> Result<String, BadInput> {
    if axes.is_empty() {
        return Ok(name.to_owned());
    }
    let mut out = name.to_owned();
    let mut replaced = false;
    for (axis, v) in axes.iter().zip(setting) {
        let last = axis.path.rsplit('.').next().unwrap_or(&axis.path);
        for key in [format!("{{{}}}", axis.path), format!("{{{last}}}")] {
            if out.contains(&key) {
                out = out.replace(&key, &v.to_string());
                replaced = true;
            }
        }
    }
    if let Some(open) = out.find('{').filter(|&i| out[i..].contains('}')) {
        let close = open + out[open..].find('}').unwrap_or(0);
        return Err(BadInput(format!(
            "`{}` names no axis of the plan's `over`",
            &out[open..=close]
        )));
    }
    if !replaced {
        let values: Vec<String> = axes
            .iter()
            .zip(setting)
            .map(|(a, v)| format!("{} = {v}", a.path.rsplit('.').next().unwrap_or(&a.path)))
            .collect();
        out = format!("{out} ({})", values.join(", "));
    }
    Ok(out)
}
