//! The page of replications of one run (`run --replications N --out DIR`):
//! manifest.json and summaries.json (each replication's summary), from
//! which each metric's mean and 95% interval are taken again, as
//! replications.json keeps them.

use std::path::Path;

use super::error::ReportError;
use super::page::{Cell, Page, Row};
use super::{run, sections};
use crate::error::BadInput;
use crate::model::measure::summary::Summary;
use crate::report::manifest::Manifest;
use crate::report::replicated::{self, Group};

pub fn render(dir: &Path) -> Result<String, ReportError> {
    let (manifest, _) =
        Manifest::read(&dir.join("manifest.json")).map_err(|d| BadInput(d.to_string()))?;
    let summaries: Vec<Summary> = sections::read_json(&dir.join("summaries.json"))?;
    let Some(first) = summaries.first() else {
        return Err(BadInput(format!(
            "{}: no replication in summaries.json",
            dir.display()
        ))
        .into());
    };
    let stats = replicated::stats(&summaries);
    let mut page = Page::new();
    let v = replicated::verdict(&stats);
    let failed = stats
        .iter()
        .find(|s| s.name == "loops_failed_share")
        .and_then(|s| s.mean);
    page.verdict(&v.headline, failed.is_some_and(|f| f > 0.0), &v.notes);
    let kind = format!(
        "{} replications, seeds {}",
        summaries.len(),
        seeds(&summaries)
    );
    let first = serde_json::to_value(first).map_err(|e| BadInput(e.to_string()))?;
    run::simulated(&mut page, &manifest, &first, &kind);
    page.heading("Each figure: mean ± 95% interval over the replications");
    page.paragraph(
        "note",
        "Loops counted after the warm-up; latency is of the loops that completed, beside the share that failed. Each interval is the two-sided 95% Student-t interval of the replications' mean.",
    );
    for group in replicated::groups(&stats) {
        table(&mut page, &group);
    }
    page.folded("The model as run (TOML)", &manifest.model_toml);
    Ok(page.finish(
        first["model"].as_str().unwrap_or(""),
        &format!("loopcap replicated run report, from {}", dir.display()),
    ))
}

fn seeds(summaries: &[Summary]) -> String {
    summaries
        .iter()
        .map(|s| s.seed.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One group's metrics, a row each: its words and its interval.
fn table(page: &mut Page, group: &Group<'_>) {
    page.heading(&group.heading);
    let rows: Vec<Row> = group
        .metrics
        .iter()
        .map(|(named, s)| Row {
            key: s.name.clone(),
            cells: vec![
                Cell::text(replicated::words(named)),
                Cell::interval(&s.name, (s.mean, s.ci95)),
            ],
        })
        .collect();
    let id = format!("group-{}", group.heading.replace(' ', "-"));
    page.table(&id, &["metric", "mean ± 95% interval"], &rows);
}
