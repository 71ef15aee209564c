//! `OutputDir`: where `run --out DIR` writes, as a set published whole.
//!
//! Before the run: a directory that holds a sweep is refused, a second
//! writer of the same directory is refused (an advisory lock beside it,
//! released by the system if the process dies), and a staging directory is
//! made beside the target, which checks that the place is writable before
//! anything is simulated. The outputs are written into the staging
//! directory, which is then renamed over the target: a reader sees the old
//! set or the new one, never a mix, and a killed run leaves only a hidden
//! staging directory (`.loopcap-*`) behind, never a half-written set.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::atomic_file;

/// Why outputs cannot be written to a directory.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The directory given is not a place for a run's outputs (exit 2).
    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },
    /// A file could not be read or written (exit 1).
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |error| OutputError::Io {
        path: path.to_owned(),
        error,
    }
}

pub struct OutputDir {
    target: PathBuf,
    staging: TempDir,
    /// Held until the set is published (or the process ends).
    _lock: File,
}

impl OutputDir {
    /// Makes ready to write a run's outputs to `target`.
    pub fn prepare(target: &Path) -> Result<OutputDir, OutputError> {
        let refuse = |message: &str| OutputError::Refused {
            path: target.to_owned(),
            message: message.to_owned(),
        };
        if target.exists() && !target.is_dir() {
            return Err(refuse(
                "not a directory: --out takes a directory to write into",
            ));
        }
        if target.join("runs.csv").exists() {
            return Err(refuse(
                "holds a sweep (runs.csv): a run would overwrite its manifest; choose another --out",
            ));
        }
        let name = target
            .file_name()
            .ok_or_else(|| refuse("names no directory"))?
            .to_string_lossy()
            .into_owned();
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        atomic_file::create_dir(parent).map_err(|e| {
            if e.kind() == io::ErrorKind::NotADirectory {
                refuse(&format!("{} {e}", parent.display()))
            } else {
                io_at(parent)(e)
            }
        })?;
        let lock_path = parent.join(format!(".{name}.lock"));
        let lock = File::create(&lock_path).map_err(io_at(&lock_path))?;
        lock.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => {
                refuse("another loopcap is writing here now: wait for it, or choose another --out")
            }
            fs::TryLockError::Error(error) => OutputError::Io {
                path: lock_path.clone(),
                error,
            },
        })?;
        let staging = tempfile::Builder::new()
            .prefix(".loopcap-")
            .tempdir_in(parent)
            .map_err(io_at(parent))?;
        Ok(OutputDir {
            target: target.to_owned(),
            staging,
            _lock: lock,
        })
    }

    /// Where to write the outputs until they are published.
    pub fn staging(&self) -> &Path {
        self.staging.path()
    }

    /// The directory the outputs end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the staged set in place of the target's, whole.
    pub fn publish(self) -> Result<(), OutputError> {
        let staged = self.staging.keep();
        let result = replace_dir(&staged, &self.target);
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }
}

/// Renames `staged` to `target`, moving a previous `target` aside first and
/// deleting it after: the target always holds one whole set.
fn replace_dir(staged: &Path, target: &Path) -> Result<(), OutputError> {
    if !target.exists() {
        return fs::rename(staged, target).map_err(io_at(target));
    }
    let old = staged.with_extension("old");
    fs::rename(target, &old).map_err(io_at(target))?;
    if let Err(e) = fs::rename(staged, target) {
        // Put the previous set back rather than leave nothing.
        let _ = fs::rename(&old, target);
        return Err(io_at(target)(e));
    }
    fs::remove_dir_all(&old).map_err(io_at(&old))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_published_set_replaces_the_previous_one_whole() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = OutputDir::prepare(&target).unwrap();
        fs::write(first.staging().join("a.json"), "1").unwrap();
        fs::write(first.staging().join("b.csv"), "1").unwrap();
        assert!(!target.exists(), "nothing is visible before publishing");
        first.publish().unwrap();
        assert_eq!(files(&target), ["a.json", "b.csv"]);
        let second = OutputDir::prepare(&target).unwrap();
        fs::write(second.staging().join("a.json"), "2").unwrap();
        second.publish().unwrap();
        assert_eq!(files(&target), ["a.json"], "no file of the old set stays");
        assert_eq!(fs::read_to_string(target.join("a.json")).unwrap(), "2");
        assert_eq!(files(root.path()), [".out.lock", "out"]);
    }

    #[test]
    fn an_unpublished_set_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let abandoned = OutputDir::prepare(&target).unwrap();
        fs::write(abandoned.staging().join("a.json"), "1").unwrap();
        drop(abandoned);
        assert_eq!(files(root.path()), [".out.lock"]);
    }

    #[test]
    fn a_second_writer_a_file_and_a_sweep_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = OutputDir::prepare(&target).unwrap();
        let err = OutputDir::prepare(&target).err().unwrap();
        assert!(
            err.to_string().contains("another loopcap is writing"),
            "{err}"
        );
        drop(first);
        assert!(
            OutputDir::prepare(&target).is_ok(),
            "the lock goes with its holder"
        );
        let file = root.path().join("file");
        fs::write(&file, "").unwrap();
        let err = OutputDir::prepare(&file).err().unwrap();
        assert!(err.to_string().contains("not a directory"), "{err}");
        let sweep = root.path().join("sweep");
        fs::create_dir(&sweep).unwrap();
        fs::write(sweep.join("runs.csv"), "run\n").unwrap();
        let err = OutputDir::prepare(&sweep).err().unwrap();
        assert!(err.to_string().contains("holds a sweep"), "{err}");
    }
}
