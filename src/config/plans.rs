//! A plans file for `loopcap size --plans`: named alternatives, each a
//! table of model paths and the values that replace them, as a grid's
//! `plan` axis writes them.
//!
//! ```toml
//! [[plan]]
//! name = "16 reserved lanes"
//! set = { pool = [{ name = "lanes", capacity = { kind = "reserved", lanes = 16 } }] }
//! ```

use std::path::Path;

use serde::Deserialize;

use super::diagnostic::Diagnostic;
use super::overrides::Override;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlans {
    /// What the alternatives are for.
    name: Option<String>,
    plan: Vec<RawPlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: String,
    /// Model paths and the values that replace them; `{}` is the model as it is.
    set: toml::Table,
}

/// One alternative: its name and the overrides it applies, whole tables first.
#[derive(Clone, Debug)]
pub struct Plan {
    pub name: String,
    pub overrides: Vec<Override>,
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
        if plans.iter().any(|p| p.name == plan.name) {
            return Err(Diagnostic {
                origin: shown.clone(),
                line: Some(line),
                path: Some("plan.name".to_owned()),
                message: format!("`{}` names two plans: each needs its own name", plan.name),
            });
        }
        let mut overrides: Vec<Override> = plan
            .set
            .iter()
            .map(|(key, value)| {
                Override::new(
                    key,
                    value.clone(),
                    format!("{shown}:{line}: plan \"{}\": {key}", plan.name),
                )
            })
            .collect();
        // Whole tables first, so a field inside one changes the plan's table.
        overrides.sort_by_key(|o| o.path.split('.').count());
        plans.push(Plan {
            name: plan.name,
            overrides,
        });
    }
    Ok((raw.name, plans))
}
