//! The page of one run (`run --out DIR`): manifest.json, summary.json and
//! timeseries.csv.

use std::path::Path;

use serde_json::Value;

use super::error::ReportError;
use super::page::{Cell, Page, Row};
use super::sections::{self, header};
use crate::error::BadInput;
use crate::model::measure::catalogue::Scope;
use crate::plot::{self, timeseries_plot::TimeseriesPlot};
use crate::report::manifest::Manifest;

/// The columns of the outcomes table: loop counts and failures first,
/// latency of the completed loops beside them (the run's, a class's or a
/// window's; headed by the catalogue's words for the run).
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

/// The attempts, the capacity and the bill, where the summary has them.
const ATTEMPTS: [&str; 21] = [
    "calls",
    "attempts",
    "retries",
    "retry_rate",
    "amplification",
    "rate_limited",
    "overloaded",
    "timeouts",
    "unavailable",
    "rejected_locally",
    "peak_in_flight",
    "mean_in_flight",
    "lane_utilization",
    "queue_wait_s.p99",
    "waited_share",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_per_loop_usd",
    "loops_per_dollar",
];

const POOLS: [&str; 9] = [
    "attempts",
    "served",
    "rate_limited",
    "overloaded",
    "unavailable",
    "timed_out",
    "mean_in_flight",
    "busy_share",
    "cost_usd",
];

const MODELS: [&str; 10] = [
    "attempts",
    "rate_limited",
    "rate_limited_by.requests_per_min",
    "rate_limited_by.input_tokens_per_min",
    "rate_limited_by.output_tokens_per_min",
    "first_limit_s",
    "input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cost_usd",
];

/// Where a fault was: its window, not a metric of the run.
const FAULT_SPAN: [(&str, &str); 2] = [("start_s", "from s"), ("end_s", "to s")];

const FAULTS: [&str; 3] = [
    "goodput_before_per_min",
    "goodput_during_per_min",
    "goodput_after_per_min",
];

/// The value at a dotted path (`loop_latency_s.p99`) in a JSON object.
pub fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
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

    simulated(&mut page, &manifest, &summary);
    outcomes(&mut page, &summary);
    attempts(&mut page, &summary);
    pools(&mut page, &summary);
    models(&mut page, &summary);
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

/// What was simulated: the model, its seed and how it was run.
fn simulated(page: &mut Page, manifest: &Manifest, summary: &Value) {
    let num = |key: &str| summary.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    page.heading("What was simulated");
    let mut meta = vec![
        ("kind".to_owned(), "one run".to_owned()),
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

/// Loops of the run, of each class and of each window: failures beside latency.
fn outcomes(page: &mut Page, summary: &Value) {
    page.heading("Loops: failures beside latency");
    page.paragraph(
        "note",
        "Loops counted after the warm-up; a window's loops are those that started in it, followed to their end. Latency is of the loops that completed; the failed share says how many did not. One run has no confidence intervals: a sweep with replications, or `size`, gives them.",
    );
    let mut rows = vec![Row {
        key: "run".to_owned(),
        cells: [Cell::text("whole run")]
            .into_iter()
            .chain(metric_cells(summary, &OUTCOMES))
            .collect(),
    }];
    let classes = summary.get("classes").and_then(Value::as_object);
    if classes.is_some_and(|c| c.len() > 1) {
        for (name, class) in classes.into_iter().flatten() {
            rows.push(Row {
                key: format!("class:{name}"),
                cells: [Cell::text(format!("class {name}"))]
                    .into_iter()
                    .chain(metric_cells(class, &OUTCOMES))
                    .collect(),
            });
        }
    }
    for window in list(summary, "windows") {
        let name = window.get("name").and_then(Value::as_str).unwrap_or("");
        let kind = window.get("kind").and_then(Value::as_str).unwrap_or("");
        let span = |k: &str| window.get(k).and_then(Value::as_f64).unwrap_or(0.0) / 60.0;
        rows.push(Row {
            key: format!("window:{name}"),
            cells: [Cell::text(format!(
                "{kind} {name}, minute {} to {}",
                span("start_s"),
                span("end_s")
            ))]
            .into_iter()
            .chain(metric_cells(window, &OUTCOMES))
            .collect(),
        });
    }
    page.table("outcomes", &header(&[""], Scope::Run, &OUTCOMES), &rows);
}

/// The attempts, the capacity and the bill.
fn attempts(page: &mut Page, summary: &Value) {
    page.heading("Attempts, capacity and cost");
    let rows: Vec<Row> = ATTEMPTS
        .iter()
        .filter(|m| at(summary, m).is_some())
        .map(|&m| Row {
            key: "run".to_owned(),
            cells: vec![
                Cell::text(Scope::Run.short_label(m)),
                Cell::metric(m, at(summary, m).and_then(Value::as_f64)),
            ],
        })
        .collect();
    page.table("attempts", &["", "value"], &rows);
}

/// Each pool, when the model reports them.
fn pools(page: &mut Page, summary: &Value) {
    let pools = list(summary, "pools");
    if !pools.is_empty() {
        page.heading("Pools");
        let rows: Vec<Row> = pools
            .iter()
            .map(|pool| {
                let name = pool.get("name").and_then(Value::as_str).unwrap_or("");
                let kind = pool.get("kind").and_then(Value::as_str).unwrap_or("");
                Row {
                    key: format!("pool:{name}"),
                    cells: [Cell::text(name), Cell::text(kind)]
                        .into_iter()
                        .chain(metric_cells(pool, &POOLS))
                        .collect(),
                }
            })
            .collect();
        page.table(
            "pools",
            &header(&["pool", "kind"], Scope::Pool, &POOLS),
            &rows,
        );
    }
}

/// Each model, when the model declares several.
fn models(page: &mut Page, summary: &Value) {
    let models = list(summary, "by_model");
    if !models.is_empty() {
        page.heading("Models");
        page.paragraph(
            "note",
            "Each model's calls under its own limits and prices; a 429 is counted against the limit with the longest wait.",
        );
        let rows: Vec<Row> = models
            .iter()
            .map(|model| {
                let name = model.get("name").and_then(Value::as_str).unwrap_or("");
                let first = model
                    .get("first_limit")
                    .and_then(Value::as_str)
                    .unwrap_or("none");
                Row {
                    key: format!("model:{name}"),
                    cells: [Cell::text(name), Cell::text(first)]
                        .into_iter()
                        .chain(metric_cells(model, &MODELS))
                        .collect(),
                }
            })
            .collect();
        page.table(
            "models",
            &header(&["model", "first limit to refuse"], Scope::Model, &MODELS),
            &rows,
        );
    }
}

/// Each fault and whether goodput recovered.
fn faults(page: &mut Page, summary: &Value) {
    let faults = list(summary, "faults");
    if !faults.is_empty() {
        page.heading("Faults and recovery");
        let rows: Vec<Row> =
            faults
                .iter()
                .enumerate()
                .map(|(i, fault)| {
                    let kind = fault.get("kind").and_then(Value::as_str).unwrap_or("");
                    let recovery = match (
                        fault.get("recovered").and_then(Value::as_bool),
                        fault.get("recovery_s").and_then(Value::as_f64),
                    ) {
                        (Some(true), Some(s)) => format!("recovered {s} s after the fault"),
                        (Some(true), None) => "recovered".to_owned(),
                        _ => "not recovered by the end of the run".to_owned(),
                    };
                    Row {
                        key: format!("fault:{i}"),
                        cells: [Cell::text(kind)]
                            .into_iter()
                            .chain(FAULT_SPAN.iter().map(|(m, _)| {
                                Cell::metric(m, fault.get(*m).and_then(Value::as_f64))
                            }))
                            .chain(metric_cells(fault, &FAULTS))
                            .chain([Cell::text(recovery)])
                            .collect(),
                    }
                })
                .collect();
        let mut first = vec!["fault"];
        first.extend(FAULT_SPAN.map(|(_, label)| label));
        let mut columns = header(&first, Scope::Fault, &FAULTS);
        columns.push("recovery".to_owned());
        page.table("faults", &columns, &rows);
    }
}

/// The array at `key`, or none.
fn list<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
