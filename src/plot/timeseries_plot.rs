//! One run over time, from its timeseries.csv: the picture of a retry storm.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Figure;
use super::line_chart::{Line, LineChart, Marker, Point};
use crate::model::timeseries::{Counter, Gauge};
use crate::report::timeseries_csv::{BIN_S, TIME_S, TimeseriesTable};

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

impl TimeseriesPlot {
    /// The figure of a run's timeseries.csv.
    pub fn read(path: &Path) -> Result<TimeseriesPlot, String> {
        let table = TimeseriesTable::read(path)?;
        let col = |name: &str| table.column(name);
        let minutes: Vec<f64> = col(TIME_S)?.iter().map(|t| t / 60.0).collect();
        let bins = col(BIN_S)?;
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
                        line(
                            "in flight at the provider",
                            Gauge::InFlight.name(),
                            0,
                            false,
                        )?,
                        line("queued for a lane", Gauge::Queued.name(), 1, false)?,
                        line(
                            "backing off before a retry",
                            Gauge::BackingOff.name(),
                            2,
                            false,
                        )?,
                    ],
                ),
                panel(
                    "refusals and retries",
                    &averaged,
                    &per_min,
                    vec![
                        line("429 rate limited", Counter::RateLimited.name(), 3, true)?,
                        line("retries", Counter::Retries.name(), 4, true)?,
                        line(Counter::Timeouts.name(), Counter::Timeouts.name(), 5, true)?,
                        line("529 overloaded", Counter::Overloaded.name(), 6, true)?,
                    ],
                ),
                panel(
                    "loops",
                    &averaged,
                    &per_min,
                    vec![
                        line("arrived", Counter::Arrivals.name(), 7, true)?,
                        line("completed", Counter::LoopsCompleted.name(), 2, true)?,
                        line("failed", Counter::LoopsFailed.name(), 3, true)?,
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
