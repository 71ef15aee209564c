//! The page of one run (`run --out DIR`): manifest.json, summary.json and
//! timeseries.csv.

use std::path::Path;

use serde_json::Value;

use super::error::ReportError;
use super::page::{Cell, Page, Row};
use super::sections;
use crate::error::BadInput;
use crate::plot::{self, timeseries_plot::TimeseriesPlot};
use crate::report::manifest::Manifest;

/// The columns of the outcomes table: loop counts and failures first,
/// latency of the completed loops beside them.
pub const OUTCOMES: [(&str, &str); 10] = [
    ("loops_started", "started"),
    ("loops_completed", "completed"),
    ("loops_failed", "failed"),
    ("loops_failed_share", "failed share"),
    ("loops_per_min", "loops/min"),
    ("loop_latency_s.p50", "p50 s"),
    ("loop_latency_s.p95", "p95 s"),
    ("loop_latency_s.p99", "p99 s"),
    ("loop_latency_s.max", "max s"),
    ("loop_latency_s.mean", "mean s"),
];

/// The attempts, the capacity and the bill, where the summary has them.
const ATTEMPTS: [(&str, &str); 21] = [
    ("calls", "LLM calls"),
    ("attempts", "attempts (calls and their retries)"),
    ("retries", "retries"),
    ("retry_rate", "retry rate (retries / attempts)"),
    ("amplification", "attempts per completed loop"),
    ("rate_limited", "rate limited (429)"),
    ("overloaded", "overloaded (529)"),
    ("timeouts", "timed out"),
    ("unavailable", "refused by an outage"),
    ("rejected_locally", "rejected by the client"),
    ("peak_in_flight", "peak attempts in service"),
    ("mean_in_flight", "mean attempts in service"),
    ("lane_utilization", "lane utilization"),
    ("queue_wait_s.p99", "queue wait p99 (s)"),
    ("waited_share", "share of attempts that waited"),
    ("input_tokens", "input tokens billed"),
    ("cached_input_tokens", "of them from cache"),
    ("output_tokens", "output tokens"),
    ("cost_usd", "cost (USD)"),
    ("cost_per_loop_usd", "cost per completed loop (USD)"),
    ("loops_per_dollar", "loops per dollar"),
];

const POOLS: [(&str, &str); 9] = [
    ("attempts", "attempts"),
    ("served", "served"),
    ("rate_limited", "429s"),
    ("overloaded", "529s"),
    ("unavailable", "unavailable"),
    ("timed_out", "timed out"),
    ("mean_in_flight", "mean in service"),
    ("busy_share", "busy share"),
    ("cost_usd", "cost (USD)"),
];

const MODELS: [(&str, &str); 10] = [
    ("attempts", "attempts"),
    ("rate_limited", "429s"),
    ("rate_limited_by.requests_per_min", "by requests/min"),
    (
        "rate_limited_by.input_tokens_per_min",
        "by input tokens/min",
    ),
    (
        "rate_limited_by.output_tokens_per_min",
        "by output tokens/min",
    ),
    ("first_limit_s", "first 429 at s"),
    ("input_tokens", "input tokens"),
    ("cache_write_tokens", "written to cache"),
    ("output_tokens", "output tokens"),
    ("cost_usd", "cost (USD)"),
];

const FAULTS: [(&str, &str); 5] = [
    ("start_s", "from s"),
    ("end_s", "to s"),
    ("goodput_before_per_min", "loops/min before"),
    ("goodput_during_per_min", "during"),
    ("goodput_after_per_min", "after"),
];

/// The value at a dotted path (`loop_latency_s.p99`) in a JSON object.
pub fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
}

fn metric_cells(object: &Value, columns: &[(&str, &str)]) -> Vec<Cell> {
    columns
        .iter()
        .map(|(m, _)| Cell::metric(m, at(object, m).and_then(Value::as_f64)))
        .collect()
}

fn header<'a>(first: &'a [&'a str], columns: &'a [(&'a str, &'a str)]) -> Vec<&'a str> {
    first
        .iter()
        .copied()
        .chain(columns.iter().map(|c| c.1))
        .collect()
}

pub fn render(dir: &Path) -> Result<String, ReportError> {
    let (manifest, _) =
        Manifest::read(&dir.join("manifest.json")).map_err(|d| BadInput(d.to_string()))?;
    let summary: Value = sections::read_json(&dir.join("summary.json"))?;
    let num = |key: &str| summary.get(key).and_then(Value::as_f64).unwrap_or(0.0);
    let mut page = Page::new();

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
    sections::model_brief(&mut page, "model", &manifest.model_toml);

    page.heading("Loops: failures beside latency");
    page.paragraph(
        "note",
        "Loops counted after the warm-up; a window's loops are those that started in it, followed to their end. Latency is of the loops that completed; the failed share says how many did not. One run has no confidence intervals: a sweep with replications, or `size`, gives them.",
    );
    let mut rows = vec![Row {
        key: "run".to_owned(),
        cells: [Cell::text("whole run")]
            .into_iter()
            .chain(metric_cells(&summary, &OUTCOMES))
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
    for window in list(&summary, "windows") {
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
    page.table("outcomes", &header(&[""], &OUTCOMES), &rows);

    page.heading("Attempts, capacity and cost");
    let rows: Vec<Row> = ATTEMPTS
        .iter()
        .filter(|(m, _)| at(&summary, m).is_some())
        .map(|&(m, label)| Row {
            key: "run".to_owned(),
            cells: vec![
                Cell::text(label),
                Cell::metric(m, at(&summary, m).and_then(Value::as_f64)),
            ],
        })
        .collect();
    page.table("attempts", &["", "value"], &rows);

    let pools = list(&summary, "pools");
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
        page.table("pools", &header(&["pool", "kind"], &POOLS), &rows);
    }

    let models = list(&summary, "by_model");
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
            &header(&["model", "first limit to refuse"], &MODELS),
            &rows,
        );
    }

    let faults = list(&summary, "faults");
    if !faults.is_empty() {
        page.heading("Faults and recovery");
        let rows: Vec<Row> = faults
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
                        .chain(metric_cells(fault, &FAULTS))
                        .chain([Cell::text(recovery)])
                        .collect(),
                }
            })
            .collect();
        let mut columns = header(&["fault"], &FAULTS);
        columns.push("recovery");
        page.table("faults", &columns, &rows);
    }

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

/// The array at `key`, or none.
fn list<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
