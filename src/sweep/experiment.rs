//! Experiment files: a base model, a grid of overrides, replications and plots.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::grid::{self, Axis, MODEL_AXIS};
use crate::config::checks::whole;
use crate::config::field_path::FieldPath;
use crate::config::locate::line_of;
use crate::config::quantity::Number;
use crate::config::{self, Diagnostic, Invalid, Override, Source};
use crate::model::ModelSpec;
use crate::model::summary::Summary;
use crate::model::timeseries::{Counter, Gauge};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: String,
    /// The base model, relative to the experiment file (or a `model` grid axis).
    model: Option<String>,
    seed: u64,
    replications: Number,
    common_random_numbers: Option<bool>,
    /// Overrides applied to every run, as a (nested) table of model fields.
    #[serde(default)]
    set: toml::Table,
    grid: toml::Table,
    #[serde(default)]
    plot: Vec<RawPlot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlot {
    kind: PlotKind,
    x: Option<String>,
    y: Option<String>,
    z: Option<String>,
    series: Option<String>,
    title: Option<String>,
    log_y: Option<bool>,
    slo: Option<Number>,
    /// A horizontal reference line (line and latency plots), e.g. an ideal.
    reference: Option<Number>,
    reference_label: Option<String>,
    /// Values for the axes the plot does not show (default: each axis's first).
    #[serde(default)]
    at: toml::Table,
    /// The file name of the plot, without extension.
    name: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// A metric against a numeric axis, one line per series, 95% CI band.
    Line,
    /// Loop latency p50, p95 and p99 against a numeric axis, log y.
    Latency,
    /// The loop-latency distribution, one curve per series.
    Cdf,
    /// A metric over two axes, with an optional SLO contour.
    Heatmap,
    /// A metric per value of a (categorical) axis, with 95% CI whiskers.
    Bar,
    /// A timeseries.csv column over simulated time, one line per series
    /// value, from each point's first replication run again.
    Timeseries,
}

/// A validated plot: axes by index, metrics by name.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSpec {
    pub kind: PlotKind,
    pub name: String,
    pub title: String,
    pub x: Option<usize>,
    /// The metric on y (line, bar, latency prefix), or the axis on y (heatmap).
    pub y: Option<String>,
    pub y_axis: Option<usize>,
    /// The heatmap's metric.
    pub z: Option<String>,
    pub series: Option<usize>,
    pub log_y: bool,
    pub slo: Option<f64>,
    /// A horizontal line at this y, with its legend label.
    pub reference: Option<(f64, String)>,
    /// The value index of every axis the plot does not show.
    pub fixed: Vec<(usize, usize)>,
}

/// A base model as the experiment uses it: its file with `[set]` applied.
#[derive(Clone, Debug)]
pub struct BaseModel {
    pub source: Source,
    pub file: String,
}

/// One grid point: the value index of every axis, and the model it makes.
#[derive(Clone, Debug)]
pub struct Point {
    pub coords: Vec<usize>,
    pub spec: ModelSpec,
}

/// A validated experiment, every point's model validated too.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub name: String,
    pub source: Source,
    pub seed: u64,
    pub replications: u32,
    pub common_random_numbers: bool,
    pub axes: Vec<Axis>,
    pub points: Vec<Point>,
    pub plots: Vec<PlotSpec>,
    pub base_models: Vec<BaseModel>,
    /// The `[set]` overrides, for the manifest.
    pub set: Vec<Override>,
    /// The columns of runs.csv after the axes.
    pub metric_names: Vec<String>,
    /// Warnings from validating the points' models, each once.
    pub warnings: Vec<String>,
}

impl Experiment {
    pub fn runs(&self) -> usize {
        self.points.len() * self.replications as usize
    }

    /// The label of each axis's value at `point`, in axis order.
    pub fn point_labels(&self, point: usize) -> impl Iterator<Item = String> + '_ {
        self.axes
            .iter()
            .zip(&self.points[point].coords)
            .map(|(axis, &value)| axis.values[value].label.clone())
    }

    /// The model of one run: its point's model with the run's seed.
    pub fn run_spec(&self, point: usize, replication: u32) -> ModelSpec {
        let mut spec = self.points[point].spec.clone();
        spec.seed = grid::run_seed(self.seed, point, replication, self.common_random_numbers);
        spec
    }
}

/// Whether a TOML file is an experiment (it has a `[grid]`) rather than a model.
pub fn is_experiment(source: &Source) -> bool {
    config::parse_toml(source).is_ok_and(|t| t.contains_key("grid"))
}

/// `[set]` as overrides: every leaf of the (nested) table, in file order.
fn flatten(table: &toml::Table, prefix: &str, source: &Source, out: &mut Vec<Override>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => flatten(t, &path, source, out),
            leaf => {
                let line = line_of(&source.text, &format!("set.{path}")).unwrap_or(0);
                let flag = format!("{}:{line}: set {path} = {leaf}", source.name);
                out.push(Override::new(&path, leaf.clone(), flag));
            }
        }
    }
}

pub fn load_experiment(source: Source) -> Result<Experiment, Diagnostic> {
    let table = config::parse_toml(&source)?;
    let raw: RawExperiment = config::deserialize(&source, &table, &[])?;
    let located = |e: Invalid| config::locate(&source, &[], e);
    let replications = whole(
        &FieldPath::root("replications"),
        raw.replications,
        1,
        10_000,
    )
    .map_err(located)? as u32;
    let mut axes = Vec::new();
    grid::axes(&raw.grid, "", &mut axes).map_err(located)?;
    let coords = grid::points(&axes).map_err(located)?;
    let mut set = Vec::new();
    flatten(&raw.set, "", &source, &mut set);

    let model_axis = axes.iter().position(|a| a.path == MODEL_AXIS);
    let files: Vec<String> = match (&raw.model, model_axis) {
        (Some(file), None) => vec![file.clone()],
        (None, Some(a)) => axes[a]
            .values
            .iter()
            .map(|v| {
                v.value
                    .as_str()
                    .expect("model axis values are strings")
                    .to_owned()
            })
            .collect(),
        (Some(_), Some(_)) => {
            return Err(located(Invalid::new(
                "model",
                "give the base model either here or as a grid axis `model`, not both",
            )));
        }
        (None, None) => {
            return Err(located(Invalid::new(
                "model",
                "missing: the base model file, e.g. model = \"../models/mmc.toml\"",
            )));
        }
    };
    let base_models = files
        .iter()
        .map(|file| {
            let path: PathBuf = source.base_dir.join(file);
            let model_source = Source::read(&path).map_err(|d| {
                located(Invalid::new(
                    if model_axis.is_some() {
                        "grid.model"
                    } else {
                        "model"
                    },
                    d.message,
                ))
            })?;
            Ok(BaseModel {
                source: model_source,
                file: file.clone(),
            })
        })
        .collect::<Result<Vec<_>, Diagnostic>>()?;

    let mut warnings = BTreeSet::new();
    let mut points = Vec::with_capacity(coords.len());
    for coords in coords {
        let mut overrides = set.clone();
        let mut base = &base_models[0];
        for (axis, &value) in axes.iter().zip(&coords) {
            let v = &axis.values[value];
            if axis.path == MODEL_AXIS {
                base = &base_models[value];
                continue;
            }
            let line = line_of(&source.text, &format!("grid.{}", axis.path)).unwrap_or(0);
            let flag = format!("{}:{line}: grid {} = {}", source.name, axis.path, v.label);
            overrides.push(Override::new(&axis.path, v.value.clone(), flag));
        }
        let loaded = config::load_model(&base.source, &overrides)?;
        warnings.extend(loaded.warnings.iter().map(ToString::to_string));
        points.push(Point {
            coords,
            spec: loaded.spec,
        });
    }

    let shape = |p: &Point| -> (Vec<String>, usize) {
        let classes = p.spec.classes.iter().map(|c| c.name.clone()).collect();
        (classes, p.spec.faults.len())
    };
    let (classes, faults) = shape(&points[0]);
    if let Some(p) = points
        .iter()
        .find(|p| shape(p) != (classes.clone(), faults))
    {
        let (other, other_faults) = shape(p);
        return Err(located(Invalid::new(
            "grid",
            format!(
                "every point needs the same user classes and number of faults, for the same runs.csv columns ({} and {faults} faults vs {} and {other_faults})",
                classes.join(", "),
                other.join(", ")
            ),
        )));
    }
    let metric_names = Summary::metric_names(classes.iter().map(String::as_str), faults);
    let plots = raw
        .plot
        .iter()
        .enumerate()
        .map(|(i, p)| plot(i, p, &axes, &metric_names))
        .collect::<Result<Vec<_>, Invalid>>()
        .map_err(located)?;
    if let Some(dup) = plots
        .iter()
        .enumerate()
        .find(|(i, p)| plots[..*i].iter().any(|q| q.name == p.name))
    {
        return Err(located(Invalid::new(
            format!("plot.{}.name", dup.0),
            format!(
                "two plots are called `{}`: give them different names",
                dup.1.name
            ),
        )));
    }
    Ok(Experiment {
        name: raw.name,
        seed: raw.seed,
        replications,
        common_random_numbers: raw.common_random_numbers.unwrap_or(true),
        axes,
        points,
        plots,
        base_models,
        set,
        metric_names,
        warnings: warnings.into_iter().collect(),
        source,
    })
}

/// Validates one `[[plot]]`.
fn plot(
    index: usize,
    raw: &RawPlot,
    axes: &[Axis],
    metrics: &[String],
) -> Result<PlotSpec, Invalid> {
    let path = |field: &str| format!("plot.{index}.{field}");
    let axis = |field: &str, name: &Option<String>| -> Result<Option<usize>, Invalid> {
        name.as_ref()
            .map(|n| {
                axes.iter().position(|a| a.path == *n).ok_or_else(|| {
                    let names: Vec<&str> = axes.iter().map(|a| a.path.as_str()).collect();
                    Invalid::new(
                        path(field),
                        format!("`{n}` is not a grid axis (axes: {})", names.join(", ")),
                    )
                })
            })
            .transpose()
    };
    let metric = |field: &str, name: &Option<String>| -> Result<Option<String>, Invalid> {
        name.as_ref()
            .map(|n| {
                if metrics.contains(n) {
                    Ok(n.clone())
                } else {
                    Err(Invalid::new(
                        path(field),
                        format!("`{n}` is not a metric; metrics are runs.csv's columns, e.g. loops_per_min, loop_latency_s.p99, rate_limited"),
                    ))
                }
            })
            .transpose()
    };
    let need = |field: &str, present: bool, kind: &str| {
        if present {
            Ok(())
        } else {
            Err(Invalid::new(
                path(field),
                format!("missing: a {kind} plot needs `{field}`"),
            ))
        }
    };
    let unused = |field: &str, present: bool, kind: &str| {
        if present {
            Err(Invalid::new(
                path(field),
                format!("not used by a {kind} plot"),
            ))
        } else {
            Ok(())
        }
    };
    let x = axis("x", &raw.x)?;
    let series = axis("series", &raw.series)?;
    let (kind_name, y, y_axis, z) = match raw.kind {
        PlotKind::Line | PlotKind::Bar => {
            let kind = if raw.kind == PlotKind::Line {
                "line"
            } else {
                "bar"
            };
            need("x", x.is_some(), kind)?;
            need("y", raw.y.is_some(), kind)?;
            unused("z", raw.z.is_some(), kind)?;
            (kind, metric("y", &raw.y)?, None, None)
        }
        PlotKind::Latency => {
            need("x", x.is_some(), "latency")?;
            unused("z", raw.z.is_some(), "latency")?;
            let prefix = raw.y.clone().unwrap_or_else(|| "loop_latency_s".to_owned());
            if !metrics.contains(&format!("{prefix}.p99")) {
                return Err(Invalid::new(
                    path("y"),
                    format!(
                        "`{prefix}` has no p50/p95/p99: use loop_latency_s, step_latency_s or queue_wait_s"
                    ),
                ));
            }
            ("latency", Some(prefix), None, None)
        }
        PlotKind::Cdf => {
            unused("x", x.is_some(), "cdf")?;
            unused("y", raw.y.is_some(), "cdf")?;
            unused("z", raw.z.is_some(), "cdf")?;
            ("cdf", None, None, None)
        }
        PlotKind::Timeseries => {
            unused("x", x.is_some(), "timeseries")?;
            unused("z", raw.z.is_some(), "timeseries")?;
            let column = raw
                .y
                .clone()
                .unwrap_or_else(|| "loops_completed".to_owned());
            if Counter::from_name(&column).is_none() && Gauge::from_name(&column).is_none() {
                let columns: Vec<&str> = Counter::ALL
                    .iter()
                    .map(|c| c.name())
                    .chain(Gauge::ALL.iter().map(|g| g.name()))
                    .collect();
                return Err(Invalid::new(
                    path("y"),
                    format!(
                        "`{column}` is not a timeseries column ({})",
                        columns.join(", ")
                    ),
                ));
            }
            ("timeseries", Some(column), None, None)
        }
        PlotKind::Heatmap => {
            need("x", x.is_some(), "heatmap")?;
            need("y", raw.y.is_some(), "heatmap")?;
            need("z", raw.z.is_some(), "heatmap")?;
            unused("series", series.is_some(), "heatmap")?;
            ("heatmap", None, axis("y", &raw.y)?, metric("z", &raw.z)?)
        }
    };
    if matches!(raw.kind, PlotKind::Line | PlotKind::Latency)
        && let Some(a) = x.filter(|&a| !axes[a].is_numeric())
    {
        return Err(Invalid::new(
            path("x"),
            format!(
                "`{}` has values that are not numbers: plot it with kind = \"bar\"",
                axes[a].path
            ),
        ));
    }
    if raw.slo.is_some() && raw.kind != PlotKind::Heatmap {
        return Err(Invalid::new(
            path("slo"),
            "only heatmaps draw an SLO contour",
        ));
    }
    let lines = matches!(raw.kind, PlotKind::Line | PlotKind::Latency);
    if !lines && raw.reference.is_some() {
        return Err(Invalid::new(
            path("reference"),
            "only line and latency plots draw a reference line",
        ));
    }
    if raw.reference.is_none() && raw.reference_label.is_some() {
        return Err(Invalid::new(
            path("reference_label"),
            "labels a reference: set `reference` too",
        ));
    }
    let reference = raw.reference.map(|r| {
        let label = raw
            .reference_label
            .clone()
            .unwrap_or_else(|| "reference".to_owned());
        (r.0, label)
    });
    let shown: Vec<usize> = [x, y_axis, series].into_iter().flatten().collect();
    if let Some(dup) = shown
        .iter()
        .enumerate()
        .find(|(i, a)| shown[..*i].contains(a))
    {
        return Err(Invalid::new(
            path("series"),
            format!("`{}` is used twice", axes[*dup.1].path),
        ));
    }
    let mut fixed = Vec::new();
    for (a, ax) in axes.iter().enumerate().filter(|(a, _)| !shown.contains(a)) {
        let value = match raw.at.get(&ax.path) {
            None => 0,
            Some(v) => {
                let wanted = grid::label(v);
                ax.values
                    .iter()
                    .position(|x| x.label == wanted || x.value == *v)
                    .ok_or_else(|| {
                        Invalid::new(path("at"), format!("`{}` has no value {wanted}", ax.path))
                    })?
            }
        };
        fixed.push((a, value));
    }
    if let Some(key) = raw.at.keys().find(|k| !axes.iter().any(|a| a.path == **k)) {
        return Err(Invalid::new(
            path("at"),
            format!("`{key}` is not a grid axis"),
        ));
    }
    let slo = raw.slo.map(|n| n.0).filter(|s| s.is_finite());
    let default_name = {
        let mut parts: Vec<&str> = vec![kind_name];
        parts.extend(y.as_deref().or(z.as_deref()));
        parts.extend(x.map(|a| axes[a].path.as_str()));
        parts.join("-").replace(['.', ' '], "_")
    };
    let name = raw.name.clone().unwrap_or(default_name);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(Invalid::new(
            path("name"),
            "use letters, digits, - and _ only",
        ));
    }
    let title = raw
        .title
        .clone()
        .unwrap_or_else(|| match (raw.kind, &y, &z) {
            (PlotKind::Cdf, _, _) => "loop latency distribution".to_owned(),
            (PlotKind::Timeseries, Some(y), _) => format!("{y} over time"),
            (PlotKind::Latency, Some(y), _) => format!("{y} percentiles"),
            (_, Some(y), _) | (_, _, Some(y)) => y.clone(),
            _ => kind_name.to_owned(),
        });
    Ok(PlotSpec {
        kind: raw.kind,
        name,
        title,
        x,
        y,
        y_axis,
        z,
        series,
        log_y: raw.log_y.unwrap_or(raw.kind == PlotKind::Latency),
        slo,
        reference,
        fixed,
    })
}

/// Reads and validates the experiment file at `path`.
pub fn read_experiment(path: &Path) -> Result<Experiment, Diagnostic> {
    load_experiment(Source::read(path)?)
}
