//! `manifest.json` of a run: enough to rerun it exactly.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Diagnostic, Source};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub loopcap_version: String,
    /// The model file as given on the command line.
    pub model_file: String,
    /// Where the model's relative paths (empirical CSV files) are resolved.
    pub model_dir: String,
    pub seed: u64,
    /// The `--set` flags, in order.
    pub overrides: Vec<String>,
    /// The model as run: the file with every override and the seed applied.
    pub model_toml: String,
    /// Reruns this run: `loopcap run` accepts a manifest in place of a model.
    pub rerun: String,
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

    /// The model it holds, as a source to load (`name` says where it came from).
    pub fn source(&self, name: &str) -> Source {
        Source {
            name: format!("{name} (model_toml)"),
            text: self.model_toml.clone(),
            base_dir: PathBuf::from(&self.model_dir),
        }
    }
}
