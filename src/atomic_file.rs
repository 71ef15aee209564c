//! Files that appear whole or not at all: written to a uniquely named
//! temporary file in the target's directory, synced, renamed over the target,
//! and the directory synced, so neither a crash nor a concurrent writer (of
//! this or another thread) leaves a half-written file or a stray temporary.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A temporary file (`mode` 0o666) or directory (0o777) created as a
/// plain one would be, with the mode the umask gives (0o644 and 0o755 under
/// the usual 022): once renamed into place it is the output, and a
/// temporary's own mode (the owner's alone) would make a report served
/// from a shared folder unreadable.
pub fn temporary<'a, 'b>(mode: u32) -> tempfile::Builder<'a, 'b> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

/// The mode of a file [`temporary`] creates.
pub const FILE_MODE: u32 = 0o666;
/// The mode of a directory [`temporary`] creates.
pub const DIR_MODE: u32 = 0o777;

/// The directory `path` lives in (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates the directory `path` and its parents, if missing; an existing
/// file there is an error that says so, not "File exists".
pub fn create_dir(path: &Path) -> io::Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            "exists and is not a directory",
        ));
    }
    std::fs::create_dir_all(path)
}

/// Writes `path` through `fill`; on any error the temporary file is removed
/// and `path` is left as it was.
pub fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent(path);
    let tmp = temporary(FILE_MODE).tempfile_in(&dir)?;
    let mut w = BufWriter::new(tmp);
    fill(&mut w)?;
    let tmp = w.into_inner().map_err(io::IntoInnerError::into_error)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

/// Writes `path` through `draw`, which writes the file at the path it is
/// given (for writers that take a path, such as a bitmap encoder). The
/// temporary path ends like `path`, so writers that pick a format from the
/// extension pick the right one.
pub fn write_with_path(path: &Path, draw: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = parent(path);
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = temporary(FILE_MODE)
        .prefix(".loopcap-")
        .suffix(&suffix)
        .tempfile_in(&dir)?;
    draw(tmp.path())?;
    File::open(tmp.path())?.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(&dir)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let err = write_file(&path, |w: &mut dyn Write| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_file(&path, |w: &mut dyn Write| w.write_all(b"whole")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "whole");
        let err = write_with_path(&dir.path().join("fig.png"), |p| {
            fs::write(p, "half")?;
            Err(io::Error::other("no font"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn threads_writing_one_file_never_tear_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::thread::scope(|s| {
            for t in 0..8u8 {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        let line = vec![b'a' + t; 4096];
                        write_file(path, |w: &mut dyn Write| w.write_all(&line)).unwrap();
                    }
                });
            }
        });
        let text = fs::read(&path).unwrap();
        assert_eq!(text.len(), 4096);
        assert!(
            text.iter().all(|&b| b == text[0]),
            "a file mixes two writers"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
