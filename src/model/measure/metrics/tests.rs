use super::*;

#[test]
fn window_gauge_averages_only_after_warmup() {
    let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
    let mut g = WindowGauge::new();
    g.set(s(0), 10, s(10)); // 10 during warm-up...
    g.set(s(15), 2, s(10)); // ...and 5 s into the window
    g.set(s(20), 2, s(10));
    // Window 10..20: 10 for 5 s, 2 for 5 s -> mean 6.
    assert_eq!(g.mean(SimDuration::from_secs(10)), 6.0);
    assert_eq!(g.peak, 10);
}

#[test]
fn recorder_reports_exact_mean_and_close_percentiles() {
    let mut r = Recorder::durations();
    for ms in 1..=1000u64 {
        r.record(ms * 1000);
    }
    let p = r.percentiles().unwrap();
    assert!((p.mean - 0.5005).abs() < 1e-12);
    assert_eq!(p.max, 1.0);
    // HDR with 3 significant digits: within 0.1% of the exact order statistic.
    assert!((p.p50 - 0.5).abs() / 0.5 < 1e-3, "{}", p.p50);
    assert!((p.p99 - 0.99).abs() / 0.99 < 1e-3, "{}", p.p99);
    assert!(Recorder::durations().percentiles().is_none());
}
