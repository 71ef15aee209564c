//! Capacity pools behind routers: a one-pool model is the same model,
//! attempts spill in order, fail over and come back after a cool-down, split
//! by weight, follow their class's router; totals add up across pools,
//! faults hit the pool they name, and bad routing is an error at its line.

use std::fs;

use loopcap::model;
use loopcap::model::measure::summary::Summary;

use crate::support::{loopcap, run, shipped};

/// A reserved base of `lanes` lanes spilling to a shared API, with prices
/// on each, under open arrivals of one-call loops.
fn hybrid(lanes: u32, per_min: u32, extra: &str) -> String {
    format!(
        r#"
name = "hybrid"
seed = 3
duration = "1h"
warmup = "5m"

[[workload]]
name = "users"
agent = "a"
arrivals = {{ process = "poisson", per_min = {per_min} }}

[agents.a]
steps = 1
input_tokens = 1000
output_tokens = 100

[[pool]]
name = "lanes"
capacity = {{ kind = "reserved", lanes = {lanes}, time_to_first_token = {{ dist = "exponential", mean = "2s" }} }}
prices = {{ per_lane_hour = 4.0 }}

[[pool]]
name = "shared"
capacity = {{ kind = "shared_api", requests_per_min = 100000, time_to_first_token = {{ dist = "exponential", mean = "2s" }} }}
prices = {{ input_per_mtok = 3.0, output_per_mtok = 15.0 }}

[router]
kind = "spillover"
order = ["lanes", "shared"]
{extra}
"#
    )
}

/// models/mmc.toml written with its capacity as the one `[[pool]]`: the
/// same summary, byte for byte, but for the pool it adds.
#[test]
fn a_model_with_one_pool_is_the_model_without_pools() {
    let plain = model::simulate(&shipped("mmc.toml", &["duration=20m"]), false)
        .unwrap()
        .summary;
    let text = fs::read_to_string(crate::support::model_path("mmc.toml"))
        .unwrap()
        .replace("[capacity]", "[[pool]]\nname = \"lanes\"\n[pool.capacity]");
    let pooled = run(&text, &["duration=20m"]);
    assert_eq!(pooled.pools.len(), 1);
    assert_eq!(pooled.pools[0].attempts, plain.attempts);
    let without = Summary {
        pools: Vec::new(),
        ..pooled.clone()
    };
    let json = |s: &Summary| serde_json::to_string(&s.without_wall_clock()).unwrap();
    assert_eq!(json(&without), json(&plain));
}

/// Erlang's loss formula B(c, a): the share of Poisson arrivals that find
/// all c servers busy when a Erlangs are offered.
fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (f64::from(k) + a * b))
}

/// Lanes that spill when all are busy are an Erlang loss system (M/M/c/c):
/// the share of calls that spill is B(c, a) and the lanes' busy share is
/// a(1 - B)/c. Totals are recounted from the pools: attempts, tokens and
/// the cost at each pool's own prices.
#[test]
fn attempts_spill_in_order_and_every_total_adds_up_across_pools() {
    assert!((erlang_b(4, 20.0) - 0.810_931).abs() < 1e-6);
    // 4 lanes of exponential 2 s calls. At 12 calls a minute (0.4 Erlang)
    // B = 0.0007: about 0.5 of the ~660 calls spill. At 600 a minute
    // (20 Erlangs) B = 0.8109 and the lanes are 94.53% busy. Over ~33,000
    // calls the standard errors are about 0.004 on each share; the
    // tolerance of 0.015 is 3.5 of them, and about half the gap a 3% nudge
    // of either expectation (0.024-0.028) opens.
    let light = run(&hybrid(4, 12, ""), &[]);
    assert!(light.pools[1].attempts <= 3, "{:?}", light.pools[1]);
    // A window over the whole measured hour costs what the run does: lanes
    // and tokens priced pool by pool there too.
    let whole = "[[window]]\nname = \"all\"\nat = \"5m\"\nfor = \"55m\"";
    let heavy = run(&hybrid(4, 600, whole), &[]);
    assert!((heavy.windows[0].cost_usd - heavy.cost_usd).abs() < 1e-9);
    let b = erlang_b(4, 20.0);
    let spilled = heavy.pools[1].attempts as f64 / heavy.attempts as f64;
    assert!((spilled - b).abs() < 0.015, "spilled {spilled} vs B {b}");
    let busy = heavy.pools[0].busy_share.unwrap();
    assert!((busy - 20.0 * (1.0 - b) / 4.0).abs() < 0.015, "busy {busy}");
    for s in [&light, &heavy] {
        let sum = |f: fn(&loopcap::model::measure::pool_summary::PoolSummary) -> u64| {
            s.pools.iter().map(f).sum::<u64>()
        };
        assert_eq!(sum(|p| p.attempts), s.attempts);
        assert_eq!(sum(|p| p.input_tokens), s.input_tokens);
        assert_eq!(sum(|p| p.output_tokens), s.output_tokens);
        // Reserved lanes never refuse here (no queue limit) and never queue:
        // a call that finds every lane busy goes to the shared pool.
        assert_eq!(s.pools[0].served, s.pools[0].attempts);
        assert_eq!(s.queue_wait_s.map(|q| q.max), Some(0.0));
        // The cost at each pool's prices, worked out here from its tokens.
        let measured_h = 55.0 / 60.0;
        let shared = &s.pools[1];
        let shared_cost =
            (shared.input_tokens as f64 * 3.0 + shared.output_tokens as f64 * 15.0) / 1e6;
        let expected = 4.0 * 4.0 * measured_h + shared_cost;
        assert!(
            (s.cost_usd - expected).abs() < 1e-9,
            "{} vs {expected}",
            s.cost_usd
        );
    }
}

/// `queue_up_to` lets calls wait for a lane before they spill: the lanes
/// take more, calls wait, and the shared pool takes less. At 3.3 Erlangs on
/// 4 lanes, B = 0.243 spill without waiting; with 8 places to wait
/// (M/M/4/12) the share that finds them full is under 0.03.
#[test]
fn a_queue_allowance_keeps_calls_on_the_lanes_longer() {
    let spill = run(&hybrid(4, 100, ""), &[]);
    let wait = run(&hybrid(4, 100, "queue_up_to = { lanes = 8 }"), &[]);
    assert!(wait.pools[0].attempts > spill.pools[0].attempts);
    assert!(
        wait.pools[1].attempts * 5 < spill.pools[1].attempts,
        "{} vs {}",
        wait.pools[1].attempts,
        spill.pools[1].attempts
    );
    assert!(wait.queue_wait_s.unwrap().max > 0.0);
}

/// An outage of the lanes sends every call to the shared pool while it
/// lasts, and no call meets the outage's 503s.
#[test]
fn a_fault_hits_only_the_pool_it_names() {
    let outage = "[[fault]]\nkind = \"outage\"\npool = \"lanes\"\nat = \"10m\"\nfor = \"50m\"";
    let healthy = run(&hybrid(4, 60, ""), &[]);
    let s = run(&hybrid(4, 60, outage), &[]);
    assert_eq!(s.unavailable, 0, "the router steers around the outage");
    assert!(s.pools[0].attempts < healthy.pools[0].attempts / 5);
    assert!(s.pools[1].attempts > healthy.pools[1].attempts * 5);
    assert_eq!(s.loops_failed, 0);
}

/// `good` with `from` replaced by `to` is refused by `check` with exit 2
/// and a message holding `expected`.
pub fn assert_refused(good: &str, from: &str, to: &str, expected: &str) {
    assert!(good.contains(from), "{from}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.toml");
    fs::write(&file, good.replacen(from, to, 1)).unwrap();
    let out = loopcap().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "`{to}`");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(expected), "`{to}`: {stderr}");
}

#[test]
fn bad_pools_and_routers_are_refused_at_their_line() {
    let good = hybrid(4, 60, "");
    for (from, to, expected) in [
        (
            "order = [\"lanes\", \"shared\"]",
            "order = [\"lanes\", \"spot\"]",
            "model.toml:29: router.order.1: no pool is called `spot`: the pools are lanes, shared",
        ),
        (
            "order = [\"lanes\", \"shared\"]",
            "order = [\"lanes\"]",
            "model.toml:23: pool.1.name: no user class's router sends attempts to pool `shared`",
        ),
        (
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"failover\"\nprimary = \"lanes\"\nfallback = \"lanes\"\ncool_down = \"1m\"",
            "router.fallback: `lanes` is also the primary: a pool cannot fail over to itself",
        ),
        (
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"failover\"\nprimary = \"lanes\"\nfallback = \"shared\"\ncool_down = \"1m\"\non = [\"timeout\", \"529\"]",
            "router.on.1: unknown failure `529`: allowed are rate_limited, overloaded, queue_full, unavailable, server_error, timeout",
        ),
        (
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"failover\"\nprimary = \"lanes\"\nfallback = \"shared\"",
            "router.cool_down: missing: kind = \"failover\" needs `cool_down`",
        ),
        (
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"weighted\"\nweights = { lanes = 7, spot = 3 }",
            "router.weights.spot: no pool is called `spot`",
        ),
        (
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"weighted\"\nweights = { lanes = 7, shared = 0 }",
            "router.weights.shared: must be > 0 (got 0)",
        ),
        (
            "[router]",
            "[class_router.admins]\nkind = \"single\"\npool = \"lanes\"\n\n[router]",
            "class_router.admins: no user class is called `admins`: the classes are users",
        ),
        (
            "[router]",
            "[class_router.users]\nkind = \"single\"\npool = \"shared\"\n\n[router]",
            "router: every user class has its own router in `[class_router]`, so no class uses this one",
        ),
        (
            "order = [\"lanes\", \"shared\"]",
            "order = [\"lanes\", \"shared\", \"lanes\"]",
            "router.order.2: `lanes` is listed twice",
        ),
        (
            "name = \"shared\"",
            "name = \"lanes\"",
            "pool.1.name: must be non-empty, without dots or commas, and unlike every other pool's",
        ),
        (
            "[router]\nkind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "",
            "router: missing: 2 pools need a router",
        ),
        (
            "order = [\"lanes\", \"shared\"]",
            "order = [\"lanes\", \"shared\"]\nqueue_up_to = { shared = 3 }",
            "router.queue_up_to.shared: names a pool before the last in `order`",
        ),
        (
            "[router]",
            "[[fault]]\nkind = \"outage\"\npool = \"spot\"\nat = \"1m\"\nfor = \"1m\"\n\n[router]",
            "fault.0.pool: no pool is called `spot`",
        ),
        (
            "[router]",
            "[capacity]\nkind = \"reserved\"\nlanes = 1\ntime_to_first_token = \"1s\"\n\n[router]",
            "capacity: give either one `[capacity]` or `[[pool]]`s, not both",
        ),
        (
            "[router]",
            "[prices]\ninput_per_mtok = 1.0\n\n[router]",
            "prices: with `[[pool]]`s each pool has its own `prices`",
        ),
        (
            "prices = { input_per_mtok = 3.0, output_per_mtok = 15.0 }",
            "prices = { per_lane_hour = 1.0 }",
            "pool.1.prices.per_lane_hour: applies to reserved capacity only",
        ),
    ] {
        assert_refused(&good, from, to, expected);
    }
}

#[test]
fn the_table_shows_each_pool_and_check_lists_them() {
    let model = crate::support::model_path("hybrid-spillover.toml");
    let out = loopcap()
        .arg("run")
        .arg(&model)
        .args(["--set", "duration=1h", "--set", "warmup=10m"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let pools = table.split_once("\npools (").expect("a pools section").1;
    for row in ["lanes  reserved", "tier2  shared_api"] {
        assert!(pools.contains(row), "{row}:\n{pools}");
    }
    let check = loopcap().arg("check").arg(&model).output().unwrap();
    let text = String::from_utf8(check.stdout).unwrap();
    assert!(
        text.contains("capacity lanes: reserved, 8 lanes; tier2: shared_api"),
        "{text}"
    );
}

/// A primary shared API with an outage from 10 to 20 minutes, failing over
/// to a second provider for `cool_down` after each failure counted.
fn failover(per_min: u32, router_extra: &str) -> String {
    hybrid(4, per_min, "")
        .replace(
            "kind = \"reserved\", lanes = 4,",
            "kind = \"shared_api\", requests_per_min = 100000,",
        )
        .replace("prices = { per_lane_hour = 4.0 }", "prices = { input_per_mtok = 1.0 }")
        .replace(
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            &format!(
                "kind = \"failover\"\nprimary = \"lanes\"\nfallback = \"shared\"\ncool_down = \"1m\"\n{router_extra}\n\n[[fault]]\nkind = \"outage\"\npool = \"lanes\"\nat = \"10m\"\nfor = \"10m\""
            ),
        )
}

/// Each failure the primary counts starts a one-minute cool-down; the first
/// attempt after it meets the outage again. So the ten minutes of outage
/// hold about 600 / 61 ~ 10 cool-downs (one attempt a second), each begun by
/// one 503 (`allowed_fails = 2`: by three). The fallback takes the traffic
/// of the outage plus the last cool-down, about 600 to 660 attempts plus
/// retries, and the primary gets the rest back: no loop fails.
#[test]
fn failover_moves_traffic_while_the_primary_cools_down_and_brings_it_back() {
    let s = run(&failover(60, ""), &[]);
    let (primary, fallback) = (&s.pools[0], &s.pools[1]);
    assert!((9..=11).contains(&primary.cool_downs), "{primary:?}");
    assert_eq!(primary.unavailable, primary.cool_downs);
    assert_eq!(fallback.cool_downs, 0);
    // Every 503 was retried on the fallback, alongside the new calls there.
    assert!(
        (590..=680).contains(&(fallback.attempts - primary.unavailable)),
        "{fallback:?}"
    );
    assert_eq!(s.loops_failed, 0);
    assert_eq!(primary.attempts + fallback.attempts, s.attempts);
    // Only a third failure within a minute starts a cool-down.
    let tolerant = run(&failover(60, "allowed_fails = 2"), &[]);
    let p = &tolerant.pools[0];
    assert!((9..=11).contains(&p.cool_downs), "{p:?}");
    assert_eq!(p.unavailable, 3 * p.cool_downs);
    // Failures not listed in `on` leave the primary in place: every call in
    // the outage meets a 503 there, and the fallback sees nothing.
    let deaf = run(&failover(60, "on = [\"rate_limited\", \"timeout\"]"), &[]);
    assert_eq!(deaf.pools[1].attempts, 0);
    assert!(deaf.pools[0].unavailable > 600, "{:?}", deaf.pools[0]);
}

/// A 70/30 split of 600 calls a minute for 55 minutes: over ~33,000
/// attempts the share's standard error is 0.0025; the tolerance of 0.01 is
/// 4 of them, and half the gap a 3% nudge (0.7 -> 0.721) opens.
#[test]
fn a_weighted_router_splits_attempts_by_weight() {
    let text = hybrid(400, 600, "").replace(
        "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
        "kind = \"weighted\"\nweights = { lanes = 7, shared = 3 }",
    );
    let s = run(&text, &[]);
    let share = s.pools[0].attempts as f64 / s.attempts as f64;
    assert!(s.attempts > 30_000);
    assert!((share - 0.7).abs() < 0.01, "{share}");
    // Weights whose sum is past the largest f64 split as their ratio does
    // (17:1, a share of 0.944), not everything to the last pool.
    let huge = text.replace(
        "weights = { lanes = 7, shared = 3 }",
        "weights = { lanes = 1.7e308, shared = 1e307 }",
    );
    let s = run(&huge, &[]);
    let share = s.pools[0].attempts as f64 / s.attempts as f64;
    assert!((share - 17.0 / 18.0).abs() < 0.01, "{share}");
}

/// A class with a router of its own: the default router sends `users` to
/// the lanes only, `nightly` goes to the shared pool only, so each pool's
/// attempts are its class's loops (one call each, never refused).
#[test]
fn each_class_follows_its_own_router() {
    let text = hybrid(400, 60, "")
        .replace(
            "kind = \"spillover\"\norder = [\"lanes\", \"shared\"]",
            "kind = \"single\"\npool = \"lanes\"\n\n[class_router.nightly]\nkind = \"single\"\npool = \"shared\"",
        )
        .replace(
            "[agents.a]",
            "[[workload]]\nname = \"nightly\"\nagent = \"a\"\narrivals = { process = \"poisson\", per_min = 20 }\n\n[agents.a]",
        );
    let s = run(&text, &[]);
    let started = |name: &str| s.classes[name].loops_started;
    assert_eq!(s.pools[0].attempts, started("users"));
    assert_eq!(s.pools[1].attempts, started("nightly"));
    assert!(started("nightly") > 900);
}

/// Routed models sweep to the same bytes on one thread and on two.
#[test]
fn routed_sweeps_do_not_depend_on_the_thread_count() {
    let runs = crate::support::runs_on_one_and_two_threads(
        &failover(60, ""),
        "name = \"f\"\nmodel = \"model.toml\"\nseed = 1\nreplications = 2\n\n[set]\nduration = \"30m\"\n\n[grid]\n\"router.cool_down\" = [\"10s\", \"1m\", \"5m\"]\n",
    );
    assert!(runs.contains("pools.shared.cool_downs"));
}

/// One-call loops on a Batch API alone: `extra` goes into its capacity
/// table, `client` into `[client]`.
fn batch_only(per_min: u32, extra: &str, client: &str) -> String {
    format!(
        r#"
name = "batch"
seed = 5
duration = "10h"
warmup = "30m"

[[workload]]
name = "nightly"
agent = "review"
arrivals = {{ process = "poisson", per_min = {per_min} }}

[agents.review]
steps = 1
input_tokens = {{ dist = "lognormal", median = 20000, p99 = 80000 }}
cached_input_share = 0.5
output_tokens = {{ dist = "lognormal", median = 800, p99 = 4000 }}

[capacity]
kind = "batch"
latency = "10m"
collect_for = "5m"
{extra}

[prices]
input_per_mtok = 1.5
cached_input_per_mtok = 0.15
output_per_mtok = 7.5

[client]
{client}
"#
    )
}

/// A call waits for its batch to close (up to `collect_for`, 5 minutes)
/// and then the batch's 10 minutes: every loop takes 10 to 15 minutes, and
/// with a batch opened by the first call after the last closed, the wait is
/// close to uniform, so the median is 12.5 minutes (the histogram's
/// resolution and ~5,000 loops keep it within 10 s; 3% off, 22 s, fails).
/// The client's one-minute timeout does not apply to polled batches. The
/// cost is the tokens at the batch prices, recounted here.
#[test]
fn batch_calls_finish_with_their_batch_at_batch_prices() {
    let s = run(&batch_only(10, "", "timeout = \"1m\""), &[]);
    let l = s.loop_latency_s.unwrap();
    assert!(s.loops_completed > 5_000);
    // The 5% quantile: 15 s into the 5-minute wait.
    let fifth = s.loop_latency_cdf_s.as_ref().unwrap()[0];
    assert!((600.0..630.0).contains(&fifth), "{fifth}");
    assert!(l.max <= 900.0 + 1.0, "{l:?}");
    assert!((l.p50 - 750.0).abs() < 10.0, "{l:?}");
    assert!((l.mean - 750.0).abs() < 10.0, "{l:?}");
    assert_eq!((s.timeouts, s.loops_failed, s.expired), (0, 0, 0));
    let uncached = (s.input_tokens - s.cached_input_tokens) as f64;
    let cost =
        (uncached * 1.5 + s.cached_input_tokens as f64 * 0.15 + s.output_tokens as f64 * 7.5) / 1e6;
    assert!((s.cost_usd - cost).abs() < 1e-6, "{} vs {cost}", s.cost_usd);
    assert!(s.cost_usd > 0.0);
}

/// A full batch goes at once: 10 calls a minute fill a batch of 5 in about
/// 30 s, so no loop waits the 5-minute collection.
#[test]
fn a_full_batch_is_submitted_at_once() {
    let s = run(&batch_only(10, "max_requests_per_batch = 5", ""), &[]);
    let l = s.loop_latency_s.unwrap();
    assert!(l.max < 600.0 + 180.0, "{l:?}");
    assert!(l.p50 < 600.0 + 40.0, "{l:?}");
}

/// A batch that would take longer than its completion window expires at
/// the window: its calls fail unanswered and nothing is billed.
#[test]
fn an_expired_batch_fails_its_calls_unbilled() {
    let s = run(
        &batch_only(2, "completion_window = \"8m\"", "max_attempts = 1"),
        &["warmup=0s"],
    );
    assert_eq!(s.loops_completed, 0);
    assert!(s.expired > 500, "{}", s.expired);
    // Every call expired but those still in a batch at the horizon.
    assert_eq!(s.expired + s.loops_in_flight, s.attempts);
    assert_eq!(s.loops_failed_exhausted, s.loops_failed);
    assert_eq!((s.input_tokens, s.cost_usd), (0, 0.0));
}

/// With one batch at a time (an open batch counts), a batch takes calls for
/// its 5 minutes of collection and then none for its 10 minutes of work: a
/// third of one-try calls get in, two thirds are refused. Over ~38 cycles
/// of ~900 calls, cycle edges move the share by well under 0.01; the
/// tolerance is 0.02, and a 10% nudge (to 0.367) fails.
#[test]
fn batch_limits_refuse_calls_as_queue_full() {
    let taken = share_taken("max_batches_in_progress = 1");
    assert!((taken - 1.0 / 3.0).abs() < 0.02, "{taken}");
}

/// The share of one-try calls, 60 a minute, that a Batch API with `extra`
/// takes; each one refused fails as a full queue.
fn share_taken(extra: &str) -> f64 {
    let s = run(&batch_only(60, extra, "max_attempts = 1"), &[]);
    assert_eq!(s.loops_failed_exhausted, s.queue_rejected);
    1.0 - s.queue_rejected as f64 / s.attempts as f64
}

/// A cap on the calls queued in batches (open or in progress) of 150:
/// at 60 calls a minute the first 150 of a cycle fill it in 2.5 minutes,
/// and the rest are refused until its batch is done 15 minutes after it
/// opened (5 of collection, 10 of latency), when the next call opens the
/// next: 150 calls taken in each 15 minutes, a share of 150 / (60 x 15) =
/// 1/6. Over ~38 cycles of ~900 calls the share moves by about 0.001; the
/// tolerance is 0.01, and a 7% nudge (to 0.178) fails.
#[test]
fn a_cap_on_queued_calls_takes_so_many_per_batch_cycle() {
    let taken = share_taken("max_queued_requests = 150");
    assert!((taken - 150.0 / (60.0 * 15.0)).abs() < 0.01, "{taken}");
}

/// `size`'s floor for a Batch API lifts its caps on batches in progress
/// and on queued calls and tokens: where each cap refuses calls, the floor
/// refuses none, and it is the same Batch API with no cap at all, loop for
/// loop.
#[test]
fn the_floor_of_a_batch_api_has_no_cap_on_batches_in_progress() {
    let uncapped = run(&batch_only(60, "", "max_attempts = 1"), &[]);
    for cap in [
        "max_batches_in_progress = 1",
        "max_queued_requests = 150",
        "max_queued_tokens = 2000000",
    ] {
        let capped = crate::support::spec(&batch_only(60, cap, "max_attempts = 1"), &[]);
        let floor = loopcap::model::simulate(&capped.with_unlimited_capacity(), false)
            .unwrap()
            .summary;
        assert!(share_taken(cap) < 0.5, "{cap}");
        assert_eq!(floor.queue_rejected, 0, "{cap}");
        assert_eq!(
            (floor.loops_completed, floor.loop_latency_s),
            (uncapped.loops_completed, uncapped.loop_latency_s),
            "{cap}"
        );
    }
}

/// Interactive calls on a shared API, a nightly class on batch, routed per
/// class; batch-only options are refused elsewhere and the batch refuses
/// the service-time fields of other kinds.
#[test]
fn batch_options_are_checked() {
    let good = batch_only(10, "", "");
    for (from, to, expected) in [
        (
            "latency = \"10m\"",
            "latency = \"10m\"\ntime_to_first_token = \"1s\"",
            "capacity.time_to_first_token: does not apply to kind = \"batch\"",
        ),
        (
            "collect_for = \"5m\"",
            "collect_for = \"0s\"",
            "capacity.collect_for: must be longer than zero",
        ),
        (
            "collect_for = \"5m\"",
            "collect_for = \"5m\"\nmax_requests_per_batch = 0",
            "capacity.max_requests_per_batch",
        ),
        (
            "collect_for = \"5m\"",
            "collect_for = \"5m\"\nmax_queued_requests = 0",
            "capacity.max_queued_requests",
        ),
        ("latency = \"10m\"\n", "", "capacity.latency: missing"),
    ] {
        assert_refused(&good, from, to, expected);
    }
}

/// timeseries.csv has each pool's attempts, refusals and time-averaged
/// level per bin; over the bins after warm-up they add up to the pool's
/// figures in the summary (counted apart, from the run's own window).
#[test]
fn timeseries_has_columns_per_pool_that_add_up_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.toml");
    fs::write(&model, hybrid(4, 300, "")).unwrap();
    let out = dir.path().join("out");
    let status = loopcap()
        .arg("run")
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let summary: Summary =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let mut csv = csv::Reader::from_path(out.join("timeseries.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    // Bins of 10 s from time zero: the warm-up's 5 minutes are the first 30.
    let measured = &rows[30..];
    let value = |row: &csv::StringRecord, name: &str| row[column(name)].parse::<f64>().unwrap();
    for pool in &summary.pools {
        let p = format!("pools.{}", pool.name);
        let attempts: f64 = measured
            .iter()
            .map(|r| value(r, &format!("{p}.attempts")))
            .sum();
        assert_eq!(attempts as u64, pool.attempts, "{p}");
        let mean = measured
            .iter()
            .map(|r| value(r, &format!("{p}.in_flight")))
            .sum::<f64>()
            / measured.len() as f64;
        assert!(
            (mean - pool.mean_in_flight).abs() < 1e-3,
            "{p}: {mean} vs {pool:?}"
        );
    }
    let refused: f64 = measured
        .iter()
        .map(|r| value(r, "pools.shared.refused"))
        .sum();
    assert_eq!(refused, 0.0);
}

/// Plans may bring different pools: runs.csv has every point's pools, and
/// a point without one leaves that pool's cells empty (not zero).
#[test]
fn plans_with_different_pools_share_one_runs_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("model.toml"), hybrid(4, 60, "")).unwrap();
    fs::write(
        dir.path().join("exp.toml"),
        r#"name = "p"
model = "model.toml"
seed = 1
replications = 1

[set]
duration = "20m"

[grid.plan]
labels = ["hybrid", "shared only"]
values = [{}, { pool = [{ name = "shared", capacity = { kind = "shared_api", requests_per_min = 100000, time_to_first_token = "1s" } }], router = { kind = "single", pool = "shared" } }]
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let status = loopcap()
        .arg("sweep")
        .arg(dir.path().join("exp.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let mut csv = csv::Reader::from_path(out.join("runs.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let (lanes, shared) = (at("pools.lanes.attempts"), at("pools.shared.attempts"));
    assert!(rows[0][lanes].parse::<u64>().unwrap() > 0);
    assert_eq!(&rows[1][lanes], "");
    assert_eq!(rows[1][shared], rows[1][at("attempts")]);
}
