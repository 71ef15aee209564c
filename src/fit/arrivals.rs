//! A trace's arrival process: Poisson when its inter-arrival CV is near 1,
//! else an on/off process (a two-state MMPP with no arrivals while off)
//! cut from the trace at a burst threshold: gaps at least that long are
//! off periods, the rest fall inside bursts. Of the thresholds at the
//! gaps' quantiles, the one whose process has the trace's CV is taken,
//! and the on rate is set so the long-run rate is the trace's exactly.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::{RandomStreams, SimDuration};
use crate::model::workload::classes::{GapCursor, RecordedGaps};

/// Inter-arrival CVs within this of 1 are taken as Poisson.
pub const POISSON_CV_TOLERANCE: f64 = 0.2;
/// Burst thresholds tried: these quantiles of the gaps.
const THRESHOLD_QUANTILES: [f64; 15] = [
    0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999,
];

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "process", rename_all = "snake_case")]
pub enum ArrivalFit {
    Poisson {
        per_min: f64,
    },
    OnOff {
        on_per_min: f64,
        mean_on_s: f64,
        mean_off_s: f64,
        /// Gaps at least this long were taken as off periods.
        threshold_s: f64,
    },
    /// The trace's own gaps, replayed in windows of `block_s` cut at random times.
    Recorded {
        per_min: f64,
        block_s: f64,
        #[serde(skip)]
        gaps: Arc<[f64]>,
    },
}

/// A process's dispersion this far from the trace's at some scale,
/// relative to it, is beyond what a parametric fit may miss by.
const DISPERSION_TOLERANCE: f64 = 0.10;

/// Recorded gaps are replayed in windows this many times the longest
/// scale measured (at most half the trace), so that burstiness at that
/// scale, and some way beyond it, is the recording's.
const BLOCK_SCALES: f64 = 30.0;

/// Arrivals drawn to measure a recorded process's dispersion, at most.
const DRAWN: usize = 2_000_000;

/// The mean rate per minute and the CV of `gaps` (seconds).
pub fn rate_and_cv(gaps: &[f64]) -> (f64, f64) {
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n;
    (60.0 / mean, var.sqrt() / mean)
}

/// The arrival process for inter-arrival `gaps` (seconds, at least two):
/// Poisson or on/off, fitted to the rate and CV, when its index of
/// dispersion is within 10% of the trace's at every scale the trace
/// covers (or the trace's 95% interval reaches it); else, when they do
/// better at the worst scale, the trace's own gaps replayed in windows.
pub fn fit(gaps: &[f64]) -> ArrivalFit {
    let parametric = parametric(gaps);
    let times = arrival_times(gaps);
    let scales: Vec<(f64, (f64, f64))> = SCALES_S
        .iter()
        .filter_map(|&w| Some((w, dispersion(&times, w)?)))
        .collect();
    // The largest miss relative to the trace's, less its interval's half-width.
    let worst = |process: &ArrivalFit, noise: f64| {
        scales
            .iter()
            .map(|&(w, (trace, half))| {
                ((process.dispersion(w) - trace).abs() - noise * half) / trace
            })
            .fold(0.0, f64::max)
    };
    let Some(&(longest, _)) = scales.last() else {
        return parametric;
    };
    if worst(&parametric, 1.0) <= DISPERSION_TOLERANCE {
        return parametric;
    }
    let span = times[times.len() - 1] - times[0];
    let recorded = ArrivalFit::Recorded {
        per_min: rate_and_cv(gaps).0,
        block_s: (BLOCK_SCALES * longest).min(span / 2.0),
        gaps: gaps.into(),
    };
    match worst(&recorded, 0.0) < worst(&parametric, 0.0) {
        true => recorded,
        false => parametric,
    }
}

/// Arrival times from 0 for `gaps`.
pub fn arrival_times(gaps: &[f64]) -> Vec<f64> {
    std::iter::once(0.0)
        .chain(gaps.iter().scan(0.0, |t, g| {
            *t += g;
            Some(*t)
        }))
        .collect()
}

/// Poisson or on/off for inter-arrival `gaps`, fitted to their rate and CV.
pub fn parametric(gaps: &[f64]) -> ArrivalFit {
    let (per_min, cv) = rate_and_cv(gaps);
    if cv <= 1.0 + POISSON_CV_TOLERANCE {
        return ArrivalFit::Poisson { per_min };
    }
    let mut sorted = gaps.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rate = per_min / 60.0;
    THRESHOLD_QUANTILES
        .iter()
        .filter_map(|&q| {
            let threshold = sorted[((q * sorted.len() as f64) as usize).min(sorted.len() - 1)];
            on_off_at(gaps, threshold, rate)
        })
        .min_by(|a, b| (a.cv() - cv).abs().total_cmp(&(b.cv() - cv).abs()))
        .unwrap_or(ArrivalFit::Poisson { per_min })
}

/// The on/off process with gaps of at least `threshold` as off periods,
/// its long-run rate `rate` per second.
fn on_off_at(gaps: &[f64], threshold: f64, rate: f64) -> Option<ArrivalFit> {
    let (long, short): (Vec<f64>, Vec<f64>) = gaps.iter().partition(|&&g| g >= threshold);
    let (on_time, off_gaps) = (short.iter().sum::<f64>(), long.iter().sum::<f64>());
    if long.len() < 2 || short.len() < 2 || on_time <= 0.0 {
        return None;
    }
    let cycles = long.len() as f64;
    let burst_rate = short.len() as f64 / on_time;
    // A long gap is an off period and then the wait for the burst's first arrival.
    let mean_off = (off_gaps / cycles - 1.0 / burst_rate).max(threshold / 2.0);
    let mean_on = on_time / cycles;
    Some(ArrivalFit::OnOff {
        on_per_min: 60.0 * rate * (mean_on + mean_off) / mean_on,
        mean_on_s: mean_on,
        mean_off_s: mean_off,
        threshold_s: threshold,
    })
}

/// The time scales at which a trace's burstiness is compared with its
/// fitted process, in seconds: a second, ten, a minute, ten minutes.
pub const SCALES_S: [f64; 4] = [1.0, 10.0, 60.0, 600.0];

/// Windows a scale needs within the trace's span to be measured there.
const MIN_WINDOWS: usize = 10;

/// The index of dispersion of counts of arrivals at `times` (seconds, in
/// order) in consecutive windows of `window` seconds from the first: their
/// variance over their mean (1 for Poisson at every scale; above 1 for
/// bursts that scale sees), and the half-width of its 95% interval as a
/// sample variance's over `n` windows, 1.96 · D · √(2/(n−1)) (counts near
/// normal; heavier tails widen it). None when the span holds fewer than
/// 10 windows.
pub fn dispersion(times: &[f64], window: f64) -> Option<(f64, f64)> {
    let (first, last) = (*times.first()?, *times.last()?);
    let windows = ((last - first) / window).floor() as usize;
    if windows < MIN_WINDOWS {
        return None;
    }
    let mut counts = vec![0.0f64; windows];
    for &t in times {
        let w = ((t - first) / window) as usize;
        if let Some(c) = counts.get_mut(w) {
            *c += 1.0;
        }
    }
    let n = windows as f64;
    let mean = counts.iter().sum::<f64>() / n;
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let d = var / mean;
    (mean > 0.0).then(|| (d, 1.96 * d * (2.0 / (n - 1.0)).sqrt()))
}

impl ArrivalFit {
    /// The index of dispersion of counts in windows of `t` seconds: 1 for
    /// Poisson; for on/off (an MMPP with rates λ on and 0 off, leaving on
    /// at a and off at b), 1 + 2aλ/(a+b)² (1 − (1 − e^(−(a+b)t))/((a+b)t)).
    pub fn dispersion(&self, t: f64) -> f64 {
        if let ArrivalFit::Recorded { .. } = self {
            return self.drawn_dispersion(t);
        }
        match self.on_off_rates() {
            None => 1.0,
            Some((a, b, l)) => {
                let s = a + b;
                1.0 + 2.0 * a * l / (s * s) * (1.0 - (1.0 - (-s * t).exp()) / (s * t))
            }
        }
    }

    /// A recorded process's dispersion at `t` seconds, measured on the
    /// arrivals it replays over 200 windows (or 20 of its own, if longer; at
    /// most [`DRAWN`] arrivals), drawn as a run draws them.
    fn drawn_dispersion(&self, t: f64) -> f64 {
        let ArrivalFit::Recorded {
            per_min,
            block_s,
            gaps,
        } = self
        else {
            unreachable!("only a recorded process is drawn");
        };
        let span = (200.0 * t).max(20.0 * block_s);
        let n = ((span * per_min / 60.0) as usize).clamp(2, DRAWN);
        let ticks = RecordedGaps::new(
            gaps.iter()
                .map(|&g| SimDuration::from_secs_f64(g))
                .collect(),
        );
        let block = SimDuration::from_secs_f64(*block_s);
        let mut rng = RandomStreams::new(1).stream("recorded arrivals");
        let mut cursor = GapCursor::default();
        let drawn: Vec<f64> = (0..n)
            .map(|_| cursor.next_gap(&ticks, block, &mut rng).as_secs_f64())
            .collect();
        dispersion(&arrival_times(&drawn), t).map_or(1.0, |(d, _)| d)
    }

    /// An on/off process's rates per second: leaving on (a = 1/mean_on),
    /// leaving off (b = 1/mean_off), and arriving while on (λ).
    fn on_off_rates(&self) -> Option<(f64, f64, f64)> {
        match *self {
            ArrivalFit::Poisson { .. } | ArrivalFit::Recorded { .. } => None,
            ArrivalFit::OnOff {
                on_per_min,
                mean_on_s,
                mean_off_s,
                ..
            } => Some((1.0 / mean_on_s, 1.0 / mean_off_s, on_per_min / 60.0)),
        }
    }

    /// The stationary inter-arrival CV: 1 for Poisson; for on/off, from the
    /// moments of its phase-type inter-arrival time (starting on, with
    /// D0 = [[−(a+λ), a], [b, −b]]): CV² = 2(b(a+b) + a(a+b+λ))/(a+b)² − 1.
    pub fn cv(&self) -> f64 {
        if let ArrivalFit::Recorded { gaps, .. } = self {
            return rate_and_cv(gaps).1;
        }
        match self.on_off_rates() {
            None => 1.0,
            Some((a, b, l)) => {
                (2.0 * (b * (a + b) + a * (a + b + l)) / (a + b).powi(2) - 1.0).sqrt()
            }
        }
    }

    /// P(gap > t): for on/off, e^(r1 t)(−λ − r2) − e^(r2 t)(−λ − r1), over
    /// r1 − r2, with r1 > r2 the eigenvalues of D0.
    pub fn gap_survival(&self, t: f64) -> f64 {
        match (self, self.on_off_rates()) {
            (ArrivalFit::Poisson { per_min }, _) => (-per_min / 60.0 * t).exp(),
            (ArrivalFit::Recorded { gaps, .. }, _) => {
                gaps.iter().filter(|&&g| g > t).count() as f64 / gaps.len() as f64
            }
            (_, Some((a, b, l))) => {
                let trace = -(a + l + b);
                let det = l * b;
                let root = (trace * trace - 4.0 * det).sqrt();
                let (r1, r2) = ((trace + root) / 2.0, (trace - root) / 2.0);
                ((r1 * t).exp() * (-l - r2) - (r2 * t).exp() * (-l - r1)) / (r1 - r2)
            }
            (_, None) => unreachable!("only Poisson has no on/off rates"),
        }
    }

    /// The KS distance between sorted gaps and the process's gap distribution.
    pub fn ks(&self, sorted_gaps: &[f64]) -> f64 {
        let n = sorted_gaps.len() as f64;
        sorted_gaps
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let f = 1.0 - self.gap_survival(g);
                (f - i as f64 / n).abs().max((f - (i + 1) as f64 / n).abs())
            })
            .fold(0.0, f64::max)
    }

    /// Its `arrivals = { ... }` table; a recorded process's gaps are in `file`.
    pub fn toml(&self, file: &str) -> String {
        use super::dists::number;
        match *self {
            ArrivalFit::Recorded { block_s, .. } => format!(
                "{{ process = \"recorded\", file = \"{file}\", column = \"value\", unit = \"s\", block = \"{}s\" }}",
                number(block_s)
            ),
            ArrivalFit::Poisson { per_min } => {
                format!("{{ process = \"poisson\", per_min = {} }}", number(per_min))
            }
            ArrivalFit::OnOff {
                on_per_min,
                mean_on_s,
                mean_off_s,
                ..
            } => format!(
                "{{ process = \"on_off\", on_per_min = {}, off_per_min = 0, mean_on = \"{}s\", mean_off = \"{}s\" }}",
                number(on_per_min),
                number(mean_on_s),
                number(mean_off_s)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;
    use crate::model::distribution::exponential_draw;

    /// Gaps of an on/off process drawn here: exponential off periods with
    /// no arrivals, Poisson arrivals while on.
    fn on_off_gaps(on_rate: f64, mean_on: f64, mean_off: f64, n: usize) -> Vec<f64> {
        let mut rng = RandomStreams::new(5).stream("gaps");
        let (mut t, mut last, mut gaps) = (0.0, 0.0, Vec::with_capacity(n));
        while gaps.len() < n {
            let on_end = t + exponential_draw(mean_on, &mut rng);
            loop {
                let next = t + exponential_draw(1.0 / on_rate, &mut rng);
                if next > on_end || gaps.len() == n {
                    break;
                }
                t = next;
                gaps.push(t - last);
                last = t;
            }
            t = on_end + exponential_draw(mean_off, &mut rng);
        }
        gaps
    }

    /// The analytic index of dispersion agrees with the dispersion of
    /// counts of 2,000,000 drawn arrivals at each scale: what bursts add
    /// over Poisson's 1 within 5% (at 10 minutes, 6,666 windows: a relative
    /// standard error near 2%); a nudge of 10% to the on rate, which moves
    /// that excess by 10%, is seen at every scale. Poisson's is 1.
    #[test]
    fn the_on_off_dispersion_matches_drawn_counts_at_every_scale() {
        let (on_per_min, mean_on_s, mean_off_s) = (120.0, 20.0, 60.0);
        let gaps = on_off_gaps(on_per_min / 60.0, mean_on_s, mean_off_s, 2_000_000);
        let times: Vec<f64> = gaps
            .iter()
            .scan(0.0, |t, g| {
                *t += g;
                Some(*t)
            })
            .collect();
        let process = ArrivalFit::OnOff {
            on_per_min,
            mean_on_s,
            mean_off_s,
            threshold_s: 0.0,
        };
        let nudged = ArrivalFit::OnOff {
            on_per_min: on_per_min * 1.1,
            mean_on_s,
            mean_off_s,
            threshold_s: 0.0,
        };
        for window in [1.0, 10.0, 60.0, 600.0] {
            let (drawn, _) = dispersion(&times, window).unwrap();
            // What bursts add over Poisson's 1, drawn against the formula's.
            let excess = |d: f64| (drawn - 1.0) / (d - 1.0) - 1.0;
            let (expected, nudged) = (process.dispersion(window), nudged.dispersion(window));
            assert!(
                excess(expected).abs() < 0.05,
                "{window} s: {drawn} against {expected}"
            );
            assert!(
                excess(nudged).abs() > 0.05,
                "{window} s: {drawn} against {nudged}"
            );
        }
        assert_eq!(ArrivalFit::Poisson { per_min: 3.0 }.dispersion(60.0), 1.0);
        // Arrivals at 0, 0.5 | none | 2.25, 2.5, 2.75, 2.875 | 3.25, 3.5 s:
        // counts 2, 0, 4, 2 a second. Four seconds are too few windows.
        let block = [0.0, 0.5, 2.25, 2.5, 2.75, 2.875, 3.25, 3.5];
        assert!(dispersion(&block, 1.0).is_none());
        // Ten blocks span 39.5 s: 39 whole windows, the last block's final
        // second (2 arrivals) left out.
        let many: Vec<f64> = (0..10)
            .flat_map(|k| block.map(|t| t + 4.0 * f64::from(k)))
            .collect();
        let counts: Vec<f64> = [2.0, 0.0, 4.0, 2.0].repeat(10)[..39].to_vec();
        let mean = counts.iter().sum::<f64>() / 39.0;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / 38.0;
        let (d, half) = dispersion(&many, 1.0).unwrap();
        assert!((d - var / mean).abs() < 1e-12, "{d} against {}", var / mean);
        assert!((half - 1.96 * d * (2.0f64 / 38.0).sqrt()).abs() < 1e-12);
    }

    /// The analytic CV agrees with the CV of 400,000 drawn gaps (within
    /// 3%), and is 1 with no off periods; the gap survival function starts
    /// at 1 and has the process's mean as its integral.
    #[test]
    fn the_on_off_cv_and_survival_match_drawn_gaps() {
        let process = ArrivalFit::OnOff {
            on_per_min: 600.0,
            mean_on_s: 20.0,
            mean_off_s: 40.0,
            threshold_s: 1.0,
        };
        let gaps = on_off_gaps(10.0, 20.0, 40.0, 400_000);
        let (per_min, cv) = rate_and_cv(&gaps);
        assert!(
            (cv / process.cv() - 1.0).abs() < 0.03,
            "{cv} vs {}",
            process.cv()
        );
        assert!((per_min / 200.0 - 1.0).abs() < 0.03, "{per_min}");
        assert!((process.gap_survival(0.0) - 1.0).abs() < 1e-12);
        let dt = 0.001;
        let mean: f64 = (0..2_000_000)
            .map(|k| process.gap_survival(k as f64 * dt) * dt)
            .sum();
        assert!((mean - 0.3).abs() < 1e-3, "{mean}");
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(process.ks(&sorted) < 0.01, "{}", process.ks(&sorted));
        let nearly_always_on = ArrivalFit::OnOff {
            on_per_min: 600.0,
            mean_on_s: 1e9,
            mean_off_s: 1.0,
            threshold_s: 1.0,
        };
        assert!((nearly_always_on.cv() - 1.0).abs() < 1e-6);
    }

    /// Drawn on/off gaps are fitted as on/off with their CV (within 10%)
    /// and exactly their rate; Poisson gaps as Poisson.
    #[test]
    fn bursty_gaps_fit_on_off_and_poisson_gaps_fit_poisson() {
        let gaps = on_off_gaps(10.0, 20.0, 40.0, 100_000);
        let (per_min, cv) = rate_and_cv(&gaps);
        let fitted = parametric(&gaps);
        let ArrivalFit::OnOff {
            on_per_min,
            mean_on_s,
            mean_off_s,
            ..
        } = fitted
        else {
            panic!("{fitted:?}");
        };
        let mean_rate = on_per_min * mean_on_s / (mean_on_s + mean_off_s);
        assert!((mean_rate / per_min - 1.0).abs() < 1e-9);
        assert!(
            (fitted.cv() / cv - 1.0).abs() < 0.1,
            "{} vs {cv}",
            fitted.cv()
        );
        let poisson = on_off_gaps(10.0, 1e12, 1.0, 50_000);
        assert!(matches!(fit(&poisson), ArrivalFit::Poisson { .. }));
    }
}
