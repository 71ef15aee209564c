//! Model files → validated models. TOML is read into a table, `--set`
//! overrides are applied, serde reads it into raw types that reject unknown
//! keys, and validation turns those into a [`ModelSpec`]. Every problem is
//! reported as `file:line: path: message`.

pub mod agent;
pub mod axis;
pub mod capacity;
pub mod checks;
pub mod client;
pub mod data_file;
pub mod diagnostic;
pub mod distribution;
pub mod empirical;
pub mod experiment;
pub mod fault;
pub mod field_path;
pub mod grid;
pub mod llm;
pub mod locate;
pub mod memory;
pub mod model_file;
pub mod overrides;
pub mod plans;
pub mod plot_spec;
pub mod policy;
pub mod pools;
pub mod presets;
pub mod prices;
pub mod quantity;
pub mod ramp;
pub mod read;
pub mod router;
pub mod schema;
pub mod self_hosted;
pub mod shared_limits;
pub mod tagged;
pub mod trace;
mod warnings;
pub mod work;
pub mod workload;

use crate::model::ModelSpec;
pub use diagnostic::{Diagnostic, Invalid};
use memory::Memory;
use model_file::RawModel;
pub use overrides::Override;
pub use read::{Source, deserialize, locate, parse_toml};
use work::Work;

/// A model that passed validation.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub spec: ModelSpec,
    /// The model as run: the file with every override applied.
    pub resolved: toml::Table,
    /// Problems that do not stop a run but probably spoil it.
    pub warnings: Vec<Diagnostic>,
    /// The memory a run needs at least.
    pub memory: Memory,
    /// The events a run makes.
    pub work: Work,
    /// Why the run's time series is too long to write, if it is.
    pub timeseries_too_long: Option<Diagnostic>,
}

pub use crate::model::measure::timeseries::MAX_TIMESERIES_BINS;

/// Why a run of `spec` makes too many time-series rows to write, if it does.
fn timeseries_too_long(spec: &ModelSpec) -> Option<Invalid> {
    let bins = spec.duration.ticks().div_ceil(spec.timeseries_bin.ticks());
    (bins > MAX_TIMESERIES_BINS).then(|| {
        Invalid::new(
            "timeseries_bin",
            format!(
                "a {} run in bins of {} makes {bins} time-series rows, more than the {MAX_TIMESERIES_BINS} a written time series may have: set a wider timeseries_bin",
                spec.duration, spec.timeseries_bin
            ),
        )
    })
}

/// Reads, overrides and validates a model: serde reads the file into raw
/// types that reject unknown keys (variant tables wait as [`tagged::Tagged`]),
/// then each concept's raw type checks itself into the model's values.
pub fn load_model(source: &Source, overrides: &[Override]) -> Result<LoadedModel, Diagnostic> {
    load_parsed(source, parse_toml(source)?, overrides)
}

/// [`load_model`] of a source already parsed into `table` (by
/// [`parse_toml`]), for a command that loads one model many times.
pub fn load_parsed(
    source: &Source,
    mut table: toml::Table,
    overrides: &[Override],
) -> Result<LoadedModel, Diagnostic> {
    for o in overrides {
        o.apply(&mut table)?;
    }
    let raw: RawModel = deserialize(source, &table, overrides)?;
    let (spec, warnings) = raw
        .check(&source.base_dir)
        .map_err(|e| locate(source, overrides, e))?;
    let warnings = warnings
        .into_iter()
        .map(|w| locate(source, overrides, w))
        .collect();
    let memory = Memory::of(&spec, source, overrides);
    let work = Work::of(&spec, source, overrides);
    let timeseries_too_long =
        timeseries_too_long(&spec).map(|problem| locate(source, overrides, problem));
    Ok(LoadedModel {
        spec,
        resolved: table,
        warnings,
        memory,
        work,
        timeseries_too_long,
    })
}

/// Reads, overrides and validates a model, the overrides given as
/// `--set` flags (`capacity.lanes=16`).
pub fn load_model_with(
    source: &Source,
    flags: &[impl AsRef<str>],
) -> Result<LoadedModel, Diagnostic> {
    let overrides = flags
        .iter()
        .map(|f| Override::parse(f.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    load_model(source, &overrides)
}
