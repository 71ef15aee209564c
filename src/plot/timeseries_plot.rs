//! One run over time, from its timeseries.csv: the picture of a retry storm.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::line_chart::{Line, LineChart, Point, Span};
use super::{Figure, Scale};
use crate::error::{BadInput, DrawError, ReadError};
use crate::model::measure::timeseries::{Counter, Gauge};
use crate::report::timeseries_csv::{BIN_S, TIME_S, TimeseriesTable};

/// Stacked panels against simulated (or clock) time: attempts in flight
/// and waiting, the latency of the loops completed in each bin (p50, p99),
/// the replicas up and KV cache in use of each self-hosted pool, refusals
/// and retries, and loop
/// outcomes. A line that is zero throughout is left out, and a panel left
/// with none is not drawn.
pub struct TimeseriesPlot {
    pub panels: Vec<LineChart>,
}

/// Height of one panel.
const PANEL_HEIGHT: u32 = 340;

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

/// What the run beside a timeseries.csv says of itself: its shaded
/// stretches, where its t = 0 falls in the week if the model has a clock,
/// and what an attempt waits for in its queue.
struct RunTimes {
    spans: Vec<Span>,
    clock: Option<f64>,
    queued: &'static str,
}

/// The [`RunTimes`] of the run whose summary.json sits beside its
/// timeseries.csv; none of them if it has no summary (a time series kept
/// on its own).
fn run_times(timeseries: &Path) -> Result<RunTimes, ReadError> {
    let path = timeseries.with_file_name("summary.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(RunTimes {
            spans: Vec::new(),
            clock: None,
            queued: "queued",
        });
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
        #[serde(default)]
        lane_utilization: Option<f64>,
        #[serde(default)]
        pools: Vec<PoolKind>,
    }
    #[derive(serde::Deserialize)]
    struct PoolKind {
        kind: String,
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
    let has = |kind: &str| times.pools.iter().any(|p| p.kind == kind);
    let lanes = has("reserved") || times.lane_utilization.is_some();
    let queued = match (lanes, has("self_hosted")) {
        (true, true) => "queued for a lane or a replica",
        (true, false) => "queued for a lane",
        (false, true) => "queued for a replica",
        (false, false) => "queued",
    };
    Ok(RunTimes {
        spans,
        clock: times.start_in_week_s,
        queued,
    })
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

/// A timeseries.csv's columns as lines against its bins' start, in minutes.
struct Columns {
    table: TimeseriesTable,
    minutes: Vec<f64>,
    bins: Vec<f64>,
}

impl Columns {
    /// A line of column `name`, `rate` turning counts into per-minute
    /// rates; none when it is zero (or empty) throughout.
    fn line(
        &self,
        label: &str,
        name: &str,
        c: usize,
        rate: bool,
    ) -> Result<Option<Line>, BadInput> {
        let values = self.table.sparse_column(name)?;
        let ys: Vec<Option<f64>> = if rate {
            let counts: Vec<f64> = values.iter().map(|v| v.unwrap_or(0.0)).collect();
            per_minute(&counts, &self.bins)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            values
        };
        // A bin without a value (no loop completed in it) is a gap.
        let points: Vec<Point> = self
            .minutes
            .iter()
            .zip(ys)
            .map(|(&x, y)| Point {
                x,
                y: y.unwrap_or(f64::NAN),
                band: None,
            })
            .collect();
        Ok(points
            .iter()
            .any(|p| p.y.is_finite() && p.y != 0.0)
            .then(|| Line::new(label.to_owned(), c, points)))
    }

    /// A line per self-hosted pool of its columns ending `suffix`.
    fn per_pool(&self, suffix: &str) -> Result<Vec<Option<Line>>, BadInput> {
        self.table
            .header()
            .iter()
            .filter_map(|h| Some((h.strip_prefix("pools.")?.strip_suffix(suffix)?, h)))
            .enumerate()
            .map(|(i, (pool, column))| self.line(pool, column, i, false))
            .collect()
    }

    /// The run's whole time line, from its first bin to the end of its last.
    fn extent(&self) -> (f64, f64) {
        let (first, last) = (self.minutes[0], self.minutes[self.minutes.len() - 1]);
        (first, last + self.bins[self.bins.len() - 1] / 60.0)
    }
}

/// What every panel shares: the x axis and the run's shaded stretches.
struct Frame {
    run: RunTimes,
    extent: (f64, f64),
}

impl Frame {
    /// A panel of the lines there are, none if there are none.
    fn panel(
        &self,
        (title, subtitle, y_label): (&str, &str, &str),
        lines: Vec<Option<Line>>,
        y_scale: Scale,
    ) -> Option<LineChart> {
        let lines: Vec<Line> = lines.into_iter().flatten().collect();
        let x_label = match self.run.clock {
            Some(_) => "the model's clock",
            None => "simulated time (min)",
        };
        (!lines.is_empty()).then(|| LineChart {
            title: title.to_owned(),
            subtitle: subtitle.to_owned(),
            x_label: x_label.to_owned(),
            x_clock: self.run.clock,
            x_range: Some(self.extent),
            y_label: y_label.to_owned(),
            y_scale,
            log_x: false,
            log_y: false,
            lines,
            spans: self.run.spans.clone(),
        })
    }
}

impl TimeseriesPlot {
    /// The figure of a run's timeseries.csv.
    pub fn read(path: &Path) -> Result<TimeseriesPlot, ReadError> {
        let table = TimeseriesTable::read(path)?;
        let minutes: Vec<f64> = table.column(TIME_S)?.iter().map(|t| t / 60.0).collect();
        let bins = table.column(BIN_S)?;
        let columns = Columns {
            table,
            minutes,
            bins,
        };
        let frame = Frame {
            run: run_times(path)?,
            extent: columns.extent(),
        };
        let line = |label: &str, name: &str, c: usize| columns.line(label, name, c, false);
        let rate = |label: &str, name: &str, c: usize| columns.line(label, name, c, true);
        let panel = |titles, lines| frame.panel(titles, lines, Scale::Plain);
        let averaged = format!("trailing {}-bin average", rate_window(columns.bins[0]));
        let panels = [
            panel(
                (
                    "attempts in flight and waiting",
                    "",
                    "attempts (mean over each bin)",
                ),
                vec![
                    line("in flight at the provider", Gauge::InFlight.name(), 0)?,
                    line(frame.run.queued, Gauge::Queued.name(), 1)?,
                    line("backing off before a retry", Gauge::BackingOff.name(), 2)?,
                ],
            ),
            panel(
                (
                    "loop latency",
                    "of the loops completed in each bin; failed loops have none",
                    "seconds",
                ),
                vec![
                    line("p50", "loop_latency_p50_s", 0)?,
                    line("p99", "loop_latency_p99_s", 3)?,
                ],
            ),
            panel(
                (
                    "replicas up",
                    "each self-hosted pool's replicas alive, loading or warm (mean over each bin)",
                    "replicas",
                ),
                columns.per_pool(".replicas")?,
            ),
            frame.panel(
                (
                    "KV cache in use",
                    "each self-hosted pool's KV-cache tokens held over those its warm replicas offer (mean over each bin)",
                    "share of the KV cache",
                ),
                columns.per_pool(".kv_cache_utilization")?,
                Scale::Percent,
            ),
            panel(
                ("refusals and retries", &averaged, "per minute"),
                vec![
                    rate("429 rate limited", Counter::RateLimited.name(), 3)?,
                    rate("retries", Counter::Retries.name(), 4)?,
                    rate(Counter::Timeouts.name(), Counter::Timeouts.name(), 5)?,
                    rate("529 overloaded", Counter::Overloaded.name(), 6)?,
                ],
            ),
            panel(
                ("loops", &averaged, "per minute"),
                vec![
                    rate("arrived", Counter::Arrivals.name(), 7)?,
                    rate("completed", Counter::LoopsCompleted.name(), 2)?,
                    rate("failed", Counter::LoopsFailed.name(), 3)?,
                ],
            ),
        ];
        Ok(TimeseriesPlot {
            panels: panels.into_iter().flatten().collect(),
        })
    }
}

impl Figure for TimeseriesPlot {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        root.fill(&WHITE).map_err(DrawError::of)?;
        let areas = root.split_evenly((self.panels.len().max(1), 1));
        for (panel, area) in self.panels.iter().zip(areas) {
            panel.draw_in(&area)?;
        }
        Ok(())
    }

    fn size(&self) -> (u32, u32) {
        (1100, PANEL_HEIGHT * self.panels.len().max(1) as u32)
    }
}
