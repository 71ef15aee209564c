//! `loopcap run`: one model, a manifest to rerun, a sweep's run K, or
//! replications of one model.

use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;

use super::load::load;
use super::outputs::{publish, stage_out};
use super::{Limits, warn};
use crate::cli::RunArgs;
use crate::command::error::Error;
use crate::json;
use crate::model::measure::summary::Summary;
use crate::model::{self, RunOptions};
use crate::output::marker::Kind;
use crate::peak_memory::peak_memory_bytes;
use crate::report::{replicated, run_outputs, table};
use crate::sweep;
use crate::sweep_dir::{self, manifest::SweepManifest};

pub fn run(args: &RunArgs) -> Result<(), Error> {
    let limits = Limits {
        memory: args.memory_limit,
        events: args.max_events,
    };
    match args.sweep_run {
        Some(run) => rerun_sweep_run(&args.model, run, args.json),
        None if args.replications > 1 => run_replicated(args, limits),
        None => run_once(args, limits),
    }
}

fn run_once(args: &RunArgs, limits: Limits) -> Result<(), Error> {
    let loaded = load(&args.model, args.seed, &args.set)?;
    warn(&loaded.warnings);
    loaded.admit(limits, args.out.is_some())?;
    // The output directory is checked, locked and staged before the run,
    // so a run that cannot publish its results never starts.
    let staged = match &args.out {
        Some(dir) => {
            if let Some(too_long) = &loaded.model.timeseries_too_long {
                return Err(too_long.clone().into());
            }
            Some(stage_out(dir, Kind::Run, args.force)?)
        }
        None => None,
    };
    let options = RunOptions {
        memory_limit: limits.memory,
        max_events: limits.events,
        ..RunOptions::new(staged.is_some())
    };
    let result = model::simulate_with(&loaded.model.spec, options, |_, _| {})
        .map_err(|e| Error::Runtime(e.into()))?;
    if let Some(staged) = staged {
        let dir = staged.target().path.clone();
        run_outputs::manifest(&dir, &args.model, &args.set, &loaded.source, &loaded.model)
            .and_then(|m| run_outputs::write(staged.path(), &m, &result))
            .with_context(|| format!("writing results to {}", dir.display()))?;
        publish(staged)?;
    }
    print_summary(&result.summary, args.json)
}

/// Prints a run's summary as the table, or as JSON.
fn print_summary(summary: &Summary, json: bool) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    if json {
        json::write_json(&mut stdout, summary)?;
    } else {
        stdout.write_all(table::render(summary, peak_memory_bytes()).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// `run SWEEP_DIR --run K`: run K of a sweep, as its row of runs.csv has it.
fn rerun_sweep_run(dir: &Path, run: usize, json: bool) -> Result<(), Error> {
    let (exp, _) = sweep_dir::read(dir)?;
    if let Some(why) = SweepManifest::read(dir)?.differs_from(&SweepManifest::new(&exp)?) {
        return Err(Error::input(format!("{}: {why}", dir.display())));
    }
    if run >= exp.runs() {
        return Err(Error::input(format!(
            "--run {run}: {} has runs 0 to {}",
            dir.display(),
            exp.runs() - 1
        )));
    }
    let replications = exp.replications as usize;
    let spec = sweep::run_spec(&exp, run / replications, (run % replications) as u32);
    let result = model::simulate(&spec, false).map_err(|e| Error::Runtime(e.into()))?;
    print_summary(&result.summary, json)
}

/// `run --replications N`: each metric's mean and 95% interval, kept in
/// `--out` for `report`.
fn run_replicated(args: &RunArgs, limits: Limits) -> Result<(), Error> {
    let loaded = load(&args.model, args.seed, &args.set)?;
    warn(&loaded.warnings);
    loaded.admit(limits, false)?;
    let staged = match &args.out {
        Some(dir) => Some(stage_out(dir, Kind::Run, args.force)?),
        None => None,
    };
    let summaries = sweep::replicate(&loaded.model.spec, args.replications, limits.memory)?;
    let stats = replicated::stats(&summaries);
    if let Some(staged) = staged {
        let dir = staged.target().path.clone();
        run_outputs::manifest(&dir, &args.model, &args.set, &loaded.source, &loaded.model)
            .and_then(|m| run_outputs::write_replicated(staged.path(), m, &summaries, &stats))
            .with_context(|| format!("writing results to {}", dir.display()))?;
        publish(staged)?;
    }
    let mut stdout = io::stdout().lock();
    if args.json {
        replicated::write_json(&mut stdout, &stats)?;
    } else {
        let seeds: Vec<u64> = summaries.iter().map(|s| s.seed).collect();
        let name = &loaded.model.spec.name;
        stdout.write_all(replicated::render(name, &seeds, &stats).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}
