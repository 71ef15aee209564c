//! Windows: surges, faults and named stretches of time reported on their own.

use crate::support::{BASE, load_error, run, spec};

/// BASE on a shared API tight enough to refuse and retry, with warm-up.
fn pressed(extra: &[&str]) -> loopcap::model::measure::summary::Summary {
    let shared = [
        "capacity={ kind = \"shared_api\", requests_per_min = 200, time_to_first_token = { dist = \"exponential\", mean = \"2s\" }, max_concurrency = 3 }",
        "client.max_attempts=3",
        "warmup=2m",
        "duration=30m",
    ];
    run(BASE, &[&shared[..], extra].concat())
}

#[test]
fn a_window_over_the_whole_measured_horizon_agrees_with_the_summary() {
    // The summary counts the cohort after warm-up and everything inside the
    // measured window through its own code; a window covering exactly that
    // span must come to the same figures through the window's.
    let s = pressed(&["window=[{ name = \"all\", at = \"2m\", for = \"28m\" }]"]);
    assert!(
        s.rate_limited > 0 && s.retries > 0 && s.loops_failed > 0,
        "{s:?}"
    );
    let w = &s.windows[0];
    assert_eq!((w.name.as_str(), w.kind.as_str()), ("all", "window"));
    assert_eq!(w.loops_started, s.loops_started);
    assert_eq!(w.loops_completed, s.loops_completed);
    assert_eq!(w.loops_failed, s.loops_failed);
    assert_eq!(w.loops_failed_share, s.loops_failed_share);
    assert_eq!(w.loop_latency_s, s.loop_latency_s);
    assert_eq!(w.attempts, s.attempts);
    assert_eq!(w.retries, s.retries);
    assert_eq!(w.rate_limited, s.rate_limited);
    assert_eq!(w.retry_rate, s.retry_rate);
    assert_eq!(w.peak_in_flight, s.peak_in_flight);
    assert!((w.cost_usd - s.cost_usd).abs() < 1e-9 * s.cost_usd.max(1.0));
    assert!((w.loops_per_min - s.loops_per_min).abs() < 1e-9);
    let ended = (s.loops_completed + s.loops_failed) as f64;
    assert_eq!(s.loops_failed_share, Some(s.loops_failed as f64 / ended));
}

#[test]
fn surges_and_faults_get_windows_of_their_own_that_split_the_run() {
    let s = pressed(&[
        "workload.users.surges=[{ at = \"10m\", for = \"5m\", factor = 3 }]",
        "fault=[{ kind = \"outage\", at = \"20m\", for = \"1m\" }]",
    ]);
    let names: Vec<(&str, &str)> = s
        .windows
        .iter()
        .map(|w| (w.name.as_str(), w.kind.as_str()))
        .collect();
    assert_eq!(names, [("surge-users-1", "surge"), ("fault-1", "fault")]);
    let (surge, outage) = (&s.windows[0], &s.windows[1]);
    assert_eq!((surge.start_s, surge.end_s), (600.0, 900.0));
    // Three times the arrivals of a 5-minute stretch at 60/min: 900, within
    // a Poisson spread of 30 (4 sd: 120).
    assert!(
        (surge.loops_started as f64 - 900.0).abs() < 120.0,
        "{surge:?}"
    );
    // Every attempt in the outage is refused with a 503, none answered: no
    // loop completes inside it.
    assert_eq!(outage.loops_per_min, 0.0);
    assert!(outage.attempts > 0);
    // The surge presses harder than the run as a whole.
    assert!(
        surge.loops_failed_share > s.loops_failed_share,
        "{surge:?} vs {s:?}"
    );
}

#[test]
fn named_windows_are_checked() {
    let surge = "workload.users.surges=[{ at = \"1m\", for = \"1m\", factor = 2 }]";
    let err = load_error(&[
        surge,
        "window=[{ name = \"surge-users-1\", at = \"1m\", for = \"1m\" }]",
    ]);
    assert!(err.contains("window.0.name: must be non-empty, without dots or commas, and unlike every other window's (got \"surge-users-1\"; taken: surge-users-1)"), "{err}");
    let err = load_error(&["window=[{ name = \"a.b\", at = \"1m\", for = \"1m\" }]"]);
    assert!(err.contains("window.0.name"), "{err}");
    let err = load_error(&["window=[{ name = \"late\", at = \"10m\", for = \"1m\" }]"]);
    assert!(
        err.contains("window.0.at: starts at or after the horizon (10m >= 10m)"),
        "{err}"
    );
    // One past the horizon ends there.
    let spec = spec(
        BASE,
        &["window=[{ name = \"tail\", at = \"9m\", for = \"1h\" }]"],
    );
    let all = spec.all_windows();
    assert_eq!(all[0].end.as_secs_f64(), 600.0);
}
