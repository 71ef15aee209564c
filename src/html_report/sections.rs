//! What every page reads and shows: JSON files of the directory, its
//! figures inline, and the model in brief.

use crate::config::presets;
use std::path::Path;

use super::page::{Cell, Page, Row};
use crate::error::ReadError;
use crate::model::measure::catalogue::Scope;

pub(super) fn read(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(ReadError::io(path))
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReadError> {
    serde_json::from_str(&read(path)?)
        .map_err(|e| ReadError::bad(format!("{}: {e}", path.display())))
}

/// Every figure already drawn in `dir` (its `.svg` files), inline: those
/// named in `first` in that order, then the rest by name.
pub(super) fn figures(page: &mut Page, dir: &Path, first: &[String]) -> Result<usize, ReadError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(ReadError::io(dir))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".svg").map(str::to_owned)
        })
        .collect();
    names.sort_by_key(|n| {
        (
            first.iter().position(|f| f == n).unwrap_or(first.len()),
            n.clone(),
        )
    });
    for name in &names {
        let svg = read(&dir.join(format!("{name}.svg")))?;
        page.figure(name, &format!("{name}.svg"), &svg);
    }
    Ok(names.len())
}

/// The model in brief, from its TOML: one row for the run's span and seed,
/// then one for each table (capacity, client, prices, router) and each
/// entry of a list or map of tables (workload classes, agents, pools,
/// windows), its settings inline.
pub(super) fn model_brief(page: &mut Page, id: &str, model_toml: &str) {
    page.paragraph(
        "note",
        "The model in brief, as its file sets it (defaults left out):",
    );
    let Ok(mut table) = model_toml.parse::<toml::Table>() else {
        page.paragraph(
            "note",
            "(the model's TOML does not parse; it is shown whole below)",
        );
        return;
    };
    // Capacity presets spelled out: the limits and prices they set.
    presets::spelled_out(&mut table);
    if let Some(toml::Value::Array(pools)) = table.get_mut("pool") {
        for pool in pools.iter_mut().filter_map(toml::Value::as_table_mut) {
            presets::spelled_out(pool);
        }
    }
    let mut rows = Vec::new();
    let scalars: Vec<String> = table
        .iter()
        .filter(|(k, v)| !v.is_table() && !is_table_array(v) && k.as_str() != "name")
        .map(|(k, v)| format!("{k} {}", inline(v)))
        .collect();
    if !scalars.is_empty() {
        rows.push(("run".to_owned(), scalars.join(", ")));
    }
    for (key, value) in &table {
        match value {
            toml::Value::Table(t) if !t.is_empty() && t.values().all(toml::Value::is_table) => {
                rows.extend(
                    t.iter()
                        .map(|(name, v)| (format!("{key}.{name}"), inline(v))),
                );
            }
            toml::Value::Table(_) => rows.push((key.clone(), inline(value))),
            toml::Value::Array(items) if is_table_array(value) => {
                for (i, item) in items.iter().enumerate() {
                    let name = item
                        .get("name")
                        .and_then(toml::Value::as_str)
                        .map_or_else(|| format!("{key} {}", i + 1), |n| format!("{key} {n}"));
                    rows.push((name, inline(item)));
                }
            }
            _ => {}
        }
    }
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|(k, v)| Row {
            key: k.clone(),
            cells: vec![Cell::text(k), Cell::text(v)],
        })
        .collect();
    page.table(id, &[] as &[&str], &rows);
}

fn is_table_array(v: &toml::Value) -> bool {
    matches!(v, toml::Value::Array(items) if !items.is_empty() && items.iter().all(toml::Value::is_table))
}

/// A TOML value in short: strings bare, tables as `{key value, ...}`
/// (a table's `name` is its row's label, so left out).
pub(super) fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(t) => {
            let inner: Vec<String> = t
                .iter()
                .filter(|(k, _)| k.as_str() != "name")
                .map(|(k, v)| format!("{k} {}", inline(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        toml::Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// A table's header: the `first` columns, then each metric of `scope` in
/// the catalogue's short words.
pub(super) fn header(first: &[&str], scope: Scope, columns: &[&str]) -> Vec<String> {
    first
        .iter()
        .map(|f| (*f).to_owned())
        .chain(columns.iter().map(|c| scope.short_label(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_in_brief_has_a_row_for_each_part() {
        let toml = r#"
name = "m"
seed = 7
duration = "1h"
[[workload]]
name = "devs"
users = 4
think_time = { dist = "exponential", mean = "10s" }
[agents.coding]
steps = 3
[capacity]
kind = "reserved"
lanes = 2
"#;
        let mut page = Page::new();
        model_brief(&mut page, "model", toml);
        let html = page.finish("t", "s");
        for row in [
            "<td>run</td><td>seed 7, duration 1h</td>",
            "<td>workload devs</td><td>{users 4, think_time {dist exponential, mean 10s}}</td>",
            "<td>agents.coding</td><td>{steps 3}</td>",
            "<td>capacity</td><td>{kind reserved, lanes 2}</td>",
        ] {
            assert!(html.contains(row), "{row} not in {html}");
        }
    }
}
