//! The built-in checks, with their expectations worked out from theory.

use super::check::{Check, Criterion};
use super::theory::{closed_queue, erlang_c, mmc_wait, pollaczek_khinchine_wait};
use crate::model::measure::summary::Summary;

/// Open Poisson arrivals of one-call loops on one lane, one attempt each.
const ONE_CALL_LOOPS: &str = r#"
name = "queue"
seed = 1
duration = "10h"
warmup = "10m"

[[workload]]
name = "customers"
agent = "one-call"
arrivals = { process = "poisson", per_min = 30 }

[agents.one-call]
steps = 1
input_tokens = 1
output_tokens = 0

[capacity]
kind = "reserved"
lanes = 1
time_to_first_token = { dist = "exponential", mean = "1s" }

[client]
max_attempts = 1
"#;

fn queue_wait(s: &Summary) -> f64 {
    s.queue_wait_s.map_or(f64::NAN, |q| q.mean)
}

fn loop_latency(s: &Summary) -> f64 {
    s.loop_latency_s.map_or(f64::NAN, |l| l.mean)
}

/// Share of failed attempts the client retried.
fn retried_share(s: &Summary) -> f64 {
    s.retries as f64 / s.server_errors as f64
}

fn set(overrides: &[&str]) -> Vec<String> {
    overrides.iter().map(|o| (*o).to_owned()).collect()
}

/// The four-server example (Kleinrock): λ = 0.35/min, 10 min service, c = 4.
const FOUR_SERVERS: [&str; 4] = [
    "workload.customers.arrivals.per_min=0.35",
    "capacity.lanes=4",
    "capacity.time_to_first_token={ dist = \"exponential\", mean = \"10m\" }",
    "duration=20000h",
];

/// gRPC retry throttling (gRFC A6) with token_ratio r = 0.1: its tokens drift
/// up while the failure probability p is below r / (1 + r) and down above it.
fn grpc(p: f64) -> Vec<String> {
    vec![
        "capacity.lanes=100".to_owned(),
        "client={ max_attempts = 10, backoff = { kind = \"none\" }, policy = [{ kind = \"retry_throttle\", max_tokens = 10, token_ratio = 0.1 }] }".to_owned(),
        format!("fault=[{{ kind = \"error_burst\", probability = {p}, at = \"0s\", for = \"11h\" }}]"),
    ]
}

const GRPC_CUTOFF: f64 = 0.1 / (1.0 + 0.1);

/// The closed system: 14 users thinking 60 s on average, 2 lanes of 10 s.
const CLOSED: [&str; 5] = [
    "workload.customers={ name = \"customers\", agent = \"one-call\", users = 14, think_time = { dist = \"exponential\", mean = \"60s\" } }",
    "capacity.lanes=2",
    "capacity.time_to_first_token={ dist = \"exponential\", mean = \"10s\" }",
    "duration=100h",
    "warmup=1h",
];

/// Every check, each against its own theory: open queues, a closed
/// queue, the token bucket, and retries with the client's policies.
pub fn checks() -> Vec<Check> {
    [open_queues(), closed_queue_checks(), limits_and_retries()]
        .into_iter()
        .flatten()
        .collect()
}

/// A check of the one-call-loop model with `overrides`, measuring the mean
/// queue wait unless it says otherwise.
fn check(
    name: &'static str,
    expected: f64,
    criterion: Criterion,
    overrides: Vec<String>,
    replications: u64,
    seed: u64,
) -> Check {
    Check {
        name,
        expected,
        criterion,
        model: ONE_CALL_LOOPS,
        overrides,
        replications,
        seed,
        measure: queue_wait,
        across: Vec::new(),
    }
}

/// Open queues against Erlang C and Pollaczek-Khinchine.
fn open_queues() -> Vec<Check> {
    // Uniform service on [0.5, 1.5] s: E[S] = 1, E[S²] = 1 + 1/12.
    let uniform_wait = pollaczek_khinchine_wait(0.7, 1.0, 1.0 + 1.0 / 12.0);
    vec![
        check(
            "M/M/1 mean wait, rho = 0.5 (s)",
            mmc_wait(1, 0.5, 1.0),
            Criterion::Exact,
            set(&["duration=40h"]),
            20,
            101,
        ),
        check(
            "M/M/10 mean wait, rho = 0.8 (s)",
            mmc_wait(10, 8.0, 1.0),
            Criterion::Exact,
            set(&[
                "workload.customers.arrivals.per_min=480",
                "capacity.lanes=10",
                "duration=12h",
            ]),
            20,
            102,
        ),
        Check {
            measure: |s| s.waited_share.unwrap_or(f64::NAN),
            ..check(
                "M/M/4 P(wait): 0.35/min, 10 min service (0.738)",
                erlang_c(4, 3.5),
                Criterion::Exact,
                set(&FOUR_SERVERS),
                20,
                103,
            )
        },
        check(
            "M/M/4 mean wait (14.76 min, in s)",
            mmc_wait(4, 0.35, 0.1) * 60.0,
            Criterion::Exact,
            set(&FOUR_SERVERS),
            20,
            104,
        ),
        check(
            "M/D/1 mean wait, rho = 0.8 (s)",
            pollaczek_khinchine_wait(0.8, 1.0, 1.0),
            Criterion::Exact,
            set(&[
                "workload.customers.arrivals.per_min=48",
                "capacity.time_to_first_token=\"1s\"",
                "duration=40h",
            ]),
            20,
            105,
        ),
        // vLLM's steps on one replica of one sequence: a 1-token prompt
        // (20 ms at 50 tokens/s), then 49 decode steps of 20 ms. A call
        // coming while another runs waits for its last step: 1 s each.
        check(
            "vLLM M/D/1 mean wait, 1 sequence, rho = 0.7 (s)",
            pollaczek_khinchine_wait(0.7, 1.0, 1.0),
            Criterion::Exact,
            set(&[
                "workload.customers.arrivals.per_min=42",
                "agents.one-call.output_tokens=50",
                "capacity={ kind = \"self_hosted\", scheduler = \"vllm\", replicas = 1, max_sequences = 1, kv_cache_tokens = 10000, prefill_tokens_per_s = 50, decode_iteration = { base = \"20ms\", per_sequence = \"0s\" } }",
                "duration=40h",
            ]),
            20,
            107,
        ),
        check(
            "M/G/1 mean wait, uniform service, rho = 0.7 (s)",
            uniform_wait,
            Criterion::Exact,
            set(&[
                "workload.customers.arrivals.per_min=42",
                "capacity.time_to_first_token={ dist = \"uniform\", min = \"500ms\", max = \"1500ms\" }",
                "duration=40h",
            ]),
            20,
            106,
        ),
    ]
}

/// A closed population of 14 against the machine-repair model's exact solution.
fn closed_queue_checks() -> Vec<Check> {
    let (closed_x, closed_r) = closed_queue(14, 60.0, 2, 10.0);
    vec![
        Check {
            measure: loop_latency,
            ..check(
                "closed M/M/2//14 mean response (s)",
                closed_r,
                Criterion::Exact,
                set(&CLOSED),
                20,
                107,
            )
        },
        Check {
            measure: |s| s.loops_per_min,
            ..check(
                "closed M/M/2//14 throughput (per min)",
                closed_x * 60.0,
                Criterion::Exact,
                set(&CLOSED),
                20,
                108,
            )
        },
    ]
}

/// The token bucket's admissions, and retries under the client's policies.
fn limits_and_retries() -> Vec<Check> {
    vec![
        Check {
            // A full bucket of 60 refilling at 1/s, polled every 100 ms by
            // a backlog of retries: in a window W shorter than a refill it
            // admits its capacity plus rate × W, whole tokens only. Every
            // replication admits exactly that (an interval of width 0), so
            // one token more or less fails.
            measure: |s| (s.attempts - s.rate_limited) as f64,
            ..check(
                "token bucket, 10.5 s of a backlog: 60 + 1/s x 10.5 s",
                (60.0f64 + 10.5).floor(),
                Criterion::Exact,
                set(&[
                    "warmup=0s",
                    "duration=10500ms",
                    "workload.customers.arrivals.per_min=6000",
                    "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"100ms\" }",
                    "client={ max_attempts = 1000, backoff = { kind = \"constant\", delay = \"100ms\" }, honor_retry_after = false }",
                ]),
                10,
                109,
            )
        },
        Check {
            measure: |s| s.attempts as f64 / s.calls as f64,
            ..check(
                "attempts per call at p = 0.3, 3 retries: (1-p^4)/(1-p)",
                (1.0 - 0.3f64.powi(4)) / (1.0 - 0.3),
                Criterion::Exact,
                set(&[
                    "capacity.lanes=100",
                    "client={ max_attempts = 4, backoff = { kind = \"none\" } }",
                    "fault=[{ kind = \"error_burst\", probability = 0.3, at = \"0s\", for = \"11h\" }]",
                ]),
                10,
                110,
            )
        },
        Check {
            measure: retried_share,
            across: grpc(1.2 * GRPC_CUTOFF),
            ..check(
                "gRPC throttle r = 0.1, p = 0.8 r/(1+r): failures retried",
                0.7,
                Criterion::AtLeast,
                grpc(0.8 * GRPC_CUTOFF),
                10,
                111,
            )
        },
        Check {
            measure: retried_share,
            across: grpc(0.8 * GRPC_CUTOFF),
            ..check(
                "gRPC throttle r = 0.1, p = 1.2 r/(1+r): failures retried",
                0.2,
                Criterion::AtMost,
                grpc(1.2 * GRPC_CUTOFF),
                10,
                112,
            )
        },
        Check {
            // Demand 10x capacity: clients reject locally until requests ≈ K × accepts.
            measure: |s| s.attempts as f64 / (s.attempts - s.rate_limited) as f64,
            ..check(
                "SRE throttling K = 2: sent / accepted (about 2)",
                2.0,
                Criterion::About(0.025),
                set(&[
                    "workload.customers.arrivals.per_min=600",
                    "duration=1h",
                    "capacity={ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"200ms\" }",
                    "client={ max_attempts = 5, backoff = { kind = \"constant\", delay = \"1s\" }, honor_retry_after = false, policy = [{ kind = \"adaptive_throttle\", k = 2, window = \"1m\" }] }",
                ]),
                10,
                113,
            )
        },
    ]
}
