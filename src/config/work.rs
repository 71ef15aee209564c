//! The work a model's run is, located at the field behind most of it, held
//! against the budget of events a run may take (`--max-events`).

use super::diagnostic::{Diagnostic, Invalid};
use super::memory::path;
use super::overrides::Override;
use super::read::{Source, locate};
use crate::model::ModelSpec;
use crate::model::estimate::work;

/// The events a run of a model makes (see [`work`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    pub events: f64,
    /// The field behind the largest load, and what that load is.
    pub largest: Diagnostic,
}

/// How fast a run handles events, to say how long a budget lasts: the
/// shipped models' runs handle 3 to 6 million a second on one core.
const EVENTS_PER_S: f64 = 5e6;

impl Work {
    /// Estimates `spec`'s events, locating its largest load in `source`
    /// (or at the override that set it).
    pub fn of(spec: &ModelSpec, source: &Source, overrides: &[Override]) -> Work {
        let loads = work::estimate(spec);
        let events = work::total(&loads);
        let message = match loads.iter().max_by(|a, b| a.events.total_cmp(&b.events)) {
            Some(largest) => format!("{} make about {:.2e}", largest.what, largest.events),
            None => "nothing".to_owned(),
        };
        let cause = loads
            .iter()
            .max_by(|a, b| a.events.total_cmp(&b.events))
            .map_or("duration".to_owned(), |l| path(spec, l.cause));
        Work {
            events,
            largest: locate(source, overrides, Invalid::new(cause, message)),
        }
    }

    /// Refuses a model whose run would take more than `budget` events,
    /// naming the field behind most of them.
    pub fn fits(&self, budget: u64) -> Result<(), Diagnostic> {
        if self.events <= budget as f64 {
            return Ok(());
        }
        Err(Diagnostic {
            message: format!(
                "a run would handle about {:.2e} events (about {} at {:.0} million a second), more than the budget of {budget} (--max-events): {}. Lower it or shorten the run, or raise --max-events if a run that long is meant",
                self.events,
                duration_text(self.events / EVENTS_PER_S),
                EVENTS_PER_S / 1e6,
                self.largest.message
            ),
            ..self.largest.clone()
        })
    }
}

/// `seconds` in the largest unit that keeps it above 1.
fn duration_text(seconds: f64) -> String {
    match seconds {
        s if s < 1.0 => "under a second".to_owned(),
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} minutes", s / 60.0),
        s if s < 2.0 * 86400.0 => format!("{:.0} hours", s / 3600.0),
        s if s < 730.0 * 86400.0 => format!("{:.0} days", s / 86400.0),
        s => format!("{:.2e} years", s / (365.25 * 86400.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_unit() {
        assert_eq!(duration_text(0.2), "under a second");
        assert_eq!(duration_text(30.0), "30 s");
        assert_eq!(duration_text(600.0), "10 minutes");
        assert_eq!(duration_text(36_000.0), "10 hours");
        assert_eq!(duration_text(864_000.0), "10 days");
        assert_eq!(duration_text(3.15576e9), "1.00e2 years");
    }
}
