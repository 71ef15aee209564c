//! One run over time, from its timeseries.csv: the picture of a retry storm.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Figure;
use super::line_chart::{Line, LineChart, Point, Span};
use crate::error::{BadInput, DrawError, ReadError};
use crate::model::measure::timeseries::{Counter, Gauge};
use crate::report::timeseries_csv::{BIN_S, TIME_S, TimeseriesTable};

/// Three stacked panels: levels (in flight, queued, backing off), refusals
/// and retries, and loop outcomes, all against simulated time.
pub struct TimeseriesPlot {
    pub panels: [LineChart; 3],
}

/// The shaded stretches of a run's time line, in minutes: the warm-up (not
/// measured) and each window, as (kind, name, start s, end s), coloured by kind.
pub fn shaded_spans<'a>(
    warmup_s: f64,
    windows: impl Iterator<Item = (&'a str, &'a str, f64, f64)>,
) -> Vec<Span> {
    let warmup = (warmup_s > 0.0).then(|| Span {
        from: 0.0,
        to: warmup_s / 60.0,
        label: "warm-up (not measured)".to_owned(),
        color: RGBColor(127, 127, 127),
    });
    let windows = windows.map(|(kind, name, start, end)| {
        let (label, color) = match kind {
            "surge" => ("surge".to_owned(), RGBColor(255, 127, 14)),
            "fault" => ("fault".to_owned(), RGBColor(214, 39, 40)),
            _ => (format!("window {name}"), RGBColor(31, 119, 180)),
        };
        Span {
            from: start / 60.0,
            to: end / 60.0,
            label,
            color,
        }
    });
    warmup.into_iter().chain(windows).collect()
}

/// The shaded stretches of the run whose summary.json sits beside its
/// timeseries.csv, and where its t = 0 falls in the week if the model has
/// a clock; none if it has no summary (a time series kept on its own).
fn run_times(timeseries: &Path) -> Result<(Vec<Span>, Option<f64>), ReadError> {
    let path = timeseries.with_file_name("summary.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((Vec::new(), None));
    };
    // Only what the shading and the clock need, so a summary of any version will do.
    #[derive(serde::Deserialize)]
    struct Times {
        #[serde(default)]
        warmup_s: f64,
        #[serde(default)]
        windows: Vec<WindowTimes>,
        #[serde(default)]
        start_in_week_s: Option<f64>,
    }
    #[derive(serde::Deserialize)]
    struct WindowTimes {
        kind: String,
        name: String,
        start_s: f64,
        end_s: f64,
    }
    let times: Times = serde_json::from_str(&text)
        .map_err(|e| ReadError::bad(format!("{}: {e}", path.display())))?;
    let spans = shaded_spans(
        times.warmup_s,
        times
            .windows
            .iter()
            .map(|w| (w.kind.as_str(), w.name.as_str(), w.start_s, w.end_s)),
    );
    Ok((spans, times.start_in_week_s))
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
    pub fn read(path: &Path) -> Result<TimeseriesPlot, ReadError> {
        let table = TimeseriesTable::read(path)?;
        let col = |name: &str| table.column(name);
        let minutes: Vec<f64> = col(TIME_S)?.iter().map(|t| t / 60.0).collect();
        let bins = col(BIN_S)?;
        let line = |label: &str, name: &str, c: usize, rate: bool| -> Result<Line, BadInput> {
            let values = col(name)?;
            let ys = if rate {
                per_minute(&values, &bins)
            } else {
                values
            };
            let points = minutes
                .iter()
                .zip(ys)
                .map(|(&x, y)| Point { x, y, band: None })
                .collect();
            Ok(Line::new(label.to_owned(), c, points))
        };
        let (spans, clock) = run_times(path)?;
        let x_label = match clock {
            Some(_) => "the model's clock",
            None => "simulated time (min)",
        };
        let panel = |title: &str, subtitle: &str, y: &str, lines: Vec<Line>| LineChart {
            title: title.to_owned(),
            subtitle: subtitle.to_owned(),
            x_label: x_label.to_owned(),
            x_clock: clock,
            y_label: y.to_owned(),
            log_x: false,
            log_y: false,
            lines,
            spans: spans.clone(),
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
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        root.fill(&WHITE).map_err(DrawError::of)?;
        for (panel, area) in self.panels.iter().zip(root.split_evenly((3, 1))) {
            panel.draw_in(&area)?;
        }
        Ok(())
    }

    fn size(&self) -> (u32, u32) {
        (1100, 1050)
    }
}
