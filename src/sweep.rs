//! Sweeps: every (grid point × replication) run in parallel with rayon,
//! written so that an interrupted sweep resumes, a sharded one merges, and
//! the thread count never changes a byte of the output.

pub mod experiment;
pub mod grid;
pub mod plots;
pub mod point_stats;
pub mod progress;
pub mod runs_file;

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::config::{self, Source};
use crate::csv_row::{cell, csv_line};
use crate::model;
use crate::report::points_csv;
use experiment::{Experiment, load_experiment};
use progress::Progress;
use runs_file::{Journal, Rows};

/// One of `count` disjoint slices of a sweep's runs: run r belongs to shard r mod count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `K/N`, with K in 0..N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let parsed = text
            .split_once('/')
            .and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if index < count => Ok(Shard { index, count }),
            _ => Err(format!(
                "`{text}` is not a shard K/N with 0 <= K < N, e.g. 0/4"
            )),
        }
    }

    fn includes(&self, run: usize) -> bool {
        run % self.count == self.index
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SweepOptions {
    /// Threads to run on (default: rayon's, one per core).
    pub threads: Option<usize>,
    /// Finish the sweep already in the output directory.
    pub resume: bool,
    pub shard: Option<Shard>,
    /// Report progress on stderr.
    pub progress: bool,
}

#[derive(Debug)]
pub enum SweepError {
    /// The user asked for something that cannot be done (exit 2).
    Input(String),
    /// Something failed while running, e.g. writing a file (exit 1).
    Failed(anyhow::Error),
}

impl From<std::io::Error> for SweepError {
    fn from(e: std::io::Error) -> Self {
        SweepError::Failed(e.into())
    }
}

/// What a sweep did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub runs_done_now: usize,
    pub runs_in_file: usize,
    /// Whether points.csv and the plots were written (not for a shard).
    pub finished: bool,
}

/// `manifest.json`: the experiment as run, so that a sweep can be resumed,
/// merged and reproduced. Identical for every shard of one sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepManifest {
    pub loopcap_version: String,
    pub experiment: String,
    pub experiment_file: String,
    /// Where the experiment's relative paths start, for `merge`.
    pub experiment_dir: String,
    pub experiment_toml: String,
    /// Each base model with the experiment's `[set]` applied.
    pub base_models: Vec<ResolvedModel>,
    pub points: usize,
    pub replications: u32,
    pub runs: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedModel {
    pub file: String,
    pub model_toml: String,
}

impl SweepManifest {
    pub fn new(exp: &Experiment) -> Result<SweepManifest, SweepError> {
        let base_models = exp
            .base_models
            .iter()
            .map(|base| {
                let mut table = config::parse_toml(&base.source)
                    .map_err(|d| SweepError::Input(d.to_string()))?;
                for o in &exp.set {
                    o.apply(&mut table)
                        .map_err(|d| SweepError::Input(d.to_string()))?;
                }
                Ok(ResolvedModel {
                    file: base.file.clone(),
                    model_toml: toml::to_string(&table)
                        .map_err(|e| SweepError::Failed(e.into()))?,
                })
            })
            .collect::<Result<Vec<_>, SweepError>>()?;
        let dir =
            fs::canonicalize(&exp.source.base_dir).unwrap_or_else(|_| exp.source.base_dir.clone());
        Ok(SweepManifest {
            loopcap_version: env!("CARGO_PKG_VERSION").to_owned(),
            experiment: exp.name.clone(),
            experiment_file: exp.source.name.clone(),
            experiment_dir: dir.display().to_string(),
            experiment_toml: exp.source.text.clone(),
            base_models,
            points: exp.points.len(),
            replications: exp.replications,
            runs: exp.runs(),
        })
    }

    fn read(dir: &Path) -> Result<SweepManifest, SweepError> {
        let path = dir.join("manifest.json");
        let text = fs::read_to_string(&path)
            .map_err(|e| SweepError::Input(format!("{}: cannot read: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            SweepError::Input(format!("{}: not a sweep manifest: {e}", path.display()))
        })
    }

    fn write(&self, dir: &Path) -> std::io::Result<()> {
        atomic_file::write_file(&dir.join("manifest.json"), |w| {
            serde_json::to_writer_pretty(&mut *w, self)?;
            writeln!(w)
        })
    }

    /// The experiment again, read from the manifest (for `merge`).
    fn experiment(&self) -> Result<Experiment, SweepError> {
        load_experiment(Source {
            name: self.experiment_file.clone(),
            text: self.experiment_toml.clone(),
            base_dir: PathBuf::from(&self.experiment_dir),
        })
        .map_err(|d| SweepError::Input(d.to_string()))
    }
}

/// The header of runs.csv: run, point, replication, seed, each axis, each metric.
pub fn runs_header(exp: &Experiment) -> String {
    let fixed = ["run", "point", "replication", "seed"].map(String::from);
    let axes = exp.axes.iter().map(|a| a.path.clone());
    csv_line(
        fixed
            .into_iter()
            .chain(axes)
            .chain(exp.metric_names.iter().cloned()),
    )
}

/// Runs one run and formats its runs.csv row.
fn run_one(exp: &Experiment, run: usize) -> String {
    let replications = exp.replications as usize;
    let (point, replication) = (run / replications, (run % replications) as u32);
    let spec = exp.run_spec(point, replication);
    let summary = model::simulate(&spec, false).summary;
    let ids = [
        run.to_string(),
        point.to_string(),
        replication.to_string(),
        spec.seed.to_string(),
    ];
    let metrics = summary.metrics().into_iter().map(|(_, v)| cell(v));
    csv_line(
        ids.into_iter()
            .chain(exp.point_labels(point))
            .chain(metrics),
    )
}

/// Runs `exp` into `out`.
pub fn run(exp: &Experiment, out: &Path, options: &SweepOptions) -> Result<Outcome, SweepError> {
    let manifest = SweepManifest::new(exp)?;
    let header = runs_header(exp);
    let runs_path = out.join("runs.csv");
    fs::create_dir_all(out)?;
    let existing = out.join("manifest.json").exists() || runs_path.exists();
    let mut rows = if existing {
        if !options.resume {
            return Err(SweepError::Input(format!(
                "{} already holds a sweep: add --resume to finish it, or choose another --out",
                out.display()
            )));
        }
        if SweepManifest::read(out)? != manifest {
            return Err(SweepError::Input(format!(
                "{} holds a sweep of another experiment (or loopcap version): choose another --out",
                out.display()
            )));
        }
        if runs_path.exists() {
            runs_file::read_rows(&runs_path, &header).map_err(SweepError::Input)?
        } else {
            Rows::new()
        }
    } else {
        Rows::new()
    };
    manifest.write(out)?;
    // Start from a clean file: the complete rows so far, in order.
    runs_file::write_sorted(&runs_path, &header, &rows)?;

    let todo: Vec<usize> = (0..exp.runs())
        .filter(|r| options.shard.is_none_or(|s| s.includes(*r)) && !rows.contains_key(r))
        .collect();
    let journal = Journal::open(&runs_path)?;
    let progress = options.progress.then(|| Progress::new(todo.len()));
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = options.threads {
        pool = pool.num_threads(threads);
    }
    let pool = pool.build().map_err(|e| SweepError::Failed(e.into()))?;
    let new_rows: Vec<(usize, String)> = pool.install(|| {
        todo.par_iter()
            .map(|&r| {
                let line = run_one(exp, r);
                journal.append(&line)?;
                if let Some(p) = &progress {
                    p.tick();
                }
                Ok((r, line))
            })
            .collect::<std::io::Result<Vec<_>>>()
    })?;
    let runs_done_now = new_rows.len();
    rows.extend(new_rows);
    let finished = options.shard.is_none();
    if finished {
        finish(exp, out, &rows)?;
    } else {
        runs_file::write_sorted(&runs_path, &header, &rows)?;
    }
    Ok(Outcome {
        runs_done_now,
        runs_in_file: rows.len(),
        finished,
    })
}

/// Writes the final runs.csv (in run order), points.csv and the plots.
fn finish(exp: &Experiment, out: &Path, rows: &Rows) -> Result<(), SweepError> {
    if rows.len() != exp.runs() {
        return Err(SweepError::Input(format!(
            "{} of {} runs are done: the sweep is incomplete",
            rows.len(),
            exp.runs()
        )));
    }
    runs_file::write_sorted(&out.join("runs.csv"), &runs_header(exp), rows)?;
    let points = point_stats::aggregate(exp, rows).map_err(SweepError::Input)?;
    atomic_file::write_file(&out.join("points.csv"), |w| {
        points_csv::write(w, exp, &points)
    })?;
    for spec in &exp.plots {
        plots::draw(exp, &points, spec, out).map_err(SweepError::Failed)?;
    }
    Ok(())
}

/// Combines the outputs of a sharded sweep into what one unsharded run writes.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Outcome, SweepError> {
    let Some(first) = dirs.first() else {
        return Err(SweepError::Input(
            "merge needs at least one directory".into(),
        ));
    };
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
    let mut rows = Rows::new();
    for dir in dirs {
        for (run, line) in
            runs_file::read_rows(&dir.join("runs.csv"), &header).map_err(SweepError::Input)?
        {
            if rows
                .insert(run, line.clone())
                .is_some_and(|old| old != line)
            {
                return Err(SweepError::Input(format!(
                    "run {run} differs between shards"
                )));
            }
        }
    }
    if let Some(missing) = (0..exp.runs()).find(|r| !rows.contains_key(r)) {
        return Err(SweepError::Input(format!(
            "run {missing} is in none of the directories ({} of {} runs present): a shard is missing or unfinished",
            rows.len(),
            exp.runs()
        )));
    }
    fs::create_dir_all(out)?;
    manifest.write(out)?;
    finish(&exp, out, &rows)?;
    Ok(Outcome {
        runs_done_now: 0,
        runs_in_file: rows.len(),
        finished: true,
    })
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
}
