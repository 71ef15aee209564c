//! Analytic checks: loopcap against queueing theory, tolerances from replications.

use loopcap::model;
use loopcap::statistics::mean_ci;
use loopcap::validation::theory::mmc_wait;
use loopcap::validation::{self, Criterion, NUDGE, judge};

use crate::support::shipped;

#[test]
fn mmc_mean_queue_wait_matches_erlang_c() {
    // models/mmc.toml: c = 10, λ = 8/s, μ = 1/s.
    let (c, lambda, mu) = (10, 8.0, 1.0);
    let expected_wq = mmc_wait(c, lambda, mu);
    // 12 independent replications of 2 simulated hours (about 55k customers
    // each, after 5 minutes of warm-up). A 99.9% t interval from the
    // replication means makes a false alarm a 1-in-1000 event for an
    // unbiased simulator; the half-width check keeps the test able to fail.
    let waits: Vec<f64> = (0..12)
        .map(|rep| {
            let spec = shipped("mmc.toml", &[&format!("seed={}", 1000 + rep)]);
            let s = model::simulate(&spec, false).unwrap().summary;
            s.queue_wait_s.expect("customers waited").mean
        })
        .collect();
    // The upper 0.9995 quantile of t bounds a two-sided 99.9% interval.
    let (mean, half) = mean_ci(&waits, 0.9995);
    let (mean, half) = (mean.unwrap(), half.unwrap());
    assert!(
        (mean - expected_wq).abs() <= half,
        "Wq: simulated {mean:.4} ± {half:.4} s, Erlang C {expected_wq:.4} s"
    );
    assert!(
        half < 0.1 * expected_wq,
        "interval too wide to test anything: ±{half}"
    );
}

#[test]
fn mmc_obeys_littles_law_and_utilisation() {
    // L = λW for loops in the system, and busy lanes = λ/μ: both hold for any
    // stable queue. 5% tolerance: one 2 h run has ~55k customers, and the
    // standard error of each time average is well under 1%.
    let s = model::simulate(&shipped("mmc.toml", &[]), false)
        .unwrap()
        .summary;
    let lambda = s.loops_per_min / 60.0;
    let w = s.loop_latency_s.unwrap().mean;
    let l = s.mean_loops_in_flight;
    assert!(
        (l - lambda * w).abs() / l < 0.05,
        "L {l} vs λW {}",
        lambda * w
    );
    let busy = s.mean_in_flight;
    assert!((busy - 8.0).abs() / 8.0 < 0.05, "busy lanes {busy}");
    assert!((s.lane_utilization.unwrap() - 0.8).abs() < 0.04);
}

/// Every `loopcap validate` check passes, and fails when it should: an exact
/// or approximate check whose expectation is moved by NUDGE (5%) either way,
/// and a threshold check run across its threshold.
#[test]
fn validate_checks_pass_and_fail_when_their_expectation_is_wrong() {
    for check in validation::checks() {
        let outcome = check.run().unwrap();
        assert!(
            outcome.verdict.passed(),
            "{}: {:?}",
            check.name,
            outcome.verdict
        );
        match check.criterion {
            Criterion::Exact | Criterion::About(_) => {
                for factor in [1.0 + NUDGE, 1.0 - NUDGE] {
                    let nudged = judge(&outcome.values, check.expected * factor, check.criterion);
                    assert!(
                        !nudged.passed(),
                        "{} passes with its expectation x{factor}: {nudged:?}",
                        check.name
                    );
                }
            }
            Criterion::AtLeast | Criterion::AtMost => {
                let across = check.run_across().expect("a threshold check").unwrap();
                assert!(
                    !across.verdict.passed(),
                    "{} passes across its threshold: {:?}",
                    check.name,
                    across.verdict
                );
            }
        }
    }
}

/// The token bucket admits a whole number of tokens: its check fails one
/// token either side (its band of 2% let 71 pass).
#[test]
fn the_token_bucket_check_fails_one_token_off() {
    let check = validation::checks()
        .into_iter()
        .find(|c| c.name.starts_with("token bucket"))
        .expect("the token-bucket check");
    let outcome = check.run().unwrap();
    assert!(outcome.verdict.passed(), "{:?}", outcome.verdict);
    for off in [-1.0, 1.0] {
        let nudged = judge(&outcome.values, check.expected + off, check.criterion);
        assert!(!nudged.passed(), "passes at {}", check.expected + off);
    }
}

/// models/interactive-coding-agents.toml keeps the headline figures of
/// TraceLab's dataset it was calibrated on (../shared/data/traces/
/// tracelab-example/SOURCE.md): a round (one LLM call) of 5.7 s at the
/// median and 22.2 s at p90, 8.8 steps a request, requests of 4 minutes
/// on average; and, its users joining steady, it starts loops at the
/// closed population's steady rate N / (E[Z] + R) after its 30-minute
/// warm-up, E[Z] the think time's lognormal mean. Over 100 replications
/// each 95% interval is narrower than its tolerance: 3% for the round
/// quantiles, the steps and the steady rate, 10% for the request mean
/// (published as "4 minutes"); each fails when its figure is nudged by
/// twice its tolerance either way.
#[test]
fn the_interactive_model_keeps_tracelabs_headline_figures_at_its_steady_rate() {
    let runs: Vec<_> = (0..100)
        .map(|rep| {
            let spec = shipped(
                "interactive-coding-agents.toml",
                &[&format!("seed={}", 100 + rep)],
            );
            model::simulate(&spec, false).unwrap().summary
        })
        .collect();
    let of = |f: &dyn Fn(&model::measure::summary::Summary) -> f64| {
        let xs: Vec<f64> = runs.iter().map(f).collect();
        let (mean, half) = mean_ci(&xs, 0.975);
        (mean.unwrap(), half.unwrap())
    };
    let sigma = (3.0f64 * 3600.0 / 84.0).ln() / 2.326_347_874_040_841;
    let think_s = 84.0 * (sigma * sigma / 2.0).exp();
    let (request_s, _) = of(&|s| s.loop_latency_s.unwrap().mean);
    let checks = [
        (
            "round p50",
            of(&|s| s.step_latency_s.unwrap().p50),
            5.7,
            0.03,
        ),
        (
            "round p90",
            of(&|s| s.step_latency_s.unwrap().p90),
            22.2,
            0.03,
        ),
        (
            "steps a request",
            of(&|s| s.steps_per_loop.unwrap().mean),
            8.8,
            0.03,
        ),
        (
            "request mean",
            of(&|s| s.loop_latency_s.unwrap().mean),
            240.0,
            0.10,
        ),
        (
            "loops a minute",
            of(&|s| s.loops_per_min),
            40.0 * 60.0 / (think_s + request_s),
            0.03,
        ),
    ];
    for (what, (mean, half), expected, tolerance) in checks {
        assert!(half / mean < tolerance, "{what}: ±{half} is too wide");
        let off = |e: f64| (mean - e).abs() / e;
        assert!(
            off(expected) < tolerance,
            "{what}: {mean} ± {half}, published {expected}"
        );
        for nudge in [1.0 - 2.0 * tolerance, 1.0 + 2.0 * tolerance] {
            assert!(
                off(expected * nudge) > tolerance,
                "{what}: nudged by {nudge}"
            );
        }
    }
}
