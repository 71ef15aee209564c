//! Sweeps: every (grid point × replication) run in parallel with rayon,
//! written so that an interrupted sweep resumes, a sharded one merges, and
//! the thread count never changes a byte of the output.
//!
//! A sweep writes its own state: `manifest.json`, `runs.csv` (the journal of
//! finished runs) and, when a figure needs them, the time series of each
//! point's first replication. What is derived from them (`points.csv`, the
//! figures) is written by `export`, from those files alone.

pub mod progress;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::atomic_file;
use crate::bytes::Bytes;
use crate::config::Diagnostic;
use crate::config::experiment::Experiment;
use crate::config::plot_spec::Chart;
use crate::csv_row::{cell, csv_line};
use crate::engine::random::derive_seed;
use crate::error::{BadInput, ReadError};
use crate::model::measure::summary::Summary;
use crate::model::measure::timeseries::Timeseries;
use crate::model::{self, MEMORY_LIMIT, ModelSpec, RunError, RunOptions};
use crate::output::{OutputError, marker};
use crate::sweep_dir::manifest::SweepManifest;
use crate::sweep_dir::runs_file::{self, Journal, Rows, first_metric};
use crate::sweep_dir::{complete, runs_header, timeseries_path};
use progress::Progress;

/// One of `count` disjoint slices of a sweep's runs: run r belongs to shard r mod count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `K/N`, with K in 0..N.
    pub fn parse(text: &str) -> Result<Shard, BadInput> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            _ => Err(BadInput(format!(
                "`{text}` is not a shard K/N with 0 <= K < N, e.g. 0/4"
            ))),
        }
    }

    fn includes(&self, run: usize) -> bool {
        run % self.count == self.index
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SweepOptions {
    /// Threads to run on (default: rayon's, one per core).
    pub threads: Option<usize>,
    /// Finish the sweep already in the output directory.
    pub resume: bool,
    pub shard: Option<Shard>,
    /// Report progress on stderr.
    pub progress: bool,
    /// The most state each run may hold.
    pub memory_limit: Bytes,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            threads: None,
            resume: false,
            shard: None,
            progress: false,
            memory_limit: MEMORY_LIMIT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The user asked for something that cannot be done (exit 2).
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written (exit 1).
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
    /// A run could not reach its horizon (exit 1).
    #[error("run {run} (point {point}, seed {seed}): {error}")]
    Run {
        run: usize,
        point: usize,
        seed: u64,
        error: RunError,
    },
}

impl SweepError {
    /// A path that should be a directory is a file.
    pub fn is_not_a_directory(&self) -> bool {
        matches!(self, SweepError::Io { error, .. } if error.kind() == io::ErrorKind::NotADirectory)
    }

    pub fn io(path: &Path, error: io::Error) -> SweepError {
        SweepError::Io {
            path: path.to_owned(),
            error,
        }
    }
}

impl From<OutputError> for SweepError {
    fn from(e: OutputError) -> Self {
        match e {
            refused @ OutputError::Refused { .. } => SweepError::Input(refused.to_string()),
            OutputError::Io { path, error } => SweepError::Io { path, error },
        }
    }
}

impl From<SweepError> for ReadError {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Io { path, error } => ReadError::Io { path, error },
            other => ReadError::bad(other.to_string()),
        }
    }
}

impl From<ReadError> for SweepError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Bad(bad) => SweepError::Input(bad.0),
            ReadError::Io { path, error } => SweepError::Io { path, error },
        }
    }
}

impl From<Diagnostic> for SweepError {
    fn from(d: Diagnostic) -> Self {
        SweepError::Input(d.to_string())
    }
}

/// Writes one point's time series to the path given (see [`timeseries_path`]).
pub type TimeseriesWriter<'a> = &'a (dyn Fn(&Path, &Timeseries) -> io::Result<()> + Sync);

/// What a sweep did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepOutcome {
    pub runs_done_now: usize,
    /// Every run's row so far, by run index.
    pub rows: Rows,
    /// Whether every run is done (not for a shard).
    pub finished: bool,
}

/// The seed of one run: from the experiment seed and the replication, so
/// replication r draws the same random streams at every point (common random
/// numbers), or also from the point when `common_random_numbers` is off.
/// Never from scheduling. Kept below 2^63 so any run can be replayed with
/// `loopcap run --seed`.
pub fn run_seed(seed: u64, point: usize, replication: u32, common_random_numbers: bool) -> u64 {
    let mut s = derive_seed(seed, u64::from(replication) + 1);
    if !common_random_numbers {
        s = derive_seed(s, point as u64 + 0x5eed);
    }
    s >> 1
}

/// `spec` run `replications` times in parallel, each with the seed a sweep
/// of this one model would give it (one point, common random numbers), so
/// replication r reruns with `loopcap run --seed <its seed>`. In seed order.
pub fn replicate(
    spec: &ModelSpec,
    replications: u32,
    memory_limit: Bytes,
) -> Result<Vec<Summary>, SweepError> {
    (0..replications)
        .into_par_iter()
        .map(|replication| {
            let mut spec = spec.clone();
            spec.seed = run_seed(spec.seed, 0, replication, true);
            let options = RunOptions {
                memory_limit,
                ..RunOptions::new(false)
            };
            model::simulate_with(&spec, options, |_, _| {})
                .map(|r| r.summary)
                .map_err(|error| SweepError::Run {
                    run: replication as usize,
                    point: 0,
                    seed: spec.seed,
                    error,
                })
        })
        .collect()
}

/// The model of one run: its point's model with the run's seed.
pub fn run_spec(exp: &Experiment, point: usize, replication: u32) -> ModelSpec {
    let mut spec = exp.points[point].spec.clone();
    spec.seed = run_seed(exp.seed, point, replication, exp.common_random_numbers);
    spec
}

/// Whether a figure of `exp` draws time series, which the sweep then keeps.
pub fn keeps_timeseries(exp: &Experiment) -> bool {
    exp.plots
        .iter()
        .any(|p| matches!(p.chart, Chart::Timeseries { .. }))
}

/// Runs one run and formats its runs.csv row; the first replication of each
/// point hands its time series to `keep` first, when given.
fn run_one(
    exp: &Experiment,
    run: usize,
    out: &Path,
    memory_limit: Bytes,
    keep: Option<TimeseriesWriter<'_>>,
) -> Result<String, SweepError> {
    let replications = exp.replications as usize;
    let (point, replication) = (run / replications, (run % replications) as u32);
    let spec = run_spec(exp, point, replication);
    let keep = keep.filter(|_| replication == 0);
    let options = RunOptions {
        memory_limit,
        ..RunOptions::new(keep.is_some())
    };
    let result =
        model::simulate_with(&spec, options, |_, _| {}).map_err(|error| SweepError::Run {
            run,
            point,
            seed: spec.seed,
            error,
        })?;
    if let (Some(keep), Some(ts)) = (keep, &result.timeseries) {
        let path = timeseries_path(out, point);
        keep(&path, ts).map_err(|e| SweepError::io(&path, e))?;
    }
    let ids = [
        run.to_string(),
        point.to_string(),
        replication.to_string(),
        spec.seed.to_string(),
    ];
    // By name: a point without one of the sweep's pools leaves its cells empty.
    let mut values: HashMap<String, Option<f64>> = result.summary.metrics().into_iter().collect();
    let metrics = exp
        .metric_names
        .iter()
        .map(|name| cell(values.remove(name).flatten()));
    Ok(csv_line(
        ids.into_iter()
            .chain(exp.point_labels(point))
            .chain(metrics),
    ))
}

/// Runs `exp` into `out`; `keep` writes the time series that figures need
/// (see [`keeps_timeseries`]).
pub fn run(
    exp: &Experiment,
    out: &Path,
    options: &SweepOptions,
    keep: Option<TimeseriesWriter<'_>>,
) -> Result<SweepOutcome, SweepError> {
    let manifest = SweepManifest::new(exp)?;
    let header = runs_header(exp);
    let runs_path = out.join("runs.csv");
    let existing = out.join("manifest.json").exists() || runs_path.exists();
    let mut rows = if existing {
        if !options.resume {
            return Err(SweepError::Input(format!(
                "{} already holds a sweep: add --resume to finish it, or choose another --out",
                out.display()
            )));
        }
        if let Some(why) = SweepManifest::read(out)?.differs_from(&manifest) {
            return Err(SweepError::Input(format!("{}: {why}", out.display())));
        }
        if runs_path.exists() {
            runs_file::read_rows(
                &runs_path,
                &header,
                exp.runs(),
                first_metric(exp.axes.len()),
            )?
        } else {
            Rows::new()
        }
    } else {
        Rows::new()
    };
    let keep = keep.filter(|_| keeps_timeseries(exp));
    let dirs = [out.to_owned(), out.join("timeseries")];
    for dir in dirs.iter().take(if keep.is_some() { 2 } else { 1 }) {
        atomic_file::create_dir(dir).map_err(|e| SweepError::io(dir, e))?;
    }
    manifest.write(out)?;
    // Start from a clean file: the complete rows so far, in order.
    runs_file::write_sorted(&runs_path, &header, &rows)
        .map_err(|e| SweepError::io(&runs_path, e))?;

    let todo: Vec<usize> = (0..exp.runs())
        .filter(|r| options.shard.is_none_or(|s| s.includes(*r)) && !rows.contains_key(r))
        .collect();
    let journal = Journal::open(&runs_path).map_err(|e| SweepError::io(&runs_path, e))?;
    let progress = options.progress.then(|| Progress::new(todo.len()));
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = options.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool
        .build()
        .map_err(|e| SweepError::Input(format!("--threads: {e}")))?;
    let new_rows: Vec<(usize, String)> = pool.install(|| {
        todo.par_iter()
            .map(|&r| {
                // The time series is kept before the row: a row in runs.csv
                // means everything of its run is on disk.
                let line = run_one(exp, r, out, options.memory_limit, keep)?;
                journal
                    .append(&line)
                    .map_err(|e| SweepError::io(&runs_path, e))?;
                if let Some(p) = &progress {
                    p.tick();
                }
                Ok((r, line))
            })
            .collect::<Result<Vec<_>, SweepError>>()
    })?;
    let runs_done_now = new_rows.len();
    rows.extend(new_rows);
    runs_file::write_sorted(&runs_path, &header, &rows)
        .map_err(|e| SweepError::io(&runs_path, e))?;
    Ok(SweepOutcome {
        runs_done_now,
        finished: options.shard.is_none() && complete(exp, &rows).is_ok(),
        rows,
    })
}

/// Combines the outputs of a sharded sweep into what one unsharded run
/// writes, before `export`: manifest, runs.csv and the kept time series.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(Experiment, Rows), SweepError> {
    let Some(first) = dirs.first() else {
        return Err(SweepError::Input(
            "merge needs at least one directory".into(),
        ));
    };
    for dir in dirs {
        marker::verify(dir)?;
    }
    let manifest = SweepManifest::read(first)?;
    for dir in &dirs[1..] {
        if SweepManifest::read(dir)? != manifest {
            return Err(SweepError::Input(format!(
                "{} and {} hold sweeps of different experiments",
                first.display(),
                dir.display()
            )));
        }
    }
    let exp = manifest.experiment()?;
    if SweepManifest::new(&exp)? != manifest {
        return Err(SweepError::Input(
            "the experiment's base models changed since the shards ran: rerun them".into(),
        ));
    }
    let header = runs_header(&exp);
    let keeps = keeps_timeseries(&exp);
    let mut rows = Rows::new();
    let mut kept = Vec::new();
    for dir in dirs {
        for (run, line) in runs_file::read_rows(
            &dir.join("runs.csv"),
            &header,
            exp.runs(),
            first_metric(exp.axes.len()),
        )? {
            if rows
                .insert(run, line.clone())
                .is_some_and(|old| old != line)
            {
                return Err(SweepError::Input(format!(
                    "run {run} differs between shards"
                )));
            }
            if keeps && run % exp.replications as usize == 0 {
                kept.push(timeseries_path(dir, run / exp.replications as usize));
            }
        }
    }
    complete(&exp, &rows).map_err(|e| {
        SweepError::Input(format!(
            "{e}: a shard is missing or unfinished in the directories given"
        ))
    })?;
    atomic_file::create_dir(out).map_err(|e| SweepError::io(out, e))?;
    manifest.write(out)?;
    if !kept.is_empty() {
        let dir = out.join("timeseries");
        fs::create_dir_all(&dir).map_err(|e| SweepError::io(&dir, e))?;
    }
    for from in kept {
        let to = out
            .join("timeseries")
            .join(from.file_name().unwrap_or_default());
        if from != to {
            fs::copy(&from, &to).map_err(|e| SweepError::io(&from, e))?;
        }
    }
    let runs_path = out.join("runs.csv");
    runs_file::write_sorted(&runs_path, &header, &rows)
        .map_err(|e| SweepError::io(&runs_path, e))?;
    Ok((exp, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition_the_runs() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("x").is_err());
        let shards: Vec<Shard> = (0..3).map(|k| Shard { index: k, count: 3 }).collect();
        for run in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.includes(run)).count(), 1);
        }
    }

    #[test]
    fn seeds_depend_on_replication_and_optionally_on_the_point() {
        assert_eq!(run_seed(7, 0, 1, true), run_seed(7, 5, 1, true));
        assert_ne!(run_seed(7, 0, 1, true), run_seed(7, 0, 2, true));
        assert_ne!(run_seed(7, 0, 1, false), run_seed(7, 5, 1, false));
        assert!(run_seed(u64::MAX, 3, 9, false) <= i64::MAX as u64);
    }
}
