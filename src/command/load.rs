//! Reading the model a command runs: from its file or a run's manifest,
//! with overrides, and held against the limits. Warnings are returned, not
//! printed.

use std::path::Path;

use super::Limits;
use crate::command::error::Error;
use crate::config::experiment::is_experiment;
use crate::config::overrides::Override;
use crate::config::{self, Diagnostic, LoadedModel, Source};
use crate::output::marker;
use crate::report::manifest::Manifest;

/// A model read for a command, and what it should be warned about.
pub struct Loaded {
    pub source: Source,
    pub model: LoadedModel,
    /// The manifest's (a run of another version) and the model's warnings.
    pub warnings: Vec<String>,
}

/// A model file, or the model embedded in a manifest written by `run
/// --out`, with the manifest's warning if it has one.
pub fn read_source(path: &Path) -> Result<(Source, Option<String>), Error> {
    if path.extension().is_none_or(|ext| ext != "json") {
        return Ok((Source::read(path)?, None));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        marker::verify(dir)?;
    }
    let (manifest, warning) = Manifest::read(path)?;
    Ok((manifest.source(path)?, warning))
}

/// The model source in `path` (a model file or a run's manifest), with
/// the manifest's warning if it has one; an experiment is refused.
pub fn read_model(path: &Path) -> Result<(Source, Option<String>), Error> {
    let (source, warning) = read_source(path)?;
    if is_experiment(&source) {
        return Err(Error::input(format!(
            "{}: this is an experiment, not a model (it has a `grid` or `replications`): run it with `loopcap sweep`",
            source.name
        )));
    }
    Ok((source, warning))
}

/// `--set` flags and then `--seed`, as the overrides they are.
pub fn overrides(seed: Option<i64>, set: &[String]) -> Result<Vec<Override>, Diagnostic> {
    let mut overrides = set
        .iter()
        .map(|f| Override::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    overrides.extend(
        seed.map(|seed| {
            Override::new("seed", toml::Value::Integer(seed), format!("--seed {seed}"))
        }),
    );
    Ok(overrides)
}

/// The model in `path` with `set` (and `seed`) applied.
pub fn load(path: &Path, seed: Option<i64>, set: &[String]) -> Result<Loaded, Error> {
    let (source, warning) = read_model(path)?;
    load_source(source, warning, seed, set)
}

/// The model of `source` (read by [`read_source`], with its `warning`)
/// with `set` (and `seed`) applied.
pub fn load_source(
    source: Source,
    warning: Option<String>,
    seed: Option<i64>,
    set: &[String],
) -> Result<Loaded, Error> {
    let model = config::load_model(&source, &overrides(seed, set)?)?;
    Ok(Loaded::new(source, model, warning))
}

impl Loaded {
    /// `model`, read from `source`, warned about as a manifest's
    /// `warning` (if any) and the model's own warnings say.
    pub fn new(source: Source, model: LoadedModel, warning: Option<String>) -> Loaded {
        let warnings = warning
            .into_iter()
            .chain(model.warnings.iter().map(ToString::to_string))
            .collect();
        Loaded {
            source,
            model,
            warnings,
        }
    }

    /// Holds the model's memory (keeping its time series or not) and work
    /// estimates against the limits.
    pub fn admit(&self, limits: Limits, timeseries: bool) -> Result<(), Error> {
        Ok(limits.admit(&self.model.memory, &self.model.work, timeseries)?)
    }
}
