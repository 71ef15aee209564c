//! The `loopcap` command: parse flags, load the model, run it, export the results.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use loopcap::atomic_file;
use loopcap::config::{self, Diagnostic, LoadedModel, Override, Source};
use loopcap::model::{self, RunResult};
use loopcap::plot::{self, timeseries_plot::TimeseriesPlot};
use loopcap::report::{self, manifest::Manifest, table, timeseries_csv};
use loopcap::sweep::experiment::{is_experiment, load_experiment, read_experiment};
use loopcap::sweep::{self, Shard, SweepError, SweepOptions};
use loopcap::validation;

#[derive(Parser)]
#[command(
    name = "loopcap",
    version,
    about = "Capacity planning for AI-agent workloads by discrete-event simulation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate one model and print its summary.
    Run {
        /// A model file (models/*.toml), or a manifest.json written by `run --out` to rerun it.
        model: PathBuf,
        /// Seed for this run, instead of the model's.
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        seed: Option<i64>,
        /// Override a model field by dotted path, e.g. --set capacity.lanes=16 (repeatable).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        set: Vec<String>,
        /// Write summary.json, timeseries.csv and manifest.json into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Print the summary as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run every point of an experiment's grid, with replications, in parallel.
    Sweep {
        /// An experiment file (experiments/*.toml).
        experiment: PathBuf,
        /// Output directory (default: results/<experiment file name>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Threads to run on (default: one per core). The output is the same for any number.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// Finish a sweep that was interrupted, skipping the runs already in runs.csv.
        #[arg(long)]
        resume: bool,
        /// Run only shard K of N disjoint slices of the runs (e.g. 0/4); combine with `loopcap merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
    },
    /// Combine the output directories of a sharded sweep into one.
    Merge {
        /// The shards' output directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Draw a run's timeseries.csv (written by `run --out`) as timeseries.png and .svg.
    Plot {
        timeseries: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Validate a model or experiment file and print what is wrong with it.
    Check { file: PathBuf },
    /// Check the simulator against queueing theory and known results (exit 1 on a failure).
    Validate,
}

/// Why the command failed, which decides its exit code.
enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// A failure while running, e.g. an output that cannot be written: exit 1.
    Runtime(anyhow::Error),
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Input(d.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Runtime(e.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            model,
            seed,
            set,
            out,
            json,
        } => run(&model, seed, &set, out.as_deref(), json),
        Command::Sweep {
            experiment,
            out,
            threads,
            resume,
            shard,
        } => sweep_command(&experiment, out, threads, resume, shard.as_deref()),
        Command::Merge { dirs, out } => merge_command(&dirs, &out),
        Command::Plot { timeseries, out } => plot_command(&timeseries, &out),
        Command::Check { file } => check(&file),
        Command::Validate => validate_command(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Input(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// A model file, or the model embedded in a manifest written by `run --out`.
fn read_source(path: &Path) -> Result<Source, Failure> {
    if path.extension().is_none_or(|ext| ext != "json") {
        return Ok(Source::read(path)?);
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::general(&name, format!("cannot read: {e}")))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Diagnostic::general(&name, format!("not a loopcap manifest: {e}")))?;
    let version = env!("CARGO_PKG_VERSION");
    if manifest.loopcap_version != version {
        eprintln!(
            "warning: {name} was written by loopcap {}, this is {version}: results may differ",
            manifest.loopcap_version
        );
    }
    Ok(Source {
        name: format!("{name} (model_toml)"),
        text: manifest.model_toml,
        base_dir: PathBuf::from(manifest.model_dir),
    })
}

fn load(path: &Path, seed: Option<i64>, set: &[String]) -> Result<(Source, LoadedModel), Failure> {
    let source = read_source(path)?;
    let mut overrides = set
        .iter()
        .map(|s| Override::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(seed) = seed {
        overrides.push(Override::new(
            "seed",
            toml::Value::Integer(seed),
            format!("--seed {seed}"),
        ));
    }
    let loaded = config::load_model(&source, &overrides)?;
    Ok((source, loaded))
}

fn run(
    path: &Path,
    seed: Option<i64>,
    set: &[String],
    out: Option<&Path>,
    json: bool,
) -> Result<(), Failure> {
    let (source, loaded) = load(path, seed, set)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    if out.is_some() {
        check_timeseries_size(&loaded)?;
    }
    let result = model::simulate(&loaded.spec, out.is_some());
    if let Some(dir) = out {
        write_outputs(dir, path, set, &source, &loaded, &result)
            .with_context(|| format!("writing results to {}", dir.display()))?;
    }
    let mut stdout = io::stdout().lock();
    if json {
        report::write_summary_json(&mut stdout, &result.summary)?;
    } else {
        stdout.write_all(table::render(&result.summary, table::peak_memory_bytes()).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// The most bins `timeseries.csv` may have (about 150 MB held while running).
const MAX_TIMESERIES_BINS: u64 = 1_000_000;

fn check_timeseries_size(loaded: &LoadedModel) -> Result<(), Failure> {
    let spec = &loaded.spec;
    let bins = spec.duration.ticks().div_ceil(spec.timeseries_bin.ticks());
    if bins > MAX_TIMESERIES_BINS {
        return Err(Failure::Input(format!(
            "--out: a {} run in {} bins makes {bins} timeseries rows, more than {MAX_TIMESERIES_BINS}: set a wider timeseries_bin",
            spec.duration, spec.timeseries_bin
        )));
    }
    Ok(())
}

fn write_outputs(
    dir: &Path,
    model_path: &Path,
    set: &[String],
    source: &Source,
    loaded: &LoadedModel,
    result: &RunResult,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let model_dir =
        std::fs::canonicalize(&source.base_dir).unwrap_or_else(|_| source.base_dir.clone());
    let manifest = Manifest {
        loopcap_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_file: model_path.display().to_string(),
        model_dir: model_dir.display().to_string(),
        seed: loaded.spec.seed,
        overrides: set.to_vec(),
        model_toml: toml::to_string(&loaded.resolved)?,
        rerun: format!("loopcap run {}", dir.join("manifest.json").display()),
    };
    atomic_file::write_file(&dir.join("summary.json"), |w| {
        report::write_summary_json(w, &result.summary)
    })?;
    if let Some(ts) = &result.timeseries {
        atomic_file::write_file(&dir.join("timeseries.csv"), |w| {
            timeseries_csv::write_timeseries_csv(w, ts)
        })?;
    }
    atomic_file::write_file(&dir.join("manifest.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &manifest)?;
        writeln!(w)
    })?;
    Ok(())
}

impl From<SweepError> for Failure {
    fn from(e: SweepError) -> Self {
        match e {
            SweepError::Input(message) => Failure::Input(message),
            SweepError::Failed(e) => Failure::Runtime(e),
        }
    }
}

fn sweep_command(
    path: &Path,
    out: Option<PathBuf>,
    threads: Option<u16>,
    resume: bool,
    shard: Option<&str>,
) -> Result<(), Failure> {
    let shard = shard
        .map(Shard::parse)
        .transpose()
        .map_err(|e| Failure::Input(format!("--shard: {e}")))?;
    let exp = read_experiment(path)?;
    for warning in &exp.warnings {
        eprintln!("warning: {warning}");
    }
    let out = out.unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned());
        Path::new("results").join(stem)
    });
    eprintln!(
        "{}: {} points x {} replications = {} runs -> {}",
        exp.name,
        exp.points.len(),
        exp.replications,
        exp.runs(),
        out.display()
    );
    let options = SweepOptions {
        threads: threads.map(usize::from),
        resume,
        shard,
        progress: true,
    };
    let outcome = sweep::run(&exp, &out, &options)?;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}: {} runs now, {} in runs.csv",
        out.display(),
        outcome.runs_done_now,
        outcome.runs_in_file
    )?;
    if outcome.finished {
        writeln!(
            stdout,
            "wrote runs.csv, points.csv and {} plots",
            exp.plots.len()
        )?;
    } else {
        writeln!(
            stdout,
            "a shard: combine the shards with `loopcap merge DIR... --out DIR`"
        )?;
    }
    Ok(())
}

fn merge_command(dirs: &[PathBuf], out: &Path) -> Result<(), Failure> {
    let outcome = sweep::merge(dirs, out)?;
    writeln!(
        io::stdout().lock(),
        "{}: merged {} runs from {} directories",
        out.display(),
        outcome.runs_in_file,
        dirs.len()
    )?;
    Ok(())
}

fn plot_command(timeseries: &Path, out: &Path) -> Result<(), Failure> {
    let figure = TimeseriesPlot::read(timeseries).map_err(Failure::Input)?;
    std::fs::create_dir_all(out)?;
    plot::save(&figure, out, "timeseries")?;
    writeln!(
        io::stdout().lock(),
        "wrote {}",
        out.join("timeseries.png").display()
    )?;
    Ok(())
}

fn validate_command() -> Result<(), Failure> {
    let outcomes = validation::checks()
        .iter()
        .map(|c| c.run())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::Runtime(anyhow::anyhow!(e)))?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(validation::table(&outcomes).as_bytes())?;
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    if failed > 0 {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{failed} of {} checks failed",
            outcomes.len()
        )));
    }
    writeln!(stdout, "all {} checks passed", outcomes.len())?;
    Ok(())
}

fn check(path: &Path) -> Result<(), Failure> {
    let source = Source::read(path)?;
    if is_experiment(&source) {
        let exp = load_experiment(source)?;
        let mut stdout = io::stdout().lock();
        writeln!(
            stdout,
            "{}: ok: experiment \"{}\", {} axes, {} points x {} replications = {} runs, {} plots",
            exp.source.name,
            exp.name,
            exp.axes.len(),
            exp.points.len(),
            exp.replications,
            exp.runs(),
            exp.plots.len()
        )?;
        for warning in &exp.warnings {
            writeln!(stdout, "warning: {warning}")?;
        }
        return Ok(());
    }
    let (source, loaded) = load(path, None, &[])?;
    let spec = &loaded.spec;
    let capacity = match spec.capacity.lanes() {
        Some(lanes) => format!("reserved, {lanes} lanes"),
        None => "shared_api".to_owned(),
    };
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}: ok: \"{}\", {} user class(es), {} agent(s), capacity {capacity}, {} simulated",
        source.name,
        spec.name,
        spec.classes.len(),
        spec.agents.len(),
        spec.duration
    )?;
    for warning in &loaded.warnings {
        writeln!(stdout, "warning: {warning}")?;
    }
    Ok(())
}
