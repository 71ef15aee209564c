//! `loopcap sweep` and `loopcap merge`.

use std::io::{self, Write};
use std::path::Path;

use super::outputs::{claim_out, publish, stage_out};
use super::{Limits, warn};
use crate::cli::{MergeArgs, SweepArgs};
use crate::command::error::Error;
use crate::config::experiment::{ExperimentFlags, read_experiment_with};
use crate::export;
use crate::html_report;
use crate::output::marker::{self, Kind};
use crate::output::target::{self, Reuse};
use crate::sweep::{self, Shard, SweepError, SweepOptions};

pub fn sweep(args: &SweepArgs) -> Result<(), Error> {
    let limits = Limits {
        memory: args.memory_limit,
        events: args.max_events,
    };
    let options = SweepOptions {
        threads: args.threads.map(usize::from),
        resume: args.resume,
        shard: args
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()
            .map_err(|e| Error::input(format!("--shard: {e}")))?,
        progress: true,
        memory_limit: args.memory_limit,
    };
    let flags = ExperimentFlags {
        set: args.set.clone(),
        seed: args.seed.map(|s| s as u64),
        replications: args.replications,
    };
    let path = &args.experiment;
    let exp = read_experiment_with(path, flags)?;
    warn(&exp.warnings);
    for point in &exp.points {
        limits.admit(&point.memory, &point.work, sweep::keeps_timeseries(&exp))?;
        if let Some(too_long) = point.timeseries_too_long.as_ref()
            && sweep::keeps_timeseries(&exp)
        {
            return Err(too_long.clone().into());
        }
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
        Path::new("results").join(stem)
    });
    let mut target = claim_out(&out, Kind::Sweep, Reuse::Continue)?;
    if args.force {
        target.clear()?;
    }
    let out = target.path.clone();
    target.mark_writing(Kind::Sweep)?;
    eprintln!(
        "{}: {} points x {} replications = {} runs -> {}",
        exp.name,
        exp.points.len(),
        exp.replications,
        exp.runs(),
        out.display()
    );
    let outcome = match sweep::run(&exp, &out, &options, Some(&export::keep_timeseries)) {
        // Refused before writing (another experiment, no --resume): the
        // set there is as it was.
        Err(refused @ SweepError::Input(_)) => {
            target.restore()?;
            return Err(refused.into());
        }
        ran => ran?,
    };
    let mut stdout = io::stdout().lock();
    if outcome.finished {
        warn(export::sweep_outputs(&exp, &out, &outcome.rows)?);
        marker::seal_in_place(&out, Kind::Sweep)?;
        // The verdict first, as the sweep's page opens with it.
        stdout.write_all(html_report::sweep_verdict(&out)?.text().as_bytes())?;
    }
    writeln!(
        stdout,
        "{}: {} runs now, {} in runs.csv",
        out.display(),
        outcome.runs_done_now,
        outcome.rows.len()
    )?;
    if outcome.finished {
        writeln!(
            stdout,
            "wrote runs.csv, points.csv and {} plots",
            exp.plots.len()
        )?;
    } else {
        marker::seal_in_place(&out, Kind::Sweep)?;
        writeln!(
            stdout,
            "a shard: combine the shards with `loopcap merge DIR... --out DIR`"
        )?;
    }
    Ok(())
}

pub fn merge(args: &MergeArgs) -> Result<(), Error> {
    let staged = stage_out(&args.out, Kind::Sweep, args.force)?;
    for dir in &args.dirs {
        if target::resolve(dir)? == staged.target().path {
            return Err(Error::input(format!(
                "--out {}: is one of the shards; merge into a directory of its own",
                args.out.display()
            )));
        }
    }
    let (exp, rows) = sweep::merge(&args.dirs, staged.path())?;
    warn(export::sweep_outputs(&exp, staged.path(), &rows)?);
    publish(staged)?;
    writeln!(
        io::stdout().lock(),
        "{}: merged {} runs from {} directories",
        args.out.display(),
        rows.len(),
        args.dirs.len()
    )?;
    Ok(())
}
