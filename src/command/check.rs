//! `loopcap check`: a model or an experiment validated, with what it would
//! take to run.

use std::io::{self, Write};

use super::load::{load_source, read_source};
use super::{Limits, warn};
use crate::bytes::Bytes;
use crate::cli::CheckArgs;
use crate::command::error::Error;
use crate::config::Source;
use crate::config::experiment::{ExperimentFlags, is_experiment, load_experiment_with};
use crate::config::plans::{is_plans, read_plans};
use crate::model::ModelSpec;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::sweep;

pub fn check(args: &CheckArgs) -> Result<(), Error> {
    let limits = Limits {
        memory: args.memory_limit,
        events: args.max_events,
    };
    // Read once: an experiment is checked as one, a model (or a run's
    // manifest) loaded from what was read.
    let (source, warning) = read_source(&args.file)?;
    if is_experiment(&source) {
        return check_experiment(source, args, limits);
    }
    if is_plans(&source) {
        if let Some(set) = args.set.first() {
            return Err(Error::input(format!(
                "{}: a plans file takes no --set ({set}): give it to `size MODEL --plans FILE`",
                source.name
            )));
        }
        return check_plans(&args.file);
    }
    let loaded = load_source(source, warning, None, &args.set)?;
    loaded.admit(limits, false)?;
    let spec = &loaded.model.spec;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}: ok: \"{}\", {} user class(es), {} agent(s), capacity {}, {} simulated, up to {} of memory, about {:.2e} events",
        loaded.source.name,
        spec.name,
        spec.classes.len(),
        spec.agents.len(),
        capacity(spec),
        spec.duration,
        loaded.model.memory.bytes,
        loaded.model.work.events
    )?;
    warn(&loaded.warnings);
    Ok(())
}

/// The model's capacity in a few words: its kind, or each pool's.
fn capacity(spec: &ModelSpec) -> String {
    let describe = |capacity: &CapacitySpec| match capacity.lanes() {
        Some(lanes) => format!("reserved, {lanes} lanes"),
        None => capacity.kind().to_owned(),
    };
    match spec.pools.as_slice() {
        [only] if !spec.reports_pools => describe(&only.capacity),
        pools => pools
            .iter()
            .map(|p: &PoolSpec| format!("{}: {}", p.name, describe(&p.capacity)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A plans file checked alone: its plans read and named. What each sets
/// is checked against a model when `size MODEL --plans FILE` applies it.
fn check_plans(path: &std::path::Path) -> Result<(), Error> {
    let (name, plans) = read_plans(path)?;
    let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    writeln!(
        io::stdout().lock(),
        "{}: ok: plans file{}, {} plans ({}); `size MODEL --plans {}` checks each against MODEL",
        path.display(),
        name.map_or(String::new(), |n| format!(" \"{n}\"")),
        plans.len(),
        names.join(", "),
        path.display()
    )?;
    Ok(())
}

fn check_experiment(source: Source, args: &CheckArgs, limits: Limits) -> Result<(), Error> {
    let exp = load_experiment_with(
        source,
        ExperimentFlags {
            set: args.set.clone(),
            ..ExperimentFlags::default()
        },
    )?;
    for point in &exp.points {
        limits.admit(&point.memory, &point.work, sweep::keeps_timeseries(&exp))?;
    }
    let most = exp.points.iter().map(|p| p.memory.bytes).max();
    let events: f64 =
        exp.points.iter().map(|p| p.work.events).sum::<f64>() * f64::from(exp.replications);
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}: ok: experiment \"{}\", {} axes, {} points x {} replications = {} runs, {} plots, up to {} of memory per run, about {events:.2e} events in all",
        exp.source.name,
        exp.name,
        exp.axes.len(),
        exp.points.len(),
        exp.replications,
        exp.runs(),
        exp.plots.len(),
        most.unwrap_or(Bytes(0)),
    )?;
    warn(&exp.warnings);
    Ok(())
}
