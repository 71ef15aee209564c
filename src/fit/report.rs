//! The fit report: each quantity's quantiles in the trace and in the
//! written model, the candidates' KS distances, and the arrival rate and
//! inter-arrival CV of the written model run over the trace's span.

use std::fmt::Write as _;

use rayon::prelude::*;
use serde::Serialize;

use super::arrivals::{ArrivalFit, SCALES_S, arrival_times, dispersion, rate_and_cv};
use super::check::CheckReport;
use super::compared::Compared;
use super::dists::{Candidate, Scored};
use super::{Fitted, Observations, Observed};
use crate::csv_row::significant;
use crate::engine::RandomStreams;
use crate::model::workload::classes::Population;
use crate::model::{ModelSpec, RunError, simulate};
use crate::statistics::Quantiles;
use crate::statistics::mean_ci;
use rand::RngExt;

/// Draws per quantity for the model's quantiles.
const DRAWS: usize = 100_000;

/// Fewer loops than this are too few to fit distributions to.
const FEW_LOOPS: usize = 30;

#[derive(Serialize)]
pub struct FitReport {
    pub trace: String,
    pub calls: usize,
    pub loops: usize,
    pub span_s: f64,
    pub users: Option<u32>,
    /// What the model's class is: an open stream of the trace's requests
    /// or sessions, or closed users, in words.
    pub arrives: String,
    pub cached_input_share: f64,
    /// Tokens per unit of the trace's token columns, where they count
    /// something else (characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_scale: Option<f64>,
    pub arrivals: Option<ArrivalReport>,
    /// The written model run `replications` times over the trace's span.
    pub replications: u32,
    /// Loops started per minute: in the trace, and in the model (mean and 95% half-width).
    pub loops_per_min: Compared,
    /// For a trace of sessions: sessions started per minute, and loops
    /// (requests) per session, in the trace and in the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_per_min: Option<Compared>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loops_per_session: Option<Compared>,
    /// Calls per loop, and input tokens per call: in the trace, and in
    /// the model's runs (its loops' calls, and the input they send).
    pub steps_per_loop: Compared,
    pub input_tokens_per_call: Compared,
    pub quantities: Vec<QuantityReport>,
    /// The trace replayed and the model run on another model's capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckReport>,
    /// Each figure of the model more than 10% from the trace's (its
    /// interval clear of it), and a sample too small to fit.
    pub warnings: Vec<String>,
    /// Whether the trace dates what arrives (see [`Observations::dated`]).
    #[serde(skip)]
    dated: bool,
}

#[derive(Serialize)]
pub struct ArrivalReport {
    #[serde(flatten)]
    pub fit: ArrivalFit,
    /// The fitted process's stationary inter-arrival CV.
    pub process_cv: f64,
    /// KS distance between the trace's gaps and the process's.
    pub ks: f64,
    /// Inter-arrival CV in the trace, and per run of the model over the trace's span.
    pub interarrival_cv: Compared,
    /// The index of dispersion of counts at each scale the trace spans (10
    /// windows at least): the trace's, and the written process's exactly.
    pub dispersion: Vec<Dispersion>,
}

/// Burstiness at one time scale.
#[derive(Serialize)]
pub struct Dispersion {
    pub window_s: f64,
    #[serde(flatten)]
    pub compared: Compared,
}

#[derive(Serialize)]
pub struct QuantityReport {
    pub name: &'static str,
    pub values: usize,
    /// The distribution written; none where the model resamples the
    /// recorded sessions whole.
    pub chosen: Option<Candidate>,
    pub candidates: Vec<Scored>,
    /// The KS distance between the trace's values and draws from the written model.
    pub ks: f64,
    pub trace: Quantiles,
    pub model: Quantiles,
}

/// Runs the written model (`spec`, read back from its file) and compares it with `obs`.
pub fn report(
    trace: &str,
    spec: &ModelSpec,
    obs: &Observations,
    fitted: &Fitted,
    replications: u32,
) -> Result<FitReport, RunError> {
    let runs = replicate(spec, replications)?;
    let of =
        |figure: fn(&Run) -> Option<f64>| -> Vec<f64> { runs.iter().filter_map(figure).collect() };
    let (rates, cvs) = (of(|r| Some(r.rate)), of(|r| r.cv));
    let arrivals = fitted.arrivals.as_ref().map(|fit| {
        let mut sorted = obs.gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let times = arrival_times(&obs.gaps);
        let dispersion = SCALES_S
            .iter()
            .filter_map(|&window_s| {
                let (trace, half) = dispersion(&times, window_s)?;
                Some(Dispersion {
                    window_s,
                    compared: Compared {
                        trace,
                        trace_ci: Some(half),
                        model: fit.dispersion(window_s),
                        model_ci: None,
                    },
                })
            })
            .collect();
        ArrivalReport {
            fit: fit.clone(),
            process_cv: fit.cv(),
            ks: fit.ks(&sorted),
            interarrival_cv: compared(rate_and_cv(&obs.loop_gaps).1, &cvs),
            dispersion,
        }
    });
    let per_min = |n: usize| n as f64 / (obs.span_s / 60.0).max(f64::MIN_POSITIVE);
    let sessions_per_min = obs
        .sessions
        .map(|n| compared(per_min(n), &of(|r| r.sessions)));
    let loops_per_session = obs.sessions.map(|n| {
        compared(
            obs.loops as f64 / n as f64,
            &of(|r| r.sessions.filter(|&s| s > 0.0).map(|s| r.rate / s)),
        )
    });
    let quantities = quantity_reports(spec, obs, fitted);
    let mut report = FitReport {
        trace: trace.to_owned(),
        calls: obs.calls,
        loops: obs.loops,
        span_s: obs.span_s,
        users: obs.arriving.users(),
        arrives: obs.arriving.words(),
        cached_input_share: obs.cached_input_share,
        token_scale: (obs.token_scale != 1.0).then_some(obs.token_scale),
        arrivals,
        replications,
        loops_per_min: compared(per_min(obs.loops), &rates),
        sessions_per_min,
        loops_per_session,
        steps_per_loop: compared(obs.calls as f64 / obs.loops as f64, &of(|r| r.steps)),
        input_tokens_per_call: compared(
            obs.input_tokens as f64 / obs.calls as f64,
            &of(|r| r.input_per_call),
        ),
        quantities,
        check: None,
        warnings: Vec::new(),
        dated: obs.dated,
    };
    report.warnings = report.warnings();
    Ok(report)
}

/// The fitted model's `replications` runs, seeds 1 and up, as the report
/// compares them.
fn replicate(spec: &ModelSpec, replications: u32) -> Result<Vec<Run>, RunError> {
    (1..=u64::from(replications))
        .into_par_iter()
        .map(|seed| {
            let mut spec = spec.clone();
            spec.seed = seed;
            let summary = simulate(&spec, false)?.summary;
            let class = summary
                .classes
                .values()
                .next()
                .expect("a fitted model has one class");
            Ok(Run {
                rate: class.arrivals_per_min,
                sessions: class.sessions_per_min,
                cv: class.interarrival_cv,
                steps: summary.steps_per_loop.map(|s| s.mean),
                input_per_call: (summary.calls > 0)
                    .then(|| summary.input_tokens as f64 / summary.calls as f64),
            })
        })
        .collect()
}

/// A figure of the trace beside the mean of the model's runs, `xs`, and
/// its 95% interval.
fn compared(trace: f64, xs: &[f64]) -> Compared {
    let (mean, ci) = mean_ci(xs, 0.975);
    Compared {
        trace,
        trace_ci: None,
        model: mean.unwrap_or(0.0),
        model_ci: ci,
    }
}

/// Each quantity of the trace beside the model's: its fit's draws, or the
/// resampled values when the sessions are resampled whole.
fn quantity_reports(spec: &ModelSpec, obs: &Observations, fitted: &Fitted) -> Vec<QuantityReport> {
    obs.quantities
        .iter()
        .zip(&fitted.fits)
        .map(|(q, (_, fit))| {
            let model = match fit {
                Some(_) => draws(spec, q.name),
                None => resampled(q),
            };
            QuantityReport {
                name: q.name,
                values: q.values.len(),
                chosen: fit.as_ref().map(|f| f.chosen.clone()),
                candidates: fit.as_ref().map_or(Vec::new(), |f| f.candidates.clone()),
                ks: two_sample_ks(&q.values, &model),
                trace: Quantiles::of(&q.values),
                model: Quantiles::of(&model),
            }
        })
        .collect()
}

impl FitReport {
    /// The report with `check`'s figures, and their warnings.
    pub fn checked(mut self, check: CheckReport) -> FitReport {
        self.check = Some(check);
        self.warnings = self.warnings();
        self
    }

    /// The sessions rows, for a trace of sessions.
    fn session_rows(&self) -> impl Iterator<Item = (&'static str, &Compared)> {
        [
            ("sessions/min", &self.sessions_per_min),
            ("loops per session", &self.loops_per_session),
        ]
        .into_iter()
        .filter_map(|(what, c)| Some((what, c.as_ref()?)))
    }
}

impl Dispersion {
    /// "dispersion at 10 s", "dispersion at 1 min".
    fn label(&self) -> String {
        match self.window_s {
            w if w >= 60.0 => format!("dispersion at {} min", w / 60.0),
            w => format!("dispersion at {w} s"),
        }
    }
}

/// What one run of the written model measured.
struct Run {
    rate: f64,
    /// Sessions started per minute, for a model that replays them.
    sessions: Option<f64>,
    cv: Option<f64>,
    /// Its loops' mean calls.
    steps: Option<f64>,
    input_per_call: Option<f64>,
}

/// Values of quantity `q` as the model draws them, resampling whole
/// sessions: sessions drawn uniformly, with replacement, until
/// [`DRAWS`] values are taken.
fn resampled(q: &Observed) -> Vec<f64> {
    let sessions = q.sessions.iter().max().map_or(0, |&s| s as usize + 1);
    let mut of: Vec<Vec<f64>> = vec![Vec::new(); sessions];
    for (&v, &s) in q.values.iter().zip(&q.sessions) {
        of[s as usize].push(v);
    }
    let mut rng = RandomStreams::new(1).stream(q.name);
    let mut values = Vec::with_capacity(DRAWS);
    while values.len() < DRAWS {
        values.extend(&of[rng.random_range(0..sessions)]);
    }
    values
}

/// Draws of quantity `name` from the model as read back.
fn draws(spec: &ModelSpec, name: &str) -> Vec<f64> {
    let mut rng = RandomStreams::new(1).stream(name);
    let agent = &spec.agents[0];
    let count = |d: &crate::model::distribution::CountDist, rng: &mut _| f64::from(d.sample(rng));
    (0..DRAWS)
        .map(|_| match name {
            "steps" => count(&agent.steps, &mut rng),
            "input_tokens" => count(&agent.input_tokens, &mut rng),
            "output_tokens" => count(&agent.output_tokens, &mut rng),
            "context_growth" => count(
                &agent.context_growth.as_ref().expect("fitted").per_step,
                &mut rng,
            ),
            "tool_latency" => agent
                .tool_latency
                .as_ref()
                .expect("fitted")
                .sample(&mut rng)
                .as_secs_f64(),
            "think_time" => match &spec.classes[0].population {
                Population::Closed { think_time, .. } => think_time.sample(&mut rng).as_secs_f64(),
                _ => unreachable!("think time is fitted for closed users"),
            },
            other => unreachable!("no quantity {other}"),
        })
        .collect()
}

impl FitReport {
    /// What a planner should not trust in the fit: a sample too small, and
    /// each figure of the model more than 10% from the trace's (loops per
    /// minute, inter-arrival CV, a quantity's mean).
    fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.dated {
            warnings.push(
                "the trace keeps no session start times (its sessions all start at its time 0, subagents at their spawn): the fitted arrivals describe the file, not your traffic; set the class's arrivals to the sessions you expect"
                    .to_owned(),
            );
        }
        if self.loops < FEW_LOOPS {
            warnings.push(format!(
                "only {} loops in the trace: too few to fit distributions to (at least {FEW_LOOPS}); read the fitted model as a guess",
                self.loops
            ));
        }
        let mut figures = vec![
            ("loops/min".to_owned(), &self.loops_per_min),
            ("calls per loop".to_owned(), &self.steps_per_loop),
            (
                "input tokens per call".to_owned(),
                &self.input_tokens_per_call,
            ),
        ];
        for (what, c) in self.session_rows() {
            figures.push((what.to_owned(), c));
        }
        if let Some(a) = &self.arrivals {
            figures.push(("inter-arrival CV".to_owned(), &a.interarrival_cv));
            for d in &a.dispersion {
                figures.push((d.label(), &d.compared));
            }
        }
        if let Some(check) = &self.check {
            for f in &check.figures {
                figures.push((format!("on {}, {}", check.capacity, f.name), &f.compared));
            }
        }
        for (what, c) in figures {
            if c.off() {
                warnings.push(format!(
                    "{what}: the model's {:.3} is {} from the trace's {:.3}, beyond 10%",
                    c.model,
                    c.error(),
                    c.trace
                ));
            }
        }
        for q in &self.quantities {
            let mean = Compared {
                trace: q.trace.mean,
                trace_ci: None,
                model: q.model.mean,
                model_ci: None,
            };
            if mean.off() {
                warnings.push(format!(
                    "mean {}: the model's {} is {} from the trace's {}, beyond 10%",
                    q.name,
                    significant(mean.model, 4),
                    mean.error(),
                    significant(mean.trace, 4)
                ));
            }
        }
        warnings
    }

    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} calls in {} loops over {:.0} s",
            self.trace, self.calls, self.loops, self.span_s
        );
        let ci = |c: &Compared| c.model_ci.map_or(String::new(), |h| format!(" ± {h:.2}"));
        let _ = writeln!(
            out,
            "\n{:<22}{:>12}{:>22}   (model: {} runs over the trace's span)",
            "", "trace", "model", self.replications
        );
        let row = |out: &mut String, what: &str, c: &Compared| {
            let _ = writeln!(
                out,
                "{what:<22}{:>12.2}{:>22}",
                c.trace,
                format!("{:.2}{}", c.model, ci(c))
            );
        };
        row(&mut out, "loops/min", &self.loops_per_min);
        for (what, c) in self.session_rows() {
            row(&mut out, what, c);
        }
        row(&mut out, "calls per loop", &self.steps_per_loop);
        row(
            &mut out,
            "input tokens per call",
            &self.input_tokens_per_call,
        );
        if let Some(a) = &self.arrivals {
            row(&mut out, "inter-arrival CV", &a.interarrival_cv);
            for d in &a.dispersion {
                row(&mut out, &d.label(), &d.compared);
            }
            let process = arrival_process(&a.fit);
            let _ = writeln!(
                out,
                "arrivals: {process}; its CV {:.2}, KS distance of its gaps {:.3}",
                a.process_cv, a.ks
            );
        }
        let _ = writeln!(out, "arriving: {}", self.arrives);
        if let Some(scale) = self.token_scale {
            let _ = writeln!(
                out,
                "tokens: the trace's token columns times {scale} (its token_scale), rounded"
            );
        }
        let _ = writeln!(
            out,
            "cached share of input: {:.3}\n\n{:<16}{:<14}{:>7}  {:>30}  {:>30}",
            self.cached_input_share,
            "quantity",
            "fit",
            "KS",
            "trace p50 / p90 / p99",
            "model p50 / p90 / p99"
        );
        self.quantity_rows(&mut out);
        if let Some(check) = &self.check {
            let _ = writeln!(
                out,
                "\non {} ({} runs each):\n{:<22}{:>22}{:>22}",
                check.capacity, check.replications, "", "trace replayed", "fitted model"
            );
            for f in &check.figures {
                let (what, c) = (f.name, &f.compared);
                let ci = |ci: Option<f64>| ci.map_or(String::new(), |h| format!(" ± {h:.2}"));
                let _ = writeln!(
                    out,
                    "{what:<22}{:>22}{:>22}",
                    format!("{:.2}{}", c.trace, ci(c.trace_ci)),
                    format!("{:.2}{}", c.model, ci(c.model_ci))
                );
            }
        }
        out
    }

    /// A row for each quantity: its fit, KS distance and quantiles beside
    /// the model's.
    fn quantity_rows(&self, out: &mut String) {
        for q in &self.quantities {
            let ks = format!("{:.3}", q.ks);
            let name = match q.chosen {
                Some(Candidate::Constant { .. }) => "constant",
                Some(Candidate::Exponential { .. }) => "exponential",
                Some(Candidate::Lognormal { .. }) => "lognormal",
                Some(Candidate::Gamma { .. }) => "gamma",
                Some(Candidate::Empirical { .. }) => "empirical",
                None => "resampled",
            };
            let three = |x: &Quantiles| {
                format!(
                    "{} / {} / {}",
                    significant(x.p50, 4),
                    significant(x.p90, 4),
                    significant(x.p99, 4)
                )
            };
            let _ = writeln!(
                out,
                "{:<16}{:<14}{:>7}  {:>30}  {:>30}",
                q.name,
                name,
                ks,
                three(&q.trace),
                three(&q.model)
            );
        }
    }
}

/// The largest gap between the empirical CDFs of `a` and `b`.
fn two_sample_ks(a: &[f64], b: &[f64]) -> f64 {
    let sorted = |x: &[f64]| {
        let mut v = x.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (sorted(a), sorted(b));
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The fitted arrival process, in words.
fn arrival_process(fit: &ArrivalFit) -> String {
    match fit {
        ArrivalFit::Poisson { per_min } => format!("Poisson, {per_min:.2}/min"),
        ArrivalFit::OnOff {
            on_per_min,
            mean_on_s,
            mean_off_s,
            threshold_s,
        } => format!(
            "on/off: {on_per_min:.1}/min for {mean_on_s:.1} s, none for {mean_off_s:.1} s (gaps over {threshold_s:.3} s are off)"
        ),
        ArrivalFit::Recorded { block_s, gaps, .. } => format!(
            "recorded: the trace's {} gaps replayed in windows of {block_s:.0} s cut at random times (Poisson or on/off missed its dispersion by over 10%)",
            gaps.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ties are stepped over together; identical samples are at distance 0,
    /// disjoint ones at 1, and {1, 2, 3, 4} against {3, 4, 5, 6} at ½.
    #[test]
    fn two_sample_ks_is_the_largest_cdf_gap() {
        assert_eq!(two_sample_ks(&[1.0, 2.0, 2.0], &[2.0, 1.0, 2.0]), 0.0);
        assert_eq!(two_sample_ks(&[1.0, 2.0], &[3.0, 4.0]), 1.0);
        assert_eq!(
            two_sample_ks(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]),
            0.5
        );
    }
}
