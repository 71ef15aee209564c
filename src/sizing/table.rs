//! The sizing as the terminal shows it: the search's and the plans' tables.

use std::fmt::Write as _;

use super::grid::{Axis, GridSearch};
#[cfg(test)]
use super::judge::Costs;
use super::judge::{Interval, PlanResult, Probe, Verdict, outcome};
use super::search::Search;
use super::slo::Slo;
use crate::csv_row::significant;
use crate::model::measure::catalogue;
use crate::report::verdict::with_interval;

/// A mean ± 95% half-width: four significant digits, a `share` in
/// percent, no ± for a half-width of rounding noise (a fixed price); none
/// where no replication defined it.
fn measured((m, h): Interval, share: bool) -> Option<String> {
    let m = m?;
    Some(match share {
        true => with_interval(m, h, |x| format!("{}%", short(100.0 * x))),
        false => with_interval(m, h, short),
    })
}

/// A verdict's metric as measured, a share in percent.
pub(super) fn verdict_value(v: &Verdict) -> Option<String> {
    measured((v.mean, v.ci95), catalogue::is_share(&v.metric))
}

/// A cost (or a plan's cost per loop, its loops per dollar), `-` where
/// undefined.
fn priced_cell(cost: Interval) -> String {
    measured(cost, false).unwrap_or_else(|| "-".to_owned())
}

/// A verdict's metric with its mark.
fn verdict_cell(v: &Verdict) -> String {
    let shown = verdict_value(v).unwrap_or_else(|| "-".to_owned());
    format!("{shown}{}", mark(v))
}

/// What follows a verdict's figure: nothing when met, ✗ when missed, ✗?
/// when missed with an interval that straddles the bound.
fn mark(v: &Verdict) -> &'static str {
    match (v.met, v.borderline) {
        (true, _) => "",
        (false, true) => " ✗?",
        (false, false) => " ✗",
    }
}

/// The line under a table with a borderline verdict, if any: what ✗? means.
fn borderline_note(out: &mut String, verdicts: &[&Verdict], replications: u32) {
    if verdicts.iter().any(|v| v.borderline) {
        let _ = writeln!(
            out,
            "✗? borderline: missed, but its 95% interval straddles the bound, so more replications may meet it; add replications (now {replications}, e.g. --replications {}) to settle it",
            replications * 3
        );
    }
}

/// The plans as a table: cost, each SLO's metric, the verdict.
pub fn render_plans(
    slos: &[Slo],
    floor: &Probe,
    plans: &[PlanResult],
    replications: u32,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plans: each {replications} replications, SLOs met only with their whole 95% interval"
    );
    // The plan column as wide as the longest name, the floor's row's too.
    let floor_row = "unlimited capacity";
    let name = plans
        .iter()
        .map(|p| p.name.chars().count())
        .chain([floor_row.len()])
        .max()
        .unwrap_or_default()
        .max(20);
    let _ = write!(
        out,
        "\n{:<name$}  {:>18}  {:>20}  {:>22}  {:>18}",
        "plan", "$/hour", "$/month", "$/loop", "loops/$"
    );
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    let _ = write!(
        out,
        "{:<name$}  {:>18}  {:>20}  {:>22}  {:>18}",
        floor_row, "", "", "", ""
    );
    for v in &floor.verdicts {
        let _ = write!(out, "  {:>26}", verdict_cell(v));
    }
    let _ = writeln!(out);
    for p in plans {
        let _ = write!(
            out,
            "{:<name$}  {:>18}  {:>20}  {:>22}  {:>18}",
            p.name,
            priced_cell(p.cost_per_hour_usd),
            priced_cell(p.cost_per_month_usd),
            priced_cell(p.cost_per_loop_usd),
            priced_cell(p.loops_per_dollar)
        );
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", verdict_cell(v));
        }
        let _ = writeln!(out, "  {}", outcome(&p.verdicts, p.met, p.over_spend_cap));
    }
    let verdicts: Vec<&Verdict> = plans.iter().flat_map(|p| &p.verdicts).collect();
    borderline_note(&mut out, &verdicts, replications);
    out
}

/// The search as a table: the SLOs, the floor, each probe, the answer.
pub fn render(
    axis: &str,
    slos: &[Slo],
    floor: Option<&Probe>,
    search: &Search,
    replications: u32,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sizing {axis}: each probe {replications} replications, SLOs met only with their whole 95% interval"
    );
    let _ = write!(out, "\n{:>14}{:>20}{:>22}", "value", "$/hour", "$/month");
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    // The floor's capacity is not one anyone sells: it has no cost.
    let mut row = |label: String, p: &Probe, priced: bool| {
        let (hour, month) = if priced {
            (
                priced_cell(p.cost_per_hour_usd),
                priced_cell(p.cost_per_month_usd),
            )
        } else {
            ("-".to_owned(), "-".to_owned())
        };
        let _ = write!(out, "{label:>14}{hour:>20}{month:>22}");
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", verdict_cell(v));
        }
        let _ = writeln!(out, "  {}", outcome(&p.verdicts, p.met, p.over_spend_cap));
    };
    if let Some(floor) = floor {
        row("unlimited".to_owned(), floor, false);
    }
    let mut sorted: Vec<&Probe> = search.probes.iter().collect();
    sorted.sort_by_key(|p| p.value);
    for &p in &sorted {
        row(p.value.to_string(), p, true);
    }
    let verdicts: Vec<&Verdict> = floor
        .into_iter()
        .chain(sorted)
        .flat_map(|p| &p.verdicts)
        .collect();
    borderline_note(&mut out, &verdicts, replications);
    out
}

/// What the settings a grid search did not run say: how many, and the
/// least of their `committed` costs a month, each above the answer's cost.
pub fn skipped_sentence(count: usize, committed: impl Iterator<Item = f64>) -> String {
    let least = committed.fold(f64::INFINITY, f64::min);
    format!(
        "{count} settings not run: what each commits to a month alone (${least:.2} or more) is above the answer's whole cost, so none can be cheaper"
    )
}

/// A grid search as a table: each axis's value, the costs, each SLO's
/// metric and the verdict, for the floor and each setting in the order
/// they ran; then the settings not run.
pub fn render_grid(
    axes: &[Axis],
    slos: &[Slo],
    floor: &Probe,
    search: &GridSearch,
    replications: u32,
) -> String {
    let mut out = String::new();
    let paths: Vec<&str> = axes.iter().map(|a| a.path.as_str()).collect();
    let _ = writeln!(
        out,
        "sizing {}: each setting {replications} replications, SLOs met only with their whole 95% interval; settings run by what they commit to a month, least first",
        paths.join(" × ")
    );
    let widths: Vec<usize> = paths.iter().map(|p| p.len().max(9) + 2).collect();
    let _ = writeln!(out);
    for (p, w) in paths.iter().zip(&widths) {
        let _ = write!(out, "{p:>w$}");
    }
    let _ = write!(out, "{:>20}{:>22}", "$/hour", "$/month");
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    let mut row = |labels: Vec<String>, costs: (String, String), verdicts: &[Verdict], word| {
        for (l, w) in labels.iter().zip(&widths) {
            let _ = write!(out, "{l:>w$}");
        }
        let _ = write!(out, "{:>20}{:>22}", costs.0, costs.1);
        for v in verdicts {
            let _ = write!(out, "  {:>26}", verdict_cell(v));
        }
        let _ = writeln!(out, "  {word}");
    };
    let mut unlimited = vec![String::new(); axes.len()];
    unlimited[0] = "unlimited".to_owned();
    row(
        unlimited,
        ("-".into(), "-".into()),
        &floor.verdicts,
        outcome(&floor.verdicts, floor.met, false),
    );
    for p in &search.points {
        row(
            p.setting.iter().map(i64::to_string).collect(),
            (
                priced_cell(p.cost_per_hour_usd),
                priced_cell(p.cost_per_month_usd),
            ),
            &p.verdicts,
            outcome(&p.verdicts, p.met, p.over_spend_cap),
        );
    }
    if !search.skipped.is_empty() {
        let committed = search.skipped.iter().map(|s| s.committed_per_month_usd);
        let _ = writeln!(out, "{}", skipped_sentence(search.skipped.len(), committed));
    }
    let verdicts: Vec<&Verdict> = search.points.iter().flat_map(|p| &p.verdicts).collect();
    borderline_note(&mut out, &verdicts, replications);
    out
}

/// Four significant digits, without trailing zeros.
pub(super) fn short(x: f64) -> String {
    significant(x, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borderline_probe_is_marked_and_explained_and_a_clear_miss_is_not() {
        let names = ["loops_failed_share".to_owned()];
        let slos = [Slo::parse("loops_failed_share <= 1%", &names).unwrap()];
        let probe = |value, mean, half| {
            Probe::of(
                value,
                &slos,
                &[((Some(mean), Some(half)), None)],
                Costs::default(),
            )
        };
        let floor = probe(i64::MIN, 0.0, 0.0);
        let clear = Search {
            answer: Some(3),
            probes: vec![probe(2, 0.05, 0.01), probe(3, 0.005, 0.001)],
            warnings: Vec::new(),
        };
        let text = render("capacity.lanes", &slos, Some(&floor), &clear, 10);
        assert!(text.contains("misses") && !text.contains("✗?"), "{text}");
        assert!(!text.contains("borderline"), "{text}");
        let close = Search {
            answer: Some(3),
            probes: vec![probe(2, 0.011, 0.002), probe(3, 0.005, 0.001)],
            warnings: Vec::new(),
        };
        let text = render("capacity.lanes", &slos, Some(&floor), &close, 10);
        assert!(text.contains(" ✗?  borderline"), "{text}");
        assert!(
            text.contains("✗? borderline: missed, but its 95% interval straddles the bound")
                && text.contains("--replications 30"),
            "{text}"
        );
    }
}
