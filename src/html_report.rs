//! `loopcap report DIR`: one self-contained HTML page for a run, a sweep
//! or a sizing directory, written from the directory's files alone, to be
//! read offline or attached to a ticket: what was simulated, the results
//! with failures beside latency, every figure inline as SVG, and for a
//! sizing the answer with its evidence.

mod error;
mod page;
mod plain;
mod replicated;
mod run;
mod sections;
mod sizing;
mod sweep;

use std::path::{Path, PathBuf};

use crate::error::BadInput;
use crate::report::run_outputs::REPLICATIONS_FILE;
pub use error::ReportError;
pub use sweep::verdict_of as sweep_verdict;

/// What a directory holds, by the file only that kind writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Run,
    /// `run --replications N --out`.
    Replicated,
    Sweep,
    Sizing,
}

impl Kind {
    /// The kind of output directory `dir` is.
    pub fn of(dir: &Path) -> Result<Kind, BadInput> {
        if !dir.is_dir() {
            return Err(BadInput(format!("{}: not a directory", dir.display())));
        }
        let has = |name: &str| dir.join(name).is_file();
        if has("sizing.csv") {
            Ok(Kind::Sizing)
        } else if has("runs.csv") {
            Ok(Kind::Sweep)
        } else if has(REPLICATIONS_FILE) {
            Ok(Kind::Replicated)
        } else if has("summary.json") {
            Ok(Kind::Run)
        } else {
            Err(BadInput(format!(
                "{}: not the output of `run --out`, `sweep` or `size --out` (it has no summary.json, replications.json, runs.csv or sizing.csv)",
                dir.display()
            )))
        }
    }
}

/// The page for `dir`: its text, or what in the directory stops it.
pub fn render(dir: &Path) -> Result<String, ReportError> {
    match Kind::of(dir)? {
        Kind::Run => run::render(dir),
        Kind::Replicated => replicated::render(dir),
        Kind::Sweep => sweep::render(dir),
        Kind::Sizing => sizing::render(dir),
    }
}

/// Whether a file that starts with `head` is a page loopcap wrote (which
/// `report` may write over).
pub fn is_report(head: &[u8]) -> bool {
    const GENERATOR: &[u8] = b"<meta name=\"generator\" content=\"loopcap ";
    head.windows(GENERATOR.len()).any(|w| w == GENERATOR)
}

/// Where the page goes when `--out` does not say: `DIR/report.html`.
pub fn default_path(dir: &Path) -> PathBuf {
    dir.join("report.html")
}
