//! `Lock`: one writer at a time for an output, by its resolved path.
//!
//! An advisory lock on a hidden file beside the output
//! (`.NAME.loopcap-lock`), taken without waiting and released by the
//! system when its holder ends, however it ends. The path is resolved
//! first (see `target::resolve`), so two names for one place (a symlink,
//! `a/../b`) take the same lock.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{OutputError, io_at};

#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// The lock file of the output at `resolved` (a path without symlinks).
pub fn lock_path(resolved: &Path) -> PathBuf {
    let name = resolved
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    resolved
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!(".{name}.loopcap-lock"))
}

impl Lock {
    /// Locks the output at `resolved`; `shown` is the path as the user gave it.
    pub fn take(resolved: &Path, shown: &Path) -> Result<Lock, OutputError> {
        let path = lock_path(resolved);
        // Opened, never truncated: a file of that name is left as it is.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_at(&path))?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => OutputError::refused(
                shown,
                "another loopcap is writing here now: wait for it, or choose another --out",
            ),
            fs::TryLockError::Error(error) => OutputError::Io { path, error },
        })?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_goes() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let first = Lock::take(&out, &out).unwrap();
        let err = Lock::take(&out, Path::new("alias")).unwrap_err();
        assert!(
            err.to_string().starts_with("alias: another loopcap"),
            "{err}"
        );
        drop(first);
        Lock::take(&out, &out).unwrap();
        let lock = root.path().join(".out.loopcap-lock");
        assert!(lock.exists());
        // Taking the lock never truncates a file of that name.
        fs::write(&lock, "kept").unwrap();
        Lock::take(&out, &out).unwrap();
        assert_eq!(fs::read_to_string(&lock).unwrap(), "kept");
    }
}
