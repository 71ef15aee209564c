//! `manifest.json` of a sweep: the experiment as run, so that a sweep can be
//! resumed, merged, redrawn and reproduced. Identical for every shard.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::config::data_file::DataFile;
use crate::config::experiment::{Experiment, ExperimentFlags, load_experiment_with};
use crate::config::{self, Source};
use crate::error::ReadError;
use crate::json::write_json;
use crate::output::OutputError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    pub loopcap_version: String,
    pub experiment: String,
    pub experiment_file: String,
    /// Where the experiment's relative paths start, for `merge`.
    pub experiment_dir: String,
    pub experiment_toml: String,
    /// Each base model with the experiment's `[set]` applied.
    pub base_models: Vec<ResolvedModel>,
    pub points: usize,
    pub replications: u32,
    pub runs: usize,
    /// What the command line changed.
    #[serde(default)]
    pub flags: ExperimentFlags,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedModel {
    pub file: String,
    pub model_toml: String,
    /// The data files it reads (empirical CSVs), with their fingerprints:
    /// a resume or merge is refused when one changed.
    #[serde(default)]
    pub data_files: Vec<DataFile>,
}

impl SweepManifest {
    pub fn new(exp: &Experiment) -> Result<SweepManifest, ReadError> {
        let base_models = exp
            .base_models
            .iter()
            .enumerate()
            .map(|(i, base)| {
                let mut table = config::parse_toml(&base.source)?;
                for o in &exp.set {
                    o.apply(&mut table)?;
                }
                // The base's files and those only a grid value names.
                let mut names = DataFile::names_in(&table);
                for point in exp.points.iter().filter(|p| p.base == i) {
                    names.extend(point.data_files.iter().cloned());
                }
                Ok(ResolvedModel {
                    file: base.file.clone(),
                    model_toml: toml::to_string(&table)
                        .map_err(|e| ReadError::bad(format!("{}: {e}", base.file)))?,
                    data_files: DataFile::read_all(&names, &base.source.base_dir)?,
                })
            })
            .collect::<Result<Vec<_>, ReadError>>()?;
        let dir =
            fs::canonicalize(&exp.source.base_dir).unwrap_or_else(|_| exp.source.base_dir.clone());
        Ok(SweepManifest {
            loopcap_version: env!("CARGO_PKG_VERSION").to_owned(),
            experiment: exp.name.clone(),
            experiment_file: exp.source.name.clone(),
            experiment_dir: dir.display().to_string(),
            experiment_toml: exp.source.text.clone(),
            base_models,
            points: exp.points.len(),
            replications: exp.replications,
            runs: exp.runs(),
            flags: exp.flags.clone(),
        })
    }

    /// The manifest in sweep directory `dir`.
    pub fn read(dir: &Path) -> Result<SweepManifest, ReadError> {
        let path = dir.join("manifest.json");
        let text = fs::read_to_string(&path)
            .map_err(|e| ReadError::bad(format!("{}: cannot read: {e}", path.display())))?;
        serde_json::from_str(&text)
            .map_err(|e| ReadError::bad(format!("{}: not a sweep manifest: {e}", path.display())))
    }

    pub fn write(&self, dir: &Path) -> Result<(), OutputError> {
        let path = dir.join("manifest.json");
        atomic_file::write_file(&path, |w| write_json(w, self))
            .map_err(|error| OutputError::Io { path, error })
    }

    /// Why `self`, the manifest on disk, is not the sweep `now` would run:
    /// a data file that changed, or another experiment altogether.
    pub fn differs_from(&self, now: &SweepManifest) -> Option<String> {
        if self == now {
            return None;
        }
        let same_but_data = SweepManifest {
            base_models: now.base_models.clone(),
            ..self.clone()
        } == *now;
        Some(if same_but_data {
            let changed: Vec<&str> = self
                .base_models
                .iter()
                .zip(&now.base_models)
                .flat_map(|(a, b)| {
                    b.data_files
                        .iter()
                        .filter(|f| !a.data_files.contains(f))
                        .map(|f| f.file.as_str())
                })
                .collect();
            format!(
                "a data file changed since the sweep began ({}): its runs would not reproduce, and resuming would mix results; restore it or start a new sweep",
                changed.join(", ")
            )
        } else {
            "holds a sweep of another experiment (or loopcap version): choose another --out"
                .to_owned()
        })
    }

    /// The experiment again, read from the manifest (for `merge` and `plot`).
    pub fn experiment(&self) -> Result<Experiment, ReadError> {
        Ok(load_experiment_with(
            Source {
                name: self.experiment_file.clone(),
                text: self.experiment_toml.clone(),
                base_dir: PathBuf::from(&self.experiment_dir),
            },
            self.flags.clone(),
        )?)
    }
}
