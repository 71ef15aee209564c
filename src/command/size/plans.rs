//! `size MODEL --slo ... --plans FILE`: every plan judged with its cost,
//! and the cheapest that meets every SLO.

use std::path::Path;

use anyhow::Context;

use super::base::{Comparison, SizeFlags};
use super::record::{print_answer, record_comparison, size_manifest};
use crate::command::error::Error;
use crate::config::data_file::DataFile;
use crate::config::plans::read_plans;
use crate::sizing::{Answer, AnswerKind, cheapest, csv_file, judge_plan, render_plans};

pub(super) fn size(plans_file: &Path, flags: &SizeFlags) -> Result<(), Error> {
    let (_, plans) = read_plans(plans_file)?;
    let Comparison {
        base,
        staged,
        replicator,
        slos,
        floor,
    } = Comparison::start(flags)?;
    let mut results = Vec::with_capacity(plans.len());
    let mut data_files = DataFile::names_in(&base.loaded.resolved);
    for plan in &plans {
        let loaded = base.with(plan.overrides.iter().cloned(), flags.limits, |d| {
            Error::input(format!(
                "{}: plan `{}`: {d}",
                plans_file.display(),
                plan.name
            ))
        })?;
        data_files.extend(DataFile::names_in(&loaded.resolved));
        let runs = replicator.run(&loaded.spec)?;
        results.push(judge_plan(&plan.name, &runs, &slos));
    }
    let best = cheapest(&results);
    let kind = AnswerKind::Plans {
        answer: best.map(|p| p.name.clone()),
        plans: results.clone(),
    };
    let answer = Answer::of_comparison(
        kind,
        best.is_some(),
        flags.replications,
        (&slos, &floor),
        "a plan with more capacity than these",
    );
    if let Some(staged) = staged {
        let mut manifest = size_manifest(
            &base.source,
            &data_files,
            flags,
            &format!("--plans {}", plans_file.display()),
        )?;
        // The plans as compared, their stated assumptions included.
        let plans_toml = std::fs::read_to_string(plans_file)
            .with_context(|| format!("cannot read {}", plans_file.display()))?;
        manifest["plans_toml"] = serde_json::Value::String(plans_toml);
        // Each plan as compared, a template's one by one: what it sets.
        manifest["plans"] = plans
            .iter()
            .map(|plan| {
                let sets: Vec<String> = plan
                    .overrides
                    .iter()
                    .map(|o| format!("{} = {}", o.path, o.value))
                    .collect();
                serde_json::json!({ "name": plan.name, "set": sets.join(", ") })
            })
            .collect();
        let alternatives: Vec<_> = results
            .iter()
            .map(|p| (p.name.clone(), p.verdicts.as_slice(), p.cost_per_month_usd))
            .collect();
        let best_index = best.and_then(|b| results.iter().position(|p| p.name == b.name));
        record_comparison(
            staged,
            &manifest,
            |w| csv_file::write_plans(w, &slos, &results),
            &answer,
            &alternatives,
            best_index,
        )?;
    }
    let table = render_plans(&slos, &floor, &results, flags.replications);
    print_answer(&answer, &table, flags, (best.is_some(), &[]))
}
