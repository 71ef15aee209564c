//! The sizing as the terminal shows it: the search's and the plans' tables.

use std::fmt::Write as _;

use super::judge::{Interval, PlanResult, Probe, Verdict};
use super::search::Search;
use super::slo::Slo;
use crate::csv_row::significant;

/// A cost (or a plan's metric) as mean ± half-width; a half-width of
/// rounding noise (a fixed price) shows as none.
fn priced_cell((m, h): Interval) -> String {
    match (m, h) {
        (Some(m), Some(h)) if h > 1e-9 * m.abs() => format!("{} ± {}", short(m), short(h)),
        (Some(m), _) => short(m),
        _ => "-".to_owned(),
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
    let _ = write!(
        out,
        "\n{:<20}{:>20}{:>22}{:>20}",
        "plan", "$/hour", "$/loop", "loops/$"
    );
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    let verdict = |v: &Verdict| {
        format!(
            "{}{}",
            priced_cell((v.mean, v.ci95)),
            if v.met { "" } else { " ✗" }
        )
    };
    let _ = write!(
        out,
        "{:<20}{:>20}{:>22}{:>20}",
        "unlimited capacity", "", "", ""
    );
    for v in &floor.verdicts {
        let _ = write!(out, "  {:>26}", verdict(v));
    }
    let _ = writeln!(out);
    for p in plans {
        let _ = write!(
            out,
            "{:<20}{:>20}{:>22}{:>20}",
            p.name,
            priced_cell(p.cost_per_hour_usd),
            priced_cell(p.cost_per_loop_usd),
            priced_cell(p.loops_per_dollar)
        );
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", verdict(v));
        }
        let _ = writeln!(out, "  {}", if p.met { "meets" } else { "misses" });
    }
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
    let cell = |v: &Verdict| match (v.mean, v.ci95) {
        (Some(m), Some(h)) => format!(
            "{} ± {}{}",
            short(m),
            short(h),
            if v.met { "" } else { " ✗" }
        ),
        (Some(m), None) => format!("{}{}", short(m), if v.met { "" } else { " ✗" }),
        _ => format!("-{}", if v.met { "" } else { " ✗" }),
    };
    let _ = write!(out, "\n{:>14}{:>20}", "value", "$/hour");
    for slo in slos {
        let _ = write!(out, "  {:>26}", slo.text);
    }
    let _ = writeln!(out);
    // The floor's capacity is not one anyone sells: it has no cost.
    let mut row = |label: String, p: &Probe, priced: bool| {
        let price = if priced {
            priced_cell(p.cost_per_hour_usd)
        } else {
            "-".to_owned()
        };
        let _ = write!(out, "{label:>14}{price:>20}");
        for v in &p.verdicts {
            let _ = write!(out, "  {:>26}", cell(v));
        }
        let _ = writeln!(out, "  {}", if p.met { "meets" } else { "misses" });
    };
    if let Some(floor) = floor {
        row("unlimited".to_owned(), floor, false);
    }
    let mut sorted: Vec<&Probe> = search.probes.iter().collect();
    sorted.sort_by_key(|p| p.value);
    for p in sorted {
        row(p.value.to_string(), p, true);
    }
    out
}

/// Four significant digits, without trailing zeros.
pub(super) fn short(x: f64) -> String {
    significant(x, 4)
}
