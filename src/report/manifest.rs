//! `manifest.json`: enough to rerun a run exactly.

use serde::{Deserialize, Serialize};

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
