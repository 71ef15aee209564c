//! The `loopcap` command: parse flags, load the model, run or sweep it,
//! export the results.

mod cli;

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use cli::{Cli, Command, SchemaKind};
use loopcap::atomic_file;
use loopcap::bytes::Bytes;
use loopcap::config::data_file::DataFile;
use loopcap::config::experiment::{
    ExperimentFlags, is_experiment, load_experiment_with, read_experiment_with,
};
use loopcap::config::memory::Memory;
use loopcap::config::schema::{self, FileKind};
use loopcap::config::work::Work;
use loopcap::config::{self, Diagnostic, LoadedModel, Source};
use loopcap::export::{self, ExportError};
use loopcap::fit;
use loopcap::html_report;
use loopcap::json;
use loopcap::model::summary::Summary;
use loopcap::model::{self, RunOptions};
use loopcap::output::file_target::{FileTarget, claim_file};
use loopcap::output::marker::{self, Kind};
use loopcap::output::staged_dir::{Published, StagedDir};
use loopcap::output::target::{self, Reuse, Target};
use loopcap::output::{OutputError, io_at};
use loopcap::peak_memory::peak_memory_bytes;
use loopcap::plot::{self, PlotError, sweep_figures, timeseries_plot::TimeseriesPlot};
use loopcap::report::{compare, manifest::Manifest, replicated, run_outputs, table};
use loopcap::sizing;
use loopcap::sweep::manifest::SweepManifest;
use loopcap::sweep::{self, Shard, SweepError, SweepOptions};
use loopcap::validation;
use rayon::prelude::*;

/// Why the command failed, which decides its exit code.
enum CommandError {
    /// Bad input: exit 2.
    Input(String),
    /// A failure while running, e.g. an output that cannot be written: exit 1.
    Runtime(anyhow::Error),
    /// `size` found no value that meets every SLO (and said why): exit 3.
    NoAnswer,
}

impl From<Diagnostic> for CommandError {
    fn from(d: Diagnostic) -> Self {
        CommandError::Input(d.to_string())
    }
}

impl From<SweepError> for CommandError {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Input(message) => CommandError::Input(message),
            // An --out that names a file.
            not_a_dir @ SweepError::Io { .. } if not_a_dir.is_not_a_directory() => {
                CommandError::Input(not_a_dir.to_string())
            }
            other => CommandError::Runtime(other.into()),
        }
    }
}

impl From<PlotError> for CommandError {
    fn from(e: PlotError) -> Self {
        match e {
            PlotError::Data(message) => CommandError::Input(message),
            other => CommandError::Runtime(other.into()),
        }
    }
}

impl From<OutputError> for CommandError {
    fn from(e: OutputError) -> Self {
        match e {
            refused @ OutputError::Refused { .. } => CommandError::Input(refused.to_string()),
            io @ OutputError::Io { .. } => CommandError::Runtime(io.into()),
        }
    }
}

impl From<ExportError> for CommandError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::Rows(message) => CommandError::Input(message),
            ExportError::Plot(plot) => plot.into(),
            io @ ExportError::Io { .. } => CommandError::Runtime(io.into()),
        }
    }
}

impl From<anyhow::Error> for CommandError {
    fn from(e: anyhow::Error) -> Self {
        CommandError::Runtime(e)
    }
}

impl From<io::Error> for CommandError {
    fn from(e: io::Error) -> Self {
        CommandError::Runtime(e.into())
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run {
            model,
            sweep_run: Some(run),
            json,
            ..
        } => rerun_sweep_run(&model, run, json),
        Command::Run {
            model,
            seed,
            set,
            out: _,
            force: _,
            json,
            memory_limit,
            max_events,
            replications,
            sweep_run: None,
        } if replications > 1 => run_replicated(
            &model,
            seed,
            &set,
            json,
            replications,
            Limits::new(memory_limit, max_events),
        ),
        Command::Run {
            model,
            seed,
            set,
            out,
            force,
            json,
            memory_limit,
            max_events,
            replications: _,
            sweep_run: None,
        } => run(
            &model,
            seed,
            &set,
            out.as_deref().map(|dir| (dir, force)),
            json,
            Limits::new(memory_limit, max_events),
        ),
        Command::Sweep {
            experiment,
            out,
            threads,
            resume,
            shard,
            memory_limit,
            max_events,
            set,
            seed,
            replications,
            force,
        } => sweep_command(
            &experiment,
            out,
            SweepOptions {
                threads: threads.map(usize::from),
                resume,
                shard: None,
                progress: true,
                memory_limit,
            },
            shard.as_deref(),
            ExperimentFlags {
                set,
                seed: seed.map(|s| s as u64),
                replications,
            },
            force,
            max_events,
        ),
        Command::Merge { dirs, out, force } => merge_command(&dirs, &out, force),
        Command::Plot { input, out } => plot_command(&input, out.as_deref()),
        Command::Check {
            file,
            set,
            memory_limit,
            max_events,
        } => check(&file, &set, Limits::new(memory_limit, max_events)),
        Command::Validate => validate_command(),
        Command::Compare { a, b, json } => compare_command(&a, &b, json),
        Command::Size {
            model,
            slo,
            over,
            max_users,
            plans,
            out,
            force,
            replications,
            set,
            seed,
            threads,
            json,
            memory_limit,
            max_events,
        } => {
            let flags = SizeFlags {
                slos: slo,
                out,
                force,
                axis: match (over, max_users) {
                    (Some(over), _) => Some((over, sizing::Goal::LeastMeeting)),
                    (None, Some(users)) => Some((users, sizing::Goal::MostMeeting)),
                    (None, None) => None,
                },
                replications,
                set,
                seed,
                threads,
                json,
                limits: Limits::new(memory_limit, max_events),
            };
            match plans {
                Some(plans) => plans_command(&model, &plans, &flags),
                None => size_command(&model, &flags),
            }
        }
        Command::Fit {
            trace,
            format,
            columns,
            out,
            replications,
            json,
        } => fit_command(
            &trace,
            &format,
            columns.as_deref(),
            &out,
            replications,
            json,
        ),
        Command::Report { dir, out } => report_command(&dir, out.as_deref()),
        Command::Schema { kind } => schema_command(kind),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CommandError::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(CommandError::NoAnswer) => ExitCode::from(3),
        Err(CommandError::Runtime(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(CommandError::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `compare A B`: each metric of two results, their difference and its significance.
fn compare_command(a: &str, b: &str, json: bool) -> Result<(), CommandError> {
    let a = compare::read_side(a).map_err(CommandError::Input)?;
    let b = compare::read_side(b).map_err(CommandError::Input)?;
    let (pairing, rows) = compare::compare(&a, &b);
    let mut stdout = io::stdout().lock();
    if json {
        compare::write_json(&mut stdout, &rows)?;
    } else {
        stdout.write_all(compare::render(&a, &b, pairing, &rows).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// What `size` was asked.
struct SizeFlags {
    slos: Vec<String>,
    out: Option<PathBuf>,
    /// Replace the sizing in `out`.
    force: bool,
    /// `--over` or `--max-users` as given, and what it looks for (none with `--plans`).
    axis: Option<(String, sizing::Goal)>,
    replications: u32,
    set: Vec<String>,
    seed: Option<i64>,
    threads: Option<u16>,
    json: bool,
    limits: Limits,
}

/// The most a run may take: memory, and events by the estimate.
#[derive(Clone, Copy)]
struct Limits {
    memory: Bytes,
    events: u64,
}

impl Limits {
    fn new(memory: Bytes, events: u64) -> Limits {
        Limits { memory, events }
    }

    /// Refuses a model estimated to need more memory (keeping its time
    /// series or not) or events than allowed.
    fn admit(&self, memory: &Memory, work: &Work, timeseries: bool) -> Result<(), Diagnostic> {
        memory.fits(self.memory, timeseries)?;
        work.fits(self.events)
    }
}

/// `--over PATH=LO..HI`, or `--max-users PATH[=LO..HI]` (by default 1..100000).
fn parse_axis(text: &str, goal: sizing::Goal) -> Result<(String, i64, i64), String> {
    let flag = axis_flag(goal);
    let bad = || {
        format!(
            "{flag} {text}: expected PATH=LO..HI with whole numbers, e.g. capacity.lanes=1..256"
        )
    };
    let (path, range) = match (text.split_once('='), goal) {
        (Some(split), _) => split,
        (None, sizing::Goal::MostMeeting) => (text, "1..100000"),
        (None, sizing::Goal::LeastMeeting) => return Err(bad()),
    };
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    let (lo, hi): (i64, i64) = (
        lo.trim().parse().map_err(|_| bad())?,
        hi.trim().parse().map_err(|_| bad())?,
    );
    if lo > hi {
        return Err(format!("{flag} {text}: LO ({lo}) is above HI ({hi})"));
    }
    let path = path.trim();
    let parts: Vec<&str> = path.split('.').collect();
    match goal {
        sizing::Goal::LeastMeeting
            if !matches!(
                parts.as_slice(),
                ["capacity", _, ..] | ["pool", _, "capacity", _, ..]
            ) =>
        {
            Err(format!(
                "{flag} {text}: `{path}` is not capacity: --over sizes a field of the capacity, capacity.FIELD (e.g. capacity.lanes, capacity.requests_per_min, capacity.max_replicas) or pool.NAME.capacity.FIELD"
            ))
        }
        sizing::Goal::MostMeeting
            if !matches!(
                parts.as_slice(),
                ["workload", _, "users"] | ["workload", _, "arrivals", "per_min"]
            ) =>
        {
            Err(format!(
                "{flag} {text}: `{path}` is not a population: --max-users sizes workload.CLASS.users (or an open class's workload.CLASS.arrivals.per_min)"
            ))
        }
        _ => Ok((path.to_owned(), lo, hi)),
    }
}

/// Runs a probe's replications on `--threads` threads.
struct Replicator {
    pool: rayon::ThreadPool,
    replications: u32,
    memory_limit: Bytes,
}

impl Replicator {
    fn new(flags: &SizeFlags) -> Result<Self, CommandError> {
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(threads) = flags.threads {
            pool = pool.num_threads(usize::from(threads));
        }
        let pool = pool
            .build()
            .map_err(|e| CommandError::Input(format!("--threads: {e}")))?;
        Ok(Replicator {
            pool,
            replications: flags.replications,
            memory_limit: flags.limits.memory,
        })
    }

    fn run(&self, spec: &model::ModelSpec) -> Result<Vec<Summary>, CommandError> {
        let runs = self
            .pool
            .install(|| sweep::replicate(spec, self.replications, self.memory_limit))?;
        Ok(runs)
    }

    /// Every spec's replications, all side by side.
    fn run_all<'a>(
        &self,
        specs: impl Iterator<Item = &'a model::ModelSpec>,
    ) -> Result<Vec<Vec<Summary>>, CommandError> {
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
    base: &model::ModelSpec,
    flags: &SizeFlags,
    replicator: &Replicator,
) -> Result<(Vec<sizing::Slo>, sizing::Probe), CommandError> {
    let floor_runs = replicator.run(&base.with_unlimited_capacity())?;
    let names: Vec<String> = floor_runs[0]
        .metrics()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let slos = flags
        .slos
        .iter()
        .map(|text| sizing::Slo::parse(text, &names))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CommandError::Input)?;
    for warning in slos.iter().filter_map(sizing::Slo::direction_warning) {
        eprintln!("warning: {warning}");
    }
    let floor = sizing::Probe::floor(&floor_runs, &slos);
    Ok((slos, floor))
}

/// The flag that asks a search for `goal`.
fn axis_flag(goal: sizing::Goal) -> &'static str {
    match goal {
        sizing::Goal::LeastMeeting => "--over",
        sizing::Goal::MostMeeting => "--max-users",
    }
}

/// What reruns a sizing exactly: the command, its inputs (the data files
/// its models read, `names` relative to the model's directory, with their
/// fingerprints) and the version; `what` is its `--over`, `--max-users` or
/// `--plans` flag with its value.
fn size_manifest(
    path: &Path,
    source: &Source,
    names: &BTreeSet<String>,
    flags: &SizeFlags,
    what: &str,
) -> Result<serde_json::Value, CommandError> {
    let data_files = DataFile::read_all(names, &source.base_dir).map_err(CommandError::Input)?;
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
    slos: &'a [sizing::Slo],
    rows: impl Iterator<Item = (i64, &'a [sizing::Verdict], sizing::Interval)> + Clone,
) -> Vec<plot::sizing_figure::SloSeries<'a>> {
    let mut series: Vec<_> = slos
        .iter()
        .enumerate()
        .map(|(i, slo)| plot::sizing_figure::SloSeries {
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
    let cost = plot::sizing_figure::SloSeries {
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

/// `size MODEL --slo ... --plans FILE`: every plan judged with its cost,
/// and the cheapest that meets every SLO.
fn plans_command(path: &Path, plans_file: &Path, flags: &SizeFlags) -> Result<(), CommandError> {
    let (_, plans) = config::plans::read_plans(plans_file)?;
    let (source, base) = load_to_run(path, flags.seed, &flags.set, flags.limits, false)?;
    let staged = match &flags.out {
        Some(dir) => Some(stage_out(dir, Kind::Sizing, flags.force)?),
        None => None,
    };
    let replicator = Replicator::new(flags)?;
    let (slos, floor) = slos_and_floor(&base.spec, flags, &replicator)?;
    let base_overrides = size_overrides(flags)?;
    let mut results = Vec::with_capacity(plans.len());
    let mut data_files = DataFile::names_in(&base.resolved);
    for plan in &plans {
        let mut overrides = base_overrides.clone();
        overrides.extend(plan.overrides.iter().cloned());
        let in_plan = |d: Diagnostic| {
            CommandError::Input(format!(
                "{}: plan `{}`: {d}",
                plans_file.display(),
                plan.name
            ))
        };
        let loaded = config::load_model(&source, &overrides)?;
        data_files.extend(DataFile::names_in(&loaded.resolved));
        warn(&loaded.warnings);
        flags
            .limits
            .admit(&loaded.memory, &loaded.work, false)
            .map_err(in_plan)?;
        let runs = replicator.run(&loaded.spec)?;
        results.push(sizing::judge_plan(&plan.name, &runs, &slos));
    }
    let best = sizing::cheapest(&results);
    let explanations = match best {
        Some(_) => Vec::new(),
        None => sizing::explain_plans(&slos, &floor),
    };
    let answer = sizing::Answer {
        kind: sizing::AnswerKind::Plans {
            answer: best.map(|p| p.name.clone()),
            plans: results.clone(),
        },
        replications: flags.replications,
        slos: slos.clone(),
        floor: floor.verdicts.clone(),
        explanations: explanations.clone(),
    };
    if let Some(staged) = staged {
        let dir = staged.path();
        let mut manifest = size_manifest(
            path,
            &source,
            &data_files,
            flags,
            &format!("--plans {}", plans_file.display()),
        )?;
        // The plans as compared, their stated assumptions included.
        let plans_toml = std::fs::read_to_string(plans_file)
            .with_context(|| format!("cannot read {}", plans_file.display()))?;
        manifest["plans_toml"] = serde_json::Value::String(plans_toml);
        let written = write_json_file(&dir.join("manifest.json"), &manifest)
            .and_then(|()| {
                atomic_file::write_file(&dir.join("sizing.csv"), |w| {
                    w.write_all(sizing::plans_csv(&slos, &results).as_bytes())
                })
            })
            .and_then(|()| write_json_file(&dir.join(sizing::RESULT_FILE), &answer));
        written.with_context(|| format!("cannot write into {}", dir.display()))?;
        let rows = results
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i64, p.verdicts.as_slice(), p.cost_per_hour_usd));
        let names: Vec<String> = results.iter().map(|p| p.name.clone()).collect();
        let best_index = best.and_then(|b| results.iter().position(|p| p.name == b.name));
        plot::sizing_figure::draw_plans(dir, &names, &sizing_series(&slos, rows), best_index)?;
        publish(staged)?;
    }
    let mut stdout = io::stdout().lock();
    if flags.json {
        json::write_json(&mut stdout, &answer)?;
    } else {
        let table = sizing::render_plans(&slos, &floor, &results, flags.replications);
        stdout.write_all(table.as_bytes())?;
        writeln!(stdout, "\n{}", answer.sentence())?;
        for line in &explanations {
            writeln!(stdout, "  {line}")?;
        }
    }
    stdout.flush()?;
    match best {
        Some(_) => Ok(()),
        None => Err(CommandError::NoAnswer),
    }
}

/// The overrides `size` applies to every model it runs: `--set`, `--seed`.
fn size_overrides(flags: &SizeFlags) -> Result<Vec<config::overrides::Override>, CommandError> {
    let mut overrides = flags
        .set
        .iter()
        .map(|f| config::overrides::Override::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    overrides.extend(flags.seed.map(|seed| {
        config::overrides::Override::new(
            "seed",
            toml::Value::Integer(seed),
            format!("--seed {seed}"),
        )
    }));
    Ok(overrides)
}

/// `size MODEL --slo ... --over PATH=LO..HI` (or `--max-users PATH`): the
/// floor on unlimited capacity, then the search, each probe its replications
/// in parallel.
fn size_command(path: &Path, flags: &SizeFlags) -> Result<(), CommandError> {
    let (axis_text, goal) = flags
        .axis
        .clone()
        .expect("clap asks for --over, --max-users or --plans");
    let (axis, lo, hi) = parse_axis(&axis_text, goal).map_err(CommandError::Input)?;
    // The floor: for a population, its least value on unlimited capacity.
    let mut base_set = flags.set.clone();
    if goal == sizing::Goal::MostMeeting {
        base_set.push(format!("{axis}={lo}"));
    }
    let (source, base) = load_to_run(path, flags.seed, &base_set, flags.limits, false)?;
    // The output directory is claimed before anything runs; replaced
    // (--force) only once the SLOs are read.
    let mut out = match &flags.out {
        Some(dir) => Some(claim_out(dir, Kind::Sizing, Reuse::Continue)?),
        None => None,
    };
    let replicator = Replicator::new(flags)?;
    let (slos, floor) = slos_and_floor(&base.spec, flags, &replicator)?;
    // An SLO the floor misses is out of every capacity's reach: no search.
    let unreachable = sizing::Search {
        answer: None,
        probes: Vec::new(),
        warnings: Vec::new(),
    };
    if let Some(target) = out.as_mut().filter(|_| flags.force) {
        target.clear()?;
    }
    let out_dir = out.as_ref().map(|t| t.path.as_path());
    let mut journal = match out_dir {
        Some(dir) => Some(
            sizing::journal::Journal::open(
                dir,
                &size_manifest(
                    path,
                    &source,
                    &DataFile::names_in(&base.resolved),
                    flags,
                    &format!("{} {axis_text}", axis_flag(goal)),
                )?,
                &slos,
            )
            .map_err(CommandError::Input)?,
        ),
        None => None,
    };
    // The journal took the directory (or refused it, as it was).
    if let Some(target) = &out {
        target.mark_writing(Kind::Sizing)?;
    }
    let base_overrides = size_overrides(flags)?;
    let search = if floor.met {
        sizing::search((lo, hi), goal, &slos, replicator.width(), |values| {
            let mut probes = Vec::with_capacity(values.len());
            let mut specs = Vec::new();
            for &value in values {
                match journal.as_ref().and_then(|j| j.done(value)) {
                    Some(done) => probes.push(done),
                    None => {
                        // The model as read once, the probe's value named
                        // by the flag that asked for it.
                        let mut overrides = base_overrides.clone();
                        overrides.push(config::overrides::Override::new(
                            &axis,
                            toml::Value::Integer(value),
                            format!("{} {axis_text} (at {value})", axis_flag(goal)),
                        ));
                        let loaded = config::load_model(&source, &overrides)?;
                        warn(&loaded.warnings);
                        flags.limits.admit(&loaded.memory, &loaded.work, false)?;
                        specs.push((value, loaded.spec));
                    }
                }
            }
            let runs = replicator.run_all(specs.iter().map(|(_, spec)| spec))?;
            for ((value, _), runs) in specs.iter().zip(runs) {
                let probe = sizing::judge(*value, &runs, &slos);
                if let Some(journal) = &mut journal {
                    journal
                        .record(&probe)
                        .context("cannot append to sizing.csv")?;
                }
                probes.push(probe);
            }
            Ok::<_, CommandError>(probes)
        })?
    } else {
        unreachable
    };
    if let (Some(journal), Some(dir)) = (&journal, out_dir) {
        journal
            .finish(&search.probes)
            .context("cannot write sizing.csv")?;
        let rows = search
            .probes
            .iter()
            .map(|p| (p.value, p.verdicts.as_slice(), p.cost_per_hour_usd));
        let series = sizing_series(&slos, rows);
        plot::sizing_figure::draw(dir, &axis, &series, search.answer)?;
    }
    let explanations = sizing::explain(&slos, &floor, &search, &axis, (goal, lo, hi));
    let answer = sizing::Answer {
        kind: sizing::AnswerKind::Search {
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
        explanations: explanations.clone(),
    };
    if let Some(dir) = out_dir {
        write_json_file(&dir.join(sizing::RESULT_FILE), &answer)
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        marker::seal_in_place(dir, Kind::Sizing)?;
    }
    let mut stdout = io::stdout().lock();
    if flags.json {
        json::write_json(&mut stdout, &answer)?;
    } else {
        let table = sizing::render(&axis, &slos, Some(&floor), &search, flags.replications);
        stdout.write_all(table.as_bytes())?;
        writeln!(stdout, "\n{}", answer.sentence())?;
        for line in &explanations {
            writeln!(stdout, "  {line}")?;
        }
    }
    stdout.flush()?;
    for w in &search.warnings {
        eprintln!("warning: {w}");
    }
    match search.answer {
        Some(_) => Ok(()),
        None => Err(CommandError::NoAnswer),
    }
}

/// How a model `fit` wrote begins.
const FITTED_HEADER: &str = "# Fitted by loopcap";

/// `fit TRACE`: writes the fitted model (and its empirical CSVs), reads it
/// back as `check` would, runs it over the trace's span and prints the report.
fn fit_command(
    trace: &Path,
    format: &str,
    columns: Option<&str>,
    out: &Path,
    replications: u32,
    json: bool,
) -> Result<(), CommandError> {
    let shown = trace.display().to_string();
    let population = fit::read_trace(&shown, format, columns).map_err(CommandError::Input)?;
    let obs = fit::observe(&population).map_err(CommandError::Input)?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| CommandError::Input(format!("--out {}: not a file name", out.display())))?;
    let columns_flag = columns.map_or(String::new(), |c| format!(" --columns '{c}'"));
    let comment = format!(
        "{} {} from the trace {shown}:\n  loopcap fit {shown} --format {format}{columns_flag} --out {}\n{} calls in {} loops over {:.0} s. The capacity below is not in the trace.",
        &FITTED_HEADER[2..],
        env!("CARGO_PKG_VERSION"),
        out.display(),
        obs.calls,
        obs.loops,
        obs.span_s
    );
    let fitted = fit::fit(&obs, &stem, &comment);
    // Each file written is new, or one an earlier fit wrote (a model that
    // says so, and the CSVs it names); none is the trace.
    let trace_path = target::resolve(trace)?;
    let not_the_trace = |path: &Path| -> Result<(), CommandError> {
        if target::resolve(path)? == trace_path {
            return Err(CommandError::Input(format!(
                "--out {}: would write {}, which is the trace being fitted; choose another name",
                out.display(),
                path.display()
            )));
        }
        Ok(())
    };
    not_the_trace(out)?;
    let model_target = claim_file(out, &|head| head.starts_with(FITTED_HEADER.as_bytes()))?;
    let dir = model_target
        .path
        .parent()
        .unwrap_or(Path::new("/"))
        .to_owned();
    let earlier = std::fs::read_to_string(&model_target.path).unwrap_or_default();
    let mut targets = vec![];
    for (name, _) in &fitted.files {
        not_the_trace(&dir.join(name))?;
        let named = format!("\"{name}\"");
        targets.push(claim_file(&dir.join(name), &|_| earlier.contains(&named))?);
    }
    // Written aside and read back as `check` would before anything is put
    // in place: a model that cannot be read is never written.
    // Marked as loopcap's staging, so a writer after a kill removes it.
    let staging = tempfile::Builder::new()
        .prefix(target::INNER_STAGING_PREFIX)
        .tempdir_in(&dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    std::fs::write(staging.path().join(marker::STAGING), "")
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    for (name, values) in &fitted.files {
        atomic_file::write_file(&staging.path().join(name), |w| {
            writeln!(w, "value")?;
            for v in values {
                writeln!(w, "{v}")?;
            }
            Ok(())
        })
        .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    let staged_model = staging.path().join(out.file_name().unwrap_or_default());
    atomic_file::write_file(&staged_model, |w| w.write_all(fitted.model.as_bytes()))
        .with_context(|| format!("cannot write {}", out.display()))?;
    let (_, loaded) = load(&staged_model, None, &[]).map_err(|e| match e {
        CommandError::Input(why) => CommandError::Runtime(anyhow::anyhow!(
            "the fitted model does not read back ({why}); nothing was written"
        )),
        other => other,
    })?;
    // The CSVs first, the model that names them last.
    for ((name, _), target) in fitted.files.iter().zip(&targets) {
        std::fs::rename(staging.path().join(name), &target.path)
            .with_context(|| format!("cannot write {}", target.path.display()))?;
    }
    std::fs::rename(&staged_model, &model_target.path)
        .with_context(|| format!("cannot write {}", model_target.path.display()))?;
    for target in targets.iter().chain([&model_target]) {
        target.written()?;
    }
    let fit_report = fit::report::report(&shown, &loaded.spec, &obs, &fitted, replications)
        .map_err(|e| CommandError::Runtime(anyhow::anyhow!(e)))?;
    let mut stdout = io::stdout().lock();
    if json {
        json::write_json(&mut stdout, &fit_report)?;
    } else {
        stdout.write_all(fit_report.table().as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// `report DIR`: the directory's page, written atomically, over nothing
/// but an earlier page of loopcap's.
fn report_command(dir: &Path, out: Option<&Path>) -> Result<(), CommandError> {
    marker::verify(dir)?;
    let html = html_report::render(dir).map_err(CommandError::Input)?;
    let path = out.map_or_else(|| html_report::default_path(dir), Path::to_path_buf);
    let target = claim_file(&path, &html_report::is_report)?;
    write_claimed(&target, |w| w.write_all(html.as_bytes()))?;
    writeln!(io::stdout().lock(), "wrote {}", path.display())?;
    Ok(())
}

/// Writes a claimed file atomically and records it in its directory's set.
fn write_claimed(
    target: &FileTarget,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), CommandError> {
    atomic_file::write_file(&target.path, fill)
        .with_context(|| format!("cannot write {}", target.path.display()))?;
    Ok(target.written()?)
}

/// `schema KIND`: the JSON Schema of model or experiment files.
fn schema_command(kind: SchemaKind) -> Result<(), CommandError> {
    let kind = match kind {
        SchemaKind::Model => FileKind::Model,
        SchemaKind::Experiment => FileKind::Experiment,
    };
    let mut stdout = io::stdout().lock();
    json::write_json(&mut stdout, &schema::schema(kind))?;
    Ok(())
}

/// Prints the completion script, written whole and then sent, so a closed
/// stdout is an error like any other command's rather than a panic.
fn completions(shell: clap_complete::Shell) -> Result<(), CommandError> {
    let mut script = Vec::new();
    let mut cli = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cli, "loopcap", &mut script);
    io::stdout().lock().write_all(&script)?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

fn warn(warnings: impl IntoIterator<Item = impl std::fmt::Display>) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

/// A model file, or the model embedded in a manifest written by `run --out`.
fn read_source(path: &Path) -> Result<Source, CommandError> {
    if path.extension().is_none_or(|ext| ext != "json") {
        return Ok(Source::read(path)?);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        marker::verify(dir)?;
    }
    let (manifest, warning) = Manifest::read(path)?;
    warn(warning);
    Ok(manifest.source(path)?)
}

fn load(
    path: &Path,
    seed: Option<i64>,
    set: &[String],
) -> Result<(Source, LoadedModel), CommandError> {
    let source = read_source(path)?;
    if is_experiment(&source) {
        return Err(CommandError::Input(format!(
            "{}: this is an experiment, not a model (it has a `grid` or `replications`): run it with `loopcap sweep`",
            source.name
        )));
    }
    let mut flags = set.to_vec();
    flags.extend(seed.map(|seed| format!("seed={seed}")));
    let loaded = config::load_model_with(&source, &flags)?;
    Ok((source, loaded))
}

/// A model to run: loaded, its warnings shown, and its memory (keeping
/// its time series or not) and work estimates held against the limits.
fn load_to_run(
    path: &Path,
    seed: Option<i64>,
    set: &[String],
    limits: Limits,
    timeseries: bool,
) -> Result<(Source, LoadedModel), CommandError> {
    let (source, loaded) = load(path, seed, set)?;
    warn(&loaded.warnings);
    limits.admit(&loaded.memory, &loaded.work, timeseries)?;
    Ok((source, loaded))
}

/// Claims `dir` for outputs of `kind`, saying where a symlink led.
fn claim_out(dir: &Path, kind: Kind, reuse: Reuse) -> Result<Target, CommandError> {
    let target = target::claim(dir, kind, reuse)?;
    if let Some(note) = &target.note {
        eprintln!("note: {note}");
    }
    Ok(target)
}

/// Stages a set of `kind` for `dir`, to be published whole.
fn stage_out(dir: &Path, kind: Kind, force: bool) -> Result<StagedDir, CommandError> {
    let target = claim_out(dir, kind, Reuse::Replace { force })?;
    Ok(StagedDir::new(target, kind)?)
}

/// Publishes a staged set, saying where a file that was not loopcap's was kept.
fn publish(staged: StagedDir) -> Result<(), CommandError> {
    if let Published::Whole {
        kept_aside: Some(kept),
    } = staged.publish()?
    {
        warn([format!(
            "files that loopcap did not write came into the old outputs while it ran; they are kept in {}",
            kept.display()
        )]);
    }
    Ok(())
}

fn run(
    path: &Path,
    seed: Option<i64>,
    set: &[String],
    out: Option<(&Path, bool)>,
    json: bool,
    limits: Limits,
) -> Result<(), CommandError> {
    let (source, loaded) = load_to_run(path, seed, set, limits, out.is_some())?;
    // The output directory is checked, locked and staged before the run,
    // so a run that cannot publish its results never starts.
    let staged = match out {
        Some((dir, force)) => {
            if let Some(too_long) = &loaded.timeseries_too_long {
                return Err(too_long.clone().into());
            }
            Some(stage_out(dir, Kind::Run, force)?)
        }
        None => None,
    };
    let options = RunOptions {
        memory_limit: limits.memory,
        max_events: limits.events,
        ..RunOptions::new(staged.is_some())
    };
    let result = model::simulate_with(&loaded.spec, options, |_, _| {})
        .map_err(|e| CommandError::Runtime(e.into()))?;
    if let Some(staged) = staged {
        let dir = staged.target().path.clone();
        run_outputs::manifest(&dir, path, set, &source, &loaded)
            .and_then(|m| run_outputs::write(staged.path(), &m, &result))
            .with_context(|| format!("writing results to {}", dir.display()))?;
        publish(staged)?;
    }
    print_summary(&result.summary, json)
}

/// Prints a run's summary as the table, or as JSON.
fn print_summary(summary: &Summary, json: bool) -> Result<(), CommandError> {
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
fn rerun_sweep_run(dir: &Path, run: usize, json: bool) -> Result<(), CommandError> {
    let (exp, _) = sweep::read(dir)?;
    if let Some(why) = SweepManifest::read(dir)?.differs_from(&SweepManifest::new(&exp)?) {
        return Err(CommandError::Input(format!("{}: {why}", dir.display())));
    }
    if run >= exp.runs() {
        return Err(CommandError::Input(format!(
            "--run {run}: {} has runs 0 to {}",
            dir.display(),
            exp.runs() - 1
        )));
    }
    let replications = exp.replications as usize;
    let spec = sweep::run_spec(&exp, run / replications, (run % replications) as u32);
    let result = model::simulate(&spec, false).map_err(|e| CommandError::Runtime(e.into()))?;
    print_summary(&result.summary, json)
}

/// `run --replications N`: each metric's mean and 95% interval.
fn run_replicated(
    path: &Path,
    seed: Option<i64>,
    set: &[String],
    json: bool,
    replications: u32,
    limits: Limits,
) -> Result<(), CommandError> {
    let (_, loaded) = load_to_run(path, seed, set, limits, false)?;
    let summaries = sweep::replicate(&loaded.spec, replications, limits.memory)?;
    let stats = replicated::stats(&summaries);
    let mut stdout = io::stdout().lock();
    if json {
        replicated::write_json(&mut stdout, &stats)?;
    } else {
        let seeds: Vec<u64> = summaries.iter().map(|s| s.seed).collect();
        stdout.write_all(replicated::render(&loaded.spec.name, &seeds, &stats).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

fn sweep_command(
    path: &Path,
    out: Option<PathBuf>,
    mut options: SweepOptions,
    shard: Option<&str>,
    flags: ExperimentFlags,
    force: bool,
    max_events: u64,
) -> Result<(), CommandError> {
    let limits = Limits::new(options.memory_limit, max_events);
    options.shard = shard
        .map(Shard::parse)
        .transpose()
        .map_err(|e| CommandError::Input(format!("--shard: {e}")))?;
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
    let out = out.unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
        Path::new("results").join(stem)
    });
    let mut target = claim_out(&out, Kind::Sweep, Reuse::Continue)?;
    if force {
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
    writeln!(
        stdout,
        "{}: {} runs now, {} in runs.csv",
        out.display(),
        outcome.runs_done_now,
        outcome.rows.len()
    )?;
    if outcome.finished {
        warn(export::sweep_outputs(&exp, &out, &outcome.rows)?);
        marker::seal_in_place(&out, Kind::Sweep)?;
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

fn merge_command(dirs: &[PathBuf], out: &Path, force: bool) -> Result<(), CommandError> {
    let staged = stage_out(out, Kind::Sweep, force)?;
    for dir in dirs {
        if target::resolve(dir)? == staged.target().path {
            return Err(CommandError::Input(format!(
                "--out {}: is one of the shards; merge into a directory of its own",
                out.display()
            )));
        }
    }
    let (exp, rows) = sweep::merge(dirs, staged.path())?;
    warn(export::sweep_outputs(&exp, staged.path(), &rows)?);
    publish(staged)?;
    writeln!(
        io::stdout().lock(),
        "{}: merged {} runs from {} directories",
        out.display(),
        rows.len(),
        dirs.len()
    )?;
    Ok(())
}

fn plot_command(input: &Path, out: Option<&Path>) -> Result<(), CommandError> {
    if input.is_dir() {
        let (exp, rows) = sweep::read(input)?;
        let points = export::points(&exp, &rows)?;
        let (out, drawn) = draw_into(out.unwrap_or(input), |out| {
            Ok(sweep_figures::draw_all(&exp, &points, input, out)?)
        })?;
        warn(drawn);
        writeln!(
            io::stdout().lock(),
            "{}: drew {} plots",
            out.display(),
            exp.plots.len()
        )?;
        return Ok(());
    }
    let Some(out) = out else {
        return Err(CommandError::Input(
            "--out DIR: where to draw a timeseries.csv's figure".into(),
        ));
    };
    if let Some(dir) = input.parent().filter(|d| !d.as_os_str().is_empty()) {
        marker::verify(dir)?;
    }
    let figure = TimeseriesPlot::read(input).map_err(CommandError::Input)?;
    let (out, ()) = draw_into(out, |out| Ok(plot::save(&figure, out, "timeseries")?))?;
    writeln!(
        io::stdout().lock(),
        "wrote {}",
        out.join("timeseries.png").display()
    )?;
    Ok(())
}

/// Draws figures into `out` (a new or empty directory, or one of
/// loopcap's), through `draw`, and adds the files it wrote to the
/// directory's set. Returns where it drew, resolved.
fn draw_into<T>(
    out: &Path,
    draw: impl FnOnce(&Path) -> Result<T, CommandError>,
) -> Result<(PathBuf, T), CommandError> {
    let target = claim_out(out, Kind::Figures, Reuse::AddTo)?;
    let dir = target.path.clone();
    atomic_file::create_dir(&dir).map_err(io_at(&dir))?;
    let before = marker::snapshot(&dir).map_err(io_at(&dir))?;
    let drawn = draw(&dir)?;
    let after = marker::snapshot(&dir).map_err(io_at(&dir))?;
    let written: Vec<String> = after
        .into_iter()
        .filter(|entry| !before.contains(entry))
        .map(|(name, _)| name)
        .collect();
    let kind = target.existing.as_ref().map_or(Kind::Figures, |m| m.kind);
    marker::add_files(&dir, kind, &written)?;
    Ok((dir, drawn))
}

fn validate_command() -> Result<(), CommandError> {
    let outcomes = validation::checks()
        .iter()
        .map(|c| c.run())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CommandError::Runtime(e.into()))?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(validation::table(&outcomes).as_bytes())?;
    let failed = outcomes.iter().filter(|o| !o.verdict.passed()).count();
    stdout.flush()?;
    if failed > 0 {
        return Err(CommandError::Runtime(anyhow::anyhow!(
            "{failed} of {} checks failed",
            outcomes.len()
        )));
    }
    writeln!(stdout, "all {} checks passed", outcomes.len())?;
    Ok(())
}

fn check(path: &Path, set: &[String], limits: Limits) -> Result<(), CommandError> {
    let source = Source::read(path)?;
    if is_experiment(&source) {
        let exp = load_experiment_with(
            source,
            ExperimentFlags {
                set: set.to_vec(),
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
        return Ok(());
    }
    let (source, loaded) = load(path, None, set)?;
    limits.admit(&loaded.memory, &loaded.work, false)?;
    let spec = &loaded.spec;
    let describe = |capacity: &loopcap::model::capacity::CapacitySpec| match capacity.lanes() {
        Some(lanes) => format!("reserved, {lanes} lanes"),
        None => capacity.kind().to_owned(),
    };
    let capacity = match spec.pools.as_slice() {
        [only] if !spec.reports_pools => describe(&only.capacity),
        pools => pools
            .iter()
            .map(|p| format!("{}: {}", p.name, describe(&p.capacity)))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}: ok: \"{}\", {} user class(es), {} agent(s), capacity {capacity}, {} simulated, up to {} of memory, about {:.2e} events",
        source.name,
        spec.name,
        spec.classes.len(),
        spec.agents.len(),
        spec.duration,
        loaded.memory.bytes,
        loaded.work.events
    )?;
    warn(&loaded.warnings);
    Ok(())
}
