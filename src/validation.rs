//! `loopcap validate`: the simulator against results known from theory.
//!
//! Each check runs a small model over independent replications, seeded from
//! the check's own seed so that no two checks share random numbers, and
//! compares the replication mean with what theory says. Exact results must
//! lie inside the 99% Student-t confidence interval of the mean; approximate
//! ones within a stated tolerance; thresholds on the right side of a bound.
//!
//! A check that cannot fail proves nothing, so every check must have power:
//! an exact check's interval, and an approximate check's tolerance, must be
//! narrower than [`RESOLUTION`] of the expectation (a check whose interval
//! is wider fails as "no power"), so that an expectation [`NUDGE`] off fails.
//! A threshold check names the conditions, across its threshold, under which
//! it must fail. `tests/integration/theory.rs` checks both.

mod check;
mod checks;
pub mod theory;

pub use check::{Check, CheckError, CheckOutcome, Criterion, NUDGE, RESOLUTION, Verdict, judge};
pub use checks::checks;

/// Renders outcomes as an aligned table.
pub fn table(outcomes: &[CheckOutcome]) -> String {
    let mut out = format!(
        "{:<58} {:>12} {:>12} {:>22}  {}\n",
        "check", "expected", "measured", "99% CI", "result"
    );
    for o in outcomes {
        let expected = match o.criterion {
            Criterion::Exact => format!("{:.4}", o.expected),
            Criterion::About(t) => format!("{:.2} ±{:.1}%", o.expected, t * 100.0),
            Criterion::AtLeast => format!(">= {:.2}", o.expected),
            Criterion::AtMost => format!("<= {:.2}", o.expected),
        };
        let v = o.verdict;
        let ci = format!(
            "[{:.4}, {:.4}]",
            v.mean - v.half_width,
            v.mean + v.half_width
        );
        let result = match (v.met, v.powered) {
            (true, true) => "pass",
            (false, _) => "FAIL",
            (true, false) => "FAIL: no power (interval too wide)",
        };
        out.push_str(&format!(
            "{:<58} {:>12} {:>12.4} {:>22}  {result}\n",
            o.name, expected, v.mean, ci
        ));
    }
    out
}
