//! Analytic checks: loopcap against queueing theory, tolerances from replications.

use loopcap::model;
use loopcap::statistics::mean_ci;
use loopcap::validation::erlang_c;

use crate::support::shipped;

#[test]
fn mmc_mean_queue_wait_matches_erlang_c() {
    // models/mmc.toml: c = 10, λ = 8/s, μ = 1/s.
    let (c, lambda, mu) = (10, 8.0, 1.0);
    let expected_wq = erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda);
    // 12 independent replications of 2 simulated hours (about 55k customers
    // each, after 5 minutes of warm-up). A 99.9% t interval from the
    // replication means makes a false alarm a 1-in-1000 event for an
    // unbiased simulator; the half-width check keeps the test able to fail.
    let waits: Vec<f64> = (0..12)
        .map(|rep| {
            let spec = shipped("mmc.toml", &[&format!("seed={}", 1000 + rep)]);
            let s = model::simulate(&spec, false).summary;
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
    let s = model::simulate(&shipped("mmc.toml", &[]), false).summary;
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
