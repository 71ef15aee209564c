//! The `size` driver: the flags turned into a sizing, the model read and
//! parsed once, the floor on unlimited capacity, then a search along one
//! axis ([`search`]) or plans compared ([`plans`]), each probe's
//! replications in parallel.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{Answer, Goal, Interval, Probe, Slo, Verdict};
use crate::atomic_file;
use crate::bytes::Bytes;
use crate::cli::SizeArgs;
use crate::command::error::Error;
use crate::command::load::load;
use crate::command::{Limits, warn};
use crate::config::data_file::DataFile;
use crate::config::overrides::Override;
use crate::config::{self, LoadedModel, Source};
use crate::json;
use crate::model::ModelSpec;
use crate::model::summary::Summary;
use crate::plot::sizing_figure::SloSeries;
use crate::sweep;

mod plans;
mod search;

/// What `size` was asked.
struct SizeFlags {
    model: PathBuf,
    slos: Vec<String>,
    out: Option<PathBuf>,
    /// Replace the sizing in `out`.
    force: bool,
    replications: u32,
    set: Vec<String>,
    seed: Option<i64>,
    threads: Option<u16>,
    json: bool,
    limits: Limits,
}

/// `size MODEL --slo ...` with `--over`, `--max-users` or `--plans`.
pub fn size(args: &SizeArgs) -> Result<(), Error> {
    let flags = SizeFlags {
        model: args.model.clone(),
        slos: args.slo.clone(),
        out: args.out.clone(),
        force: args.force,
        replications: args.replications,
        set: args.set.clone(),
        seed: args.seed,
        threads: args.threads,
        json: args.json,
        limits: Limits {
            memory: args.memory_limit,
            events: args.max_events,
        },
    };
    match (&args.over, &args.max_users, &args.plans) {
        (_, _, Some(plans)) => plans::size(plans, &flags),
        (Some(over), _, _) => search::size(over, Goal::LeastMeeting, &flags),
        (None, Some(users), None) => search::size(users, Goal::MostMeeting, &flags),
        (None, None, None) => Err(Error::input(
            "size: --over, --max-users or --plans says what to size",
        )),
    }
}

/// The model `size` runs, read and parsed once, and loaded again with each
/// probe's or plan's overrides.
struct BaseModel {
    source: Source,
    table: toml::Table,
    /// `--set` and `--seed`, applied before a probe's own overrides.
    overrides: Vec<Override>,
    /// The model as loaded with `--set` (and a population axis at its least).
    loaded: LoadedModel,
}

impl BaseModel {
    /// Reads `flags.model` with `--set`, `--seed` and `extra_set`, its
    /// warnings shown, and holds it against the limits.
    fn read(flags: &SizeFlags, extra_set: Option<String>) -> Result<BaseModel, Error> {
        let mut set = flags.set.clone();
        set.extend(extra_set);
        let base = load(&flags.model, flags.seed, &set)?;
        warn(&base.warnings);
        base.admit(flags.limits, false)?;
        let mut overrides = flags
            .set
            .iter()
            .map(|f| Override::parse(f))
            .collect::<Result<Vec<_>, _>>()?;
        overrides.extend(flags.seed.map(|seed| {
            Override::new("seed", toml::Value::Integer(seed), format!("--seed {seed}"))
        }));
        Ok(BaseModel {
            table: config::parse_toml(&base.source)?,
            source: base.source,
            overrides,
            loaded: base.model,
        })
    }

    /// The model with `--set`, `--seed` and then `more` applied, its
    /// warnings shown; refused (through `refuse`) past the limits.
    fn with(
        &self,
        more: impl IntoIterator<Item = Override>,
        limits: Limits,
        refuse: impl FnOnce(config::Diagnostic) -> Error,
    ) -> Result<LoadedModel, Error> {
        let mut overrides = self.overrides.clone();
        overrides.extend(more);
        let loaded = config::load_parsed(&self.source, self.table.clone(), &overrides)?;
        warn(&loaded.warnings);
        limits
            .admit(&loaded.memory, &loaded.work, false)
            .map_err(refuse)?;
        Ok(loaded)
    }
}

/// Runs a probe's replications on `--threads` threads.
struct Replicator {
    pool: rayon::ThreadPool,
    replications: u32,
    memory_limit: Bytes,
}

impl Replicator {
    fn new(flags: &SizeFlags) -> Result<Self, Error> {
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(threads) = flags.threads {
            pool = pool.num_threads(usize::from(threads));
        }
        let pool = pool
            .build()
            .map_err(|e| Error::input(format!("--threads: {e}")))?;
        Ok(Replicator {
            pool,
            replications: flags.replications,
            memory_limit: flags.limits.memory,
        })
    }

    fn run(&self, spec: &ModelSpec) -> Result<Vec<Summary>, Error> {
        let runs = self
            .pool
            .install(|| sweep::replicate(spec, self.replications, self.memory_limit))?;
        Ok(runs)
    }

    /// Every spec's replications, all side by side.
    fn run_all<'a>(
        &self,
        specs: impl Iterator<Item = &'a ModelSpec>,
    ) -> Result<Vec<Vec<Summary>>, Error> {
        let specs: Vec<_> = specs.collect();
        let runs = self.pool.install(|| {
            specs
                .par_iter()
                .map(|spec| sweep::replicate(spec, self.replications, self.memory_limit))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(runs)
    }

    /// How many probes a search runs at once: as many as keep the threads
    /// busy with every probe's replications (1 when the replications alone
    /// fill them).
    fn width(&self) -> usize {
        (self.pool.current_num_threads() / self.replications.max(1) as usize).max(1)
    }
}

/// The SLOs, read against the metrics `base` reports, and the floor: `base`
/// on unlimited capacity, judged against them.
fn slos_and_floor(
    base: &ModelSpec,
    flags: &SizeFlags,
    replicator: &Replicator,
) -> Result<(Vec<Slo>, Probe), Error> {
    let floor_runs = replicator.run(&base.with_unlimited_capacity())?;
    let names: Vec<String> = floor_runs[0]
        .metrics()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let slos = flags
        .slos
        .iter()
        .map(|text| Slo::parse(text, &names))
        .collect::<Result<Vec<_>, _>>()?;
    warn(slos.iter().filter_map(Slo::direction_warning));
    let floor = Probe::floor(&floor_runs, &slos);
    Ok((slos, floor))
}

/// What reruns a sizing exactly: the command, its inputs (the data files
/// its models read, `names` relative to the model's directory, with their
/// fingerprints) and the version; `what` is its `--over`, `--max-users` or
/// `--plans` flag with its value.
fn size_manifest(
    source: &Source,
    names: &BTreeSet<String>,
    flags: &SizeFlags,
    what: &str,
) -> Result<serde_json::Value, Error> {
    let data_files = DataFile::read_all(names, &source.base_dir)?;
    let path = &flags.model;
    let mut command = format!("loopcap size {}", path.display());
    for slo in &flags.slos {
        command.push_str(&format!(" --slo '{slo}'"));
    }
    command.push_str(&format!(" {what} --replications {}", flags.replications));
    for set in &flags.set {
        command.push_str(&format!(" --set '{set}'"));
    }
    if let Some(seed) = flags.seed {
        command.push_str(&format!(" --seed {seed}"));
    }
    Ok(serde_json::json!({
        "loopcap": env!("CARGO_PKG_VERSION"),
        "command": command,
        "model": path.display().to_string(),
        "model_toml": source.text,
        "data_files": data_files,
        "slos": flags.slos,
        "search": what,
        "replications": flags.replications,
        "set": flags.set,
        "seed": flags.seed,
    }))
}

/// `value` pretty-printed into `path`, atomically.
fn write_json_file(path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    atomic_file::write_file(path, |w| json::write_json(w, value))
}

/// What `size --out` draws: each SLO's metric, and the cost an hour when
/// there is one, over `rows` (a probe's value or a plan's index, its
/// verdicts and its cost an hour).
fn sizing_series<'a>(
    slos: &'a [Slo],
    rows: impl Iterator<Item = (i64, &'a [Verdict], Interval)> + Clone,
) -> Vec<SloSeries<'a>> {
    let mut series: Vec<_> = slos
        .iter()
        .enumerate()
        .map(|(i, slo)| SloSeries {
            metric: &slo.metric,
            text: &slo.text,
            bound: Some(slo.bound),
            points: rows
                .clone()
                .filter_map(|(value, verdicts, _)| {
                    let v = verdicts.get(i)?;
                    Some((value, v.mean?, v.ci95.unwrap_or(0.0)))
                })
                .collect(),
        })
        .collect();
    let cost = SloSeries {
        metric: "cost_per_hour_usd",
        text: "what the capacity costs an hour",
        bound: None,
        points: rows
            .filter_map(|(value, _, (mean, half))| Some((value, mean?, half.unwrap_or(0.0))))
            .collect(),
    };
    series.extend((cost.points.iter().any(|p| p.1 > 0.0)).then_some(cost));
    series
}

/// Prints the answer: as JSON, or `table` then the answer's sentence and
/// why there is none. `Err(NoAnswer)` when there is none.
fn print_answer(answer: &Answer, table: &str, flags: &SizeFlags) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    if flags.json {
        json::write_json(&mut stdout, answer)?;
    } else {
        stdout.write_all(table.as_bytes())?;
        writeln!(stdout, "\n{}", answer.sentence())?;
        for line in &answer.explanations {
            writeln!(stdout, "  {line}")?;
        }
    }
    stdout.flush()?;
    Ok(())
}
