//! The figures an experiment asks for, drawn from a finished sweep's
//! directory alone: its points' statistics and the time series it kept.

use std::path::Path;

use super::bar_chart::{BarChart, BarGroup};
use super::heatmap::Heatmap;
use super::line_chart::{Line, LineChart, Marker, Point};
use super::timeseries_plot::per_minute;
use super::{PlotError, save};
use crate::config::experiment::Experiment;
use crate::config::plot_spec::{Chart, PlotSpec, Reference};
use crate::model::summary::{CDF_QUANTILES, quantile_name};
use crate::model::timeseries::Counter;
use crate::report::timeseries_csv::{BIN_S, TIME_S, TimeseriesTable};
use crate::sweep::point_stats::PointStats;
use crate::sweep::timeseries_path;

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

fn subtitle(exp: &Experiment, spec: &PlotSpec, what: &str) -> String {
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

/// A metric's name with its unit spelled out, read from the naming
/// convention: `_s` seconds, `_per_min` per minute, `_usd` US dollars.
fn metric_label(metric: &str) -> String {
    let base = metric
        .split('.')
        .rev()
        .find(|part| part.ends_with("_s") || part.contains("per_") || part.ends_with("_usd"));
    let unit = match base {
        Some(b) if b.ends_with("_s") => "seconds",
        Some(b) if b.ends_with("per_min") => "per minute",
        Some(b) if b.ends_with("per_dollar") => "per US dollar",
        Some(b) if b.ends_with("_usd") => "US dollars",
        _ => return metric.to_owned(),
    };
    format!("{metric} ({unit})")
}

fn axis_label(exp: &Experiment, axis: Option<usize>) -> String {
    axis.map_or_else(String::new, |a| exp.axes[a].path.clone())
}

/// Points of `metric` along the x axis for one series value, with CI bands.
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
            let y = mean?;
            Some(Point {
                x: xv.number?,
                y,
                band: half.map(|h| (y - h, y + h)),
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
    Some(Line {
        label,
        color: GREY,
        marker: Marker::None,
        points: [lo, hi].map(|x| Point { x, y, band: None }).into(),
    })
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
        .map(|(s, label)| Line {
            label,
            color: s,
            marker: Marker::Circle,
            points: line_points(exp, points, spec, (x, s), metric),
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
    let table = TimeseriesTable::read(&timeseries_path(dir, index(exp, coords)))
        .map_err(PlotError::Data)?;
    let values = table.column(column).map_err(PlotError::Data)?;
    let ys = if Counter::from_name(column).is_some() {
        per_minute(&values, &table.column(BIN_S).map_err(PlotError::Data)?)
    } else {
        values
    };
    let starts = table.column(TIME_S).map_err(PlotError::Data)?;
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
/// time series from `sweep`.
pub fn draw(
    exp: &Experiment,
    points: &[PointStats],
    spec: &PlotSpec,
    sweep: &Path,
    out: &Path,
) -> Result<(), PlotError> {
    match &spec.chart {
        Chart::Line {
            x,
            metric,
            log_y,
            reference: r,
        } => {
            let mut lines = metric_lines(exp, points, spec, *x, metric);
            lines.extend(reference(exp, *x, r));
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean, band = 95% CI"),
                x_label: axis_label(exp, Some(*x)),
                y_label: metric_label(metric),
                log_x: false,
                log_y: *log_y,
                lines,
            };
            save(&chart, out, &spec.name)
        }
        Chart::Latency {
            x,
            prefix,
            log_y,
            reference: r,
        } => {
            let mut lines: Vec<Line> = reference(exp, *x, r).into_iter().collect();
            for (s, label) in series(exp, spec) {
                for (marker, p) in [
                    (Marker::Circle, "p50"),
                    (Marker::Triangle, "p95"),
                    (Marker::Cross, "p99"),
                ] {
                    lines.push(Line {
                        label: format!("{label} {p}").trim().to_owned(),
                        color: s,
                        marker,
                        points: line_points(exp, points, spec, (*x, s), &format!("{prefix}.{p}")),
                    });
                }
            }
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean of each percentile, band = 95% CI"),
                x_label: axis_label(exp, Some(*x)),
                y_label: format!("{}, log scale", metric_label(prefix)),
                log_x: false,
                log_y: *log_y,
                lines,
            };
            save(&chart, out, &spec.name)
        }
        Chart::Cdf => {
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
                    Line {
                        label,
                        color: s,
                        marker: Marker::Circle,
                        points,
                    }
                })
                .collect();
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "quantiles averaged over replications"),
                x_label: "loop latency (s, log scale)".to_owned(),
                y_label: "share of loops done within".to_owned(),
                log_x: true,
                log_y: false,
                lines,
            };
            save(&chart, out, &spec.name)
        }
        Chart::Timeseries { column, log_y } => {
            let lines = series(exp, spec)
                .into_iter()
                .map(|(s, label)| {
                    let c = coords(exp, spec, &[(spec.series, s)]);
                    Ok(Line {
                        label,
                        color: s,
                        marker: Marker::None,
                        points: timeseries_line(exp, sweep, &c, column)?,
                    })
                })
                .collect::<Result<Vec<_>, PlotError>>()?;
            let unit = if Counter::from_name(column).is_some() {
                "per minute, trailing 1-minute average"
            } else {
                "mean over each bin"
            };
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "replication 0 of each point"),
                x_label: "simulated time (min)".to_owned(),
                y_label: format!("{column} ({unit})"),
                log_x: false,
                log_y: *log_y,
                lines,
            };
            save(&chart, out, &spec.name)
        }
        Chart::Heatmap { x, y, metric, slo } => {
            let (x, y) = (*x, *y);
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
            let chart = Heatmap {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean per cell"),
                x_label: axis_label(exp, Some(x)),
                y_label: axis_label(exp, Some(y)),
                x_values: labels(x),
                y_values: labels(y),
                z,
                z_label: metric_label(metric),
                slo: *slo,
            };
            save(&chart, out, &spec.name)
        }
        Chart::Bar { x, metric } => {
            let x = *x;
            let groups = series(exp, spec)
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
                .collect();
            let chart = BarChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean, whiskers = 95% CI"),
                x_label: axis_label(exp, Some(x)),
                y_label: metric_label(metric),
                categories: exp.axes[x].values.iter().map(|v| v.label.clone()).collect(),
                groups,
            };
            save(&chart, out, &spec.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_spell_out_units() {
        assert_eq!(
            metric_label("loop_latency_s.p99"),
            "loop_latency_s.p99 (seconds)"
        );
        assert_eq!(metric_label("loops_per_min"), "loops_per_min (per minute)");
        assert_eq!(
            metric_label("classes.big.loops_per_min"),
            "classes.big.loops_per_min (per minute)"
        );
        assert_eq!(metric_label("cost_usd"), "cost_usd (US dollars)");
        assert_eq!(
            metric_label("loops_per_dollar"),
            "loops_per_dollar (per US dollar)"
        );
        assert_eq!(metric_label("rate_limited"), "rate_limited");
    }
}
