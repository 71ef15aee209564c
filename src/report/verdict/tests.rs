use super::*;
use crate::model::measure::by_model::Refusals;
use crate::model::measure::percentiles::Percentiles;
use crate::model::measure::window::WindowSummary;

fn latency(p99: f64) -> Option<Percentiles> {
    Some(Percentiles {
        p50: p99 / 4.0,
        p90: p99 / 2.5,
        p95: p99 / 2.0,
        p99,
        max: p99 * 2.0,
        mean: p99 / 3.0,
    })
}

/// A two-hour run whose `failed` of 1,000 ended loops failed, retries exhausted.
fn run(failed: u64) -> Summary {
    Summary {
        duration_s: 7200.0,
        warmup_s: 0.0,
        loops_completed: 1000 - failed,
        loops_failed: failed,
        loops_failed_exhausted: failed,
        loops_failed_share: Some(failed as f64 / 1000.0),
        loops_per_min: 8.3,
        loop_latency_s: latency(42.0),
        ..Summary::default()
    }
}

fn shared(name: &str, by: ByLimit, first: &str, first_s: f64) -> PoolSummary {
    PoolSummary {
        name: name.to_owned(),
        kind: "shared_api".to_owned(),
        refusals: Refusals {
            rate_limited_by: by,
            first_limit: Some(first.to_owned()),
            first_limit_s: Some(first_s),
        },
        ..PoolSummary::default()
    }
}

#[test]
fn a_run_without_failures_says_so_with_its_throughput_p99_and_month() {
    let mut s = run(0);
    s.cost_per_month_usd = 183_456.4;
    let v = of_run(&s);
    assert_eq!(
        v.headline,
        "Every loop completed: 8.3 loops/min, p99 42.0 s, $183,456 a month."
    );
    assert!(v.notes.is_empty(), "{:?}", v.notes);
}

#[test]
fn failures_lead_with_their_share_their_reason_and_the_limit_that_binds_first() {
    let mut s = run(811);
    s.pools = vec![
        shared(
            "tier4",
            ByLimit {
                requests_per_min: 30,
                ..ByLimit::default()
            },
            "requests_per_min",
            900.0,
        ),
        shared(
            "tier2",
            ByLimit {
                requests_per_min: 10,
                input_tokens_per_min: 90,
                ..ByLimit::default()
            },
            "input_tokens_per_min",
            190.0,
        ),
    ];
    let v = of_run(&s);
    assert!(
        v.headline.starts_with(
            "81% of loops fail (811 of 1000, 811 retries exhausted): input tokens/min on tier2 binds from minute 3;"
        ),
        "{}",
        v.headline
    );
    // The first pool to bind is in the headline; the other pool gets a note.
    assert!(
        v.notes.contains(
            &"Pool tier4: requests/min binds first, from minute 15, and refuses most (100% of its 30 429s).".to_owned()
        ),
        "{:?}",
        v.notes
    );
    assert!(!v.notes.iter().any(|n| n.starts_with("Pool tier2")));
}

#[test]
fn a_limit_that_binds_first_but_refuses_less_gets_a_note_naming_both() {
    let mut s = run(50);
    s.refusals = Refusals {
        rate_limited_by: ByLimit {
            requests_per_min: 1,
            output_tokens_per_min: 3,
            ..ByLimit::default()
        },
        first_limit: Some("requests_per_min".to_owned()),
        first_limit_s: Some(30.0),
    };
    let v = of_run(&s);
    assert!(
        v.headline.contains(": requests/min binds from 30 s;"),
        "{}",
        v.headline
    );
    assert!(
        v.notes.contains(
            &"The pool: requests/min binds first, from 30 s; output tokens/min refuses most (75% of its 4 429s).".to_owned()
        ),
        "{:?}",
        v.notes
    );
}

#[test]
fn a_p99_is_called_a_survivors_p99_once_more_than_one_loop_in_a_hundred_fails() {
    let survivors = |failed| {
        of_run(&run(failed))
            .notes
            .iter()
            .any(|n| n.contains("survivors' p99"))
    };
    // 1.0% failed: the p99 of all loops is still the slowest completed.
    assert!(!survivors(10));
    assert!(survivors(11));
    let note = of_run(&run(500)).notes.join(" ");
    assert!(
        note.contains("counts only the 50% of loops that completed"),
        "{note}"
    );
}

#[test]
fn an_autoscaler_flaps_when_it_starts_more_than_twice_its_headroom_a_day() {
    let hosted = |cold_starts| {
        let mut s = run(0);
        s.pools = vec![PoolSummary {
            name: "gpus".to_owned(),
            kind: "self_hosted".to_owned(),
            self_hosted: Some(SelfHostedSummary {
                cold_starts,
                min_replicas: 1,
                max_replicas: 4,
                ..SelfHostedSummary::default()
            }),
            ..PoolSummary::default()
        }];
        of_run(&s).notes
    };
    // Headroom 3, a two-hour run counts as one day: 6 starts allowed.
    assert!(hosted(6).is_empty());
    let notes = hosted(7);
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].starts_with(
            "The autoscaler of pool gpus flaps: it started 7 replicas in 2.0 h against a cap of 4 (2.3 starts"
        ),
        "{}",
        notes[0]
    );
}

#[test]
fn the_worst_window_is_named_when_it_fails_more_than_the_run() {
    let mut s = run(10);
    s.start_in_week_s = Some(86_400.0 + 15.0 * 3600.0);
    s.windows = vec![WindowSummary {
        name: "surge".to_owned(),
        start_s: 600.0,
        end_s: 1800.0,
        loops_failed_share: Some(0.12),
        loop_latency_s: latency(90.0),
        ..WindowSummary::default()
    }];
    let v = of_run(&s);
    assert_eq!(
        v.notes,
        ["Worst window: surge (Tue 15:10 to Tue 15:30), 12% of loops fail, p99 90.0 s."]
    );
    s.windows[0].loops_failed_share = Some(0.009);
    assert!(of_run(&s).notes.is_empty());
}

#[test]
fn nothing_ended_is_said_plainly() {
    let s = Summary {
        loops_in_flight: 3,
        ..Summary::default()
    };
    assert_eq!(
        of_run(&s).headline,
        "No loop ended in the measured window (3 still running at the end)."
    );
}

#[test]
fn shares_keep_the_digits_that_tell_them_from_none_and_all() {
    assert_eq!(percent(0.0), "0%");
    assert_eq!(percent(0.000_38), "0.04%");
    assert_eq!(percent(0.054), "5.4%");
    assert_eq!(percent(0.8113), "81%");
    assert_eq!(percent(0.946), "94.6%");
    assert_eq!(percent(0.9999), "99.99%");
    assert_eq!(percent(1.0), "100%");
    assert_eq!(seconds(4.951), "4.95 s");
    assert_eq!(seconds(1200.0), "20.0 min");
    assert_eq!(dollars(251.4), "$251");
    assert_eq!(dollars(1_234_567.0), "$1,234,567");
}

/// Without a 429, the headline names what refused most attempts; a lane
/// queue that never empties gets its note.
#[test]
fn without_a_rate_limit_the_refusal_that_counted_most_is_named() {
    let mut s = run(100);
    s.overloaded = 40;
    s.timeouts = 70;
    s.queue_rejected = 5;
    let v = of_run(&s);
    assert!(
        v.headline.starts_with(
            "10% of loops fail (100 of 1000, 100 retries exhausted): 70 attempts timed out;"
        ),
        "{}",
        v.headline
    );
    s.lane_queue_unbounded = Some(true);
    s.lane_queue_growth_per_min = Some(2.5);
    assert!(
        of_run(&s)
            .notes
            .iter()
            .any(|n| n.starts_with("The lanes' queue grows by 2.5 a minute")),
    );
}
