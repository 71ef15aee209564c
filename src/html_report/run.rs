//! The page of one run (`run --out DIR`): manifest.json, summary.json and
//! timeseries.csv.

use std::path::Path;

use serde_json::Value;

use super::error::ReportError;
use super::page::{Cell, Page, Row};
use super::sections::{self, header};
use crate::engine::SimDuration;
use crate::error::BadInput;
use crate::json::at;
use crate::model::measure::catalogue::{Form, Scope, Unit};
use crate::model::measure::summary::Summary;
use crate::model::workload::classes::week_time;
use crate::plot::{self, timeseries_plot::TimeseriesPlot};
use crate::report::manifest::Manifest;
use crate::report::verdict;

/// The columns of the outcomes table: loop counts and failures first,
/// latency of the completed loops beside them (the run's, a class's, a
/// window's or a warm or cold group's; headed by the catalogue's words for the run).
pub const OUTCOMES: [&str; 10] = [
    "loops_started",
    "loops_completed",
    "loops_failed",
    "loops_failed_share",
    "loops_per_min",
    "loop_latency_s.p50",
    "loop_latency_s.p95",
    "loop_latency_s.p99",
    "loop_latency_s.max",
    "loop_latency_s.mean",
];

/// How the run's loops ended, beyond completed and failed: still running,
/// and each reason a loop failed for.
const LOOP_ENDS: [&str; 5] = [
    "loops_in_flight",
    "loops_failed_exhausted",
    "loops_failed_deadline",
    "loops_failed_too_large",
    "loops_failed_denied",
];

/// Percentiles the attempts table shows beside the run's other figures.
const RUN_PERCENTILES: [&str; 3] = [
    "queue_wait_s.p99",
    "step_latency_s.p99",
    "steps_per_loop.mean",
];

/// A pool's refusals and failures, in a table of their own.
const POOL_FAILURES: [&str; 9] = [
    "rate_limited",
    "overloaded",
    "queue_rejected",
    "too_large",
    "unavailable",
    "server_errors",
    "timed_out",
    "expired",
    "cool_downs",
];

/// A self-hosted pool's replicas, in a table of their own.
const REPLICAS: [&str; 16] = [
    "mean_replicas",
    "replica_hours",
    "cold_starts",
    "mean_batch",
    "p95_batch",
    "output_tokens_per_s",
    "time_to_first_token_s.p50",
    "time_to_first_token_s.p90",
    "time_to_first_token_s.p99",
    "time_to_first_token_s.max",
    "time_per_output_token_s.p50",
    "time_per_output_token_s.p90",
    "time_per_output_token_s.p99",
    "preemptions",
    "prefix_cache_hit_share",
    "kv_cache_utilization",
];

/// Where a fault was: its window, not a metric of the run.
const FAULT_SPAN: [(&str, &str); 2] = [("start_s", "from s"), ("end_s", "to s")];

/// What the recovery column says in words.
const RECOVERY: [&str; 2] = ["recovered", "recovery_s"];

/// The catalogue's single-valued metrics of `scope` that none of `elsewhere` shows.
fn values_of(scope: Scope, elsewhere: &[&[&str]]) -> Vec<&'static str> {
    scope
        .metrics()
        .iter()
        .filter(|m| m.form == Form::Value)
        .map(|m| m.name)
        .filter(|name| !elsewhere.iter().any(|list| list.contains(name)))
        .collect()
}

/// The single values of `scope` its own table shows (beside the outcomes
/// table's, the failures' and the replicas' tables): the run's attempts,
/// capacity and bill with a few percentiles, a class's load, a window's
/// attempts and bill, a pool's work and bill, a model's figures, a
/// fault's goodput. Rendering and the test that holds the page to the
/// catalogue both read it.
fn own_columns(scope: Scope) -> Vec<&'static str> {
    match scope {
        Scope::Run => {
            let mut columns = values_of(Scope::Run, &[&OUTCOMES, &LOOP_ENDS]);
            columns.extend(RUN_PERCENTILES);
            columns
        }
        Scope::Class | Scope::Window => values_of(scope, &[&OUTCOMES]),
        Scope::Pool => values_of(scope, &[&POOL_FAILURES, &REPLICAS]),
        Scope::Fault => values_of(scope, &[&RECOVERY]),
        Scope::Model | Scope::Limits => values_of(scope, &[]),
        Scope::WarmLoops | Scope::ColdLoops => Vec::new(),
    }
}

/// Every column the page shows of each scope.
#[cfg(test)]
fn columns(scope: Scope) -> Vec<&'static str> {
    let shared: Vec<&str> = match scope {
        Scope::Run => [&OUTCOMES[..], &LOOP_ENDS].concat(),
        Scope::Class | Scope::Window => OUTCOMES.to_vec(),
        // A group of loops has no count of its own of those started.
        Scope::WarmLoops | Scope::ColdLoops => OUTCOMES
            .into_iter()
            .filter(|c| scope.find(c).is_some())
            .collect(),
        Scope::Pool => [&POOL_FAILURES[..], &REPLICAS].concat(),
        Scope::Fault => RECOVERY.to_vec(),
        Scope::Model | Scope::Limits => Vec::new(),
    };
    [shared, own_columns(scope)].concat()
}

fn metric_cells(object: &Value, columns: &[&str]) -> Vec<Cell> {
    columns
        .iter()
        .map(|m| Cell::metric(m, at(object, m).and_then(Value::as_f64)))
        .collect()
}

pub fn render(dir: &Path) -> Result<String, ReportError> {
    let (manifest, _) =
        Manifest::read(&dir.join("manifest.json")).map_err(|d| BadInput(d.to_string()))?;
    let summary: Value = sections::read_json(&dir.join("summary.json"))?;
    let mut page = Page::new();
    let run: Summary = serde_json::from_value(summary.clone()).map_err(|e| {
        BadInput(format!(
            "{}: not a run's summary: {e}",
            dir.join("summary.json").display()
        ))
    })?;
    let verdict = verdict::of_run(&run);
    page.verdict(&verdict.headline, run.loops_failed > 0, &verdict.notes);

    simulated(&mut page, &manifest, &summary, "one run");
    outcomes(&mut page, &summary);
    attempts(&mut page, &summary);
    pools(&mut page, &summary);
    models(&mut page, &summary);
    limits(&mut page, &summary);
    faults(&mut page, &summary);
    page.heading("Over time");
    let drawn = sections::figures(&mut page, dir, &[])?;
    let timeseries = dir.join("timeseries.csv");
    if !dir.join("timeseries.svg").is_file() && timeseries.is_file() {
        let figure = TimeseriesPlot::read(&timeseries)?;
        page.figure(
            "timeseries",
            "timeseries.csv: levels, refusals and retries, and loop outcomes against simulated time",
            &plot::svg(&figure)?,
        );
    } else if drawn == 0 {
        page.paragraph("note", "(no timeseries.csv in this directory)");
    }
    page.folded("The model as run (TOML)", &manifest.model_toml);
    let name = summary.get("model").and_then(Value::as_str).unwrap_or("");
    Ok(page.finish(name, &format!("loopcap run report, from {}", dir.display())))
}

/// What was simulated: the model, its seed and how it was run (`kind`:
/// one run, or its replications).
pub(super) fn simulated(page: &mut Page, manifest: &Manifest, summary: &Value, kind: &str) {
    let num = |key: &str| summary.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    page.heading("What was simulated");
    let mut meta = vec![
        ("kind".to_owned(), kind.to_owned()),
        ("model file".to_owned(), manifest.model_file.clone()),
        ("seed".to_owned(), manifest.seed.to_string()),
        (
            "simulated".to_owned(),
            format!(
                "{} s, measured after {} s of warm-up",
                num("duration_s"),
                num("warmup_s")
            ),
        ),
        ("loopcap".to_owned(), manifest.loopcap_version.clone()),
        ("rerun".to_owned(), manifest.rerun.clone()),
    ];
    if !manifest.overrides.is_empty() {
        meta.insert(3, ("overrides".to_owned(), manifest.overrides.join(" ")));
    }
    page.pairs("meta", &meta);
    sections::model_brief(page, "model", &manifest.model_toml);
}

/// Loops of the run, of each class, window and warm or cold group:
/// failures beside latency.
fn outcomes(page: &mut Page, summary: &Value) {
    page.heading("Loops: failures beside latency");
    page.paragraph(
        "note",
        "Loops counted after the warm-up; a window's loops are those that started in it, followed to their end. Latency is of the loops that completed; the failed share says how many did not. One run has no confidence intervals: a sweep with replications, or `size`, gives them.",
    );
    let row = |key: String, label: String, object: &Value| Row {
        key,
        cells: [Cell::text(label)]
            .into_iter()
            .chain(metric_cells(object, &OUTCOMES))
            .collect(),
    };
    let mut rows = vec![row("run".to_owned(), "whole run".to_owned(), summary)];
    for (name, class) in classes(summary) {
        rows.push(row(format!("class:{name}"), format!("class {name}"), class));
    }
    // A window's ends as clock times where the model has a clock.
    let clock = summary.get("start_in_week_s").and_then(Value::as_f64);
    let when = |s: f64| match clock {
        Some(start) => week_time(SimDuration::from_secs_f64(start + s)),
        None => format!("minute {}", s / 60.0),
    };
    for window in list(summary, "windows") {
        let name = window.get("name").and_then(Value::as_str).unwrap_or("");
        let kind = window.get("kind").and_then(Value::as_str).unwrap_or("");
        let span = |k: &str| window.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let label = format!(
            "{kind} {name}, {} to {}",
            when(span("start_s")),
            when(span("end_s"))
        );
        rows.push(row(format!("window:{name}"), label, window));
    }
    for group in ["warm_loops", "cold_loops"] {
        if let Some(object) = summary.get(group).filter(|g| g.is_object()) {
            rows.push(row(
                format!("group:{group}"),
                group.replace('_', " "),
                object,
            ));
        }
    }
    page.table("outcomes", &header(&[""], Scope::Run, &OUTCOMES), &rows);
    let ends = Row {
        key: "run".to_owned(),
        cells: [Cell::text("whole run")]
            .into_iter()
            .chain(metric_cells(summary, &LOOP_ENDS))
            .collect(),
    };
    page.table(
        "ends",
        &header(&["loops not completed"], Scope::Run, &LOOP_ENDS),
        &[ends],
    );
    load(page, summary);
    window_attempts(page, summary);
}

/// The classes, when there are several, in name order.
fn classes(summary: &Value) -> Vec<(&String, &Value)> {
    match summary.get("classes").and_then(Value::as_object) {
        Some(classes) if classes.len() > 1 => classes.iter().collect(),
        _ => Vec::new(),
    }
}

/// The load each class offered.
fn load(page: &mut Page, summary: &Value) {
    let classes = classes(summary)
        .into_iter()
        .map(|(name, class)| (name.as_str(), class))
        .collect();
    own_table(page, Scope::Class, ("classes", "class"), classes);
}

/// Each window's attempts, refusals and bill.
fn window_attempts(page: &mut Page, summary: &Value) {
    let windows = list(summary, "windows")
        .iter()
        .map(|w| (w.get("name").and_then(Value::as_str).unwrap_or(""), w))
        .collect();
    own_table(page, Scope::Window, ("windows", "window"), windows);
}

/// Table `id` of `parts` of `scope` (each a `kind` named as given), with
/// the scope's own columns; none when there are no parts.
fn own_table(page: &mut Page, scope: Scope, (id, kind): (&str, &str), parts: Vec<(&str, &Value)>) {
    if parts.is_empty() {
        return;
    }
    let columns = own_columns(scope);
    let rows: Vec<Row> = parts
        .into_iter()
        .map(|(name, object)| Row {
            key: format!("{kind}:{name}"),
            cells: [Cell::text(name)]
                .into_iter()
                .chain(metric_cells(object, &columns))
                .collect(),
        })
        .collect();
    page.table(id, &header(&[kind], scope, &columns), &rows);
}

/// The attempts, the capacity and the bill: counts of what did not happen
/// and figures that do not apply are left out, except the usual refusals,
/// whose zero is news.
fn attempts(page: &mut Page, summary: &Value) {
    page.heading("Attempts, capacity and cost");
    let rows: Vec<Row> = own_columns(Scope::Run)
        .into_iter()
        .filter_map(|m| Some((m, at(summary, m).filter(|v| !v.is_null())?)))
        .filter(|&(m, value)| {
            let count = Scope::Run
                .find(m)
                .is_some_and(|(c, _)| c.unit == Unit::Count);
            let usual = ["retries", "rate_limited", "overloaded", "timeouts"].contains(&m);
            !(count && !usual && value.as_f64() == Some(0.0))
        })
        .map(|(m, value)| Row {
            key: "run".to_owned(),
            cells: vec![
                Cell::text(Scope::Run.short_label(m)),
                match value.as_bool() {
                    Some(flag) => Cell::text(if flag { "yes" } else { "no" }),
                    None => Cell::metric(m, value.as_f64()),
                },
            ],
        })
        .collect();
    page.table("attempts", &["", "value"], &rows);
    if let Some(basis) = summary.get("month_basis").and_then(Value::as_str) {
        page.paragraph("note", &format!("The month's bill counts {basis}."));
    }
}

/// Each pool, when the model reports them: its work and bill, its
/// refusals and failures, and a self-hosted pool's replicas.
fn pools(page: &mut Page, summary: &Value) {
    let pools = list(summary, "pools");
    if pools.is_empty() {
        return;
    }
    page.heading("Pools");
    let main = own_columns(Scope::Pool);
    let table = |page: &mut Page, id: &str, columns: &[&str], hosted_only: bool| {
        let rows: Vec<Row> = pools
            .iter()
            .filter(|pool| !hosted_only || pool.get("self_hosted").is_some_and(Value::is_object))
            .map(|pool| {
                let name = pool.get("name").and_then(Value::as_str).unwrap_or("");
                let kind = pool.get("kind").and_then(Value::as_str).unwrap_or("");
                let figures = pool
                    .get("self_hosted")
                    .filter(|_| hosted_only)
                    .unwrap_or(pool);
                Row {
                    key: format!("{}:{name}", if hosted_only { "replicas" } else { "pool" }),
                    cells: [Cell::text(name), Cell::text(kind)]
                        .into_iter()
                        .chain(metric_cells(figures, columns))
                        .collect(),
                }
            })
            .collect();
        if !rows.is_empty() {
            page.table(id, &header(&["pool", "kind"], Scope::Pool, columns), &rows);
        }
    };
    table(page, "pools", &main, false);
    let billing: Vec<String> = pools
        .iter()
        .filter_map(|pool| {
            let name = pool.get("name").and_then(Value::as_str)?;
            let rule = pool.get("billing").and_then(Value::as_str)?;
            Some(format!("{name} is billed {rule}."))
        })
        .collect();
    page.list(&billing);
    table(page, "pool-failures", &POOL_FAILURES, false);
    table(page, "replicas", &REPLICAS, true);
}

/// Each model, when the model declares several.
fn models(page: &mut Page, summary: &Value) {
    let note = "Each model's calls under its own limits and prices; a 429 is counted against the limit with the longest wait.";
    let models = list(summary, "by_model");
    tallied(
        page,
        models,
        ("Models", note),
        ("models", "model", Scope::Model),
    );
}

/// Each group of limits over several pools, and what it refused.
fn limits(page: &mut Page, summary: &Value) {
    let groups = list(summary, "limits");
    let note = "Limits over several pools (the organization's, a named group's, a provider's limit that pools' presets name): a call they refuse never reaches its pool, and its 429 is counted here, not against the pool's own limits.";
    tallied(
        page,
        groups,
        ("Shared limits", note),
        ("limits", "limits", Scope::Limits),
    );
    let held: Vec<String> = groups
        .iter()
        .filter_map(|group| {
            let name = group.get("name").and_then(Value::as_str)?;
            let pools: Vec<&str> = list(group, "pools")
                .iter()
                .filter_map(|p| p.as_str())
                .collect();
            Some(format!("{name} holds {} together.", pools.join(", ")))
        })
        .collect();
    page.list(&held);
}

/// A table `id` of `rows` (each named, its first column headed `row`,
/// with `scope`'s figures and the limit that refused first) under
/// `heading` and its `note`, when there are any.
fn tallied(
    page: &mut Page,
    rows: &[Value],
    (heading, note): (&str, &str),
    (id, row, scope): (&str, &str, Scope),
) {
    if rows.is_empty() {
        return;
    }
    page.heading(heading);
    page.paragraph("note", note);
    let columns = own_columns(scope);
    let rows: Vec<Row> = rows
        .iter()
        .map(|figures| {
            let name = figures.get("name").and_then(Value::as_str).unwrap_or("");
            let first = figures
                .get("first_limit")
                .and_then(Value::as_str)
                .unwrap_or("none");
            Row {
                key: format!("{row}:{name}"),
                cells: [Cell::text(name), Cell::text(first)]
                    .into_iter()
                    .chain(metric_cells(figures, &columns))
                    .collect(),
            }
        })
        .collect();
    page.table(
        id,
        &header(&[row, "first limit to refuse"], scope, &columns),
        &rows,
    );
}

/// Each fault and whether goodput recovered.
fn faults(page: &mut Page, summary: &Value) {
    let faults = list(summary, "faults");
    if faults.is_empty() {
        return;
    }
    page.heading("Faults and recovery");
    let goodput = own_columns(Scope::Fault);
    let rows: Vec<Row> = faults
        .iter()
        .enumerate()
        .map(|(i, fault)| {
            let kind = fault.get("kind").and_then(Value::as_str).unwrap_or("");
            let [recovered, recovery_s] = RECOVERY.map(|m| fault.get(m));
            let recovery = match (
                recovered.and_then(Value::as_bool),
                recovery_s.and_then(Value::as_f64),
            ) {
                (Some(true), Some(s)) => format!("recovered {s} s after the fault"),
                (Some(true), None) => "recovered".to_owned(),
                _ => "not recovered by the end of the run".to_owned(),
            };
            Row {
                key: format!("fault:{i}"),
                cells: [Cell::text(kind)]
                    .into_iter()
                    .chain(
                        FAULT_SPAN
                            .iter()
                            .map(|(m, _)| Cell::metric(m, fault.get(*m).and_then(Value::as_f64))),
                    )
                    .chain(metric_cells(fault, &goodput))
                    .chain([Cell::text(recovery)])
                    .collect(),
            }
        })
        .collect();
    let mut first = vec!["fault"];
    first.extend(FAULT_SPAN.map(|(_, label)| label));
    let mut columns = header(&first, Scope::Fault, &goodput);
    columns.push("recovery".to_owned());
    page.table("faults", &columns, &rows);
}

/// The array at `key`, or none.
fn list<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests;
