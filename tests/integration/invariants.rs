//! Invariants over shipped and randomly generated models: every started loop
//! ends completed, failed or still in flight, and no model makes the run panic.

use loopcap::model;
use proptest::prelude::*;

use crate::support::{BASE, assert_conserved, run, shipped, shipped_models};

#[test]
fn shipped_models_conserve_loops() {
    for name in &shipped_models() {
        let s = model::simulate(&shipped(name, &["duration=1h", "warmup=0s"]), false).summary;
        assert_conserved(&s, name);
        assert!(s.loops_started > 0, "{name} started nothing");
        assert_eq!(
            s.attempts,
            s.calls + s.retries,
            "{name}: attempts = calls + retries"
        );
    }
}

/// A random but valid model: any mix of capacity kind, limits, fan-out,
/// timeouts, deadlines, surges and retry policy.
fn random_model() -> impl Strategy<Value = Vec<String>> {
    (
        (1u32..40, 1u32..6, 1u32..5, 0u32..3),
        (any::<bool>(), 1u32..20, 50u32..2000, 1u32..12),
        (1u32..8, 0u32..4, 0u32..4, 0u32..3),
        (any::<bool>(), any::<bool>(), 0u32..5, 0.2f64..4.0),
    )
        .prop_map(
            |(
                (rate, steps, every, width),
                (shared, lanes, rpm, cap),
                (attempts, backoff, timeout, deadline),
                (honour, closed, surge_at, factor),
            )| {
                let mut o = vec![
                    "duration=20m".to_owned(),
                    "warmup=2m".to_owned(),
                    format!("agents.a.steps={{ dist = \"uniform\", min = 1, max = {steps} }}"),
                    "agents.a.input_tokens={ dist = \"lognormal\", median = 500, p99 = 4000 }".to_owned(),
                    "agents.a.output_tokens={ dist = \"exponential\", mean = 50 }".to_owned(),
                    format!("agents.a.fan_out={{ every = {every}, width = {} }}", width + 1),
                    format!("client.max_attempts={attempts}"),
                    format!("client.honor_retry_after={honour}"),
                    format!(
                        "client.backoff={}",
                        [
                            "{ kind = \"none\" }",
                            "{ kind = \"constant\", delay = \"1s\", jitter = \"equal\" }",
                            "{ kind = \"exponential\", base = \"200ms\", cap = \"5s\", jitter = \"full\" }",
                            "{ kind = \"exponential\", base = \"200ms\", cap = \"5s\", jitter = \"decorrelated\" }",
                        ][backoff as usize]
                    ),
                    format!("workload.users.surges=[{{ at = \"{surge_at}m\", for = \"3m\", factor = {factor} }}]"),
                ];
                if closed {
                    // First, so that the surge set above applies to the new class.
                    o.insert(0, format!(
                        "workload.users={{ name = \"users\", agent = \"a\", users = {rate}, think_time = {{ dist = \"exponential\", mean = \"5s\" }} }}"
                    ));
                } else {
                    o.push(format!("workload.users.arrivals.per_min={}", rate * 4));
                }
                if rate % 3 == 0 {
                    o.push(format!("client.agent_rate_limit={{ per_min = {}, burst = {} }}", rate + 5, width + 1));
                }
                if closed {
                    o.push("agents.a.cached_input_share=0.7".to_owned());
                }
                // A fault and a resilience policy, picked by the other draws.
                let fault = [
                    "kind = \"outage\"",
                    "kind = \"latency_spike\", factor = 4",
                    "kind = \"capacity_drop\", factor = 0.3",
                    "kind = \"error_burst\", probability = 0.4",
                ][(rate % 4) as usize];
                o.push(format!("fault=[{{ {fault}, at = \"{}m\", for = \"{}m\" }}]", surge_at + 3, steps));
                let policy = [
                    "{ kind = \"retry_budget\", budget_percent = 20 }",
                    "{ kind = \"retry_throttle\", max_tokens = 10, token_ratio = 0.1 }",
                    "{ kind = \"retry_quota\" }",
                    "{ kind = \"adaptive_throttle\", k = 2 }",
                    "{ kind = \"circuit_breaker\", failure_threshold = 3, open_for = \"5s\", probes = 2 }",
                    "{ kind = \"coordinated\", requests_per_min = 300, burst = 3, spend_cap_usd = 0.5, spend_period = \"5m\" }",
                ];
                o.push(format!(
                    "client.policy=[{}, {}]",
                    policy[(lanes % 6) as usize],
                    policy[((lanes / 6 + 1 + lanes % 6) % 6) as usize]
                ));
                o.push("prices={ input_per_mtok = 3.0, output_per_mtok = 15.0 }".to_owned());
                if timeout > 0 {
                    o.push(format!("client.timeout=\"{}ms\"", timeout * 700));
                }
                if deadline > 0 {
                    o.push(format!("agents.a.deadline=\"{}s\"", deadline * 20));
                }
                if shared {
                    o.push(format!(
                        "capacity={{ kind = \"shared_api\", requests_per_min = {rpm}, input_tokens_per_min = 20000, cache_reads_count = {honour}, output_tokens_per_min = 30000, max_concurrency = {cap}, overload = {{ threshold = 2, saturation = 10, max_probability = 0.3 }}, time_to_first_token = {{ dist = \"gamma\", shape = 2, mean = \"800ms\" }}, output_tokens_per_s = 50 }}"
                    ));
                } else {
                    o.push(format!("capacity.lanes={lanes}"));
                    o.push(format!("capacity.queue_limit={}", lanes * 2));
                }
                o
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_models_conserve_loops_and_attempts(overrides in random_model()) {
        let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
        let s = run(BASE, &refs);
        prop_assert_eq!(s.loops_started, s.loops_completed + s.loops_failed + s.loops_in_flight);
        prop_assert_eq!(s.attempts + s.rejected_locally, s.calls + s.retries);
        // Every attempt is admitted or refused in one way; refusals never
        // outnumber attempts.
        prop_assert!(
            s.rate_limited + s.overloaded + s.queue_rejected + s.too_large + s.unavailable + s.server_errors
                <= s.attempts
        );
        prop_assert_eq!(
            s.loops_failed,
            s.loops_failed_exhausted + s.loops_failed_deadline + s.loops_failed_too_large + s.loops_failed_denied
        );
        prop_assert!(s.retry_rate.is_none_or(|r| (0.0..=1.0).contains(&r)));
        if let Some(l) = s.loop_latency_s {
            prop_assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max);
        }
    }
}
