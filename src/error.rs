//! The errors of the lower floors, each of one kind, so that whoever maps
//! them to an exit code ([`crate::command::error`]) knows what they mean:
//! [`BadInput`] is the user's to fix, a [`ReadError`] is either a file that
//! could not be read or one that does not hold what it should, and a
//! [`DrawError`] is a figure that could not be drawn. A leaf: it imports
//! nothing of loopcap's.

use std::io;
use std::path::{Path, PathBuf};

/// Bad input, said whole: the file, line, field or flag, what is wrong
/// and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    pub fn new(message: impl Into<String>) -> BadInput {
        BadInput(message.into())
    }
}

/// Reading a file: it could not be read, or it does not hold what it should.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },
    /// What the file holds is not what it should be.
    #[error(transparent)]
    Bad(#[from] BadInput),
}

impl ReadError {
    /// Maps an I/O error to a [`ReadError::Io`] at `path`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> ReadError + '_ {
        move |error| ReadError::Io {
            path: path.to_owned(),
            error,
        }
    }

    /// Maps the `csv` crate's error reading `path`: an I/O error stays one,
    /// anything else is what the file holds.
    pub fn csv(path: &Path) -> impl FnOnce(csv::Error) -> ReadError + '_ {
        move |e| {
            let message = format!("{}: {e}", path.display());
            match e.into_kind() {
                csv::ErrorKind::Io(error) => ReadError::Io {
                    path: path.to_owned(),
                    error,
                },
                _ => ReadError::bad(message),
            }
        }
    }

    /// Whether the file was not there to read.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }

    /// What the file holds is wrong, as `message` says.
    pub fn bad(message: impl Into<String>) -> ReadError {
        ReadError::Bad(BadInput::new(message))
    }
}

/// A figure that could not be drawn, as the drawing library said.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DrawError(pub String);

impl DrawError {
    /// The drawing library's error, said.
    pub fn of(error: impl std::fmt::Display) -> DrawError {
        DrawError(error.to_string())
    }
}
