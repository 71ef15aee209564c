use super::*;
use crate::model::measure::catalogue::find;

#[test]
fn metric_names_do_not_depend_on_values() {
    let empty = Summary::metric_names(
        ["a", "b"],
        0,
        ["w"],
        [("p", false)],
        (["m"], ["preset_limit.x"]),
    );
    let full = Summary {
        loop_latency_s: Some(Percentiles::default()),
        loop_latency_cdf_s: Some(vec![1.0; CDF_QUANTILES.len()]),
        classes: ["a", "b"]
            .map(|c| (c.to_owned(), ClassSummary::default()))
            .into(),
        windows: vec![WindowSummary {
            name: "w".into(),
            loop_latency_s: Some(Percentiles::default()),
            ..WindowSummary::default()
        }],
        pools: vec![PoolSummary {
            name: "p".into(),
            busy_share: Some(0.5),
            ..PoolSummary::default()
        }],
        by_model: vec![ModelSummary {
            name: "m".into(),
            refusals: Refusals {
                first_limit: Some("requests_per_min".into()),
                first_limit_s: Some(12.0),
                ..Refusals::default()
            },
            ..ModelSummary::default()
        }],
        limits: vec![LimitGroupSummary {
            name: "preset_limit.x".into(),
            pools: vec!["p".into()],
            ..LimitGroupSummary::default()
        }],
        ..Summary::default()
    };
    let names: Vec<String> = full.metrics().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, empty);
    assert!(names.contains(&"by_model.m.rate_limited_by.input_tokens_per_min".to_owned()));
    assert!(names.contains(&"windows.w.loop_latency_s.p99".to_owned()));
    assert!(names.contains(&"limits.preset_limit.x.first_limit_s".to_owned()));
    assert!(names.contains(&"loop_latency_cdf_s.q999".to_owned()));
    assert!(names.contains(&"classes.b.loop_latency_s.p99".to_owned()));
    assert!(!names.iter().any(|n| n.starts_with("wall")));
}

#[test]
fn quantiles_are_named_in_percent_or_permille() {
    let names: Vec<String> = [0.05, 0.5, 0.99, 0.999].map(quantile_name).into();
    assert_eq!(names, ["q05", "q50", "q99", "q999"]);
}

/// The metric list is written by hand beside the serde fields (runs.csv
/// names some differently: `fault.0`, `loop_latency_cdf_s.q05`): every
/// numeric field of the JSON summary must have a column, apart from the
/// run's identity and the wall clock, so a field added to the summary
/// cannot silently miss runs.csv.
#[test]
fn every_numeric_summary_field_is_a_metric() {
    fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    leaves(&format!("{prefix}{k}."), v, out);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    leaves(&format!("{prefix}{i}."), v, out);
                }
            }
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                out.push(prefix.trim_end_matches('.').to_owned());
            }
            _ => {}
        }
    }
    let full = Summary {
        loop_latency_s: Some(Percentiles::default()),
        loop_latency_cdf_s: Some(vec![1.0; CDF_QUANTILES.len()]),
        steps_per_loop: Some(Percentiles::default()),
        step_latency_s: Some(Percentiles::default()),
        queue_wait_s: Some(Percentiles::default()),
        retry_rate: Some(0.0),
        amplification: Some(0.0),
        lane_utilization: Some(0.0),
        lane_queue_growth_per_min: Some(0.0),
        lane_queue_unbounded: Some(false),
        waited_share: Some(0.0),
        loops_per_dollar: Some(0.0),
        loops_failed_share: Some(0.0),
        classes: [(
            "a".to_owned(),
            ClassSummary {
                loop_latency_s: Some(Percentiles::default()),
                loops_failed_share: Some(0.0),
                interarrival_cv: Some(0.0),
                sessions_per_min: Some(0.0),
                ..ClassSummary::default()
            },
        )]
        .into(),
        windows: vec![WindowSummary {
            name: "w".into(),
            loops_failed_share: Some(0.0),
            loop_latency_s: Some(Percentiles::default()),
            retry_rate: Some(0.0),
            ..WindowSummary::default()
        }],
        faults: vec![FaultVerdict {
            goodput_before_per_min: Some(0.0),
            goodput_during_per_min: Some(0.0),
            goodput_after_per_min: Some(0.0),
            recovered: Some(true),
            recovery_s: Some(0.0),
            ..FaultVerdict::default()
        }],
        ..Summary::default()
    };
    let mut json = Vec::new();
    leaves("", &serde_json::to_value(&full).unwrap(), &mut json);
    let names: Vec<String> = full.metrics().into_iter().map(|(n, _)| n).collect();
    // The run's identity, the fault's own timing (model input), the wall clock.
    let not_metrics = [
        "seed",
        "duration_s",
        "warmup_s",
        "faults.0.start_s",
        "faults.0.end_s",
        "windows.0.start_s",
        "windows.0.end_s",
        "wall_s",
        "events_per_s",
    ];
    for leaf in json {
        let column = leaf
            .replace("faults.", "fault.")
            .replace("windows.0.", "windows.w.");
        let column = match column.strip_prefix("loop_latency_cdf_s.") {
            Some(i) => format!(
                "loop_latency_cdf_s.{}",
                quantile_name(CDF_QUANTILES[i.parse::<usize>().unwrap()])
            ),
            None => column,
        };
        if not_metrics.contains(&leaf.as_str()) {
            continue;
        }
        assert!(
            names.contains(&column),
            "summary field `{leaf}` has no runs.csv column"
        );
    }
}

/// Every column of a summary with every part: two classes, two faults, a
/// window, a self-hosted pool and another, a reported model, and a group
/// of limits over several pools (its name holds a dot).
pub(crate) fn every_column() -> Vec<String> {
    Summary::metric_names(
        ["a", "b"],
        2,
        ["w"],
        [("p", true), ("q", false)],
        (["m"], ["preset_limit.x"]),
    )
}

/// The columns a catalogue entry stands for, in scope `scope` of `owner`.
fn columns_of(scope: Scope, owner: &str, m: &Metric) -> Vec<String> {
    let prefix = match scope.prefix() {
        None => String::new(),
        Some((first, true)) => format!("{first}.{owner}."),
        Some((first, false)) => format!("{first}."),
    };
    let name = format!("{prefix}{}", m.name);
    match m.form {
        Form::Value => vec![name],
        Form::Percentiles => PERCENTILE_FIELDS.map(|s| format!("{name}.{s}")).to_vec(),
        Form::Quantiles => CDF_QUANTILES
            .iter()
            .map(|&q| format!("{name}.{}", quantile_name(q)))
            .collect(),
    }
}

#[test]
fn every_summary_column_is_catalogued_and_every_entry_is_a_column_in_order() {
    let columns = every_column();
    for column in &columns {
        assert!(find(column).is_some(), "{column} is not in the catalogue");
    }
    // Rebuilt from the catalogue alone, scope by scope in runs.csv's order,
    // the columns are the summary's, in the same order.
    let owners = |scope: Scope| -> Vec<&str> {
        match scope {
            Scope::Class => vec!["a", "b"],
            Scope::Fault => vec!["0", "1"],
            Scope::Window => vec!["w"],
            Scope::Pool => vec!["p", "q"],
            Scope::Model => vec!["m"],
            Scope::Limits => vec!["preset_limit.x"],
            Scope::Run | Scope::WarmLoops | Scope::ColdLoops => vec![""],
        }
    };
    let mut rebuilt = Vec::new();
    for scope in Scope::ALL {
        for owner in owners(scope) {
            for m in scope.metrics() {
                // Only a self-hosted pool has replica figures.
                let hosted_only = scope == Scope::Pool
                    && Scope::Pool
                        .metrics()
                        .iter()
                        .position(|p| p.name == "mean_replicas")
                        <= Scope::Pool.metrics().iter().position(|p| p.name == m.name);
                if hosted_only && owner == "q" || (scope == Scope::Run && m.name == "events") {
                    continue;
                }
                rebuilt.extend(columns_of(scope, owner, m));
            }
        }
    }
    rebuilt.push("events".to_owned());
    assert_eq!(rebuilt, columns);
}
