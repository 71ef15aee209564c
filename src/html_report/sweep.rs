//! The page of a sweep: manifest.json, points.csv (each point's metrics,
//! mean and 95% half-width over its replications) and the figures.

use std::path::Path;

use super::error::ReportError;
use super::page::{Cell, Page, Row};
use super::sections::{self, header};
use crate::error::{BadInput, ReadError};
use crate::model::measure::catalogue::Scope;
use crate::model::prices::HOURS_PER_MONTH;
use crate::report::verdict::{Verdict, percent, seconds, span};
use crate::sweep_dir::manifest::SweepManifest;

/// The metrics every point shows, where points.csv has them: failures
/// beside latency, then throughput and cost.
const KEY_METRICS: [&str; 7] = [
    "loops_failed_share",
    "loop_latency_s.p50",
    "loop_latency_s.p99",
    "loops_per_min",
    "retry_rate",
    "cost_per_loop_usd",
    "loops_per_dollar",
];

/// Each window's metrics beside the window.
const WINDOW_METRICS: [&str; 4] = [
    "loops_started",
    "loops_failed_share",
    "loop_latency_s.p99",
    "loops_per_min",
];

/// points.csv: its header and rows, as text.
pub struct Points {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Points {
    /// points.csv at `path`, which must hold `expected` points, one a
    /// line in order, each with a cell for every column and a number (or
    /// nothing) in every metric's: a cut or garbled file is refused, not
    /// drawn as an empty table.
    pub fn read(path: &Path, expected: usize) -> Result<Points, ReadError> {
        let points = Points::parse(path)?;
        let shown = path.display();
        let metrics_from = match points.column("replications") {
            Some(c) if points.header.first().is_some_and(|h| h == "point") => c,
            _ => {
                return Err(ReadError::bad(format!(
                    "{shown}:1: not the header of points.csv (`point`, the axes, `replications`, the metrics): write it again with `loopcap sweep --resume` or `merge`"
                )));
            }
        };
        if points.rows.len() != expected {
            return Err(ReadError::bad(format!(
                "{shown}: {} points, where the manifest has {expected}: the file is cut or from another sweep",
                points.rows.len()
            )));
        }
        for (i, row) in points.rows.iter().enumerate() {
            let line = i + 2;
            if row.first().map(String::as_str) != Some(&i.to_string()) {
                return Err(ReadError::bad(format!(
                    "{shown}:{line}: expected point {i} (got {:?})",
                    row.first().map_or("", String::as_str)
                )));
            }
            for (c, cell) in row.iter().enumerate().skip(metrics_from) {
                if !cell.is_empty() && cell.parse::<f64>().is_err() {
                    return Err(ReadError::bad(format!(
                        "{shown}:{line}: column {}: {cell:?} is not a number",
                        points.header[c]
                    )));
                }
            }
        }
        Ok(points)
    }

    fn parse(path: &Path) -> Result<Points, ReadError> {
        let mut reader = csv::Reader::from_path(path).map_err(ReadError::csv(path))?;
        let header = reader
            .headers()
            .map_err(ReadError::csv(path))?
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .map(|r| {
                r.map(|r| r.iter().map(str::to_owned).collect())
                    .map_err(ReadError::csv(path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Points { header, rows })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Row `row`'s metric `name` and its 95% half-width, if the file has them.
    fn interval(&self, row: usize, name: &str) -> Option<(Option<f64>, Option<f64>)> {
        let value = |col: Option<usize>| {
            col.and_then(|c| self.rows[row].get(c))
                .and_then(|v| v.parse().ok())
        };
        let column = self.column(name)?;
        Some((
            value(Some(column)),
            value(self.column(&format!("{name}.ci95"))),
        ))
    }

    /// The grid's axes: the columns between `point` and `replications`.
    fn axes(&self) -> &[String] {
        let end = self.column("replications").unwrap_or(1);
        &self.header[1.min(end)..end]
    }

    /// The windows whose metrics the file has, in column order.
    fn windows(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .header
            .iter()
            .filter_map(|h| {
                h.strip_prefix("windows.")?
                    .strip_suffix(".loops_failed_share")
            })
            .collect();
        names.dedup();
        names
    }
}

/// A finished sweep's manifest and points.csv.
fn read(dir: &Path) -> Result<(SweepManifest, Points), ReportError> {
    let manifest = SweepManifest::read(dir)?;
    let points_path = dir.join("points.csv");
    if !points_path.is_file() {
        return Err(BadInput(format!(
            "{}: no points.csv: the sweep is not finished or its shards are not merged (`loopcap merge`)",
            dir.display()
        ))
        .into());
    }
    let points = Points::read(&points_path, manifest.points)?;
    Ok((manifest, points))
}

/// The verdict of the finished sweep in `dir`, as its page opens with it.
pub fn verdict_of(dir: &Path) -> Result<Verdict, ReportError> {
    Ok(verdict(&read(dir)?.1).0)
}

pub fn render(dir: &Path) -> Result<String, ReportError> {
    let (manifest, points) = read(dir)?;
    let mut page = Page::new();
    let (v, missed) = verdict(&points);
    page.verdict(&v.headline, missed, &v.notes);
    simulated(&mut page, &manifest);
    each_point(&mut page, &points, manifest.replications);
    each_window(&mut page, &points);

    page.heading("Figures");
    if sections::figures(&mut page, dir, &[])? == 0 {
        page.paragraph(
            "note",
            "(no figures in this directory: `loopcap plot DIR` draws them)",
        );
    }
    page.folded("The experiment (TOML)", &manifest.experiment_toml);
    Ok(page.finish(
        &manifest.experiment,
        &format!("loopcap sweep report, from {}", dir.display()),
    ))
}

/// The sweep in one sentence: how many points complete every loop, and
/// the worst point's failed share and p99; a note names the point with
/// the best p99 among those that fail no loop. Whether any point fails.
fn verdict(points: &Points) -> (Verdict, bool) {
    let mean = |row, metric| points.interval(row, metric).and_then(|(v, _)| v);
    let setting = |row: usize| {
        let axes = points.axes();
        axes.iter()
            .zip(&points.rows[row][1..=axes.len()])
            .map(|(a, v)| format!("{a} = {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = points.rows.len();
    let failed: Vec<f64> = (0..n)
        .map(|r| mean(r, "loops_failed_share").unwrap_or(0.0))
        .collect();
    let p99 = |row| mean(row, "loop_latency_s.p99");
    let (over_cap, cap_note) = over_spend_caps(points, &setting);
    let clean: Vec<usize> = (0..n).filter(|&r| failed[r] == 0.0).collect();
    let best = clean
        .iter()
        .filter(|r| !over_cap.contains(r))
        .filter_map(|&r| Some((p99(r)?, r)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let within = if over_cap.is_empty() {
        ""
    } else {
        " and stays within its spend caps"
    };
    let best_note = best.map(|(p, r)| {
        format!(
            "The lowest p99 of a point that fails no loop{within}: {}, at {}.",
            seconds(p),
            setting(r)
        )
    });
    let Some(worst) = (0..n)
        .filter(|&r| failed[r] > 0.0)
        .max_by(|&a, &b| failed[a].total_cmp(&failed[b]))
    else {
        let range = (0..n)
            .filter_map(p99)
            .fold(None, |acc: Option<(f64, f64)>, p| {
                Some(acc.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p))))
            });
        let spread = range.map_or(String::new(), |(lo, hi)| {
            format!("; p99 from {} to {}", seconds(lo), seconds(hi))
        });
        let headline = format!("Every point completes every loop ({n} points){spread}.");
        let notes = cap_note.into_iter().chain(best_note).collect();
        return (Verdict { headline, notes }, false);
    };
    let survivors = p99(worst).map_or(String::new(), |p| {
        format!(", p99 {} of those that complete", seconds(p))
    });
    let headline = format!(
        "{} of {n} points complete every loop; the worst, {}, fails {} of loops{survivors}.",
        clean.len(),
        setting(worst),
        percent(failed[worst])
    );
    let notes = cap_note.into_iter().chain(best_note).collect();
    (Verdict { headline, notes }, true)
}

/// The points whose month passes a tier's monthly spend cap in some
/// replication (their mean `spend_cap_month_share` below 1), and a note
/// counting them and naming the one whose cap is spent soonest.
fn over_spend_caps(
    points: &Points,
    setting: &dyn Fn(usize) -> String,
) -> (Vec<usize>, Option<String>) {
    let n = points.rows.len();
    let within_cap: Vec<f64> = (0..n)
        .map(|r| {
            points
                .interval(r, "spend_cap_month_share")
                .and_then(|(v, _)| v)
                .unwrap_or(1.0)
        })
        .collect();
    let over: Vec<usize> = (0..n).filter(|&r| within_cap[r] < 1.0).collect();
    let note = over
        .iter()
        .min_by(|&&a, &&b| within_cap[a].total_cmp(&within_cap[b]))
        .map(|&r| {
            format!(
                "{} of {n} points {} past a tier's monthly spend cap, where the provider refuses their calls for the rest of the month; the soonest, {}, spends it {} into a month (its replications' mean).",
                over.len(),
                if over.len() == 1 { "spends" } else { "spend" },
                setting(r),
                span(within_cap[r] * HOURS_PER_MONTH * 3600.0)
            )
        });
    (over, note)
}

/// What was simulated: the experiment, its seed, runs and base models.
fn simulated(page: &mut Page, manifest: &SweepManifest) {
    let experiment: toml::Table = manifest.experiment_toml.parse().unwrap_or_default();
    let seed = manifest
        .flags
        .seed
        .map(|s| s.to_string())
        .unwrap_or_else(|| {
            experiment
                .get("seed")
                .map_or("the models' own".to_owned(), toml::Value::to_string)
        });
    page.heading("What was simulated");
    let mut meta = vec![
        ("kind".to_owned(), "sweep".to_owned()),
        (
            "experiment file".to_owned(),
            manifest.experiment_file.clone(),
        ),
        ("seed".to_owned(), seed),
        (
            "runs".to_owned(),
            format!(
                "{} points x {} replications = {}",
                manifest.points, manifest.replications, manifest.runs
            ),
        ),
        ("loopcap".to_owned(), manifest.loopcap_version.clone()),
        ("rerun".to_owned(), rerun(manifest)),
    ];
    if !manifest.flags.set.is_empty() {
        meta.insert(3, ("overrides".to_owned(), manifest.flags.set.join(" ")));
    }
    page.pairs("meta", &meta);
    for (i, base) in manifest.base_models.iter().enumerate() {
        page.paragraph("note", &format!("Base model {}", base.file));
        sections::model_brief(page, &format!("model-{i}"), &base.model_toml);
    }
}

/// A point's first cells: its number and its value on each axis.
fn axis_cells(points: &Points, row: usize) -> Vec<Cell> {
    [Cell::text(&points.rows[row][0])]
        .into_iter()
        .chain((1..=points.axes().len()).map(|c| Cell::text(&points.rows[row][c])))
        .collect()
}

/// The columns naming a point: "point", then each axis.
fn point_columns(points: &Points) -> Vec<&str> {
    ["point"]
        .into_iter()
        .chain(points.axes().iter().map(String::as_str))
        .collect()
}

/// Each point's key metrics, mean ± half-width over its replications.
fn each_point(page: &mut Page, points: &Points, replications: u32) {
    page.heading("Each point: failures beside latency");
    page.paragraph(
        "note",
        &format!(
            "Mean ± 95% half-width over the {} replications of each point.",
            replications
        ),
    );
    let shown: Vec<&str> = KEY_METRICS
        .iter()
        .copied()
        .filter(|m| points.column(m).is_some())
        .collect();
    let rows: Vec<Row> = (0..points.rows.len())
        .map(|r| Row {
            key: format!("point:{r}"),
            cells: axis_cells(points, r)
                .into_iter()
                .chain(
                    shown
                        .iter()
                        .map(|m| Cell::interval(m, points.interval(r, m).unwrap_or((None, None)))),
                )
                .collect(),
        })
        .collect();
    page.table(
        "points",
        &header(&point_columns(points), Scope::Run, &shown),
        &rows,
    );
}

/// Each window of each point.
fn each_window(page: &mut Page, points: &Points) {
    let windows = points.windows();
    if !windows.is_empty() {
        page.heading("Each window of each point");
        page.paragraph(
            "note",
            "A window's loops are those that started in it, followed to their end.",
        );
        let mut rows = Vec::new();
        for r in 0..points.rows.len() {
            for window in &windows {
                let metrics = WINDOW_METRICS.iter().filter_map(|m| {
                    let name = format!("windows.{window}.{m}");
                    points.interval(r, &name).map(|v| Cell::interval(&name, v))
                });
                rows.push(Row {
                    key: format!("point:{r}"),
                    cells: axis_cells(points, r)
                        .into_iter()
                        .chain([Cell::text(*window)])
                        .chain(metrics)
                        .collect(),
                });
            }
        }
        let mut columns = point_columns(points);
        columns.push("window");
        page.table(
            "windows",
            &header(&columns, Scope::Window, &WINDOW_METRICS),
            &rows,
        );
    }
}

/// The sweep's command, with what its command line changed.
fn rerun(manifest: &SweepManifest) -> String {
    let mut command = format!("loopcap sweep {}", manifest.experiment_file);
    for set in &manifest.flags.set {
        command.push_str(&format!(" --set '{set}'"));
    }
    if let Some(seed) = manifest.flags.seed {
        command.push_str(&format!(" --seed {seed}"));
    }
    if let Some(r) = manifest.flags.replications {
        command.push_str(&format!(" --replications {r}"));
    }
    command
}
