//! Model files → validated models. TOML is read into a table, `--set`
//! overrides are applied, serde reads it into raw types that reject unknown
//! keys, and validation turns those into a [`ModelSpec`]. Every problem is
//! reported as `file:line: path: message`.

pub mod agent;
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
pub mod prices;
pub mod quantity;
pub mod schema;
pub mod tagged;
pub mod trace;
pub mod work;
pub mod workload;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::model::ModelSpec;
pub use diagnostic::{Diagnostic, Invalid};
use locate::{element_label, line_at, line_of};
use memory::Memory;
use model_file::RawModel;
pub use overrides::Override;
use work::Work;

/// The text of a model file and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// How to name it in messages: the path as given.
    pub name: String,
    pub text: String,
    /// Relative paths inside the model (empirical CSV files) start here.
    pub base_dir: PathBuf,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, Diagnostic> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::general(&name, format!("cannot read: {e}")))?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Source {
            name,
            text,
            base_dir,
        })
    }
}

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

pub use crate::model::timeseries::MAX_TIMESERIES_BINS;

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

/// Parses a source as a TOML table; syntax errors carry their line.
pub fn parse_toml(source: &Source) -> Result<toml::Table, Diagnostic> {
    toml::from_str(&source.text).map_err(|e| Diagnostic {
        origin: source.name.clone(),
        line: e.span().map(|span| line_at(&source.text, span.start)),
        path: None,
        message: format!("invalid TOML: {}", e.message().trim()),
    })
}

/// Reads `table` (from `source`, after `overrides`) into serde type `T`,
/// locating any error at its line or at the override that caused it.
pub fn deserialize<T: DeserializeOwned>(
    source: &Source,
    table: &toml::Table,
    overrides: &[Override],
) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| locate(source, overrides, serde_problem(&e, table)))
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

/// The dotted path and message of a serde error, with missing fields
/// pointed at the field itself.
pub(crate) fn serde_problem(
    err: &serde_path_to_error::Error<toml::de::Error>,
    table: &toml::Table,
) -> Invalid {
    use serde_path_to_error::Segment;
    let mut parts: Vec<String> = Vec::new();
    let mut here: Option<&toml::Value> = None;
    for segment in err.path().iter() {
        match segment {
            Segment::Map { key } => {
                here = match here {
                    None => table.get(key),
                    Some(toml::Value::Table(t)) => t.get(key),
                    _ => None,
                };
                parts.push(key.clone());
            }
            Segment::Seq { index } => {
                let items = here.and_then(toml::Value::as_array);
                parts.push(items.map_or_else(|| index.to_string(), |a| element_label(a, *index)));
                here = items.and_then(|a| a.get(*index));
            }
            Segment::Enum { variant } => parts.push(variant.clone()),
            Segment::Unknown => parts.push("?".into()),
        }
    }
    let message = plain_words(err.inner().message().trim());
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        parts.push(field.to_owned());
        return Invalid::new(parts.join("."), "missing: this field is required");
    }
    Invalid::new(parts.join("."), message)
}

/// serde's words for TOML shapes, in TOML's: a map or a struct (named after
/// the type that reads it) is a table, a sequence a list.
fn plain_words(message: &str) -> String {
    let mut out = message
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected a list")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: list");
    while let Some(at) = out.find("expected struct ") {
        let name_start = at + "expected struct ".len();
        let name_end = out[name_start..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(out.len(), |i| name_start + i);
        out.replace_range(at..name_end, "expected a table");
    }
    out
}

/// Turns a problem at a dotted path into a place: a line of the file, or
/// the override that wrote it.
pub fn locate(source: &Source, overrides: &[Override], problem: Invalid) -> Diagnostic {
    // An override explains a problem at, inside or above what it wrote:
    // `--set capacity.burst.size=3` creates the unknown `capacity.burst`.
    let inside = |path: &str, prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    let related = |o: &&Override| inside(&problem.path, &o.path) || inside(&o.path, &problem.path);
    if let Some(o) = overrides.iter().rev().find(related) {
        return Diagnostic {
            origin: o.flag.clone(),
            line: None,
            path: Some(problem.path),
            message: problem.message,
        };
    }
    Diagnostic {
        origin: source.name.clone(),
        line: line_of(&source.text, &problem.path),
        path: Some(problem.path),
        message: problem.message,
    }
}
