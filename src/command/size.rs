//! The `size` driver: the flags turned into a sizing, the model read and
//! parsed once, the floor on unlimited capacity, then a search along one
//! axis ([`search`]), the cheapest setting of several ([`grid`]) or plans
//! compared ([`plans`]), each probe's
//! replications in parallel.

use crate::cli::SizeArgs;
use crate::command::Limits;
use crate::command::error::Error;
use crate::sizing::grid::Objective;
use crate::sizing::search::Goal;
use base::SizeFlags;

mod base;
mod grid;
mod plans;
mod record;
mod search;

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
    let objective = match &args.minimize {
        Some(metric) => Some(Objective::Metric(metric.clone())),
        None => (args.cheapest || args.over.len() > 1).then_some(Objective::Cost),
    };
    match (args.over.as_slice(), &args.max_users, &args.plans) {
        (_, _, Some(plans)) => plans::size(plans, &flags),
        ([one], _, _) if objective.is_none() => search::size(one, Goal::LeastMeeting, &flags),
        ([_, ..], _, _) => grid::size(&args.over, objective.unwrap_or(Objective::Cost), &flags),
        ([], Some(users), None) => search::size(users, Goal::MostMeeting, &flags),
        ([], None, None) => Err(Error::input(
            "size: --over, --max-users or --plans says what to size",
        )),
    }
}
