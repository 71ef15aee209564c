//! Prefill time and the prompt cache's time to live, on scenes small enough
//! to work out by hand: every token read, written and billed, and every
//! second of prefill.

use super::support::{BASE, load_error, run, run_one_loop};

/// One user's loops of calls of 10,000 input tokens, 90% of them the
/// cacheable prefix, 100 output tokens at 100 a second after a constant
/// 0.5 s to the first token, on lanes that never queue; no tool time.
const CALLS: [&str; 7] = [
    "agents.a.input_tokens=10000",
    "agents.a.cached_input_share=0.9",
    "agents.a.output_tokens=100",
    "capacity.output_tokens_per_s=100",
    "capacity.time_to_first_token=\"500ms\"",
    "capacity.lanes=100",
    "prices={ input_per_mtok = 3.0, cached_input_per_mtok = 0.3, cache_write_per_mtok = 3.75, output_per_mtok = 15.0 }",
];

fn with(extra: &[&str]) -> Vec<String> {
    CALLS.iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

fn one_loop(extra: &[&str]) -> loopcap::model::measure::summary::Summary {
    let overrides = with(extra);
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    run_one_loop(&refs)
}

/// Prefill adds the uncached tokens over its speed to each call: 1,000
/// uncached tokens at 2,000 a second are 0.5 s; a call that writes the
/// cache prefills all 10,000 (5 s).
#[test]
fn prefill_adds_uncached_input_over_its_speed() {
    let steps = "agents.a.steps=3";
    let plain = one_loop(&[steps]);
    // 3 calls of 0.5 s to the first token and 1 s of decoding.
    assert_eq!(plain.loop_latency_s.unwrap().max, 4.5);
    let prefilled = one_loop(&[steps, "capacity.prefill_tokens_per_s=2000"]);
    assert_eq!(prefilled.loop_latency_s.unwrap().max, 6.0);
    // The first call finds no prefix: it writes it, prefilling 10,000 tokens.
    let ttl = one_loop(&[
        steps,
        "capacity.prefill_tokens_per_s=2000",
        "capacity.cache_ttl=\"5m\"",
    ]);
    assert_eq!(ttl.loop_latency_s.unwrap().max, 6.5 + 2.0 + 2.0);
    assert_eq!(
        (ttl.cache_write_tokens, ttl.cached_input_tokens),
        (9_000, 2 * 9_000)
    );
}

/// Runs one user thinking `think` between loops of two calls for 2 hours,
/// all of it measured; returns (calls billed, tokens written, tokens read,
/// cost).
fn user(think: &str, ttl: &str) -> (u64, u64, u64, f64) {
    let users = format!(
        "workload.users={{ name = \"users\", agent = \"a\", users = 1, think_time = \"{think}\" }}"
    );
    let ttl = format!("capacity.cache_ttl=\"{ttl}\"");
    let overrides = with(&[&users, "duration=2h", "agents.a.steps=2", &ttl]);
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let s = run(BASE, &refs);
    assert_eq!(s.input_tokens % 10_000, 0);
    let calls = s.input_tokens / 10_000;
    assert_eq!(s.output_tokens, 100 * calls);
    assert!(calls >= 30, "{calls} calls");
    (
        calls,
        s.cache_write_tokens,
        s.cached_input_tokens,
        s.cost_usd,
    )
}

/// What `calls` cost when `written` prefix tokens were written and `read` read.
fn by_hand(calls: u64, written: u64, read: u64) -> f64 {
    let input = 10_000 * calls - written - read;
    (input as f64 * 3.0 + read as f64 * 0.3 + written as f64 * 3.75 + (100 * calls) as f64 * 15.0)
        / 1e6
}

/// A user who thinks 4 minutes keeps a 5-minute cache warm: only the very
/// first call writes. One who thinks 6 minutes finds it gone at every
/// loop's first call, which writes it again; the second call reads it.
/// A 1-hour cache outlasts 6 minutes of thought.
#[test]
fn a_call_after_a_gap_longer_than_the_ttl_writes_and_one_within_it_reads() {
    let (calls, written, read, cost) = user("4m", "5m");
    assert_eq!((written, read), (9_000, 9_000 * (calls - 1)));
    assert!(
        (cost - by_hand(calls, written, read)).abs() < 1e-9,
        "{cost}"
    );

    let (calls, written, read, cost) = user("6m", "5m");
    let loops = calls.div_ceil(2);
    assert_eq!((written, read), (9_000 * loops, 9_000 * (calls - loops)));
    assert!(
        (cost - by_hand(calls, written, read)).abs() < 1e-9,
        "{cost}"
    );

    let (calls, written, read, _) = user("6m", "1h");
    assert_eq!((written, read), (9_000, 9_000 * (calls - 1)));
}

/// An open arrival's loop is its own session: its first call always
/// writes. Calls sent together (a fan-out burst) all miss the prefix none
/// of them has written yet; the next step's read it.
#[test]
fn a_loop_without_a_user_writes_its_first_step_and_a_burst_writes_together() {
    let overrides = with(&[
        "capacity.cache_ttl=\"1h\"",
        "agents.a.steps=1",
        "duration=30m",
    ]);
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let s = run(BASE, &refs);
    let calls = s.input_tokens / 10_000;
    assert!(calls > 1000, "{calls}");
    assert_eq!(
        (s.cache_write_tokens, s.cached_input_tokens),
        (9_000 * calls, 0)
    );

    let burst = one_loop(&[
        "agents.a.steps=2",
        "agents.a.fan_out={ every = 1, width = 3 }",
        "capacity.cache_ttl=\"5m\"",
    ]);
    assert_eq!(
        (burst.cache_write_tokens, burst.cached_input_tokens),
        (3 * 9_000, 3 * 9_000)
    );
}

/// Of each call's 9,000 cached tokens, the first 2,000 (a system prompt)
/// are every session's alike: a loop of its own, which finds no prefix of
/// its own, reads those 2,000 when any loop sent them within the 5-minute
/// TTL, and writes the other 7,000. Loops of one call arriving as a
/// Poisson stream of 0.2 a minute find the previous one within 5 minutes
/// with probability 1 − e^(−0.2 × 5) = 0.632: the share of calls that read
/// the shared part. Over about 20,000 calls its standard error is 0.0034;
/// the tolerance, 0.012 (1.9%), is 3.5 of them, and misses an expectation
/// moved by 3% (0.651 or 0.613).
#[test]
fn a_loop_reads_the_prefix_its_classs_sessions_share_when_one_sent_it_within_the_ttl() {
    let overrides = with(&[
        "capacity.cache_ttl=\"5m\"",
        "agents.a.steps=1",
        "agents.a.shared_prefix_tokens=2000",
        "workload.users.arrivals.per_min=0.2",
        "duration=100000m",
    ]);
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let s = run(BASE, &refs);
    let calls = s.input_tokens / 10_000;
    assert!(calls > 17_000, "{calls}");
    assert_eq!(s.cached_input_tokens % 2_000, 0);
    let read = s.cached_input_tokens / 2_000;
    assert_eq!(s.cache_write_tokens, 9_000 * calls - 2_000 * read);
    let share = read as f64 / calls as f64;
    let expected = 1.0 - (-1.0f64).exp();
    assert!(
        (share - expected).abs() < 0.012,
        "{share} against {expected}"
    );
}

/// Without a TTL nothing is written and every cached part is read, as
/// before: the cache is a setting, not a change to existing models.
#[test]
fn without_a_ttl_the_cached_share_is_always_read() {
    let s = one_loop(&["agents.a.steps=3"]);
    assert_eq!(
        (s.cache_write_tokens, s.cached_input_tokens),
        (0, 3 * 9_000)
    );
}

/// A write counts towards the input-token limit where cache reads do not
/// (Anthropic's rule): a call whose 9,000-token prefix fits a 5,000
/// tokens-a-minute limit as a read is too large for it as a write.
#[test]
fn a_cache_write_counts_towards_the_input_token_limit() {
    let shared = [
        "capacity={ kind = \"shared_api\", input_tokens_per_min = 5000, cache_reads_count = false, time_to_first_token = \"500ms\", output_tokens_per_s = 100 }",
        "agents.a.steps=1",
    ];
    let read = one_loop(&shared);
    assert_eq!((read.loops_completed, read.too_large), (1, 0));
    let written = one_loop(&[&shared[..], &["capacity.cache_ttl=\"5m\""]].concat());
    assert_eq!((written.loops_completed, written.too_large), (0, 1));
}

#[test]
fn a_ttl_or_prefill_where_it_cannot_apply_is_an_error_naming_the_field() {
    let error = load_error;
    let batch =
        "capacity={ kind = \"batch\", latency = \"1h\", collect_for = \"1m\", cache_ttl = \"5m\" }";
    let e = error(&[batch]);
    assert!(
        e.contains("capacity.cache_ttl: does not apply to kind = \"batch\""),
        "{e}"
    );
    let e = error(&["capacity.cache_ttl=\"0s\""]);
    assert!(
        e.contains("capacity.cache_ttl: must be longer than 0s"),
        "{e}"
    );
    let e = error(&["capacity.prefill_tokens_per_s=0"]);
    assert!(e.contains("capacity.prefill_tokens_per_s"), "{e}");
}
