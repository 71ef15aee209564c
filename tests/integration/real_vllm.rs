//! `loopcap calibrate` against a real vLLM server: published runs of vLLM
//! 0.10.1 serving Qwen2-7B-Instruct on one A100 with two KV caches
//! (`tests/data/vllm-a100-qwen2-7b/SOURCE.md`), known by their summaries.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::calibrate::{calibrate, figure, refused};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vllm-a100-qwen2-7b")
        .join(name)
}

fn summary(series: &str, prompts: u32) -> Value {
    let path = data(&format!("{series}/prompts-{prompts:04}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The profile calibrated on, fitted, and the runs `checks` (files, or a
/// series' directory) scored against it with a KV cache of `kv` tokens.
fn scored(kv: &str, checks: &[&str]) -> Vec<Value> {
    let profile = data("profile.csv").display().to_string();
    let checks: Vec<String> = checks
        .iter()
        .map(|c| data(c).display().to_string())
        .collect();
    let mut args = vec![
        profile.as_str(),
        "--profile",
        "--kv-cache-tokens",
        kv,
        "--check",
    ];
    args.extend(checks.iter().map(String::as_str));
    calibrate(&args)["scores"].as_array().unwrap().clone()
}

/// The prompts of a scored run, from its file name.
fn prompts(score: &Value) -> u32 {
    let run = score["run"].as_str().unwrap();
    let name = Path::new(run).file_stem().unwrap().to_str().unwrap();
    name.trim_start_matches("prompts-").parse().unwrap()
}

/// A score's error for one figure, in %.
fn error(score: &Value, metric: &str, stat: &str) -> f64 {
    figure(score, metric, stat)["error_pct"].as_f64().unwrap()
}

#[test]
fn the_profile_is_the_larger_caches_light_runs_and_nothing_else() {
    // Recomputed here from the runs as printed: a decode row per run of
    // the 464,848-token series with 100 prompts or fewer, a prefill row
    // from its single request.
    let mut want = vec![];
    for prompts in [1, 10, 20, 30, 50, 75, 100] {
        let run = summary("kv-464848", prompts);
        let n = run["completed"].as_f64().unwrap();
        let input = run["total_input_tokens"].as_f64().unwrap();
        let output = run["total_output_tokens"].as_f64().unwrap();
        let tpot_s = run["mean_tpot_ms"].as_f64().unwrap() / 1e3;
        // The batch's mean prompt and half its mean output, each request's.
        want.push(("decode", n, input + output / 2.0, n / tpot_s));
    }
    let one = summary("kv-464848", 1);
    let prompt = one["total_input_tokens"].as_f64().unwrap();
    let ttft_s = one["mean_ttft_ms"].as_f64().unwrap() / 1e3;
    want.push(("prefill", 0.0, prompt, prompt / ttft_s));

    let text = std::fs::read_to_string(data("profile.csv")).unwrap();
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
