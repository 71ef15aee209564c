//! `fit --check CAPACITY.toml`: the trace replayed as recorded and the
//! fitted model, each run on the capacity, client and prices of another
//! model, their capacity figures side by side. A fit that keeps the
//! trace's rate and token means but not its bursts shows here, as the
//! failures and peaks the bursts cause.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::compared::Compared;
use crate::config::{self, Source};
use crate::model::measure::summary::Summary;
use crate::model::{ModelSpec, RunError, simulate};
use crate::statistics::mean_ci;

/// The sections of the fitted model the check runs: its workload and agent.
const FITTED: [&str; 2] = ["workload", "agents"];

/// The replay and the fitted model on one capacity.
#[derive(Serialize)]
pub struct CheckReport {
    /// The model whose capacity, client and prices both ran on.
    pub capacity: String,
    pub replications: u32,
    pub figures: Vec<Figure>,
}

/// One figure: the replay's (as `trace`) and the fitted model's (as `model`).
#[derive(Serialize)]
pub struct Figure {
    pub name: &'static str,
    #[serde(flatten)]
    pub compared: Compared,
}

/// The trace as a workload table replays it: `trace = { ... }`.
pub struct Replay<'a> {
    /// The trace's path, absolute.
    pub file: &'a Path,
    pub format: &'a str,
    pub columns: Option<&'a str>,
    pub tick: Option<&'a str>,
}

/// The replay of `replay` and the fitted model (`fitted`, its text, read
/// from `fitted_dir`), each with `capacity`'s every section but its
/// workload, agents and warm-up, run `replications` times.
pub fn check(
    capacity: &Path,
    (fitted, fitted_dir): (&str, &Path),
    replay: &Replay,
    replications: u32,
) -> Result<CheckReport, CheckError> {
    let shown = capacity.display().to_string();
    let source = Source::read(capacity).map_err(|e| CheckError::Input(e.to_string()))?;
    let mut base =
        config::read::parse_toml(&source).map_err(|e| CheckError::Input(e.to_string()))?;
    for key in FITTED.iter().chain(&["warmup"]) {
        base.remove(*key);
    }
    let mut fitted: toml::Table = toml::from_str(fitted).expect("a fitted model reads back");
    // The fitted model's files are beside it; the capacity's beside it.
    absolute_files(&mut fitted, fitted_dir);
    base.insert("duration".into(), fitted["duration"].clone());
    base.insert("agents".into(), fitted["agents"].clone());
    let mut fitted_model = base.clone();
    fitted_model.insert("workload".into(), fitted["workload"].clone());
    let mut replayed = base;
    replayed.insert("workload".into(), replay.workload());
    let load = |table: toml::Table, what: &str| -> Result<ModelSpec, CheckError> {
        let source = Source {
            name: format!("{shown} with {what}"),
            text: toml::to_string(&table).unwrap_or_default(),
            base_dir: source.base_dir.clone(),
        };
        config::load_parsed(&source, table, &[])
            .map(|m| m.spec)
            .map_err(|e| CheckError::Input(e.to_string()))
    };
    let specs = [
        load(replayed, "the trace replayed")?,
        load(fitted_model, "the fitted workload")?,
    ];
    let runs: Vec<Vec<Summary>> = specs
        .par_iter()
        .map(|spec| {
            (1..=u64::from(replications))
                .into_par_iter()
                .map(|seed| {
                    let mut spec = spec.clone();
                    spec.seed = seed;
                    Ok(simulate(&spec, false)?.summary)
                })
                .collect::<Result<Vec<_>, RunError>>()
        })
        .collect::<Result<_, RunError>>()
        .map_err(CheckError::Run)?;
    let figure = |name, f: fn(&Summary) -> Option<f64>| {
        let [replay, model] = [&runs[0], &runs[1]]
            .map(|rs| mean_ci(&rs.iter().filter_map(f).collect::<Vec<_>>(), 0.975));
        Figure {
            name,
            compared: Compared {
                trace: replay.0.unwrap_or(0.0),
                trace_ci: replay.1,
                model: model.0.unwrap_or(0.0),
                model_ci: model.1,
            },
        }
    };
    let figures = vec![
        figure("loops/min", |s| Some(s.loops_per_min)),
        figure("loops failed %", |s| {
            s.loops_failed_share.map(|x| 100.0 * x)
        }),
        figure("loop latency p99 (s)", |s| s.loop_latency_s.map(|p| p.p99)),
        figure("peak in flight", |s| Some(s.peak_in_flight as f64)),
        figure("429s per loop", |s| {
            (s.loops_started > 0).then(|| s.rate_limited as f64 / s.loops_started as f64)
        }),
    ];
    Ok(CheckReport {
        capacity: shown,
        replications,
        figures,
    })
}

impl Replay<'_> {
    /// One class replaying the trace, with the fitted agent.
    fn workload(&self) -> toml::Value {
        let mut trace = toml::Table::new();
        trace.insert("file".into(), self.file.display().to_string().into());
        trace.insert("format".into(), self.format.into());
        if let Some(tick) = self.tick {
            trace.insert("tick".into(), tick.into());
        }
        if let Some(columns) = self.columns {
            let table: toml::Table = toml::from_str(&format!("c = {{ {columns} }}"))
                .expect("the columns read when the trace did");
            trace.insert("columns".into(), table["c"].clone());
        }
        let mut class = toml::Table::new();
        class.insert("name".into(), "trace".into());
        class.insert("agent".into(), "fitted".into());
        class.insert("trace".into(), trace.into());
        toml::Value::Array(vec![class.into()])
    }
}

/// Every `file = "..."` under `table`, made absolute from `dir`.
fn absolute_files(table: &mut toml::Table, dir: &Path) {
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::String(file) if key == "file" => {
                *file = dir.join(&*file).display().to_string();
            }
            toml::Value::Table(inner) => absolute_files(inner, dir),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        absolute_files(inner, dir);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Why a check could not run: its capacity model is bad input, or a run failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("--check {0}")]
    Input(String),
    #[error(transparent)]
    Run(RunError),
}
