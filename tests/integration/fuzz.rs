//! A structure-aware fuzzer of model and experiment files: shipped models
//! with a few of their real fields set to values drawn from the edges
//! (zero, a microsecond, a century, 10^9, 10^308, negatives, the wrong
//! type) and whole tables swapped for other kinds (an on/off process,
//! thousands of surges, windows and faults, fleets of replicas, a fan-out
//! of a million), and experiments with grids of such values. Each model is
//! run by the real binary, as a user would, with a small work and memory
//! budget; the fuzzer asserts that `loopcap` exits 0, 1 or 2, never panics
//! or aborts (a signal, no exit code), and never runs past a minute (a
//! hang). `PROPTEST_CASES` sets how many models it tries (CI: the default
//! below).

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use proptest::prelude::*;

use crate::support::{loopcap, model_path};

/// Durations at the edges and in between.
const DURATIONS: [&str; 10] = [
    "\"0s\"",
    "\"1us\"",
    "\"1ms\"",
    "\"1s\"",
    "\"10m\"",
    "\"2h\"",
    "\"36500d\"",
    "\"-1s\"",
    "\"1e9s\"",
    "0",
];

/// Numbers at the edges and in between, and one of the wrong type.
const NUMBERS: [&str; 14] = [
    "0",
    "1",
    "-1",
    "0.5",
    "1e-300",
    "1e-6",
    "60",
    "1000",
    "1e6",
    "1e9",
    "4294967296",
    "1.7e308",
    "1e400",
    "\"many\"",
];

fn duration() -> impl Strategy<Value = String> {
    prop::sample::select(&DURATIONS[..]).prop_map(str::to_owned)
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(&NUMBERS[..]).prop_map(str::to_owned)
}

/// `n` copies of `item(i)`, as a TOML array.
fn array(n: usize, item: impl Fn(usize) -> String) -> String {
    format!("[{}]", (0..n).map(item).collect::<Vec<_>>().join(", "))
}

/// One `--set PATH=VALUE` for a model whose class is `class` and agent
/// `agent`, on a field the model has.
fn override_for(class: &'static str, agent: &'static str) -> impl Strategy<Value = String> {
    let counts = prop::sample::select(&[0usize, 1, 3, 2000][..]);
    prop_oneof![
        duration().prop_map(|d| format!("duration={d}")),
        duration().prop_map(|d| format!("warmup={d}")),
        duration().prop_map(|d| format!("timeseries_bin={d}")),
        number().prop_map(|n| format!("seed={n}")),
        number().prop_map(move |n| format!(
            "workload.{class}.arrivals={{ process = \"poisson\", per_min = {n} }}"
        )),
        (number(), number(), duration(), duration()).prop_map(move |(on, off, a, b)| format!(
            "workload.{class}.arrivals={{ process = \"on_off\", on_per_min = {on}, off_per_min = {off}, mean_on = {a}, mean_off = {b} }}"
        )),
        (number(), duration()).prop_map(move |(users, think)| format!(
            "workload.{class}={{ name = \"{class}\", agent = \"{agent}\", users = {users}, think_time = {think} }}"
        )),
        (counts.clone(), number()).prop_map(move |(n, factor)| format!(
            "workload.{class}.surges={}",
            array(n, |i| format!("{{ at = \"{}s\", for = \"1s\", factor = {factor} }}", i % 600))
        )),
        counts.clone().prop_map(|n| format!(
            "window={}",
            array(n, |i| format!("{{ name = \"w{i}\", at = \"{}s\", for = \"1s\" }}", i % 600))
        )),
        (counts, duration()).prop_map(|(n, d)| format!(
            "fault={}",
            array(n, |i| format!("{{ kind = \"outage\", at = \"{}s\", for = {d} }}", i % 600))
        )),
        number().prop_map(move |n| format!("agents.{agent}.steps={n}")),
        number().prop_map(move |n| format!(
            "agents.{agent}.steps={{ dist = \"pareto\", scale = 1, shape = {n} }}"
        )),
        number().prop_map(move |n| format!("agents.{agent}.input_tokens={n}")),
        number().prop_map(move |n| format!("agents.{agent}.output_tokens={n}")),
        number().prop_map(move |n| format!("agents.{agent}.max_output_tokens={n}")),
        (number(), number()).prop_map(move |(every, width)| format!(
            "agents.{agent}.fan_out={{ every = {every}, width = {width} }}"
        )),
        duration().prop_map(move |d| format!("agents.{agent}.tool_latency={d}")),
        duration().prop_map(move |d| format!("agents.{agent}.deadline={d}")),
        number().prop_map(|n| format!(
            "capacity={{ kind = \"reserved\", lanes = {n}, time_to_first_token = \"1s\" }}"
        )),
        (number(), number()).prop_map(|(rpm, tpm)| format!(
            "capacity={{ kind = \"shared_api\", requests_per_min = {rpm}, output_tokens_per_min = {tpm}, time_to_first_token = \"1s\", output_tokens_per_s = 60 }}"
        )),
        (number(), number(), duration()).prop_map(|(replicas, kv, every)| format!(
            "capacity={{ kind = \"self_hosted\", min_replicas = 1, max_replicas = {replicas}, max_sequences = 16, kv_cache_tokens = {kv}, prefill_tokens_per_s = 20000, decode_tokens_per_s = [{{ batch = 1, tokens_per_s = 100 }}], autoscale = {{ metric = \"queue\", target = 1, interval = {every}, window = \"1m\", scale_down_after = \"5m\" }} }}"
        )),
        (duration(), duration()).prop_map(|(latency, window)| format!(
            "capacity={{ kind = \"batch\", latency = {latency}, collect_for = \"1m\", completion_window = {window} }}"
        )),
        number().prop_map(|n| format!("client.max_attempts={n}")),
        duration().prop_map(|d| format!("client.timeout={d}")),
        duration().prop_map(|d| format!(
            "client.backoff={{ kind = \"exponential\", base = {d}, cap = \"1m\", jitter = \"full\" }}"
        )),
    ]
}

/// A shipped model (its file, class and agent) and up to five overrides.
fn model_case() -> impl Strategy<Value = (&'static str, Vec<String>)> {
    prop_oneof![
        prop::collection::vec(override_for("customers", "one-call"), 1..5)
            .prop_map(|o| ("mmc.toml", o)),
        prop::collection::vec(override_for("developers", "coding"), 1..5)
            .prop_map(|o| ("coding-agents-shared.toml", o)),
        prop::collection::vec(override_for("analysts", "research"), 1..5)
            .prop_map(|o| ("research-agent-burst.toml", o)),
        // Its four hours are past the budget: ten minutes after warm-up.
        prop::collection::vec(override_for("developers", "coding"), 1..5).prop_map(|o| (
            "self-hosted-vllm.toml",
            [vec!["duration=40m".to_owned()], o].concat()
        )),
    ]
}

/// What the fuzzer asks of every command it runs: an exit code of 0, 1 or
/// 2 (no signal: an abort or a kill at the minute), and no panic.
fn assert_clean(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        matches!(output.status.code(), Some(0..=2)),
        "{what}: {:?}\n{stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

/// The budgets the fuzzer runs under: small, so a run is quick.
const BUDGET: [&str; 4] = ["--max-events", "500000", "--memory-limit", "256MiB"];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_fuzzed_model_is_checked_and_run_cleanly((model, set) in model_case()) {
        for command in ["check", "run"] {
            let mut cmd = loopcap();
            cmd.arg(command).arg(model_path(model)).args(BUDGET);
            for s in &set {
                cmd.args(["--set", s]);
            }
            let output = cmd.timeout(Duration::from_secs(60)).output().unwrap();
            assert_clean(&output, &format!("{command} {model} {set:?}"));
        }
    }

    #[test]
    fn a_fuzzed_experiment_is_checked_cleanly(
        (model, set) in model_case(),
        replications in prop::sample::select(&["0", "1", "3", "100000", "\"x\""][..]),
        values in prop::collection::vec(number(), 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exp.toml");
        let mut text = format!(
            "name = \"fuzz\"\nmodel = \"{}\"\nseed = 1\nreplications = {replications}\n\n[set]\n",
            model_path(model).display()
        );
        // The overrides, as the experiment's [set] of quoted paths.
        for s in &set {
            let (p, v) = s.split_once('=').unwrap();
            text.push_str(&format!("\"{p}\" = {v}\n"));
        }
        text.push_str(&format!("\n[grid]\nseed = [{}]\n", values.join(", ")));
        std::fs::write(&path, &text).unwrap();
        let output = loopcap()
            .arg("check")
            .arg(&path)
            .args(BUDGET)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert_clean(&output, &text);
        assert!(Path::new(&path).exists());
    }
}
