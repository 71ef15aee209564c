//! `loopcap calibrate` against a real vLLM server measured request by
//! request: vLLM 0.23.0 serving Qwen3-14B on one H100, Poisson runs from 2
//! to 18 requests a second and one of mixed prompt lengths that needs
//! twice its KV cache (`tests/data/vllm-h100-qwen3-14b/SOURCE.md`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::calibrate::{calibrate, median_error};

/// The server's KV cache in tokens, as its `server_config.json` says.
const KV_CACHE: &str = "288608";

/// Each run: its file, its requests, and the most it had in flight.
const RUNS: [(&str, usize, usize); 9] = [
    ("rate-02.csv", 1212, 13),
    ("rate-04.csv", 2363, 20),
    ("rate-06.csv", 3610, 31),
    ("rate-08.csv", 4830, 51),
    ("rate-10.csv", 6016, 66),
    ("rate-12.csv", 7207, 92),
    ("rate-18.csv", 10829, 256),
    ("mixed-06.csv", 3623, 73),
    ("mixed-12.csv", 7213, 256),
];

/// The run fitted to: the busiest one the server kept up with.
const FITTED: &str = "rate-12.csv";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vllm-h100-qwen3-14b")
        .join(name)
}

/// A run's requests: (sent, last token, tokens held at the end).
fn requests(file: &str) -> Vec<(f64, f64, u64)> {
    let text = std::fs::read_to_string(data(file)).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("sent_s,first_token_s,last_token_s,input_tokens,output_tokens")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            let (input, output) = (f[3].parse::<u64>().unwrap(), f[4].parse::<u64>().unwrap());
            assert_eq!(output, 128, "{file}: {line}");
            assert!(num(0) <= num(1) && num(1) <= num(2), "{file}: {line}");
            (num(0), num(2), input + output)
        })
        .collect()
}

/// The most requests in flight at once, and the most tokens they would
/// hold had each its whole prompt and output in the cache: a sweep over
/// sends and ends, ends first at one time.
fn peak_in_flight(requests: &[(f64, f64, u64)]) -> (usize, u64) {
    let mut points: Vec<(f64, i64)> = vec![];
    for &(sent, done, tokens) in requests {
        points.push((sent, tokens as i64));
        points.push((done, -(tokens as i64)));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut count, mut tokens, mut peak) = (0i64, 0i64, (0usize, 0u64));
    for (_, change) in points {
        count += change.signum();
        tokens += change;
        peak = (peak.0.max(count as usize), peak.1.max(tokens as u64));
    }
    peak
}

#[test]
fn the_runs_are_what_their_source_says() {
    for (file, count, in_flight) in RUNS {
        let requests = requests(file);
        assert_eq!(requests.len(), count, "{file}");
        assert!(requests.windows(2).all(|w| w[0].0 <= w[1].0), "{file}");
        let (peak, tokens) = peak_in_flight(&requests);
        assert_eq!(peak, in_flight, "{file}");
        // The mixed run at 12 a second needs about twice the cache; none
        // of the others needs it whole.
        let cache: u64 = KV_CACHE.parse().unwrap();
        if file == "mixed-12.csv" {
            assert!(tokens > 2 * cache, "{file}: {tokens}");
        } else {
            assert!(tokens < cache, "{file}: {tokens}");
        }
    }
}

/// The pool fitted to `fitted` with a KV cache of `kv` tokens (and
/// `more` flags), scoring every other run: each score, by the run's file
/// name.
fn predicted(fitted: &str, kv: &str, more: &[&str]) -> Vec<(String, Value)> {
    let checks: Vec<String> = RUNS
        .iter()
        .filter(|r| r.0 != fitted)
        .map(|r| data(r.0).display().to_string())
        .collect();
    let fitted = data(fitted).display().to_string();
    let mut args = vec![
        fitted.as_str(),
        "--kv-cache-tokens",
        kv,
        "--max-num-batched-tokens",
        "8192",
    ];
    args.extend(more);
    args.push("--check");
    args.extend(checks.iter().map(String::as_str));
    let calibration = calibrate(&args);
    calibration["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|score| {
            let run = Path::new(score["run"].as_str().unwrap());
            let name = run.file_name().unwrap().to_str().unwrap().to_string();
            (name, score.clone())
        })
        .collect()
}

/// A run's median absolute errors (first token, end to end) in `scores`.
fn errors_of(scores: &[(String, Value)], run: &str) -> (f64, f64) {
    let score = &scores.iter().find(|s| s.0 == run).unwrap().1;
    (
        median_error(score, "time to first token"),
        median_error(score, "end to end"),
    )
}

/// The median over `runs` (all of `scores`' when empty) of their median
/// absolute errors: (first token, end to end).
fn median_over(scores: &[(String, Value)], runs: &[&str]) -> (f64, f64) {
    let errors: Vec<(f64, f64)> = scores
        .iter()
        .filter(|s| runs.is_empty() || runs.contains(&s.0.as_str()))
        .map(|s| errors_of(scores, &s.0))
        .collect();
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        (values[(n - 1) / 2] + values[n / 2]) / 2.0
    };
    (
        median(errors.iter().map(|e| e.0).collect()),
        median(errors.iter().map(|e| e.1).collect()),
    )
}

#[test]
fn runs_not_fitted_to_are_predicted_within_the_goal_where_kv_binds_too() {
    let scores = predicted(FITTED, KV_CACHE, &[]);
    assert_eq!(scores.len(), RUNS.len() - 1);
    // Issue 35's goal: a median error across runs, the one where the KV
    // cache binds among them, of 15% or less to the first token, 7% or
    // less end to end.
    let (first_token, end_to_end) = median_over(&scores, &[]);
    assert!(first_token <= 15.0, "{first_token}");
    assert!(end_to_end <= 7.0, "{end_to_end}");
    // The run that needs twice the cache, within 20% and 10%; with ten
    // times the cache, missed by more than 20% end to end.
    let kv_bound = errors_of(&scores, "mixed-12.csv");
    assert!(kv_bound.0 <= 20.0 && kv_bound.1 <= 10.0, "{kv_bound:?}");
    let unbound = errors_of(&predicted(FITTED, "2886080", &[]), "mixed-12.csv");
    assert!(unbound.1 > 20.0, "{unbound:?}");
}

/// The runs of 1,024-token prompts the server kept up with.
const KEPT_UP: [&str; 5] = [
    "rate-02.csv",
    "rate-04.csv",
    "rate-06.csv",
    "rate-08.csv",
    "rate-10.csv",
];

#[test]
fn the_first_token_waits_a_step_more_as_vllm_plans_one_step_ahead() {
    // Planned ahead (the default), each run the server kept up with has
    // its first token to 5%.
    let ahead = predicted(FITTED, KV_CACHE, &[]);
    for run in KEPT_UP {
        let (first_token, _) = errors_of(&ahead, run);
        assert!(first_token <= 5.0, "{run}: {first_token}");
    }
    // Planned as each step ends, every figure of the first token comes
    // early, in every run, and the median is the README's.
    let behind = predicted(FITTED, KV_CACHE, &["--no-async-scheduling"]);
    for (run, score) in &behind {
        for figure in score["figures"].as_array().unwrap() {
            if figure["metric"] == "time to first token" {
                assert!(
                    figure["error_pct"].as_f64().unwrap() < 0.0,
                    "{run}: {figure}"
                );
            }
        }
    }
    assert_eq!(format!("{:.1}", median_over(&behind, &[]).0), "14.3");
}

#[test]
fn what_no_fit_removes_and_which_run_to_fit() {
    let scores = predicted(FITTED, KV_CACHE, &[]);
    // Where the real server fell behind, the pool keeps up: about a third
    // short end to end.
    let behind = errors_of(&scores, "rate-18.csv").1;
    assert!((25.0..40.0).contains(&behind), "{behind}");
    // Fitted at 4 a second, the light runs to 2% end to end, and the run
    // that decodes up to 256 at once missed by more than 40%.
    let light = predicted("rate-04.csv", KV_CACHE, &[]);
    for run in KEPT_UP.iter().filter(|r| **r != "rate-04.csv") {
        assert!(errors_of(&light, run).1 <= 2.0, "{run}");
    }
    assert!(errors_of(&light, "mixed-12.csv").1 > 40.0);
    // Fitted to a run the server fell behind in, the lighter runs are
    // missed by more than the fit at 12 a second misses them.
    let lighter = median_over(&scores, &KEPT_UP).1;
    for fitted in ["rate-18.csv", "mixed-12.csv"] {
        let missed = median_over(&predicted(fitted, KV_CACHE, &[]), &KEPT_UP).1;
        assert!(missed > lighter, "{fitted}: {missed} against {lighter}");
    }
}
