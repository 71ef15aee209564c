//! The last step of `sweep`, `merge` and `plot DIR`: what a finished sweep's
//! files imply, `points.csv` and the figures, written from those files alone.

use std::io;
use std::path::{Path, PathBuf};

use crate::atomic_file;
use crate::config::experiment::Experiment;
use crate::error::BadInput;
use crate::model::measure::timeseries::Timeseries;
use crate::plot::{PlotError, sweep_figures};
use crate::report::{points_csv, timeseries_csv};
use crate::sweep_dir::point_stats::{self, PointStats};
use crate::sweep_dir::runs_file::Rows;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// runs.csv does not hold what the experiment says it should.
    #[error(transparent)]
    Rows(#[from] BadInput),
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// Each point's statistics, from a finished sweep's rows.
pub fn points(exp: &Experiment, rows: &Rows) -> Result<Vec<PointStats>, ExportError> {
    Ok(point_stats::aggregate(exp, rows)?)
}

/// Writes `points.csv` and every figure of `exp` into `dir`; returns the
/// figures' warnings.
pub fn sweep_outputs(
    exp: &Experiment,
    dir: &Path,
    rows: &Rows,
) -> Result<Vec<String>, ExportError> {
    let points = points(exp, rows)?;
    let path = dir.join("points.csv");
    atomic_file::write_file(&path, |w| points_csv::write(w, exp, &points))
        .map_err(|error| ExportError::Io { path, error })?;
    Ok(sweep_figures::draw_all(exp, &points, dir, dir)?)
}

/// Keeps a point's time series for its figures (see `sweep::run`).
pub fn keep_timeseries(path: &Path, timeseries: &Timeseries) -> io::Result<()> {
    atomic_file::write_file(path, |w| {
        timeseries_csv::write_timeseries_csv(w, timeseries)
    })
}
