//! Workload and agent-loop behaviour: arrivals, surges, fan-out, tools, deadlines.

use crate::support::{BASE, assert_conserved, run, run_one_loop};

/// Relative difference.
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b
}

#[test]
fn poisson_arrivals_come_at_their_rate() {
    // 600/min for 1 h: 36k arrivals, Poisson sd 190 (0.5%); 3% is 6 sd.
    let s = run(
        BASE,
        &[
            "workload.users.arrivals.per_min=600",
            "duration=1h",
            "capacity.lanes=100",
        ],
    );
    assert!(
        rel(s.loops_started as f64, 36_000.0) < 0.03,
        "{}",
        s.loops_started
    );
}

#[test]
fn on_off_arrivals_average_to_their_stationary_rate() {
    // On 300/min for 1 min on average, off 0 for 4 min: mean 60/min. Over
    // 20 h there are ~240 on/off cycles, so the count's relative sd is about
    // 1/sqrt(240) × (burst variability) ≈ 8%; 25% keeps false alarms rare.
    let s = run(
        BASE,
        &[
            "workload.users.arrivals={ process = \"on_off\", on_per_min = 300, off_per_min = 0, mean_on = \"1m\", mean_off = \"4m\" }",
            "duration=20h",
            "capacity.lanes=50",
        ],
    );
    assert!(
        rel(s.loops_started as f64, 60.0 * 60.0 * 20.0) < 0.25,
        "{}",
        s.loops_started
    );
}

#[test]
fn a_surge_multiplies_the_arrival_rate_for_its_window() {
    let base = run(BASE, &["duration=2h", "capacity.lanes=50"]);
    let surged = run(
        BASE,
        &[
            "duration=2h",
            "capacity.lanes=50",
            "workload.users.surges=[{ at = \"30m\", for = \"1h\", factor = 2 }]",
        ],
    );
    // Half the horizon at 2x: 1.5x the arrivals (7200 vs 10800, sd ~1%).
    let ratio = surged.loops_started as f64 / base.loops_started as f64;
    assert!(rel(ratio, 1.5) < 0.05, "ratio {ratio}");
}

#[test]
fn a_surge_multiplies_a_closed_population() {
    let closed = [
        "workload.users={ name = \"users\", agent = \"a\", users = 20, think_time = { dist = \"exponential\", mean = \"30s\" } }",
        "duration=4h",
        "capacity.lanes=100",
    ];
    let base = run(BASE, &closed);
    let mut with_surge = closed.to_vec();
    with_surge.push("workload.users.surges=[{ at = \"1h\", for = \"2h\", factor = 3 }]");
    let surged = run(BASE, &with_surge);
    // Uncongested, throughput is proportional to users: 1/4 at 1x, 2/4 at 3x,
    // 1/4 at 1x gives 2x the loops (each count ~5k, sd ~1.5%).
    let ratio = surged.loops_started as f64 / base.loops_started as f64;
    assert!(rel(ratio, 2.0) < 0.06, "ratio {ratio}");
    assert_conserved(&surged, "surged closed");
}

#[test]
fn closed_users_run_one_loop_at_a_time() {
    // 5 users, no think time, loops of 3 one-second steps: never more than 5
    // loops (hence calls) at once, and throughput 5 users / 3 s = 100/min.
    let s = run(
        BASE,
        &[
            "workload.users={ name = \"users\", agent = \"a\", users = 5, think_time = \"0s\" }",
            "capacity.time_to_first_token=\"1s\"",
            "capacity.lanes=10",
        ],
    );
    assert_eq!(s.peak_in_flight, 5);
    assert!(rel(s.loops_per_min, 100.0) < 0.01, "{}", s.loops_per_min);
}

#[test]
fn fan_out_fires_parallel_calls_and_joins_them() {
    // One user, one loop at t = 1 h: 4 steps, every 2nd a burst of 5, so
    // 1 + 5 + 1 + 5 = 12 calls, still 4 steps. Every call takes 1 s with no
    // contention, so the loop takes exactly 4 s and peaks at 5 calls at once.
    let s = run_one_loop(&[
        "agents.a.steps=4",
        "agents.a.fan_out={ every = 2, width = 5 }",
        "capacity.time_to_first_token=\"1s\"",
        "capacity.lanes=1000",
    ]);
    assert_eq!(s.loops_completed, 1);
    assert_eq!(s.steps_per_loop.unwrap().mean, 4.0);
    assert_eq!(s.calls, 12);
    assert_eq!(s.peak_in_flight, 5);
    assert_eq!(s.loop_latency_s.unwrap().max, 4.0);
}

#[test]
fn tool_calls_sit_between_steps() {
    // 3 steps of 1 s with 2 s tool calls between them: 3 + 2 × 2 = 7 s.
    let s = run(
        BASE,
        &[
            "agents.a.tool_latency=\"2s\"",
            "capacity.time_to_first_token=\"1s\"",
            "capacity.lanes=1000",
        ],
    );
    let latency = s.loop_latency_s.unwrap();
    assert_eq!(latency.max, 7.0);
    // Percentiles come from an HDR histogram: within 0.1% of the true value.
    assert!((latency.p50 - 7.0).abs() < 7e-3, "p50 {}", latency.p50);
    assert_eq!(s.step_latency_s.unwrap().max, 1.0);
}

#[test]
fn loops_past_their_deadline_fail() {
    // 3 steps of 1 s each cannot finish by a 2.5 s deadline.
    let s = run(
        BASE,
        &[
            "agents.a.deadline=\"2500ms\"",
            "capacity.time_to_first_token=\"1s\"",
        ],
    );
    assert_eq!(s.loops_completed, 0);
    assert_eq!(s.loops_failed_deadline, s.loops_failed);
    assert!(s.loops_failed > 0);
    assert_conserved(&s, "deadline");
}

#[test]
fn decoding_time_adds_output_tokens_over_speed() {
    // 1 s to first token + 160 tokens at 80/s = 3 s per step, 9 s per loop.
    let s = run(
        BASE,
        &[
            "agents.a.output_tokens=160",
            "capacity.output_tokens_per_s=80",
            "capacity.time_to_first_token=\"1s\"",
            "capacity.lanes=1000",
        ],
    );
    assert_eq!(s.loop_latency_s.unwrap().max, 9.0);
}

#[test]
fn empirical_distributions_sample_a_csv_column() {
    // tests/data/tokens.csv holds 1000..4000 input tokens (mean 2500) and
    // latencies of 200..800 ms. 3 steps × 3600 loops: ~10k draws, so the
    // sample mean is within 1% (sd of the mean ≈ 0.5%) of 2500.
    let s = run(
        BASE,
        &[
            "duration=1h",
            "capacity.lanes=100",
            "agents.a.input_tokens={ dist = \"empirical\", file = \"data/tokens.csv\", column = \"input_tokens\" }",
            "agents.a.tool_latency={ dist = \"empirical\", file = \"data/tokens.csv\", column = \"latency_ms\", unit = \"ms\" }",
        ],
    );
    let per_call = s.input_tokens as f64 / s.calls as f64;
    assert!(rel(per_call, 2500.0) < 0.02, "mean input {per_call}");
}

#[test]
fn a_full_lane_queue_refuses_attempts_and_they_retry() {
    // One lane, no queue: loops arriving while it is busy are refused. With
    // one attempt each, every refusal fails its loop ...
    let once = [
        "capacity.lanes=1",
        "capacity.queue_limit=0",
        "client.max_attempts=1",
        "agents.a.steps=1",
    ];
    let s = run(BASE, &once);
    assert!(s.queue_rejected > 0);
    assert_eq!(s.retries, 0);
    assert_eq!(s.loops_failed_exhausted, s.queue_rejected);
    assert_eq!(s.peak_in_flight, 1);
    assert_conserved(&s, "queue limit");
    // ... and with six, refusals are retried, so fewer loops fail than
    // attempts are refused.
    let again = run(
        BASE,
        &[&once[..2], &["client.max_attempts=6", "agents.a.steps=1"]].concat(),
    );
    assert!(again.retries > 0 && again.queue_rejected > 0);
    assert!(again.loops_failed_exhausted < again.queue_rejected);
    assert!(again.loops_failed_exhausted < s.loops_failed_exhausted);
    assert_conserved(&again, "queue limit with retries");
}

#[test]
fn costs_follow_the_prices() {
    // Reserved: lanes × measured hours × price per lane-hour.
    let s = run(
        BASE,
        &["duration=2h", "warmup=30m", "prices.per_lane_hour=2.5"],
    );
    assert!(
        (s.cost_usd - 4.0 * 1.5 * 2.5).abs() < 1e-9,
        "{}",
        s.cost_usd
    );
    // Shared: billed tokens × price per million.
    let s = run(
        BASE,
        &[
            "capacity={ kind = \"shared_api\", time_to_first_token = \"1s\" }",
            "prices={ input_per_mtok = 3.0, output_per_mtok = 15.0 }",
        ],
    );
    let expected = s.input_tokens as f64 * 3e-6 + s.output_tokens as f64 * 15e-6;
    assert!(s.input_tokens > 0 && (s.cost_usd - expected).abs() < 1e-9);
    assert_eq!(
        s.loops_per_dollar,
        Some(s.loops_per_min * 10.0 / s.cost_usd)
    );
}

#[test]
fn cache_reads_are_billed_at_their_price_and_spare_the_input_limit() {
    // 60 loops/min × 3 calls of 1000 input tokens, 80% of them cache reads:
    // 180k input tokens a minute, 36k of them uncached, against a limit of 60k.
    let shared = [
        "capacity={ kind = \"shared_api\", input_tokens_per_min = 60000, cache_reads_count = false, time_to_first_token = \"1s\" }",
        "agents.a.input_tokens=1000",
        "agents.a.cached_input_share=0.8",
        "prices={ input_per_mtok = 3.0, cached_input_per_mtok = 0.3 }",
    ];
    let s = run(BASE, &shared);
    assert_eq!(s.cached_input_tokens * 10, s.input_tokens * 8);
    let uncached = (s.input_tokens - s.cached_input_tokens) as f64;
    let expected = uncached * 3e-6 + s.cached_input_tokens as f64 * 0.3e-6;
    assert!(
        (s.cost_usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        s.cost_usd
    );
    // Only uncached input counts: 36k/min fits under 60k, with the bucket's
    // minute of headroom absorbing Poisson bursts.
    assert_eq!(s.rate_limited, 0);
    // Counting cache reads too, 180k/min against 60k: two calls in three are refused.
    let mut counted = shared.to_vec();
    counted.push("capacity.cache_reads_count=true");
    let c = run(BASE, &counted);
    assert!(
        c.rate_limited > c.calls,
        "{} 429s for {} calls",
        c.rate_limited,
        c.calls
    );
}

#[test]
fn the_agent_rate_limit_spaces_an_agents_calls() {
    // One loop of three steps, each a burst of 4 calls of 1 s, the agent held
    // to 6 requests a minute (one per 10 s) with a burst of 2. The first two
    // calls go at once; the allowance is not earned back while the agent keeps
    // asking, so the other ten go 10 s apart, the last at 100 s: the loop
    // ends at 101 s.
    let s = run_one_loop(&[
        "agents.a.steps=3",
        "agents.a.fan_out={ every = 1, width = 4 }",
        "capacity.time_to_first_token=\"1s\"",
        "capacity.lanes=100",
        "client.agent_rate_limit={ per_min = 6, burst = 2 }",
    ]);
    assert_eq!(s.loop_latency_s.unwrap().max, 101.0);
    assert_eq!(
        s.throttled, 10,
        "all but the first two calls of the loop wait"
    );
    assert_eq!(s.peak_in_flight, 2);
}

/// An agent's context grows step by step: with 100 tokens of fresh input a
/// call and 50 more of context each step after the first, half of it from
/// the cache, a three-step loop sends 100, 150 and 200 input tokens, of
/// which 0, 25 and 50 are cached. With arrivals stopped and the run long
/// enough for every loop to finish, the totals are exactly that per loop.
#[test]
fn context_grows_step_by_step_into_every_later_call() {
    let s = crate::support::run(
        crate::support::BASE,
        &[
            "agents.a.context_growth={ per_step = 50, cached_share = 0.5 }",
            "workload.users.surges=[{ at = \"10m\", for = \"1000h\", factor = 0 }]",
            "duration=2h",
        ],
    );
    assert!(s.loops_started > 300);
    assert_eq!(s.loops_completed, s.loops_started);
    assert_eq!(s.attempts, 3 * s.loops_started);
    assert_eq!(s.input_tokens, 450 * s.loops_started);
    assert_eq!(s.cached_input_tokens, 75 * s.loops_started);
}
