//! One run over time, from its timeseries.csv: the picture of a retry storm.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Figure;
use super::line_chart::{Line, LineChart, Marker, Point};

/// Three stacked panels: levels (in flight, queued, backing off), refusals
/// and retries, and loop outcomes, all against simulated time.
pub struct TimeseriesPlot {
    pub panels: [LineChart; 3],
}

/// A column of the CSV by name.
fn column(
    header: &csv::StringRecord,
    rows: &[csv::StringRecord],
    name: &str,
) -> Result<Vec<f64>, String> {
    let i = header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| format!("no column `{name}`: is this a loopcap timeseries.csv?"))?;
    rows.iter()
        .enumerate()
        .map(|(n, r)| {
            r.get(i)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("row {}: `{name}` is not a number", n + 2))
        })
        .collect()
}

impl TimeseriesPlot {
    pub fn read(path: &Path) -> Result<TimeseriesPlot, String> {
        let shown = path.display();
        let mut reader =
            csv::Reader::from_path(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let header = reader
            .headers()
            .map_err(|e| format!("{shown}: {e}"))?
            .clone();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown}: {e}"))?;
        if rows.is_empty() {
            return Err(format!("{shown} has no rows"));
        }
        let col = |name: &str| column(&header, &rows, name).map_err(|e| format!("{shown}: {e}"));
        let minutes: Vec<f64> = col("time_s")?.iter().map(|t| t / 60.0).collect();
        let bin = col("bin_s")?[0];
        let line = |label: &str, name: &str, c: usize| -> Result<Line, String> {
            Ok(Line {
                label: label.to_owned(),
                color: c,
                marker: Marker::None,
                points: minutes
                    .iter()
                    .zip(col(name)?)
                    .map(|(&x, y)| Point { x, y, band: None })
                    .collect(),
            })
        };
        let panel = |title: &str, y: &str, lines: Vec<Line>| LineChart {
            title: title.to_owned(),
            subtitle: String::new(),
            x_label: "simulated time (min)".to_owned(),
            y_label: y.to_owned(),
            log_x: false,
            log_y: false,
            lines,
        };
        let per_bin = format!("per {bin} s bin");
        Ok(TimeseriesPlot {
            panels: [
                panel(
                    "attempts in flight and waiting",
                    "attempts (bin mean)",
                    vec![
                        line("in flight at the provider", "in_flight", 0)?,
                        line("queued for a lane", "queued", 1)?,
                        line("backing off before a retry", "backing_off", 2)?,
                    ],
                ),
                panel(
                    "refusals and retries",
                    &per_bin,
                    vec![
                        line("429 rate limited", "rate_limited", 3)?,
                        line("retries", "retries", 4)?,
                        line("timeouts", "timeouts", 5)?,
                        line("529 overloaded", "overloaded", 6)?,
                    ],
                ),
                panel(
                    "loops",
                    &per_bin,
                    vec![
                        line("arrived", "arrivals", 7)?,
                        line("completed", "loops_completed", 2)?,
                        line("failed", "loops_failed", 3)?,
                    ],
                ),
            ],
        })
    }
}

impl Figure for TimeseriesPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        for (panel, area) in self.panels.iter().zip(root.split_evenly((3, 1))) {
            panel.draw_in(&area)?;
        }
        Ok(())
    }
}
