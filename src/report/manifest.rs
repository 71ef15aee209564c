//! `manifest.json` of a run: enough to rerun it exactly.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::data_file::DataFile;
use crate::config::{Diagnostic, Source};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub loopcap_version: String,
    /// The model file as given on the command line.
    pub model_file: String,
    /// Where the model's relative paths (empirical CSV files) are resolved:
    /// relative to the manifest's own directory where one path leads to the
    /// other, so a run moved or copied together with its data reruns.
    pub model_dir: String,
    pub seed: u64,
    /// The `--set` flags, in order.
    pub overrides: Vec<String>,
    /// The model as run: the file with every override and the seed applied.
    pub model_toml: String,
    /// The data files it read (empirical CSVs), with their fingerprints.
    #[serde(default)]
    pub data_files: Vec<DataFile>,
    /// Reruns this run: `loopcap run` accepts a manifest in place of a model.
    pub rerun: String,
    /// Replications of the run (`run --replications N --out`), when more than one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub replications: u32,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Manifest {
    /// The manifest at `path`, and a warning if another loopcap version wrote it.
    pub fn read(path: &Path) -> Result<(Manifest, Option<String>), Diagnostic> {
        let name = path.display().to_string();
        let text = fs::read_to_string(path)
            .map_err(|e| Diagnostic::general(&name, format!("cannot read: {e}")))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Diagnostic::general(&name, format!("not a loopcap manifest: {e}")))?;
        let version = env!("CARGO_PKG_VERSION");
        let warning = (manifest.loopcap_version != version).then(|| {
            format!(
                "{name} was written by loopcap {}, this is {version}: results may differ",
                manifest.loopcap_version
            )
        });
        Ok((manifest, warning))
    }

    /// The model it holds, as a source to load; `path` is the manifest's.
    /// Refuses when a data file the run read has changed since.
    pub fn source(&self, path: &Path) -> Result<Source, Diagnostic> {
        let manifest_dir = path.parent().unwrap_or(Path::new("."));
        let name = path.display().to_string();
        let base_dir = manifest_dir.join(&self.model_dir);
        DataFile::unchanged(&self.data_files, &base_dir)
            .map_err(|m| Diagnostic::general(&name, m.to_string()))?;
        Ok(Source {
            name: format!("{name} (model_toml)"),
            text: self.model_toml.clone(),
            base_dir,
        })
    }
}

/// `target` as a path relative to `base` (both absolute), e.g.
/// `../../models`; `target` itself when they share no root.
pub fn relative_path(target: &Path, base: &Path) -> PathBuf {
    let (t, b): (Vec<_>, Vec<_>) = (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.to_owned();
    }
    let mut relative: PathBuf = b[common..].iter().map(|_| "..").collect();
    relative.extend(&t[common..]);
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    relative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_root() {
        let rel = |t: &str, b: &str| relative_path(Path::new(t), Path::new(b));
        assert_eq!(
            rel("/w/models", "/w/results/run"),
            Path::new("../../models")
        );
        assert_eq!(rel("/w/models", "/w/models"), Path::new("."));
        assert_eq!(rel("/w/models/x", "/w"), Path::new("models/x"));
    }
}
