//! Self-hosted replicas: a batch of one at a constant per-token speed is a
//! reserved lane; autoscaling, cold starts and warm/cold loops; prices by
//! the replica-hour; bad configurations refused at their line.

use std::fs;

use crate::support::{assert_conserved, loopcap, run, shipped, spec};

/// One-call loops of exponential output (mean 200 tokens) at `per_min`,
/// one input token each, on `capacity`.
fn model_with(per_min: u32, capacity: &str, extra: &str) -> String {
    format!(
        r#"
name = "self-hosted"
seed = 11
duration = "2h"
warmup = "10m"

[[workload]]
name = "users"
agent = "a"
arrivals = {{ process = "poisson", per_min = {per_min} }}

[agents.a]
steps = 1
input_tokens = 1
output_tokens = {{ dist = "exponential", mean = 200 }}
max_output_tokens = 4096

[capacity]
{capacity}
{extra}
"#
    )
}

/// Replicas serving one sequence at a time at 50 tokens/s, whose prefill of
/// the one input token takes one token's time, serve each call in
/// output / 50 s: behind one queue (reserving replicas wait for room in
/// the pool's queue), three of them are three reserved lanes at 50
/// tokens/s. The same arrivals and output draws give the same loops, and
/// latencies equal to a microsecond per token of rounding.
#[test]
fn a_batch_of_one_at_a_constant_speed_is_a_reserved_lane() {
    assert_replicas_are_lanes(40, 3, "scheduler = \"reserve\"");
}

/// The same with vLLM's scheduler, whose replicas each keep their own
/// waiting line (the router sends a call on at once): one replica is one
/// lane, its steps of 20 ms ending as a call ends and the next begins.
#[test]
fn a_vllm_replica_serving_one_sequence_at_a_time_is_a_reserved_lane() {
    assert_replicas_are_lanes(12, 1, "scheduler = \"vllm\"");
}

/// `n` replicas of one sequence at 50 tokens/s (as `scheduler` says)
/// against `n` reserved lanes, under `per_min` calls a minute.
fn assert_replicas_are_lanes(per_min: u32, n: u32, scheduler: &str) {
    let lanes = run(
        &model_with(
            per_min,
            &format!(
                "kind = \"reserved\"\nlanes = {n}\ntime_to_first_token = \"0s\"\noutput_tokens_per_s = 50"
            ),
            "",
        ),
        &[],
    );
    let replicas = run(
        &model_with(
            per_min,
            &format!(
                "kind = \"self_hosted\"\nreplicas = {n}\nmax_sequences = 1\nkv_cache_tokens = 10000\nprefill_tokens_per_s = 50\ndecode_iteration = {{ base = \"20ms\", per_sequence = \"0s\" }}\n{scheduler}"
            ),
            "",
        ),
        &[],
    );
    assert_eq!(replicas.loops_completed, lanes.loops_completed);
    assert!(lanes.loops_completed > 1_000);
    let (a, b) = (
        lanes.loop_latency_s.unwrap(),
        replicas.loop_latency_s.unwrap(),
    );
    for (x, y) in [
        (a.p50, b.p50),
        (a.p99, b.p99),
        (a.mean, b.mean),
        (a.max, b.max),
    ] {
        assert!((x - y).abs() < 0.01, "{a:?} vs {b:?}");
    }
    let (qa, qb) = (lanes.queue_wait_s.unwrap(), replicas.queue_wait_s.unwrap());
    assert!((qa.mean - qb.mean).abs() < 0.01, "{qa:?} vs {qb:?}");
    assert!(qa.mean > 1.0, "the lanes are busy enough to queue: {qa:?}");
}

const AUTOSCALED: &str = "kind = \"self_hosted\"\nmin_replicas = 1\nmax_replicas = 6\nmax_sequences = 4\nkv_cache_tokens = 100000\nprefill_tokens_per_s = 5000\ndecode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }, { batch = 4, tokens_per_s = 160 }]\nautoscale = { metric = \"queue\", target = 1, interval = \"15s\", window = \"30s\", scale_down_after = \"5m\" }\ncold_start = \"3m\"\nscheduler = \"reserve\"";

/// A surge into an autoscaled fleet of reserving replicas (behind one
/// queue): it starts replicas, the loops that waited for one still
/// loading are cold and slower than the warm ones,
/// and the fleet is billed by the replica-hour it was up, recounted here
/// from the time series' replicas alive in each bin (the summary's
/// replica-hours are what the bill is computed from: comparing the two
/// proved nothing).
#[test]
fn a_surge_starts_replicas_whose_cold_starts_slow_the_loops_that_wait() {
    let surge = "[[workload.surges]]\nat = \"40m\"\nfor = \"20m\"\nfactor = 4";
    let text = model_with(30, AUTOSCALED, "")
        .replace("[agents.a]", &format!("{surge}\n\n[agents.a]"))
        + "\n[prices]\nper_replica_hour = 3.0\n";
    let result = loopcap::model::simulate(&spec(&text, &[]), true).unwrap();
    let s = result.summary;
    let pool = &s.pools[0];
    let hosted = pool.self_hosted.as_ref().unwrap();
    assert!(hosted.cold_starts >= 2, "{hosted:?}");
    assert!(
        hosted.mean_replicas > 1.0 && hosted.mean_replicas < 6.0,
        "{hosted:?}"
    );
    let replica_s: f64 = result
        .timeseries
        .unwrap()
        .bins()
        .iter()
        .filter(|b| b.start.as_secs_f64() >= s.warmup_s)
        .map(|b| b.pools[0].replicas.unwrap() * b.length.as_secs_f64())
        .sum();
    assert!(
        (s.cost_usd - 3.0 * replica_s / 3600.0).abs() < 1e-9 * s.cost_usd,
        "{} vs {}",
        s.cost_usd,
        3.0 * replica_s / 3600.0
    );
    // A month: the one committed replica all 730 hours, the replicas the
    // autoscaler added as the window used them, times 730 / its hours.
    let window_h = (s.duration_s - s.warmup_s) / 3600.0;
    let added_h = replica_s / 3600.0 - window_h;
    assert!(added_h > 0.0);
    let month = 3.0 * 730.0 + 3.0 * added_h * 730.0 / window_h;
    assert!(
        (s.cost_per_month_usd - month).abs() < 1e-9 * month,
        "{} vs {month}",
        s.cost_per_month_usd
    );
    assert_eq!(s.committed_per_month_usd, 3.0 * 730.0);
    let (warm, cold) = (s.warm_loops.clone().unwrap(), s.cold_loops.clone().unwrap());
    assert!(cold.loops_completed > 0 && warm.loops_completed > 0);
    assert_eq!(
        warm.loops_completed + cold.loops_completed,
        s.loops_completed,
        "every completed loop is warm or cold"
    );
    let (w, c) = (warm.loop_latency_s.unwrap(), cold.loop_latency_s.unwrap());
    assert!(c.mean > w.mean, "cold {c:?} vs warm {w:?}");
    assert!(hosted.mean_batch.unwrap() >= 1.0 && hosted.p95_batch.unwrap() <= 4.0);
    let kv = hosted.kv_cache_utilization.unwrap();
    assert!(kv > 0.0 && kv < 1.0, "{kv}");
    // Output tokens per second are the billed output over the window.
    assert!((hosted.output_tokens_per_s - pool.output_tokens as f64 / 6600.0).abs() < 1e-9);
}

/// timeseries.csv has the fleet's replicas per bin: one before the surge,
/// more during it.
#[test]
fn timeseries_shows_the_replicas_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let surge = "[[workload.surges]]\nat = \"40m\"\nfor = \"20m\"\nfactor = 4";
    let text =
        model_with(10, AUTOSCALED, "").replace("[agents.a]", &format!("{surge}\n\n[agents.a]"));
    fs::write(dir.path().join("model.toml"), text).unwrap();
    let out = dir.path().join("out");
    let status = loopcap()
        .arg("run")
        .arg(dir.path().join("model.toml"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let mut csv = csv::Reader::from_path(out.join("timeseries.csv")).unwrap();
    let at = csv
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "pools.capacity.replicas")
        .unwrap();
    let replicas: Vec<f64> = csv
        .records()
        .map(|r| r.unwrap()[at].parse().unwrap())
        .collect();
    // 10 s bins: 30 minutes in, one replica; 50 minutes in, several.
    assert_eq!(replicas[180], 1.0);
    assert!(replicas[300] > 1.0, "{}", replicas[300]);
}

/// An autoscaled sweep is the same on one thread and on two, its
/// replicas reserving or scheduled as vLLM schedules (its prefix cache
/// given or by blocks).
#[test]
fn autoscaled_sweeps_do_not_depend_on_the_thread_count() {
    let runs = crate::support::runs_on_one_and_two_threads(
        &model_with(60, AUTOSCALED, ""),
        "name = \"a\"\nmodel = \"model.toml\"\nseed = 1\nreplications = 2\n\n[set]\nduration = \"30m\"\n\n[grid]\n\"capacity.max_sequences\" = [1, 4, 16]\n\"capacity.scheduler\" = [\"reserve\", \"vllm\"]\n\"capacity.prefix_cache\" = [\"given\", \"blocks\"]\n",
    );
    assert!(
        runs.contains("pools.capacity.cold_starts") && runs.contains("cold_loops.loops_per_min")
    );
}

#[test]
fn bad_self_hosted_configs_are_refused_at_their_line() {
    let good = model_with(30, AUTOSCALED, "");
    for (from, to, expected) in [
        (
            "max_replicas = 6",
            "max_replicas = 0",
            "capacity.max_replicas: must be a whole number from 1",
        ),
        (
            "min_replicas = 1\nmax_replicas = 6",
            "min_replicas = 4\nmax_replicas = 2",
            "model.toml:21: capacity.max_replicas: must be at least min_replicas (2 < 4)",
        ),
        (
            "{ batch = 4, tokens_per_s = 160 }",
            "{ batch = 1, tokens_per_s = 160 }",
            "capacity.decode_tokens_per_s.1.batch: batches must increase (1 after 1)",
        ),
        (
            "{ batch = 4, tokens_per_s = 160 }",
            "{ batch = 4, tokens_per_s = 0 }",
            "capacity.decode_tokens_per_s.1.tokens_per_s: must be > 0",
        ),
        ("cold_start = \"3m\"", "", "capacity.cold_start: missing"),
        (
            "min_replicas = 1\n",
            "replicas = 1\n",
            "capacity.replicas: with `autoscale`, give min_replicas and max_replicas instead",
        ),
        (
            "prefill_tokens_per_s = 5000",
            "prefill_tokens_per_s = 5000\ntime_to_first_token = \"1s\"",
            "capacity.time_to_first_token: does not apply to kind = \"self_hosted\"",
        ),
        (
            "scheduler = \"reserve\"",
            "scheduler = \"tgi\"",
            "capacity.scheduler: unknown scheduler `tgi`: allowed are vllm, reserve",
        ),
        (
            "scheduler = \"reserve\"",
            "scheduler = \"vllm\"\npreemption = \"drop\"",
            "capacity.preemption: unknown preemption `drop`: allowed are recompute, swap",
        ),
        (
            "scheduler = \"reserve\"",
            "preemption = \"swap\"",
            "capacity.swap_tokens_per_s: missing: with preemption = \"swap\"",
        ),
        (
            "scheduler = \"reserve\"",
            "prefix_cache = \"lru\"",
            "capacity.prefix_cache: unknown prefix_cache `lru`: allowed are given, blocks",
        ),
        (
            "scheduler = \"reserve\"",
            "block_size = 0",
            "capacity.block_size: must be a whole number from 1",
        ),
        (
            "scheduler = \"reserve\"",
            "max_num_batched_tokens = 2.5",
            "capacity.max_num_batched_tokens: must be a whole number from 1",
        ),
        (
            "prefill_tokens_per_s = 5000",
            "prefill_by_chunk = [{ tokens = 2048, tokens_per_s = 9000 }, { tokens = 128, tokens_per_s = 5000 }]",
            "capacity.prefill_by_chunk.1.tokens: chunks must increase (128 after 2048)",
        ),
        (
            "prefill_tokens_per_s = 5000",
            "prefill_tokens_per_s = 5000\nprefill_by_chunk = [{ tokens = 128, tokens_per_s = 5000 }]",
            "capacity.prefill_by_chunk: give one of prefill_tokens_per_s, prefill_by_chunk and prefill_step, not two",
        ),
        (
            "prefill_tokens_per_s = 5000",
            "prefill_tokens_per_s = 5000\nprefill_step = { base = \"4ms\", per_token = \"40us\" }",
            "capacity.prefill_step: give one of prefill_tokens_per_s, prefill_by_chunk and prefill_step, not two",
        ),
        (
            "prefill_tokens_per_s = 5000",
            "prefill_step = { base = \"4ms\", per_token = \"0us\" }",
            "capacity.prefill_step.per_token",
        ),
        (
            "metric = \"queue\"",
            "metric = \"gpu\"",
            "capacity.autoscale.metric: unknown metric `gpu`: allowed are queue, in_flight",
        ),
    ] {
        crate::pools::assert_refused(&good, from, to, expected);
    }
}

/// Self-hosted first, spilling to a shared API when no replica has room:
/// the replicas never queue a call (a call they cannot start at their next
/// step goes on: it waits for no more than the step in progress, of two
/// decodes at 90 tokens/s and a prompt token at 5,000, and the step
/// planned when it started, as vLLM plans one step ahead; planned as each
/// step ends, for the step in progress alone), the API takes the
/// overflow, and both are billed.
#[test]
fn a_full_fleet_spills_to_a_shared_api() {
    let pools = "[[pool]]\nname = \"fleet\"\ncapacity = { kind = \"self_hosted\", replicas = 2, max_sequences = 2, kv_cache_tokens = 100000, prefill_tokens_per_s = 5000, decode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }, { batch = 2, tokens_per_s = 90 }] }\nprices = { per_replica_hour = 2.0 }\n\n[[pool]]\nname = \"api\"\ncapacity = { kind = \"shared_api\", requests_per_min = 100000, time_to_first_token = \"200ms\", output_tokens_per_s = 100 }\nprices = { output_per_mtok = 1.0 }\n\n[router]\nkind = \"spillover\"\norder = [\"fleet\", \"api\"]";
    let text = model_with(60, "", "").replace("[capacity]\n", "") + pools;
    let s = run(&text, &[]);
    let (fleet, api) = (&s.pools[0], &s.pools[1]);
    assert!(
        api.attempts > 1_000 && fleet.attempts > 1_000,
        "{fleet:?} {api:?}"
    );
    let step_s = 2.0 / 90.0 + 1.0 / 5000.0;
    let waited = s.queue_wait_s.unwrap().max;
    assert!(
        waited <= 2.0 * step_s + 1e-6,
        "{waited} s: something waited for a replica"
    );
    let planned_at_the_end = run(&text, &["pool.0.capacity.async_scheduling=false"]);
    let waited = planned_at_the_end.queue_wait_s.unwrap().max;
    assert!(
        waited <= step_s + 1e-6,
        "{waited} s: something waited for a replica"
    );
    let hosted = fleet.self_hosted.as_ref().unwrap();
    assert!(hosted.p95_batch.unwrap() <= 2.0);
    let cost = 2.0 * hosted.replica_hours + api.output_tokens as f64 / 1e6;
    assert!((s.cost_usd - cost).abs() < 1e-9, "{} vs {cost}", s.cost_usd);
}

/// `size`'s floor for a self-hosted pool (its unlimited row) serves each
/// call as a warm replica alone with it would, whatever the fleet: the
/// floor of an autoscaled fleet (one replica at first, cold starts) takes
/// as long, to a millisecond, as 60 warm replicas under the same light
/// arrivals (a call almost never shares a replica), and the autoscaled
/// fleet itself is slower. Nothing beats the floor.
#[test]
fn the_floor_of_a_self_hosted_pool_is_a_warm_replica_alone_with_each_call() {
    let decode = "decode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }, { batch = 4, tokens_per_s = 160 }]";
    let fleet = format!(
        "kind = \"self_hosted\"\nreplicas = 60\nmax_sequences = 4\nkv_cache_tokens = 100000\nprefill_tokens_per_s = 5000\n{decode}"
    );
    let summary = |spec: &loopcap::model::spec::ModelSpec| {
        loopcap::model::simulate(spec, false).unwrap().summary
    };
    let autoscaled = spec(&model_with(40, AUTOSCALED, ""), &[]);
    let floor = summary(&autoscaled.with_unlimited_capacity());
    let warm = summary(&spec(&model_with(40, &fleet, ""), &[]));
    let slow = summary(&autoscaled);
    assert!(floor.loops_completed > 4_000);
    assert_eq!(floor.loops_completed, warm.loops_completed);
    let (f, w, a) = (
        floor.loop_latency_s.unwrap(),
        warm.loop_latency_s.unwrap(),
        slow.loop_latency_s.unwrap(),
    );
    for (x, y) in [(f.p50, w.p50), (f.p99, w.p99), (f.mean, w.mean)] {
        assert!(
            x <= y + 1e-5 && y - x < 1e-3,
            "floor {f:?} vs warm fleet {w:?}"
        );
    }
    assert!(
        f.mean < a.mean && f.p99 < a.p99,
        "floor {f:?} vs autoscaled {a:?}"
    );
}

/// An attempt that timed out keeps its replica busy and may outlive its
/// call (answered by a later attempt, or failed for good); its first token
/// on a replica still loading then has no call to mark cold. Every call
/// times out here (1 ms) and is retried up to 1,000 times, so the fleet
/// scales up while calls are abandoned: the run ends cleanly and every
/// loop is accounted for (this stopped with a panic before).
#[test]
fn an_abandoned_attempt_on_a_cold_replica_outlives_its_call() {
    let spec = shipped(
        "self-hosted-vllm.toml",
        &[
            "duration=40m",
            "client.timeout=\"1ms\"",
            "client.max_attempts=1000",
        ],
    );
    let s = loopcap::model::simulate(&spec, false).unwrap().summary;
    assert_conserved(&s, "timed-out attempts on cold replicas");
    assert!(s.timeouts > 0, "{s:?}");
}

/// vLLM's replicas in `timeseries.csv`: each bin's KV-cache utilization,
/// integrated from the blocks held after every event, averages over the
/// measured window (weighted by the KV cache warm replicas offer in each
/// bin) to the summary's, which the replicas integrate themselves as
/// their blocks change: to a part in 1,000 (the file's four decimals).
/// All 8 replicas run from the start, so none is ever loading.
#[test]
fn timeseries_shows_the_kv_cache_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let model =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/self-hosted-vllm.toml");
    let status = loopcap()
        .arg("run")
        .arg(&model)
        .args([
            "--set",
            "duration=2h",
            "--set",
            "capacity.min_replicas=8",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let expected = summary["pools"][0]["self_hosted"]["kv_cache_utilization"]
        .as_f64()
        .unwrap();
    let warmup = summary["warmup_s"].as_f64().unwrap();
    assert_eq!(summary["pools"][0]["self_hosted"]["cold_starts"], 0);
    let mut csv = csv::Reader::from_path(out.join("timeseries.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (time, bin) = (column("time_s"), column("bin_s"));
    let (kv, replicas) = (
        column("pools.capacity.kv_cache_utilization"),
        column("pools.capacity.replicas"),
    );
    let (mut held, mut offered) = (0.0, 0.0);
    for row in csv.records().map(Result::unwrap) {
        if row[time].parse::<f64>().unwrap() < warmup {
            continue;
        }
        // A fixed floor of 2 warm replicas is offered here (no cold starts
        // in the first 2 hours), so each bin weighs its replicas alive.
        let weight = row[bin].parse::<f64>().unwrap() * row[replicas].parse::<f64>().unwrap();
        held += row[kv].parse::<f64>().unwrap() * weight;
        offered += weight;
    }
    let measured = held / offered;
    assert!(
        (measured - expected).abs() < 1e-3 * expected,
        "{measured} from the bins against {expected}"
    );
}

/// vLLM's prefix cache by blocks on four fixed replicas: routed to the
/// least loaded, a developer's calls scatter and mostly miss the blocks
/// their earlier calls left (40% of cacheable tokens hit); routed by
/// session, they meet them (68%, short of all since 100 developers'
/// contexts nearly fill the four caches, and blocks are evicted). Given,
/// every cached token is a hit. Blocks are the default, as vLLM V1 turns
/// automatic prefix caching on by default.
#[test]
fn routing_by_session_meets_the_blocks_a_session_left() {
    let hits = |routing: &str, cache: &str| {
        let routing = format!("capacity.routing=\"{routing}\"");
        let cache = format!("capacity.prefix_cache=\"{cache}\"");
        let mut overrides = vec![
            "duration=90m",
            "capacity.min_replicas=4",
            "capacity.max_replicas=4",
            &routing,
        ];
        // The model sets no prefix_cache: "" leaves the default.
        overrides.extend((!cache.ends_with("\"\"")).then_some(cache.as_str()));
        let spec = shipped("self-hosted-vllm.toml", &overrides);
        let s = loopcap::model::simulate(&spec, false).unwrap().summary;
        s.pools[0]
            .self_hosted
            .as_ref()
            .unwrap()
            .prefix_cache_hit_share
            .unwrap()
    };
    let (scattered, sticky) = (hits("least_loaded", "blocks"), hits("session", "blocks"));
    assert!(
        sticky > scattered + 0.2,
        "{sticky} by session, {scattered} least loaded"
    );
    assert!(hits("least_loaded", "given") > 0.99);
    assert_eq!(hits("least_loaded", ""), scattered, "blocks by default");
}

/// Loops of one call are each a session of their own: on vLLM's replicas
/// they find nothing their session left, but the first 1,600 of their
/// 2,400 cached tokens (3,200 in, a cached share of 0.75) are their
/// class's alike, 100 whole blocks that every replica keeps once a call
/// has left them and never evicts here (8 calls of 3,200 tokens and
/// their output fit its 100,000-token cache many times). After the
/// warm-up every call reads them: 2/3 of the cacheable tokens hit. Told
/// nothing is shared, no call hits.
#[test]
fn loops_of_their_own_read_the_blocks_their_class_shares_on_every_replica() {
    let vllm = "kind = \"self_hosted\"\nreplicas = 2\nmax_sequences = 8\nkv_cache_tokens = 100000\nprefill_tokens_per_s = 5000\ndecode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }, { batch = 8, tokens_per_s = 300 }]\nscheduler = \"vllm\"";
    let hits = |shared: u32| {
        let shared = format!("agents.a.shared_prefix_tokens={shared}");
        let s = run(
            &model_with(30, vllm, ""),
            &[
                "agents.a.input_tokens=3200",
                "agents.a.cached_input_share=0.75",
                &shared,
            ],
        );
        let pool = s.pools[0].self_hosted.as_ref().unwrap();
        pool.prefix_cache_hit_share.unwrap()
    };
    assert_eq!(hits(1600), 1600.0 / 2400.0);
    assert_eq!(hits(0), 0.0);
}
