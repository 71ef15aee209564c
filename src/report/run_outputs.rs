//! What `run --out DIR` writes: `summary.json`, `timeseries.csv` and
//! `manifest.json`, each atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, relative_path};
use super::timeseries_csv::write_timeseries_csv;
use crate::atomic_file;
use crate::config::data_file::DataFile;
use crate::config::{LoadedModel, Source};
use crate::json::write_json;
use crate::model::RunResult;

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
    })
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
