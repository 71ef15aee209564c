//! Invariants over shipped and randomly generated models. Some hold by
//! construction (counters incremented together) and serve as panic fuzzers;
//! the drain and recount properties can fail: a model stopped and run on
//! must empty completely, and the metrics must agree with an event log kept
//! outside the model.

use loopcap::model::system::Event;
use loopcap::model::{self, Residue, RunError, RunOptions};
use proptest::prelude::*;

use crate::support::{BASE, BUSY_START, assert_conserved, run, shipped, shipped_models, spec};

#[test]
fn shipped_models_conserve_loops() {
    for name in &shipped_models() {
        let s = model::simulate(
            &shipped(name, &["duration=1h", "warmup=0s", BUSY_START]),
            false,
        )
        .unwrap()
        .summary;
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
                        "client.on_call_failure={}",
                        ["abandon", "wait_for_siblings"][(steps % 2) as usize]
                    ),
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

/// `overrides` with arrivals stopped at 20 minutes (a surge of factor 0 that
/// lasts past the horizon), then `drain` to run on. The spend cap is raised
/// a hundredfold: at $0.50 per 5 minutes for calls of up to $0.06, a gate
/// backlog of 20 minutes' arrivals legitimately takes days to clear.
/// Long enough for a retry storm to burn out once arrivals stop (one took
/// more than 5 h); a drained model idles through the rest at no cost.
const DRAIN: &str = "1000h";

fn stopped(overrides: &[String], drain: &str) -> Vec<String> {
    let mut o: Vec<String> = overrides
        .iter()
        .map(|o| match o.strip_prefix("workload.users.surges=[") {
            Some(rest) => format!(
                "workload.users.surges=[{{ at = \"20m\", for = \"1000h\", factor = 0 }}, {rest}"
            ),
            None => o.replace("spend_cap_usd = 0.5,", "spend_cap_usd = 50,"),
        })
        .collect();
    o.push(format!("duration={drain}"));
    o.push("warmup=0s".to_owned());
    o
}

#[test]
fn a_run_cut_short_has_a_residue_and_a_drained_one_none() {
    // The residue can fail: the same busy model, stopped while loops run.
    let busy = [
        "duration=10m",
        "warmup=0s",
        "workload.users.arrivals.per_min=120",
    ];
    let cut = model::simulate(&spec(BASE, &busy), false).unwrap().residue;
    assert!(cut.loops > 0 && cut.calls > 0, "{cut:?}");
    assert!(!cut.is_drained());
    let drained = model::simulate(
        &spec(
            BASE,
            &[
                &busy[1..],
                &[
                    "workload.users.surges=[{ at = \"10m\", for = \"1000h\", factor = 0 }]",
                    "duration=1h",
                ],
            ]
            .concat(),
        ),
        false,
    )
    .unwrap()
    .residue;
    assert_eq!(
        drained,
        Residue {
            buckets_full: true,
            ..Residue::default()
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Stop arrivals and run on: every loop ends, nothing is left in service,
    /// queued, backing off or at the gate, and every bucket refills. A lost
    /// wake-up (a call that waits for an event never scheduled) leaves a
    /// residue here, whatever the counters say.
    #[test]
    fn stopped_models_drain_completely(overrides in random_model()) {
        let o = stopped(&overrides, DRAIN);
        let refs: Vec<&str> = o.iter().map(String::as_str).collect();
        let result = model::simulate(&spec(BASE, &refs), false).unwrap();
        prop_assert!(result.residue.is_drained(), "left behind: {:?}", result.residue);
        let s = &result.summary;
        prop_assert_eq!(s.loops_in_flight, 0);
        prop_assert_eq!(s.loops_started, s.loops_completed + s.loops_failed);
    }

    /// Counters against a recount from the event log: with every call's input
    /// exactly 100 tokens, the input tokens billed are 100 per attempt the
    /// provider finished, i.e. per `AttemptFinished` event.
    #[test]
    fn billed_tokens_match_the_attempts_the_event_log_saw_finish(overrides in random_model()) {
        let mut o = overrides.clone();
        o.push("agents.a.input_tokens=100".to_owned());
        o.push("agents.a.cached_input_share=0".to_owned());
        o.push("warmup=0s".to_owned());
        let refs: Vec<&str> = o.iter().map(String::as_str).collect();
        let mut finished = 0u64;
        let result = model::simulate_with(&spec(BASE, &refs), RunOptions::new(false), |_, event| {
            if matches!(event, Event::AttemptFinished(_)) {
                finished += 1;
            }
        }).unwrap();
        prop_assert_eq!(result.summary.input_tokens, 100 * finished);
        prop_assert_eq!(result.summary.cached_input_tokens, 0);
    }
}

/// [`BASE`] without its capacity: [`random_routed_model`] brings pools.
fn pooled_base() -> String {
    BASE.split("[capacity]").next().unwrap().to_owned()
}

/// [`random_model`]'s draws on pools behind a router of each kind: its
/// lanes and shared API become pools beside a Batch API with tight limits
/// and a completion window that some batches miss, or beside autoscaled
/// self-hosted replicas with a small KV cache, and its fault hits the lanes
/// or every pool.
fn random_routed_model() -> impl Strategy<Value = Vec<String>> {
    (random_model(), 0usize..5, 0usize..2).prop_map(|(overrides, router, fault_pool)| {
        let mut shared = "{ kind = \"shared_api\", requests_per_min = 200, max_concurrency = 3, time_to_first_token = \"1s\" }".to_owned();
        let mut lanes = 3;
        let mut o: Vec<String> = Vec::new();
        for x in overrides {
            if let Some(table) = x.strip_prefix("capacity=") {
                shared = table.to_owned();
            } else if let Some(n) = x.strip_prefix("capacity.lanes=") {
                lanes = n.parse().unwrap();
            } else if let Some(rest) = x.strip_prefix("fault=[{ ") {
                let pool = ["", "pool = \"lanes\", "][fault_pool];
                o.push(format!("fault=[{{ {pool}{rest}"));
            } else if !x.starts_with("capacity.") && !x.starts_with("prices=") {
                o.push(x);
            }
        }
        let lanes_pool = format!(
            "{{ name = \"lanes\", capacity = {{ kind = \"reserved\", lanes = {lanes}, queue_limit = {}, time_to_first_token = {{ dist = \"exponential\", mean = \"500ms\" }} }}, prices = {{ per_lane_hour = 2.0 }} }}",
            lanes * 2
        );
        let shared_pool = format!(
            "{{ name = \"shared\", capacity = {shared}, prices = {{ input_per_mtok = 3.0, output_per_mtok = 15.0 }} }}"
        );
        let batch_pool = "{ name = \"batch\", capacity = { kind = \"batch\", latency = { dist = \"exponential\", mean = \"20s\" }, collect_for = \"5s\", max_requests_per_batch = 8, max_batches_in_progress = 2, max_queued_tokens = 20000, completion_window = \"40s\" }, prices = { input_per_mtok = 1.5, output_per_mtok = 7.5 } }";
        let hosted_pool = format!(
            "{{ name = \"hosted\", capacity = {{ kind = \"self_hosted\", min_replicas = 1, max_replicas = {}, max_sequences = 4, kv_cache_tokens = 9000, prefill_tokens_per_s = 2000, decode_tokens_per_s = [{{ batch = 1, tokens_per_s = 40 }}, {{ batch = 4, tokens_per_s = 120 }}], queue_limit = 3, autoscale = {{ metric = \"in_flight\", target = 2, interval = \"10s\", window = \"30s\", scale_down_after = \"1m\" }}, cold_start = {{ dist = \"exponential\", mean = \"20s\" }} }}, prices = {{ per_replica_hour = 1.0 }} }}",
            lanes.min(4)
        );
        let (pools, router) = [
            (
                format!("[{lanes_pool}, {batch_pool}, {shared_pool}]"),
                "{ kind = \"spillover\", order = [\"lanes\", \"batch\", \"shared\"], queue_up_to = { lanes = 1 } }",
            ),
            (
                format!("[{shared_pool}, {lanes_pool}]"),
                "{ kind = \"failover\", primary = \"shared\", fallback = \"lanes\", allowed_fails = 1, cool_down = \"20s\" }",
            ),
            (
                format!("[{lanes_pool}, {shared_pool}, {batch_pool}]"),
                "{ kind = \"weighted\", weights = { lanes = 2, shared = 2, batch = 1 } }",
            ),
            (
                format!("[{lanes_pool}, {batch_pool}]"),
                "{ kind = \"failover\", primary = \"batch\", fallback = \"lanes\", cool_down = \"1m\" }",
            ),
            (
                format!("[{lanes_pool}, {hosted_pool}, {shared_pool}]"),
                "{ kind = \"spillover\", order = [\"hosted\", \"lanes\", \"shared\"] }",
            ),
        ][router]
            .clone();
        o.push(format!("pool={pools}"));
        o.push(format!("router={router}"));
        o
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Routed models drain too, and every attempt, token and dollar of the
    /// run is one pool's: the totals are recounted from the pools.
    #[test]
    fn routed_models_drain_and_add_up_across_pools(overrides in random_routed_model()) {
        let base = pooled_base();
        let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
        let s = run(&base, &refs);
        let sum = |f: fn(&loopcap::model::measure::pool_summary::PoolSummary) -> u64| s.pools.iter().map(f).sum::<u64>();
        prop_assert_eq!(sum(|p| p.attempts), s.attempts);
        prop_assert_eq!(sum(|p| p.input_tokens), s.input_tokens);
        prop_assert_eq!(sum(|p| p.output_tokens), s.output_tokens);
        prop_assert_eq!(sum(|p| p.expired), s.expired);
        prop_assert_eq!(sum(|p| p.timed_out), s.timeouts);
        let cost: f64 = s.pools.iter().map(|p| p.cost_usd).sum();
        prop_assert!((cost - s.cost_usd).abs() < 1e-9 * s.cost_usd.max(1.0));
        let o = stopped(&overrides, DRAIN);
        let refs: Vec<&str> = o.iter().map(String::as_str).collect();
        let result = model::simulate(&spec(&base, &refs), false).unwrap();
        prop_assert!(result.residue.is_drained(), "left behind: {:?}", result.residue);
        prop_assert_eq!(result.summary.loops_in_flight, 0);
    }
}

/// A closed population with no think time whose only attempt is refused at
/// once restarts loops at the same instant forever: the run stops, saying so.
#[test]
fn a_model_that_makes_no_progress_in_time_stops_with_a_reason() {
    let livelock = spec(
        BASE,
        &[
            "workload.users={ name = \"users\", agent = \"a\", users = 5, think_time = \"0s\" }",
            "capacity={ kind = \"shared_api\", requests_per_min = 1, time_to_first_token = \"1s\" }",
            "client.max_attempts=1",
            "agents.a.steps=1",
        ],
    );
    let options = RunOptions {
        stall_events: 100_000,
        ..RunOptions::new(false)
    };
    let err = model::simulate_with(&livelock, options, |_, _| {})
        .err()
        .expect("the run cannot progress");
    assert_eq!(
        err,
        RunError::Stalled {
            at_s: 0.0,
            events: 100_001
        }
    );
    assert!(err.to_string().contains("think time of 0"), "{err}");
    // With a moment of thought, the same model runs to its horizon.
    let thinking = spec(
        BASE,
        &[
            "workload.users={ name = \"users\", agent = \"a\", users = 5, think_time = \"1s\" }",
            "capacity={ kind = \"shared_api\", requests_per_min = 1, time_to_first_token = \"1s\" }",
            "client.max_attempts=1",
            "agents.a.steps=1",
        ],
    );
    assert!(model::simulate_with(&thinking, options, |_, _| {}).is_ok());
}

/// Found by `stopped_models_drain_completely` on 2026-11-29, when it drained
/// for 5 h, and first taken for a lost wake-up: it is a retry storm that
/// outlasted 5 h. Input tokens per minute bind at about 22 calls a minute, a
/// 2.1 s timeout abandons attempts the provider still serves (the mean
/// service is 1.8 s, four times that in the latency spike), each 429 pauses
/// every agent at the gate, and 2,700 loops of up to 5 steps retry each call
/// up to 6 times. It drained between 5 h and 6 h while the adaptive throttle
/// counted a timed-out attempt as accepted; counting it against (as gRPC
/// does), the throttle sheds the storm and it drains between 1 h and 2 h.
/// Either way the drain horizon above is long for models like this one.
#[test]
fn a_retry_storm_behind_the_gate_drains_slowly_but_completely() {
    let found: Vec<String> = [
        "duration=20m",
        "warmup=2m",
        "agents.a.steps={ dist = \"uniform\", min = 1, max = 5 }",
        "agents.a.input_tokens={ dist = \"lognormal\", median = 500, p99 = 4000 }",
        "agents.a.output_tokens={ dist = \"exponential\", mean = 50 }",
        "agents.a.fan_out={ every = 1, width = 1 }",
        "client.max_attempts=6",
        "client.honor_retry_after=false",
        "client.on_call_failure=wait_for_siblings",
        "client.backoff={ kind = \"none\" }",
        "workload.users.surges=[{ at = \"0m\", for = \"3m\", factor = 1.4014835694664691 }]",
        "workload.users.arrivals.per_min=132",
        "client.agent_rate_limit={ per_min = 38, burst = 1 }",
        "fault=[{ kind = \"latency_spike\", factor = 4, at = \"3m\", for = \"5m\" }]",
        "client.policy=[{ kind = \"adaptive_throttle\", k = 2 }, { kind = \"coordinated\", requests_per_min = 300, burst = 3, spend_cap_usd = 0.5, spend_period = \"5m\" }]",
        "client.timeout=\"2100ms\"",
        "capacity={ kind = \"shared_api\", requests_per_min = 50, input_tokens_per_min = 20000, cache_reads_count = false, output_tokens_per_min = 30000, max_concurrency = 4, overload = { threshold = 2, saturation = 10, max_probability = 0.3 }, time_to_first_token = { dist = \"gamma\", shape = 2, mean = \"800ms\" }, output_tokens_per_s = 50 }",
    ]
    .map(String::from)
    .into();
    let residue = |drain: &str| {
        let o = stopped(&found, drain);
        let refs: Vec<&str> = o.iter().map(String::as_str).collect();
        model::simulate(&spec(BASE, &refs), false).unwrap().residue
    };
    let busy = residue("1h");
    assert!(busy.loops > 100 && busy.attempts > 0, "{busy:?}");
    let drained = residue(DRAIN);
    assert!(drained.is_drained(), "left behind: {drained:?}");
}
