//! Faults as written (`[[fault]]`, each with a `kind`), and the recovery rule.

use serde::Deserialize;

use super::checks::{Checked, positive, positive_duration, positive_duration_or, probability};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{At, Duration, Number};
use super::tagged::Variants;
use crate::engine::{SimDuration, SimTime};
use crate::model::fault::{Fault, FaultKind};
use crate::model::measure::recovery::RecoveryRule;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawFault {
    Outage(RawWindow),
    LatencySpike(RawScaled),
    CapacityDrop(RawScaled),
    ErrorBurst(RawErrorBurst),
}

impl Variants for RawFault {
    const TAG: &'static str = "kind";
    type Common = RawFaultTarget;
}

/// The pool a fault hits, by name; every pool when left out.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFaultTarget {
    pool: Option<String>,
}

impl RawFaultTarget {
    /// The index of the pool it names, among `pools`.
    pub fn check(&self, at: &FieldPath, pools: &[String]) -> Checked<Option<usize>> {
        let Some(name) = &self.pool else {
            return Ok(None);
        };
        pools
            .iter()
            .position(|p| p == name)
            .map(Some)
            .ok_or_else(|| {
                Invalid::new(
                    at.child("pool"),
                    format!(
                        "no pool is called `{name}`: the model's pools are {}",
                        pools.join(", ")
                    ),
                )
            })
    }
}

/// When a fault starts and how long it lasts.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    at: At,
    #[serde(rename = "for")]
    duration: Duration,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScaled {
    at: At,
    #[serde(rename = "for")]
    duration: Duration,
    factor: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawErrorBurst {
    at: At,
    #[serde(rename = "for")]
    duration: Duration,
    probability: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRecovery {
    window: Option<Duration>,
    tolerance: Option<Number>,
}

impl RawFault {
    /// The fault, on a clock whose t = 0 falls at `start` in the week.
    pub fn check(self, at: &FieldPath, pool: Option<usize>, start: SimDuration) -> Checked<Fault> {
        let factor = |n: Number| positive(&at.child("factor"), n);
        let (kind, begins, duration) = match self {
            RawFault::Outage(w) => (FaultKind::Outage, w.at, w.duration),
            RawFault::LatencySpike(s) => (
                FaultKind::LatencySpike {
                    factor: factor(s.factor)?,
                },
                s.at,
                s.duration,
            ),
            RawFault::CapacityDrop(s) => (
                FaultKind::CapacityDrop {
                    factor: factor(s.factor)?,
                },
                s.at,
                s.duration,
            ),
            RawFault::ErrorBurst(e) => (
                FaultKind::ErrorBurst {
                    probability: probability(&at.child("probability"), e.probability)?,
                },
                e.at,
                e.duration,
            ),
        };
        Ok(Fault {
            kind,
            start: SimTime::ZERO + begins.after(start),
            duration: positive_duration(&at.child("for"), duration)?,
            pool,
        })
    }
}

impl RawRecovery {
    pub fn check(&self) -> Checked<RecoveryRule> {
        let at = FieldPath::root("recovery");
        let defaults = RecoveryRule::default();
        Ok(RecoveryRule {
            window: positive_duration_or(&at.child("window"), self.window, defaults.window)?,
            tolerance: match self.tolerance {
                None => defaults.tolerance,
                Some(t) if (0.0..1.0).contains(&t.0) => t.0,
                Some(t) => {
                    return Err(Invalid::new(
                        at.child("tolerance"),
                        format!("must be a share from 0 up to 1 (got {})", t.0),
                    ));
                }
            },
        })
    }
}
