//! The plots an experiment asks for, built from its points' statistics.

use std::path::Path;

use super::experiment::{Experiment, PlotKind, PlotSpec};
use super::point_stats::PointStats;
use crate::model;
use crate::model::summary::{CDF_QUANTILES, quantile_name};
use crate::model::timeseries::{Counter, Gauge};
use crate::plot::bar_chart::{BarChart, BarGroup};
use crate::plot::heatmap::Heatmap;
use crate::plot::line_chart::{Line, LineChart, Marker, Point};
use crate::plot::save;
use crate::plot::timeseries_plot::per_minute;

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
    s: usize,
    metric: &str,
) -> Vec<Point> {
    let x = spec.x.expect("validated: line plots have x");
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
fn reference(exp: &Experiment, spec: &PlotSpec) -> Option<Line> {
    let (y, label) = spec.reference.clone()?;
    let xs = exp.axes[spec.x?].values.iter().filter_map(|v| v.number);
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

/// Draws one plot into `dir` as `<name>.png` and `<name>.svg`.
pub fn draw(
    exp: &Experiment,
    points: &[PointStats],
    spec: &PlotSpec,
    dir: &Path,
) -> anyhow::Result<()> {
    match spec.kind {
        PlotKind::Line => {
            let metric = spec.y.as_deref().expect("validated");
            let lines = series(exp, spec)
                .into_iter()
                .map(|(s, label)| Line {
                    label,
                    color: s,
                    marker: Marker::Circle,
                    points: line_points(exp, points, spec, s, metric),
                })
                .chain(reference(exp, spec))
                .collect();
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean, band = 95% CI"),
                x_label: axis_label(exp, spec.x),
                y_label: metric_label(metric),
                log_x: false,
                log_y: spec.log_y,
                lines,
            };
            save(&chart, dir, &spec.name)
        }
        PlotKind::Latency => {
            let prefix = spec.y.as_deref().expect("validated");
            let mut lines: Vec<Line> = reference(exp, spec).into_iter().collect();
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
                        points: line_points(exp, points, spec, s, &format!("{prefix}.{p}")),
                    });
                }
            }
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "mean of each percentile, band = 95% CI"),
                x_label: axis_label(exp, spec.x),
                y_label: format!("{}, log scale", metric_label(prefix)),
                log_x: false,
                log_y: spec.log_y,
                lines,
            };
            save(&chart, dir, &spec.name)
        }
        PlotKind::Cdf => {
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
            save(&chart, dir, &spec.name)
        }
        PlotKind::Timeseries => {
            let column = spec.y.as_deref().expect("validated");
            let counter = Counter::from_name(column);
            let lines = series(exp, spec)
                .into_iter()
                .map(|(s, label)| {
                    let c = coords(exp, spec, &[(spec.series, s)]);
                    let point = index(exp, &c);
                    let run = model::simulate(&exp.run_spec(point, 0), true);
                    let bins = run.timeseries.expect("asked for").bins().to_vec();
                    let bin_s: Vec<f64> = bins.iter().map(|b| b.length.as_secs_f64()).collect();
                    let ys = match (counter, Gauge::from_name(column)) {
                        (Some(counter), _) => {
                            let counts: Vec<f64> = bins
                                .iter()
                                .map(|b| b.counts[counter as usize] as f64)
                                .collect();
                            per_minute(&counts, &bin_s)
                        }
                        (None, Some(gauge)) => {
                            bins.iter().map(|b| b.mean[gauge as usize]).collect()
                        }
                        (None, None) => unreachable!("validated"),
                    };
                    Line {
                        label,
                        color: s,
                        marker: Marker::None,
                        points: bins
                            .iter()
                            .zip(ys)
                            .map(|(b, y)| Point {
                                x: b.start.as_secs_f64() / 60.0,
                                y,
                                band: None,
                            })
                            .collect(),
                    }
                })
                .collect();
            let unit = if counter.is_some() {
                "per minute, trailing 1-minute average"
            } else {
                "mean over each bin"
            };
            let chart = LineChart {
                title: spec.title.clone(),
                subtitle: subtitle(exp, spec, "replication 0 of each point, run again"),
                x_label: "simulated time (min)".to_owned(),
                y_label: format!("{column} ({unit})"),
                log_x: false,
                log_y: spec.log_y,
                lines,
            };
            save(&chart, dir, &spec.name)
        }
        PlotKind::Heatmap => {
            let (x, y) = (spec.x.expect("validated"), spec.y_axis.expect("validated"));
            let metric = spec.z.as_deref().expect("validated");
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
                slo: spec.slo,
            };
            save(&chart, dir, &spec.name)
        }
        PlotKind::Bar => {
            let x = spec.x.expect("validated");
            let metric = spec.y.as_deref().expect("validated");
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
            save(&chart, dir, &spec.name)
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
