//! `loopcap size`: the least value of one capacity axis that meets every
//! service-level objective, with confidence. An SLO is a bound on a
//! summary metric; it is met only when the whole 95% interval of the
//! metric's mean over the replications is on the right side of the bound.
//! With several axes (or `--cheapest`, `--minimize`), [`grid`] finds
//! the setting of every axis that meets every SLO at least cost a month.
//! The search gallops up from the bottom of the range (1, 2, 4, ... above
//! it) until a probe meets every SLO, then bisects between that probe and
//! the last that did not, assuming more capacity is never worse; the
//! probes it makes check that assumption. Every probe runs the same seeds
//! (common random numbers), its replications in parallel.
//!
//! One concept per file: [`slo`] (objectives and which way metrics are
//! better), [`judge`] (replications against them), [`search`] (the axis
//! search), [`answer`] (what `size` answers and why not), [`table`] (the
//! terminal's tables), [`csv_file`] (sizing.csv), [`journal`] (a search's resumable record) and [`command`]
//! (the driver).

pub mod answer;
pub mod csv_file;
pub mod grid;
pub mod journal;
pub mod judge;
pub mod search;
pub mod slo;
pub mod table;

pub use answer::{Answer, AnswerKind, explain};
pub use judge::{
    Interval, PlanResult, Probe, Verdict, cheapest, judge, judge_plan, judge_with, outcome,
};
pub use search::{Goal, Search, search};
pub use slo::{Direction, Slo, better};
pub use table::{render, render_grid, render_plans, skipped_sentence};

/// What `size --out` writes beside sizing.csv: the answer and its
/// evidence, as `--json` prints them.
pub const RESULT_FILE: &str = "result.json";
