//! What `run --out DIR` writes: `summary.json`, `timeseries.csv` and
//! `manifest.json`, each atomically; with `--replications N`,
//! `replications.json` and `summaries.json` instead of the first two.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, relative_path};
use super::replicated::{self, MetricStats};
use super::timeseries_csv::write_timeseries_csv;
use crate::atomic_file;
use crate::config::data_file::DataFile;
use crate::config::{LoadedModel, Source};
use crate::json::write_json;
use crate::model::RunResult;
use crate::model::measure::summary::Summary;

/// The file of a replicated run's means and intervals.
pub const REPLICATIONS_FILE: &str = "replications.json";

/// A file of a run's outputs that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {error}")]
pub struct WriteError {
    pub path: PathBuf,
    pub error: io::Error,
}

/// The manifest of a run of `loaded`, read from `source` (the model file
/// `model_file`, with the `--set` flags `set`), published as `dir` (which
/// may not exist yet; its parent does).
pub fn manifest(
    dir: &Path,
    model_file: &Path,
    set: &[String],
    source: &Source,
    loaded: &LoadedModel,
) -> Result<Manifest, WriteError> {
    let model_toml = toml::to_string(&loaded.resolved).map_err(|e| WriteError {
        path: dir.join("manifest.json"),
        error: io::Error::other(e),
    })?;
    let absolute = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
    let published =
        absolute(parent.unwrap_or(Path::new("."))).join(dir.file_name().unwrap_or_default());
    let model_dir = relative_path(&absolute(&source.base_dir), &published);
    let data_files =
        DataFile::all_in(&loaded.resolved, &source.base_dir).map_err(|e| WriteError {
            path: dir.join("manifest.json"),
            error: io::Error::other(e),
        })?;
    Ok(Manifest {
        loopcap_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_file: model_file.display().to_string(),
        model_dir: model_dir.display().to_string(),
        seed: loaded.spec.seed,
        overrides: set.to_vec(),
        model_toml,
        data_files,
        rerun: format!("loopcap run {}", dir.join("manifest.json").display()),
        replications: 1,
    })
}

/// Writes the outputs of replications of a run into `dir`, which exists:
/// each metric's mean and 95% half-width (`replications.json`, as `--json`
/// prints it), every replication's summary in seed order
/// (`summaries.json`, without the wall-clock figures), and `manifest`,
/// whose rerun asks for as many.
pub fn write_replicated(
    dir: &Path,
    mut manifest: Manifest,
    summaries: &[Summary],
    stats: &[MetricStats],
) -> Result<(), WriteError> {
    let at = |path: PathBuf| move |error| WriteError { path, error };
    manifest.replications = summaries.len() as u32;
    manifest.rerun = format!("{} --replications {}", manifest.rerun, summaries.len());
    let path = dir.join(REPLICATIONS_FILE);
    atomic_file::write_file(&path, |w| replicated::write_json(w, stats)).map_err(at(path))?;
    // Without the wall clock, so the same replications write the same bytes.
    let summaries: Vec<Summary> = summaries.iter().map(Summary::without_wall_clock).collect();
    let path = dir.join("summaries.json");
    atomic_file::write_file(&path, |w| write_json(w, &summaries)).map_err(at(path))?;
    let path = dir.join("manifest.json");
    atomic_file::write_file(&path, |w| write_json(w, &manifest)).map_err(at(path))
}

/// Writes a run's outputs into `dir`, which exists (see `OutputDir`).
pub fn write(dir: &Path, manifest: &Manifest, result: &RunResult) -> Result<(), WriteError> {
    let at = |path: PathBuf| move |error| WriteError { path, error };
    let path = dir.join("summary.json");
    atomic_file::write_file(&path, |w| write_json(w, &result.summary)).map_err(at(path))?;
    if let Some(ts) = &result.timeseries {
        let path = dir.join("timeseries.csv");
        atomic_file::write_file(&path, |w| write_timeseries_csv(w, ts)).map_err(at(path))?;
    }
    let path = dir.join("manifest.json");
    atomic_file::write_file(&path, |w| write_json(w, manifest)).map_err(at(path))
}
