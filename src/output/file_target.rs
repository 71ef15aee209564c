//! `claim_file`: one file loopcap writes by name (a report page, a fitted
//! model and its CSVs), overwriting only a file it wrote itself.

use std::fs;
use std::path::{Path, PathBuf};

use super::lock::Lock;
use super::marker::{Kind, Marker, add_files};
use super::target::resolve;
use super::{OutputError, io_at};
use crate::atomic_file;

/// A file claimed for writing: resolved, locked, and either new or one
/// loopcap wrote. When it lives in a directory of loopcap's outputs, that
/// directory is locked instead and the file joins its set once written.
#[derive(Debug)]
pub struct FileTarget {
    /// The file, without symlinks.
    pub path: PathBuf,
    /// The set of the directory it is in, if that is loopcap's.
    in_set: Option<Kind>,
    _lock: Lock,
}

/// Claims `given` for a file that `is_ours` recognises as loopcap's, from
/// its contents, when it is already there.
pub fn claim_file(
    given: &Path,
    is_ours: &dyn Fn(&[u8]) -> bool,
) -> Result<FileTarget, OutputError> {
    let path = resolve(given)?;
    let parent = path.parent().unwrap_or(Path::new("/")).to_owned();
    if path.is_dir() {
        return Err(OutputError::refused(
            given,
            "is a directory: --out takes the name of a file to write",
        ));
    }
    atomic_file::create_dir(&parent).map_err(|e| OutputError::refused(&parent, e.to_string()))?;
    // In a set, the set's lock keeps every writer of the directory out;
    // elsewhere, the file's own.
    let in_set = Marker::read(&parent)?.map(|m| m.kind);
    let lock = match in_set {
        Some(_) => Lock::take(&parent, &parent)?,
        None => Lock::take(&path, given)?,
    };
    if path.exists() {
        let head = fs::read(&path).map_err(io_at(&path))?;
        if !is_ours(&head) {
            return Err(OutputError::refused(
                given,
                "exists and loopcap did not write it: choose another name, or move it away first",
            ));
        }
    }
    Ok(FileTarget {
        path,
        in_set,
        _lock: lock,
    })
}

impl FileTarget {
    /// Records the file, now written, in its directory's set.
    pub fn written(&self) -> Result<(), OutputError> {
        let (Some(kind), Some(parent), Some(name)) =
            (self.in_set, self.path.parent(), self.path.file_name())
        else {
            return Ok(());
        };
        add_files(parent, kind, &[name.to_string_lossy().into_owned()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::marker::verify;

    fn starts_with_ours(head: &[u8]) -> bool {
        head.starts_with(b"ours")
    }

    #[test]
    fn only_a_file_loopcap_wrote_is_overwritten() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("page.html");
        claim_file(&file, &starts_with_ours).unwrap();
        fs::write(&file, "a user's page").unwrap();
        let err = claim_file(&file, &starts_with_ours)
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopcap did not write it"), "{err}");
        fs::write(&file, "ours, earlier").unwrap();
        claim_file(&file, &starts_with_ours).unwrap();
        let err = claim_file(root.path(), &starts_with_ours)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn a_file_in_a_set_joins_it() {
        let root = tempfile::tempdir().unwrap();
        Marker::sealed(root.path(), Kind::Run, [])
            .unwrap()
            .write(root.path())
            .unwrap();
        let file = root.path().join("report.html");
        let claimed = claim_file(&file, &starts_with_ours).unwrap();
        fs::write(&file, "ours").unwrap();
        claimed.written().unwrap();
        drop(claimed);
        let marker = Marker::read(root.path()).unwrap().unwrap();
        assert!(marker.files.contains_key("report.html"));
        verify(root.path()).unwrap();
        let names: Vec<_> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            !names.iter().any(|n| n.ends_with("loopcap-lock")),
            "no lock file inside a set: {names:?}"
        );
    }
}
