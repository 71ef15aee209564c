//! Client retry behaviour: backoff and jitter, timeouts, retry storms, ordering.

use loopcap::model::measure::summary::Summary;

use crate::support::{BASE, assert_conserved, run, run_one_loop};

/// 200 users who all start one loop of one 100 ms call at t = 1 h, into a
/// shared API that serves at most 10 calls at once (100 calls/s). The next
/// loop of any user would start two hours later, beyond the horizon.
const BURST: &str = r#"
name = "synchronized burst"
seed = 3
duration = "2h"

[[workload]]
name = "users"
agent = "a"
users = 200
think_time = "1h"

[agents.a]
steps = 1
input_tokens = 10
output_tokens = 1

[capacity]
kind = "shared_api"
max_concurrency = 10
time_to_first_token = "100ms"

[client]
max_attempts = 100
honor_retry_after = false
"#;

fn burst_attempts(jitter: &str) -> u64 {
    let backoff = format!(
        "client.backoff={{ kind = \"exponential\", base = \"1s\", cap = \"60s\", jitter = \"{jitter}\" }}"
    );
    let s = run(BURST, &[&backoff]);
    assert_eq!(
        s.loops_completed, 200,
        "every call gets through eventually with {jitter} jitter"
    );
    s.attempts
}

#[test]
fn jitter_needs_fewer_attempts_than_plain_exponential_backoff() {
    // Without jitter the 190 callers refused at t = 1 h come back together at
    // 1 s, 3 s, 7 s, ...: each round 10 get in and the rest are refused again,
    // about 2,000 attempts in all. Jitter spreads each round over its window,
    // where the cap can serve 100 calls a second (Brooker, "Exponential
    // Backoff And Jitter", AWS Architecture Blog 2015). The margin (3x) holds
    // for any fixed seed: the no-jitter count does not depend on it at all.
    let plain = burst_attempts("none");
    assert!(
        plain > 1500,
        "lockstep retries should collide: {plain} attempts"
    );
    for jitter in ["full", "equal", "decorrelated"] {
        let attempts = burst_attempts(jitter);
        assert!(
            attempts * 3 < plain,
            "{jitter} jitter: {attempts} attempts, no jitter: {plain}"
        );
    }
}

/// Two parallel calls into a bucket of one request a minute: the second is
/// refused with a retry-after of 60 s.
fn retry_after_scene(honour: bool) -> Summary {
    run_one_loop(&[
        "agents.a.fan_out={ every = 1, width = 2 }",
        "capacity={ kind = \"shared_api\", requests_per_min = 1, time_to_first_token = \"1s\" }",
        &format!(
            "client={{ max_attempts = 100, backoff = {{ kind = \"constant\", delay = \"1s\" }}, honor_retry_after = {honour} }}"
        ),
    ])
}

#[test]
fn honouring_retry_after_comes_back_exactly_when_the_bucket_can_admit() {
    let honour = retry_after_scene(true);
    assert_eq!((honour.rate_limited, honour.attempts), (1, 3));
    assert_eq!(honour.loop_latency_s.unwrap().max, 61.0);
    // Ignoring it, the 1 s backoff knocks 60 times before the token is back.
    let blind = retry_after_scene(false);
    assert_eq!(blind.rate_limited, 60);
    assert_eq!(blind.loop_latency_s.unwrap().max, 61.0);
}

#[test]
fn an_exact_retry_after_synchronises_a_burst() {
    // 200 callers into 60 requests/min: 60 get in at once, 140 are refused,
    // each told that a token is back in exactly 1 s. Honouring that, all 140
    // come back at the same instant and one gets in; the rest are told 1 s
    // again. With 100 attempts, 99 rounds admit 99 callers and 41 give up:
    // a herd that no jitter breaks up (none is applied to a retry-after).
    let s = run(
        BURST,
        &[
            "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"100ms\" }",
            "client.honor_retry_after=true",
        ],
    );
    assert_eq!(s.loops_completed, 60 + 99);
    assert_eq!(s.loops_failed_exhausted, 41);
}

/// Reserved lanes at 80% load with constant 1 s service and a FIFO queue.
const OVERLOAD: &str = r#"
name = "storm"
seed = 5
duration = "1h"
warmup = "10m"

[[workload]]
name = "users"
agent = "a"
arrivals = { process = "poisson", per_min = 480 }

[agents.a]
steps = 1
input_tokens = 1
output_tokens = 0

[capacity]
kind = "reserved"
lanes = 10
time_to_first_token = { dist = "exponential", mean = "1s" }

[client]
max_attempts = 10
backoff = { kind = "constant", delay = "100ms" }
"#;

#[test]
fn timeouts_shorter_than_service_turn_overload_into_a_retry_storm() {
    // A 10-minute surge to 1.3x the lanes' capacity. Patient clients queue
    // through it; clients that time out after 1.5 s (about the service time
    // plus a short wait) retry while their abandoned attempts keep holding
    // lanes and queue places, so the extra load feeds itself.
    let surge = "workload.users.surges=[{ at = \"15m\", for = \"10m\", factor = 1.3 }]";
    let patient = run(OVERLOAD, &[surge]);
    let impatient = run(OVERLOAD, &[surge, "client.timeout=1500ms"]);
    assert_conserved(&patient, "patient");
    assert_conserved(&impatient, "impatient");
    assert_eq!(patient.loops_failed, 0);
    let per_call = |s: &Summary| s.attempts as f64 / s.calls as f64;
    assert!(per_call(&patient) < 1.01);
    // The storm: many attempts per call, most loops lost, and the lanes
    // saturated by abandoned work.
    assert!(
        per_call(&impatient) > 3.0,
        "attempts per call {}",
        per_call(&impatient)
    );
    assert!(
        impatient.loops_completed * 2 < patient.loops_completed,
        "completed: impatient {} vs patient {}",
        impatient.loops_completed,
        patient.loops_completed
    );
    assert!(impatient.timeouts > impatient.loops_started);
    assert!(impatient.lane_utilization.unwrap() > 0.98);
}

#[test]
fn a_timed_out_attempt_keeps_its_provider_slot_until_the_provider_finishes() {
    // One lane, one loop of one call taking 10 s; the client times out after
    // 2 s and retries: the retry must wait behind its own abandoned attempt.
    let s = run_one_loop(&[
        "capacity.lanes=1",
        "capacity.time_to_first_token=\"10s\"",
        "client={ max_attempts = 2, backoff = { kind = \"none\" }, timeout = \"2s\" }",
    ]);
    // Attempt 1 at 1 h times out 2 s later; attempt 2 queues behind it,
    // times out 2 s after that and is served from 10 s: the loop fails with
    // both attempts used, although the provider completes both (billed: 2
    // input tokens).
    assert_eq!(s.timeouts, 2);
    assert_eq!(s.loops_failed_exhausted, 1);
    assert_eq!(s.input_tokens, 2);
    assert_eq!(s.peak_in_flight, 1);
}

#[test]
fn a_completion_frees_its_slot_before_a_retry_due_at_the_same_instant() {
    // A concurrency cap of 1, two parallel calls of exactly 1 s, and a
    // retry-after of exactly 1 s: the refused call comes back at the very
    // instant the first finishes. Completions are handled first, so the retry
    // is admitted: exactly one 429. (Handled the other way round, it would be
    // refused again.)
    let s = run_one_loop(&[
        "agents.a.fan_out={ every = 1, width = 2 }",
        "capacity={ kind = \"shared_api\", max_concurrency = 1, concurrency_retry_after = \"1s\", time_to_first_token = \"1s\" }",
    ]);
    assert_eq!(s.rate_limited, 1);
    assert_eq!(s.attempts, 3);
    assert_eq!(s.loops_completed, 1);
    assert_eq!(s.loop_latency_s.unwrap().max, 2.0);
}

#[test]
fn calls_too_large_for_a_bucket_fail_their_loop_at_once_instead_of_spinning() {
    let s = run(
        BASE,
        &[
            "capacity={ kind = \"shared_api\", input_tokens_per_min = 5000, time_to_first_token = \"100ms\" }",
            "agents.a.input_tokens={ dist = \"uniform\", min = 0, max = 10000 }",
            "client.max_attempts=50",
        ],
    );
    assert_conserved(&s, "too large");
    assert!(s.loops_failed_too_large > 0);
    // Without warm-up every loop is in the cohort and every attempt in the
    // window: exactly one refused attempt per failing loop, never retried.
    assert_eq!(s.too_large, s.loops_failed_too_large);
}

#[test]
fn large_calls_starve_behind_small_ones_under_an_input_token_limit() {
    // Two classes on one input-token limit of 60k/min. Small calls (1k
    // tokens, 55/min) keep the bucket from refilling far; big calls (50k,
    // 0.5/min) need 50k free at once. Admission is all-or-nothing, so while
    // a big call waits for its retry-after, small calls keep taking the
    // tokens: the big class fails far more often than the small one.
    let model = r#"
name = "starvation"
seed = 2
duration = "4h"
warmup = "10m"

[[workload]]
name = "small"
agent = "small"
arrivals = { process = "poisson", per_min = 55 }

[[workload]]
name = "big"
agent = "big"
arrivals = { process = "poisson", per_min = 0.5 }

[agents.small]
steps = 1
input_tokens = 1000
output_tokens = 1

[agents.big]
steps = 1
input_tokens = 50000
output_tokens = 1

[capacity]
kind = "shared_api"
input_tokens_per_min = 60000
time_to_first_token = "1s"

[client]
max_attempts = 5
backoff = { kind = "exponential", base = "1s", cap = "10s", jitter = "full" }
honor_retry_after = true
"#;
    let s = run(model, &[]);
    let share = |name: &str| {
        let c = &s.classes[name];
        c.loops_failed as f64 / c.loops_started as f64
    };
    // ~115 big loops: a 20% failure share is about 23 of them.
    assert!(share("big") > 0.2, "big failure share {}", share("big"));
    assert!(
        share("big") > 10.0 * share("small"),
        "big {} vs small {}",
        share("big"),
        share("small")
    );
    assert!(s.rate_limited > s.loops_failed);
}

/// Two parallel calls of 1 s into a concurrency cap of one whose 429 says
/// "retry after 90 s", with a constant 5 s backoff, under each mode.
fn retry_after_mode_scene(mode: &str) -> Summary {
    run_one_loop(&[
        "agents.a.fan_out={ every = 1, width = 2 }",
        "capacity={ kind = \"shared_api\", max_concurrency = 1, concurrency_retry_after = \"90s\", time_to_first_token = \"1s\" }",
        &format!(
            "client={{ max_attempts = 5, backoff = {{ kind = \"constant\", delay = \"5s\" }}, retry_after = \"{mode}\" }}"
        ),
    ])
}

#[test]
fn retry_after_modes_each_do_what_they_say() {
    let latency = |mode| {
        let s = retry_after_mode_scene(mode);
        let name = if mode == "sdk" { "capped at 1m" } else { mode };
        assert_eq!(s.retry_after, name);
        assert_eq!((s.rate_limited, s.attempts), (1, 3), "{mode}");
        s.loop_latency_s.unwrap().max
    };
    // The refused call waits the header's 90 s, then takes 1 s.
    assert_eq!(latency("exact"), 91.0);
    // The longer of 5 s and 90 s.
    assert_eq!(latency("at_least"), 91.0);
    // The SDKs take a header of at most 60 s as given; past that, they back off.
    assert_eq!(latency("sdk"), 6.0);
    assert_eq!(latency("ignore"), 6.0);
    // The older switch still reads as the two ends.
    let old =
        |honour: &str| run(BASE, &[&format!("client.honor_retry_after={honour}")]).retry_after;
    assert_eq!(old("true"), "exact");
    assert_eq!(old("false"), "ignore");
}

#[test]
fn a_retry_after_within_a_minute_is_taken_as_given_by_the_sdk_mode() {
    // A bucket of one request a minute tells the refused call to come back in 60 s.
    let scene = |mode: &str| {
        run_one_loop(&[
            "agents.a.fan_out={ every = 1, width = 2 }",
            "capacity={ kind = \"shared_api\", requests_per_min = 1, time_to_first_token = \"1s\" }",
            &format!(
                "client={{ max_attempts = 100, backoff = {{ kind = \"constant\", delay = \"90s\" }}, retry_after = \"{mode}\" }}"
            ),
        ])
        .loop_latency_s
        .unwrap()
        .max
    };
    // The bucket is back in 60 s: sdk and exact wait it; at_least and ignore wait 90 s.
    assert_eq!(scene("sdk"), 61.0);
    assert_eq!(scene("exact"), 61.0);
    assert_eq!(scene("at_least"), 91.0);
    assert_eq!(scene("ignore"), 91.0);
}

#[test]
fn a_bucket_burst_caps_how_many_go_at_once() {
    // 200 callers at once, one attempt each, into 60 requests a minute: a
    // bucket holding a minute's worth lets 60 in, one holding 5 lets 5 in.
    let first_hour = |capacity: &str| {
        run(
            BURST,
            &[
                "duration=61m",
                "client.max_attempts=1",
                &format!("capacity={{ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"100ms\"{capacity} }}"),
            ],
        )
        .loops_completed
    };
    assert_eq!(first_hour(""), 60);
    assert_eq!(first_hour(", burst = { requests = 5 }"), 5);
    assert_eq!(first_hour(", burst = { requests = 150 }"), 150);
}

#[test]
fn a_full_lane_queue_may_say_when_to_come_back() {
    // Two calls of 1 s into one lane with no queue: the second is refused.
    // With a gateway's retry-after of 2 s it is back then, not after the
    // 10 s backoff, and done at 3 s.
    let scene = |gateway: &str| {
        let s = run_one_loop(&[
            "agents.a.fan_out={ every = 1, width = 2 }",
            &format!(
                "capacity={{ kind = \"reserved\", lanes = 1, queue_limit = 0{gateway}, time_to_first_token = \"1s\" }}"
            ),
            "client={ max_attempts = 3, backoff = { kind = \"constant\", delay = \"10s\" }, retry_after = \"exact\" }",
        ]);
        assert_eq!((s.queue_rejected, s.attempts), (1, 3));
        s.loop_latency_s.unwrap().max
    };
    assert_eq!(scene(", queue_full_retry_after = \"2s\""), 3.0);
    assert_eq!(scene(""), 11.0);
}

/// A burst of two calls at 1 h into a concurrency cap of one, one attempt
/// each: the first is served for 30 s, the second refused and out of
/// attempts. When does the loop fail?
fn failure_time(on_call_failure: &str) -> f64 {
    let spec = crate::support::spec(
        BASE,
        &[
            "workload.users={ name = \"users\", agent = \"a\", users = 1, think_time = \"1h\" }",
            "duration=90m",
            "agents.a.steps=1",
            "agents.a.fan_out={ every = 1, width = 2 }",
            "capacity={ kind = \"shared_api\", max_concurrency = 1, time_to_first_token = \"30s\" }",
            &format!("client={{ max_attempts = 1, on_call_failure = \"{on_call_failure}\" }}"),
        ],
    );
    let run = loopcap::model::simulate(&spec, true).unwrap();
    assert_eq!(run.summary.loops_failed_exhausted, 1);
    assert_eq!(run.summary.loops_completed, 0);
    let bins = run.timeseries.unwrap();
    let failed: Vec<f64> = bins
        .bins()
        .iter()
        .filter(|b| {
            b.counts[loopcap::model::measure::timeseries::Counter::LoopsFailed as usize] > 0
        })
        .map(|b| b.start.as_secs_f64())
        .collect();
    assert_eq!(failed.len(), 1);
    failed[0]
}

#[test]
fn a_failed_call_fails_its_loop_at_once_or_after_its_siblings() {
    assert_eq!(failure_time("abandon"), 3600.0);
    assert_eq!(failure_time("wait_for_siblings"), 3630.0);
}

#[test]
fn a_call_too_large_for_its_bucket_fails_at_once_or_is_retried_in_vain() {
    // 5000 input tokens into a bucket of 1000 a minute: it never fits.
    let scene = |retry: bool| {
        run_one_loop(&[
            "agents.a.input_tokens=5000",
            "capacity={ kind = \"shared_api\", input_tokens_per_min = 1000, time_to_first_token = \"1s\" }",
            &format!(
                "client={{ max_attempts = 3, backoff = {{ kind = \"constant\", delay = \"1s\" }}, retry_too_large = {retry} }}"
            ),
        ])
    };
    let once = scene(false);
    assert_eq!((once.attempts, once.too_large), (1, 1));
    assert_eq!(once.loops_failed_too_large, 1);
    let in_vain = scene(true);
    assert_eq!(
        (in_vain.attempts, in_vain.too_large, in_vain.retries),
        (3, 3, 2)
    );
    assert_eq!(in_vain.loops_failed_exhausted, 1);
}
