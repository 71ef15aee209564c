//! Why a report page could not be written.

use crate::error::{BadInput, DrawError, ReadError};

/// Why a page could not be written: a file of the directory could not be
/// read or holds the wrong thing, or a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Draw(#[from] DrawError),
}

impl From<BadInput> for ReportError {
    fn from(e: BadInput) -> Self {
        ReportError::Read(e.into())
    }
}
