use super::*;
use crate::model::measure::percentiles::{CDF_QUANTILES, quantile_name};
use crate::model::measure::summary::Summary;

/// Every column of a summary with every part: two classes, two faults, a
/// window, a self-hosted pool and another, and a reported model.
fn every_column() -> Vec<String> {
    Summary::metric_names(["a", "b"], 2, ["w"], [("p", true), ("q", false)], ["m"])
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
        Form::Percentiles => ["p50", "p95", "p99", "max", "mean"]
            .map(|s| format!("{name}.{s}"))
            .to_vec(),
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
            Scope::Run | Scope::WarmLoops | Scope::ColdLoops => vec![""],
        }
    };
    let mut rebuilt = Vec::new();
    for scope in Scope::ALL {
        for owner in owners(scope) {
            for m in scope.metrics() {
                // Only a self-hosted pool has replica figures.
                let hosted_only = scope == Scope::Pool
                    && POOL.iter().position(|p| p.name == "mean_replicas")
                        <= POOL.iter().position(|p| p.name == m.name);
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

#[test]
fn a_column_reads_as_its_metric_scope_owner_and_statistic() {
    let named = find("windows.surge-a-1.loop_latency_s.p99").expect("a window column");
    assert_eq!(
        (named.metric.name, named.scope, named.owner, named.statistic),
        ("loop_latency_s", Scope::Window, "surge-a-1", Some("p99"))
    );
    assert_eq!(named.label(), "p99 loop latency (s), window surge-a-1");
    assert_eq!(
        find("loops_per_min").map(|n| n.label()).as_deref(),
        Some("loops per minute")
    );
    assert_eq!(
        find("cost_usd").map(|n| n.label()).as_deref(),
        Some("cost (US$)")
    );
    assert_eq!(
        find("pools.gpu.output_tokens_per_s")
            .map(|n| n.label())
            .as_deref(),
        Some("output tokens per second, pool gpu")
    );
    assert_eq!(
        find("fault.0.goodput_after_per_min")
            .map(|n| n.label())
            .as_deref(),
        Some("goodput after per minute, fault 0")
    );
    // A distribution named whole (a figure's prefix) is found; a statistic it
    // does not have, or one of a plain value, is not.
    assert_eq!(find("loop_latency_s").map(|n| n.statistic), Some(None));
    assert!(find("loop_latency_s.p42").is_none());
    assert!(find("loops_per_min.p99").is_none());
    assert!(find("loop_latency_cdf_s.q999").is_some());
    assert!(find("classes.a.no_such_metric").is_none());
}

#[test]
fn a_table_names_a_column_by_its_short_words() {
    assert_eq!(Scope::Run.short_label("loop_latency_s.p50"), "p50 s");
    assert_eq!(Scope::Pool.short_label("rate_limited"), "429s");
    assert_eq!(Scope::Run.short_label("rate_limited"), "rate limited (429)");
    assert_eq!(Scope::Fault.short_label("start_s"), "start_s");
}
