//! Faults: the triggers of retry storms, each active for a window of time.

use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// Every attempt offered to capacity fails at once (HTTP 503).
    Outage,
    /// Service times of attempts starting service are multiplied by `factor`.
    LatencySpike { factor: f64 },
    /// Rate limits and the concurrency cap, or the lanes, are multiplied by `factor`.
    CapacityDrop { factor: f64 },
    /// Each attempt offered fails with `probability` (HTTP 500).
    ErrorBurst { probability: f64 },
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Outage => "outage",
            FaultKind::LatencySpike { .. } => "latency_spike",
            FaultKind::CapacityDrop { .. } => "capacity_drop",
            FaultKind::ErrorBurst { .. } => "error_burst",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    pub start: SimTime,
    pub duration: SimDuration,
    /// The pool it hits; `None`: every pool.
    pub pool: Option<usize>,
}

impl Fault {
    pub fn end(&self) -> SimTime {
        self.start + self.duration
    }

    pub fn is_active(&self, now: SimTime) -> bool {
        self.start <= now && now < self.end()
    }
}

/// The combined effect of the faults active at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultEffect {
    pub outage: bool,
    pub latency_factor: f64,
    pub capacity_factor: f64,
    pub error_probability: f64,
}

impl FaultEffect {
    pub const NONE: FaultEffect = FaultEffect {
        outage: false,
        latency_factor: 1.0,
        capacity_factor: 1.0,
        error_probability: 0.0,
    };

    /// The effect of every fault active at `now`: factors multiply, and
    /// independent error bursts combine as 1 − Π(1 − p).
    /// The effect on pool `pool` of the faults active at `now`.
    pub fn at(faults: &[Fault], now: SimTime, pool: usize) -> FaultEffect {
        let mut effect = FaultEffect::NONE;
        let mut survive = 1.0;
        let hits = |f: &&Fault| f.is_active(now) && f.pool.is_none_or(|p| p == pool);
        for fault in faults.iter().filter(hits) {
            match fault.kind {
                FaultKind::Outage => effect.outage = true,
                FaultKind::LatencySpike { factor } => effect.latency_factor *= factor,
                FaultKind::CapacityDrop { factor } => effect.capacity_factor *= factor,
                FaultKind::ErrorBurst { probability } => survive *= 1.0 - probability,
            }
        }
        effect.error_probability = 1.0 - survive;
        effect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, start: u64, secs: u64) -> Fault {
        Fault {
            kind,
            start: SimTime::ZERO + SimDuration::from_secs(start),
            duration: SimDuration::from_secs(secs),
            pool: None,
        }
    }

    #[test]
    fn overlapping_faults_combine() {
        let faults = [
            fault(FaultKind::LatencySpike { factor: 3.0 }, 10, 10),
            fault(FaultKind::LatencySpike { factor: 2.0 }, 15, 10),
            fault(FaultKind::ErrorBurst { probability: 0.5 }, 15, 1),
            fault(FaultKind::ErrorBurst { probability: 0.5 }, 15, 1),
            fault(FaultKind::Outage, 30, 5),
        ];
        let at = |s| FaultEffect::at(&faults, SimTime::ZERO + SimDuration::from_secs(s), 0);
        assert_eq!(at(5), FaultEffect::NONE);
        assert_eq!(at(12).latency_factor, 3.0);
        let both = at(15);
        assert_eq!(both.latency_factor, 6.0);
        assert!((both.error_probability - 0.75).abs() < 1e-12);
        assert_eq!(at(20).latency_factor, 2.0, "a fault ends exclusively");
        assert!(at(30).outage && !at(35).outage);
    }
}
