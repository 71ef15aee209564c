//! What a run leaves in the system at its horizon.

/// What is left in the system at the horizon, counted from the simulator's
/// state (not from its metrics): all zero, with every bucket full again,
/// once a run has drained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Residue {
    /// Loops still running (of any cohort).
    pub loops: usize,
    /// Calls still held, waiting or in progress.
    pub calls: usize,
    /// Attempts the provider has not finished.
    pub attempts: usize,
    pub in_service: u32,
    pub queued: u32,
    pub backing_off: u32,
    pub waiting_at_gate: bool,
    pub buckets_full: bool,
}

impl Residue {
    /// Nothing left anywhere, and every bucket full.
    pub fn is_drained(&self) -> bool {
        *self
            == Residue {
                buckets_full: true,
                ..Residue::default()
            }
    }
}
