//! The shipped models, as the benches load them.

use std::path::Path;

use loopcap::config::{self, Source};
use loopcap::model::ModelSpec;

/// `models/<file>` with `--set`-style overrides.
pub fn model(file: &str, overrides: &[&str]) -> ModelSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    config::load_model_with(&Source::read(&path).unwrap(), overrides)
        .unwrap()
        .spec
}
