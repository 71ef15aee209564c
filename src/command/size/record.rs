//! What a sizing writes and prints: the manifest that reruns it, the
//! series its figures draw, and the answer on stdout.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use super::base::SizeFlags;
use crate::atomic_file;
use crate::command::error::Error;
use crate::config::Source;
use crate::config::data_file::DataFile;
use crate::json;
use crate::plot::sizing_figure::SloSeries;
use crate::sizing::answer::Answer;
use crate::sizing::judge::{Interval, Verdict};
use crate::sizing::slo::Slo;

/// What reruns a sizing exactly: the command, its inputs (the data files
/// its models read, `names` relative to the model's directory, with their
/// fingerprints) and the version; `what` is its `--over`, `--max-users` or
/// `--plans` flag with its value.
pub(super) fn size_manifest(
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
pub(super) fn write_json_file(path: &Path, value: &impl serde::Serialize) -> io::Result<()> {
    atomic_file::write_file(path, |w| json::write_json(w, value))
}

/// What `size --out` draws: each SLO's metric, and the cost an hour when
/// there is one, over `rows` (a probe's value or a plan's index, its
/// verdicts and its cost an hour).
pub(super) fn sizing_series<'a>(
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
pub(super) fn print_answer(answer: &Answer, table: &str, flags: &SizeFlags) -> Result<(), Error> {
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
