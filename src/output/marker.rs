//! `Marker`: the `.loopcap.json` of an output directory: what kind of set it
//! holds, whether that set is whole, and every file loopcap wrote there,
//! each with the FNV-1a 64 fingerprint of its bytes once the set is sealed.
//!
//! Writers read it to tell their own files from a user's (see
//! `target::claim`); readers check it ([`verify`]), so a set whose files do
//! not belong together (one edited, cut or swapped since, or a set still
//! being written) is refused rather than read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{OutputError, io_at};
use crate::atomic_file;
use crate::engine::random::fnv1a64;
use crate::json::write_json;

/// The marker's file name, in the directory it describes.
pub const MARKER: &str = ".loopcap.json";
/// Inside a staging directory: everything here is loopcap's.
pub const STAGING: &str = ".loopcap-staging";

/// What an output directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `run --out`.
    Run,
    /// `sweep --out` or `merge --out`.
    Sweep,
    /// `size --out`.
    Sizing,
    /// `plot --out` into a directory of its own.
    Figures,
}

impl Kind {
    /// How errors name a set of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Run => "a run's outputs",
            Kind::Sweep => "a sweep",
            Kind::Sizing => "a sizing",
            Kind::Figures => "figures",
        }
    }
}

/// Whether the files listed are a whole set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A writer is at work, or was stopped: the files are loopcap's, but
    /// not a set to read.
    Writing,
    /// Every file is as loopcap left it, with its fingerprint.
    Written,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    pub loopcap: String,
    pub kind: Kind,
    pub state: State,
    /// Each file loopcap wrote, relative to the directory with `/` between
    /// parts, and its fingerprint (none while being written).
    pub files: BTreeMap<String, Option<String>>,
}

/// The fingerprint of the file at `path`.
fn fingerprint(path: &Path) -> io::Result<String> {
    Ok(format!("{:016x}", fnv1a64(&fs::read(path)?)))
}

/// Every file under `dir` (not directories), relative, with `/` between
/// parts, in order; `skip` says which top-level names to leave out.
pub fn files_under(dir: &Path, skip: &dyn Fn(&str) -> bool) -> io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, prefix)) = pending.pop() {
        for entry in fs::read_dir(&at)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if prefix.is_empty() && skip(&name) {
                continue;
            }
            let relative = format!("{prefix}{name}");
            if entry.file_type()?.is_dir() {
                pending.push((entry.path(), format!("{relative}/")));
            } else {
                found.push(relative);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What tells one version of a file from another: its size, modification
/// time and inode (loopcap replaces a file by renaming a new one over it).
pub type Version = (u64, std::time::SystemTime, u64);

/// Each file under `dir` with its version: two snapshots differ where a
/// file was written between them.
pub fn snapshot(dir: &Path) -> io::Result<BTreeSet<(String, Version)>> {
    use std::os::unix::fs::MetadataExt;
    files_under(dir, &is_bookkeeping)?
        .into_iter()
        .map(|f| {
            let m = fs::metadata(dir.join(&f))?;
            Ok((f, (m.len(), m.modified()?, m.ino())))
        })
        .collect()
}

/// A top-level name that is loopcap's bookkeeping, never part of a set.
pub fn is_bookkeeping(name: &str) -> bool {
    name == MARKER
        || name == STAGING
        || name.starts_with(".loopcap-staging-")
        || name.ends_with(".loopcap-lock")
}

impl Marker {
    /// The marker of `dir`, if it has one.
    pub fn read(dir: &Path) -> Result<Option<Marker>, OutputError> {
        let path = dir.join(MARKER);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&path)(e)),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            OutputError::refused(
                &path,
                format!("not a marker loopcap wrote ({e}): the directory's files cannot be told from a user's; choose another directory"),
            )
        })
    }

    /// A marker for a set of `kind` being written, owning `files`.
    pub fn writing(kind: Kind, files: impl IntoIterator<Item = String>) -> Marker {
        Marker {
            loopcap: env!("CARGO_PKG_VERSION").to_owned(),
            kind,
            state: State::Writing,
            files: files.into_iter().map(|f| (f, None)).collect(),
        }
    }

    /// Seals the set `files` of `dir`: each file's fingerprint as it is now.
    pub fn sealed(
        dir: &Path,
        kind: Kind,
        files: impl IntoIterator<Item = String>,
    ) -> io::Result<Marker> {
        let files = files
            .into_iter()
            .map(|f| {
                let print = fingerprint(&dir.join(&f))?;
                Ok((f, Some(print)))
            })
            .collect::<io::Result<_>>()?;
        Ok(Marker {
            state: State::Written,
            files,
            ..Marker::writing(kind, [])
        })
    }

    /// Writes the marker into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        atomic_file::write_file(&dir.join(MARKER), |w| write_json(w, self))
    }

    /// The files of `present` that this marker does not list.
    pub fn foreign<'a>(&self, present: &'a [String]) -> Vec<&'a str> {
        present
            .iter()
            .filter(|f| !self.files.contains_key(f.as_str()))
            .map(String::as_str)
            .collect()
    }
}

/// Seals a set written in place: every file now in `dir`. The claim found
/// none but loopcap's there, so these are the files loopcap wrote while it
/// held the lock (a user's file put into a locked output directory
/// meanwhile is taken as loopcap's).
pub fn seal_in_place(dir: &Path, kind: Kind) -> Result<(), OutputError> {
    let files = files_under(dir, &is_bookkeeping).map_err(io_at(dir))?;
    Marker::sealed(dir, kind, files)
        .and_then(|m| m.write(dir))
        .map_err(io_at(dir))
}

/// Adds `added` (files just written into `dir`) to its set, sealed; a
/// directory without a marker becomes a set of `kind`.
pub fn add_files(dir: &Path, kind: Kind, added: &[String]) -> Result<(), OutputError> {
    let mut marker = Marker::read(dir)?.unwrap_or_else(|| Marker {
        state: State::Written,
        ..Marker::writing(kind, [])
    });
    for file in added {
        let print = fingerprint(&dir.join(file)).map_err(io_at(&dir.join(file)))?;
        marker.files.insert(file.clone(), Some(print));
    }
    marker.write(dir).map_err(io_at(dir))
}

/// Whether `file` is drawn from a set's other files (a figure, a page).
fn is_drawn(file: &str) -> bool {
    [".png", ".svg", ".html"]
        .iter()
        .any(|ext| file.ends_with(ext))
}

/// Checks that `dir`'s files belong together before it is read: a set
/// still being written, or one whose file changed or went missing since
/// loopcap sealed it (a missing figure or page aside), is refused. A directory without a marker (written by
/// an earlier version, or by hand) is read as it is.
pub fn verify(dir: &Path) -> Result<(), OutputError> {
    let Some(marker) = Marker::read(dir)? else {
        return Ok(());
    };
    if marker.state == State::Writing {
        return Err(OutputError::refused(
            dir,
            format!(
                "{} still being written, or its writer was stopped: wait for it, or write it again",
                marker.kind.noun()
            ),
        ));
    }
    let mut changed = BTreeSet::new();
    for (file, recorded) in &marker.files {
        let path: PathBuf = dir.join(file);
        let now = match fingerprint(&path) {
            Ok(now) => Some(now),
            // A figure or page is drawn from the rest, and can be again.
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_drawn(file) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_at(&path)(e)),
        };
        if now.as_ref() != recorded.as_ref() {
            changed.insert(match now {
                Some(_) => format!("{file} (changed)"),
                None => format!("{file} (missing)"),
            });
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    Err(OutputError::refused(
        dir,
        format!(
            "its files do not belong together: {} since loopcap wrote {}; write it again",
            changed.into_iter().collect::<Vec<_>>().join(", "),
            marker.kind.noun()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_set_reads_until_a_file_changes_or_goes() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("timeseries")).unwrap();
        fs::write(dir.path().join("runs.csv"), "run\n0\n").unwrap();
        fs::write(dir.path().join("timeseries/point-0.csv"), "t\n").unwrap();
        seal_in_place(dir.path(), Kind::Sweep).unwrap();
        let marker = Marker::read(dir.path()).unwrap().unwrap();
        assert_eq!(
            marker.files.keys().collect::<Vec<_>>(),
            ["runs.csv", "timeseries/point-0.csv"]
        );
        verify(dir.path()).unwrap();
        fs::write(dir.path().join("runs.csv"), "run\n1\n").unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("runs.csv (changed)"), "{err}");
        fs::write(dir.path().join("runs.csv"), "run\n0\n").unwrap();
        verify(dir.path()).unwrap();
        fs::write(dir.path().join("figure.svg"), "<svg/>").unwrap();
        add_files(dir.path(), Kind::Sweep, &["figure.svg".to_owned()]).unwrap();
        fs::remove_file(dir.path().join("figure.svg")).unwrap();
        verify(dir.path()).unwrap();
        fs::remove_file(dir.path().join("timeseries/point-0.csv")).unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("timeseries/point-0.csv (missing)"), "{err}");
    }

    #[test]
    fn a_set_being_written_is_not_read_and_no_marker_reads_as_before() {
        let dir = tempfile::tempdir().unwrap();
        verify(dir.path()).unwrap();
        Marker::writing(Kind::Run, ["summary.json".to_owned()])
            .write(dir.path())
            .unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("still being written"), "{err}");
        fs::write(dir.path().join(MARKER), "{}").unwrap();
        let err = verify(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a marker loopcap wrote"), "{err}");
    }
}
