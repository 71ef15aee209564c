//! `[[plot]]` tables of an experiment: a `kind` and that kind's own fields,
//! checked against the grid's axes and the metrics of `runs.csv`.

use serde::Deserialize;

use super::checks::Checked;
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::grid::{self, Axis};
use super::quantity::Number;
use super::tagged::Variants;
use crate::model::measure::timeseries::{Counter, Gauge, LOOP_LATENCY};

/// A validated plot: what it draws, and where the axes it does not show stand.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSpec {
    /// The file name, without extension.
    pub name: String,
    pub title: String,
    /// The axis drawn as one line (or bar group) per value.
    pub series: Option<usize>,
    /// The value index of every axis the plot does not show.
    pub fixed: Vec<(usize, usize)>,
    pub chart: Chart,
}

/// What a plot draws; axes are indices into the experiment's axes.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// A metric against a numeric axis, one line per series value, 95% CI band.
    Line {
        x: usize,
        metric: String,
        log_y: bool,
        reference: Option<Reference>,
    },
    /// The p50, p95 and p99 of a latency metric (`prefix.p50`, ...) against a numeric axis.
    Latency {
        x: usize,
        prefix: String,
        log_y: bool,
        reference: Option<Reference>,
    },
    /// The loop-latency distribution, one curve per series value.
    Cdf,
    /// A metric over two axes, with an optional SLO contour.
    Heatmap {
        x: usize,
        y: usize,
        metric: String,
        slo: Option<f64>,
    },
    /// A metric per value of a (categorical) axis, with 95% CI whiskers.
    Bar { x: usize, metric: String },
    /// A timeseries.csv column over simulated time, one line per series
    /// value, from each point's first replication.
    Timeseries { column: String, log_y: bool },
}

/// A horizontal line at `y`, e.g. an ideal or a tier's limit.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawPlot {
    Line(RawLine),
    Latency(RawLatency),
    Cdf(RawCdf),
    Heatmap(RawHeatmap),
    Bar(RawBar),
    Timeseries(RawTimeseries),
}

impl Variants for RawPlot {
    const TAG: &'static str = "kind";
    type Common = RawCommon;
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLine {
    x: String,
    y: String,
    log_y: Option<bool>,
    reference: Option<Number>,
    reference_label: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    x: String,
    /// The metric prefix (default `loop_latency_s`).
    y: Option<String>,
    log_y: Option<bool>,
    reference: Option<Number>,
    reference_label: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCdf {}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHeatmap {
    x: String,
    /// An axis, not a metric.
    y: String,
    z: String,
    slo: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBar {
    x: String,
    y: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTimeseries {
    /// The column (default `loops_completed`).
    y: Option<String>,
    log_y: Option<bool>,
}

/// What a plot's axes and metrics are checked against.
pub struct PlotContext<'a> {
    pub axes: &'a [Axis],
    /// The columns of runs.csv after the axes.
    pub metrics: &'a [String],
}

impl PlotContext<'_> {
    fn axis(&self, at: &FieldPath, name: &str) -> Checked<usize> {
        self.axes
            .iter()
            .position(|a| a.path == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.axes.iter().map(|a| a.path.as_str()).collect();
                Invalid::new(
                    at,
                    format!("`{name}` is not a grid axis (axes: {})", names.join(", ")),
                )
            })
    }

    fn numeric_axis(&self, at: &FieldPath, name: &str) -> Checked<usize> {
        let a = self.axis(at, name)?;
        if self.axes[a].is_numeric() {
            Ok(a)
        } else {
            Err(Invalid::new(
                at,
                format!("`{name}` has values that are not numbers: plot it with kind = \"bar\""),
            ))
        }
    }

    fn metric(&self, at: &FieldPath, name: &str) -> Checked<String> {
        if self.metrics.iter().any(|m| m == name) {
            Ok(name.to_owned())
        } else {
            Err(Invalid::new(
                at,
                format!(
                    "`{name}` is not a metric; metrics are runs.csv's columns, e.g. loops_per_min, loop_latency_s.p99, rate_limited"
                ),
            ))
        }
    }

    fn latency_prefix(&self, at: &FieldPath, prefix: Option<String>) -> Checked<String> {
        let prefix = prefix.unwrap_or_else(|| "loop_latency_s".to_owned());
        if self.metrics.contains(&format!("{prefix}.p99")) {
            Ok(prefix)
        } else {
            Err(Invalid::new(
                at,
                format!(
                    "`{prefix}` has no p50/p95/p99: use loop_latency_s, step_latency_s or queue_wait_s"
                ),
            ))
        }
    }
}

fn timeseries_column(at: &FieldPath, column: Option<String>) -> Checked<String> {
    let column = column.unwrap_or_else(|| Counter::LoopsCompleted.name().to_owned());
    let columns: Vec<&str> = Counter::ALL
        .iter()
        .map(|c| c.name())
        .chain(Gauge::ALL.iter().map(|g| g.name()))
        .chain(LOOP_LATENCY)
        .collect();
    if columns.contains(&column.as_str()) {
        return Ok(column);
    }
    Err(Invalid::new(
        at,
        format!(
            "`{column}` is not a timeseries column ({})",
            columns.join(", ")
        ),
    ))
}

fn reference(
    at: &FieldPath,
    y: Option<Number>,
    label: Option<String>,
) -> Checked<Option<Reference>> {
    match (y, label) {
        (Some(y), label) => Ok(Some(Reference {
            y: y.0,
            label: label.unwrap_or_else(|| "reference".to_owned()),
        })),
        (None, Some(_)) => Err(Invalid::new(
            at.child("reference_label"),
            "labels a reference: set `reference` too",
        )),
        (None, None) => Ok(None),
    }
}

/// The fields every kind of plot has.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCommon {
    /// The axis drawn as one line (or bar group) per value.
    series: Option<String>,
    title: Option<String>,
    /// The file name, without extension.
    name: Option<String>,
    /// Values for the axes the plot does not show (default: each axis's first).
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    at: toml::Table,
}

impl RawPlot {
    pub fn check(
        self,
        common: RawCommon,
        at: &FieldPath,
        cx: &PlotContext<'_>,
    ) -> Checked<PlotSpec> {
        let field = |name: &str| at.child(name);
        let chart = match self {
            RawPlot::Line(p) => Chart::Line {
                x: cx.numeric_axis(&field("x"), &p.x)?,
                metric: cx.metric(&field("y"), &p.y)?,
                log_y: p.log_y.unwrap_or(false),
                reference: reference(at, p.reference, p.reference_label)?,
            },
            RawPlot::Latency(p) => Chart::Latency {
                x: cx.numeric_axis(&field("x"), &p.x)?,
                prefix: cx.latency_prefix(&field("y"), p.y)?,
                log_y: p.log_y.unwrap_or(true),
                reference: reference(at, p.reference, p.reference_label)?,
            },
            RawPlot::Cdf(RawCdf {}) => Chart::Cdf,
            RawPlot::Heatmap(p) => {
                if common.series.is_some() {
                    return Err(Invalid::new(
                        field("series"),
                        "a heatmap has no series: its y is an axis",
                    ));
                }
                Chart::Heatmap {
                    x: cx.axis(&field("x"), &p.x)?,
                    y: cx.axis(&field("y"), &p.y)?,
                    metric: cx.metric(&field("z"), &p.z)?,
                    slo: p.slo.map(|n| n.0).filter(|s| s.is_finite()),
                }
            }
            RawPlot::Bar(p) => Chart::Bar {
                x: cx.axis(&field("x"), &p.x)?,
                metric: cx.metric(&field("y"), &p.y)?,
            },
            RawPlot::Timeseries(p) => Chart::Timeseries {
                column: timeseries_column(&field("y"), p.y)?,
                log_y: p.log_y.unwrap_or(false),
            },
        };
        let series = common
            .series
            .as_deref()
            .map(|s| cx.axis(&field("series"), s))
            .transpose()?;
        let shown: Vec<usize> = chart.axes().into_iter().chain(series).collect();
        if let Some(dup) = shown
            .iter()
            .enumerate()
            .find(|(i, a)| shown[..*i].contains(a))
        {
            return Err(Invalid::new(
                field("series"),
                format!("`{}` is used twice", cx.axes[*dup.1].path),
            ));
        }
        let fixed = fixed_axes(&field("at"), cx.axes, &shown, &common.at)?;
        let name = common.name.unwrap_or_else(|| chart.default_name(cx.axes));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(Invalid::new(
                field("name"),
                "use letters, digits, - and _ only",
            ));
        }
        Ok(PlotSpec {
            name,
            title: common.title.unwrap_or_else(|| chart.default_title()),
            series,
            fixed,
            chart,
        })
    }
}

/// The value index of each axis the plot does not show: from `at`, else the first.
fn fixed_axes(
    at: &FieldPath,
    axes: &[Axis],
    shown: &[usize],
    values: &toml::Table,
) -> Checked<Vec<(usize, usize)>> {
    if let Some(key) = values.keys().find(|k| !axes.iter().any(|a| a.path == **k)) {
        return Err(Invalid::new(at, format!("`{key}` is not a grid axis")));
    }
    let mut fixed = Vec::new();
    for (a, axis) in axes.iter().enumerate().filter(|(a, _)| !shown.contains(a)) {
        let value = match values.get(&axis.path) {
            None => 0,
            Some(v) => {
                let wanted = grid::label(v);
                axis.values
                    .iter()
                    .position(|x| x.label == wanted || x.value == *v)
                    .ok_or_else(|| {
                        Invalid::new(at, format!("`{}` has no value {wanted}", axis.path))
                    })?
            }
        };
        fixed.push((a, value));
    }
    Ok(fixed)
}

impl Chart {
    /// The grid axes the chart draws along (x, and y for heatmaps).
    pub fn axes(&self) -> Vec<usize> {
        match *self {
            Chart::Line { x, .. } | Chart::Latency { x, .. } | Chart::Bar { x, .. } => vec![x],
            Chart::Heatmap { x, y, .. } => vec![x, y],
            Chart::Cdf | Chart::Timeseries { .. } => Vec::new(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Chart::Line { .. } => "line",
            Chart::Latency { .. } => "latency",
            Chart::Cdf => "cdf",
            Chart::Heatmap { .. } => "heatmap",
            Chart::Bar { .. } => "bar",
            Chart::Timeseries { .. } => "timeseries",
        }
    }

    /// The metric (or latency prefix, or timeseries column) it draws.
    fn metric(&self) -> Option<&str> {
        match self {
            Chart::Line { metric, .. }
            | Chart::Heatmap { metric, .. }
            | Chart::Bar { metric, .. } => Some(metric),
            Chart::Latency { prefix, .. } => Some(prefix),
            Chart::Timeseries { column, .. } => Some(column),
            Chart::Cdf => None,
        }
    }

    /// `<kind>-<metric>-<x axis>`, with dots and spaces as underscores.
    fn default_name(&self, axes: &[Axis]) -> String {
        let mut parts: Vec<&str> = vec![self.kind()];
        parts.extend(self.metric());
        parts.extend(self.axes().first().map(|&a| axes[a].path.as_str()));
        parts.join("-").replace(['.', ' '], "_")
    }

    fn default_title(&self) -> String {
        match (self, self.metric()) {
            (Chart::Cdf, _) => "loop latency distribution".to_owned(),
            (Chart::Timeseries { .. }, Some(y)) => format!("{y} over time"),
            (Chart::Latency { .. }, Some(y)) => format!("{y} percentiles"),
            (_, Some(y)) => y.to_owned(),
            (_, None) => self.kind().to_owned(),
        }
    }
}
