//! What a sizing writes and prints: the manifest that reruns it, the
//! series its figures draw, and the answer on stdout.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;

use super::base::SizeFlags;
use crate::atomic_file;
use crate::command::error::Error;
use crate::command::outputs::publish;
use crate::command::warn;
use crate::config::Source;
use crate::config::data_file::DataFile;
use crate::json;
use crate::output::staged_dir::StagedDir;
use crate::plot::sizing_figure;
use crate::plot::sizing_figure::SloSeries;
use crate::sizing::RESULT_FILE;
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

/// What `size --out` draws: each SLO's metric (beneath a latency, the
/// failed share of the loops it describes), and the cost a month when
/// there is one, over `rows` (a probe's value or a plan's index, its
/// verdicts and its cost a month).
pub(super) fn sizing_series<'a>(
    slos: &[Slo],
    rows: impl Iterator<Item = (i64, &'a [Verdict], Interval)> + Clone,
) -> Vec<SloSeries> {
    let all_met = |verdicts: &[Verdict]| verdicts.iter().all(|v| v.met);
    let mut series: Vec<_> = slos
        .iter()
        .enumerate()
        .map(|(i, slo)| SloSeries {
            metric: slo.metric.clone(),
            text: slo.text.clone(),
            bound: Some(slo.bound),
            points: rows
                .clone()
                .filter_map(|(value, verdicts, _)| {
                    let v = verdicts.get(i)?;
                    Some((value, v.mean?, v.ci95.unwrap_or(0.0), v.met))
                })
                .collect(),
            beneath: slo.failed_share().map(|share| {
                // The share's own SLO, if one bounds it, judges its bars;
                // else they say whether the probe meets every SLO.
                let own = slos.iter().position(|s| s.metric == share);
                Box::new(SloSeries {
                    text: own.map_or_else(
                        || {
                            "the share of those loops that failed; ✓ where every SLO is met"
                                .to_owned()
                        },
                        |j| slos[j].text.clone(),
                    ),
                    metric: share,
                    bound: own.map(|j| slos[j].bound),
                    points: rows
                        .clone()
                        .filter_map(|(value, verdicts, _)| {
                            let (mean, half) = verdicts.get(i)?.failed_share?;
                            let met = match own {
                                Some(j) => verdicts.get(j)?.met,
                                None => all_met(verdicts),
                            };
                            Some((value, mean?, half.unwrap_or(0.0), met))
                        })
                        .collect(),
                    beneath: None,
                })
            }),
        })
        .collect();
    let cost = SloSeries {
        metric: "cost_per_month_usd".to_owned(),
        text: "what the capacity costs a month".to_owned(),
        bound: None,
        points: rows
            .filter_map(|(value, verdicts, (mean, half))| {
                Some((value, mean?, half.unwrap_or(0.0), all_met(verdicts)))
            })
            .collect(),
        beneath: None,
    };
    series.extend((cost.points.iter().any(|p| p.1 > 0.0)).then_some(cost));
    series
}

/// A comparison's outputs written into its staged directory, then
/// published: `manifest`, sizing.csv (by `write_csv`), the answer, and a
/// bar figure of each SLO's metric (and the cost a month) over the
/// alternatives, each a name, its verdicts and its cost a month, the
/// `best` starred.
pub(super) fn record_comparison(
    staged: StagedDir,
    manifest: &serde_json::Value,
    write_csv: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    answer: &Answer,
    alternatives: &[(String, &[Verdict], Interval)],
    best: Option<usize>,
) -> Result<(), Error> {
    let dir = staged.path();
    let written = write_json_file(&dir.join("manifest.json"), manifest)
        .and_then(|()| atomic_file::write_file(&dir.join("sizing.csv"), write_csv))
        .and_then(|()| write_json_file(&dir.join(RESULT_FILE), answer));
    written.with_context(|| format!("cannot write into {}", dir.display()))?;
    let names: Vec<String> = alternatives.iter().map(|a| a.0.clone()).collect();
    let rows = alternatives
        .iter()
        .enumerate()
        .map(|(i, (_, verdicts, cost))| (i as i64, *verdicts, *cost));
    sizing_figure::draw_plans(dir, &names, &sizing_series(&answer.slos, rows), best)?;
    publish(staged)?;
    Ok(())
}

/// Prints the answer: as JSON, or the answer's sentence and why there is
/// none, then `table`; then `warnings` on stderr. `Err(NoAnswer)` when
/// there is none (`found` false).
pub(super) fn print_answer(
    answer: &Answer,
    table: &str,
    flags: &SizeFlags,
    (found, warnings): (bool, &[String]),
) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    if flags.json {
        json::write_json(&mut stdout, answer)?;
    } else {
        writeln!(stdout, "{}", answer.sentence())?;
        for line in answer.notes() {
            writeln!(stdout, "  {line}")?;
        }
        if !answer.as_cheap.is_empty() {
            writeln!(
                stdout,
                "  as cheap within the 95% intervals (add replications to tell them apart):"
            )?;
            for line in &answer.as_cheap {
                writeln!(stdout, "    {line}")?;
            }
        }
        writeln!(stdout)?;
        stdout.write_all(table.as_bytes())?;
    }
    stdout.flush()?;
    warn(warnings);
    match found {
        true => Ok(()),
        false => Err(Error::NoAnswer),
    }
}
