//! `loopcap calibrate`: a self-hosted pool fitted to a real vLLM server's
//! own measurements, and how well it predicts requests it was not fitted to.
//!
//! The step costs come from the requests' token times ([`fit`]) or from a
//! published table of speeds ([`profile`]); the pool they make is then run
//! in loopcap on the measured requests (sent when they were, with their
//! prompt and output tokens) and its time to first token, end-to-end
//! latency and time per output token set beside the measured ones. A run
//! known only by its summary ([`summary`]) is replayed as its client sent
//! it, and its figures scored.

pub mod fit;
mod least_squares;
pub mod measured;
pub mod profile;
pub mod summary;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::{self, Source};
use crate::csv_row::significant;
use crate::model::measure::percentiles::Percentiles;
use crate::model::measure::summary::Summary as RunSummary;
use crate::model::{RunError, simulate};
use crate::statistics::Quantiles;
use fit::StepCosts;
use measured::{Request, Run};
use summary::Summary;

/// What the fitted server was run with, beside its step costs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Server {
    pub kv_cache_tokens: u64,
    pub max_sequences: u32,
    pub max_num_batched_tokens: u32,
    pub block_size: u32,
    pub async_scheduling: bool,
}

impl Server {
    /// The `[capacity]` table of one replica of this server with `costs`.
    pub fn pool_table(&self, costs: &StepCosts) -> String {
        let prefill = format!(
            "prefill_step = {{ base = \"{}\", per_token = \"{}\" }}",
            step_cost(costs.prefill_step_s),
            step_cost(costs.prefill_per_token_s)
        );
        format!(
            "[capacity]\nkind = \"self_hosted\"\nscheduler = \"vllm\"\nreplicas = 1\nmax_sequences = {}\nkv_cache_tokens = {}\nmax_num_batched_tokens = {}\nblock_size = {}\nasync_scheduling = {}\ndecode_iteration = {{ base = \"{}\", per_sequence = \"{}\", per_context_token = \"{}\" }}\n{prefill}\n",
            self.max_sequences,
            self.kv_cache_tokens,
            self.max_num_batched_tokens,
            self.block_size,
            self.async_scheduling,
            step_cost(costs.base_s),
            step_cost(costs.per_sequence_s),
            step_cost(costs.per_context_token_s),
        )
    }
}

/// A step cost in the unit that keeps it readable: "6.012ms", "41.3ns".
fn step_cost(seconds: f64) -> String {
    let (value, unit) = match seconds {
        s if s >= 1e-3 => (s * 1e3, "ms"),
        s if s >= 1e-6 => (s * 1e6, "us"),
        s => (s * 1e9, "ns"),
    };
    format!("{}{unit}", significant(value, 4))
}

/// One figure of a scored run, measured and as the pool predicts it.
#[derive(Debug, Serialize)]
pub struct Figure {
    /// "time to first token", "end to end" or "time per output token".
    pub metric: &'static str,
    /// mean, p50, p90, p99 or max.
    pub stat: &'static str,
    pub measured_s: f64,
    pub predicted_s: f64,
    /// (predicted − measured) / measured, in %.
    pub error_pct: f64,
    /// Where a run's arrivals are drawn (a summary's at a rate), the
    /// lowest and highest of the draws, of which `predicted_s` is the mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_range_s: Option<[f64; 2]>,
}

/// A run scored: its requests from `from_s` on, replayed against the pool.
#[derive(Debug, Serialize)]
pub struct Score {
    pub run: String,
    /// Seconds into the run from which requests are scored (the earlier
    /// ones are replayed too, as load).
    pub from_s: f64,
    pub scored_requests: usize,
    /// Requests the pool failed (too large for its KV cache) or had not
    /// answered when the replay ended: left out of its figures.
    pub unanswered: u64,
    pub figures: Vec<Figure>,
}

impl Score {
    /// The median absolute error of a metric's figures, in %.
    pub fn median_error_pct(&self, metric: &str) -> f64 {
        median(
            self.figures
                .iter()
                .filter(|f| f.metric == metric)
                .map(|f| f.error_pct.abs())
                .collect(),
        )
    }
}

/// Why a calibration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The fitted pool does not read as a model (a defect, not the input's).
    #[error("the calibrated pool does not read back: {0}")]
    Model(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("cannot write the replayed requests: {0}")]
    Io(#[from] std::io::Error),
}

/// A metric scored: its measured value for a request, and which requests
/// loopcap counts after a warm-up ending at `from`.
struct Metric {
    name: &'static str,
    value: fn(&Request) -> Option<f64>,
    counted: fn(&Request, f64) -> bool,
}

/// The metrics scored: end to end by when a request was sent, time to
/// first token by when its first token came, time per output token by
/// when its last did, as loopcap counts each.
const METRICS: [Metric; 3] = [
    Metric {
        name: "time to first token",
        value: |r| Some(r.ttft_s()),
        counted: |r, from| r.first_token_s() >= from,
    },
    Metric {
        name: "end to end",
        value: |r| Some(r.e2e_s()),
        counted: |r, from| r.sent_s >= from,
    },
    Metric {
        name: "time per output token",
        value: Request::tpot_s,
        counted: |r, from| r.last_token_s() >= from,
    },
];

/// What loopcap made of `requests` (when sent, in seconds; prompt and
/// output tokens) sent to `pool`, counted after `warmup_s` and run until
/// `horizon_s`; `dir` holds them as a trace.
fn replay(
    name: &str,
    requests: &[(f64, u64, u64)],
    warmup_s: f64,
    horizon_s: f64,
    pool: &str,
    dir: &Path,
) -> Result<RunSummary, CalibrateError> {
    let trace = dir.join(format!("requests-{}.csv", requests.len()));
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&trace)?);
    writeln!(csv, "sent_us,input_tokens,output_tokens")?;
    for (sent_s, input, output) in requests {
        writeln!(csv, "{},{input},{output}", (sent_s * 1e6).round())?;
    }
    csv.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    let max_output = requests.iter().map(|r| r.2).max().unwrap_or(1);
    let text = format!(
        "name = \"calibrated: {name}\"\nseed = 1\nduration = \"{duration}s\"\nwarmup = \"{warmup_s}s\"\n\n[[workload]]\nname = \"measured\"\nagent = \"request\"\ntrace = {{ file = \"{file}\", format = \"csv\", columns = {{ time = \"sent_us\", time_unit = \"us\", input = \"input_tokens\", output = \"output_tokens\", max_tokens = \"output_tokens\" }} }}\n\n[agents.request]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\nmax_output_tokens = {max_output}\n\n{pool}\n[client]\nmax_attempts = 1\n",
        name = name.replace(['"', '\\'], "_"),
        duration = horizon_s.ceil(),
        file = trace.display().to_string().replace('\\', "/"),
    );
    let source = Source {
        name: format!("the pool replaying {name}"),
        text,
        base_dir: dir.to_owned(),
    };
    let table =
        config::read::parse_toml(&source).map_err(|e| CalibrateError::Model(e.to_string()))?;
    let spec = config::load_parsed(&source, table, &[])
        .map_err(|e| CalibrateError::Model(e.to_string()))?
        .spec;
    Ok(simulate(&spec, false)?.summary)
}

/// loopcap's figures for each metric of [`METRICS`]: time to first token,
/// end to end, time per output token.
fn predicted(summary: &RunSummary) -> [Option<&Percentiles>; 3] {
    let hosted = summary
        .pools
        .first()
        .and_then(|p| p.self_hosted.as_ref())
        .expect("the calibrated pool is self-hosted");
    [
        hosted.time_to_first_token_s.as_ref(),
        summary.loop_latency_s.as_ref(),
        hosted.time_per_output_token_s.as_ref(),
    ]
}

/// `stat` (mean, p50, p90, p99 or max) of loopcap's `predicted`.
fn stat_of(predicted: &Percentiles, stat: &str) -> f64 {
    match stat {
        "mean" => predicted.mean,
        "p50" => predicted.p50,
        "p90" => predicted.p90,
        "p99" => predicted.p99,
        "max" => predicted.max,
        other => unreachable!("no statistic `{other}` is scored"),
    }
}

/// A figure: `stat` of `metric` measured, beside loopcap's (the mean of
/// its draws, and their range where there were several).
fn figure((metric, stat): (&'static str, &'static str), measured_s: f64, draws: &[f64]) -> Figure {
    let predicted_s = draws.iter().sum::<f64>() / draws.len() as f64;
    let range = |fold: fn(f64, f64) -> f64, from: f64| draws.iter().copied().fold(from, fold);
    Figure {
        metric,
        stat,
        measured_s,
        predicted_s,
        error_pct: 100.0 * (predicted_s - measured_s) / measured_s,
        predicted_range_s: (draws.len() > 1).then(|| {
            [
                range(f64::min, f64::INFINITY),
                range(f64::max, f64::NEG_INFINITY),
            ]
        }),
    }
}

/// Replays `run` against `pool` (a `[capacity]` table) in loopcap and
/// scores its requests from `from_s` on, each metric counted as loopcap
/// counts it after its warm-up. `dir` holds the replayed requests.
pub fn score(run: &Run, from_s: f64, pool: &str, dir: &Path) -> Result<Score, CalibrateError> {
    let requests: Vec<(f64, u64, u64)> = run
        .requests
        .iter()
        .map(|r| (r.sent_s, r.input, r.output))
        .collect();
    let longest = run.requests.iter().map(Request::e2e_s).fold(0.0, f64::max);
    let last_sent = run.requests.last().map_or(0.0, |r| r.sent_s);
    let horizon_s = last_sent + 10.0 * longest + 60.0;
    let summary = replay(&run.name, &requests, from_s, horizon_s, pool, dir)?;
    let mut figures = vec![];
    for (metric, predicted) in METRICS.iter().zip(predicted(&summary)) {
        let values: Vec<f64> = run
            .requests
            .iter()
            .filter(|r| (metric.counted)(r, from_s))
            .filter_map(metric.value)
            .collect();
        let (Some(predicted), false) = (predicted, values.is_empty()) else {
            continue;
        };
        let measured = Quantiles::of(&values);
        for (stat, measured_s) in [
            ("mean", measured.mean),
            ("p50", measured.p50),
            ("p90", measured.p90),
            ("p99", measured.p99),
        ] {
            let predicted_s = stat_of(predicted, stat);
            figures.push(figure((metric.name, stat), measured_s, &[predicted_s]));
        }
    }
    Ok(Score {
        run: run.name.clone(),
        from_s,
        scored_requests: run.requests.iter().filter(|r| r.sent_s >= from_s).count(),
        unanswered: summary.loops_failed + summary.loops_in_flight,
        figures,
    })
}

/// Arrival draws replayed for a summary sent at a rate: its figures are
/// one draw of the server's, loopcap's the mean of these.
pub const SUMMARY_DRAWS: u64 = 20;

/// Replays the run `summary` describes against `pool`, sent as vLLM's
/// client sent it, and scores each figure it gives; where all were sent
/// at once, its duration too, as the longest end to end. Sent at a rate,
/// its arrivals are drawn [`SUMMARY_DRAWS`] times and each figure
/// predicted is their mean, with their range.
pub fn score_summary(summary: &Summary, pool: &str, dir: &Path) -> Result<Score, CalibrateError> {
    let at_once = summary.request_rate.is_none();
    let draws = if at_once { 1 } else { SUMMARY_DRAWS };
    let scored: Vec<(&'static str, &'static str, f64, usize)> = summary
        .figures
        .iter()
        .copied()
        .chain(at_once.then_some(("end to end", "max", summary.duration_s)))
        .filter_map(|(metric, stat, measured_s)| {
            let i = METRICS.iter().position(|m| m.name == metric)?;
            Some((metric, stat, measured_s, i))
        })
        .collect();
    let mut values = vec![Vec::new(); scored.len()];
    let mut unanswered = 0;
    for seed in 1..=draws {
        let requests = summary.requests(seed);
        let last_sent = requests.last().map_or(0.0, |r| r.0);
        let horizon_s = last_sent + 10.0 * summary.duration_s + 60.0;
        let replayed = replay(&summary.name, &requests, 0.0, horizon_s, pool, dir)?;
        unanswered = u64::max(unanswered, replayed.loops_failed + replayed.loops_in_flight);
        let predicted = predicted(&replayed);
        for (k, &(_, stat, _, i)) in scored.iter().enumerate() {
            if let Some(p) = predicted[i] {
                values[k].push(stat_of(p, stat));
            }
        }
    }
    let figures = scored
        .iter()
        .zip(&values)
        .filter(|(_, draws)| !draws.is_empty())
        .map(|(&(metric, stat, measured_s, _), draws)| figure((metric, stat), measured_s, draws))
        .collect();
    Ok(Score {
        run: summary.name.clone(),
        from_s: 0.0,
        scored_requests: summary.completed as usize,
        unanswered,
        figures,
    })
}

/// A calibration: the pool, how it was fitted, and how well it predicts.
#[derive(Debug, Serialize)]
pub struct Calibration {
    pub measured: String,
    /// Requests answered (none for a profile), and failed ones left out.
    pub requests: usize,
    pub failed: usize,
    pub server: Server,
    pub costs: StepCosts,
    /// How the costs were fitted, in words.
    pub fitted_to: String,
    pub in_sample_error_pct: f64,
    /// Costs held at zero: the rows did not tell them from the others.
    pub held_at_zero: Vec<&'static str>,
    /// The `[capacity]` table to paste into a model.
    pub pool: String,
    pub scores: Vec<Score>,
}

impl Calibration {
    /// The pool, commented, then each score as a table.
    pub fn text(&self, command: &str) -> String {
        let mut out = format!(
            "# Calibrated by loopcap {} from {} ({}):\n#   {command}\n# {} (in-sample error {:.1}%).\n{}{}",
            env!("CARGO_PKG_VERSION"),
            self.measured,
            match (self.requests, self.failed) {
                (0, _) => "a profile of speeds".to_owned(),
                (n, 0) => format!("{n} requests"),
                (n, failed) => format!("{n} requests; {failed} failed, left out"),
            },
            self.fitted_to,
            self.in_sample_error_pct,
            if self.held_at_zero.is_empty() {
                String::new()
            } else {
                format!(
                    "# Held at 0, as the rows do not tell them from the other costs (exactly, or within an F test at 5%): {}.\n",
                    self.held_at_zero.join(", ")
                )
            },
            self.pool
        );
        for score in &self.scores {
            let _ = write!(
                out,
                "\n{}: the {} requests sent from {:.1} s on, replayed against this pool (every request replayed, as load)\n{:<24}{:>6}{:>12}{:>12}{:>9}\n",
                score.run,
                score.scored_requests,
                score.from_s,
                "seconds",
                "",
                "measured",
                "predicted",
                "error"
            );
            for f in &score.figures {
                let _ = write!(
                    out,
                    "{:<24}{:>6}{:>12.4}{:>12.4}{:>+8.1}%",
                    f.metric, f.stat, f.measured_s, f.predicted_s, f.error_pct
                );
                let _ = match f.predicted_range_s {
                    Some([low, high]) => writeln!(out, "   draws {low:.4} to {high:.4}"),
                    None => writeln!(out),
                };
            }
            let _ = writeln!(
                out,
                "median absolute error: time to first token {:.1}%, end to end {:.1}%, time per output token {:.1}%",
                score.median_error_pct("time to first token"),
                score.median_error_pct("end to end"),
                score.median_error_pct("time per output token")
            );
            if score.unanswered > 0 {
                let _ = writeln!(
                    out,
                    "warning: the pool failed or had not answered {} of the requests replayed (too large for its KV cache, or still running at the end); its figures leave them out",
                    score.unanswered
                );
            }
        }
        if self.scores.len() > 1 {
            out += &self.across_runs();
        }
        out
    }

    /// Each run's median absolute error by metric, and their medians.
    fn across_runs(&self) -> String {
        const METRICS: [&str; 3] = ["time to first token", "end to end", "time per output token"];
        let mut out = format!(
            "\nacross the {} runs scored, the median absolute error of each run's figures\n{:<28}{:>15}{:>12}{:>16}\n",
            self.scores.len(),
            "run",
            "first token",
            "end to end",
            "per token"
        );
        let row = |out: &mut String, name: &str, errors: [f64; 3]| {
            let shown = errors.map(percent);
            let _ = writeln!(
                out,
                "{name:<28}{:>15}{:>12}{:>16}",
                shown[0], shown[1], shown[2]
            );
        };
        for score in &self.scores {
            let name = Path::new(&score.run)
                .file_name()
                .map_or(score.run.clone(), |n| n.to_string_lossy().into_owned());
            row(&mut out, &name, METRICS.map(|m| score.median_error_pct(m)));
        }
        let over_runs = METRICS.map(|m| {
            let errors: Vec<f64> = self
                .scores
                .iter()
                .map(|s| s.median_error_pct(m))
                .filter(|e| !e.is_nan())
                .collect();
            median(errors)
        });
        row(&mut out, "median over the runs", over_runs);
        const STATS: [&str; 4] = ["mean", "p50", "p90", "p99"];
        let _ = write!(
            out,
            "\nacross the {} runs scored, the median absolute error of each figure\n{:<28}{:>10}{:>10}{:>10}{:>10}\n",
            self.scores.len(),
            "",
            STATS[0],
            STATS[1],
            STATS[2],
            STATS[3]
        );
        for metric in METRICS {
            let shown = STATS.map(|stat| {
                let errors: Vec<f64> = self
                    .scores
                    .iter()
                    .filter_map(|s| {
                        s.figures
                            .iter()
                            .find(|f| f.metric == metric && f.stat == stat)
                    })
                    .map(|f| f.error_pct.abs())
                    .collect();
                percent(median(errors))
            });
            let _ = writeln!(
                out,
                "{metric:<28}{:>10}{:>10}{:>10}{:>10}",
                shown[0], shown[1], shown[2], shown[3]
            );
        }
        out
    }
}

/// An error in %, to a tenth ("-" for none).
fn percent(error: f64) -> String {
    if error.is_nan() {
        "-".to_owned()
    } else {
        format!("{error:.1}%")
    }
}

/// The median of `values` (NaN if there are none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
