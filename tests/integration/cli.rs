//! The command line: outputs, exit codes and error messages.

use std::fs;
use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};

use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

use crate::support::{BASE, loopcap, model_path};

/// Writes `text` as `model.toml` in a fresh directory.
fn model_file(text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.toml");
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn json_summary(output: &[u8]) -> Value {
    serde_json::from_slice(output).expect("stdout is one JSON object")
}

/// A bad model: exit code 2, the expected message on stderr, nothing on
/// stdout, and no output directory created.
fn assert_rejected(text: &str, extra: &[&str], expected: &str) {
    let (dir, path) = model_file(text);
    let out = dir.path().join("results");
    loopcap()
        .arg("run")
        .arg(&path)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(expected));
    assert!(!out.exists(), "nothing may be written for a bad model");
}

/// `check` accepts `text`, warning (on stderr) with each of `expected`, or
/// with nothing when `expected` is empty.
fn assert_check_warns(text: &str, expected: &[&str]) {
    let (_dir, path) = model_file(text);
    let assert = loopcap().arg("check").arg(&path).assert().success();
    let assert = assert.stdout(predicate::str::contains(": ok: "));
    if expected.is_empty() {
        assert.stderr(predicate::str::contains("warning").not());
        return;
    }
    let mut assert = assert.stdout(predicate::str::contains("warning").not());
    for e in expected {
        assert = assert.stderr(predicate::str::contains(*e));
    }
}

#[test]
fn run_prints_a_readable_summary() {
    loopcap()
        .args(["run"])
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=20m"])
        .assert()
        .success()
        .stdout(predicate::str::contains("loops/min"))
        .stdout(predicate::str::contains("loop latency"))
        .stdout(predicate::str::contains("amplification"))
        .stdout(predicate::str::contains("loops per dollar"))
        .stdout(predicate::str::contains("M events/s"));
}

#[cfg(target_os = "linux")]
#[test]
fn run_reports_its_peak_memory() {
    let output = loopcap()
        .args(["run"])
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=20m"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mib: f64 = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("peak memory"))
        .and_then(|rest| rest.trim().strip_suffix("MiB resident"))
        .and_then(|number| number.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory line in:\n{stdout}"));
    // A process holds at least its binary's pages; a 20-minute M/M/c run
    // holds nothing that grows.
    assert!((0.5..200.0).contains(&mib), "peak memory {mib} MiB");
}

#[test]
fn json_summary_has_every_design_key() {
    let out = loopcap()
        .args(["run"])
        .arg(model_path("coding-agents-shared.toml"))
        .args([
            "--set",
            "duration=1h",
            "--set",
            "capacity.requests_per_min=60",
            "--seed",
            "7",
            "--json",
        ])
        .assert()
        .success();
    let v = json_summary(&out.get_output().stdout);
    for key in [
        "loops_started",
        "loops_completed",
        "loops_failed",
        "loops_per_min",
        "loop_latency_s",
        "steps_per_loop",
        "step_latency_s",
        "attempts",
        "retries",
        "rate_limited",
        "retry_rate",
        "amplification",
        "peak_in_flight",
        "queue_wait_s",
        "cost_usd",
        "loops_per_dollar",
        "events",
        "wall_s",
        "events_per_s",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    for key in ["p50", "p95", "p99", "max", "mean"] {
        assert!(v["loop_latency_s"][key].is_number(), "loop_latency_s.{key}");
        assert!(v["step_latency_s"][key].is_number(), "step_latency_s.{key}");
    }
    assert_eq!(v["seed"], 7);
    assert!(
        v["rate_limited"].as_u64().unwrap() > 0,
        "60 requests/min must bind"
    );
}

#[test]
fn out_writes_summary_timeseries_and_a_manifest_that_reruns_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reserved");
    loopcap()
        .args(["run"])
        .arg(model_path("coding-agents-reserved.toml"))
        .args(["--set", "duration=1h", "--set", "capacity.lanes=12"])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let csv = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(csv.starts_with("time_s,bin_s,arrivals,"));
    assert_eq!(csv.lines().count(), 1 + 360, "1 h in 10 s bins");
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["seed"], 42);
    assert_eq!(manifest["loopcap_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        manifest["model_toml"]
            .as_str()
            .unwrap()
            .contains("lanes = 12")
    );
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".loopcap.json",
            "manifest.json",
            "summary.json",
            "timeseries.csv"
        ],
        "no temporary files left"
    );

    // Rerunning from the manifest reproduces the summary byte for byte,
    // apart from the wall-clock fields.
    let rerun = loopcap()
        .arg("run")
        .arg(out.join("manifest.json"))
        .arg("--json")
        .assert()
        .success();
    let mut again = json_summary(&rerun.get_output().stdout);
    let mut first = summary;
    for v in [&mut again, &mut first] {
        v["wall_s"] = Value::Null;
        v["events_per_s"] = Value::Null;
    }
    assert_eq!(again, first);
}

#[test]
fn a_manifest_moved_with_its_data_reruns() {
    // A model reading an empirical CSV beside it, run into results/, then
    // the whole tree moved: the manifest finds the CSV at its new place.
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("a");
    fs::create_dir_all(tree.join("models")).unwrap();
    fs::copy(
        model_path("../tests/data/tokens.csv"),
        tree.join("models").join("tokens.csv"),
    )
    .unwrap();
    let text = BASE.replace(
        "input_tokens = 100",
        "input_tokens = { dist = \"empirical\", file = \"tokens.csv\", column = \"input_tokens\" }",
    );
    fs::write(tree.join("models").join("m.toml"), text).unwrap();
    let out = tree.join("results").join("run");
    loopcap()
        .arg("run")
        .arg(tree.join("models").join("m.toml"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let manifest: Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["model_dir"], "../../models");
    assert_eq!(manifest["data_files"][0]["file"], "tokens.csv");
    let moved = dir.path().join("b");
    fs::rename(&tree, &moved).unwrap();
    let rerun = moved.join("results").join("run").join("manifest.json");
    loopcap()
        .arg("run")
        .arg(&rerun)
        .arg("--json")
        .assert()
        .success();
    // A data file that changed since the run: the rerun is refused.
    let csv = moved.join("models").join("tokens.csv");
    let mut text = fs::read_to_string(&csv).unwrap();
    let repeated = format!("{}\n", text.lines().last().unwrap());
    text.push_str(&repeated);
    fs::write(&csv, text).unwrap();
    loopcap()
        .arg("run")
        .arg(&rerun)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "tokens.csv changed since it was recorded",
        ));
}

#[test]
fn same_seed_gives_identical_json_and_another_seed_does_not() {
    let run = |seed: &str| {
        let out = loopcap()
            .arg("run")
            .arg(model_path("research-agent-burst.toml"))
            .args(["--json", "--seed", seed])
            .assert()
            .success();
        let mut v = json_summary(&out.get_output().stdout);
        v["wall_s"] = Value::Null;
        v["events_per_s"] = Value::Null;
        v["seed"] = Value::Null;
        v
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

#[test]
fn check_accepts_every_shipped_model() {
    for name in &crate::support::shipped_models() {
        loopcap()
            .arg("check")
            .arg(model_path(name))
            .assert()
            .success()
            .stdout(predicate::str::contains(": ok: "));
    }
}

#[test]
fn check_warns_about_calls_no_bucket_can_ever_admit() {
    assert_check_warns(BASE, &[]);
    let text = BASE.replace(
        "[capacity]\nkind = \"reserved\"\nlanes = 4",
        "[capacity]\nkind = \"shared_api\"\ninput_tokens_per_min = 3000\noutput_tokens_per_min = 1000",
    )
    .replace("input_tokens = 100", "input_tokens = { dist = \"lognormal\", median = 1000, p99 = 5000 }");
    assert_check_warns(
        &text,
        &[
            "model.toml:13: agents.a.input_tokens: 5.6% of calls ask for more than capacity.input_tokens_per_min (3000)",
            "agents.a.max_output_tokens: every call reserves 4096 output tokens, more than capacity.output_tokens_per_min (1000)",
        ],
    );
}

#[test]
fn malformed_toml_is_reported_with_its_line() {
    assert_rejected(
        &BASE.replace("lanes = 4", "lanes = = 4"),
        &[],
        "model.toml:18: invalid TOML",
    );
}

#[test]
fn unknown_keys_are_reported_with_line_and_path() {
    assert_rejected(
        &BASE.replace("lanes = 4", "lanes = 4\nlane_count = 5"),
        &[],
        "model.toml:19: capacity.lane_count: unknown field `lane_count`",
    );
    assert_rejected(
        &BASE.replace(
            "output_tokens = 10",
            "output_tokens = 10\ntemperature = 0.2",
        ),
        &[],
        "model.toml:15: agents.a.temperature: unknown field `temperature`",
    );
}

#[test]
fn wrong_types_are_reported_with_what_is_expected() {
    assert_rejected(
        &BASE.replace("lanes = 4", "lanes = \"four\""),
        &[],
        "model.toml:18: capacity.lanes: invalid type: string \"four\", expected a number",
    );
    assert_rejected(
        &BASE.replace("duration = \"10m\"", "duration = 600"),
        &[],
        "model.toml:4: duration: durations need a unit (got 600)",
    );
    assert_rejected(
        &BASE.replace("kind = \"reserved\"", "kind = \"dedicated\""),
        &[],
        "model.toml:17: capacity.kind: unknown variant `dedicated`, expected one of `shared_api`, `reserved`, `batch`",
    );
}

#[test]
fn negative_and_zero_rates_are_rejected() {
    assert_rejected(
        &BASE.replace("per_min = 60", "per_min = -5"),
        &[],
        "model.toml:9: workload.users.arrivals.per_min: must be >= 0 (got -5)",
    );
    // No arrivals at all is a class that starts nothing: allowed (a sweep
    // may start a rate at 0), with a warning.
    assert_check_warns(
        &BASE.replace("per_min = 60", "per_min = 0"),
        &["workload.users.arrivals.per_min: is 0: this class starts no loops"],
    );
    assert_rejected(
        &BASE.replace("lanes = 4", "lanes = 0"),
        &[],
        "model.toml:18: capacity.lanes: must be a whole number from 1 to 1000000 (got 0)",
    );
}

#[test]
fn a_p99_below_the_median_is_rejected() {
    assert_rejected(
        &BASE.replace(
            "steps = 3",
            "steps = { dist = \"lognormal\", median = 30, p99 = 10 }",
        ),
        &[],
        "model.toml:12: agents.a.steps: p99 (10) must be above the median (30)",
    );
}

#[test]
fn an_empty_empirical_column_is_rejected() {
    let (dir, path) = model_file(&BASE.replace(
        "input_tokens = 100",
        "input_tokens = { dist = \"empirical\", file = \"empty.csv\", column = \"input_tokens\" }",
    ));
    fs::write(dir.path().join("empty.csv"), "input_tokens\n").unwrap();
    loopcap()
        .arg("run")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "model.toml:13: agents.a.input_tokens.file: column `input_tokens` of",
        ))
        .stderr(predicate::str::contains("has no values"));
}

#[test]
fn set_on_a_path_that_does_not_exist_is_rejected() {
    assert_rejected(
        BASE,
        &["--set", "capacity.burst.size=3"],
        "--set capacity.burst.size=3: capacity.burst: unknown field `burst`",
    );
    assert_rejected(
        BASE,
        &["--set", "workload.admins.users=3"],
        "--set workload.admins.users=3: `workload` has no element named `admins`",
    );
    assert_rejected(
        BASE,
        &["--set", "capacity.lane=8"],
        "--set capacity.lane=8: capacity.lane: unknown field `lane`",
    );
    assert_rejected(
        BASE,
        &["--set", "capacity.lanes=-1"],
        "--set capacity.lanes=-1: capacity.lanes: must be a whole number",
    );
    assert_rejected(
        BASE,
        &["--set", "nonsense"],
        "--set nonsense: expected PATH=VALUE",
    );
}

#[test]
fn missing_fields_and_files_are_named() {
    assert_rejected(
        &BASE.replace("lanes = 4\n", ""),
        &[],
        "model.toml:16: capacity.lanes: missing: kind = \"reserved\" needs `lanes`",
    );
    assert_rejected(
        &BASE.replace("input_tokens = 100\n", ""),
        &[],
        "model.toml:11: agents.a.input_tokens: missing: this field is required",
    );
    loopcap()
        .args(["run", "no/such/model.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no/such/model.toml: cannot read"));
}

#[test]
fn fields_of_another_variant_are_rejected() {
    assert_rejected(
        &BASE.replace("lanes = 4", "lanes = 4\nrequests_per_min = 100"),
        &[],
        "model.toml:19: capacity.requests_per_min: unknown field `requests_per_min` for kind = \"reserved\", expected one of `preset`, `time_to_first_token`, `output_tokens_per_s`, `prefill_tokens_per_s`, `cache_ttl`, `lanes`, `queue_limit`",
    );
    // Inside a variant inside a variant: the field's own path and line.
    assert_rejected(
        &BASE.replace(
            "steps = 3",
            "steps = { dist = \"lognormal\", median = 3, p98 = 9 }",
        ),
        &[],
        "model.toml:12: agents.a.steps.p98: unknown field `p98` for dist = \"lognormal\"",
    );
    assert_rejected(
        &BASE.replace("steps = 3", "steps = { dist = \"gamma\", mean = 3 }"),
        &[],
        "model.toml:12: agents.a.steps.shape: missing: dist = \"gamma\" needs `shape`",
    );
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    fs::write(&blocker, "").unwrap();
    // 400 simulated hours would take a while: the refusal comes first.
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=400h", "--out"])
        .arg(&blocker)
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("file: not a directory"));
    // A directory inside a file cannot be made: bad input too.
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=400h", "--out"])
        .arg(blocker.join("run"))
        .timeout(std::time::Duration::from_secs(10))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "file exists and is not a directory",
        ));
}

#[test]
fn run_out_refuses_a_sweep_directory_and_a_second_writer() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = dir.path().join("sweep");
    fs::create_dir(&sweep).unwrap();
    fs::write(sweep.join("runs.csv"), "run\n").unwrap();
    fs::write(sweep.join("manifest.json"), "{}").unwrap();
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .arg("--out")
        .arg(&sweep)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "holds files loopcap did not write (manifest.json, runs.csv)",
        ));
    assert_eq!(
        fs::read_to_string(sweep.join("manifest.json")).unwrap(),
        "{}"
    );
    // Another process holds the lock beside the target.
    let busy = fs::canonicalize(dir.path()).unwrap().join("busy");
    let lock = fs::File::create(loopcap::output::lock::lock_path(&busy)).unwrap();
    lock.lock().unwrap();
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .arg("--out")
        .arg(dir.path().join("busy"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "another loopcap is writing here now",
        ));
    assert!(!dir.path().join("busy").exists());
}

#[test]
fn a_second_run_into_one_directory_replaces_the_whole_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for seed in ["3", "4"] {
        loopcap()
            .arg("run")
            .arg(model_path("mmc.toml"))
            .args(["--set", "duration=10m", "--seed", seed, "--force", "--out"])
            .arg(&out)
            .assert()
            .success();
    }
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 4);
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".out.loopcap-lock", "out"],
        "no staging directory left behind"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("loopcap"))
        .arg("run")
        .arg(model_path("mmc.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_timeseries_too_long_to_hold_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args([
            "--set",
            "duration=365d",
            "--max-events",
            "10000000000",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "mmc.toml: timeseries_bin: a 365d run in bins of",
        ))
        .stderr(predicate::str::contains("set a wider timeseries_bin"));
    assert!(!dir.path().join("out").exists());
    // A bin set on the command line is blamed there.
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=400h", "--set", "timeseries_bin=1s", "--out"])
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "error: --set timeseries_bin=1s: timeseries_bin: a 400h run in bins of 1s makes 1440000",
        ));
}

#[test]
fn durations_past_a_century_are_refused_not_run_forever() {
    // Once, this saturated the clock and the run never ended.
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=213503983d"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--set duration=213503983d: duration: `213503983d` is longer than the longest duration a model may use, 36500d",
        ));
    assert_rejected(
        &BASE.replace("duration = \"10m\"", "duration = \"1e30s\""),
        &[],
        "model.toml:4: duration: `1e30s` is longer than the longest duration",
    );
}

#[test]
fn check_warns_about_a_think_time_that_can_be_zero() {
    let text = BASE.replace(
        "arrivals = { process = \"poisson\", per_min = 60 }",
        "users = 3\nthink_time = \"0s\"",
    );
    assert_check_warns(
        &text,
        &["model.toml:10: workload.users.think_time: can be 0"],
    );
    assert_check_warns(&text.replace("\"0s\"", "\"1s\""), &[]);
}

#[test]
fn counts_are_not_silently_coerced() {
    assert_rejected(
        &BASE.replace("steps = 3", "steps = 0"),
        &[],
        "model.toml:12: agents.a.steps: must be at least 1 (got 0)",
    );
    assert_rejected(
        &BASE.replace("steps = 3", "steps = 2.5"),
        &[],
        "model.toml:12: agents.a.steps: a count must be a whole number (got 2.5)",
    );
    assert_rejected(
        BASE,
        &["--set", "agents.a.fan_out={ every = 2, width = 0 }"],
        "agents.a.fan_out.width: must be at least 1 (got 0)",
    );
    assert_rejected(
        &BASE
            .replace("[agents.a]", "[agents.\"a.b\"]")
            .replace("agent = \"a\"", "agent = \"a.b\""),
        &[],
        "agents.a.b: an agent's name must be non-empty and contain no dots",
    );
    // Distributions whose draws round to 0 are taken as 1, with a warning;
    // so is a class of no users.
    let text = BASE
        .replace("steps = 3", "steps = { dist = \"exponential\", mean = 2 }")
        .replace(
            "arrivals = { process = \"poisson\", per_min = 60 }",
            "users = 0\nthink_time = \"1m\"",
        );
    assert_check_warns(
        &text,
        &[
            "agents.a.steps: 22.1% of draws round to 0, and are taken as 1",
            "workload.users.users: is 0: this class starts no loops",
        ],
    );
}

#[test]
fn a_burst_needs_its_limit_and_bounds_what_can_ever_fit() {
    let shared = BASE.replace(
        "[capacity]\nkind = \"reserved\"\nlanes = 4",
        "[capacity]\nkind = \"shared_api\"\ninput_tokens_per_min = 100000",
    );
    assert_rejected(
        &shared,
        &["--set", "capacity.burst={ requests = 5 }"],
        "capacity.burst.requests: is the burst of requests_per_min, which this capacity does not set",
    );
    let tight = shared.replace(
        "input_tokens_per_min = 100000",
        "input_tokens_per_min = 100000\nburst = { input_tokens = 50 }",
    );
    assert_check_warns(
        &tight,
        &[
            "agents.a.input_tokens: 100.0% of calls ask for more than capacity.burst.input_tokens (50)",
        ],
    );
}

#[test]
fn errors_echo_what_was_written_in_plain_words() {
    // Integers are echoed as written, not through a float (9223372036854776000).
    assert_rejected(
        BASE,
        &["--set", "capacity.lanes=9223372036854775807"],
        "capacity.lanes: must be a whole number from 1 to 1000000 (got 9223372036854775807)",
    );
    // Seeds go up to i64::MAX, and the error says so in words.
    assert_rejected(
        BASE,
        &["--set", "seed=-1"],
        "seed: must be a whole number from 0 to 9223372036854775807 (got -1)",
    );
    assert_rejected(
        BASE,
        &["--set", "seed=9223372036854775808"],
        "9223372036854775808 is too large for an integer: at most 9223372036854775807",
    );
    // A list element on a model without the list.
    assert_rejected(
        BASE,
        &["--set", "fault.0.for=1m"],
        "--set fault.0.for=1m: the model has no `fault` list to pick element 0 of",
    );
    // Serde's type names and words stay inside.
    assert_rejected(
        BASE,
        &["--set", "agents.a=5"],
        "agents.a: invalid type: integer `5`, expected a table",
    );
    assert_rejected(
        BASE,
        &["--set", "workload=5"],
        "workload: invalid type: integer `5`, expected a list",
    );
}

#[test]
fn the_wrong_kind_of_file_says_which_command_takes_it() {
    loopcap()
        .arg("run")
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("experiments")
                .join("lane-sizing.toml"),
        )
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "this is an experiment, not a model (it has a `grid` or `replications`): run it with `loopcap sweep`",
        ));
    loopcap()
        .arg("sweep")
        .arg(model_path("mmc.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "this is a model file, not an experiment (no `grid` or `replications`): run it with `loopcap run`",
        ));
}

#[test]
fn an_experiment_without_a_grid_replicates_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("reps.toml");
    fs::write(
        &exp,
        format!(
            "name = \"reps\"\nmodel = \"{}\"\nseed = 3\nreplications = 3\n[set]\nduration = \"10m\"\nwarmup = \"1m\"\n",
            model_path("mmc.toml").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    loopcap()
        .arg("sweep")
        .arg(&exp)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let runs = fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 4, "{runs}");
    let points = fs::read_to_string(out.join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 2);
    assert!(points.lines().nth(1).unwrap().starts_with("0,3,"));
}

#[test]
fn run_with_replications_gives_the_mean_of_the_runs_it_names() {
    let model = model_path("mmc.toml");
    let output = loopcap()
        .arg("run")
        .arg(&model)
        .args(["--set", "duration=20m", "--replications", "3"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    let seeds: Vec<String> = text
        .split("(seeds ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(seeds.len(), 3, "{text}");
    // Rerun each named seed alone and average by hand.
    let completed: Vec<f64> = seeds
        .iter()
        .map(|seed| {
            let out = loopcap()
                .arg("run")
                .arg(&model)
                .args(["--set", "duration=20m", "--json", "--seed", seed])
                .output()
                .unwrap();
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            v["loops_completed"].as_f64().unwrap()
        })
        .collect();
    let mean = completed.iter().sum::<f64>() / 3.0;
    let json = loopcap()
        .arg("run")
        .arg(&model)
        .args(["--set", "duration=20m", "--replications", "3", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!((v["loops_completed"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!(v["loops_completed"]["ci95"].as_f64().unwrap() > 0.0);
    assert!(v["loop_latency_s.p99"]["mean"].as_f64().is_some());
}

/// Every subcommand of `loopcap`.
const SUBCOMMANDS: [&str; 14] = [
    "run",
    "sweep",
    "merge",
    "plot",
    "check",
    "validate",
    "compare",
    "size",
    "fit",
    "report",
    "presets",
    "calibrate",
    "schema",
    "completions",
];

#[test]
fn every_subcommand_explains_every_flag_and_argument() {
    // clap lists the subcommands under "Commands:"; every one is here.
    let help = loopcap().arg("--help").output().unwrap();
    let text = String::from_utf8(help.stdout).unwrap();
    let listed: Vec<&str> = text
        .split_once("Commands:")
        .unwrap()
        .1
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(listed, SUBCOMMANDS);
    for command in SUBCOMMANDS {
        let help = loopcap().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8(help.stdout).unwrap();
        // clap lists each argument and option on its own line; one without a
        // description is a line holding only the flag or its value name.
        for line in text.lines().map(str::trim) {
            let bare = (line.starts_with('-') || line.starts_with('<') || line.starts_with('['))
                && !line.contains("  ");
            assert!(
                !bare,
                "`{command} --help`: `{line}` has no description\n{text}"
            );
        }
        if command != "validate" {
            assert!(
                text.contains("Example"),
                "`{command} --help` has no example"
            );
        }
    }
}

#[test]
fn completions_cover_every_command_and_flag_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = loopcap().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        let flags = ["replications", "memory-limit", "resume", "shard"];
        for word in SUBCOMMANDS.iter().chain(&flags) {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        // Enumerated values are offered: fit's formats, schema's kinds and
        // (but in fish, whose script clap_complete writes without a
        // positional argument's values) the shells.
        let mut enumerated = vec![
            "azure burstgpt tracelab otel claude_code weka csv",
            "model experiment",
        ];
        if shell != "fish" {
            enumerated.push("bash elvish fish");
        }
        for values in enumerated {
            let listed = values.split(' ').all(|v| script.contains(v));
            assert!(listed, "{shell} completion lacks the values {values}");
        }
        if shell == "bash" {
            assert!(script.contains("--format)\n                    COMPREPLY=($(compgen -W \"azure burstgpt tracelab otel claude_code weka csv\""), "bash does not offer fit's formats after --format");
        }
    }
    loopcap()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values: bash"));
}

/// `check --set` checks the model as `run --set` would run it, and warns
/// where calls of a class cannot be served at all: larger than a replica's
/// KV cache, or in batches that outlast their completion window.
#[test]
fn check_takes_set_and_warns_where_every_call_must_fail() {
    let check = |model: &str, set: &[&str]| {
        let mut command = loopcap();
        command.arg("check").arg(model_path(model));
        for s in set {
            command.args(["--set", s]);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(!check("self-hosted-vllm.toml", &[]).contains("KV cache"));
    let small_kv = check("self-hosted-vllm.toml", &["capacity.kv_cache_tokens=4000"]);
    assert!(
        small_kv.contains(
            "agents.coding.input_tokens: every call would hold more KV cache (input plus max_output_tokens = 4096) than a replica has (capacity.kv_cache_tokens = 4000)"
        ),
        "{small_kv}"
    );
    assert!(!check("batch-offload.toml", &[]).contains("expire"));
    let short = check(
        "batch-offload.toml",
        &["pool.batch.capacity.completion_window=1m"],
    );
    assert!(
        short.contains("pool.batch.capacity.latency: 99.7% of batches would take longer than the completion window (1m) and expire"),
        "{short}"
    );
    let refused = loopcap()
        .arg("check")
        .arg(model_path("mmc.toml"))
        .args(["--set", "capacity.lanes=0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--set capacity.lanes=0"),
        "{refused:?}"
    );
}
