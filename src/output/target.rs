//! `claim`: makes a directory ready for one writer, or says why it is not
//! one loopcap may write.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::lock::Lock;
use super::marker::{Kind, MARKER, Marker, STAGING, files_under, is_bookkeeping};
use super::{OutputError, io_at};
use crate::atomic_file;

/// What a writer does with a set of its own kind already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Replaces it whole, only when asked to (`--force`).
    Replace { force: bool },
    /// Goes on with it (a sweep's `--resume`, a sizing search's journal):
    /// the writer checks that it is the same work.
    Continue,
    /// Adds files to a set of any kind (`plot`, `report`).
    AddTo,
}

/// A place claimed for writing: resolved, locked for as long as it lives,
/// and holding nothing but loopcap's files.
#[derive(Debug)]
pub struct Target {
    /// The path as the user gave it, for messages.
    pub shown: PathBuf,
    /// The same place without symlinks, `.` or `..`.
    pub path: PathBuf,
    /// The set there now.
    pub existing: Option<Marker>,
    /// The directory is a mount point, so it cannot be swapped whole:
    /// outputs are staged inside it and published file by file.
    pub mount_point: bool,
    /// A note for the user: the path went through a symlink.
    pub note: Option<String>,
    _lock: Lock,
}

/// `path` with `.` and `..` taken lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `given` as an absolute path without symlinks: the deepest part that
/// exists is resolved by the system, the rest taken lexically. A link whose
/// end does not exist is refused.
/// The way from directory `from` to `to`, both absolute and resolved:
/// `..` up to where they part, then down to `to`.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut way: PathBuf = from[shared..].iter().map(|_| "..").collect();
    way.extend(&to[shared..]);
    way
}

pub fn resolve(given: &Path) -> Result<PathBuf, OutputError> {
    let cwd = std::env::current_dir().map_err(io_at(Path::new(".")))?;
    let absolute = normalize(&cwd.join(given));
    if fs::symlink_metadata(given).is_ok_and(|m| m.file_type().is_symlink()) {
        return fs::canonicalize(given).map_err(|e| {
            let to = fs::read_link(given).unwrap_or_default();
            OutputError::refused(
                given,
                format!("a link to {}, which cannot be reached ({e})", to.display()),
            )
        });
    }
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut resolved = fs::canonicalize(existing).map_err(io_at(existing))?;
    resolved.extend(rest.iter().rev());
    Ok(resolved)
}

/// The names of `files`, at most five, and how many more.
fn list(files: &[&str]) -> String {
    let mut shown = files.iter().take(5).copied().collect::<Vec<_>>().join(", ");
    if files.len() > 5 {
        shown.push_str(&format!(" and {} more", files.len() - 5));
    }
    shown
}

/// Removes what loopcap wrote in `dir` (the files `marker` lists, the
/// marker, empty folders) and `dir` itself if nothing else is left. Returns
/// whether `dir` is gone.
pub fn remove_set(dir: &Path, marker: &Marker) -> io::Result<bool> {
    for file in marker.files.keys().map(String::as_str).chain([MARKER]) {
        match fs::remove_file(dir.join(file)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    // Deepest folders first; one that still holds a file stays.
    let mut folders: Vec<&str> = marker
        .files
        .keys()
        .filter_map(|f| f.rsplit_once('/').map(|(d, _)| d))
        .collect();
    folders.sort_by_key(|d| std::cmp::Reverse(d.len()));
    folders.dedup();
    for folder in folders {
        let _ = fs::remove_dir(dir.join(folder));
    }
    Ok(fs::remove_dir(dir).is_ok())
}

/// Removes a staging directory a stopped writer left, if all of it is
/// loopcap's (it still holds its staging mark, or a marker listing
/// everything in it); anything else is left alone.
fn remove_stale_staging(dir: &Path) -> io::Result<()> {
    if dir.join(STAGING).exists() {
        return fs::remove_dir_all(dir);
    }
    if let Ok(Some(marker)) = Marker::read(dir) {
        let present = files_under(dir, &is_bookkeeping)?;
        if marker.foreign(&present).is_empty() {
            remove_set(dir, &marker)?;
        }
    }
    Ok(())
}

/// Removes the staging directories in `dir` whose names start with `prefix`.
fn remove_stale_stagings(dir: &Path, prefix: &str) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(prefix) && entry.file_type()?.is_dir() {
            remove_stale_staging(&entry.path())?;
        }
    }
    Ok(())
}

/// The prefix of the staging directories of `target` beside it.
pub fn staging_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    format!(".{name}.loopcap-staging-")
}

/// The prefix of staging directories inside a mount point.
pub const INNER_STAGING_PREFIX: &str = ".loopcap-staging-";

/// Claims the directory `given` for a writer of `kind`.
pub fn claim(given: &Path, kind: Kind, reuse: Reuse) -> Result<Target, OutputError> {
    let refuse = |message: String| OutputError::refused(given, message);
    let path = resolve(given)?;
    let cwd = std::env::current_dir()
        .and_then(fs::canonicalize)
        .map_err(io_at(Path::new(".")))?;
    let Some(parent) = path.parent().map(Path::to_path_buf) else {
        return Err(refuse(
            "names the root directory: --out takes a directory of its own".into(),
        ));
    };
    if cwd.starts_with(&path) {
        return Err(refuse(format!(
            "is the current directory{}: --out takes a directory of its own, e.g. {}",
            if cwd == path { "" } else { "'s ancestor" },
            given.join("out").display()
        )));
    }
    if path.exists() && !path.is_dir() {
        return Err(refuse(
            "not a directory: --out takes a directory to write into".into(),
        ));
    }
    let parent = parent.as_path();
    atomic_file::create_dir(parent).map_err(|e| {
        if e.kind() == io::ErrorKind::NotADirectory {
            refuse(format!("{} {e}", parent.display()))
        } else {
            io_at(parent)(e)
        }
    })?;
    let lock = Lock::take(&path, given)?;
    remove_stale_stagings(parent, &staging_prefix(&path)).map_err(io_at(parent))?;
    let note = (normalize(&std::env::current_dir().unwrap_or_default().join(given)) != path)
        .then(|| format!("{} is {}: writing there", given.display(), path.display()));
    let mut target = Target {
        shown: given.to_owned(),
        path,
        existing: None,
        mount_point: false,
        note,
        _lock: lock,
    };
    if !target.path.exists() {
        return Ok(target);
    }
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).map_err(io_at(p));
    target.mount_point = dev(&target.path)? != dev(parent)?;
    remove_stale_stagings(&target.path, INNER_STAGING_PREFIX).map_err(io_at(&target.path))?;
    let present = files_under(&target.path, &is_bookkeeping).map_err(io_at(&target.path))?;
    let marker = Marker::read(&target.path)?;
    let Some(marker) = marker else {
        if present.is_empty() {
            return Ok(target);
        }
        let names: Vec<&str> = present.iter().map(String::as_str).collect();
        return Err(refuse(format!(
            "holds files loopcap did not write ({}): --out takes a new or empty directory, or one loopcap wrote",
            list(&names)
        )));
    };
    let foreign = marker.foreign(&present);
    if !foreign.is_empty() {
        return Err(refuse(format!(
            "holds files loopcap did not write beside {} ({}): move them away, or choose another --out",
            marker.kind.noun(),
            list(&foreign)
        )));
    }
    match reuse {
        _ if marker.kind != kind && reuse != Reuse::AddTo => {
            return Err(refuse(format!(
                "holds {}, not {}: choose another --out",
                marker.kind.noun(),
                kind.noun()
            )));
        }
        Reuse::Replace { force: false } => {
            return Err(refuse(format!(
                "holds {} written earlier: add --force to replace them, or choose another --out",
                marker.kind.noun()
            )));
        }
        _ => {}
    }
    target.existing = Some(marker);
    Ok(target)
}

impl Target {
    /// Marks the directory as being written, by a writer of `kind` that
    /// writes in place (a sweep, a sizing search): a reader refuses it
    /// until [`marker::seal_in_place`](super::marker::seal_in_place), and a
    /// later writer knows the files there as loopcap's.
    pub fn mark_writing(&self, kind: Kind) -> Result<(), OutputError> {
        let dir = &self.path;
        atomic_file::create_dir(dir).map_err(io_at(dir))?;
        let present = files_under(dir, &is_bookkeeping).map_err(io_at(dir))?;
        Marker::writing(kind, present)
            .write(dir)
            .map_err(io_at(dir))
    }

    /// Puts back the marker the directory had when claimed, for a writer
    /// that refused before writing anything.
    pub fn restore(&self) -> Result<(), OutputError> {
        match &self.existing {
            Some(marker) => marker.write(&self.path).map_err(io_at(&self.path)),
            None => Ok(()),
        }
    }

    /// Removes the set there now (for `--force`), leaving the directory.
    pub fn clear(&mut self) -> Result<(), OutputError> {
        if let Some(marker) = self.existing.take() {
            remove_set(&self.path, &marker).map_err(io_at(&self.path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim_at(dir: &Path, reuse: Reuse) -> Result<Target, OutputError> {
        claim(dir, Kind::Run, reuse)
    }

    #[test]
    fn a_users_files_are_refused_by_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("models");
        fs::create_dir(&dir).unwrap();
        for i in 0..7 {
            fs::write(dir.join(format!("m{i}.toml")), "").unwrap();
        }
        let err = claim_at(&dir, Reuse::Replace { force: true })
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds files loopcap did not write (m0.toml, m1.toml, m2.toml, m3.toml, m4.toml and 2 more)"),
            "{err}"
        );
        // One user file beside a run's outputs is refused too.
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("summary.json"), "{}").unwrap();
        Marker::sealed(&out, Kind::Run, ["summary.json".to_owned()])
            .unwrap()
            .write(&out)
            .unwrap();
        claim_at(&out, Reuse::Replace { force: true }).unwrap();
        let err = claim_at(&out, Reuse::Replace { force: false })
            .unwrap_err()
            .to_string();
        assert!(err.contains("add --force"), "{err}");
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let err = claim_at(&out, Reuse::Replace { force: true })
            .unwrap_err()
            .to_string();
        assert!(err.contains("(notes.txt)"), "{err}");
        let err = claim(&out, Kind::Sweep, Reuse::Continue).unwrap_err();
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    #[test]
    fn another_kind_is_refused_unless_files_are_added() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        Marker::writing(Kind::Sweep, []).write(&out).unwrap();
        let err = claim_at(&out, Reuse::Replace { force: true })
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds a sweep, not a run's outputs"), "{err}");
        claim(&out, Kind::Figures, Reuse::AddTo).unwrap();
    }

    #[test]
    fn a_link_is_resolved_and_locks_its_end() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        let link = root.path().join("link");
        fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let held = claim_at(&link, Reuse::Replace { force: false }).unwrap();
        assert_eq!(held.path, fs::canonicalize(&real).unwrap());
        assert!(held.note.as_deref().unwrap().contains("real"));
        let err = claim_at(&real, Reuse::Replace { force: false })
            .unwrap_err()
            .to_string();
        assert!(err.contains("another loopcap is writing"), "{err}");
        let dangling = root.path().join("dangling");
        std::os::unix::fs::symlink(root.path().join("nowhere"), &dangling).unwrap();
        let err = claim_at(&dangling, Reuse::Replace { force: false })
            .unwrap_err()
            .to_string();
        assert!(err.contains("which cannot be reached"), "{err}");
    }

    #[test]
    fn a_stale_staging_directory_is_removed_and_a_users_is_not() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let stale = root.path().join(".out.loopcap-staging-abc");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(STAGING), "").unwrap();
        fs::write(stale.join("summary.json"), "half").unwrap();
        let users = root.path().join(".out.loopcap-staging-mine");
        fs::create_dir(&users).unwrap();
        fs::write(users.join("notes.txt"), "mine").unwrap();
        claim_at(&out, Reuse::Replace { force: false }).unwrap();
        assert!(!stale.exists());
        assert!(users.join("notes.txt").exists());
    }

    #[test]
    fn normalize_takes_dots_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }
}
