//! The figures an experiment asks for, drawn from a finished sweep's
//! directory alone: its points' statistics and the time series it kept.

use std::path::Path;

use super::bar_chart::{BarChart, BarGroup};
use super::heatmap::Heatmap;
use super::line_chart::{Dash, Line, LineChart, Marker, Point, Span};
use super::timeseries_plot::{per_minute, shaded_spans};
use super::{PlotError, save, save_stacked};
use crate::config::experiment::Experiment;
use crate::config::plot_spec::{Chart, PlotSpec, Reference};
use crate::model::ModelSpec;
use crate::model::summary::{CDF_QUANTILES, quantile_name};
use crate::model::timeseries::Counter;
use crate::model::window::windows;
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

/// A metric's name in words, its unit spelled out and its scope last, read
/// from the naming convention (`_s` seconds, `_per_min` per minute, `_usd`
/// US dollars; `classes.C.`, `windows.W.`, `faults.N.` scopes; a trailing
/// `p99`, `max` or `mean` statistic): `windows.surge-a-1.loop_latency_s.p99`
/// is "p99 loop latency (s), window surge-a-1".
pub fn metric_label(metric: &str) -> String {
    let mut parts: Vec<&str> = metric.split('.').collect();
    let scope = match parts.as_slice() {
        ["classes", name, ..] => Some(format!("class {name}")),
        ["windows", name, ..] => Some(format!("window {name}")),
        ["faults", n, ..] => Some(format!("fault {n}")),
        _ => None,
    };
    if scope.is_some() && parts.len() > 2 {
        parts.drain(..2);
    }
    let stat = match parts.last() {
        Some(&last) if parts.len() > 1 && is_statistic(last) => parts.pop(),
        _ => None,
    };
    let base = parts.join(" ");
    let (base, unit) = if let Some(b) = base.strip_suffix("_usd") {
        (b.to_owned(), " (US$)")
    } else if let Some(b) = base.strip_suffix("_s") {
        (b.to_owned(), " (s)")
    } else {
        (base, "")
    };
    let words = in_words(&base);
    let mut label = match stat {
        Some(stat) => format!("{stat} {words}{unit}"),
        None => format!("{words}{unit}"),
    };
    if let Some(scope) = scope {
        label.push_str(&format!(", {scope}"));
    }
    label
}

fn is_statistic(part: &str) -> bool {
    matches!(part, "max" | "mean" | "min")
        || part
            .strip_prefix('p')
            .is_some_and(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// An axis's path in words: `workload.developers.users` is "users
/// (developers)", `capacity.max_concurrency` "max concurrency".
pub fn axis_path_label(path: &str) -> String {
    match path.split_once('.') {
        Some(("workload", rest)) => match rest.split_once('.') {
            Some((class, field)) => format!("{} ({class})", in_words(field)),
            None => in_words(rest),
        },
        Some(("capacity" | "agents", rest)) => in_words(rest),
        _ => in_words(path),
    }
}

/// A name in words: rates spelled out, underscores and dots as spaces.
fn in_words(name: &str) -> String {
    name.replace("per_min", "per minute")
        .replace("per_dollar", "per US dollar")
        .replace(['_', '.'], " ")
}

fn axis_label(exp: &Experiment, axis: Option<usize>) -> String {
    axis.map_or_else(String::new, |a| axis_path_label(&exp.axes[a].path))
}

/// Whether a metric is a latency or a drain time, which describes only the
/// loops that completed, so its figure needs the failed share beside it.
fn is_latency(metric: &str) -> bool {
    latency_part(metric).is_some()
}

/// Which dotted part of `metric` names a latency or a wait, if one does.
fn latency_part(metric: &str) -> Option<usize> {
    metric
        .split('.')
        .position(|part| part.contains("latency") || part.contains("wait"))
}

/// The failed share of the loops a latency metric describes: the same
/// class's or window's, or the whole run's.
fn failed_share_of(exp: &Experiment, metric: &str) -> Option<String> {
    let parts: Vec<&str> = metric.split('.').collect();
    let scope = &parts[..latency_part(metric)?];
    let share = scope
        .iter()
        .chain(std::iter::once(&"loops_failed_share"))
        .copied()
        .collect::<Vec<_>>()
        .join(".");
    exp.metric_names.contains(&share).then_some(share)
}

/// The failed-share panel's title.
const FAILED_TITLE: &str = "share of loops failed (latency counts only those completed)";

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
    let values = table.column(column)?;
    let ys = if Counter::from_name(column).is_some() {
        per_minute(&values, &table.column(BIN_S)?)
    } else {
        values
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
    let line_chart = |subtitle: &str, x: Option<usize>, y_label: String, log_y, lines| LineChart {
        title: spec.title.clone(),
        subtitle: self::subtitle(exp, spec, subtitle),
        x_label: axis_label(exp, x),
        y_label,
        log_x: false,
        log_y,
        lines,
        spans: Vec::new(),
    };
    let failures_along = |x: usize, share: &str| LineChart {
        title: FAILED_TITLE.to_owned(),
        ..line_chart(
            "mean, band = 95% CI",
            Some(x),
            metric_label(share),
            false,
            metric_lines(exp, points, spec, x, share),
        )
    };
    match &spec.chart {
        Chart::Line {
            x,
            metric,
            log_y,
            reference: r,
        } => {
            let mut lines = metric_lines(exp, points, spec, *x, metric);
            lines.extend(reference(exp, *x, r));
            let chart = line_chart(
                "mean, band = 95% CI",
                Some(*x),
                metric_label(metric),
                *log_y,
                lines,
            );
            match failed_share_of(exp, metric) {
                Some(share) => save_stacked(&chart, &failures_along(*x, &share), out, &spec.name),
                None => save(&chart, out, &spec.name),
            }
        }
        Chart::Latency {
            x,
            prefix,
            log_y,
            reference: r,
        } => {
            let mut lines: Vec<Line> = reference(exp, *x, r).into_iter().collect();
            for (s, label) in series(exp, spec) {
                for (marker, dash, shade, p) in [
                    (Marker::Circle, Dash::Dotted, 0.55, "p50"),
                    (Marker::Triangle, Dash::Dashed, 0.8, "p95"),
                    (Marker::Cross, Dash::Solid, 1.0, "p99"),
                ] {
                    let points = line_points(exp, points, spec, (*x, s), &format!("{prefix}.{p}"));
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
            let chart = line_chart(
                "mean of each percentile, band = 95% CI",
                Some(*x),
                y_label,
                *log_y,
                lines,
            );
            match failed_share_of(exp, prefix) {
                Some(share) => save_stacked(&chart, &failures_along(*x, &share), out, &spec.name),
                None => save(&chart, out, &spec.name),
            }
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
                    Line::new(label, s, points).marked(Marker::Circle)
                })
                .collect();
            let chart = LineChart {
                x_label: "loop latency (s, log scale)".to_owned(),
                log_x: true,
                ..line_chart(
                    "quantiles averaged over replications",
                    None,
                    "share of loops done within".to_owned(),
                    false,
                    lines,
                )
            };
            // The failed share of each series, as bars beside the curves.
            let failures = BarChart {
                title: FAILED_TITLE.to_owned(),
                subtitle: self::subtitle(exp, spec, "mean, whiskers = 95% CI"),
                x_label: spec
                    .series
                    .map_or_else(String::new, |a| axis_label(exp, Some(a))),
                y_label: metric_label(FAILED_SHARE),
                categories: series(exp, spec).into_iter().map(|(_, l)| l).collect(),
                bound: None,
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
            save_stacked(&chart, &failures, out, &spec.name)
        }
        Chart::Timeseries { column, log_y } => {
            let over_time = |column: &str, log_y: bool| -> Result<LineChart, PlotError> {
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
                        Ok(Line::new(
                            label,
                            s,
                            timeseries_line(exp, sweep, &c, column)?,
                        ))
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
                    ..line_chart(
                        "replication 0 of each point",
                        None,
                        format!("{} ({unit})", column.replace('_', " ")),
                        log_y,
                        lines,
                    )
                })
            };
            let chart = over_time(column, *log_y)?;
            if is_latency(column) {
                let failed = LineChart {
                    title: "loops failed (latency counts only those completed)".to_owned(),
                    ..over_time(Counter::LoopsFailed.name(), false)?
                };
                save_stacked(&chart, &failed, out, &spec.name)
            } else {
                save(&chart, out, &spec.name)
            }
        }
        Chart::Heatmap { x, y, metric, slo } => {
            let (x, y) = (*x, *y);
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
                let labels =
                    |a: usize| exp.axes[a].values.iter().map(|v| v.label.clone()).collect();
                Heatmap {
                    title,
                    subtitle: self::subtitle(exp, spec, "mean per cell"),
                    x_label: axis_label(exp, Some(x)),
                    y_label: axis_label(exp, Some(y)),
                    x_values: labels(x),
                    y_values: labels(y),
                    z,
                    z_label: metric_label(metric),
                    slo,
                }
            };
            let chart = heatmap(metric, spec.title.clone(), *slo);
            match failed_share_of(exp, metric) {
                Some(share) => save_stacked(
                    &chart,
                    &heatmap(&share, FAILED_TITLE.to_owned(), None),
                    out,
                    &spec.name,
                ),
                None => save(&chart, out, &spec.name),
            }
        }
        Chart::Bar { x, metric } => {
            let x = *x;
            let bars = |metric: &str, title: String| BarChart {
                title,
                subtitle: self::subtitle(exp, spec, "mean, whiskers = 95% CI"),
                x_label: axis_label(exp, Some(x)),
                y_label: metric_label(metric),
                categories: exp.axes[x].values.iter().map(|v| v.label.clone()).collect(),
                bound: None,
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
            match failed_share_of(exp, metric) {
                Some(share) => save_stacked(
                    &chart,
                    &bars(&share, FAILED_TITLE.to_owned()),
                    out,
                    &spec.name,
                ),
                None => save(&chart, out, &spec.name),
            }
        }
    }
}

/// The whole run's failed share, beside the loop-latency distribution.
const FAILED_SHARE: &str = "loops_failed_share";

/// The stretches of a model's time line a time-series plot shades.
fn model_spans(spec: &ModelSpec) -> Vec<Span> {
    let windows = windows(spec);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_words_with_units_and_scope() {
        assert_eq!(metric_label("loop_latency_s.p99"), "p99 loop latency (s)");
        assert_eq!(metric_label("loops_per_min"), "loops per minute");
        assert_eq!(
            metric_label("classes.big.loops_per_min"),
            "loops per minute, class big"
        );
        assert_eq!(
            metric_label("windows.surge-a-1.loop_latency_s.p99"),
            "p99 loop latency (s), window surge-a-1"
        );
        assert_eq!(metric_label("queue_wait_s.mean"), "mean queue wait (s)");
        assert_eq!(metric_label("cost_usd"), "cost (US$)");
        assert_eq!(metric_label("loops_per_dollar"), "loops per US dollar");
        assert_eq!(
            metric_label("loop_latency_cdf_s.p99_9"),
            "p99_9 loop latency cdf (s)"
        );
        assert_eq!(metric_label("rate_limited"), "rate limited");
    }

    #[test]
    fn axis_labels_are_words() {
        assert_eq!(
            axis_path_label("workload.developers.users"),
            "users (developers)"
        );
        assert_eq!(
            axis_path_label("workload.customers.arrivals.per_min"),
            "arrivals per minute (customers)"
        );
        assert_eq!(
            axis_path_label("capacity.max_concurrency"),
            "max concurrency"
        );
        assert_eq!(axis_path_label("client.backoff"), "client backoff");
        assert_eq!(axis_path_label("plan"), "plan");
    }
}
