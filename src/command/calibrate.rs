//! `loopcap calibrate`: fits a self-hosted pool to a server's measurements
//! or speeds, scores it on requests it was not fitted to, and prints both.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::calibrate::fit::fit;
use crate::calibrate::measured::{self, Measured};
use crate::calibrate::profile::fit_profile;
use crate::calibrate::{Calibration, Server, score, score_summary};
use crate::cli::CalibrateArgs;
use crate::command::error::Error;
use crate::config::self_hosted::{vllm_server_async_scheduling, vllm_server_default};
use crate::error::ReadError;
use crate::json;

pub fn calibrate(args: &CalibrateArgs) -> Result<(), Error> {
    let server = server(args)?;
    let shown = args.measured.display().to_string();
    let budget = server.max_num_batched_tokens;
    let mut checks: Vec<Measured> = vec![];
    for path in &args.check {
        for run in runs_in(path)? {
            checks.push(measured::read_run(&run)?);
        }
    }
    let (fitted, fitted_to, primary) = if args.profile {
        let (fitted, rows) = fit_profile(&args.measured)?;
        (
            fitted,
            format!("Fitted to the {rows} rows of a profile"),
            None,
        )
    } else {
        let run = measured::read(&args.measured)?;
        // Held out, unless other runs are scored: the later half.
        let half = if checks.is_empty() {
            run.requests.len() / 2
        } else {
            run.requests.len()
        };
        let fitted = fit(&run.requests, &|i| i < half, budget).ok_or_else(|| {
            Error::input(format!(
                "{shown}: its requests cannot tell the step costs apart: it needs requests of more than one token decoding beside different loads, and prompts prefilled while others decode or sent to an idle server"
            ))
        })?;
        let idle = match fitted.idle_rows {
            1 => "the first token of 1 request".to_string(),
            n => format!("the first tokens of {n} requests"),
        };
        let words = format!(
            "Fitted to {} gaps between tokens and {idle} sent to an idle server, {}",
            fitted.decode_rows,
            if checks.is_empty() {
                "the earlier half of the run"
            } else {
                "the whole run"
            }
        );
        (fitted.fitted, words, Some((run, half)))
    };
    let pool = server.pool_table(&fitted.costs);
    let dir = tempfile::tempdir().map_err(Error::runtime)?;
    let mut scores = vec![];
    if let Some((run, half)) = &primary
        && checks.is_empty()
    {
        scores.push(
            score(run, run.requests[*half].sent_s, &pool, dir.path()).map_err(Error::runtime)?,
        );
    }
    for check in &checks {
        let scored = match check {
            Measured::Requests(run) => score(run, 0.0, &pool, dir.path()),
            Measured::Summary(summary) => score_summary(summary, &pool, dir.path()),
        };
        scores.push(scored.map_err(Error::runtime)?);
    }
    let (requests, failed) = primary
        .as_ref()
        .map_or((0, 0), |(run, _)| (run.requests.len(), run.failed));
    let calibration = Calibration {
        measured: shown,
        requests,
        failed,
        server,
        costs: fitted.costs,
        fitted_to,
        in_sample_error_pct: fitted.error_pct,
        held_at_zero: fitted.held_at_zero,
        pool,
        scores,
    };
    let mut stdout = io::stdout().lock();
    if args.json {
        json::write_json(&mut stdout, &calibration)?;
    } else {
        stdout.write_all(calibration.text(&command(args)).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}

/// The runs `path` names: itself, or, for a directory, each `.json` and
/// `.csv` file in it, by name.
fn runs_in(path: &Path) -> Result<Vec<PathBuf>, Error> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut runs = vec![];
    for entry in std::fs::read_dir(path).map_err(ReadError::io(path))? {
        let run = entry.map_err(ReadError::io(path))?.path();
        if run.is_file() && run.extension().is_some_and(|e| e == "json" || e == "csv") {
            runs.push(run);
        }
    }
    if runs.is_empty() {
        return Err(Error::input(format!(
            "--check {}: a directory with no run in it (.json or .csv files)",
            path.display()
        )));
    }
    runs.sort();
    Ok(runs)
}

/// The command line that makes this calibration again.
fn command(args: &CalibrateArgs) -> String {
    let mut line = format!(
        "loopcap calibrate {} --kv-cache-tokens {}",
        args.measured.display(),
        args.kv_cache_tokens
    );
    for (flag, value) in [
        ("--max-sequences", args.max_sequences),
        ("--max-num-batched-tokens", args.max_num_batched_tokens),
        ("--block-size", args.block_size),
    ] {
        if let Some(value) = value {
            line += &format!(" {flag} {value}");
        }
    }
    if args.no_async_scheduling {
        line += " --no-async-scheduling";
    }
    if args.profile {
        line += " --profile";
    }
    for check in &args.check {
        line += &format!(" --check {}", check.display());
    }
    line
}

/// The server measured, as the flags give it (vLLM's defaults otherwise);
/// each of its sizes at least 1.
fn server(args: &CalibrateArgs) -> Result<Server, Error> {
    let knob = |given: Option<u32>, name: &str| {
        given.unwrap_or_else(|| u32::try_from(vllm_server_default(name)).unwrap_or(u32::MAX))
    };
    let server = Server {
        kv_cache_tokens: args.kv_cache_tokens,
        max_sequences: knob(args.max_sequences, "max_sequences"),
        max_num_batched_tokens: knob(args.max_num_batched_tokens, "max_num_batched_tokens"),
        block_size: knob(args.block_size, "block_size"),
        async_scheduling: vllm_server_async_scheduling() && !args.no_async_scheduling,
    };
    for (flag, value) in [
        ("--kv-cache-tokens", server.kv_cache_tokens),
        ("--max-sequences", u64::from(server.max_sequences)),
        (
            "--max-num-batched-tokens",
            u64::from(server.max_num_batched_tokens),
        ),
        ("--block-size", u64::from(server.block_size)),
    ] {
        if value == 0 {
            return Err(Error::input(format!("{flag}: must be at least 1")));
        }
    }
    Ok(server)
}
