//! Faults and resilience policies, through the whole system.

use loopcap::model;

use crate::support::{BASE, assert_conserved, run, shipped};

/// The whole run (10 minutes) under one fault, which outlasts it: a fault
/// ending exactly at the horizon would end within the run.
fn throughout(fault: &str) -> String {
    format!("fault=[{{ {fault}, at = \"0s\", for = \"1h\" }}]")
}

#[test]
fn an_outage_refuses_everything_while_it_lasts() {
    let s = run(
        BASE,
        &[&throughout("kind = \"outage\""), "client.max_attempts=2"],
    );
    assert_eq!(s.loops_completed, 0);
    assert_eq!(s.unavailable, s.attempts, "every attempt got a 503");
    assert_eq!(s.loops_failed, s.loops_failed_exhausted);
    assert_conserved(&s, "outage");
}

#[test]
fn a_latency_spike_stretches_service() {
    // 3 steps of exactly 1 s on ample lanes: 3 s per loop, 9 s under a 3x spike.
    let common = ["capacity.time_to_first_token=\"1s\"", "capacity.lanes=100"];
    let normal = run(BASE, &common);
    let spiked = run(
        BASE,
        &[
            common[0],
            common[1],
            &throughout("kind = \"latency_spike\", factor = 3"),
        ],
    );
    assert_eq!(normal.loop_latency_s.unwrap().max, 3.0);
    assert_eq!(spiked.loop_latency_s.unwrap().max, 9.0);
}

#[test]
fn a_capacity_drop_cuts_lanes_and_concurrency() {
    let lanes = run(
        BASE,
        &[
            "capacity.lanes=10",
            &throughout("kind = \"capacity_drop\", factor = 0.3"),
        ],
    );
    assert_eq!(lanes.peak_in_flight, 3);
    let shared = run(
        BASE,
        &[
            "capacity={ kind = \"shared_api\", max_concurrency = 10, time_to_first_token = { dist = \"exponential\", mean = \"5s\" } }",
            &throughout("kind = \"capacity_drop\", factor = 0.3"),
        ],
    );
    assert_eq!(shared.peak_in_flight, 3);
    assert!(shared.rate_limited > 0);
}

#[test]
fn a_capacity_drop_ends_and_queued_work_takes_the_lanes_back() {
    // Two lanes for the first 5 minutes of a 10-minute run under a load they
    // cannot carry, then ten: the queue built up starts at once on the lanes
    // given back.
    let s = run(
        BASE,
        &[
            "capacity.lanes=10",
            "workload.users.arrivals.per_min=200",
            "fault=[{ kind = \"capacity_drop\", factor = 0.2, at = \"0s\", for = \"5m\" }]",
        ],
    );
    assert_eq!(s.peak_in_flight, 10);
    assert_conserved(&s, "drop then back");
}

#[test]
fn an_error_burst_makes_one_over_one_minus_p_attempts_per_call() {
    // With failure probability p and up to 4 attempts, a call makes
    // 1 + p + p² + p³ = (1 − p⁴)/(1 − p) attempts: 1.875 at p = 0.5. About
    // 1,800 calls: the mean's standard error is ~2%, so 6% is three of them.
    let s = run(
        BASE,
        &[
            &throughout("kind = \"error_burst\", probability = 0.5"),
            "client.max_attempts=4",
            "capacity.lanes=100",
        ],
    );
    let per_call = s.attempts as f64 / s.calls as f64;
    assert!((per_call - 1.875).abs() / 1.875 < 0.06, "{per_call}");
    // Each attempt fails with p: ~3,400 attempts give a share within ±0.03
    // (3.5 standard errors).
    let share = s.server_errors as f64 / s.attempts as f64;
    assert!((share - 0.5).abs() < 0.03, "{share}");
}

/// models/metastable.toml with another client policy list.
fn metastable(policy: &str) -> loopcap::model::measure::summary::Summary {
    let spec = shipped("metastable.toml", &[&format!("client.policy={policy}")]);
    model::simulate(&spec, false).unwrap().summary
}

#[test]
fn naive_retries_stay_stuck_and_a_retry_budget_or_adaptive_throttling_recovers() {
    let naive = metastable("[]");
    let stuck = &naive.faults[0];
    assert_eq!(stuck.recovered, Some(false));
    assert!(stuck.goodput_after_per_min.unwrap() < 0.1 * stuck.goodput_before_per_min.unwrap());
    for policy in [
        "[{ kind = \"retry_budget\", budget_percent = 20 }]",
        "[{ kind = \"adaptive_throttle\", k = 2 }]",
    ] {
        let s = metastable(policy);
        let v = &s.faults[0];
        assert_eq!(v.recovered, Some(true), "{policy}");
        assert!(
            v.recovery_s.unwrap() < 300.0,
            "{policy}: {:?}",
            v.recovery_s
        );
        assert!(v.goodput_after_per_min.unwrap() > 0.9 * v.goodput_before_per_min.unwrap());
    }
}

/// A 20 s outage is too short for its 503s to raise adaptive throttling's
/// rejection rate before the herd fills the queue past the timeout. Timed-out
/// attempts count against accepts (as gRPC's throttler counts a deadline
/// exceeded), so the throttle then sheds load and the lanes recover; counted
/// as accepted because the lanes queued them, it stayed stuck (goodput 0.66
/// loops/min after the outage, before 2026-11-29).
#[test]
fn adaptive_throttling_counts_timeouts_against_accepts_and_recovers_from_a_short_outage() {
    let spec = shipped(
        "metastable.toml",
        &[
            "client.policy=[{ kind = \"adaptive_throttle\", k = 2 }]",
            "fault.0.for=20s",
        ],
    );
    let s = model::simulate(&spec, false).unwrap().summary;
    let v = &s.faults[0];
    assert_eq!(v.recovered, Some(true), "{v:?}");
    assert!(v.goodput_after_per_min.unwrap() > 0.9 * v.goodput_before_per_min.unwrap());
    // The naive client is stuck after the same outage: the outage matters.
    let naive = model::simulate(&shipped("metastable.toml", &["fault.0.for=20s"]), false)
        .unwrap()
        .summary;
    assert_eq!(naive.faults[0].recovered, Some(false));
}

#[test]
fn a_retry_budget_bounds_retries_by_requests_in_progress() {
    // Naive retries after the outage make most attempts retries; with a
    // budget of 20% (and the floor of 3 concurrent retries) they stay a
    // small share, and the refused retries are counted.
    let naive = metastable("[]");
    let budget =
        metastable("[{ kind = \"retry_budget\", budget_percent = 20, min_retry_concurrency = 3 }]");
    assert!(naive.retry_rate.unwrap() > 0.8, "{:?}", naive.retry_rate);
    assert!(budget.retry_rate.unwrap() < 0.05, "{:?}", budget.retry_rate);
    assert!(budget.retries_denied > 0);
    assert_eq!(budget.loops_failed_denied, budget.retries_denied);
}

#[test]
fn the_grpc_retry_throttle_stops_retries_under_persistent_failure() {
    // Half of all attempts fail (far above r/(1+r) = 9.1%): the token count
    // sinks to half within a few dozen failures and retries nearly stop.
    let errors = throughout("kind = \"error_burst\", probability = 0.5");
    let common = [
        errors.as_str(),
        "client.max_attempts=10",
        "capacity.lanes=100",
    ];
    let free = run(BASE, &common);
    let mut throttled = common.to_vec();
    throttled
        .push("client.policy=[{ kind = \"retry_throttle\", max_tokens = 10, token_ratio = 0.1 }]");
    let t = run(BASE, &throttled);
    // Unthrottled, a call makes ~2 attempts (1 + 0.5 + 0.25 + ...).
    assert!(free.retries as f64 > 0.9 * free.calls as f64);
    assert!(
        (t.retries as f64) < 0.05 * t.calls as f64,
        "{} retries for {} calls",
        t.retries,
        t.calls
    );
    assert!(t.retries_denied > t.retries);
}

#[test]
fn the_aws_retry_quota_pays_for_100_retries_and_no_more_without_successes() {
    // An outage all run long: no success ever refunds the quota, and each
    // retry costs 5 of its 500 units.
    let s = run(
        BASE,
        &[
            &throughout("kind = \"outage\""),
            "client.max_attempts=10",
            "client.policy=[{ kind = \"retry_quota\" }]",
        ],
    );
    assert_eq!(s.retries, 100);
    assert!(s.retries_denied > 0);
}

#[test]
fn adaptive_throttling_sends_about_k_times_what_the_backend_accepts() {
    // 600 calls a minute into a 60 requests/min limit: with K = 2 the client
    // sends about 120 a minute to the provider and rejects the rest itself.
    // ~1,100 attempts reach the provider in 9 minutes; 10% is several
    // standard errors of the ratio.
    let s = run(
        BASE,
        &[
            "workload.users.arrivals.per_min=200",
            "warmup=1m",
            "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"200ms\" }",
            "client={ max_attempts = 5, backoff = { kind = \"constant\", delay = \"1s\" }, honor_retry_after = false, policy = [{ kind = \"adaptive_throttle\", k = 2, window = \"1m\" }] }",
        ],
    );
    let accepted = s.attempts - s.rate_limited;
    let ratio = s.attempts as f64 / accepted as f64;
    assert!(
        (ratio - 2.0).abs() < 0.2,
        "{} sent, {accepted} accepted",
        s.attempts
    );
    assert!(s.rejected_locally > s.attempts);
}

#[test]
fn a_circuit_breaker_fails_fast_while_the_provider_is_down() {
    // An outage all run long: after 5 straight failures the breaker opens
    // for 10 s, then lets 1 probe through, which fails and reopens it. The
    // provider sees about 5 + 600 s / 10 s attempts; the rest fail locally.
    let s = run(
        BASE,
        &[
            &throughout("kind = \"outage\""),
            "client.max_attempts=10",
            "client.policy=[{ kind = \"circuit_breaker\", failure_threshold = 5, open_for = \"10s\", probes = 1 }]",
        ],
    );
    assert!(
        s.attempts <= 5 + 60 + 1,
        "{} attempts reached the provider",
        s.attempts
    );
    assert!(s.rejected_locally > 10 * s.attempts);
    assert_eq!(s.unavailable, s.attempts);
}

/// 200 agents fire at once into a bucket of 60 requests/min (one a second).
const BURST: &str = "
name = \"burst\"
seed = 9
duration = \"110m\"

[[workload]]
name = \"agents\"
agent = \"a\"
users = 200
think_time = \"1h\"

[agents.a]
steps = 1
input_tokens = 100
output_tokens = 10

[capacity]
kind = \"shared_api\"
requests_per_min = 60
time_to_first_token = \"100ms\"

[client]
max_attempts = 100
backoff = { kind = \"exponential\", base = \"1s\", cap = \"30s\", jitter = \"full\" }
honor_retry_after = true
";

#[test]
fn a_shared_backoff_makes_one_429_slow_every_agent() {
    let alone = run(BURST, &[]);
    let shared = run(
        BURST,
        &["client.policy=[{ kind = \"coordinated\", shared_backoff = true }]"],
    );
    assert_eq!(shared.loops_completed, 200);
    // Each refused agent otherwise comes back on its own retry-after, all at
    // the same instants; sharing the pause lines them up behind the bucket.
    assert!(
        shared.rate_limited * 5 < alone.rate_limited,
        "{} vs {} 429s",
        shared.rate_limited,
        alone.rate_limited
    );
}

#[test]
fn a_team_gate_serves_higher_priorities_first() {
    // Two classes, 100 arrivals a minute each, through a gate of 150 a
    // minute: the critical class waits at the gate far less.
    let model = "
name = \"priorities\"
seed = 4
duration = \"1h\"
warmup = \"10m\"

[[workload]]
name = \"critical\"
agent = \"a\"
priority = 9
arrivals = { process = \"poisson\", per_min = 100 }

[[workload]]
name = \"batch\"
agent = \"a\"
arrivals = { process = \"poisson\", per_min = 100 }

[agents.a]
steps = 1
input_tokens = 100
output_tokens = 10
deadline = \"5m\"

[capacity]
kind = \"shared_api\"
time_to_first_token = \"1s\"

[client]
policy = [{ kind = \"coordinated\", requests_per_min = 150, burst = 5 }]
";
    let s = run(model, &[]);
    let p99 = |class: &str| s.classes[class].loop_latency_s.unwrap().p99;
    assert!(p99("critical") < 5.0, "critical p99 {}", p99("critical"));
    assert!(
        p99("batch") > 10.0 * p99("critical"),
        "batch p99 {}",
        p99("batch")
    );
    assert_eq!(s.classes["critical"].loops_failed, 0);
}

#[test]
fn a_spend_cap_pauses_every_agent_until_the_next_period() {
    // Uncapped, the model spends about $5 an hour; capped at $1 an hour, it
    // may overshoot only by what was in flight when the cap was reached.
    let priced = [
        "duration=3h",
        "agents.a.input_tokens=10000",
        "prices={ input_per_mtok = 3.0 }",
    ];
    let free = run(BASE, &priced);
    let mut capped = priced.to_vec();
    capped.push(
        "client.policy=[{ kind = \"coordinated\", spend_cap_usd = 1.0, spend_period = \"1h\" }]",
    );
    let c = run(BASE, &capped);
    assert!(free.cost_usd > 10.0, "uncapped {}", free.cost_usd);
    assert!(c.cost_usd <= 3.0 * 1.0 + 0.2, "capped {}", c.cost_usd);
    assert!(
        c.cost_usd > 2.5,
        "the cap, not something else, limits spend: {}",
        c.cost_usd
    );
}
