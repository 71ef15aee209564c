//! Where loopcap writes, and the promise it keeps there: nothing loopcap did
//! not write is ever removed or overwritten.
//!
//! Every directory loopcap writes carries a marker, `.loopcap.json`
//! ([`marker::Marker`]): the kind of outputs it holds and each file loopcap
//! wrote there, with its fingerprint. A writer first claims its target
//! ([`target::claim`]): the path is resolved through symlinks, the current
//! directory and its ancestors are refused, the target is locked by its
//! resolved path for as long as the writer lives, and a directory that holds
//! any file the marker does not list (or has no marker and is not empty) is
//! refused, naming the files. Outputs that are written whole go through a
//! [`staged_dir::StagedDir`], swapped in at one instant; those written in
//! place (a sweep, a sizing search) are marked as being written until they
//! are sealed. Readers check the marker ([`marker::verify`]): a set whose
//! files changed since loopcap sealed them, or that is still being written,
//! is refused.

pub mod file_target;
pub mod lock;
pub mod marker;
pub mod staged_dir;
pub mod target;

use std::io;
use std::path::{Path, PathBuf};

use crate::error::ReadError;

/// Why outputs cannot be written (or read) where they were asked for.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The place given is not one loopcap may write (exit 2).
    #[error("{path}: {message}")]
    Refused { path: PathBuf, message: String },
    /// A file could not be read or written (exit 1).
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

impl OutputError {
    pub fn refused(path: &Path, message: impl Into<String>) -> OutputError {
        OutputError::Refused {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl From<OutputError> for ReadError {
    fn from(e: OutputError) -> Self {
        match e {
            OutputError::Io { path, error } => ReadError::Io { path, error },
            refused @ OutputError::Refused { .. } => ReadError::bad(refused.to_string()),
        }
    }
}

/// Maps an I/O error to an [`OutputError::Io`] at `path`.
pub fn io_at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |error| OutputError::Io {
        path: path.to_owned(),
        error,
    }
}
