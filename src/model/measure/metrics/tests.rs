use super::*;

#[test]
fn window_gauge_averages_only_after_warmup() {
    let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
    let mut g = WindowGauge::new();
    g.set(s(0), [10], s(10)); // 10 during warm-up...
    g.set(s(15), [2], s(10)); // ...and 5 s into the window
    g.close(s(20), s(10));
    // Window 10..20: 10 for 5 s, 2 for 5 s -> mean 6.
    assert_eq!(g.mean(SimDuration::from_secs(10)), [6.0]);
    assert_eq!(g.peak, [10]);
}

#[test]
fn a_gauge_set_again_to_its_level_gives_the_same_area_and_peak() {
    // Levels at each second, some repeated, straddling the window's start at
    // 10 s; the gauge fed every set must agree with one fed only the changes
    // (integrated in one piece), and with the area summed by hand.
    let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
    let levels = [
        7u64, 7, 3, 3, 3, 9, 9, 9, 9, 9, 9, 9, 2, 2, 5, 5, 5, 0, 0, 4,
    ];
    let start = s(10);
    let mut every = WindowGauge::new();
    let mut changes = WindowGauge::new();
    for (t, &level) in levels.iter().enumerate() {
        every.set_now(s(t as u64), [level], start);
        changes.set(s(t as u64), [level], start);
    }
    let end = s(levels.len() as u64);
    every.close(end, start);
    changes.close(end, start);
    let by_hand: u64 = levels[10..].iter().sum::<u64>() * SimDuration::from_secs(1).ticks();
    assert_eq!(every.area, [u128::from(by_hand)]);
    assert_eq!(changes.area, every.area);
    // The 9 held from 5 s into the window is its peak.
    assert_eq!((changes.peak, every.peak), ([9], [9]));
}

#[test]
fn levels_integrated_together_have_the_areas_and_peaks_each_has_alone() {
    // Two levels that change at different seconds, straddling the window's
    // start at 10 s: kept together, each must have the area summed by hand
    // and the peak read off its list, as a gauge of its own does.
    let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
    let a = [
        1u64, 1, 4, 4, 0, 0, 0, 2, 2, 2, 8, 8, 3, 3, 3, 3, 1, 1, 6, 6,
    ];
    let b = [
        5u64, 5, 5, 5, 5, 9, 9, 9, 9, 2, 2, 2, 2, 7, 7, 0, 0, 0, 0, 4,
    ];
    let start = s(10);
    let mut together = WindowGauge::<2>::new();
    let mut alone = [WindowGauge::new(), WindowGauge::new()];
    for t in 0..a.len() {
        together.set(s(t as u64), [a[t], b[t]], start);
        alone[0].set(s(t as u64), [a[t]], start);
        alone[1].set(s(t as u64), [b[t]], start);
    }
    let end = s(a.len() as u64);
    together.close(end, start);
    alone.iter_mut().for_each(|g| g.close(end, start));
    let second = u128::from(SimDuration::from_secs(1).ticks());
    let by_hand =
        |levels: &[u64]| levels[10..].iter().map(|&l| u128::from(l)).sum::<u128>() * second;
    assert_eq!(together.area, [by_hand(&a), by_hand(&b)]);
    assert_eq!(together.area, [alone[0].area[0], alone[1].area[0]]);
    // b's 9 ends before the window; the 2 it holds at the start counts.
    assert_eq!(together.peak, [8, 7]);
    assert_eq!(together.peak, [alone[0].peak[0], alone[1].peak[0]]);
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

#[test]
fn a_queue_trend_judges_the_second_half_from_the_levels_it_changes_to() {
    // Levels at each second of a 10 s window (the middle at 5 s), set every
    // second, repeats included; the growth per minute and whether the
    // queue grows without bound, worked out by hand from the lists.
    let s = |x| SimTime::ZERO + SimDuration::from_secs(x);
    let per_min = |queued: f64| queued / (5.0 / 60.0);
    let cases: [(&[u64], f64, bool); 4] = [
        // 3 at the middle, 6 at the end, never empty in between: unbounded.
        (&[0, 0, 1, 2, 3, 3, 4, 5, 6, 6], per_min(3.0), true),
        // Holds at 3: no growth.
        (&[3; 10], 0.0, false),
        // Empty from before the middle on, never set to anything else.
        (&[0, 2, 2, 0, 0, 0, 0, 0, 0, 0], 0.0, false),
        // 5 held into the middle, empties, then ends at 7: growth, bounded.
        (&[5, 5, 5, 5, 5, 0, 0, 2, 4, 7], per_min(2.0), false),
    ];
    for (levels, growth, unbounded) in cases {
        let mut trend = QueueTrend {
            middle: s(5),
            at_middle: None,
            emptied_after: false,
            level: 0,
            limited: false,
        };
        for (t, &level) in levels.iter().enumerate() {
            trend.set(s(t as u64), level);
        }
        assert_eq!(trend.verdict(s(10)), (growth, unbounded), "{levels:?}");
    }
}
