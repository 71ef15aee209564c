//! A sweep directory's files, as the sweep writes them and every reader of
//! results (report, plot, export, the HTML report) reads them: the
//! manifest, runs.csv, the statistics of each point and the kept time
//! series. Below the sweep runner, which readers need not know.

pub mod manifest;
pub mod point_stats;
pub mod runs_file;

use std::path::{Path, PathBuf};

use crate::config::experiment::Experiment;
use crate::csv_row::csv_line;
use crate::error::ReadError;
use crate::output::marker;
use manifest::SweepManifest;
use runs_file::{ID_COLUMNS, Rows, first_metric};

/// Where the time series of `point`'s first replication is kept.
pub fn timeseries_path(dir: &Path, point: usize) -> PathBuf {
    dir.join("timeseries").join(format!("point-{point}.csv"))
}

/// The header of runs.csv: run, point, replication, seed, each axis, each metric.
pub fn runs_header(exp: &Experiment) -> String {
    let fixed = ID_COLUMNS.map(String::from);
    let axes = exp.axes.iter().map(|a| a.path.clone());
    csv_line(
        fixed
            .into_iter()
            .chain(axes)
            .chain(exp.metric_names.iter().cloned()),
    )
}

/// Checks that `rows` hold every run of `exp`.
pub fn complete(exp: &Experiment, rows: &Rows) -> Result<(), ReadError> {
    match (0..exp.runs()).find(|r| !rows.contains_key(r)) {
        None => Ok(()),
        Some(missing) => Err(ReadError::bad(format!(
            "run {missing} has no row ({} of {} runs present): the sweep is unfinished",
            rows.len(),
            exp.runs()
        ))),
    }
}

/// A finished sweep in `dir`: its experiment (from the manifest) and rows.
pub fn read(dir: &Path) -> Result<(Experiment, Rows), ReadError> {
    marker::verify(dir)?;
    let exp = SweepManifest::read(dir)?.experiment()?;
    let rows = runs_file::read_rows(
        &dir.join("runs.csv"),
        &runs_header(&exp),
        exp.runs(),
        first_metric(exp.axes.len()),
    )?;
    complete(&exp, &rows)?;
    Ok((exp, rows))
}
