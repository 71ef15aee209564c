//! `size --out`: each SLO's metric against the axis, one figure an SLO:
//! the probes' means with their 95% intervals, the bound as a grey line
//! and the answer as a dashed vertical line; and the capacity's cost.
//! For `--plans`, the same as bars, one a plan, the answer's label starred.
//! Beneath a latency, the failed share of the loops it describes, so a
//! latency that looks good because most loops failed cannot mislead.

use std::path::Path;

use super::bar_chart::{BarChart, BarGroup};
use super::labels::{FAILED_TITLE, axis_path_label, metric_label};
use super::line_chart::{Dash, Line, LineChart, Marker, Point};
use super::{MEETS, MISSES, PlotError, Scale, save_with};

/// The palette indices of purple (the answer) and grey (the bound).
const PURPLE: usize = 4;
const GREY: usize = 7;

/// One SLO's metric over the probes.
pub struct SloSeries {
    pub metric: String,
    /// The SLO as written (or what the metric is, without one).
    pub text: String,
    /// The SLO's bound; none for a metric shown beside them (cost).
    pub bound: Option<f64>,
    /// Each probe's value (with `--plans`, the plan's index), its
    /// metric's mean and 95% half-width, and whether it meets: this SLO,
    /// or every SLO for a metric shown beside them.
    pub points: Vec<(i64, f64, f64, bool)>,
    /// For a latency: the failed share of the loops it describes, drawn
    /// beneath it.
    pub beneath: Option<Box<SloSeries>>,
}

/// The file a series is drawn to, without extension.
pub fn file_name(metric: &str) -> String {
    format!("sizing-{}", metric.replace('.', "-"))
}

/// Draws `sizing-<metric>.png` and `.svg` in `dir` for each SLO; returns
/// the names drawn.
pub fn draw(
    dir: &Path,
    axis: &str,
    series: &[SloSeries],
    answer: Option<i64>,
) -> Result<Vec<String>, PlotError> {
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0 as f64));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
        (l.min(x), h.max(x))
    });
    if lo > hi {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for slo in series {
        let chart = line_chart(slo, axis, (lo, hi), answer);
        let beneath = slo.beneath.as_deref().map(|failed| LineChart {
            title: FAILED_TITLE.to_owned(),
            ..line_chart(failed, axis, (lo, hi), answer)
        });
        let name = file_name(&slo.metric);
        save_with(&chart, beneath, dir, &name)?;
        names.push(name);
    }
    Ok(names)
}

/// `slo`'s probes along the axis from `lo` to `hi`, with its bound and
/// the answer.
fn line_chart(slo: &SloSeries, axis: &str, (lo, hi): (f64, f64), answer: Option<i64>) -> LineChart {
    let mut points: Vec<Point> = slo
        .points
        .iter()
        .map(|&(value, mean, half, _)| Point {
            x: value as f64,
            y: mean,
            band: Some((mean - half, mean + half)),
        })
        .collect();
    points.sort_by(|a, b| a.x.total_cmp(&b.x));
    let (y_lo, y_hi) = points
        .iter()
        .flat_map(|p| [p.band.map_or(p.y, |b| b.0), p.band.map_or(p.y, |b| b.1)])
        .chain(slo.bound)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
    let mut lines = vec![Line::new("probes (95% interval)".to_owned(), 0, points)];
    // Which probes meet, green ✓ circles, and which miss, red ✗ crosses.
    for (met, label, color, marker) in [
        (true, "meets (✓)", MEETS, Marker::Circle),
        (false, "misses (✗)", MISSES, Marker::Cross),
    ] {
        let marks: Vec<Point> = slo
            .points
            .iter()
            .filter(|p| p.3 == met)
            .map(|&(value, mean, _, _)| Point {
                x: value as f64,
                y: mean,
                band: None,
            })
            .collect();
        if !marks.is_empty() {
            lines.push(
                Line::new(label.to_owned(), color, marks)
                    .marked(marker)
                    .styled(Dash::None, 1.0),
            );
        }
    }
    if let Some(bound) = slo.bound {
        lines.push(Line::new(
            format!("bound: {}", slo.text),
            GREY,
            [lo, hi]
                .map(|x| Point {
                    x,
                    y: bound,
                    band: None,
                })
                .into(),
        ));
    }
    if let Some(answer) = answer {
        lines.push(
            Line::new(
                format!("answer: {answer}"),
                PURPLE,
                [y_lo, y_hi]
                    .map(|y| Point {
                        x: answer as f64,
                        y,
                        band: None,
                    })
                    .into(),
            )
            .styled(Dash::Dashed, 1.0),
        );
    }
    LineChart {
        title: format!(
            "{} against {}",
            metric_label(&slo.metric),
            axis_path_label(axis)
        ),
        subtitle: match slo.bound {
            Some(_) => format!("SLO {}; each probe's mean and 95% interval", slo.text),
            None => format!("{}; each probe's mean and 95% interval", slo.text),
        },
        x_label: axis_path_label(axis),
        y_label: metric_label(&slo.metric),
        y_scale: Scale::of(&slo.metric),
        log_x: false,
        log_y: false,
        lines,
        spans: Vec::new(),
        x_clock: None,
        x_range: None,
    }
}

/// Draws `sizing-<metric>.png` and `.svg` in `dir` for each series over
/// the `plans` (by index), the cheapest that meets (`answer`) starred;
/// returns the names drawn.
pub fn draw_plans(
    dir: &Path,
    plans: &[String],
    series: &[SloSeries],
    answer: Option<usize>,
) -> Result<Vec<String>, PlotError> {
    let categories: Vec<String> = plans
        .iter()
        .enumerate()
        .map(|(i, name)| match answer == Some(i) {
            true => format!("★ {name}"),
            false => name.clone(),
        })
        .collect();
    let mut names = Vec::new();
    for slo in series {
        let chart = bar_chart(slo, &categories, answer);
        let beneath = slo.beneath.as_deref().map(|failed| BarChart {
            title: FAILED_TITLE.to_owned(),
            ..bar_chart(failed, &categories, answer)
        });
        let name = file_name(&slo.metric);
        save_with(&chart, beneath, dir, &name)?;
        names.push(name);
    }
    Ok(names)
}

/// `slo`'s bar for each plan of `categories`, coloured by its verdict,
/// with its bound and the answer marked.
fn bar_chart(slo: &SloSeries, categories: &[String], answer: Option<usize>) -> BarChart {
    let mut values = vec![None; categories.len()];
    let mut verdicts = vec![None; categories.len()];
    for &(i, mean, half, met) in &slo.points {
        if let Ok(i) = usize::try_from(i)
            && i < categories.len()
        {
            values[i] = Some((mean, Some(half)));
            verdicts[i] = Some(met);
        }
    }
    BarChart {
        title: format!("{} of each plan", metric_label(&slo.metric)),
        subtitle: match slo.bound {
            Some(_) => format!(
                "SLO {}; mean, whiskers = 95% interval; green meets it, red misses; ★ the cheapest plan that meets every SLO",
                slo.text
            ),
            None => format!(
                "{}; mean, whiskers = 95% interval; green meets every SLO, red misses one",
                slo.text
            ),
        },
        x_label: "plan".to_owned(),
        y_label: metric_label(&slo.metric),
        y_scale: Scale::of(&slo.metric),
        categories: categories.to_vec(),
        groups: vec![BarGroup {
            label: String::new(),
            values,
        }],
        bound: slo.bound.map(|b| (b, format!("bound: {}", slo.text))),
        verdicts,
        answer,
    }
}
