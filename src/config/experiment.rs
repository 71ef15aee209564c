//! Experiment files: a base model, a grid of overrides, replications and plots.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checks::whole;
use super::data_file::DataFile;
use super::diagnostic::{Diagnostic, Invalid};
use super::field_path::{FieldPath, leaves};
use super::grid::{self, Axis, MODEL_AXIS};
use super::locate::line_of;
use super::memory::Memory;
use super::overrides::Override;
use super::plot_spec::{PlotContext, PlotSpec, RawPlot};
use super::quantity::Number;
use super::read::{Source, deserialize, locate, parse_toml};
use super::tagged::Tagged;
use super::work::Work;
use crate::model::ModelSpec;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::measure::summary::Summary;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExperiment {
    name: String,
    /// The base model, relative to the experiment file (or a `model` grid axis).
    model: Option<String>,
    seed: Number,
    replications: Number,
    common_random_numbers: Option<bool>,
    /// Overrides applied to every run, as a (nested) table of model fields.
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    set: toml::Table,
    /// No grid: one point, the base model, replicated.
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    grid: toml::Table,
    #[serde(default)]
    plot: Vec<Tagged<RawPlot>>,
}

/// What decides a point's runs.csv columns.
#[derive(PartialEq)]
struct Shape {
    classes: Vec<String>,
    faults: usize,
    windows: Vec<String>,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "classes {}, {} faults, windows {}",
            self.classes.join(", "),
            self.faults,
            self.windows.join(", ")
        )
    }
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
    /// Which of the experiment's base models the point changes.
    pub base: usize,
    /// The data files its model reads (relative to its base model), a
    /// grid value's own included.
    pub data_files: BTreeSet<String>,
    pub spec: ModelSpec,
    pub memory: Memory,
    pub work: Work,
    /// Why the point's time series is too long to keep for a figure, if it is.
    pub timeseries_too_long: Option<Diagnostic>,
}

/// A validated experiment, every point's model validated too.
/// What the command line changes in an experiment: `--set` overrides of
/// every point (after the file's `[set]`), and another seed or number of
/// replications. Kept in the sweep's manifest, so the sweep can be resumed,
/// merged and redrawn as run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExperimentFlags {
    #[serde(default)]
    pub set: Vec<String>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub replications: Option<u32>,
}

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
    pub flags: ExperimentFlags,
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
}

/// Whether a TOML file is an experiment (it has a `[grid]` or
/// `replications`, which no model has) rather than a model.
pub fn is_experiment(source: &Source) -> bool {
    parse_toml(source).is_ok_and(|t| t.contains_key("grid") || t.contains_key("replications"))
}

/// `[set]` as overrides: every leaf of the (nested) table, in file order.
fn set_overrides(table: &toml::Table, source: &Source) -> Vec<Override> {
    leaves(table, &FieldPath::default(), &|_| false)
        .into_iter()
        .map(|(path, leaf)| {
            let line = line_of(&source.text, &format!("set.{path}")).unwrap_or(0);
            let flag = format!("{}:{line}: set {path} = {leaf}", source.name);
            Override::new(path.as_str(), leaf.clone(), flag)
        })
        .collect()
}

pub fn load_experiment(source: Source) -> Result<Experiment, Diagnostic> {
    load_experiment_with(source, ExperimentFlags::default())
}

/// [`load_experiment`], changed by command-line `flags`.
pub fn load_experiment_with(
    source: Source,
    flags: ExperimentFlags,
) -> Result<Experiment, Diagnostic> {
    let table = parse_toml(&source)?;
    let raw: RawExperiment = deserialize(&source, &table, &[])?;
    let located = |e: Invalid| locate(&source, &[], e);
    let replications = replications(&raw, &flags, &source)?;
    let axes = grid::axes(&raw.grid).map_err(located)?;
    let coords = grid::points(&axes).map_err(located)?;
    let mut set = set_overrides(&raw.set, &source);
    for flag in &flags.set {
        set.push(Override::parse(flag)?);
    }

    let base_models = base_models(&raw, &axes, &source)?;

    let (points, warnings) = points(&source, &axes, coords, &set, &base_models)?;

    let metric_names = metric_names(&points).map_err(located)?;
    let plots = raw
        .plot
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = FieldPath::root("plot").child(i);
            let cx = PlotContext {
                axes: &axes,
                metrics: &metric_names,
            };
            let (common, plot) = p.read_with_common(&at)?;
            plot.check(common, &at, &cx)
        })
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
        seed: match flags.seed {
            Some(seed) => seed,
            None => super::checks::seed(&FieldPath::root("seed"), raw.seed).map_err(located)?,
        },
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
        flags,
    })
}

/// The replications, from `--replications` or the file.
fn replications(
    raw: &RawExperiment,
    flags: &ExperimentFlags,
    source: &Source,
) -> Result<u32, Diagnostic> {
    let path = FieldPath::root("replications");
    let n = match flags.replications {
        Some(n) => whole(&path, Number(f64::from(n), Some(i64::from(n))), 1, 10_000)
            .map_err(|e| Diagnostic::general("--replications", e.message))?,
        None => whole(&path, raw.replications, 1, 10_000).map_err(|e| locate(source, &[], e))?,
    };
    Ok(n as u32)
}

/// The base models: the file `model` names, or each value of the grid's
/// `model` axis.
fn base_models(
    raw: &RawExperiment,
    axes: &[Axis],
    source: &Source,
) -> Result<Vec<BaseModel>, Diagnostic> {
    let located = |e: Invalid| locate(source, &[], e);
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
    files
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
        .collect::<Result<Vec<_>, Diagnostic>>()
}

/// Each point of the grid, loaded: its base model with the experiment's
/// `set` and the point's values; and every warning the loads gave.
fn points(
    source: &Source,
    axes: &[Axis],
    coords: Vec<Vec<usize>>,
    set: &[Override],
    base_models: &[BaseModel],
) -> Result<(Vec<Point>, BTreeSet<String>), Diagnostic> {
    let mut warnings = BTreeSet::new();
    let mut points = Vec::with_capacity(coords.len());
    for coords in coords {
        let mut base_index = 0;
        let mut replaced = Vec::new();
        for (axis, &value) in axes.iter().zip(&coords) {
            let v = &axis.values[value];
            if axis.path == MODEL_AXIS {
                base_index = value;
                continue;
            }
            let line = line_of(&source.text, &format!("grid.{}", axis.path)).unwrap_or(0);
            // A problem names its own path after the flag, so the flag
            // names the grid value as written (a plan's label, not the
            // paths the plan writes).
            let flag = format!("{}:{line}: grid {} = {}", source.name, axis.path, v.label);
            for (path, value) in grid::replacements(axis, v) {
                replaced.push(Override::new(path, value.clone(), flag.clone()));
            }
        }
        // Whole tables first, so an axis of a field inside one (a plan's
        // `capacity` and `capacity.lanes`) changes the table the point has.
        replaced.sort_by_key(|o| o.path.split('.').count());
        let mut overrides = set.to_vec();
        overrides.extend(replaced);
        let loaded = super::load_model(&base_models[base_index].source, &overrides)?;
        warnings.extend(loaded.warnings.iter().map(ToString::to_string));
        points.push(Point {
            coords,
            base: base_index,
            data_files: DataFile::names_in(&loaded.resolved),
            spec: loaded.spec,
            memory: loaded.memory,
            work: loaded.work,
            timeseries_too_long: loaded.timeseries_too_long,
        });
    }
    Ok((points, warnings))
}

/// runs.csv's metric columns: the same for every point, which must share
/// their user classes, faults and windows; every point's pools and models.
fn metric_names(points: &[Point]) -> Result<Vec<String>, Invalid> {
    // What decides runs.csv's columns: user classes, faults, windows and
    // the pools a model reports.
    let shape = |p: &Point| -> Shape {
        Shape {
            classes: p.spec.classes.iter().map(|c| c.name.clone()).collect(),
            faults: p.spec.faults.len(),
            windows: p.spec.all_windows().into_iter().map(|w| w.name).collect(),
        }
    };
    let first = shape(&points[0]);
    if let Some(p) = points.iter().find(|p| shape(p) != first) {
        return Err(Invalid::new(
            "grid",
            format!(
                "every point needs the same user classes, number of faults and windows (surges included), for the same runs.csv columns ({} vs {})",
                first,
                shape(p)
            ),
        ));
    }
    // Plans may bring their own pools: runs.csv has every point's, in the
    // order points first name them, empty where a point has no such pool.
    let mut pools: Vec<(&str, bool)> = Vec::new();
    for p in points.iter().filter(|p| p.spec.reports_pools) {
        for pool in &p.spec.pools {
            let hosted = matches!(pool.capacity, CapacitySpec::SelfHosted(_));
            match pools.iter_mut().find(|(name, _)| *name == pool.name) {
                Some((_, h)) => *h |= hosted,
                None => pools.push((&pool.name, hosted)),
            }
        }
    }
    // Each model any point reports, in the order points first name them.
    let mut models: Vec<&str> = Vec::new();
    for p in points.iter().filter(|p| p.spec.reports_models) {
        for m in &p.spec.models {
            if !models.contains(&m.name.as_str()) {
                models.push(&m.name);
            }
        }
    }
    // Each group of limits over several pools any point has, likewise.
    let mut limits: Vec<&str> = Vec::new();
    for group in points.iter().flat_map(|p| &p.spec.shared_limits) {
        if !limits.contains(&group.name.as_str()) {
            limits.push(&group.name);
        }
    }
    Ok(Summary::metric_names(
        first.classes.iter().map(String::as_str),
        first.faults,
        first.windows.iter().map(String::as_str),
        pools,
        (models, limits),
    ))
}

/// Reads and validates the experiment file at `path`.
pub fn read_experiment(path: &Path) -> Result<Experiment, Diagnostic> {
    read_experiment_with(path, ExperimentFlags::default())
}

/// [`read_experiment`], changed by command-line `flags`.
pub fn read_experiment_with(path: &Path, flags: ExperimentFlags) -> Result<Experiment, Diagnostic> {
    let source = Source::read(path)?;
    if !is_experiment(&source) {
        return Err(Diagnostic::general(
            &source.name,
            "this is a model file, not an experiment (no `grid` or `replications`): run it with `loopcap run`",
        ));
    }
    load_experiment_with(source, flags)
}
