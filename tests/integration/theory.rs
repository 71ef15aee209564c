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
