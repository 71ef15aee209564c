//! `DataFile`: a file a model reads (an empirical distribution's CSV, a
//! trace it replays), recorded with a fingerprint of its contents so that a
//! rerun from a manifest, a resumed sweep or sizing, or a merge can tell
//! when it changed.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::random::fnv1a64;

use crate::error::ReadError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// As the model writes it, relative to the model's directory.
    pub file: String,
    /// FNV-1a 64 of the file's bytes, in hex.
    pub fnv1a64: String,
}

impl DataFile {
    /// The file `file` (relative to `base_dir`) as it is now.
    pub fn read(base_dir: &Path, file: &str) -> Result<DataFile, ReadError> {
        let path = base_dir.join(file);
        let bytes = fs::read(&path).map_err(ReadError::io(&path))?;
        Ok(DataFile {
            file: file.to_owned(),
            fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
        })
    }

    /// Every data file `model` (a resolved model table) reads, by name.
    pub fn all_in(model: &toml::Table, base_dir: &Path) -> Result<Vec<DataFile>, ReadError> {
        DataFile::read_all(&DataFile::names_in(model), base_dir)
    }

    /// The names of the data files `model` reads.
    pub fn names_in(model: &toml::Table) -> BTreeSet<String> {
        let mut files = BTreeSet::new();
        collect(model, &mut files);
        files
    }

    /// The files named `names` (relative to `base_dir`) as they are now.
    pub fn read_all<'a>(
        names: impl IntoIterator<Item = &'a String>,
        base_dir: &Path,
    ) -> Result<Vec<DataFile>, ReadError> {
        names
            .into_iter()
            .map(|f| DataFile::read(base_dir, f))
            .collect()
    }

    /// Checks that `recorded` still match the files under `base_dir`.
    pub fn unchanged(recorded: &[DataFile], base_dir: &Path) -> Result<(), ReadError> {
        for file in recorded {
            let now = DataFile::read(base_dir, &file.file)?;
            if now != *file {
                return Err(ReadError::bad(format!(
                    "{} changed since it was recorded (fingerprint {} then, {} now): rerunning would mix results; restore the file or run the model afresh",
                    base_dir.join(&file.file).display(),
                    file.fnv1a64,
                    now.fnv1a64
                )));
            }
        }
        Ok(())
    }
}

/// The `file` of every empirical distribution and every trace (a table
/// with a `format`) inside `value`.
fn collect(table: &toml::Table, out: &mut BTreeSet<String>) {
    let empirical = table.get("dist").and_then(toml::Value::as_str) == Some("empirical");
    if (empirical || table.contains_key("format"))
        && let Some(file) = table.get("file").and_then(toml::Value::as_str)
    {
        out.insert(file.to_owned());
    }
    for value in table.values() {
        match value {
            toml::Value::Table(t) => collect(t, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(t) = item {
                        collect(t, out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_are_found_fingerprinted_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("t.csv"), "x\n1\n").unwrap();
        let model: toml::Table = toml::from_str(
            r#"
            [agents.a]
            steps = { dist = "empirical", file = "t.csv", column = "x" }
            [[workload]]
            think_time = { dist = "empirical", file = "t.csv", column = "x", unit = "s" }
            [[workload]]
            trace = { file = "trace.csv", format = "azure" }
            "#,
        )
        .unwrap();
        fs::write(
            dir.path().join("trace.csv"),
            "TIMESTAMP
",
        )
        .unwrap();
        let files = DataFile::all_in(&model, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].file, "t.csv");
        assert_eq!(files[1].file, "trace.csv");
        assert!(DataFile::unchanged(&files, dir.path()).is_ok());
        fs::write(dir.path().join("t.csv"), "x\n2\n").unwrap();
        let err = DataFile::unchanged(&files, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.csv changed since it was recorded"), "{err}");
    }
}
