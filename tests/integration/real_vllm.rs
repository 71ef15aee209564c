//! `loopcap calibrate` against real vLLM servers: published runs of vLLM
//! 0.10.1 serving Qwen2-7B-Instruct on one A100 with two KV caches
//! (`tests/data/vllm-a100-qwen2-7b/SOURCE.md`), and on two A100s in tensor
//! parallel with prompts and outputs of several lengths
//! (`tests/data/vllm-2xa100-qwen2-7b-tp2/SOURCE.md`), known by their
//! summaries.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::calibrate::{calibrate, figure, refused};

/// The one-GPU runs.
const ONE_GPU: &str = "vllm-a100-qwen2-7b";
/// The two-GPU runs.
const TWO_GPUS: &str = "vllm-2xa100-qwen2-7b-tp2";

fn data_of(set: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(set)
        .join(name)
}

fn data(name: &str) -> PathBuf {
    data_of(ONE_GPU, name)
}

fn run_of(set: &str, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(data_of(set, file)).unwrap()).unwrap()
}

fn summary(series: &str, prompts: u32) -> Value {
    run_of(ONE_GPU, &format!("{series}/prompts-{prompts:04}.json"))
}

/// The one-GPU profile calibrated on, fitted, and the runs `checks`
/// (files, or a series' directory) scored against it with a KV cache of
/// `kv` tokens.
fn scored(kv: &str, checks: &[&str]) -> Vec<Value> {
    calibrated(ONE_GPU, kv, checks)["scores"]
        .as_array()
        .unwrap()
        .clone()
}

/// The calibration of `set`'s profile with a KV cache of `kv` tokens,
/// scoring `checks` (files, or a series' directory, of `set`).
fn calibrated(set: &str, kv: &str, checks: &[&str]) -> Value {
    let profile = data_of(set, "profile.csv").display().to_string();
    let checks: Vec<String> = checks
        .iter()
        .map(|c| data_of(set, c).display().to_string())
        .collect();
    let mut args = vec![
        profile.as_str(),
        "--profile",
        "--kv-cache-tokens",
        kv,
        "--no-async-scheduling",
        "--check",
    ];
    args.extend(checks.iter().map(String::as_str));
    calibrate(&args)
}

/// The prompts of a scored run, from its file name
/// (`prompts-N` or `prompts-N-in-I-out-O`).
fn prompts(score: &Value) -> u32 {
    let run = score["run"].as_str().unwrap();
    let name = Path::new(run).file_stem().unwrap().to_str().unwrap();
    let name = name.trim_start_matches("prompts-");
    name.split('-').next().unwrap().parse().unwrap()
}

/// A score's error for one figure, in %.
fn error(score: &Value, metric: &str, stat: &str) -> f64 {
    figure(score, metric, stat)["error_pct"].as_f64().unwrap()
}

/// The light runs of 100 prompts or fewer.
const LIGHT: [u32; 7] = [1, 10, 20, 30, 50, 75, 100];

/// Checks `set`'s profile.csv against its light runs (`run_file` names
/// the run of n prompts): a decode row each, and the prefill row from the
/// run of one prompt, recomputed from the runs as printed.
fn profile_is_made_of(set: &str, run_file: fn(u32) -> String) {
    let mut want = vec![];
    for n in LIGHT {
        let run = run_of(set, &run_file(n));
        let n = run["completed"].as_f64().unwrap();
        let input = run["total_input_tokens"].as_f64().unwrap();
        let output = run["total_output_tokens"].as_f64().unwrap();
        let tpot_s = run["mean_tpot_ms"].as_f64().unwrap() / 1e3;
        // The batch's mean prompt and half its mean output, each request's.
        want.push(("decode", n, input + output / 2.0, n / tpot_s));
    }
    let one = run_of(set, &run_file(1));
    let prompt = one["total_input_tokens"].as_f64().unwrap();
    let ttft_s = one["mean_ttft_ms"].as_f64().unwrap() / 1e3;
    want.push(("prefill", 0.0, prompt, prompt / ttft_s));

    let text = std::fs::read_to_string(data_of(set, "profile.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("phase,batch,context_tokens,chunk_tokens,tokens_per_s")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), want.len());
    let number = |s: &str| s.parse::<f64>().unwrap_or(0.0);
    for (row, (phase, batch, tokens, rate)) in rows.iter().zip(want) {
        assert_eq!(row[0], phase, "{row:?}");
        let tokens_given = if phase == "decode" { row[2] } else { row[3] };
        assert_eq!(number(row[1]), batch, "{row:?}");
        // Rounded to a whole token (a half either way).
        assert!(
            (number(tokens_given) - tokens).abs() <= 0.5,
            "{row:?}: {tokens}"
        );
        // Written to six significant figures.
        assert!(
            (number(row[4]) - rate).abs() / rate < 1e-5,
            "{row:?}: {rate}"
        );
    }
}

#[test]
fn the_profile_is_the_larger_caches_light_runs_and_nothing_else() {
    // A decode row per run of the 464,848-token series with 100 prompts
    // or fewer, a prefill row from its single request.
    profile_is_made_of(ONE_GPU, |n| format!("kv-464848/prompts-{n:04}.json"));
}

#[test]
fn the_two_gpu_profile_is_its_light_runs_of_one_length_and_nothing_else() {
    profile_is_made_of(TWO_GPUS, |n| {
        format!("profiled/prompts-{n:04}-in-1024-out-1024.json")
    });
}

#[test]
fn real_runs_where_the_kv_cache_binds_are_predicted_from_runs_where_it_did_not() {
    let scores = scored("93872", &["kv-93872"]);
    assert_eq!(scores.len(), 10);
    let mut durations = vec![];
    for score in &scores {
        let prompts = prompts(score);
        let run = summary("kv-93872", prompts);
        // Every answered request is replayed, and answered by the pool.
        assert_eq!(score["scored_requests"], run["completed"], "{score}");
        assert_eq!(score["unanswered"], 0, "{score}");
        let duration = error(score, "end to end", "max");
        durations.push(duration.abs());
        if prompts >= 100 {
            // Where the cache binds (preempting), the run's duration and
            // its time per output token within 15% (measured: 9–12%).
            assert!(duration.abs() < 15.0, "{prompts} prompts: {score}");
            let mut tpot: Vec<f64> = ["mean", "p50", "p99"]
                .iter()
                .map(|stat| error(score, "time per output token", stat).abs())
                .collect();
            tpot.sort_by(f64::total_cmp);
            assert!(tpot[1] < 15.0, "{prompts} prompts: {score}");
        }
    }
    durations.sort_by(f64::total_cmp);
    let median = (durations[4] + durations[5]) / 2.0;
    assert!(median < 7.0, "median duration error {median}%");

    // The check has power: the same pool with the other series' cache,
    // where nothing binds below 227 requests, misses each run from 100
    // requests on by more than 30%.
    for score in scored("464848", &["kv-93872"]) {
        if prompts(&score) >= 100 {
            let duration = error(&score, "end to end", "max");
            assert!(duration < -30.0, "{score}");
        }
    }
}

#[test]
fn a_summary_is_scored_but_not_fitted_to() {
    let run = data("kv-93872/prompts-0100.json").display().to_string();
    let said = refused(&[&run, "--kv-cache-tokens", "93872"]);
    assert!(
        said.contains("prompts-0100.json: a run's summary"),
        "{said}"
    );
    assert!(said.contains("--save-detailed"), "{said}");

    let empty = tempfile::tempdir().unwrap();
    let profile = data("profile.csv").display().to_string();
    let said = refused(&[
        &profile,
        "--profile",
        "--kv-cache-tokens",
        "93872",
        "--check",
        empty.path().to_str().unwrap(),
    ]);
    assert!(said.contains("a directory with no run in it"), "{said}");
}

#[test]
fn the_larger_caches_heavier_runs_are_predicted_too() {
    // Not fitted to either: 200 and 500 requests on the 464,848-token cache
    // (500 past max_num_seqs, preempting), their durations within 10%
    // (measured: 4.7% and 3.9%). At 1,000 requests 76 the server was sent
    // failed and are not replayed: 19% short, said in the guide.
    let scores = scored(
        "464848",
        &["kv-464848/prompts-0200.json", "kv-464848/prompts-0500.json"],
    );
    assert_eq!(scores.len(), 2);
    for score in &scores {
        let duration = error(score, "end to end", "max");
        assert!(duration.abs() < 10.0, "{score}");
    }
}

#[test]
fn runs_of_other_lengths_are_predicted_from_a_profile_of_one() {
    let calibration = calibrated(TWO_GPUS, "450192", &["predicted"]);
    // One context a sequence measured: its cost is held at zero, not
    // fitted to the rows' noise (which put 132.7 ns on each context token
    // and nothing on a sequence, and missed these runs by up to 118%).
    assert_eq!(
        calibration["held_at_zero"][0], "decode_iteration.per_context_token",
        "{calibration}"
    );
    let scores = calibration["scores"].as_array().unwrap();
    // Every run not profiled: the other lengths, and 200 and 500 requests.
    assert_eq!(scores.len(), 9);
    let mut durations = vec![];
    for score in scores {
        assert_eq!(score["unanswered"], 0, "{score}");
        // Each within 30% of its duration (measured: 1.5% to 26.0%).
        let duration = error(score, "end to end", "max");
        assert!(duration.abs() < 30.0, "{score}");
        durations.push(duration.abs());
    }
    durations.sort_by(f64::total_cmp);
    // The median over the nine within 20% (measured: 14.9%).
    assert!(
        durations[4] < 20.0,
        "median duration error {}%",
        durations[4]
    );
}

#[test]
fn the_two_gpu_runs_where_the_kv_cache_binds_need_its_size() {
    // 100 prompts of 4096/4096 and of 7168/1024 fill the 450,192-token
    // cache (99.0% and 95.9% in the logs): predicted within 30% (measured:
    // +10.9% and -26.0%); with Test 3's cache of 1,192,160 tokens, where
    // they fit, more than 40% short.
    let runs = [
        "predicted/prompts-0100-in-4096-out-4096.json",
        "predicted/prompts-0100-in-7168-out-1024.json",
    ];
    for (kv, within) in [("450192", -30.0..30.0), ("1192160", -100.0..-40.0)] {
        let calibration = calibrated(TWO_GPUS, kv, &runs);
        for score in calibration["scores"].as_array().unwrap() {
            let duration = error(score, "end to end", "max");
            assert!(within.contains(&duration), "{kv}: {score}");
        }
    }
}
