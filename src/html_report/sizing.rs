//! The page of a sizing (`size --out DIR`): the answer from result.json
//! with its evidence, every probe or plan judged against each SLO, the
//! figures, and what was sized from manifest.json.

use std::path::Path;

use serde_json::Value;

use super::error::ReportError;
use super::page::{Cell, Judged, Page, Row};
use super::plain;
use super::sections;
use crate::error::BadInput;
use crate::plot::sizing_figure;
use crate::sizing::grid::{Axis, Point, Skipped};
use crate::sizing::{self, Answer, AnswerKind, Direction, Interval, Verdict, skipped_sentence};

/// One row's SLO cells: each metric with its interval and verdict.
fn verdict_cells(verdicts: &[Verdict]) -> impl Iterator<Item = Cell> + '_ {
    verdicts.iter().map(|v| {
        let judged = match (v.met, v.borderline) {
            (true, _) => Judged::Met,
            (false, true) => Judged::Borderline,
            (false, false) => Judged::Missed,
        };
        Cell::interval(&v.metric, (v.mean, v.ci95)).judged(judged)
    })
}

/// A row's word: it meets every SLO, passes its tier's spend cap, misses
/// one, or is borderline.
fn met(verdicts: &[Verdict], met: bool, over_spend_cap: bool) -> Cell {
    Cell::text(sizing::outcome(verdicts, met, over_spend_cap))
}

pub fn render(dir: &Path) -> Result<String, ReportError> {
    let manifest: Value = sections::read_json(&dir.join("manifest.json"))?;
    let result_path = dir.join(sizing::RESULT_FILE);
    if !result_path.is_file() {
        return Err(BadInput(format!(
            "{}: no {}: the sizing did not finish (rerun its command into the same directory to resume it)",
            dir.display(),
            sizing::RESULT_FILE
        ))
        .into());
    }
    let answer: Answer = sections::read_json(&result_path)?;
    let text = |key: &str| manifest_text(&manifest, key);
    let mut page = Page::new();

    recommendation(&mut page, &answer);
    evidence(&mut page, &answer);
    let plans_toml = text("plans_toml");
    if !plans_toml.is_empty() {
        plans(&mut page, &manifest, &plans_toml);
    }
    let slo_figures: Vec<String> = answer
        .slos
        .iter()
        .map(|s| sizing_figure::file_name(&s.metric))
        .collect();
    sections::figures(&mut page, dir, &slo_figures)?;

    what_was_sized(&mut page, &answer, &manifest);
    let model_toml = text("model_toml");
    if !model_toml.is_empty() {
        sections::model_brief(&mut page, "model", &model_toml);
        page.folded("The model (TOML)", &model_toml);
    }
    let model_name = model_toml
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("name")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| text("model"));
    Ok(page.finish(
        &format!("Sizing: {model_name}"),
        &format!("loopcap sizing report, from {}", dir.display()),
    ))
}

/// The manifest's value at `key` as text: a string as it is, anything else
/// as JSON, nothing as empty.
fn manifest_text(manifest: &Value, key: &str) -> String {
    manifest
        .get(key)
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_default()
}

/// What to buy, or why nothing does, and the SLOs it was judged against.
fn recommendation(page: &mut Page, answer: &Answer) {
    let found = match &answer.kind {
        AnswerKind::Search { answer, .. } => answer.is_some(),
        AnswerKind::Plans { answer, .. } => answer.is_some(),
        AnswerKind::Grid { answer, .. } => answer.is_some(),
    };
    page.verdict(&answer.sentence(), !found, &answer.notes());
    page.heading("Recommendation");
    if !answer.as_cheap.is_empty() {
        page.paragraph(
            "note",
            "As cheap within the 95% intervals of their cost a month (add replications to tell them apart):",
        );
        page.list(&answer.as_cheap);
    }
    if let AnswerKind::Search { warnings, .. } = &answer.kind {
        for w in warnings {
            page.paragraph("warning", &format!("warning: {w}"));
        }
    }
    page.paragraph(
        "note",
        &format!(
            "An SLO is met only when the whole 95% interval of its metric's mean over {} replications is on its good side. \"unlimited\" is the workload on limitless capacity: a bound it misses no capacity meets.",
            answer.replications
        ),
    );
    let rows: Vec<Row> = answer
        .slos
        .iter()
        .map(|slo| {
            let better = match sizing::better(&slo.metric) {
                Some(Direction::AtMost) => "lower is better",
                Some(Direction::AtLeast) => "higher is better",
                None => "neither way is better",
            };
            Row {
                key: slo.metric.clone(),
                cells: vec![
                    Cell::text(&slo.text),
                    Cell::text(&slo.metric),
                    Cell::text(better),
                ],
            }
        })
        .collect();
    page.table("slos", &["SLO", "metric", "direction"], &rows);
}

/// Every probe or plan beside the floor, each SLO's interval and the cost.
fn evidence(page: &mut Page, answer: &Answer) {
    page.heading("Evidence");
    page.paragraph(
        "note",
        "Cost first, then each SLO's metric with its interval and verdict; the floor is the workload on unlimited capacity.",
    );
    let table = Evidence {
        answer,
        slo_names: answer.slos.iter().map(|s| s.text.clone()).collect(),
    };
    match &answer.kind {
        AnswerKind::Search { axis, probes, .. } => {
            let mut probes: Vec<_> = probes.iter().collect();
            probes.sort_by_key(|p| p.value);
            let rows = [table.floor(1)].into_iter().chain(probes.iter().map(|p| {
                table.row(
                    format!("value:{}", p.value),
                    vec![Cell::text(p.value.to_string())],
                    costs(p.cost_per_hour_usd, p.cost_per_month_usd),
                    (&p.verdicts, p.met, p.over_spend_cap),
                    Vec::new(),
                )
            }));
            page.table(
                "probes",
                &table.header(vec![axis.as_str()], &[]),
                &rows.collect::<Vec<_>>(),
            );
        }
        AnswerKind::Plans { plans, .. } => {
            let rows = [table.floor(1)].into_iter().chain(plans.iter().map(|p| {
                table.row(
                    format!("plan:{}", p.name),
                    vec![Cell::text(&p.name)],
                    costs(p.cost_per_hour_usd, p.cost_per_month_usd),
                    (&p.verdicts, p.met, p.over_spend_cap),
                    vec![
                        Cell::interval("cost_per_loop_usd", p.cost_per_loop_usd),
                        Cell::interval("loops_per_dollar", p.loops_per_dollar),
                    ],
                )
            }));
            page.table(
                "plans",
                &table.header(vec!["plan"], &["$/loop", "loops/$"]),
                &rows.collect::<Vec<_>>(),
            );
        }
        AnswerKind::Grid {
            axes,
            points,
            skipped,
            ..
        } => table.settings(page, axes, points, skipped),
    }
}

/// The evidence table of an answer: a row for each alternative after the
/// floor's, its costs, verdict and each SLO's cell.
struct Evidence<'a> {
    answer: &'a Answer,
    slo_names: Vec<String>,
}

impl Evidence<'_> {
    /// A row: its leading cells (the plan, value or setting), its costs a
    /// month and an hour, its verdict and SLO cells, then `after`.
    fn row(
        &self,
        key: String,
        lead: Vec<Cell>,
        costs: [Cell; 2],
        (verdicts, met_all, over_spend_cap): (&[Verdict], bool, bool),
        after: Vec<Cell>,
    ) -> Row {
        Row {
            key,
            cells: lead
                .into_iter()
                .chain(costs)
                .chain([met(verdicts, met_all, over_spend_cap)])
                .chain(verdict_cells(verdicts))
                .chain(after)
                .collect(),
        }
    }

    /// The floor's row, with `leads` leading cells.
    fn floor(&self, leads: usize) -> Row {
        let lead = std::iter::once(Cell::text("unlimited"))
            .chain((1..leads).map(|_| Cell::text("")))
            .collect();
        let floor = &self.answer.floor;
        let met_all = floor.iter().all(|v| v.met);
        let no_cost = [Cell::text(""), Cell::text("")];
        self.row(
            "floor".to_owned(),
            lead,
            no_cost,
            (floor, met_all, false),
            Vec::new(),
        )
    }

    /// The header: the leading columns, costs, verdict, SLOs, then `after`.
    fn header(&self, lead: Vec<&str>, after: &[&str]) -> Vec<String> {
        lead.into_iter()
            .chain(["$/month", "$/hour", "verdict"])
            .map(str::to_owned)
            .chain(self.slo_names.iter().cloned())
            .chain(after.iter().map(|a| (*a).to_owned()))
            .collect()
    }

    /// The settings a grid ran, in the order they ran, and those it skipped.
    fn settings(&self, page: &mut Page, axes: &[Axis], points: &[Point], skipped: &[Skipped]) {
        let rows = [self.floor(axes.len())]
            .into_iter()
            .chain(points.iter().map(|p| {
                let setting: Vec<String> = p.setting.iter().map(i64::to_string).collect();
                self.row(
                    format!("setting:{}", setting.join(",")),
                    setting.iter().map(Cell::text).collect(),
                    costs(p.cost_per_hour_usd, p.cost_per_month_usd),
                    (&p.verdicts, p.met, p.over_spend_cap),
                    vec![Cell::metric(
                        "committed_per_month_usd",
                        Some(p.committed_per_month_usd),
                    )],
                )
            }));
        let lead = axes.iter().map(|a| a.path.as_str()).collect();
        page.paragraph(
            "note",
            "The settings run, in the order they ran: by what they commit to a month, least first.",
        );
        page.table(
            "settings",
            &self.header(lead, &["committed $/month"]),
            &rows.collect::<Vec<_>>(),
        );
        if !skipped.is_empty() {
            page.paragraph(
                "note",
                &skipped_sentence(
                    skipped.len(),
                    skipped.iter().map(|s| s.committed_per_month_usd),
                ),
            );
        }
    }
}

/// An alternative's costs a month and an hour, as cells.
fn costs(hour: Interval, month: Interval) -> [Cell; 2] {
    [
        Cell::interval("cost_per_month_usd", month),
        Cell::interval("cost_per_hour_usd", hour),
    ]
}

/// How the sizing was run: model file, search, replications, seed, command.
fn what_was_sized(page: &mut Page, answer: &Answer, manifest: &Value) {
    let text = |key: &str| manifest_text(manifest, key);
    page.heading("What was sized");
    let mut meta = vec![
        ("kind".to_owned(), "sizing".to_owned()),
        ("model file".to_owned(), text("model")),
        ("search".to_owned(), text("search")),
        ("replications".to_owned(), answer.replications.to_string()),
        (
            "seed".to_owned(),
            match manifest.get("seed") {
                Some(Value::Number(n)) => n.to_string(),
                _ => "the model's own".to_owned(),
            },
        ),
        ("loopcap".to_owned(), text("loopcap")),
        ("rerun".to_owned(), text("command")),
    ];
    let set = manifest.get("set").and_then(Value::as_array);
    if let Some(set) = set.filter(|s| !s.is_empty()) {
        let set: Vec<&str> = set.iter().filter_map(Value::as_str).collect();
        meta.insert(3, ("overrides".to_owned(), set.join(" ")));
    }
    page.pairs("meta", &meta);
}

/// The plans compared: what each replaces in the model (as the manifest
/// lists them, a template's one by one; from the file for a manifest
/// written before it did), and the file whole (its comments state the
/// plans' assumptions).
fn plans(page: &mut Page, manifest: &Value, plans_toml: &str) {
    let model = manifest
        .get("model_toml")
        .and_then(Value::as_str)
        .and_then(|m| m.parse::<toml::Table>().ok())
        .map(|m| plain::capacity_in_words(&m))
        .unwrap_or_default();
    let row = |name: &str, set: String| Row {
        key: format!("plan:{name}"),
        cells: vec![
            Cell::text(name),
            Cell::text(match set.as_str() {
                "" | "{}" => format!("the model as it is: {model}"),
                _ => plain::set_in_words(&set),
            }),
        ],
    };
    let rows: Vec<Row> = match manifest.get("plans").and_then(Value::as_array) {
        Some(listed) => listed
            .iter()
            .map(|plan| {
                let name = plan.get("name").and_then(Value::as_str).unwrap_or("");
                let set = plan.get("set").and_then(Value::as_str).unwrap_or("");
                row(name, set.to_owned())
            })
            .collect(),
        None => {
            let table: toml::Table = plans_toml.parse().unwrap_or_default();
            table
                .get("plan")
                .and_then(toml::Value::as_array)
                .into_iter()
                .flatten()
                .map(|plan| {
                    let name = plan.get("name").and_then(toml::Value::as_str).unwrap_or("");
                    row(
                        name,
                        plan.get("set").map(sections::inline).unwrap_or_default(),
                    )
                })
                .collect()
        }
    };
    page.paragraph(
        "note",
        "What each plan buys, in words (the plans file below says it in full):",
    );
    page.table("plan-sets", &["plan", "what it buys"], &rows);
    page.folded("The plans file (TOML)", plans_toml);
}
