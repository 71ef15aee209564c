//! The figures an experiment asks for, drawn from a finished sweep's
//! directory alone: its points' statistics and the time series it kept.

use std::path::Path;

use super::bar_chart::{BarChart, BarGroup};
use super::heatmap::Heatmap;
use super::labels::{FAILED_TITLE, axis_path_label, metric_label};
use super::line_chart::{Dash, Line, LineChart, Marker, Point, Span};
use super::timeseries_plot::{per_minute, shaded_spans};
use super::{Figure, PlotError, Scale, save_with};
use crate::config::experiment::Experiment;
use crate::config::plot_spec::{Chart, PlotSpec, Reference};
use crate::model::ModelSpec;
use crate::model::measure::catalogue;
use crate::model::measure::percentiles::{CDF_QUANTILES, quantile_name};
use crate::model::measure::timeseries::Counter;
use crate::report::timeseries_csv::{BIN_S, TIME_S, TimeseriesTable};
use crate::sweep_dir::point_stats::PointStats;
use crate::sweep_dir::timeseries_path;

/// The index of the point at `coords`.
fn index(exp: &Experiment, coords: &[usize]) -> usize {
    exp.axes
        .iter()
        .zip(coords)
        .fold(0, |i, (axis, &c)| i * axis.values.len() + c)
}

/// The statistics of the point at `coords`.
fn at<'p>(exp: &Experiment, points: &'p [PointStats], coords: &[usize]) -> &'p PointStats {
    &points[index(exp, coords)]
}

/// The coordinates with the plot's fixed axes set and `chosen` (axis, value) on top.
fn coords(exp: &Experiment, spec: &PlotSpec, chosen: &[(Option<usize>, usize)]) -> Vec<usize> {
    let mut c = vec![0; exp.axes.len()];
    for &(axis, value) in &spec.fixed {
        c[axis] = value;
    }
    for &(axis, value) in chosen {
        if let Some(axis) = axis {
            c[axis] = value;
        }
    }
    c
}

/// The values of the series axis (or one unnamed series).
fn series(exp: &Experiment, spec: &PlotSpec) -> Vec<(usize, String)> {
    match spec.series {
        Some(a) => exp.axes[a]
            .values
            .iter()
            .map(|v| v.label.clone())
            .enumerate()
            .collect(),
        None => vec![(0, String::new())],
    }
}

fn subtitle_of(exp: &Experiment, spec: &PlotSpec, what: &str) -> String {
    let fixed: Vec<String> = spec
        .fixed
        .iter()
        .filter(|(a, _)| exp.axes[*a].values.len() > 1)
        .map(|&(a, v)| format!("{} = {}", exp.axes[a].path, exp.axes[a].values[v].label))
        .collect();
    let mut s = format!("{}: {what}, {} replications", exp.name, exp.replications);
    if !fixed.is_empty() {
        s.push_str(&format!("; at {}", fixed.join(", ")));
    }
    s
}

fn axis_label(exp: &Experiment, axis: Option<usize>) -> String {
    axis.map_or_else(String::new, |a| axis_path_label(&exp.axes[a].path))
}

/// The failed share of the loops a latency metric describes, where the
/// sweep kept it.
fn failed_share_of(exp: &Experiment, metric: &str) -> Option<String> {
    catalogue::failed_share_beside(metric).filter(|share| exp.metric_names.contains(share))
}

/// Points of `metric` along the x axis for one series value, with CI
/// bands; where it has no mean (no loop completed there, say), a gap the
/// line breaks at.
fn line_points(
    exp: &Experiment,
    points: &[PointStats],
    spec: &PlotSpec,
    (x, s): (usize, usize),
    metric: &str,
) -> Vec<Point> {
    exp.axes[x]
        .values
        .iter()
        .enumerate()
        .filter_map(|(xi, xv)| {
            let stats = at(
                exp,
                points,
                &coords(exp, spec, &[(Some(x), xi), (spec.series, s)]),
            );
            let (mean, half) = stats.get(exp, metric);
            let x = xv.number?;
            Some(match mean {
                Some(y) => Point {
                    x,
                    y,
                    band: half.map(|h| (y - h, y + h)),
                },
                None => Point {
                    x,
                    y: f64::NAN,
                    band: None,
                },
            })
        })
        .collect()
}

/// The plot's reference as a grey line across the x values, if it has one.
fn reference(exp: &Experiment, x: usize, reference: &Option<Reference>) -> Option<Line> {
    let Reference { y, label } = reference.clone()?;
    let xs = exp.axes[x].values.iter().filter_map(|v| v.number);
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
        (l.min(x), h.max(x))
    });
    Some(Line::new(
        label,
        GREY,
        [lo, hi].map(|x| Point { x, y, band: None }).into(),
    ))
}

/// The palette index of grey, kept for reference lines.
const GREY: usize = 7;

/// Draws every figure of `exp` into `out`, reading the time series the
/// sweep kept in `sweep` (its directory, which `out` usually is). A mean
/// that is not a finite number (NaN or infinite, from a hand-edited or
/// corrupt runs.csv) is drawn as a gap, not as a value; the warnings
/// returned say which metrics had such cells.
pub fn draw_all(
    exp: &Experiment,
    points: &[PointStats],
    sweep: &Path,
    out: &Path,
) -> Result<Vec<String>, PlotError> {
    let (points, warnings) = finite(exp, points);
    for spec in &exp.plots {
        draw(exp, &points, spec, sweep, out)?;
    }
    Ok(warnings)
}

/// `points` with every non-finite mean (and its interval) left out, and a
/// warning per metric that had any.
fn finite(exp: &Experiment, points: &[PointStats]) -> (Vec<PointStats>, Vec<String>) {
    let mut left_out = vec![0usize; exp.metric_names.len()];
    let points = points
        .iter()
        .map(|p| {
            let mut p = p.clone();
            for (m, (mean, ci)) in p.mean.iter_mut().zip(&mut p.ci95).enumerate() {
                if mean.is_some_and(|v| !v.is_finite()) {
                    left_out[m] += 1;
                    (*mean, *ci) = (None, None);
                }
            }
            p
        })
        .collect();
    let warnings = exp
        .metric_names
        .iter()
        .zip(left_out)
        .filter(|(_, n)| *n > 0)
        .map(|(metric, n)| {
            format!(
                "{metric}: {n} of {} points have a mean that is not a finite number (NaN or infinite), drawn as gaps",
                exp.points.len()
            )
        })
        .collect();
    (points, warnings)
}

/// One line per series value of `metric` along axis `x`.
fn metric_lines(
    exp: &Experiment,
    points: &[PointStats],
    spec: &PlotSpec,
    x: usize,
    metric: &str,
) -> Vec<Line> {
    series(exp, spec)
        .into_iter()
        .map(|(s, label)| {
            Line::new(label, s, line_points(exp, points, spec, (x, s), metric))
                .marked(Marker::Circle)
        })
        .collect()
}

/// The time series of one column, kept for the point at `coords`, against minutes.
fn timeseries_line(
    exp: &Experiment,
    dir: &Path,
    coords: &[usize],
    column: &str,
) -> Result<Vec<Point>, PlotError> {
    let table = TimeseriesTable::read(&timeseries_path(dir, index(exp, coords)))?;
    // A counter's bins are rates per minute; a bin of a level without a
    // value (a latency where no loop completed) is a gap.
    let ys = if Counter::from_name(column).is_some() {
        per_minute(&table.column(column)?, &table.column(BIN_S)?)
    } else {
        let values = table.sparse_column(column)?;
        values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    };
    let starts = table.column(TIME_S)?;
    Ok(starts
        .iter()
        .zip(ys)
        .map(|(t, y)| Point {
            x: t / 60.0,
            y,
            band: None,
        })
        .collect())
}

/// Draws one plot into `out` as `<name>.png` and `<name>.svg`, reading kept
/// time series from `sweep`. A latency figure gets a second panel beneath
/// it: the failed share of the same points, so a policy that fails work
/// cannot look best by its survivors' latency.
pub fn draw(
    exp: &Experiment,
    points: &[PointStats],
    spec: &PlotSpec,
    sweep: &Path,
    out: &Path,
) -> Result<(), PlotError> {
    let figure = Figures {
        exp,
        points,
        spec,
        sweep,
        out,
    };
    match &spec.chart {
        Chart::Line {
            x,
            metric,
            log_y,
            reference,
        } => figure.line(*x, metric, *log_y, reference),
        Chart::Latency {
            x,
            prefix,
            log_y,
            reference,
        } => figure.latency(*x, prefix, *log_y, reference),
        Chart::Cdf => figure.cdf(),
        Chart::Timeseries { column, log_y } => figure.timeseries(column, *log_y),
        Chart::Heatmap { x, y, metric, slo } => figure.heatmap(*x, *y, metric, *slo),
        Chart::Bar { x, metric } => figure.bars(*x, metric),
    }
}

/// One plot of a sweep: what it is drawn from and where it goes.
struct Figures<'a> {
    exp: &'a Experiment,
    points: &'a [PointStats],
    spec: &'a PlotSpec,
    sweep: &'a Path,
    out: &'a Path,
}

impl Figures<'_> {
    /// Saves `chart`, with `failed` beneath it when its metric has a
    /// failed share to show.
    fn save_with(&self, chart: &impl Figure, failed: Option<impl Figure>) -> Result<(), PlotError> {
        save_with(chart, failed, self.out, &self.spec.name)
    }

    /// A line chart in the plot's title and style.
    fn line_chart(
        &self,
        subtitle: &str,
        x: Option<usize>,
        (y_label, y_scale): (String, Scale),
        log_y: bool,
        lines: Vec<Line>,
    ) -> LineChart {
        LineChart {
            title: self.spec.title.clone(),
            subtitle: subtitle_of(self.exp, self.spec, subtitle),
            x_label: axis_label(self.exp, x),
            y_label,
            y_scale,
            log_x: false,
            log_y,
            lines,
            spans: Vec::new(),
            x_clock: None,
            x_range: None,
        }
    }

    /// The failed share `share` of each series along axis `x`.
    fn failures_along(&self, x: usize, share: &str) -> LineChart {
        LineChart {
            title: FAILED_TITLE.to_owned(),
            ..self.line_chart(
                "mean, band = 95% CI",
                Some(x),
                (metric_label(share), Scale::of(share)),
                false,
                metric_lines(self.exp, self.points, self.spec, x, share),
            )
        }
    }

    fn line(
        &self,
        x: usize,
        metric: &str,
        log_y: bool,
        r: &Option<Reference>,
    ) -> Result<(), PlotError> {
        let mut lines = metric_lines(self.exp, self.points, self.spec, x, metric);
        lines.extend(reference(self.exp, x, r));
        let chart = self.line_chart(
            "mean, band = 95% CI",
            Some(x),
            (metric_label(metric), Scale::of(metric)),
            log_y,
            lines,
        );
        let failed = failed_share_of(self.exp, metric).map(|s| self.failures_along(x, &s));
        self.save_with(&chart, failed)
    }

    /// p50, p95 and p99 of `prefix` for each series along axis `x`.
    fn latency(
        &self,
        x: usize,
        prefix: &str,
        log_y: bool,
        r: &Option<Reference>,
    ) -> Result<(), PlotError> {
        let (exp, spec) = (self.exp, self.spec);
        let mut lines: Vec<Line> = reference(exp, x, r).into_iter().collect();
        for (s, label) in series(exp, spec) {
            for (marker, dash, shade, p) in [
                (Marker::Circle, Dash::Dotted, 0.55, "p50"),
                (Marker::Triangle, Dash::Dashed, 0.8, "p95"),
                (Marker::Cross, Dash::Solid, 1.0, "p99"),
            ] {
                let metric = format!("{prefix}.{p}");
                let points = line_points(exp, self.points, spec, (x, s), &metric);
                lines.push(
                    Line::new(format!("{label} {p}").trim().to_owned(), s, points)
                        .marked(marker)
                        .styled(dash, shade),
                );
            }
        }
        let y_label = match log_y {
            true => format!("{}, log scale", metric_label(prefix)),
            false => metric_label(prefix),
        };
        let chart = self.line_chart(
            "mean of each percentile, band = 95% CI",
            Some(x),
            (y_label, Scale::Plain),
            log_y,
            lines,
        );
        let failed = failed_share_of(exp, prefix).map(|s| self.failures_along(x, &s));
        self.save_with(&chart, failed)
    }

    /// Each series' loop-latency distribution, its failed share beside it.
    fn cdf(&self) -> Result<(), PlotError> {
        let (exp, spec, points) = (self.exp, self.spec, self.points);
        let lines = series(exp, spec)
            .into_iter()
            .map(|(s, label)| {
                let stats = at(exp, points, &coords(exp, spec, &[(spec.series, s)]));
                let points = CDF_QUANTILES
                    .iter()
                    .filter_map(|&q| {
                        let (mean, _) =
                            stats.get(exp, &format!("loop_latency_cdf_s.{}", quantile_name(q)));
                        Some(Point {
                            x: mean?,
                            y: q,
                            band: None,
                        })
                    })
                    .collect();
                Line::new(label, s, points).marked(Marker::Circle)
            })
            .collect();
        let chart = LineChart {
            x_label: "loop latency (s, log scale)".to_owned(),
            log_x: true,
            ..self.line_chart(
                "quantiles averaged over replications",
                None,
                ("share of loops done within".to_owned(), Scale::Percent),
                false,
                lines,
            )
        };
        // The failed share of each series, as bars beside the curves.
        let failures = BarChart {
            title: FAILED_TITLE.to_owned(),
            subtitle: subtitle_of(exp, spec, "mean, whiskers = 95% CI"),
            x_label: spec
                .series
                .map_or_else(String::new, |a| axis_label(exp, Some(a))),
            y_label: metric_label(FAILED_SHARE),
            y_scale: Scale::Percent,
            categories: series(exp, spec).into_iter().map(|(_, l)| l).collect(),
            bound: None,
            verdicts: Vec::new(),
            answer: None,
            groups: vec![BarGroup {
                label: String::new(),
                values: series(exp, spec)
                    .into_iter()
                    .map(|(s, _)| {
                        let c = coords(exp, spec, &[(spec.series, s)]);
                        let (mean, half) = at(exp, points, &c).get(exp, FAILED_SHARE);
                        mean.map(|m| (m, half))
                    })
                    .collect(),
            }],
        };
        self.save_with(&chart, Some(failures))
    }

    /// One column of each series' kept time series over simulated time.
    fn over_time(&self, column: &str, log_y: bool) -> Result<LineChart, PlotError> {
        let (exp, spec) = (self.exp, self.spec);
        let mut spans = Vec::new();
        let lines = series(exp, spec)
            .into_iter()
            .map(|(s, label)| {
                let c = coords(exp, spec, &[(spec.series, s)]);
                for span in model_spans(&exp.points[index(exp, &c)].spec) {
                    if !spans.contains(&span) {
                        spans.push(span);
                    }
                }
                let points = timeseries_line(exp, self.sweep, &c, column)?;
                Ok(Line::new(label, s, points))
            })
            .collect::<Result<Vec<_>, PlotError>>()?;
        let unit = if Counter::from_name(column).is_some() {
            "per minute, trailing 1-minute average"
        } else {
            "mean over each bin"
        };
        Ok(LineChart {
            x_label: "simulated time (min)".to_owned(),
            spans,
            ..self.line_chart(
                "replication 0 of each point",
                None,
                (
                    format!("{} ({unit})", column.replace('_', " ")),
                    Scale::Plain,
                ),
                log_y,
                lines,
            )
        })
    }

    fn timeseries(&self, column: &str, log_y: bool) -> Result<(), PlotError> {
        let chart = self.over_time(column, log_y)?;
        let failed = match catalogue::is_latency(column) {
            true => Some(LineChart {
                title: "loops failed (latency counts only those completed)".to_owned(),
                ..self.over_time(Counter::LoopsFailed.name(), false)?
            }),
            false => None,
        };
        self.save_with(&chart, failed)
    }

    /// `metric` over the grid of axes `x` and `y`, its failed share beneath.
    fn heatmap(&self, x: usize, y: usize, metric: &str, slo: Option<f64>) -> Result<(), PlotError> {
        let (exp, spec, points) = (self.exp, self.spec, self.points);
        let heatmap = |metric: &str, title: String, slo: Option<f64>| {
            let z = (0..exp.axes[y].values.len())
                .map(|yi| {
                    (0..exp.axes[x].values.len())
                        .map(|xi| {
                            let c = coords(exp, spec, &[(Some(x), xi), (Some(y), yi)]);
                            at(exp, points, &c).get(exp, metric).0
                        })
                        .collect()
                })
                .collect();
            let labels = |a: usize| exp.axes[a].values.iter().map(|v| v.label.clone()).collect();
            Heatmap {
                title,
                subtitle: subtitle_of(exp, spec, "mean per cell"),
                x_label: axis_label(exp, Some(x)),
                y_label: axis_label(exp, Some(y)),
                x_values: labels(x),
                y_values: labels(y),
                z,
                z_label: metric_label(metric),
                z_scale: Scale::of(metric),
                slo,
            }
        };
        let chart = heatmap(metric, spec.title.clone(), slo);
        let failed = failed_share_of(exp, metric)
            .map(|share| heatmap(&share, FAILED_TITLE.to_owned(), None));
        self.save_with(&chart, failed)
    }

    /// `metric` at each value of axis `x`, a bar per series, its failed share beneath.
    fn bars(&self, x: usize, metric: &str) -> Result<(), PlotError> {
        let (exp, spec, points) = (self.exp, self.spec, self.points);
        let bars = |metric: &str, title: String| BarChart {
            title,
            subtitle: subtitle_of(exp, spec, "mean, whiskers = 95% CI"),
            x_label: axis_label(exp, Some(x)),
            y_label: metric_label(metric),
            y_scale: Scale::of(metric),
            categories: exp.axes[x].values.iter().map(|v| v.label.clone()).collect(),
            bound: None,
            verdicts: Vec::new(),
            answer: None,
            groups: series(exp, spec)
                .into_iter()
                .map(|(s, label)| BarGroup {
                    label,
                    values: (0..exp.axes[x].values.len())
                        .map(|xi| {
                            let c = coords(exp, spec, &[(Some(x), xi), (spec.series, s)]);
                            let (mean, half) = at(exp, points, &c).get(exp, metric);
                            mean.map(|m| (m, half))
                        })
                        .collect(),
                })
                .collect(),
        };
        let chart = bars(metric, spec.title.clone());
        let failed = failed_share_of(exp, metric).map(|s| bars(&s, FAILED_TITLE.to_owned()));
        self.save_with(&chart, failed)
    }
}

/// The whole run's failed share, beside the loop-latency distribution.
const FAILED_SHARE: &str = "loops_failed_share";

/// The stretches of a model's time line a time-series plot shades.
fn model_spans(spec: &ModelSpec) -> Vec<Span> {
    let windows = spec.all_windows();
    shaded_spans(
        spec.warmup.as_secs_f64(),
        windows.iter().map(|w| {
            (
                w.kind.name(),
                w.name.as_str(),
                w.start.as_secs_f64(),
                w.end.as_secs_f64(),
            )
        }),
    )
}
