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

/// Bins in the trailing window that turns counts into per-minute rates:
/// about a minute, so sparse events read as a rate rather than as spikes.
pub fn rate_window(bin_s: f64) -> usize {
    (60.0 / bin_s).round().max(1.0) as usize
}

/// Per-bin counts as per-minute rates over a trailing window of about a minute.
pub fn per_minute(counts: &[f64], bin_s: &[f64]) -> Vec<f64> {
    let window = bin_s.first().map_or(1, |&b| rate_window(b));
    (0..counts.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(window);
            let count: f64 = counts[from..=i].iter().sum();
            let seconds: f64 = bin_s[from..=i].iter().sum();
            count / seconds * 60.0
        })
        .collect()
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
        let bins = col("bin_s")?;
        let line = |label: &str, name: &str, c: usize, rate: bool| -> Result<Line, String> {
            let values = col(name)?;
            let ys = if rate {
                per_minute(&values, &bins)
            } else {
                values
            };
            Ok(Line {
                label: label.to_owned(),
                color: c,
                marker: Marker::None,
                points: minutes
                    .iter()
                    .zip(ys)
                    .map(|(&x, y)| Point { x, y, band: None })
                    .collect(),
            })
        };
        let panel = |title: &str, subtitle: &str, y: &str, lines: Vec<Line>| LineChart {
            title: title.to_owned(),
            subtitle: subtitle.to_owned(),
            x_label: "simulated time (min)".to_owned(),
            y_label: y.to_owned(),
            log_x: false,
            log_y: false,
            lines,
        };
        let per_min = "per minute".to_owned();
        let averaged = format!("trailing {}-bin average", rate_window(bins[0]));
        Ok(TimeseriesPlot {
            panels: [
                panel(
                    "attempts in flight and waiting",
                    "",
                    "attempts (mean over each bin)",
                    vec![
                        line("in flight at the provider", "in_flight", 0, false)?,
                        line("queued for a lane", "queued", 1, false)?,
                        line("backing off before a retry", "backing_off", 2, false)?,
                    ],
                ),
                panel(
                    "refusals and retries",
                    &averaged,
                    &per_min,
                    vec![
                        line("429 rate limited", "rate_limited", 3, true)?,
                        line("retries", "retries", 4, true)?,
                        line("timeouts", "timeouts", 5, true)?,
                        line("529 overloaded", "overloaded", 6, true)?,
                    ],
                ),
                panel(
                    "loops",
                    &averaged,
                    &per_min,
                    vec![
                        line("arrived", "arrivals", 7, true)?,
                        line("completed", "loops_completed", 2, true)?,
                        line("failed", "loops_failed", 3, true)?,
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

    fn size(&self) -> (u32, u32) {
        (1100, 1050)
    }
}
