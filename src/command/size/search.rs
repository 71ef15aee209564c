//! `size MODEL --slo ... --over PATH=LO..HI` (or `--max-users PATH`): the
//! least capacity (or the most users) that meets every SLO, resumable
//! from its journal in `--out`.

use std::path::Path;

use anyhow::Context;

use super::base::{BaseModel, Replicator, SizeFlags, slos_and_floor};
use super::record::{print_answer, size_manifest, sizing_series, write_json_file};
use crate::command::error::Error;
use crate::command::outputs::claim_out;
use crate::config::data_file::DataFile;
use crate::config::overrides::Override;
use crate::error::BadInput;
use crate::output::marker::{self, Kind};
use crate::output::target::Reuse;
use crate::plot::sizing_figure;
use crate::sizing::{
    Answer, AnswerKind, Goal, Probe, RESULT_FILE, Search, Slo, explain, journal, judge, render,
    search,
};

/// `size MODEL --slo ... --over PATH=LO..HI` (or `--max-users PATH`): the
/// floor on unlimited capacity, then the search, each probe its replications
/// in parallel.
pub(super) fn size(axis_text: &str, goal: Goal, flags: &SizeFlags) -> Result<(), Error> {
    let (axis, values) = parse_axis(axis_text, goal)?;
    let (lo, hi) = (values[0], values[values.len() - 1]);
    // The floor: for a population, its least value on unlimited capacity.
    let base = BaseModel::read(
        flags,
        (goal == Goal::MostMeeting).then(|| format!("{axis}={lo}")),
    )?;
    // The output directory is claimed before anything runs; replaced
    // (--force) only once the SLOs are read.
    let mut out = match &flags.out {
        Some(dir) => Some(claim_out(dir, Kind::Sizing, Reuse::Continue)?),
        None => None,
    };
    let replicator = Replicator::new(flags)?;
    let (slos, floor) = slos_and_floor(&base.loaded.spec, flags, &replicator)?;
    // An SLO the floor misses is out of every capacity's reach: no search.
    let unreachable = Search {
        answer: None,
        probes: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(target) = out.as_mut().filter(|_| flags.force) {
        target.clear()?;
    }
    let out_dir = out.as_ref().map(|t| t.path.as_path());
    let mut journal = match out_dir {
        Some(dir) => Some(open_journal(dir, &base, flags, &slos, (goal, axis_text))?),
        None => None,
    };
    // The journal took the directory (or refused it, as it was).
    if let Some(target) = &out {
        target.mark_writing(Kind::Sizing)?;
    }
    let search = if floor.met {
        search(&values, goal, &slos, replicator.width(), |values| {
            let at = |value| {
                Override::new(
                    &axis,
                    toml::Value::Integer(value),
                    format!("{} {axis_text} (at {value})", axis_flag(goal)),
                )
            };
            probe_values(
                values,
                at,
                &base,
                flags,
                &replicator,
                &slos,
                journal.as_mut(),
            )
        })?
    } else {
        unreachable
    };
    let answer = Answer {
        kind: AnswerKind::Search {
            answer: search.answer,
            axis: axis.clone(),
            goal,
            range: [lo, hi],
            probes: search.probes.clone(),
            warnings: search.warnings.clone(),
        },
        replications: flags.replications,
        slos: slos.clone(),
        floor: floor.verdicts.clone(),
        explanations: explain(&slos, &floor, &search, &axis, (goal, lo, hi)),
        as_cheap: Vec::new(),
    };
    if let (Some(journal), Some(dir)) = (&journal, out_dir) {
        record(dir, journal, &answer, &search, &axis)?;
    }
    let table = render(&axis, &slos, Some(&floor), &search, flags.replications);
    let found = search.answer.is_some();
    print_answer(&answer, &table, flags, (found, &search.warnings))
}

/// The journal of a search into `dir`, with the manifest of the search
/// `axis_text` (along `goal`) of `base` against `slos`.
fn open_journal(
    dir: &Path,
    base: &BaseModel,
    flags: &SizeFlags,
    slos: &[Slo],
    (goal, axis_text): (Goal, &str),
) -> Result<journal::Journal, Error> {
    let manifest = size_manifest(
        &base.source,
        &DataFile::names_in(&base.loaded.resolved),
        flags,
        &format!("{} {axis_text}", axis_flag(goal)),
    )?;
    Ok(journal::Journal::open(dir, &manifest, slos)?)
}

/// Writes a finished search into `dir`: its probes (sizing.csv), their
/// figure, and the answer (result.json), sealed.
fn record(
    dir: &Path,
    journal: &journal::Journal,
    answer: &Answer,
    search: &Search,
    axis: &str,
) -> Result<(), Error> {
    journal
        .finish(&search.probes)
        .context("cannot write sizing.csv")?;
    let rows = search
        .probes
        .iter()
        .map(|p| (p.value, p.verdicts.as_slice(), p.cost_per_month_usd));
    let series = sizing_series(&answer.slos, rows);
    sizing_figure::draw(dir, axis, &series, search.answer)?;
    write_json_file(&dir.join(RESULT_FILE), answer)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    marker::seal_in_place(dir, Kind::Sizing)?;
    Ok(())
}

/// The probes at `values`: those the journal holds as they were, the rest
/// run (the model read once, the probe's value set by `at`), judged and
/// journalled.
fn probe_values(
    values: &[i64],
    at: impl Fn(i64) -> Override,
    base: &BaseModel,
    flags: &SizeFlags,
    replicator: &Replicator,
    slos: &[Slo],
    mut journal: Option<&mut journal::Journal>,
) -> Result<Vec<Probe>, Error> {
    let mut probes = Vec::with_capacity(values.len());
    let mut specs = Vec::new();
    for &value in values {
        match journal.as_ref().and_then(|j| j.done(value)) {
            Some(done) => probes.push(done),
            None => {
                // The model as read once, the probe's value named
                // by the flag that asked for it.
                let loaded = base.with([at(value)], flags.limits, Error::from)?;
                specs.push((value, loaded.spec));
            }
        }
    }
    let runs = replicator.run_all(specs.iter().map(|(_, spec)| spec))?;
    for ((value, _), runs) in specs.iter().zip(runs) {
        let probe = judge(*value, &runs, slos);
        if let Some(journal) = journal.as_mut() {
            journal
                .record(&probe)
                .context("cannot append to sizing.csv")?;
        }
        probes.push(probe);
    }
    Ok(probes)
}

/// `--over PATH=LO..HI` (or `LO..HI step S`, or `A,B,C`), or `--max-users
/// PATH[=LO..HI]` (by default 1..100000): the path and its values, sorted.
fn parse_axis(text: &str, goal: Goal) -> Result<(String, Vec<i64>), BadInput> {
    let flag = axis_flag(goal);
    let text = match (text.contains('='), goal) {
        (false, Goal::MostMeeting) => format!("{text}=1..100000"),
        _ => text.to_owned(),
    };
    let axis = crate::config::axis::parse_axis(flag, &text)?;
    match goal {
        Goal::LeastMeeting => capacity_path(flag, &text, &axis.path)?,
        Goal::MostMeeting => population_path(flag, &text, &axis.path)?,
    }
    Ok((axis.path, axis.values))
}

/// `path` (from `flag text`) is a field of the capacity, or refused.
pub(super) fn capacity_path(flag: &str, text: &str, path: &str) -> Result<(), BadInput> {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["capacity", _, ..] | ["pool", _, "capacity", _, ..] => Ok(()),
        _ => Err(BadInput(format!(
            "{flag} {text}: `{path}` is not capacity: --over sizes a field of the capacity, capacity.FIELD (e.g. capacity.lanes, capacity.requests_per_min, capacity.max_replicas) or pool.NAME.capacity.FIELD"
        ))),
    }
}

/// `path` (from `flag text`) is a population, or refused.
fn population_path(flag: &str, text: &str, path: &str) -> Result<(), BadInput> {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["workload", _, "users"] | ["workload", _, "arrivals", "per_min"] => Ok(()),
        _ => Err(BadInput(format!(
            "{flag} {text}: `{path}` is not a population: --max-users sizes workload.CLASS.users (or an open class's workload.CLASS.arrivals.per_min)"
        ))),
    }
}

/// The flag that asks a search for `goal`.
fn axis_flag(goal: Goal) -> &'static str {
    match goal {
        Goal::LeastMeeting => "--over",
        Goal::MostMeeting => "--max-users",
    }
}
