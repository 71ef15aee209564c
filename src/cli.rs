//! The command line as clap reads it: plain values, one `Args` struct per
//! subcommand, turned into real objects by its driver ([`crate::command`]).

use std::path::PathBuf;

use crate::bytes::Bytes;
use crate::config::trace::TRACE_FORMATS;
use crate::model::MEMORY_LIMIT;
use crate::model::estimate::work::EVENT_BUDGET;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "loopcap",
    version,
    about = "Capacity planning for AI-agent workloads by discrete-event simulation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The files `loopcap schema` describes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SchemaKind {
    Model,
    Experiment,
}

#[derive(Subcommand)]
pub enum Command {
    /// Simulate one model and print its summary.
    #[command(after_help = "Examples:
  loopcap run models/coding-agents-shared.toml
  loopcap run models/coding-agents-shared.toml --set workload.developers.users=80 --json
  loopcap run models/mmc.toml --replications 10
  loopcap run models/metastable.toml --out results/metastable
  loopcap run results/metastable/manifest.json      # rerun exactly
  loopcap run results/lane-sizing --run 17          # rerun one row of a sweep's runs.csv")]
    Run(RunArgs),
    /// Run every point of an experiment's grid, with replications, in parallel.
    #[command(after_help = "Examples:
  loopcap sweep experiments/lane-sizing.toml
  loopcap sweep experiments/lane-sizing.toml --replications 10 --force
  loopcap sweep experiments/lane-sizing.toml --set duration=8h --out results/long
  loopcap sweep experiments/lane-sizing.toml --shard 0/4 --out shard0   # then loopcap merge")]
    Sweep(SweepArgs),
    /// Combine the output directories of a sharded sweep into one.
    #[command(after_help = "Example:
  loopcap merge shard0 shard1 shard2 shard3 --out results/lane-sizing")]
    Merge(MergeArgs),
    /// Draw a run's timeseries.csv (written by `run --out`) as timeseries.png and .svg,
    /// or redraw every figure of a finished sweep from its directory, without simulating.
    #[command(after_help = "Examples:
  loopcap plot results/metastable/timeseries.csv --out figures
  loopcap plot results/lane-sizing")]
    Plot(PlotArgs),
    /// Validate a model or experiment file and print what is wrong with it.
    #[command(after_help = "Examples:
  loopcap check models/coding-agents-shared.toml
  loopcap check experiments/lane-sizing.toml")]
    Check(CheckArgs),
    /// Check the simulator against queueing theory and known results (exit 1 on a failure).
    Validate,
    /// Two results side by side: each metric of A and B, B − A, and for replicated
    /// results whether the difference is significant (its 95% interval excludes 0).
    #[command(
        after_help = "A side is a run's directory (run --out) or a sweep's point, SWEEP_DIR:K
(K is the `point` column of points.csv). Points of one sweep share their
seeds, so their difference is judged replication by replication (paired);
otherwise by Welch's interval.

Examples:
  loopcap compare results/surge:0 results/surge:3
  loopcap compare results/before results/after --json"
    )]
    Compare(CompareArgs),
    /// The least value of one capacity axis (lanes, replicas, a rate limit) that meets
    /// every service-level objective, each met only with its whole 95% interval.
    #[command(
        after_help = "An SLO bounds any summary metric (the names `run --json` and runs.csv
use, windows and classes included): METRIC <= VALUE or METRIC >= VALUE.
Metrics in seconds take durations (25m), shares percentages (1%).

The search gallops up from LO, then bisects, assuming more capacity is never
worse (and more users never better), and warns where a probe says otherwise. Every probe runs the
same seeds. The model with unlimited capacity is the floor: an SLO it misses
cannot be met by any capacity, and the command says so.

Exit status: 0 with an answer, 3 when no value in the range meets every SLO,
2 for bad input.

Examples:
  loopcap size models/coding-agents-reserved.toml --slo 'loop_latency_s.p99 <= 25m' --slo 'loops_failed_share <= 1%' --over capacity.lanes=1..64
  loopcap size models/mmc.toml --slo 'queue_wait_s.mean <= 0.1' --over capacity.lanes=8..64 --json"
    )]
    Size(SizeArgs),
    /// Fit a model to a trace: its arrival process (fitted, or its own gaps
    /// replayed), and its sessions resampled whole (or users, steps, tokens,
    /// context growth and tool latency, each a distribution chosen by its KS
    /// distance or the trace's own values in a CSV beside the model); prints
    /// each quantity in the trace and in the written model.
    #[command(
        after_help = "Formats: azure, burstgpt, tracelab, otel (OpenTelemetry GenAI spans, OTLP/JSON), claude_code (Claude Code's transcripts under ~/.claude/projects), weka (the Weka trace format of SemiAnalysis's cc-traces datasets of Claude Code traffic), csv (with --columns).

Examples:
  loopcap fit ../shared/data/traces/azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv --format azure --out fitted.toml
  loopcap fit round_trace.jsonl --format tracelab --out models/tracelab-fitted.toml
  loopcap fit calls.csv --format csv --columns 'time = \"ts\", time_unit = \"ms\", input = \"in\", output = \"out\"' --out m.toml"
    )]
    Fit(FitArgs),
    /// Write one self-contained HTML page for a run (`run --out`), a sweep or a
    /// sizing (`size --out`) directory: what was simulated, the results with
    /// failures beside latency, every figure inline, and a sizing's answer with
    /// its evidence. Readable offline; attach it to a ticket.
    #[command(after_help = "Examples:
  loopcap report results/metastable
  loopcap report results/lane-sizing --out lane-sizing.html")]
    Report(ReportArgs),
    /// List the presets shipped with loopcap (clients as the SDKs retry), or show one
    /// whole with the source of each number.
    #[command(after_help = "Examples:
  loopcap presets
  loopcap presets anthropic-python

A model takes one as [client] preset = \"anthropic-python\"; any key given
beside it replaces the preset's.")]
    Presets(PresetsArgs),
    /// Fit a self-hosted pool to a real vLLM server's own measurements (or a
    /// published table of its speeds), and say how well it predicts requests
    /// it was not fitted to.
    #[command(after_help = "Examples:
  loopcap calibrate result.json --kv-cache-tokens 41408
  loopcap calibrate rate-4.json --kv-cache-tokens 41408 --check rate-8.json --check rate-12.json
  loopcap calibrate requests.csv --kv-cache-tokens 380000 --max-num-batched-tokens 8192
  loopcap calibrate speeds.csv --profile --kv-cache-tokens 380000

MEASURED is the JSON `vllm bench serve --save-result --save-detailed` writes
(input_lens, output_lens, ttfts, itls, start_times), or a CSV with a row per
request: sent_s, first_token_s, last_token_s (seconds), input_tokens,
output_tokens. With --profile it is a CSV of speeds: phase (decode or
prefill), batch, context_tokens (blank if not measured), chunk_tokens,
tokens_per_s. A --check RUN may also be the summary that
`vllm bench serve --save-result` writes without --save-detailed: its
requests are replayed as vLLM's client sent them (all at once, or at its
request_rate and burstiness), its token totals shared out evenly, and its
mean, median and percentile figures scored. A --check directory scores
every .json and .csv run in it.

It prints a [capacity] table to paste into a model, then, run in loopcap on
the measured requests, the errors of its time to first token, end-to-end
latency and time per output token: on the later half of MEASURED's requests
(fitted to the earlier half), or on each --check run (fitted to MEASURED).

The KV cache is the one vLLM logs at start (\"GPU KV cache size: N
tokens\"); the other flags default to vLLM's own (loopcap presets
vllm-server).")]
    Calibrate(CalibrateArgs),
    /// Print the JSON Schema of model or experiment files, for editors to complete and
    /// check them (their shape; `check` validates the rest).
    #[command(after_help = "Examples:
  loopcap schema model > model.schema.json
  loopcap schema experiment > experiment.schema.json

With taplo (and the Even Better TOML editor extension), a .taplo.toml rule
with include = [\"models/*.toml\"] and schema.path = \"model.schema.json\"
applies it to the shipped models.")]
    Schema {
        /// Which file the schema describes.
        kind: SchemaKind,
    },
    /// Print a shell completion script for loopcap's commands and flags.
    #[command(after_help = "Examples:
  loopcap completions bash > ~/.local/share/bash-completion/completions/loopcap
  loopcap completions zsh > ~/.zfunc/_loopcap
  loopcap completions fish > ~/.config/fish/completions/loopcap.fish")]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// `loopcap run`.
#[derive(Args)]
pub struct RunArgs {
    /// A model file (models/*.toml), a manifest.json written by `run --out` to rerun it,
    /// or a sweep's directory with --run K.
    pub model: PathBuf,
    /// Rerun run K of the sweep in MODEL (a sweep's directory): the row of runs.csv
    /// whose `run` is K, exactly.
    #[arg(long = "run", value_name = "K", conflicts_with_all = ["seed", "set", "out", "force", "replications"])]
    pub sweep_run: Option<usize>,
    /// Seed for this run, instead of the model's.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub seed: Option<i64>,
    /// Override a model field by dotted path, e.g. --set capacity.lanes=16 (repeatable);
    /// workloads are addressed by name: --set workload.developers.users=80.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Write summary.json, timeseries.csv and manifest.json into this directory
    /// (a new or empty one, or a run's outputs with --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the run's outputs already in --out (only loopcap's files are removed).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Print the summary as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run N replications (seeds derived from the model's, in parallel) and print each
    /// metric's mean and the half-width of its 95% confidence interval (with --out:
    /// replications.json, summaries.json and manifest.json, for `report`).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub replications: u32,
    /// The most memory one run may hold (e.g. 512MiB, 16GiB): a model
    /// estimated to need more is refused, and a run whose state outgrows it stops.
    #[arg(long, value_name = "BYTES", default_value_t = MEMORY_LIMIT)]
    pub memory_limit: Bytes,
    /// The most events one run may be estimated to handle (the default is about a
    /// minute of work): a model estimated to need more is refused, naming the field.
    #[arg(long, value_name = "N", default_value_t = EVENT_BUDGET)]
    pub max_events: u64,
}

/// `loopcap sweep`.
#[derive(Args)]
pub struct SweepArgs {
    /// An experiment file (experiments/*.toml).
    pub experiment: PathBuf,
    /// Output directory (default: results/<experiment file name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads to run on (default: one per core). The output is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Finish a sweep that was interrupted, skipping the runs already in runs.csv.
    #[arg(long)]
    pub resume: bool,
    /// Run only shard K of N disjoint slices of the runs (e.g. 0/4); combine with `loopcap merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Override a field of every point's model, after the experiment's [set] (repeatable);
    /// workloads are addressed by name, e.g. --set workload.developers.users=80.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The experiment's seed, instead of the file's.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub seed: Option<i64>,
    /// Replications per point, instead of the file's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub replications: Option<u32>,
    /// Replace the sweep already in --out (only a sweep's directory is replaced, and
    /// only loopcap's files in it are removed).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// The most memory each run may hold (e.g. 512MiB, 16GiB): a model
    /// estimated to need more is refused, and a run whose state outgrows it stops.
    #[arg(long, value_name = "BYTES", default_value_t = MEMORY_LIMIT)]
    pub memory_limit: Bytes,
    /// The most events one run may be estimated to handle (the default is about a
    /// minute of work): a model estimated to need more is refused, naming the field.
    #[arg(long, value_name = "N", default_value_t = EVENT_BUDGET)]
    pub max_events: u64,
}

/// `loopcap merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The shards' output directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged sweep's directory: runs.csv, points.csv, the figures and the manifest
    /// (a new or empty one, or a sweep with --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace the sweep already in --out.
    #[arg(long)]
    pub force: bool,
}

/// `loopcap plot`.
#[derive(Args)]
pub struct PlotArgs {
    /// A timeseries.csv, or a sweep's output directory.
    pub input: PathBuf,
    /// Where to draw (default: the sweep's directory; required for a timeseries.csv).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `loopcap check`.
#[derive(Args)]
pub struct CheckArgs {
    /// A model (models/*.toml), an experiment (experiments/*.toml) or a plans file (plans/*.toml).
    pub file: PathBuf,
    /// Override a field before checking, as `run` and `sweep` would (repeatable),
    /// e.g. --set workload.developers.users=2000.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The most memory one run may hold (e.g. 512MiB, 16GiB): a model
    /// estimated to need more is reported as refused.
    #[arg(long, value_name = "BYTES", default_value_t = MEMORY_LIMIT)]
    pub memory_limit: Bytes,
    /// The most events one run may be estimated to handle (the default is about a
    /// minute of work): a model estimated to need more is refused, naming the field.
    #[arg(long, value_name = "N", default_value_t = EVENT_BUDGET)]
    pub max_events: u64,
}

/// `loopcap compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// The baseline: a run's directory, or SWEEP_DIR:K.
    pub a: String,
    /// The alternative: a run's directory, or SWEEP_DIR:K.
    pub b: String,
    /// Print `{metric: {a, b, diff, relative, significant}}` as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `loopcap size`.
#[derive(Args)]
pub struct SizeArgs {
    /// A model file (models/*.toml).
    pub model: PathBuf,
    /// An objective, METRIC <= VALUE or METRIC >= VALUE (repeatable, at least one).
    #[arg(long = "slo", value_name = "SLO", required = true)]
    pub slo: Vec<String>,
    /// A capacity axis and its range, e.g. capacity.lanes=1..256 (whole numbers):
    /// alone, finds the least value that meets every SLO. Repeatable: with
    /// several (or --cheapest), finds the setting of every axis that meets
    /// every SLO at least cost a month; ranges may step (8..64 step 8) or
    /// list values (8,16,32).
    #[arg(
        long,
        value_name = "PATH=LO..HI",
        required_unless_present_any = ["max_users", "plans"],
        conflicts_with_all = ["max_users", "plans"]
    )]
    pub over: Vec<String>,
    /// With --over: the setting that meets every SLO at least cost a month
    /// (the default with several --over), not the least capacity.
    #[arg(long, requires = "over", conflicts_with = "minimize")]
    pub cheapest: bool,
    /// With --over: the setting that meets every SLO with the least of this
    /// metric (e.g. loop_latency_s.p99), every setting run.
    #[arg(long, value_name = "METRIC", requires = "over")]
    pub minimize: Option<String>,
    /// A population and its range, e.g. workload.developers.users=1..1000 (default
    /// range 1..100000): finds the most users the capacity serves within the SLOs.
    #[arg(long, value_name = "PATH[=LO..HI]", conflicts_with = "plans")]
    pub max_users: Option<String>,
    /// A plans file of named alternatives (plans/*.toml): each judged against the
    /// SLOs with its cost; names the cheapest that meets them.
    #[arg(long, value_name = "FILE")]
    pub plans: Option<PathBuf>,
    /// Replications of each probe.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub replications: u32,
    /// Override a field of the model before sizing (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// The model's seed, instead of the file's.
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
    pub seed: Option<i64>,
    /// Threads to run on (default: one per core); past the replications, probes the
    /// search may want next run ahead. The answer is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Write sizing.csv (each probe's or plan's SLO metrics and intervals, and its
    /// cost), manifest.json and, for a search, a figure per SLO here; a search run
    /// again into the same directory with the same flags resumes, taking the
    /// probes already done.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the sizing already in --out (only loopcap's files are removed).
    #[arg(long, requires = "out")]
    pub force: bool,
    /// Print `{answer, axis, slos, floor, probes, warnings, explanations}` as JSON.
    #[arg(long)]
    pub json: bool,
    /// The most memory one run may hold (e.g. 512MiB, 16GiB).
    #[arg(long, value_name = "BYTES", default_value_t = MEMORY_LIMIT)]
    pub memory_limit: Bytes,
    /// The most events one run may be estimated to handle (the default is about a
    /// minute of work): a model estimated to need more is refused, naming the field.
    #[arg(long, value_name = "N", default_value_t = EVENT_BUDGET)]
    pub max_events: u64,
}

/// `loopcap fit`.
#[derive(Args)]
pub struct FitArgs {
    /// The trace file.
    pub trace: PathBuf,
    /// azure, burstgpt, tracelab, otel, claude_code, weka or csv.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TRACE_FORMATS))]
    pub format: String,
    /// For --format csv: the inside of the trace's `columns = { ... }` table.
    #[arg(long, value_name = "TOML")]
    pub columns: Option<String>,
    /// The tick the trace's times are rounded to, e.g. 3s: rows recorded
    /// at one time are spread over the tick from it.
    #[arg(long, value_name = "DURATION")]
    pub tick: Option<String>,
    /// The model file to write (empirical CSVs go beside it).
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Also run the trace replayed and the fitted model on this model's
    /// capacity, client and prices, and compare what they do to it.
    #[arg(long, value_name = "CAPACITY")]
    pub check: Option<PathBuf>,
    /// Runs of the written model over the trace's span, for the report.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub replications: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `loopcap report`.
#[derive(Args)]
pub struct ReportArgs {
    /// The output directory of `run --out`, `sweep` or `size --out`.
    pub dir: PathBuf,
    /// The page to write (default: DIR/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `loopcap calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// The server's measurements (see below).
    pub measured: PathBuf,
    /// The server's KV cache in tokens.
    #[arg(long, value_name = "N")]
    pub kv_cache_tokens: u64,
    /// Its max_num_seqs (default: vLLM's).
    #[arg(long, value_name = "N")]
    pub max_sequences: Option<u32>,
    /// Its token budget a step (default: vLLM's).
    #[arg(long, value_name = "N")]
    pub max_num_batched_tokens: Option<u32>,
    /// Its block_size (default: vLLM's).
    #[arg(long, value_name = "N")]
    pub block_size: Option<u32>,
    /// It ran with --no-async-scheduling, or is older than vLLM 0.14:
    /// each step planned when the one before it ended.
    #[arg(long)]
    pub no_async_scheduling: bool,
    /// MEASURED is a table of speeds.
    #[arg(long)]
    pub profile: bool,
    /// Other runs to score, or directories of them (one or more; repeatable).
    #[arg(long, value_name = "RUN", num_args = 1..)]
    pub check: Vec<PathBuf>,
    /// Print the calibration as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `loopcap presets`.
#[derive(Args)]
pub struct PresetsArgs {
    /// The preset to show whole (default: list them all).
    pub name: Option<String>,
}
