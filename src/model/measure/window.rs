//! Windows of simulated time the summary reports on their own: one per
//! surge and per fault, and any the model names, so a 30-minute surge does
//! not disappear into the whole horizon's figures.
//!
//! A window follows the loops that *started* in it to their end, even past
//! the window (what the surge's users lived through), and counts what
//! happened inside it: completions, attempts, 429s, retries, the peak in
//! flight and the cost of the tokens billed.

use serde::{Deserialize, Serialize};

use crate::engine::SimTime;
use crate::model::measure::percentiles::Percentiles;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Surge,
    Fault,
    /// A `[[window]]` of the model.
    Named,
}

impl WindowKind {
    pub fn name(self) -> &'static str {
        match self {
            WindowKind::Surge => "surge",
            WindowKind::Fault => "fault",
            WindowKind::Named => "window",
        }
    }
}

/// A window: `[start, end)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// How runs.csv columns and the table name it: the model's name for a
    /// named window, `surge-<class>-<n>` or `fault-<n>` (from 1) otherwise.
    pub name: String,
    pub kind: WindowKind,
    pub start: SimTime,
    pub end: SimTime,
}

impl Window {
    pub fn contains(&self, t: SimTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// One window's figures, as the summary reports them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    pub name: String,
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Loops that arrived in the window, and how those ended (followed past
    /// the window's end, up to the horizon).
    pub loops_started: u64,
    pub loops_completed: u64,
    pub loops_failed: u64,
    /// failed / (completed + failed), of the loops started in the window.
    pub loops_failed_share: Option<f64>,
    /// Loops completed inside the window, per minute of it.
    pub loops_per_min: f64,
    /// Of the completed loops that started in the window.
    pub loop_latency_s: Option<Percentiles>,
    /// Inside the window.
    pub attempts: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub retry_rate: Option<f64>,
    pub peak_in_flight: u64,
    /// Tokens billed inside the window, plus its lane-hours for reserved capacity.
    pub cost_usd: f64,
}
