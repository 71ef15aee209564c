//! `loopcap validate`: the simulator against results known from theory.
//!
//! Each check runs a small model over independent replications (seeds
//! 1..=n) and compares the replication mean with what theory says. Exact
//! results must lie inside the 99% Student-t confidence interval of the
//! mean; approximate ones ("about") within a stated tolerance; thresholds on
//! the right side of a bound.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::config::{self, Override, Source};
use crate::model::{self, summary::Summary};
use crate::statistics::mean_ci;

/// How a measurement is compared with its expectation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Criterion {
    /// Exact in theory: the expectation lies in the 99% confidence interval.
    Exact,
    /// Approximate in theory: within this relative tolerance.
    About(f64),
    AtLeast,
    AtMost,
}

/// One check's definition.
pub struct Check {
    pub name: &'static str,
    pub expected: f64,
    pub criterion: Criterion,
    model: &'static str,
    overrides: &'static [&'static str],
    replications: u64,
    measure: fn(&Summary) -> f64,
}

/// One check's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub name: &'static str,
    pub expected: f64,
    pub criterion: Criterion,
    pub mean: f64,
    /// Half-width of the 99% confidence interval of the mean.
    pub half_width: f64,
    pub passed: bool,
}

/// Erlang C (Kleinrock, Queueing Systems vol. 1, eq. 3.40): the probability
/// that an arrival waits in an M/M/c queue with offered load `a` = λ/μ.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    let tail = term * f64::from(c) / (f64::from(c) - a);
    tail / (sum + tail)
}

const ONE_CALL_LOOPS: &str = r#"
name = "queue"
seed = 1
duration = "10h"
warmup = "10m"

[[workload]]
name = "customers"
agent = "one-call"
arrivals = { process = "poisson", per_min = 30 }

[agents.one-call]
steps = 1
input_tokens = 1
output_tokens = 0

[capacity]
kind = "reserved"
lanes = 1
time_to_first_token = { dist = "exponential", mean = "1s" }

[client]
max_attempts = 1
"#;

const CODING: &str = include_str!("../models/coding-agents-shared.toml");

/// The M/M/1 mean wait ρ / (μ − λ), rates per second.
fn mm1_wait(lambda: f64, mu: f64) -> f64 {
    lambda / mu / (mu - lambda)
}

fn queue_wait(s: &Summary) -> f64 {
    s.queue_wait_s.map_or(f64::NAN, |q| q.mean)
}

fn attempts_per_call(s: &Summary) -> f64 {
    s.attempts as f64 / s.calls as f64
}

/// Share of failed attempts the client retried.
fn retried_share(s: &Summary) -> f64 {
    s.retries as f64 / s.server_errors as f64
}

/// The built-in checks, with their expectations worked out from theory.
pub fn checks() -> Vec<Check> {
    // The four-server example: λ = 0.35/min, 10 min service, c = 4.
    let p_wait_4 = erlang_c(4, 3.5);
    let wq_4 = p_wait_4 / (4.0 / 10.0 - 0.35) * 60.0;
    // M/M/10 at λ = 8/s, μ = 1/s.
    let wq_10 = erlang_c(10, 8.0) / (10.0 - 8.0);
    vec![
        Check {
            name: "M/M/1 mean wait, rho = 0.5 (s)",
            // Wq = ρ / (μ − λ), with λ = 0.5/s and μ = 1/s.
            expected: mm1_wait(0.5, 1.0),
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &[],
            replications: 20,
            measure: queue_wait,
        },
        Check {
            name: "M/M/10 mean wait, rho = 0.8 (s)",
            expected: wq_10,
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &[
                "workload.customers.arrivals.per_min=480",
                "capacity.lanes=10",
                "duration=2h",
            ],
            replications: 20,
            measure: queue_wait,
        },
        Check {
            name: "M/M/4 P(wait): 0.35/min, 10 min service (0.738)",
            expected: p_wait_4,
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &FOUR_SERVERS,
            replications: 20,
            measure: |s| s.waited_share.unwrap_or(f64::NAN),
        },
        Check {
            name: "M/M/4 mean wait (14.76 min, in s)",
            expected: wq_4,
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &FOUR_SERVERS,
            replications: 20,
            measure: queue_wait,
        },
        Check {
            name: "M/M/4 mean response (24.76 min, in s)",
            expected: wq_4 + 600.0,
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &FOUR_SERVERS,
            replications: 20,
            measure: |s| s.loop_latency_s.map_or(f64::NAN, |l| l.mean),
        },
        Check {
            name: "M/D/1 mean wait, rho = 0.8 (s)",
            // Pollaczek–Khinchine with deterministic service: Wq = ρ / (2μ(1 − ρ)).
            expected: 0.8 / (2.0 * (1.0 - 0.8)),
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &[
                "workload.customers.arrivals.per_min=48",
                "capacity.time_to_first_token=\"1s\"",
            ],
            replications: 20,
            measure: queue_wait,
        },
        Check {
            name: "Little's law on coding agents: L / (lambda W)",
            // Little's law holds in the limit; over a finite window the loops
            // still running at the horizon are missing from W, a bias of
            // order W / T (about 0.5% for 6-minute loops over 24 hours).
            // Loops are given no deadline, so none fail and leave W too.
            expected: 1.0,
            criterion: Criterion::About(0.01),
            model: CODING,
            overrides: &["duration=24h", "agents.coding.deadline=1000h"],
            replications: 10,
            measure: |s| {
                let lambda = s.loops_per_min / 60.0;
                s.mean_loops_in_flight / (lambda * s.loop_latency_s.map_or(f64::NAN, |l| l.mean))
            },
        },
        Check {
            name: "token bucket admits its refill rate (60/min)",
            expected: 60.0,
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &[
                "workload.customers.arrivals.per_min=300",
                "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"100ms\" }",
                "client={ max_attempts = 3, backoff = { kind = \"constant\", delay = \"1s\", jitter = \"full\" }, honor_retry_after = false }",
            ],
            replications: 10,
            measure: |s| s.attempts_per_min * (1.0 - s.rate_limited as f64 / s.attempts as f64),
        },
        Check {
            name: "attempts per call at p = 0.3, 3 retries: (1-p^4)/(1-p)",
            expected: (1.0 - 0.3f64.powi(4)) / (1.0 - 0.3),
            criterion: Criterion::Exact,
            model: ONE_CALL_LOOPS,
            overrides: &[
                "capacity.lanes=100",
                "client={ max_attempts = 4, backoff = { kind = \"none\" } }",
                "fault=[{ kind = \"error_burst\", probability = 0.3, at = \"0s\", for = \"11h\" }]",
            ],
            replications: 10,
            measure: attempts_per_call,
        },
        Check {
            name: "gRPC throttle r = 0.1, p = 0.05: failures retried",
            expected: 0.95,
            criterion: Criterion::AtLeast,
            model: ONE_CALL_LOOPS,
            overrides: &GRPC_BELOW,
            replications: 10,
            measure: retried_share,
        },
        Check {
            name: "gRPC throttle r = 0.1, p = 0.15: failures retried",
            expected: 0.10,
            criterion: Criterion::AtMost,
            model: ONE_CALL_LOOPS,
            overrides: &GRPC_ABOVE,
            replications: 10,
            measure: retried_share,
        },
        Check {
            name: "SRE throttling K = 2: sent / accepted (about 2)",
            expected: 2.0,
            criterion: Criterion::About(0.1),
            model: ONE_CALL_LOOPS,
            overrides: &[
                "workload.customers.arrivals.per_min=600",
                "duration=1h",
                "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"200ms\" }",
                "client={ max_attempts = 5, backoff = { kind = \"constant\", delay = \"1s\" }, honor_retry_after = false, policy = [{ kind = \"adaptive_throttle\", k = 2, window = \"1m\" }] }",
            ],
            replications: 10,
            measure: |s| s.attempts as f64 / (s.attempts - s.rate_limited) as f64,
        },
    ]
}

const FOUR_SERVERS: [&str; 4] = [
    "workload.customers.arrivals.per_min=0.35",
    "capacity.lanes=4",
    "capacity.time_to_first_token={ dist = \"exponential\", mean = \"10m\" }",
    "duration=2000h",
];

const GRPC_BELOW: [&str; 4] = [
    "capacity.lanes=100",
    "client={ max_attempts = 10, backoff = { kind = \"none\" }, policy = [{ kind = \"retry_throttle\", max_tokens = 10, token_ratio = 0.1 }] }",
    "fault=[{ kind = \"error_burst\", probability = 0.05, at = \"0s\", for = \"11h\" }]",
    "duration=2h",
];

const GRPC_ABOVE: [&str; 4] = [
    "capacity.lanes=100",
    "client={ max_attempts = 10, backoff = { kind = \"none\" }, policy = [{ kind = \"retry_throttle\", max_tokens = 10, token_ratio = 0.1 }] }",
    "fault=[{ kind = \"error_burst\", probability = 0.15, at = \"0s\", for = \"11h\" }]",
    "duration=2h",
];

impl Check {
    /// Runs the replications (in parallel) and judges the result.
    pub fn run(&self) -> Result<Outcome, String> {
        let source = Source {
            name: format!("validate: {}", self.name),
            text: self.model.to_owned(),
            base_dir: PathBuf::from("."),
        };
        let overrides = self
            .overrides
            .iter()
            .map(|o| Override::parse(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|d| d.to_string())?;
        let spec = config::load_model(&source, &overrides)
            .map_err(|d| d.to_string())?
            .spec;
        let values: Vec<f64> = (1..=self.replications)
            .into_par_iter()
            .map(|seed| {
                let mut spec = spec.clone();
                spec.seed = seed;
                (self.measure)(&model::simulate(&spec, false).summary)
            })
            .collect();
        let (mean, half_width, passed) = judge(&values, self.expected, self.criterion);
        Ok(Outcome {
            name: self.name,
            expected: self.expected,
            criterion: self.criterion,
            mean,
            half_width,
            passed,
        })
    }
}

/// The mean of `values`, the half-width of its 99% Student-t confidence
/// interval, and whether it meets `expected` by `criterion`.
pub fn judge(values: &[f64], expected: f64, criterion: Criterion) -> (f64, f64, bool) {
    let (mean, half_width) = mean_ci(values, 0.995);
    let (mean, half_width) = (mean.unwrap_or(f64::NAN), half_width.unwrap_or(f64::NAN));
    let passed = mean.is_finite()
        && match criterion {
            Criterion::Exact => (mean - expected).abs() <= half_width,
            Criterion::About(tolerance) => (mean - expected).abs() <= tolerance * expected,
            Criterion::AtLeast => mean >= expected,
            Criterion::AtMost => mean <= expected,
        };
    (mean, half_width, passed)
}

/// Renders outcomes as an aligned table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = format!(
        "{:<58} {:>12} {:>12} {:>22}  {}\n",
        "check", "expected", "measured", "99% CI", "result"
    );
    for o in outcomes {
        let expected = match o.criterion {
            Criterion::Exact => format!("{:.4}", o.expected),
            Criterion::About(t) => format!("{:.2} ±{:.0}%", o.expected, t * 100.0),
            Criterion::AtLeast => format!(">= {:.2}", o.expected),
            Criterion::AtMost => format!("<= {:.2}", o.expected),
        };
        let ci = format!(
            "[{:.4}, {:.4}]",
            o.mean - o.half_width,
            o.mean + o.half_width
        );
        out.push_str(&format!(
            "{:<58} {:>12} {:>12.4} {:>22}  {}\n",
            o.name,
            expected,
            o.mean,
            ci,
            if o.passed { "pass" } else { "FAIL" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging_follows_each_criterion() {
        // Mean 10, sd √(2/3), n = 4: t(0.995, 3) = 5.8409, half-width 2.385,
        // so the interval is [7.615, 12.385].
        let values = [9.0, 10.0, 11.0, 10.0];
        let sd = (2.0f64 / 3.0).sqrt();
        let (mean, half, pass) = judge(&values, 12.3, Criterion::Exact);
        assert_eq!(mean, 10.0);
        assert!((half - 5.840_909 * sd / 2.0).abs() < 1e-5, "{half}");
        assert!(pass);
        assert!(!judge(&values, 12.5, Criterion::Exact).2);
        assert!(judge(&values, 10.5, Criterion::About(0.05)).2);
        assert!(!judge(&values, 11.0, Criterion::About(0.05)).2);
        assert!(
            judge(&values, 10.0, Criterion::AtLeast).2
                && !judge(&values, 10.1, Criterion::AtLeast).2
        );
        assert!(
            judge(&values, 10.0, Criterion::AtMost).2 && !judge(&values, 9.9, Criterion::AtMost).2
        );
        assert!(!judge(&[f64::NAN, 1.0], 1.0, Criterion::AtLeast).2);
    }

    #[test]
    fn erlang_c_matches_the_four_server_example() {
        // λ = 0.35/min, 10 min service: P(wait) 0.738, Wq 14.76 min.
        let p = erlang_c(4, 3.5);
        assert!((p - 0.738).abs() < 5e-4, "{p}");
        assert!((p / (0.4 - 0.35) - 14.76).abs() < 0.01);
    }
}
