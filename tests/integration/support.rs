//! Building and running models from inline TOML.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex, OnceLock};

use assert_cmd::Command;

use loopcap::config::{self, Source};
use loopcap::model::measure::summary::Summary;
use loopcap::model::{self, ModelSpec};

/// A small open-workload model on reserved lanes; tests override what they need.
pub const BASE: &str = r#"
name = "test model"
seed = 1
duration = "10m"

[[workload]]
name = "users"
agent = "a"
arrivals = { process = "poisson", per_min = 60 }

[agents.a]
steps = 3
input_tokens = 100
output_tokens = 10

[capacity]
kind = "reserved"
lanes = 4
time_to_first_token = { dist = "exponential", mean = "500ms" }
"#;

/// How far `a` is from `b`, relative to `b`.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b
}

/// Validates `text` with `--set`-style overrides, panicking with the diagnostic on error.
pub fn spec(text: &str, overrides: &[&str]) -> ModelSpec {
    let source = Source {
        name: "test.toml".into(),
        text: text.into(),
        base_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
    };
    match config::load_model_with(&source, overrides) {
        Ok(loaded) => loaded.spec,
        Err(e) => panic!("{e}"),
    }
}

/// The error [`BASE`] with `overrides` is refused with.
pub fn load_error(overrides: &[&str]) -> String {
    load_error_of(BASE, overrides)
}

/// The error model `text` with `overrides` is refused with.
pub fn load_error_of(text: &str, overrides: &[&str]) -> String {
    let source = Source {
        name: "test.toml".into(),
        text: text.into(),
        base_dir: ".".into(),
    };
    match config::load_model_with(&source, overrides) {
        Ok(_) => panic!("{overrides:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// The warnings [`BASE`] with `overrides` is loaded with that mention `about`.
pub fn warnings_about(overrides: &[&str], about: &str) -> Vec<String> {
    let source = Source {
        name: "test.toml".into(),
        text: BASE.into(),
        base_dir: ".".into(),
    };
    config::load_model_with(&source, overrides)
        .unwrap()
        .warnings
        .iter()
        .map(ToString::to_string)
        .filter(|w| w.contains(about))
        .collect()
}

pub fn run(text: &str, overrides: &[&str]) -> Summary {
    model::simulate(&spec(text, overrides), false)
        .unwrap()
        .summary
}

/// Runs [`BASE`] with a single user whose single loop of one-step calls
/// starts at t = 1 h (the next would start beyond the 90-minute horizon),
/// then `overrides`: a scene small enough to predict to the microsecond.
pub fn run_one_loop(overrides: &[&str]) -> Summary {
    let one_loop = [
        "workload.users={ name = \"users\", agent = \"a\", users = 1, think_time = \"1h\" }",
        "duration=90m",
        "agents.a.steps=1",
        "agents.a.input_tokens=1",
    ];
    run(BASE, &[&one_loop[..], overrides].concat())
}

/// The loopcap binary, to run as a command.
pub fn loopcap() -> Command {
    Command::cargo_bin("loopcap").unwrap()
}

/// What a documented command printed and, for `size`, the answer it wrote
/// (`--out`'s `result.json`, what `--json` would print instead of the
/// table), so that a sizing's table and its numbers come from one run.
pub struct Documented {
    pub output: Output,
    pub answer: Option<serde_json::Value>,
}

/// What `loopcap ARGS` prints, run in the repository's root once per test
/// process however many tests ask: the documentation's heaviest commands
/// (a week of several plans, sized) are checked by more than one test.
/// Tests asking at once wait for the one run. A `size` without `--out`
/// writes its results to a directory of its own (what it prints is the
/// same), for its answer.
pub fn documented_run(args: &[String]) -> Arc<Documented> {
    type Runs = Mutex<HashMap<Vec<String>, Arc<OnceLock<Arc<Documented>>>>>;
    static RUNS: OnceLock<Runs> = OnceLock::new();
    let cell = RUNS
        .get_or_init(Runs::default)
        .lock()
        .unwrap()
        .entry(args.to_vec())
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let mut command = loopcap();
        command.current_dir(env!("CARGO_MANIFEST_DIR")).args(args);
        let sizing =
            args.first().is_some_and(|a| a == "size") && !args.iter().any(|a| a == "--out");
        let dir = sizing.then(|| tempfile::tempdir().unwrap());
        if let Some(dir) = &dir {
            command.arg("--out").arg(dir.path().join("size"));
        }
        let output = command.output().unwrap();
        let answer = dir.and_then(|dir| {
            let text = std::fs::read_to_string(dir.path().join("size/result.json")).ok()?;
            Some(serde_json::from_str(&text).unwrap())
        });
        Arc::new(Documented { output, answer })
    })
    .clone()
}

/// The README and the guide's chapters (`docs/guide/*.md`, in order) as
/// one text: every command, output and number in them is tested alike.
pub fn documentation() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(root.join("docs/guide"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    chapters.sort();
    std::iter::once(root.join("README.md"))
        .chain(chapters)
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The path of a shipped model in `models/`.
pub fn model_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
}

/// Loads a shipped model from `models/`.
pub fn shipped(name: &str, overrides: &[&str]) -> ModelSpec {
    let source = Source::read(&model_path(name)).unwrap();
    config::load_model_with(&source, overrides).unwrap().spec
}

/// Where shortened runs of every shipped model start: the working week's
/// busiest hours, so that a model of a week has load in its first hour
/// and its windows start within it (a model without a clock is unchanged
/// but for the start it reports).
pub const BUSY_START: &str = "start=Tue 15:00";

/// The file names of every model in `models/`, sorted.
pub fn shipped_models() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 19, "models/ holds {names:?}");
    names
}

pub fn assert_conserved(s: &Summary, what: &str) {
    assert_eq!(
        s.loops_started,
        s.loops_completed + s.loops_failed + s.loops_in_flight,
        "{what}: started {} != completed {} + failed {} + in flight {}",
        s.loops_started,
        s.loops_completed,
        s.loops_failed,
        s.loops_in_flight
    );
}

/// Sweeps `experiment` (whose `model` is `model.toml`) over `model` on one
/// thread and on two, asserts the two runs.csv are the same bytes, and
/// returns it.
pub fn runs_on_one_and_two_threads(model: &str, experiment: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.toml"), model).unwrap();
    std::fs::write(dir.path().join("exp.toml"), experiment).unwrap();
    let runs = |threads: &str| {
        let out = dir.path().join(format!("out{threads}"));
        let status = loopcap()
            .arg("sweep")
            .arg(dir.path().join("exp.toml"))
            .args(["--threads", threads, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        std::fs::read_to_string(out.join("runs.csv")).unwrap()
    };
    let one = runs("1");
    assert_eq!(one, runs("2"), "runs.csv differs between 1 and 2 threads");
    one
}

/// Uniform draws in [0, 1) from a xorshift generator seeded with `state`:
/// test data drawn independently of loopcap's own generators.
pub fn uniform(mut state: u64) -> impl FnMut() -> f64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}
