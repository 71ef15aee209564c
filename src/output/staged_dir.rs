//! `StagedDir`: a set of outputs written aside, then put in place of the
//! target's at one instant.
//!
//! The outputs are written into a hidden staging directory beside the
//! target (which checks that the place is writable before anything is
//! simulated), sealed with their marker, and swapped with the target by one
//! `renameat2(RENAME_EXCHANGE)` (or renamed into place with
//! `RENAME_NOREPLACE` when there is none): a reader sees the old set or the
//! new one, never a mix and never nothing. The old set is then removed,
//! file by file as its marker lists them, so nothing else is. A mount point
//! cannot be swapped: there the staging directory is inside the target, and
//! the set is published file by file behind its marker, which says
//! `writing` until the last file is in (readers refuse it until then). A
//! killed writer's staging directory is removed by the next writer.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::atomic_file;

use super::marker::{Kind, Marker, STAGING, files_under, is_bookkeeping};
use super::target::{INNER_STAGING_PREFIX, Target, remove_set, staging_prefix};
use super::{OutputError, io_at};

pub struct StagedDir {
    target: Target,
    kind: Kind,
    staging: TempDir,
}

/// How a set was put in place.
#[derive(Debug, PartialEq, Eq)]
pub enum Published {
    /// Renamed or swapped in at one instant. A file that was not loopcap's
    /// and came into the old set's directory after it was claimed is kept,
    /// with that directory, at `kept_aside`.
    Whole { kept_aside: Option<PathBuf> },
    /// File by file behind its marker (a mount point, or a file system
    /// that cannot swap directories).
    FileByFile,
}

/// The outcome of `renameat2` with `flags`; `Unsupported` where there is none.
fn rename_with(from: &Path, to: &Path, exchange: bool) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        let flags = if exchange {
            RenameFlags::EXCHANGE
        } else {
            RenameFlags::NOREPLACE
        };
        renameat_with(CWD, from, CWD, to, flags).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (from, to, exchange);
        Err(io::ErrorKind::Unsupported.into())
    }
}

/// Whether a failed swap means "cannot swap here" (try file by file)
/// rather than a failure to report.
fn cannot_swap(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(code) if code == rustix::io::Errno::INVAL.raw_os_error()
                || code == rustix::io::Errno::BUSY.raw_os_error()
                || code == rustix::io::Errno::XDEV.raw_os_error()
        )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl StagedDir {
    /// Stages a set of `kind` for `target`.
    pub fn new(target: Target, kind: Kind) -> Result<StagedDir, OutputError> {
        let (place, prefix) = if target.mount_point {
            (target.path.clone(), INNER_STAGING_PREFIX.to_owned())
        } else {
            let parent = target.path.parent().unwrap_or(Path::new("/")).to_owned();
            (parent, staging_prefix(&target.path))
        };
        let staging = atomic_file::temporary(atomic_file::DIR_MODE)
            .prefix(&prefix)
            .tempdir_in(&place)
            .map_err(io_at(&place))?;
        let mark = staging.path().join(STAGING);
        fs::write(&mark, "").map_err(io_at(&mark))?;
        Ok(StagedDir {
            target,
            kind,
            staging,
        })
    }

    /// Where to write the outputs until they are published.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// The place claimed.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Puts the staged set in place of the target's.
    pub fn publish(self) -> Result<Published, OutputError> {
        let staged = self.staging.path();
        let files = files_under(staged, &is_bookkeeping).map_err(io_at(staged))?;
        let marker = Marker::sealed(staged, self.kind, files).map_err(io_at(staged))?;
        marker.write(staged).map_err(io_at(staged))?;
        fs::remove_file(staged.join(STAGING)).map_err(io_at(staged))?;
        let target = &self.target.path;
        let parent = target.parent().unwrap_or(Path::new("/"));
        if !self.target.mount_point {
            let swapped = rename_with(staged, target, target.exists());
            match swapped {
                Ok(()) => {
                    // `staged` now names the old set, if there was one.
                    let old = self.staging.keep();
                    let gone = match &self.target.existing {
                        Some(previous) => remove_set(&old, previous).map_err(io_at(&old))?,
                        None => fs::remove_dir(&old).is_ok() || !old.exists(),
                    };
                    sync_dir(parent).map_err(io_at(parent))?;
                    return Ok(Published::Whole {
                        kept_aside: (!gone).then_some(old),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && !target.exists() => {
                    // The target was there when asked and is gone now.
                    return Err(io_at(target)(e));
                }
                Err(e) if !cannot_swap(&e) => return Err(io_at(target)(e)),
                Err(_) if !target.exists() => {
                    fs::rename(staged, target).map_err(io_at(target))?;
                    let _ = self.staging.keep();
                    sync_dir(parent).map_err(io_at(parent))?;
                    return Ok(Published::Whole { kept_aside: None });
                }
                Err(_) => {}
            }
        }
        self.file_by_file(&marker)?;
        Ok(Published::FileByFile)
    }

    /// Moves the staged files into the target one by one, behind a marker
    /// that says `writing` until the last is in.
    fn file_by_file(self, new: &Marker) -> Result<(), OutputError> {
        let target = &self.target.path;
        let staged = self.staging.path();
        fs::create_dir_all(target).map_err(io_at(target))?;
        let old = self.target.existing.clone();
        let mut owned = new.files.keys().cloned().collect::<Vec<_>>();
        owned.extend(old.iter().flat_map(|m| m.files.keys().cloned()));
        Marker::writing(self.kind, owned)
            .write(target)
            .map_err(io_at(target))?;
        for file in new.files.keys() {
            let to = target.join(file);
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).map_err(io_at(dir))?;
            }
            fs::rename(staged.join(file), &to).map_err(io_at(&to))?;
        }
        if let Some(old) = old {
            for file in old.files.keys().filter(|f| !new.files.contains_key(*f)) {
                match fs::remove_file(target.join(file)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => {
                        return Err(io_at(&target.join(file))(e));
                    }
                    _ => {}
                }
            }
        }
        new.write(target).map_err(io_at(target))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::target::{Reuse, claim};
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn stage(target: &Path, force: bool) -> StagedDir {
        let claimed = claim(target, Kind::Run, Reuse::Replace { force }).unwrap();
        StagedDir::new(claimed, Kind::Run).unwrap()
    }

    #[test]
    fn a_published_set_replaces_the_previous_one_whole() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = stage(&target, false);
        fs::write(first.path().join("a.json"), "1").unwrap();
        fs::write(first.path().join("b.csv"), "1").unwrap();
        assert!(!target.exists(), "nothing is visible before publishing");
        assert_eq!(
            first.publish().unwrap(),
            Published::Whole { kept_aside: None }
        );
        assert_eq!(names(&target), [".loopcap.json", "a.json", "b.csv"]);
        let second = stage(&target, true);
        fs::write(second.path().join("a.json"), "2").unwrap();
        second.publish().unwrap();
        assert_eq!(
            names(&target),
            [".loopcap.json", "a.json"],
            "no file of the old set stays"
        );
        assert_eq!(fs::read_to_string(target.join("a.json")).unwrap(), "2");
        assert_eq!(names(root.path()), [".out.loopcap-lock", "out"]);
    }

    #[test]
    fn an_unpublished_set_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let abandoned = stage(&target, false);
        fs::write(abandoned.path().join("a.json"), "1").unwrap();
        drop(abandoned);
        assert_eq!(names(root.path()), [".out.loopcap-lock"]);
    }

    #[test]
    fn a_file_put_beside_the_set_while_it_ran_is_kept() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let first = stage(&target, false);
        fs::write(first.path().join("a.json"), "1").unwrap();
        first.publish().unwrap();
        let second = stage(&target, true);
        // Put there after the claim checked the directory.
        fs::write(target.join("notes.txt"), "mine").unwrap();
        fs::write(second.path().join("a.json"), "2").unwrap();
        let Published::Whole {
            kept_aside: Some(old),
        } = second.publish().unwrap()
        else {
            panic!("the old set's folder is kept, with the file");
        };
        assert_eq!(names(&target), [".loopcap.json", "a.json"]);
        assert_eq!(names(&old), ["notes.txt"]);
    }
}
