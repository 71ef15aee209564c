//! A config file's text, parsed and read into serde types, and a problem
//! at a dotted path turned into a place: a line of the file or the
//! `--set` flag that wrote it.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::diagnostic::{Diagnostic, Invalid};
use super::locate::{element_label, line_at, line_of};
use super::overrides::Override;

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
