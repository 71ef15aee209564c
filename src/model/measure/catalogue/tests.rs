use super::*;

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

#[test]
fn a_latency_has_the_failed_share_of_the_loops_it_describes_beside_it() {
    assert_eq!(
        failed_share_beside("loop_latency_s.p99").as_deref(),
        Some("loops_failed_share")
    );
    assert_eq!(
        failed_share_beside("windows.surge.loop_latency_s.p99").as_deref(),
        Some("windows.surge.loops_failed_share")
    );
    assert_eq!(
        failed_share_beside("classes.big.queue_wait_s.mean").as_deref(),
        Some("classes.big.loops_failed_share")
    );
    // A time to first token, a rate: no latency of loops.
    assert_eq!(
        failed_share_beside("pools.gpu.time_to_first_token_s.p95"),
        None
    );
    assert_eq!(failed_share_beside("loops_per_min"), None);
    // A share of attempts that waited is no wait.
    assert_eq!(failed_share_beside("waited_share"), None);
    assert!(is_latency("loop_latency_p99_s") && !is_latency("loops_failed"));
}
