//! `loopcap calibrate` against runs of a server whose step costs are
//! known, made by an implementation of vLLM's step loop written apart from
//! loopcap's (`scripts/synthetic-vllm-bench.py`; `tests/data/calibrate`
//! says how each run was made).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::loopcap;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/calibrate")
        .join(name)
}

/// `loopcap calibrate ARGS --json`, which must succeed: what it printed.
pub(crate) fn calibrate(args: &[&str]) -> Value {
    let output = loopcap()
        .arg("calibrate")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A score's figure of `stat` of `metric`.
pub(crate) fn figure<'a>(score: &'a Value, metric: &str, stat: &str) -> &'a Value {
    score["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metric"] == metric && f["stat"] == stat)
        .unwrap_or_else(|| panic!("no {metric} {stat} in {score}"))
}

/// `loopcap calibrate ARGS`, which must be refused as bad input: what it said.
pub(crate) fn refused(args: &[&str]) -> String {
    let output = loopcap().arg("calibrate").args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

/// The costs the fixture's server ran with, as it recorded them.
fn true_costs() -> Value {
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(data("rate-4.json")).unwrap()).unwrap();
    run["synthetic_step_costs"].clone()
}

/// Each cost fitted, beside the one the server ran with.
fn costs_beside_truth(calibration: &Value) -> Vec<(&'static str, f64, f64)> {
    let truth = true_costs();
    [
        ("base_s", "base_s"),
        ("per_sequence_s", "per_sequence_s"),
        ("per_context_token_s", "per_context_token_s"),
        ("prefill_step_s", "prefill_step_s"),
        ("prefill_per_token_s", "prefill_per_token_s"),
    ]
    .into_iter()
    .map(|(fitted, known)| {
        (
            fitted,
            calibration["costs"][fitted].as_f64().unwrap(),
            truth[known].as_f64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn calibrate_gives_back_the_step_costs_of_a_server_it_did_not_simulate() {
    let calibration = calibrate(&[
        data("rate-4.json").to_str().unwrap(),
        "--kv-cache-tokens",
        "14000",
        "--no-async-scheduling",
    ]);
    // The run's times are rounded to 0.1 µs: the costs come back to 0.5%,
    // and a cost 2% off would not.
    for (name, fitted, truth) in costs_beside_truth(&calibration) {
        let off = (fitted - truth).abs() / truth;
        assert!(off < 0.005, "{name}: fitted {fitted}, the server's {truth}");
        assert!(
            (fitted - 1.02 * truth).abs() / truth > 0.005,
            "{name}: the check has no power"
        );
    }
    // The table to paste says so, in units a reader can check.
    let pool = calibration["pool"].as_str().unwrap();
    assert!(pool.contains("decode_iteration = { base = \"6ms\", per_sequence = \"150us\", per_context_token = \"40ns\" }"), "{pool}");
    assert!(
        pool.contains("prefill_step = { base = \"4ms\", per_token = \"40us\" }"),
        "{pool}"
    );
    assert!(
        pool.contains("kv_cache_tokens = 14000\nmax_num_batched_tokens = 2048\nblock_size = 16"),
        "{pool}"
    );
    // Held out: the later half of the run, replayed with the earlier half as load.
    let score = &calibration["scores"][0];
    assert_eq!(score["scored_requests"], 100);
    assert!(score["from_s"].as_f64().unwrap() > 10.0);
    assert_eq!(score["figures"].as_array().unwrap().len(), 12);
}

/// The median absolute error of `metric`'s figures in a score, in %.
pub(crate) fn median_error(score: &Value, metric: &str) -> f64 {
    let mut errors: Vec<f64> = score["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["metric"] == metric)
        .map(|f| f["error_pct"].as_f64().unwrap().abs())
        .collect();
    errors.sort_by(f64::total_cmp);
    (errors[1] + errors[2]) / 2.0
}

#[test]
fn a_pool_calibrated_at_one_rate_predicts_a_run_at_twice_it_where_kv_binds() {
    // The other run: twice the rate, a KV cache of 14,000 tokens, 364
    // preemptions, a queue of seconds. Replayed against the pool fitted at
    // the lighter rate, loopcap's vLLM replica gives its latencies to 1%
    // (TTFT and end to end, the median of mean, p50, p90 and p99).
    let check = data("rate-8-kv-14000.csv");
    let score = |kv: &str| {
        let calibration = calibrate(&[
            data("rate-4.json").to_str().unwrap(),
            "--kv-cache-tokens",
            kv,
            "--no-async-scheduling",
            "--check",
            check.to_str().unwrap(),
        ]);
        calibration["scores"][0].clone()
    };
    let right = score("14000");
    assert_eq!(right["scored_requests"], 600);
    for metric in ["time to first token", "end to end", "time per output token"] {
        assert!(median_error(&right, metric) < 1.0, "{metric}: {right}");
    }
    // The check has power: the same costs with a KV cache 10% smaller
    // (preempting more) miss by more than it allows.
    let wrong = score("12600");
    assert!(median_error(&wrong, "time to first token") > 1.0, "{wrong}");
    assert!(median_error(&wrong, "end to end") > 1.0, "{wrong}");
}

#[test]
fn a_pool_calibrated_on_a_noisy_server_predicts_it_where_kv_binds() {
    // Every step 10% noisy (lognormal): the costs come back less exactly,
    // the run at twice the rate, its queue growing, to 1.5% all the same.
    let calibration = calibrate(&[
        data("rate-4-jitter.json").to_str().unwrap(),
        "--kv-cache-tokens",
        "14000",
        "--no-async-scheduling",
        "--check",
        data("rate-8-kv-14000-jitter.csv").to_str().unwrap(),
    ]);
    let score = &calibration["scores"][0];
    assert!(median_error(score, "time to first token") < 1.5, "{score}");
    assert!(median_error(score, "end to end") < 1.5, "{score}");
    assert!(
        median_error(score, "time per output token") < 4.0,
        "{score}"
    );
    // The noise shows as the fit's own error, not hidden.
    let error = calibration["in_sample_error_pct"].as_f64().unwrap();
    assert!((6.0..10.0).contains(&error), "{error}");
}

#[test]
fn a_profile_of_speeds_gives_its_costs() {
    let truth = true_costs();
    let cost = |name: &str| truth[name].as_f64().unwrap();
    let mut profile = String::from("phase,batch,context_tokens,chunk_tokens,tokens_per_s\n");
    for (batch, context) in [
        (1.0, 500.0),
        (8.0, 9_000.0),
        (32.0, 20_000.0),
        (32.0, 60_000.0),
    ] {
        let step =
            cost("base_s") + cost("per_sequence_s") * batch + cost("per_context_token_s") * context;
        profile += &format!("decode,{batch},{context},,{}\n", batch / step);
    }
    for chunk in [128.0, 512.0, 2048.0] {
        let step = cost("prefill_step_s") + cost("prefill_per_token_s") * chunk;
        profile += &format!("prefill,,,{chunk},{}\n", chunk / step);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speeds.csv");
    std::fs::write(&path, &profile).unwrap();
    let calibration = calibrate(&[
        path.to_str().unwrap(),
        "--profile",
        "--kv-cache-tokens",
        "14000",
    ]);
    for (name, fitted, truth) in costs_beside_truth(&calibration) {
        assert!(
            (fitted - truth).abs() < 1e-9 * truth,
            "{name}: {fitted} against {truth}"
        );
    }
    assert!(calibration["scores"].as_array().unwrap().is_empty());
    // A row of neither phase is named by its line.
    std::fs::write(&path, profile.replace("prefill,,,512", "prefil,,,512")).unwrap();
    let said = refused(&[
        path.to_str().unwrap(),
        "--profile",
        "--kv-cache-tokens",
        "14000",
    ]);
    assert!(
        said.contains("speeds.csv: line 7: phase `prefil`: expected decode or prefill"),
        "{said}"
    );
}

#[test]
fn measurements_calibrate_cannot_use_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("result.json");
    std::fs::write(&json, r#"{"input_lens": [1, 2], "output_lens": [3, 4], "ttfts": [0.1, 0.1], "itls": [[0.01, 0.01], [0.01, 0.01, 0.01]]}"#).unwrap();
    let said = refused(&[json.to_str().unwrap(), "--kv-cache-tokens", "1000"]);
    assert!(said.contains("result.json: no `start_times`"), "{said}");
    // The KV cache is the server's own: it must be given.
    let said = refused(&[data("rate-4.json").to_str().unwrap()]);
    assert!(said.contains("--kv-cache-tokens"), "{said}");
    let said = refused(&[
        data("rate-4.json").to_str().unwrap(),
        "--kv-cache-tokens",
        "0",
    ]);
    assert!(
        said.contains("--kv-cache-tokens: must be at least 1"),
        "{said}"
    );
}

/// A server that plans each step when the one before it starts, written
/// apart from loopcap's (`--async-scheduling`): fitted to its run at 4 a
/// second, loopcap's pool (which plans so by default) gives its costs
/// back and predicts its runs at 3 and 8 a second to 2% in every figure
/// (1% in each run's median to the first token); planned as each step
/// ends (`--no-async-scheduling`), the light run's first tokens come more
/// than 5% early.
#[test]
fn a_server_planning_one_step_ahead_is_predicted_as_it_plans() {
    let run = |more: &[&str]| {
        let paths = ["rate-4.json", "rate-3-kv-14000.csv", "rate-8-kv-14000.csv"]
            .map(|f| data(&format!("async/{f}")).display().to_string());
        let mut args = vec![paths[0].as_str(), "--kv-cache-tokens", "14000"];
        args.extend(more);
        args.extend(["--check", paths[1].as_str(), paths[2].as_str()]);
        calibrate(&args)
    };
    let ahead = run(&[]);
    let run4: Value =
        serde_json::from_str(&std::fs::read_to_string(data("async/rate-4.json")).unwrap()).unwrap();
    assert_eq!(run4["synthetic_step_costs"]["async_scheduling"], true);
    for (name, fitted, truth) in costs_beside_truth(&ahead) {
        assert!(
            (fitted - truth).abs() < 0.005 * truth,
            "{name}: fitted {fitted}, the server's {truth}"
        );
    }
    for score in ahead["scores"].as_array().unwrap() {
        for f in score["figures"].as_array().unwrap() {
            assert!(f["error_pct"].as_f64().unwrap().abs() < 2.0, "{f}");
        }
        assert!(median_error(score, "time to first token") < 1.0, "{score}");
    }
    let behind = run(&["--no-async-scheduling"]);
    let light = &behind["scores"][0];
    assert!(
        light["run"]
            .as_str()
            .unwrap()
            .ends_with("rate-3-kv-14000.csv")
    );
    for stat in ["mean", "p50"] {
        let early = figure(light, "time to first token", stat)["error_pct"]
            .as_f64()
            .unwrap();
        assert!(early < -5.0, "{stat}: {early}");
    }
}

/// Across the runs scored, each figure's median absolute error, as printed,
/// is the median recounted from each run's figure in the JSON.
#[test]
fn each_figures_median_error_across_runs_is_recounted() {
    let args = [
        data("rate-4-jitter.json").display().to_string(),
        "--kv-cache-tokens".into(),
        "14000".into(),
        "--no-async-scheduling".into(),
        "--check".into(),
        data("rate-8-kv-14000-jitter.csv").display().to_string(),
        data("rate-5-kv-14000-jitter.csv").display().to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let json = calibrate(&args);
    let output = loopcap().arg("calibrate").args(&args).output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    let table = printed
        .split("the median absolute error of each figure\n")
        .nth(1)
        .unwrap();
    let scores = json["scores"].as_array().unwrap();
    for metric in ["time to first token", "end to end", "time per output token"] {
        let line = table.lines().find(|l| l.starts_with(metric)).unwrap();
        let shown: Vec<&str> = line[metric.len()..].split_whitespace().collect();
        for (stat, shown) in ["mean", "p50", "p90", "p99"].iter().zip(shown) {
            let mut errors: Vec<f64> = scores
                .iter()
                .map(|s| figure(s, metric, stat)["error_pct"].as_f64().unwrap().abs())
                .collect();
            errors.sort_by(f64::total_cmp);
            let median = (errors[0] + errors[1]) / 2.0;
            assert_eq!(shown, format!("{median:.1}%"), "{metric} {stat}");
        }
    }
}

#[test]
fn the_readme_shows_what_calibrate_prints() {
    let text = |file: &str| {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
    };
    let (readme, guide) = (text("README.md"), text("docs/guide/09-validation.md"));
    let command = "cargo run --release -- calibrate ";
    let blocks: Vec<&str> = readme.split(command).skip(1).collect();
    assert_eq!(blocks.len(), 2, "the README calibrates twice");
    // The guide's commands shown with what they print.
    let shown: Vec<&str> = guide
        .split(command)
        .skip(1)
        .filter(|block| {
            block
                .split_once('\n')
                .is_some_and(|(_, after)| after.starts_with("```\n\n```\n"))
        })
        .collect();
    assert_eq!(shown.len(), 3, "the guide shows three calibrations");
    for block in blocks.into_iter().chain(shown) {
        let (line, after) = block.split_once("\n```\n\n```\n").unwrap();
        let shown = after.split("```").next().unwrap();
        let output = loopcap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("calibrate")
            .args(line.split_whitespace())
            .output()
            .unwrap();
        let printed = String::from_utf8(output.stdout).unwrap();
        // Every line shown, in order (`...` for lines left out).
        let mut lines = printed.lines();
        for want in shown.lines().filter(|l| *l != "...") {
            assert!(
                lines.any(|l| l == want),
                "the README shows `{want}`, which calibrate does not print (in that order):\n{printed}"
            );
        }
    }
}

#[test]
fn requests_the_pool_cannot_hold_are_counted_not_hidden() {
    // A KV cache of 600 tokens (37 blocks of 16) cannot hold a request
    // whose prompt and output need more blocks: the pool fails them, and
    // the score says how many, recounted here from the run itself.
    let calibration = calibrate(&[
        data("rate-4.json").to_str().unwrap(),
        "--kv-cache-tokens",
        "600",
        "--no-async-scheduling",
    ]);
    let score = &calibration["scores"][0];
    let from = score["from_s"].as_f64().unwrap();
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(data("rate-4.json")).unwrap()).unwrap();
    let column = |name: &str| -> Vec<f64> {
        run[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (sent, input, output) = (
        column("start_times"),
        column("input_lens"),
        column("output_lens"),
    );
    let origin = sent.iter().copied().fold(f64::INFINITY, f64::min);
    let too_large = (0..sent.len())
        .filter(|&i| sent[i] - origin >= from && ((input[i] + output[i]) / 16.0).ceil() > 37.0)
        .count();
    assert!(too_large > 0);
    assert_eq!(score["unanswered"], too_large);
}

/// Runs known only by their summaries, sent at a rate: each is one draw of
/// its arrivals, and one draw's figures are noise where the KV cache binds
/// (the twenty runs' mean time to first token spans 65 to 818 ms). loopcap
/// predicts the mean of its own twenty draws, with their range; against
/// the mean of the twenty runs (server and arrivals written apart from
/// loopcap), its median and mean end to end and mean time per output token
/// hold to 5%. Each of those averages has a standard error under 2.3%
/// (recounted below), and moving the runs' mean by 10% either way fails.
#[test]
fn summaries_sent_at_a_rate_are_scored_against_the_mean_of_their_draws() {
    let dir = data("rate-6-kv-14000-summaries");
    let calibration = calibrate(&[
        data("rate-4.json").to_str().unwrap(),
        "--kv-cache-tokens",
        "14000",
        "--no-async-scheduling",
        "--check",
        dir.to_str().unwrap(),
    ]);
    let scores = calibration["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 20);
    for (metric, stat, key) in [
        ("end to end", "p50", "median_e2el_ms"),
        ("end to end", "mean", "mean_e2el_ms"),
        ("time per output token", "mean", "mean_tpot_ms"),
    ] {
        let measured: Vec<f64> = scores
            .iter()
            .map(|s| {
                let run: Value =
                    serde_json::from_str(&fs::read_to_string(s["run"].as_str().unwrap()).unwrap())
                        .unwrap();
                run[key].as_f64().unwrap() / 1e3
            })
            .collect();
        let n = measured.len() as f64;
        let mean = measured.iter().sum::<f64>() / n;
        let sd = (measured.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        assert!(sd / n.sqrt() < 0.023 * mean, "{metric} {stat}: {sd}");
        // The same draws for every run: one prediction, and its range.
        let f = figure(&scores[0], metric, stat);
        let predicted = f["predicted_s"].as_f64().unwrap();
        let [low, high] = [0, 1].map(|i| f["predicted_range_s"][i].as_f64().unwrap());
        assert!(low <= predicted && predicted <= high, "{f}");
        for score in scores {
            assert_eq!(figure(score, metric, stat)["predicted_s"], f["predicted_s"]);
        }
        let off = |expected: f64| (predicted - expected).abs() / expected;
        assert!(
            off(mean) < 0.05,
            "{metric} {stat}: {predicted} against {mean}"
        );
        for nudged in [0.9, 1.1] {
            assert!(off(nudged * mean) > 0.05, "{metric} {stat}: no power");
        }
    }
}
