//! `size MODEL --slo ... --over A --over B [--cheapest | --minimize METRIC]`:
//! the setting of every axis that meets every SLO at the least cost a
//! month (or least METRIC), exact over the grid ([`crate::sizing::grid`]).

use std::collections::{BTreeMap, BTreeSet};

use super::base::{BaseModel, Comparison, SizeFlags};
use super::record::{print_answer, record_comparison, size_manifest};
use super::search::capacity_path;
use crate::command::error::Error;
use crate::config::data_file::DataFile;
use crate::config::overrides::Override;
use crate::error::BadInput;
use crate::model::ModelSpec;
use crate::model::measure::bill;
use crate::model::measure::catalogue::{self, Better};
use crate::sizing::grid::{self, Axis, GridSearch, Objective, Point};
use crate::sizing::{Answer, AnswerKind, csv_file, judge_with, render_grid};

/// `--over` (each of `axes_text`) searched for the setting that meets every
/// SLO with the least `objective`.
pub(super) fn size(
    axes_text: &[String],
    objective: Objective,
    flags: &SizeFlags,
) -> Result<(), Error> {
    let axes = parse_axes(axes_text)?;
    check_objective(&objective)?;
    let Comparison {
        base,
        staged,
        replicator,
        slos,
        floor,
    } = Comparison::start(flags)?;
    let Settings {
        data_files,
        committed: settings,
        mut specs,
    } = load_settings(&base, (&axes, axes_text), flags)?;
    let search = if floor.met {
        grid::cheapest(settings, &objective, |batch| {
            // Settings are distinct and each runs once: its spec is not needed after.
            let run: Vec<_> = batch
                .iter()
                .map(|(s, _)| {
                    specs
                        .remove(s)
                        .expect("each setting is loaded once and runs once")
                })
                .collect();
            let runs = replicator.run_all(run.iter())?;
            Ok::<_, Error>(
                batch
                    .iter()
                    .zip(runs)
                    .map(|((setting, committed), runs)| {
                        let (probe, value) = judge_with(&runs, &slos, objective.metric());
                        Point::of(setting.clone(), *committed, probe, value)
                    })
                    .collect(),
            )
        })?
    } else {
        GridSearch {
            points: Vec::new(),
            answer: None,
            skipped: Vec::new(),
        }
    };
    let best = search.answer.map(|i| &search.points[i]);
    let kind = AnswerKind::Grid {
        answer: best.map(|p| setting_by_path(&axes, p)),
        cost_per_month_usd: best.map_or((None, None), |p| p.cost_per_month_usd),
        minimize: objective.metric().to_owned(),
        axes: axes.clone(),
        points: search.points.clone(),
        skipped: search.skipped.clone(),
    };
    let answer = Answer::of_comparison(
        kind,
        best.is_some(),
        flags.replications,
        (&slos, &floor),
        "a setting beyond these ranges",
    );
    if let Some(staged) = staged {
        let manifest = size_manifest(
            &base.source,
            &data_files,
            flags,
            &asked(axes_text, &objective),
        )?;
        let alternatives: Vec<_> = search
            .points
            .iter()
            .map(|p| {
                let values: Vec<String> = p.setting.iter().map(i64::to_string).collect();
                (
                    values.join(" / "),
                    p.verdicts.as_slice(),
                    p.cost_per_month_usd,
                )
            })
            .collect();
        record_comparison(
            staged,
            &manifest,
            |w| csv_file::write_grid(w, &axes, &slos, &search.points),
            &answer,
            &alternatives,
            search.answer,
        )?;
    }
    let table = render_grid(&axes, &slos, &floor, &search, flags.replications);
    print_answer(&answer, &table, flags, (best.is_some(), &[]))
}

/// Each `--over`, a capacity field, no two the same.
fn parse_axes(texts: &[String]) -> Result<Vec<Axis>, BadInput> {
    let mut axes: Vec<Axis> = Vec::new();
    for text in texts {
        let axis = grid::parse_axis("--over", text)?;
        capacity_path("--over", text, &axis.path)?;
        if axes.iter().any(|a| a.path == axis.path) {
            return Err(BadInput(format!(
                "--over {text}: `{}` is already an axis: give each path once",
                axis.path
            )));
        }
        axes.push(axis);
    }
    Ok(axes)
}

/// A metric to minimise must be one the summary reports and one for
/// which lower is better.
fn check_objective(objective: &Objective) -> Result<(), BadInput> {
    let Objective::Metric(name) = objective else {
        return Ok(());
    };
    match catalogue::find(name) {
        None => Err(BadInput(format!(
            "--minimize {name}: not a metric of the summary (e.g. cost_per_month_usd, loop_latency_s.p99, windows.NAME.loops_failed_share)"
        ))),
        Some(named) if named.metric.better == Some(Better::Higher) => Err(BadInput(format!(
            "--minimize {name}: higher is better for {}: minimising it would pick the worst setting",
            named.metric.label
        ))),
        Some(_) => Ok(()),
    }
}

/// The settings of a grid, each loaded once (its warnings shown once).
struct Settings {
    /// The data files the settings read.
    data_files: BTreeSet<String>,
    /// Each setting and what it commits to a month, known from the model alone.
    committed: Vec<(Vec<i64>, f64)>,
    /// The spec each setting runs.
    specs: BTreeMap<Vec<i64>, ModelSpec>,
}

/// Loads each setting of `axes` (written `axes_text`) over the base model.
fn load_settings(
    base: &BaseModel,
    (axes, axes_text): (&[Axis], &[String]),
    flags: &SizeFlags,
) -> Result<Settings, Error> {
    let at = |setting: &[i64]| {
        axes.iter()
            .zip(axes_text)
            .zip(setting)
            .map(|((axis, text), &v)| {
                let origin = format!("--over {text} (at {v})");
                Override::new(&axis.path, toml::Value::Integer(v), origin)
            })
            .collect::<Vec<_>>()
    };
    let mut settings = Settings {
        data_files: DataFile::names_in(&base.loaded.resolved),
        committed: Vec::new(),
        specs: BTreeMap::new(),
    };
    for setting in grid::settings(axes) {
        let loaded = base.with(at(&setting), flags.limits, Error::from)?;
        settings
            .data_files
            .extend(DataFile::names_in(&loaded.resolved));
        settings
            .committed
            .push((setting.clone(), committed(&loaded.spec)));
        settings.specs.insert(setting, loaded.spec);
    }
    Ok(settings)
}

/// A point's setting, each axis's value by its path.
fn setting_by_path(axes: &[Axis], point: &Point) -> BTreeMap<String, i64> {
    let paths = axes.iter().map(|a| a.path.clone());
    paths.zip(point.setting.iter().copied()).collect()
}

/// What was asked, as the flags said it: `--over '...' --cheapest`.
fn asked(axes_text: &[String], objective: &Objective) -> String {
    let over: Vec<String> = axes_text.iter().map(|t| format!("--over '{t}'")).collect();
    match objective {
        Objective::Cost => format!("{} --cheapest", over.join(" ")),
        Objective::Metric(m) => format!("{} --minimize {m}", over.join(" ")),
    }
}

/// What `spec`'s pools commit to a month, whatever their use.
fn committed(spec: &ModelSpec) -> f64 {
    spec.pools.iter().map(bill::committed_per_month).sum()
}
