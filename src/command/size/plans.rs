//! `size MODEL --slo ... --plans FILE`: every plan judged with its cost,
//! and the cheapest that meets every SLO.

use std::path::Path;

use anyhow::Context;

use super::base::{BaseModel, Replicator, SizeFlags, slos_and_floor};
use super::record::{print_answer, size_manifest, sizing_series, write_json_file};
use crate::atomic_file;
use crate::command::error::Error;
use crate::command::outputs::{publish, stage_out};
use crate::config::data_file::DataFile;
use crate::config::plans::read_plans;
use crate::output::marker::Kind;
use crate::plot::sizing_figure;
use crate::sizing::{
    Answer, AnswerKind, RESULT_FILE, cheapest, csv_file, explain_plans, judge_plan, render_plans,
};

pub(super) fn size(plans_file: &Path, flags: &SizeFlags) -> Result<(), Error> {
    let (_, plans) = read_plans(plans_file)?;
    let base = BaseModel::read(flags, None)?;
    let staged = match &flags.out {
        Some(dir) => Some(stage_out(dir, Kind::Sizing, flags.force)?),
        None => None,
    };
    let replicator = Replicator::new(flags)?;
    let (slos, floor) = slos_and_floor(&base.loaded.spec, flags, &replicator)?;
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
    let answer = Answer {
        kind: AnswerKind::Plans {
            answer: best.map(|p| p.name.clone()),
            plans: results.clone(),
        },
        replications: flags.replications,
        slos: slos.clone(),
        floor: floor.verdicts.clone(),
        explanations: match best {
            Some(_) => Vec::new(),
            None => explain_plans(&slos, &floor),
        },
    };
    if let Some(staged) = staged {
        let dir = staged.path();
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
        let written = write_json_file(&dir.join("manifest.json"), &manifest)
            .and_then(|()| {
                atomic_file::write_file(&dir.join("sizing.csv"), |w| {
                    csv_file::write_plans(w, &slos, &results)
                })
            })
            .and_then(|()| write_json_file(&dir.join(RESULT_FILE), &answer));
        written.with_context(|| format!("cannot write into {}", dir.display()))?;
        let rows = results
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i64, p.verdicts.as_slice(), p.cost_per_hour_usd));
        let names: Vec<String> = results.iter().map(|p| p.name.clone()).collect();
        let best_index = best.and_then(|b| results.iter().position(|p| p.name == b.name));
        sizing_figure::draw_plans(dir, &names, &sizing_series(&slos, rows), best_index)?;
        publish(staged)?;
    }
    let table = render_plans(&slos, &floor, &results, flags.replications);
    print_answer(&answer, &table, flags)?;
    match best {
        Some(_) => Ok(()),
        None => Err(Error::NoAnswer),
    }
}
