use super::*;
use crate::model::measure::by_model::{ByLimit, ModelSummary, Refusals};
use crate::model::measure::pool_summary::{LimitGroupSummary, PoolSummary, SelfHostedSummary};
use crate::model::measure::recovery::FaultVerdict;
use crate::model::measure::summary::ClassSummary;
use crate::model::measure::window::WindowSummary;

/// Catalogue metrics the table leaves to summary.json, and why.
const LEFT_OUT: &[(Scope, &str, &str)] = &[
    (
        Scope::Run,
        "loop_latency_cdf_s",
        "its quantiles draw the sweeps' CDF figures; the table gives percentiles",
    ),
    (
        Scope::Class,
        "loops_completed",
        "the started count and the failed share say it",
    ),
    (
        Scope::Class,
        "loops_failed",
        "the started count and the failed share say it",
    ),
    (
        Scope::Class,
        "loops_in_flight",
        "the run's in-flight count says it",
    ),
    (
        Scope::Window,
        "loops_completed",
        "the started count and the failed share say it",
    ),
    (
        Scope::Window,
        "loops_failed",
        "the started count and the failed share say it",
    ),
    (
        Scope::Window,
        "retry_rate",
        "the window's retries and attempts say it",
    ),
    (
        Scope::Pool,
        "input_tokens",
        "the run's tokens are in the cost section",
    ),
    (
        Scope::Pool,
        "cached_input_tokens",
        "the run's tokens are in the cost section",
    ),
    (
        Scope::Pool,
        "cache_write_tokens",
        "the run's tokens are in the cost section",
    ),
    (
        Scope::Pool,
        "output_tokens",
        "the run's tokens are in the cost section",
    ),
    (
        Scope::Model,
        "cached_input_tokens",
        "the model's input tokens include them",
    ),
    (
        Scope::Model,
        "cache_write_tokens",
        "the model's input tokens include them",
    ),
];

fn percentiles() -> Option<Percentiles> {
    Some(Percentiles {
        p50: 1.0,
        p90: 1.8,
        p95: 2.0,
        p99: 3.0,
        max: 4.0,
        mean: 1.5,
    })
}

/// One 429 from each limit.
fn every_limit() -> ByLimit {
    ByLimit {
        requests_per_min: 1,
        input_tokens_per_min: 1,
        output_tokens_per_min: 1,
        tokens_per_min: 1,
        max_concurrency: 1,
        ramp_limit: 1,
    }
}

/// A pool refused once for every reason, six times by its own limits
/// and once by a shared one.
fn pool(name: &str, hosted: bool) -> PoolSummary {
    PoolSummary {
        name: name.to_owned(),
        kind: "reserved".to_owned(),
        rate_limited: 7,
        refusals: Refusals {
            rate_limited_by: every_limit(),
            first_limit: Some("max_concurrency".to_owned()),
            first_limit_s: Some(30.0),
        },
        rate_limited_by_shared_limits: 1,
        overloaded: 1,
        queue_rejected: 1,
        too_large: 1,
        unavailable: 1,
        server_errors: 1,
        timed_out: 1,
        expired: 1,
        cool_downs: 1,
        self_hosted: hosted.then(|| SelfHostedSummary {
            time_to_first_token_s: percentiles(),
            ..SelfHostedSummary::default()
        }),
        ..PoolSummary::default()
    }
}

/// A summary with every part and every count that can hide a line above
/// zero: two classes, a window, a fault, a self-hosted pool and another,
/// a rate-limited model, warm and cold loops and a growing lane queue.
fn everything() -> Summary {
    let class = ClassSummary {
        loops_started: 1,
        loops_failed_share: Some(0.5),
        loop_latency_s: percentiles(),
        interarrival_cv: Some(1.0),
        sessions_per_min: Some(1.0),
        ..ClassSummary::default()
    };
    let group = LoopGroupSummary {
        loops_completed: 1,
        loops_failed: 1,
        loops_failed_share: Some(0.5),
        loops_per_min: 1.0,
        loop_latency_s: percentiles(),
    };
    let every_limit = every_limit();
    Summary {
        model: "everything".to_owned(),
        loops_started: 3,
        loops_failed: 1,
        loops_failed_share: Some(1.0 / 3.0),
        throttled: 1,
        rate_limited: 5,
        refusals: Refusals {
            rate_limited_by: every_limit,
            first_limit: Some("requests_per_min".to_owned()),
            first_limit_s: Some(90.0),
        },
        unavailable: 1,
        server_errors: 1,
        expired: 1,
        rejected_locally: 1,
        retries_denied: 1,
        queue_rejected: 1,
        too_large: 1,
        lane_utilization: Some(0.5),
        lane_queue_unbounded: Some(true),
        lane_queue_growth_per_min: Some(2.0),
        waited_share: Some(0.25),
        cache_write_tokens: 1,
        long_context_input_tokens: Some(1),
        classes: [("a", class.clone()), ("b", class)]
            .map(|(n, c)| (n.to_owned(), c))
            .into(),
        faults: vec![FaultVerdict {
            kind: "outage".to_owned(),
            recovered: Some(true),
            recovery_s: Some(60.0),
            ..FaultVerdict::default()
        }],
        windows: vec![WindowSummary {
            name: "surge".to_owned(),
            ..WindowSummary::default()
        }],
        pools: vec![pool("p", true), pool("q", false)],
        by_model: vec![ModelSummary {
            name: "m".to_owned(),
            rate_limited: 5,
            refusals: Refusals {
                rate_limited_by: every_limit,
                first_limit: Some("requests_per_min".to_owned()),
                first_limit_s: Some(90.0),
            },
            ..ModelSummary::default()
        }],
        limits: vec![LimitGroupSummary {
            name: "preset_limit.x".to_owned(),
            pools: vec!["p".to_owned(), "q".to_owned()],
            rate_limited: 5,
            refusals: Refusals {
                rate_limited_by: every_limit,
                first_limit: Some("tokens_per_min".to_owned()),
                first_limit_s: Some(60.0),
            },
        }],
        spend_cap_month_share: 0.25,
        warm_loops: Some(group.clone()),
        cold_loops: Some(group),
        ..Summary::default()
    }
}

#[test]
fn the_table_names_every_catalogue_metric_but_those_it_leaves_out_and_nothing_else() {
    let table = noted(&everything(), None);
    for (scope, name) in &table.named {
        assert!(
            scope.find(name).is_some(),
            "the table shows {name} ({scope:?}), which the catalogue does not know"
        );
    }
    for scope in Scope::ALL {
        for m in scope.metrics() {
            let shown = table.named.iter().any(|(s, n)| *s == scope && n == m.name);
            let left_out = LEFT_OUT.iter().any(|&(s, n, _)| s == scope && n == m.name);
            assert!(
                shown || left_out,
                "{} ({scope:?}) is in the catalogue but not in the table",
                m.name
            );
            assert!(
                !(shown && left_out),
                "{} ({scope:?}) is shown, yet listed as left out",
                m.name
            );
        }
    }
    for &(scope, name, why) in LEFT_OUT {
        assert!(
            scope.find(name).is_some(),
            "{name} left out ({why}) is no metric"
        );
    }
}

#[test]
fn each_metric_named_is_written_in_the_catalogues_words() {
    let table = noted(&everything(), None);
    for (scope, name) in &table.named {
        let (m, _) = scope.find(name).expect("checked above");
        // The percentile rows take the metric's words in full.
        assert!(
            table.out.contains(m.short) || table.out.contains(m.label),
            "{name}: neither {:?} nor {:?} is in\n{}",
            m.short,
            m.label,
            table.out
        );
    }
}

#[test]
fn a_count_that_is_zero_hides_its_line_and_a_plain_run_has_no_part_sections() {
    let plain = render(&Summary::default(), None);
    for hidden in [
        "held by client throttle",
        "unavailable (503)",
        "failed because",
        "UNSTABLE",
        "\nclasses",
        "\nwindows",
        "\npools",
        "\nmodels",
        "\nfaults",
        "warm loops",
    ] {
        assert!(!plain.contains(hidden), "{hidden} shown in\n{plain}");
    }
    let full = render(&everything(), None);
    for shown in [
        "held by client throttle",
        "failed because",
        "UNSTABLE",
        "\npools",
    ] {
        assert!(full.contains(shown), "{shown} missing from\n{full}");
    }
}

#[test]
fn a_grid_aligns_each_column_to_its_widest_cell() {
    let mut t = Table {
        out: String::new(),
        named: Vec::new(),
    };
    t.grid(
        1,
        vec!["name".to_owned(), "n".to_owned()],
        vec![
            vec!["a".to_owned(), "12345".to_owned()],
            vec!["longer name".to_owned(), "7".to_owned()],
        ],
    );
    assert_eq!(
        t.out,
        "  name             n\n  a            12345\n  longer name      7\n"
    );
}

#[test]
fn a_model_with_a_start_shows_clock_times() {
    let summary = Summary {
        duration_s: 86_400.0,
        start_in_week_s: Some((4.0 * 24.0 + 12.0) * 3600.0),
        windows: vec![WindowSummary {
            name: "saturday".to_owned(),
            start_s: 12.0 * 3600.0,
            end_s: 18.0 * 3600.0,
            ..WindowSummary::default()
        }],
        ..Summary::default()
    };
    let text = render(&summary, None);
    assert!(text.contains("simulated 86400 s from Fri 12:00,"), "{text}");
    assert!(text.contains("saturday  Sat 00:00-Sat 06:00"), "{text}");
    // Without a start: offsets in seconds, as before.
    let offsets = render(
        &Summary {
            start_in_week_s: None,
            ..summary
        },
        None,
    );
    assert!(offsets.contains("43200-64800"), "{offsets}");
}

/// Every share the table writes reads as a percentage: the run's retry
/// rate, failed share, share of attempts that waited and lane utilization.
#[test]
fn shares_are_written_as_percentages() {
    let s = Summary {
        retry_rate: Some(0.2537),
        loops_failed_share: Some(0.0413),
        waited_share: Some(0.0071),
        lane_utilization: Some(0.875),
        loops_started: 10,
        loops_failed: 1,
        calls: 7,
        attempts: 10,
        retries: 3,
        ..Summary::default()
    };
    let out = render(&s, None);
    for shown in ["25.4%", "4.1%", "0.7%", "87.5%"] {
        assert!(out.contains(shown), "no {shown} in\n{out}");
    }
    for raw in ["0.254", "0.041", "0.007", "0.875"] {
        assert!(!out.contains(raw), "{raw} in\n{out}");
    }
}
