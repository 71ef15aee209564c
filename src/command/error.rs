//! Why a command failed, which decides its exit code: bad input (2), a
//! failure while running (1), or no answer (3). Every module's error maps
//! into [`Error`] here, in one place, by what it means.

use std::io;

use crate::config::Diagnostic;
use crate::error::{BadInput, ReadError};
use crate::export::ExportError;
use crate::html_report::ReportError;
use crate::output::OutputError;
use crate::plot::PlotError;
use crate::sweep::SweepError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a file, flag or directory the user gave (exit 2).
    #[error("{0}")]
    Input(String),
    /// A failure while running, e.g. an output that cannot be written (exit 1).
    #[error("{0:#}")]
    Runtime(anyhow::Error),
    /// `size` found nothing that meets every SLO, and said why (exit 3).
    #[error("nothing meets every SLO")]
    NoAnswer,
}

impl Error {
    /// Bad input, said in `message`.
    pub fn input(message: impl Into<String>) -> Error {
        Error::Input(message.into())
    }

    /// A failure at run time, said in `message`.
    pub fn runtime(message: impl std::fmt::Display) -> Error {
        Error::Runtime(anyhow::anyhow!("{message}"))
    }

    /// The process's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) => 2,
            Error::Runtime(_) => 1,
            Error::NoAnswer => 3,
        }
    }

    /// A write to a reader that went away (`loopcap run ... | head`): not
    /// a failure of loopcap's.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Runtime(e) => e
                .chain()
                .filter_map(|c| c.downcast_ref::<io::Error>())
                .any(|io| io.kind() == io::ErrorKind::BrokenPipe),
            _ => false,
        }
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Input(d.to_string())
    }
}

impl From<SweepError> for Error {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Input(message) => Error::Input(message),
            // An --out that names a file.
            not_a_dir @ SweepError::Io { .. } if not_a_dir.is_not_a_directory() => {
                Error::Input(not_a_dir.to_string())
            }
            other => Error::Runtime(other.into()),
        }
    }
}

impl From<PlotError> for Error {
    fn from(e: PlotError) -> Self {
        match e {
            PlotError::Data(read) => read.into(),
            other => Error::Runtime(other.into()),
        }
    }
}

impl From<BadInput> for Error {
    fn from(e: BadInput) -> Self {
        Error::Input(e.0)
    }
}

impl From<ReadError> for Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Bad(bad) => bad.into(),
            // A file named that is not there is the user's to fix.
            missing @ ReadError::Io { .. } if missing.is_not_found() => {
                Error::Input(missing.to_string())
            }
            io @ ReadError::Io { .. } => Error::Runtime(io.into()),
        }
    }
}

impl From<ReportError> for Error {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Read(read) => read.into(),
            ReportError::Draw(draw) => Error::Runtime(draw.into()),
        }
    }
}

impl From<OutputError> for Error {
    fn from(e: OutputError) -> Self {
        match e {
            refused @ OutputError::Refused { .. } => Error::Input(refused.to_string()),
            io @ OutputError::Io { .. } => Error::Runtime(io.into()),
        }
    }
}

impl From<ExportError> for Error {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Rows(bad) => bad.into(),
            ExportError::Plot(plot) => plot.into(),
            io @ ExportError::Io { .. } => Error::Runtime(io.into()),
        }
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Runtime(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Runtime(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep_dir::runs_file::read_rows;

    /// A runs.csv that cannot be read fails the command (exit 1) and one
    /// that holds the wrong thing is bad input (exit 2), through every
    /// layer a reader of results passes it (the sweep's reader, then
    /// `compare`'s).
    #[test]
    fn a_file_that_cannot_be_read_fails_and_a_wrong_one_is_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let unreadable = dir.path().join("runs.csv");
        std::fs::create_dir(&unreadable).unwrap();
        let garbled = dir.path().join("garbled.csv");
        std::fs::write(&garbled, "not,the,header\n").unwrap();
        let exit = |path: &std::path::Path| {
            let read = read_rows(path, "run,x", 1, 1).unwrap_err();
            let through_sweep = ReadError::from(SweepError::from(read));
            Error::from(through_sweep).exit_code()
        };
        assert_eq!(exit(&unreadable), 1);
        assert_eq!(exit(&garbled), 2);
    }
}
