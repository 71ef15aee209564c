//! Request traces replayed: the Azure code trace's arrivals, bin by bin,
//! and its token totals, recounted here from the CSV; `speed` and the
//! window scale and cut arrival times exactly; bad rows are errors at
//! their line, or skipped and counted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use loopcap::model;
use loopcap::model::measure::summary::Summary;

use crate::support::{loopcap, rel, spec, uniform};

pub fn azure_code() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/traces/azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv")
}

/// A class replaying `trace` (a TOML inline table) on an API that limits
/// nothing, one call per row.
fn replay(trace: &str, duration: &str) -> String {
    format!(
        r#"
name = "replay"
seed = 1
duration = "{duration}"

[[workload]]
name = "requests"
agent = "a"
trace = {trace}

[agents.a]
steps = 1
input_tokens = 1
output_tokens = 1
max_output_tokens = 8192

[capacity]
kind = "shared_api"
time_to_first_token = "1s"
"#
    )
}

/// Each row's seconds since the first row, and its tokens, read here with
/// a parser of the trace's own (one day, `HH:MM:SS.fffffff`).
pub fn rows() -> Vec<(f64, u64, u64)> {
    let text = fs::read_to_string(azure_code()).unwrap();
    let mut out: Vec<(f64, u64, u64)> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let clock = f[0].split(' ').nth(1).unwrap();
        let hms: Vec<f64> = clock.split(':').map(|x| x.parse().unwrap()).collect();
        let s = hms[0] * 3600.0 + hms[1] * 60.0 + hms[2];
        out.push((s, f[1].parse().unwrap(), f[2].parse().unwrap()));
    }
    let first = out[0].0;
    out.iter().map(|&(s, i, o)| (s - first, i, o)).collect()
}

/// `text` as a model file in `dir` (its traces relative to it), run once.
fn run_in(dir: &Path, text: String) -> Summary {
    let source = loopcap::config::Source {
        name: "m.toml".into(),
        text,
        base_dir: dir.to_path_buf(),
    };
    let spec = loopcap::config::load_model_with(&source, &[] as &[&str])
        .unwrap()
        .spec;
    model::simulate(&spec, false).unwrap().summary
}

/// A fresh directory holding a copy of `data`'s `file`, for a model file
/// beside it (tests write nothing into the repository).
fn copied(data: &Path, file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(data.join(file), dir.path().join(file)).unwrap();
    dir
}

/// What `loopcap check` prints on stderr for `text` written as a model
/// file in `dir`, which must exit with `code`.
fn checked_in(dir: &Path, text: &str, code: i32) -> String {
    let model = dir.join("model.toml");
    fs::write(&model, text).unwrap();
    let out = loopcap().arg("check").arg(&model).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{text}\n{stderr}");
    stderr
}

fn arrivals_per_bin(text: &str, bins: usize) -> Vec<u64> {
    let result = model::simulate(&spec(text, &[]), true).unwrap();
    let ts = result.timeseries.unwrap();
    let at = loopcap::model::measure::timeseries::Counter::Arrivals as usize;
    ts.bins().iter().take(bins).map(|b| b.counts[at]).collect()
}

/// With nothing to wait for, every row is one loop arriving at its time:
/// arrivals per 10 s bin and the token totals are the trace's exactly.
#[test]
fn the_azure_code_trace_replays_bin_by_bin_with_its_tokens() {
    let rows = rows();
    let file = azure_code().display().to_string();
    let text = replay(
        &format!("{{ file = \"{file}\", format = \"azure\" }}"),
        "1h",
    );
    let bins = 3436 / 10 + 1;
    let mut expected = vec![0u64; bins];
    for &(s, _, _) in &rows {
        expected[(s / 10.0) as usize] += 1;
    }
    assert_eq!(arrivals_per_bin(&text, bins), expected);
    let s = model::simulate(&spec(&text, &[]), false).unwrap().summary;
    assert_eq!(s.loops_started, rows.len() as u64);
    assert_eq!(s.loops_completed, rows.len() as u64);
    assert_eq!(s.input_tokens, rows.iter().map(|r| r.1).sum::<u64>());
    assert_eq!(s.output_tokens, rows.iter().map(|r| r.2).sum::<u64>());
}

/// Twice as fast, a 10 s bin holds what two did; a window from 10 minutes
/// for 20 replays exactly the rows recorded in it.
#[test]
fn speed_and_window_scale_and_cut_arrival_times_exactly() {
    let file = azure_code().display().to_string();
    let once = arrivals_per_bin(
        &replay(
            &format!("{{ file = \"{file}\", format = \"azure\" }}"),
            "1h",
        ),
        340,
    );
    let twice = arrivals_per_bin(
        &replay(
            &format!("{{ file = \"{file}\", format = \"azure\", speed = 2 }}"),
            "30m",
        ),
        170,
    );
    for (k, n) in twice.iter().enumerate() {
        assert_eq!(*n, once[2 * k] + once[2 * k + 1], "bin {k}");
    }
    let window = replay(
        &format!("{{ file = \"{file}\", format = \"azure\", from = \"10m\", for = \"20m\" }}"),
        "1h",
    );
    let s = model::simulate(&spec(&window, &[]), false).unwrap().summary;
    let inside = rows()
        .iter()
        .filter(|r| (600.0..1800.0).contains(&r.0))
        .count();
    assert_eq!(s.loops_started, inside as u64);
}

/// A CSV with its own columns; a bad row is an error at its line, or with
/// bad_rows = "skip" skipped and counted by `check`.
#[test]
fn bad_rows_are_errors_at_their_line_or_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("t.csv"),
        "ms,in,out\n0,100,10\n500,200,20\n400,300,30\n900,-4,40\n1000,50,5\n",
    )
    .unwrap();
    let trace = "{ file = \"t.csv\", format = \"csv\", columns = { time = \"ms\", time_unit = \"ms\", input = \"in\", output = \"out\" } }";
    let stderr = checked_in(dir.path(), &replay(trace, "1m"), 2);
    assert!(
        stderr.contains("workload.requests.trace.file: t.csv:4: time goes backwards"),
        "{stderr}"
    );
    let skipping = trace.replace("format = \"csv\"", "format = \"csv\", bad_rows = \"skip\"");
    let stderr = checked_in(dir.path(), &replay(&skipping, "1m"), 0);
    assert!(
        stderr.contains("2 bad rows of t.csv are skipped"),
        "{stderr}"
    );
    let model = dir.path().join("model.toml");
    let out = loopcap()
        .args(["run", "--json"])
        .arg(&model)
        .output()
        .unwrap();
    let s: loopcap::model::measure::summary::Summary = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((s.loops_started, s.input_tokens), (3, 350));
}

/// BurstGPT's columns are found by name, whatever their order, and its
/// seconds are taken to the microsecond.
#[test]
fn a_burstgpt_file_replays_by_its_column_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("b.csv"),
        "Timestamp,Session ID,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
         5.0,1,ChatGPT,472,18,490,Conversation log\n\
         5.25,1,GPT-4,1014,0,1014,Conversation log\n\
         65.5,2,ChatGPT,90,30,120,API log\n",
    )
    .unwrap();
    let text = replay("{ file = \"b.csv\", format = \"burstgpt\" }", "5m");
    let s = run_in(dir.path(), text);
    assert_eq!(
        (s.loops_completed, s.input_tokens, s.output_tokens),
        (3, 1576, 48)
    );
    // No pool has long-context rates: the figure is not given.
    assert_eq!(s.long_context_input_tokens, None);
}

fn tracelab_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/traces/tracelab-example/round_trace.jsonl")
}

/// The example's requests recounted here from the JSON: each request's
/// rounds as (output tokens, longest tool call in s), and the input and
/// cached tokens of all rounds. A request starts at a user message.
fn tracelab_requests() -> (Vec<Vec<(f64, f64)>>, u64, u64) {
    let text = fs::read_to_string(tracelab_example()).unwrap();
    let (mut requests, mut input, mut cached) = (Vec::<Vec<(f64, f64)>>::new(), 0, 0);
    for line in text.lines() {
        let round: serde_json::Value = serde_json::from_str(line).unwrap();
        let events = round["timing_events"].as_array().unwrap();
        if events.iter().any(|e| e["event_type"] == "user_message") {
            requests.push(Vec::new());
        }
        let tool_ms = round["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tool_wall_latency_ms"].as_f64().unwrap())
            .fold(0.0, f64::max);
        input += round["input_tokens_total"].as_u64().unwrap();
        cached += round["prefix_tokens"].as_u64().unwrap();
        let output = round["output_tokens"].as_f64().unwrap();
        requests
            .last_mut()
            .unwrap()
            .push((output, tool_ms / 1000.0));
    }
    (requests, input, cached)
}

/// TraceLab's example, replayed on lanes that answer in 1 s + output / 100
/// tokens/s: each request is one loop of its recorded rounds with the
/// longest tool call after each round but the last, so each loop's
/// latency is known to the microsecond. Mean and max latency, rounds and
/// tokens equal the recount. The two sessions start 72 days apart.
#[test]
fn tracelab_sessions_replay_each_requests_rounds_and_tokens_exactly() {
    let (requests, input, cached) = tracelab_requests();
    let latency: Vec<f64> = requests
        .iter()
        .map(|rounds| {
            let service: f64 = rounds.iter().map(|r| 1.0 + r.0 / 100.0).sum();
            let tools: f64 = rounds[..rounds.len() - 1].iter().map(|r| r.1).sum();
            service + tools
        })
        .collect();
    let file = tracelab_example().display().to_string();
    let text = replay(
        &format!("{{ file = \"{file}\", format = \"tracelab\" }}"),
        "80d",
    )
    .replace(
        "kind = \"shared_api\"",
        "kind = \"reserved\"\nlanes = 4\noutput_tokens_per_s = 100",
    );
    let s = model::simulate(&spec(&text, &[]), false).unwrap().summary;
    let rounds: usize = requests.iter().map(Vec::len).sum();
    let output: f64 = requests.iter().flatten().map(|r| r.0).sum();
    assert_eq!(
        (s.loops_completed, s.calls, s.attempts),
        (requests.len() as u64, rounds as u64, rounds as u64)
    );
    assert_eq!(
        (
            s.input_tokens,
            s.cached_input_tokens,
            s.output_tokens as f64
        ),
        (input, cached, output)
    );
    let mean = latency.iter().sum::<f64>() / latency.len() as f64;
    let max = latency.iter().copied().fold(0.0, f64::max);
    assert!(
        (s.loop_latency_s.unwrap().mean - mean).abs() < 1e-3,
        "{mean}"
    );
    assert!((s.loop_latency_s.unwrap().max - max).abs() < 1e-3, "{max}");
    assert_eq!(s.steps_per_loop.unwrap().max, 5.0);
    // Over the first 30 days only the Codex session (3 requests) starts;
    // at speed 2 the Claude session starts within 40 days as well.
    let window = text.replace(
        "format = \"tracelab\"",
        "format = \"tracelab\", for = \"30d\"",
    );
    let s = model::simulate(&spec(&window, &[]), false).unwrap().summary;
    assert_eq!(s.loops_completed, 3);
    let fast = text.replace("format = \"tracelab\"", "format = \"tracelab\", speed = 2");
    assert_eq!(
        model::simulate(&spec(&fast, &["duration=40d"]), false)
            .unwrap()
            .summary
            .loops_completed,
        5
    );
    assert_eq!(
        model::simulate(&spec(&text, &["duration=40d"]), false)
            .unwrap()
            .summary
            .loops_completed,
        3
    );
}

/// Rows sharing a session id are one loop: calls in recorded order, the
/// gap to the next call less the recorded latency as tool time.
#[test]
fn a_csv_session_column_makes_loops_with_recorded_tool_time() {
    let dir = tempfile::tempdir().unwrap();
    // Session a: calls at 0, 10 and 30 s, each 2 s recorded; b: one call at 5 s.
    fs::write(
        dir.path().join("s.csv"),
        "t,sid,in,out,lat\n0,a,100,0,2\n5,b,10,0,1\n10,a,200,0,2\n30,a,300,0,2\n",
    )
    .unwrap();
    let trace = "{ file = \"s.csv\", format = \"csv\", columns = { time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\", session = \"sid\", latency = \"lat\" } }";
    let text = replay(trace, "10m");
    let s = run_in(dir.path(), text);
    assert_eq!((s.loops_completed, s.calls, s.input_tokens), (2, 4, 610));
    // Loop a: three 1 s calls and tool times of 10 - 2 and 20 - 2 s.
    assert!(
        (s.loop_latency_s.unwrap().max - 29.0).abs() < 1e-6,
        "{:?}",
        s.loop_latency_s
    );
    assert!((s.loop_latency_s.unwrap().mean - 15.0).abs() < 1e-6);
}

/// A TraceLab round whose cached prefix exceeds its input is an error at
/// its line; with bad_rows = "skip" the line is skipped and counted.
#[test]
fn a_bad_tracelab_round_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(tracelab_example()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replacen("\"prefix_tokens\":35738", "\"prefix_tokens\":99999", 1);
    fs::write(dir.path().join("r.jsonl"), lines.join("\n")).unwrap();
    let stderr = checked_in(
        dir.path(),
        &replay("{ file = \"r.jsonl\", format = \"tracelab\" }", "80d"),
        2,
    );
    assert!(
        stderr.contains("r.jsonl:3: `prefix_tokens` (99999) is more than `input_tokens_total`"),
        "{stderr}"
    );
    let skipping = "{ file = \"r.jsonl\", format = \"tracelab\", bad_rows = \"skip\" }";
    let stderr = checked_in(dir.path(), &replay(skipping, "80d"), 0);
    assert!(
        stderr.contains("1 bad rows of r.jsonl are skipped"),
        "{stderr}"
    );
}

/// A sweep replaying the TraceLab sessions into tight request limits (429s,
/// jittered retries) gives the same runs.csv on one and two threads.
#[test]
fn a_session_replay_sweep_is_the_same_on_one_and_two_threads() {
    let file = tracelab_example().display().to_string();
    let model = replay(
        &format!("{{ file = \"{file}\", format = \"tracelab\" }}"),
        "80d",
    )
    .replace(
        "time_to_first_token = \"1s\"",
        "time_to_first_token = { dist = \"exponential\", mean = \"2s\" }\nrequests_per_min = 1\n\n[client]\nmax_attempts = 3\nbackoff = { kind = \"exponential\", base = \"1s\", cap = \"10s\", jitter = \"full\" }",
    );
    let experiment = r#"
name = "sessions into request limits"
model = "model.toml"
seed = 3
replications = 2

[grid]
"capacity.requests_per_min" = [1, 2, 1000]
"#;
    let runs = crate::support::runs_on_one_and_two_threads(&model, experiment);
    let mut reader = csv::Reader::from_reader(runs.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let limited: Vec<f64> = rows
        .iter()
        .map(|r| r[col("rate_limited")].parse().unwrap())
        .collect();
    assert!(limited.iter().any(|&n| n > 0.0), "{limited:?}");
    assert!(limited.contains(&0.0), "{limited:?}");
}

/// Sessions interleave in the file and replay as they are read: a session
/// whose loop fails at its first call (too large for the bucket) has its
/// later rows skipped while the other runs on; the window picks sessions
/// by their start, and a session that starts inside it runs past its end.
#[test]
fn streamed_sessions_skip_a_failed_loops_rows_and_window_by_start() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("s.csv"),
        "t,sid,in,out\n0,a,5000,0\n5,b,10,0\n10,a,10,0\n15,b,20,0\n20,c,30,0\n25,b,40,0\n30,a,50,0\n",
    )
    .unwrap();
    let run = |window: &str| {
        let trace = format!(
            "{{ file = \"s.csv\", format = \"csv\"{window}, columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\", session = \"sid\" }} }}"
        );
        let text = replay(&trace, "10m").replace(
            "kind = \"shared_api\"",
            "kind = \"shared_api\"\ninput_tokens_per_min = 1000",
        );
        run_in(dir.path(), text)
    };
    let s = run("");
    // a fails at once (5,000 tokens into a 1,000-token bucket); b's three
    // calls and c's one complete.
    assert_eq!(
        (s.loops_started, s.loops_completed, s.loops_failed),
        (3, 2, 1)
    );
    assert_eq!((s.calls, s.too_large, s.input_tokens), (5, 1, 100));
    // From 4 s for 10 s only b starts; its calls at 15 and 25 s still replay.
    let s = run(", from = \"4s\", for = \"10s\"");
    assert_eq!((s.loops_started, s.calls, s.input_tokens), (1, 3, 70));
}

/// A recorded session is one prompt-cache session: with a cache that never
/// runs out within the run, only each session's first round writes its
/// recorded prefix and every later round reads its own; with a cache that
/// expires between any two rounds, every round writes. Recounted from the
/// JSON by session id. What a session's first round read it shares with
/// other sessions whose first read is as long.
#[test]
fn tracelab_sessions_keep_their_prompt_cache_across_requests() {
    let text = fs::read_to_string(tracelab_example()).unwrap();
    let (mut first_prefixes, mut all_prefixes) = (0, 0);
    let mut seen = Vec::new();
    for line in text.lines() {
        let round: serde_json::Value = serde_json::from_str(line).unwrap();
        let prefix = round["prefix_tokens"].as_u64().unwrap();
        all_prefixes += prefix;
        let session = round["session_id"].as_str().unwrap().to_owned();
        if !seen.contains(&session) {
            first_prefixes += prefix;
            seen.push(session);
        }
    }
    assert_eq!(seen.len(), 2);
    let file = tracelab_example().display().to_string();
    let model = replay(
        &format!("{{ file = \"{file}\", format = \"tracelab\" }}"),
        "80d",
    );
    let run = |ttl: &str| {
        let s = model::simulate(
            &spec(&model, &[&format!("capacity.cache_ttl=\"{ttl}\"")]),
            false,
        )
        .unwrap()
        .summary;
        (s.cache_write_tokens, s.cached_input_tokens)
    };
    assert_eq!(
        run("2000h"),
        (first_prefixes, all_prefixes - first_prefixes)
    );
    assert_eq!(run("1ms"), (all_prefixes, 0));
    // The two sessions first read prefixes of other lengths (6,912 and
    // 27,217 tokens): other texts, not shared. Made to start with the
    // Codex session's 6,912, the later Claude session reads them from it
    // at its first round and writes nothing.
    let dir = tempfile::tempdir().unwrap();
    let same = text.replacen("\"prefix_tokens\":27217", "\"prefix_tokens\":6912", 1);
    assert_ne!(same, text);
    fs::write(dir.path().join("t.jsonl"), same).unwrap();
    let s = run_in(
        dir.path(),
        replay("{ file = \"t.jsonl\", format = \"tracelab\" }", "80d").replace(
            "kind = \"shared_api\"",
            "kind = \"shared_api\"\ncache_ttl = \"2000h\"",
        ),
    );
    let all = all_prefixes - 27_217 + 6_912;
    assert_eq!(
        (s.cache_write_tokens, s.cached_input_tokens),
        (6_912, all - 6_912)
    );
}

/// A TraceLab round calls the model its recorded model maps to: the
/// example's Claude rounds go to the `opus` pool and its Codex rounds to
/// the `gpt` pool, each with the rounds and input tokens recounted from
/// the JSON by model.
#[test]
fn tracelab_rounds_call_the_models_the_trace_maps_them_to() {
    let text = fs::read_to_string(tracelab_example()).unwrap();
    let mut by_model: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let round: serde_json::Value = serde_json::from_str(line).unwrap();
        let entry = by_model
            .entry(round["model"].as_str().unwrap().to_owned())
            .or_default();
        entry.0 += 1;
        entry.1 += round["input_tokens_total"].as_u64().unwrap();
    }
    let file = tracelab_example().display().to_string();
    let mapping = "models = { \"claude-opus-4-8\" = \"opus\", \"gpt-5.4\" = \"gpt\" }";
    let (before, _) = replay(
        &format!("{{ file = \"{file}\", format = \"tracelab\", {mapping} }}"),
        "80d",
    )
    .split_once("[capacity]")
    .map(|(b, a)| (b.to_owned(), a.to_owned()))
    .unwrap();
    let model = format!(
        r#"{before}
[models.opus]
[models.gpt]

[[pool]]
name = "opus"
models = ["opus"]
capacity = {{ kind = "reserved", lanes = 2, time_to_first_token = "1s" }}

[[pool]]
name = "gpt"
models = ["gpt"]
capacity = {{ kind = "reserved", lanes = 2, time_to_first_token = "1s" }}
"#
    );
    // Steps the trace does not map follow the agent's model.
    let s = model::simulate(&spec(&model, &["agents.a.model=\"gpt\""]), false)
        .unwrap()
        .summary;
    let got = |name: &str| {
        let m = s.by_model.iter().find(|m| m.name == name).unwrap();
        (m.attempts, m.input_tokens)
    };
    assert_eq!(got("opus"), by_model["claude-opus-4-8"]);
    assert_eq!(got("gpt"), by_model["gpt-5.4"]);
    assert_eq!(s.pools[0].attempts, by_model["claude-opus-4-8"].0);

    let bad = model.replace("\"gpt-5.4\" = \"gpt\"", "\"gpt-5.4\" = \"o3\"");
    let e = loopcap::config::load_model_with(
        &loopcap::config::Source {
            name: "m.toml".into(),
            text: bad,
            base_dir: ".".into(),
        },
        &["agents.a.model=\"gpt\""],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("workload.requests.trace.models.gpt-5.4: no model is called `o3`: the models are gpt, opus"),
        "{e}"
    );
}

/// What is wrong with a trace file is said in terms of the file: a CSV
/// given as TraceLab, a name that is empty, a directory, an empty file, a
/// header with no rows; an empirical column's file likewise.
#[test]
fn a_wrong_trace_file_says_what_is_wrong_with_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("t.csv"), "a,b\n1,2\n").unwrap();
    fs::write(dir.path().join("empty.csv"), "").unwrap();
    fs::write(
        dir.path().join("header.csv"),
        "TIMESTAMP,ContextTokens,GeneratedTokens\n",
    )
    .unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    for (trace, expected) in [
        (
            "{ file = \"t.csv\", format = \"tracelab\" }",
            "t.csv:1: not a TraceLab trace, whose lines are JSON objects, one a round (this one starts `a,b`",
        ),
        (
            "{ file = \"\", format = \"azure\" }",
            "workload.requests.trace.file: must name a file, relative to the model's directory",
        ),
        (
            "{ file = \"sub\", format = \"azure\" }",
            "sub is a directory: `file` names a file",
        ),
        (
            "{ file = \"empty.csv\", format = \"azure\" }",
            "empty.csv: the file is empty: it needs a header row and at least one row",
        ),
        (
            "{ file = \"header.csv\", format = \"azure\" }",
            "header.csv: a header and no rows: a trace needs at least one request",
        ),
    ] {
        let stderr = checked_in(dir.path(), &replay(trace, "1m"), 2);
        assert!(stderr.contains(expected), "{trace}: {stderr}");
    }
    let empirical = replay("{ file = \"t.csv\", format = \"tracelab\" }", "1m").replace(
        "steps = 1\n",
        "steps = { dist = \"empirical\", file = \"empty.csv\", column = \"value\" }\n",
    );
    let stderr = checked_in(dir.path(), &empirical, 2);
    assert!(stderr.contains("agents.a.steps.file"), "{stderr}");
    assert!(stderr.contains("the file is empty"), "{stderr}");
}

/// Runs a class of `population` for `duration` that resamples a csv's
/// sessions: a is three calls (100, 200 and 300 input tokens, 10 and 20 s
/// apart), b one call of 10; each call takes 1 s. Every session ends
/// before the run does (a surge of factor 0 stops new ones for the last
/// ten minutes), so the counts are tied exactly: n_a = (calls - loops) / 2
/// sessions were a's, and the input is 600 n_a + 10 n_b, recounted from
/// the file's rows. Gives the sessions and how many were a's.
fn resampled(population: &str, duration: &str, stop: &str) -> (u64, u64, Summary) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("s.csv"),
        "t,sid,in,out\n0,a,100,0\n5,b,10,0\n10,a,200,0\n30,a,300,0\n",
    )
    .unwrap();
    let text = format!(
        r#"
name = "resampled"
seed = 3
duration = "{duration}"

[[workload]]
name = "sessions"
agent = "a"
{population}
surges = [{{ at = "{stop}", for = "10m", factor = 0 }}]
resample = {{ file = "s.csv", format = "csv", columns = {{ time = "t", time_unit = "s", input = "in", output = "out", session = "sid" }} }}

[agents.a]
steps = 1
input_tokens = 1
output_tokens = 1

[capacity]
kind = "shared_api"
time_to_first_token = "1s"
"#
    );
    let s = run_in(dir.path(), text);
    assert_eq!(s.loops_started, s.loops_completed);
    let (loops, calls) = (s.loops_completed, s.calls);
    let a = (calls - loops) / 2;
    assert_eq!(2 * a, calls - loops, "calls {calls}, loops {loops}");
    assert_eq!(s.input_tokens, 600 * a + 10 * (loops - a));
    (loops, a, s)
}

/// An open stream of resampled sessions, 48 a minute for 50 minutes:
/// 2,400 within 5 sd; drawn uniformly, a's share is ½ within 0.05 (its sd
/// is 0.01).
#[test]
fn resampled_sessions_replay_whole_and_uniformly() {
    let population = "arrivals = { process = \"poisson\", per_min = 48 }";
    let (loops, a, _) = resampled(population, "60m", "50m");
    assert!(
        (loops as f64 - 2400.0).abs() < 5.0 * 2400f64.sqrt(),
        "{loops}"
    );
    let share = a as f64 / loops as f64;
    assert!((share - 0.5).abs() < 0.05, "a's share {share}");
}

/// Closed users who resample sessions: 10 users each replay one (drawn at
/// random), think 60 s, and draw another, for 110 minutes, joining steady
/// (15 s of a 75-s cycle in a session as recorded). A user's cycle is 60 s
/// of thinking plus a session (a's 33 s or b's 1 s), 77 s on average:
/// 10 × 6,600 s / 77 s = 857 sessions, within 5% (a's share moves it by
/// 1% a sd), and never more than 10 at once.
#[test]
fn closed_users_resample_whole_sessions_one_after_another() {
    let users = "users = 10\nthink_time = \"60s\"\nfirst_think = \"steady\"";
    let (loops, _, s) = resampled(users, "2h", "110m");
    let expected = 10.0 * 6600.0 / 77.0;
    assert!(rel(loops as f64, expected) < 0.05, "{loops} sessions");
    assert!(s.peak_in_flight <= 10, "{} at once", s.peak_in_flight);
}

/// `resample` needs sessions, and arrivals or users who think.
#[test]
fn resample_without_sessions_or_arrivals_is_refused_at_its_field() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("r.csv"), "t,in,out\n0,1,1\n1,2,2\n").unwrap();
    fs::write(dir.path().join("s.csv"), "t,sid,in,out\n0,a,1,1\n1,a,2,2\n").unwrap();
    let model = |class: &str| {
        format!(
            "name = \"m\"\nseed = 1\nduration = \"1h\"\n\n[[workload]]\nname = \"s\"\nagent = \"a\"\n{class}\n\n[agents.a]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\n\n[capacity]\nkind = \"shared_api\"\ntime_to_first_token = \"1s\"\n"
        )
    };
    let requests = "resample = { file = \"r.csv\", format = \"csv\", columns = { time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\" } }";
    let sessions = "resample = { file = \"s.csv\", format = \"csv\", columns = { time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\", session = \"t\" } }";
    for (class, field, says) in [
        (
            format!("arrivals = {{ process = \"poisson\", per_min = 1 }}\n{requests}"),
            "workload.s.resample",
            "a request trace has no sessions to resample",
        ),
        (
            sessions.to_owned(),
            "workload.s",
            "needs users = N with a think_time (closed population) or arrivals",
        ),
        (
            format!("users = 3\n{sessions}"),
            "workload.s.think_time",
            "missing: a closed population (users = N) needs `think_time`",
        ),
    ] {
        let stderr = checked_in(dir.path(), &model(&class), 2);
        assert!(
            stderr.contains(field) && stderr.contains(says),
            "{class}: {stderr}"
        );
    }
}

/// Recorded arrival gaps must be durations that take time: a negative gap,
/// or gaps that are all 0, are refused at the file, and a window must be
/// given.
#[test]
fn bad_recorded_gaps_are_refused_at_their_field() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("neg.csv"), "value\n1\n-2\n").unwrap();
    fs::write(dir.path().join("zero.csv"), "value\n0\n0\n").unwrap();
    let model = |arrivals: &str| {
        format!(
            "name = \"m\"\nseed = 1\nduration = \"1h\"\n\n[[workload]]\nname = \"s\"\nagent = \"a\"\narrivals = {arrivals}\n\n[agents.a]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\n\n[capacity]\nkind = \"shared_api\"\ntime_to_first_token = \"1s\"\n"
        )
    };
    for (arrivals, field, says) in [
        (
            "{ process = \"recorded\", file = \"neg.csv\", column = \"value\", unit = \"s\", block = \"1m\" }",
            "workload.s.arrivals.file",
            "a gap of -2 s: gaps must be finite and >= 0",
        ),
        (
            "{ process = \"recorded\", file = \"zero.csv\", column = \"value\", unit = \"s\", block = \"1m\" }",
            "workload.s.arrivals.file",
            "every gap is 0",
        ),
        (
            "{ process = \"recorded\", file = \"zero.csv\", column = \"value\", unit = \"s\" }",
            "workload.s.arrivals",
            "block",
        ),
    ] {
        let stderr = checked_in(dir.path(), &model(arrivals), 2);
        assert!(
            stderr.contains(field) && stderr.contains(says),
            "{arrivals}: {stderr}"
        );
    }
}

/// A trace whose times are rounded to 3 s (Poisson at 2 a second for an
/// hour, rounded down) replays with gaps of 0 and 3 s: an inter-arrival
/// CV near 1.5. With `tick = "3s"` each tick's rows are spread over it:
/// the CV is Poisson's 1 within 5% (7,200 gaps give it
/// a standard error near 1%), and every row still arrives.
#[test]
fn a_trace_replays_its_rows_spread_over_their_tick() {
    let dir = tempfile::tempdir().unwrap();
    let (mut uniform, mut t) = (uniform(0x2545_f491_4f6c_dd1d), 0.0f64);
    let mut text = String::from("t,in,out\n");
    let mut rows = 0;
    while t < 3600.0 {
        text.push_str(&format!("{},{rows},1\n", (t / 3.0).floor() * 3.0));
        rows += 1;
        t += -0.5 * (1.0 - uniform()).ln();
    }
    fs::write(dir.path().join("r.csv"), text).unwrap();
    let trace = |tick: &str| {
        format!(
            "{{ file = \"r.csv\", format = \"csv\"{tick}, columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\" }} }}"
        )
    };
    let cv = |tick: &str| {
        let s = run_in(dir.path(), replay(&trace(tick), "2h"));
        assert_eq!(s.loops_started, rows);
        s.classes.values().next().unwrap().interarrival_cv.unwrap()
    };
    let rounded = cv("");
    assert!(rounded > 1.3, "{rounded}");
    let spread = cv(", tick = \"3s\"");
    assert!((spread - 1.0).abs() < 0.05, "{spread}");
}

/// A trace whose token columns count characters takes `token_scale =
/// 0.25` (four to a token): 1,000 and 999 characters of input are 250
/// tokens each (249.75 rounded), and 41 and 3 of output are 10 and 1.
#[test]
fn token_columns_in_characters_are_scaled_to_tokens() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("c.csv"), "t,in,out\n0,1000,41\n1,999,3\n").unwrap();
    let trace = |scale: &str| {
        format!(
            "{{ file = \"c.csv\", format = \"csv\", columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\"{scale} }} }}"
        )
    };
    let s = run_in(dir.path(), replay(&trace(", token_scale = 0.25"), "10m"));
    assert_eq!((s.input_tokens, s.output_tokens), (500, 11));
    let s = run_in(dir.path(), replay(&trace(""), "10m"));
    assert_eq!((s.input_tokens, s.output_tokens), (1999, 44));
}

/// A session trace grouped by session (session b's rows, then a's, then
/// c's) replays as the same rows sorted by time do: the same loops,
/// calls, tokens and latencies, none dropped. A session whose own rows go
/// back in time is an error at its line.
#[test]
fn a_session_trace_grouped_by_session_replays_as_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let header = "t,sid,in,out,lat\n";
    let rows = [
        "0,b,10,0,1",
        "7,b,20,0,1",
        "2,a,100,0,2",
        "12,a,200,0,2",
        "30,a,300,0,2",
        "5,c,50,0,1",
    ];
    fs::write(
        dir.path().join("grouped.csv"),
        format!("{header}{}\n", rows.join("\n")),
    )
    .unwrap();
    let mut sorted = rows.to_vec();
    sorted.sort_by_key(|r| r.split(',').next().unwrap().parse::<u32>().unwrap());
    fs::write(
        dir.path().join("sorted.csv"),
        format!("{header}{}\n", sorted.join("\n")),
    )
    .unwrap();
    let trace = |file: &str| {
        format!(
            "{{ file = \"{file}\", format = \"csv\", columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\", session = \"sid\", latency = \"lat\" }} }}"
        )
    };
    let grouped = run_in(dir.path(), replay(&trace("grouped.csv"), "10m"));
    let sorted = run_in(dir.path(), replay(&trace("sorted.csv"), "10m"));
    let figures = |s: &loopcap::model::measure::summary::Summary| {
        let l = s.loop_latency_s.unwrap();
        (s.loops_completed, s.calls, s.input_tokens, l.mean, l.max)
    };
    assert_eq!(figures(&grouped), figures(&sorted));
    assert_eq!(
        (grouped.loops_completed, grouped.calls, grouped.input_tokens),
        (3, 6, 680)
    );
    fs::write(
        dir.path().join("back.csv"),
        format!("{header}5,a,1,0,0\n9,b,1,0,0\n3,a,1,0,0\n"),
    )
    .unwrap();
    let stderr = checked_in(dir.path(), &replay(&trace("back.csv"), "10m"), 2);
    assert!(
        stderr.contains("back.csv:4: time goes backwards within session \"a\""),
        "{stderr}"
    );
}

/// tests/data/otel-genai.jsonl: OpenTelemetry GenAI spans as an OTLP file
/// exporter writes them. Conversation conv-1 (gen_ai.conversation.id) is
/// two invoke_agent requests: calls at 0-2, 5-7 and 10-12 s (gaps of 3 s
/// each, one an execute_tool span), then 28 s later one at 40-41 s and
/// a 429 (an error span, skipped). conv-2 (session.id, OpenLLMetry's
/// prompt/completion token names) is calls at 100-101 and 103-104 s; a
/// trace with no session id (OpenInference's names) is one call. So 4
/// loops of 7 calls, 7,800 input tokens (800 cached) and 225 output;
/// with each call taking 1 s, loops of 9, 1, 4 and 1 s. The flattened
/// form (one span a line, attributes as a map) replays the same.
#[test]
fn opentelemetry_genai_spans_replay_as_sessions() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for file in ["otel-genai.jsonl", "otel-genai-flat.jsonl"] {
        let trace = format!("{{ file = \"{file}\", format = \"otel\" }}");
        assert_replays(&data, &trace, (4, 7, 7800, 800, 225), (9.0, 3.75));
    }
    let dir = copied(&data, "otel-genai.jsonl");
    let stderr = checked_in(
        dir.path(),
        &replay("{ file = \"otel-genai.jsonl\", format = \"otel\" }", "1h"),
        0,
    );
    assert!(
        stderr.contains("1 calls of otel-genai.jsonl failed as recorded"),
        "{stderr}"
    );
}

/// Spans pretty-printed over many lines read as they do one a line; a
/// token count that is not one is an error at the line its value starts
/// on, and a file that is not JSON says so (exit 2, never a panic).
#[test]
fn opentelemetry_files_read_pretty_printed_and_refuse_bad_input_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/otel-genai.jsonl");
    let pretty: String = fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l).unwrap();
            serde_json::to_string_pretty(&value).unwrap() + "\n"
        })
        .collect();
    fs::write(dir.path().join("pretty.json"), &pretty).unwrap();
    let trace = |file: &str| format!("{{ file = \"{file}\", format = \"otel\" }}");
    let s = run_in(dir.path(), replay(&trace("pretty.json"), "1h"));
    assert_eq!((s.loops_completed, s.calls, s.input_tokens), (4, 7, 7800));
    let bad = "{\"name\":\"x\",\"trace_id\":\"t\",\"start_time_unix_nano\":1,\"end_time_unix_nano\":2,\"attributes\":{\"gen_ai.operation.name\":\"chat\",\"gen_ai.usage.input_tokens\":10}}\n\n{\"name\":\"y\",\"trace_id\":\"t\",\"start_time_unix_nano\":3,\"end_time_unix_nano\":4,\"attributes\":{\"gen_ai.operation.name\":\"chat\",\"gen_ai.usage.input_tokens\":-5}}\n";
    fs::write(dir.path().join("bad.jsonl"), bad).unwrap();
    let stderr = checked_in(dir.path(), &replay(&trace("bad.jsonl"), "1h"), 2);
    assert!(
        stderr.contains("bad.jsonl: line 3: `gen_ai.usage.input_tokens` is not a token count (-5)"),
        "{stderr}"
    );
    fs::write(dir.path().join("text.txt"), "time,in,out\n0,1,1\n").unwrap();
    let stderr = checked_in(dir.path(), &replay(&trace("text.txt"), "1h"), 2);
    assert!(
        stderr.contains("text.txt: line 1: not OTLP/JSON"),
        "{stderr}"
    );
}

/// The memory estimate counts the lane queue a resampling class builds:
/// 120 sessions a minute of 2 calls on average, each call 1 s, offer 4
/// lanes' work. On one lane and no queue limit, 1.5 loops a second more
/// wait for a day (130,000, over 100 MiB); on ten, none wait.
#[test]
fn a_resampling_class_overloading_its_lanes_is_in_the_memory_estimate() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("s.csv"),
        "t,sid,in,out\n0,a,100,0\n1,a,100,0\n2,a,100,0\n3,b,100,0\n",
    )
    .unwrap();
    let model = |lanes: u32| {
        format!(
            "name = \"m\"\nseed = 1\nduration = \"24h\"\n\n[[workload]]\nname = \"s\"\nagent = \"a\"\narrivals = {{ process = \"poisson\", per_min = 120 }}\nresample = {{ file = \"s.csv\", format = \"csv\", columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\", session = \"sid\" }} }}\n\n[agents.a]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\n\n[capacity]\nkind = \"reserved\"\nlanes = {lanes}\ntime_to_first_token = \"1s\"\n"
        )
    };
    let mib = |lanes| {
        let source = loopcap::config::Source {
            name: "m.toml".into(),
            text: model(lanes),
            base_dir: dir.path().to_path_buf(),
        };
        let memory = loopcap::config::load_model_with(&source, &[] as &[&str])
            .unwrap()
            .memory;
        (
            memory.bytes.0 as f64 / (1u64 << 20) as f64,
            memory.largest.message,
        )
    };
    let ((one, largest), (ten, _)) = (mib(1), mib(10));
    assert!(
        one > 100.0 && ten < 10.0,
        "{one} MiB on one lane, {ten} on ten"
    );
    assert!(largest.contains("loops waiting for a lane"), "{largest}");
}

/// The session trace `trace` in `dir`, replayed for an hour with each call
/// taking 1 s, gives these loops completed, calls, input, cached input and
/// output tokens, and loops this long at most and on average (s).
fn assert_replays(
    dir: &Path,
    trace: &str,
    counts: (u64, u64, u64, u64, u64),
    (max, mean): (f64, f64),
) {
    let s = run_in(dir, replay(trace, "1h"));
    assert_eq!(
        (
            s.loops_completed,
            s.calls,
            s.input_tokens,
            s.cached_input_tokens,
            s.output_tokens
        ),
        counts,
        "{trace}"
    );
    let latency = s.loop_latency_s.unwrap();
    assert!(
        (latency.max - max).abs() < 1e-6 && (latency.mean - mean).abs() < 1e-6,
        "{trace}: {latency:?}"
    );
}

/// Each (file, contents, error) written to a fresh directory and replayed
/// as a trace of `format` is refused (exit 2), saying the error.
fn assert_refused(format: &str, cases: &[(&str, String, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for (file, contents, error) in cases {
        fs::write(dir.path().join(file), contents).unwrap();
        let trace = format!("{{ file = \"{file}\", format = \"{format}\" }}");
        let stderr = checked_in(dir.path(), &replay(&trace, "1h"), 2);
        assert!(stderr.contains(error), "{stderr}");
    }
}

/// tests/data/claude-code.jsonl: Claude Code's own transcripts, two
/// sessions, made here in its format. Session 1's first request is three
/// calls (one of two content blocks, whose second line carries the final
/// usage) with tool results 2 s and 7.5 s after the answers before them;
/// its second call starts an Explore subagent 0.2 s after its answer (the
/// `Task` result names the agent),
/// whose own thread is two calls 0.8 s apart, ending 0.5 s before the
/// session's third call; its second request, 60 s later, is an API error
/// (skipped, counted) and one call. Session 2 is one call. So 3 loops of
/// 7 calls, the subagent's in its parent's; input is each call's input
/// plus its cache reads and writes, 77,065 tokens, 70,100 of them cache
/// reads, and 600 output. With each call taking 1 s, the first loop takes
/// 1 + 2 + 1 + 0.2 + 1 + 0.8 + 1 + 0.5 + 1 = 8.5 s (its parent waiting
/// for the subagent as simulated, not the 7.5 s recorded), the others 1 s.
#[test]
fn claude_code_transcripts_replay_as_sessions_with_subagents_in_their_loops() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let trace = "{ file = \"claude-code.jsonl\", format = \"claude_code\" }";
    assert_replays(&data, trace, (3, 7, 77_065, 70_100, 600), (8.5, 10.5 / 3.0));
    let dir = copied(&data, "claude-code.jsonl");
    let stderr = checked_in(dir.path(), &replay(trace, "1h"), 0);
    assert!(
        stderr.contains("1 calls of claude-code.jsonl failed as recorded"),
        "{stderr}"
    );
    // A bad token count is an error at its line; a file that is not JSONL says so.
    let text = fs::read_to_string(data.join("claude-code.jsonl")).unwrap();
    assert_refused(
        "claude_code",
        &[
            (
                "bad.jsonl",
                text.replacen("\"output_tokens\": 40", "\"output_tokens\": -4", 1),
                "bad.jsonl: line 5: `usage.output_tokens` is not a token count (-4)",
            ),
            (
                "text.txt",
                "time,in,out\n0,1,1\n".to_owned(),
                "text.txt: line 1: not a Claude Code transcript line",
            ),
        ],
    );
}

/// Claude Code's subagents of one call are one fan-out: a second subagent
/// asked for by the same call, starting 0.1 s after the first and one call
/// long, runs beside it. On one lane (each call 1 s) it waits for the
/// first's first call (5.2 to 6.2 s), the first's second call for it (6.2
/// to 7.2 s), and the parent calls 0.5 s after the later end: 8.7 s, one
/// call more. A subagent whose session's own thread is not in the files
/// is a session of its own: one loop more.
#[test]
fn claude_code_subagents_of_one_call_are_one_fan_out() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = fs::read_to_string(data.join("claude-code.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let second = [lines[5], lines[6]]
        .map(|l| {
            l.replace("a1b2c3d", "e5f6a7b")
                .replace("09:00:09.200Z", "09:00:09.300Z")
                .replace("09:00:13.200Z", "09:00:10.300Z")
                .replace("msg_s1", "msg_t1")
        })
        .join("\n");
    let elsewhere = second.replace("7f3c2a10", "99999999");
    let dir = tempfile::tempdir().unwrap();
    let model = replay("{ file = \"cc.jsonl\", format = \"claude_code\" }", "1h");
    let shared = &model[model.find("[capacity]").unwrap()..];
    let one_lane = model.replace(
        shared,
        "[capacity]\nkind = \"reserved\"\nlanes = 1\ntime_to_first_token = \"1s\"\n",
    );
    for (extra, loops) in [(second.clone(), 3), (format!("{second}\n{elsewhere}"), 4)] {
        fs::write(dir.path().join("cc.jsonl"), format!("{text}{extra}\n")).unwrap();
        let s = run_in(dir.path(), one_lane.clone());
        let max = s.loop_latency_s.unwrap().max;
        assert_eq!((s.loops_completed, max), (loops, 8.7), "{extra}");
    }
}

/// Claude Code names the subagent a `Task` tool use started in the tool's
/// result (`toolUseResult.agentId` beside the `tool_result` of that tool
/// use), and loopcap follows it:
/// - When the spawning response's last line comes after the subagent's
///   first (a further content block at 9.3 s, the subagent's prompt at
///   9.2 s), timing alone would hang the subagent off the call before;
///   the link keeps it on its own call, starting at once: 1 + 2 + 1 + 0 +
///   1 + 0.8 + 1 + 0.5 + 1 = 8.3 s. Without the result's link it hangs off
///   the first call (ended at 3.5 s): 1 + 5.7 + 1 + 0.8 + 1 s before the
///   second call, which then waits 7.2 s for its result: 18.7 s.
/// - Launched in the background (`status` "async_launched", the result
///   back at 9.1 s), the parent does not wait: its loop is
///   1 + 2 + 1 + 0.1 + 1 = 5.1 s, and the subagent is a loop of its own
///   of 1 + 0.8 + 1 = 2.8 s, beside the two loops of 1 s.
#[test]
fn claude_code_subagents_are_linked_by_the_result_that_names_them() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = fs::read_to_string(data.join("claude-code.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[9].contains("\"agentId\": \"a1b2c3d\""),
        "{}",
        lines[9]
    );
    let later_block = lines[4].replace("09:00:09.000Z", "09:00:09.300Z").replace(
        "\"type\": \"tool_use\", \"id\": \"toolu_2\"",
        "\"type\": \"text\", \"text\": \"Meanwhile\", \"id\": \"x\"",
    );
    assert_ne!(later_block, lines[4]);
    let unlinked = lines[9]
        .split(", \"toolUseResult\"")
        .next()
        .unwrap()
        .to_owned()
        + "}";
    let background = lines[9]
        .replace(
            "\"status\": \"completed\"",
            "\"status\": \"async_launched\", \"isAsync\": true",
        )
        .replace("09:00:16.500Z", "09:00:09.100Z");
    let with = |edits: &[(usize, &str)], extra: Option<&str>| {
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        for &(i, line) in edits {
            out[i] = line.to_owned();
        }
        if let Some(extra) = extra {
            out.insert(5, extra.to_owned());
        }
        out.join("\n") + "\n"
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = "{ file = \"cc.jsonl\", format = \"claude_code\" }";
    for (file, loops, (max, mean)) in [
        (with(&[], Some(&later_block)), 3, (8.3, 10.3 / 3.0)),
        (
            with(&[(9, &unlinked)], Some(&later_block)),
            3,
            (18.7, 20.7 / 3.0),
        ),
        (with(&[(9, &background)], None), 4, (5.1, 9.9 / 4.0)),
    ] {
        fs::write(dir.path().join("cc.jsonl"), file).unwrap();
        assert_replays(
            dir.path(),
            trace,
            (loops, 7, 77_065, 70_100, 600),
            (max, mean),
        );
    }
}

/// A subagent's own `Task` starts a subagent of its own, and its result
/// names it as the session's do: the nested agent (prompt at 13.4 s, one
/// call answered by 13.9 s) hangs off the subagent's first call (answered
/// at 13.2 s), which waits for it. Each call takes 1 s on one lane: the
/// subagent is 1 + 0.2 + 1 + 0.1 + 1 = 3.3 s, and the loop 1 + 2 + 1 +
/// 0.2 + 3.3 + 0.5 + 1 = 9.0 s. Without the link, timing hangs it off the
/// session's own call that spawned the first subagent (answered at 9 s):
/// it starts 4.4 s after that answer, beside the subagent (1 + 0.8 + 1 s
/// from 0.2 s), and the parent waits for it: 1 + 2 + 1 + 4.4 + 1 + 0.5 +
/// 1 = 10.9 s.
#[test]
fn claude_code_subagents_of_subagents_hang_off_the_call_that_started_them() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = fs::read_to_string(data.join("claude-code.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let grep = "\"id\": \"toolu_3\", \"name\": \"Grep\"";
    assert!(lines[6].contains(grep), "{}", lines[6]);
    lines[6] = lines[6].replace(grep, "\"id\": \"toolu_3\", \"name\": \"Task\"");
    let nested = |line: &str, time: &str| {
        line.replace("09:00:09.200Z", time)
            .replace("\"agentId\": \"a1b2c3d\"", "\"agentId\": \"n1\"")
    };
    let prompt = nested(&lines[5], "09:00:13.400Z");
    let answer = nested(&lines[8], "09:00:13.900Z")
        .replace("09:00:16.000Z", "09:00:13.900Z")
        .replace("msg_s2", "msg_n1")
        .replace(
            "\"input_tokens\": 100, \"cache_creation_input_tokens\": 0, \"cache_read_input_tokens\": 3000, \"output_tokens\": 50",
            "\"input_tokens\": 1000, \"cache_creation_input_tokens\": 0, \"cache_read_input_tokens\": 0, \"output_tokens\": 10",
        );
    assert!(
        answer.contains("msg_n1")
            && answer.contains("13.900Z")
            && answer.contains("\"input_tokens\": 1000")
    );
    let result = lines[7].replace(
        "\"tool_use_id\": \"toolu_1\"",
        "\"tool_use_id\": \"toolu_3\"",
    );
    let linked = result.replacen(
        "\"timestamp\"",
        "\"toolUseResult\": {\"status\": \"completed\", \"agentId\": \"n1\"}, \"timestamp\"",
        1,
    );
    assert!(linked.contains("toolu_3") && linked.contains("toolUseResult"));
    let dir = tempfile::tempdir().unwrap();
    let trace = "{ file = \"cc.jsonl\", format = \"claude_code\" }";
    for (result, max) in [(&linked, 9.0), (&result, 10.9)] {
        let mut file = lines.clone();
        file[7] = result.clone();
        file.splice(7..7, [prompt.clone(), answer.clone()]);
        fs::write(dir.path().join("cc.jsonl"), file.join("\n") + "\n").unwrap();
        assert_replays(
            dir.path(),
            trace,
            (3, 8, 78_065, 70_100, 610),
            (max, (max + 2.0) / 3.0),
        );
    }
}

/// A trace's `max_tokens` column gives each call its own: on a self-hosted
/// replica whose KV cache holds 5,000 tokens, a row of 100 tokens in that
/// may make 6,000 is refused as too large (as vLLM refuses a request past
/// its context), and one that may make 1,000 is served, where the agent's
/// own 8,192 would refuse both. A row making more than its max_tokens is
/// an error at its line.
#[test]
fn a_max_tokens_column_gives_each_call_its_own() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("m.csv"),
        "t,in,out,max\n0,100,10,6000\n1,100,10,1000\n",
    )
    .unwrap();
    let hosted = "[capacity]\nkind = \"self_hosted\"\nreplicas = 1\nmax_sequences = 4\nkv_cache_tokens = 5000\nprefill_tokens_per_s = 10000\ndecode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }]\n";
    let model = |max: &str| {
        let trace = format!(
            "{{ file = \"m.csv\", format = \"csv\", columns = {{ time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\"{max} }} }}"
        );
        let text = replay(&trace, "10m");
        let shared = &text[text.find("[capacity]").unwrap()..];
        text.replace(shared, hosted) + "\n[client]\nmax_attempts = 1\n"
    };
    let s = run_in(dir.path(), model(", max_tokens = \"max\""));
    assert_eq!((s.loops_completed, s.loops_failed), (1, 1), "{s:?}");
    assert_eq!(s.pools[0].too_large, 1);
    let s = run_in(dir.path(), model(""));
    assert_eq!((s.loops_completed, s.loops_failed), (0, 2), "{s:?}");
    fs::write(
        dir.path().join("m.csv"),
        "t,in,out,max\n0,100,10,6000\n1,100,10,9\n",
    )
    .unwrap();
    let stderr = checked_in(dir.path(), &model(", max_tokens = \"max\""), 2);
    assert!(
        stderr.contains("m.csv:3") && stderr.contains("`max` (9) is less than the output (10)"),
        "{stderr}"
    );
}

/// The prefix-cache recount of a Weka trace file, made here from the raw
/// JSON: each call's leading blocks already sent in its session (by it or
/// a subagent, in the order they were sent), times the block size, at most
/// its input. Returns (calls, input, cached input, output).
fn weka_recount(text: &str) -> (u64, u64, u64, u64) {
    fn calls(entries: &[serde_json::Value], out: &mut Vec<serde_json::Value>) {
        for e in entries {
            if e["type"] == "subagent" {
                calls(e["requests"].as_array().unwrap(), out);
            } else {
                out.push(e.clone());
            }
        }
    }
    let (mut n, mut input, mut cached, mut output) = (0, 0, 0, 0);
    for line in text.lines() {
        let trace: serde_json::Value = serde_json::from_str(line).unwrap();
        let block = trace["block_size"].as_u64().unwrap();
        let mut all = vec![];
        calls(trace["requests"].as_array().unwrap(), &mut all);
        all.sort_by(|a, b| {
            a["t"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["t"].as_f64().unwrap())
        });
        let mut seen = std::collections::HashSet::new();
        for call in &all {
            let ids: Vec<u64> = call["hash_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            let hits = ids.iter().take_while(|id| seen.contains(*id)).count() as u64;
            let this_input = call["in"].as_u64().unwrap();
            n += 1;
            input += this_input;
            cached += (hits * block).min(this_input);
            output += call["out"].as_u64().unwrap();
            seen.extend(ids);
        }
    }
    (n, input, cached, output)
}

/// tests/data/weka.jsonl: three sessions in the Weka trace format of
/// SemiAnalysis's 2026 cc-traces datasets, made here. Session a: its own
/// calls at 0, 5 and 20 s (the last ends its turn) and at 80 s, with an
/// Explore subagent of two calls at 9.5 and 12 s spawned alone and waited
/// for, so part of the first loop (its last call's `end_turn` ends the
/// subagent's turn, not the person's); session b: a streamed call, a
/// subagent whose second entry is a subagent of its own (both waited for,
/// both in the loop), and a last call; session c: two subagents spawned
/// together, a fan-out its loop waits for. So 4 loops of 14 calls; 11,050 input
/// tokens, 6,464 of them the leading 64-token blocks sent before in their
/// session (subagents included, a session's blocks not another's; the call
/// at 20 s hits its first 10 blocks, not the 19 sent before, as its 11th is
/// new), and 380 output. Each call taking 1 s, the tool times the gaps
/// after each call's `api_time`: loops of 18, 1, 8 and 5 s.
#[test]
fn weka_traces_replay_with_subagents_in_their_loops_and_cache_hits_from_their_blocks() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = fs::read_to_string(data.join("weka.jsonl")).unwrap();
    assert_eq!(weka_recount(&text), (14, 11_050, 6_464, 380));
    let trace = "{ file = \"weka.jsonl\", format = \"weka\" }";
    assert_replays(
        &data,
        trace,
        (4, 14, 11_050, 6_464, 380),
        (18.0, 32.0 / 4.0),
    );

    // One JSON object pretty-printed, or an array of them, reads the same.
    let dir = tempfile::tempdir().unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    fs::write(
        dir.path().join("one.json"),
        serde_json::to_string_pretty(&first).unwrap(),
    )
    .unwrap();
    let s = run_in(
        dir.path(),
        replay("{ file = \"one.json\", format = \"weka\" }", "1h"),
    );
    assert_eq!(
        (s.loops_completed, s.calls, s.cached_input_tokens),
        (2, 6, 4_608)
    );

    // Bad input says where and what: a token count that is not one, a
    // scope that is not known, a file that is not a trace (exit 2).
    assert_refused(
        "weka",
        &[
            (
                "bad.jsonl",
                text.replacen("\"out\":60", "\"out\":-60", 1),
                "bad.jsonl: line 1: not a Weka trace (field `requests[1]`: invalid value: integer `-60`, expected u32",
            ),
            (
                "scope.jsonl",
                text.replacen("\"local\"", "\"galaxy\"", 1),
                "scope.jsonl: line 1: `hash_id_scope` \"galaxy\": allowed are local, global",
            ),
            (
                "text.txt",
                "time,in,out\n0,1,1\n".to_owned(),
                "text.txt: line 1: not a Weka trace",
            ),
        ],
    );
}

/// Subagents spawned together are a fan-out their parent waits for as
/// simulated, not as recorded. One session: a call at 0 s (1 s), then two
/// subagents, A calling at 1.5 s and (after a 0.5 s tool) at 3 s, B at
/// 1.6 s, and the parent's last call at 4.5 s, 0.5 s after A's answer.
/// Each call taking 1 s with room for all, the loop takes 5.5 s as
/// recorded. On one lane B waits for A's first call (2.5 to 3.5 s) and
/// A's second for B (3.5 to 4.5 s), so the parent calls at 5 s and the
/// loop takes 6 s (a parent waiting as recorded would call at 4.5 s and
/// take 5.5 s). A subagent failing fails its parent: with no queue and
/// one attempt, B's call is refused at 1.6 s; abandoning, the loop fails
/// then and A's second call is never made (3 calls); waiting for
/// siblings, it fails once A is done (4 calls), its last call unmade. With
/// `async_launched` subagents the parent waits for nothing: three loops,
/// the parent's taking 5.5 s whatever the lane does.
#[test]
fn subagents_spawned_together_are_a_fan_out_their_parent_waits_for() {
    let call = |t: f64, stop: &str| {
        format!(
            "{{\"t\":{t},\"type\":\"n\",\"model\":\"m\",\"in\":100,\"out\":1,\"hash_ids\":[],\"api_time\":1.0,\"stop\":\"{stop}\"}}"
        )
    };
    let subagent = |status: &str, calls: &[String]| {
        format!(
            "{{\"t\":1.5,\"type\":\"subagent\",\"status\":\"{status}\",\"requests\":[{}]}}",
            calls.join(",")
        )
    };
    let file = |status: &str| {
        let entries = [
            call(0.0, "tool_use"),
            subagent(status, &[call(1.5, "tool_use"), call(3.0, "end_turn")]),
            subagent(status, &[call(1.6, "end_turn")]),
            call(4.5, "end_turn"),
        ];
        format!(
            "{{\"id\":\"x\",\"models\":[\"m\"],\"block_size\":64,\"hash_id_scope\":\"local\",\"requests\":[{}]}}\n",
            entries.join(",")
        )
    };
    let one_lane = |text: String| {
        let shared = &text[text.find("[capacity]").unwrap()..];
        text.replace(
            shared,
            "[capacity]\nkind = \"reserved\"\nlanes = 1\ntime_to_first_token = \"1s\"\n",
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let model = replay("{ file = \"w.jsonl\", format = \"weka\" }", "1h");
    let loops = |s: &Summary| {
        let latency = s.loop_latency_s.as_ref().unwrap();
        (s.loops_completed, s.calls, latency.max, latency.mean)
    };
    fs::write(dir.path().join("w.jsonl"), file("completed")).unwrap();
    assert_eq!(loops(&run_in(dir.path(), model.clone())), (1, 5, 5.5, 5.5));
    assert_eq!(
        loops(&run_in(dir.path(), one_lane(model.clone()))),
        (1, 5, 6.0, 6.0)
    );
    for (policy, calls) in [("abandon", 3), ("wait_for_siblings", 4)] {
        let refusing = one_lane(model.clone())
            + &format!(
                "queue_limit = 0\n\n[client]\nmax_attempts = 1\non_call_failure = \"{policy}\"\n"
            );
        let s = run_in(dir.path(), refusing);
        let counts = (s.loops_started, s.loops_completed, s.loops_failed, s.calls);
        assert_eq!(counts, (1, 0, 1, calls), "{policy}");
    }
    fs::write(dir.path().join("w.jsonl"), file("async_launched")).unwrap();
    assert_eq!(loops(&run_in(dir.path(), model.clone())).0, 3);
    let s = run_in(dir.path(), one_lane(model));
    assert_eq!((s.loops_completed, s.loop_latency_s.unwrap().max), (3, 5.5));
}

/// Resampled Weka sessions keep their subagents in their loops, and a loop
/// that fails while its fan-out runs leaves its subagents to stop, not to
/// read the session that takes its slot next: with a 2.5 s deadline the
/// loops longer than that fail, session c's (its fan-out from 1.5 s to
/// 2.6 s at best) with a subagent still running, while the short ones
/// complete; with an hour's, none fails. Every loop started is completed,
/// failed or still running.
#[test]
fn resampled_weka_sessions_fail_with_their_fan_outs_running() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let model = |deadline: &str| {
        replay("{ file = \"weka.jsonl\", format = \"weka\" }", "2h")
            .replace(
                "trace = {",
                "arrivals = { process = \"poisson\", per_min = 20 }\nresample = {",
            )
            .replace(
                "max_output_tokens = 8192\n",
                &format!("max_output_tokens = 8192\ndeadline = \"{deadline}\"\n"),
            )
    };
    for (deadline, failing) in [("1h", false), ("2500ms", true)] {
        let s = run_in(&data, model(deadline));
        let (started, completed, failed) = (s.loops_started, s.loops_completed, s.loops_failed);
        assert_eq!(started, completed + failed + s.loops_in_flight, "{s:?}");
        assert!(completed > 500, "{completed}");
        assert_eq!(failed > 0, failing, "{deadline}: {failed} failed");
    }
}

/// With `hash_id_scope` "global" the file's sessions share one namespace,
/// filled in the order the calls were sent (every session starting at 0):
/// session x sends blocks 1, 2 at 0 s and 1, 2, 3 at 5 s; session y sends
/// 6, 3, 4 at 1 s and 1, 2, 9 at 6 s. So x's second call hits all three
/// (192 tokens; read in file order, block 3 would come after it, 128) and
/// y's second two (128): 320 cached, not 256. Each session on its own
/// ("local"), only x's second call hits, two blocks: 128.
#[test]
fn weka_global_scope_shares_blocks_across_sessions_in_the_order_sent() {
    let call = |t: f64, ids: &str, input: u32, stop: &str| {
        format!(
            "{{\"t\":{t},\"type\":\"n\",\"model\":\"m\",\"in\":{input},\"out\":1,\"hash_ids\":[{ids}],\"api_time\":0.5,\"stop\":\"{stop}\"}}"
        )
    };
    let trace = |id: &str, scope: &str, calls: [String; 2]| {
        format!(
            "{{\"id\":\"{id}\",\"models\":[\"m\"],\"block_size\":64,\"hash_id_scope\":\"{scope}\",\"requests\":[{}]}}\n",
            calls.join(",")
        )
    };
    let file = |scope: &str| {
        trace(
            "x",
            scope,
            [
                call(0.0, "1,2", 128, "tool_use"),
                call(5.0, "1,2,3", 192, "end_turn"),
            ],
        ) + &trace(
            "y",
            scope,
            [
                call(1.0, "3,4,5", 192, "tool_use"),
                call(6.0, "1,2,9", 192, "end_turn"),
            ],
        )
    };
    let dir = tempfile::tempdir().unwrap();
    for (scope, cached) in [("global", 320), ("local", 128)] {
        fs::write(dir.path().join("w.jsonl"), file(scope)).unwrap();
        let s = run_in(
            dir.path(),
            replay("{ file = \"w.jsonl\", format = \"weka\" }", "1h"),
        );
        assert_eq!((s.calls, s.cached_input_tokens), (4, cached), "{scope}");
    }
}

/// Blocks that several sessions of a "global" file send (a system prompt)
/// are one prefix for all of them in a pool's prompt cache with a TTL:
/// session x sends blocks 1, 2 at 0 s (nothing cached yet, nothing kept)
/// and 1, 2, 3 at 5 s, which misses and writes 1, 2 (128 tokens); session
/// y, starting with them too, sends 1, 2, 4 at 10 s: its own prefix is
/// not there, but 1, 2 (sent by x as well) are, so it reads 128 and
/// writes nothing; at 15 s its 1, 2, 4, 6 reads its prefix, 192. Were the
/// blocks x's alone (y starting with 7, 8), y's first call would miss.
#[test]
fn weka_blocks_several_sessions_send_are_read_by_a_session_that_never_sent_them() {
    let call = |t: f64, ids: &str| {
        let input = 64 * ids.split(',').count();
        format!(
            "{{\"t\":{t},\"type\":\"n\",\"model\":\"m\",\"in\":{input},\"out\":1,\"hash_ids\":[{ids}],\"api_time\":0.5,\"stop\":\"tool_use\"}}"
        )
    };
    let trace = |id: &str, calls: [String; 2]| {
        format!(
            "{{\"id\":\"{id}\",\"models\":[\"m\"],\"block_size\":64,\"hash_id_scope\":\"global\",\"requests\":[{}]}}\n",
            calls.join(",")
        )
    };
    let x = trace("x", [call(0.0, "1,2"), call(5.0, "1,2,3")]);
    let dir = tempfile::tempdir().unwrap();
    let model = replay("{ file = \"w.jsonl\", format = \"weka\" }", "1h").replace(
        "kind = \"shared_api\"",
        "kind = \"shared_api\"\ncache_ttl = \"5m\"",
    );
    for (y, (written, read)) in [
        (
            [call(10.0, "1,2,4"), call(15.0, "1,2,4,6")],
            (128, 128 + 192),
        ),
        ([call(10.0, "7,8,4"), call(15.0, "7,8,4,6")], (128 + 192, 0)),
    ] {
        fs::write(dir.path().join("w.jsonl"), x.clone() + &trace("y", y)).unwrap();
        let s = run_in(dir.path(), model.clone());
        assert_eq!(s.calls, 4);
        assert_eq!(
            (s.cache_write_tokens, s.cached_input_tokens),
            (written, read)
        );
    }
}

/// In Claude Code's transcripts a thread's first call reads from the cache
/// only what other sessions wrote (its system prompt and tools): that much
/// of each of its calls' cached input is shared. Session 2 of
/// tests/data/claude-code.jsonl made to read 15,000 tokens at its first
/// call, as session 1's first did: on a 5-minute TTL it reads them, as
/// session 1 used them 3.5 minutes before; session 1's first call wrote
/// them (15,000), and its later calls read their own prefix (17,000,
/// 3,000, 17,300, 17,800). On a 2-minute TTL they are gone: session 2
/// writes them again.
#[test]
fn claude_code_sessions_read_what_a_threads_first_call_read_from_other_sessions() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let text = fs::read_to_string(data.join("claude-code.jsonl")).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.contains("\"cache_read_input_tokens\": 0"), "{last}");
    let warm = text.replace(
        last,
        &last.replace(
            "\"cache_read_input_tokens\": 0",
            "\"cache_read_input_tokens\": 15000",
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cc.jsonl"), warm).unwrap();
    let model = replay("{ file = \"cc.jsonl\", format = \"claude_code\" }", "1h");
    for (ttl, written, read) in [("5m", 15_000, 70_100), ("2m", 30_000, 55_100)] {
        let cached = model.replace(
            "kind = \"shared_api\"",
            &format!("kind = \"shared_api\"\ncache_ttl = \"{ttl}\""),
        );
        let s = run_in(dir.path(), cached);
        assert_eq!(
            (s.cache_write_tokens, s.cached_input_tokens),
            (written, read),
            "{ttl}"
        );
    }
}

/// Claude Haiku 5.5 (`anthropic-build-haiku`) bills a call whose input is
/// over 100,000 tokens whole at its long-context rates: the window's cost
/// is each replayed row priced here from the source's rates ($0.10, $0.01
/// cached, $0.50 output a million; past 100K $0.50, $0.05, $2.50), exact.
/// Rows of 100,000 and 100,001 tokens tell `>` from `>=`.
#[test]
fn calls_past_the_long_context_size_are_billed_whole_at_its_rates() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows: Vec<(u64, u64, u64)> = (0..60)
        .map(|i| {
            let input = 40_000 + 2_000 * i;
            (input, input * 3 / 4, 500 + 10 * i)
        })
        .collect();
    rows.push((100_001, 75_000, 700));
    let mut csv = String::from("s,in,cached,out\n");
    for (i, (input, cached, output)) in rows.iter().enumerate() {
        csv.push_str(&format!("{i},{input},{cached},{output}\n"));
    }
    fs::write(dir.path().join("calls.csv"), csv).unwrap();
    let text = replay(
        "{ file = \"calls.csv\", format = \"csv\", columns = { time = \"s\", time_unit = \"s\", input = \"in\", cached_input = \"cached\", output = \"out\" } }",
        "5m",
    )
    .replace("seed = 1", "seed = 1\nwarmup = \"0s\"")
    .replace(
        "[capacity]\nkind = \"shared_api\"\ntime_to_first_token = \"1s\"",
        "[[pool]]\nname = \"haiku\"\ncapacity = { preset = \"anthropic-build-haiku\", time_to_first_token = \"1s\" }\n\n[router]\nkind = \"single\"\npool = \"haiku\"",
    );
    let s = run_in(dir.path(), text);
    assert_eq!(s.loops_completed, rows.len() as u64);
    let price = |(input, cached, output): (u64, u64, u64), above: u64| {
        let (i, c, o) = if input > above {
            (0.50, 0.05, 2.50)
        } else {
            (0.10, 0.01, 0.50)
        };
        ((input - cached) as f64 * i + cached as f64 * c + output as f64 * o) / 1e6
    };
    let expected: f64 = rows.iter().map(|&r| price(r, 100_000)).sum();
    assert!(
        rel(s.cost_usd, expected) < 1e-9,
        "{} vs {expected}",
        s.cost_usd
    );
    let long = rows.iter().filter(|r| r.0 > 100_000).count();
    assert!(
        long > 10 && long < rows.len() - 10,
        "{long} of {}",
        rows.len()
    );
    let long_input = rows.iter().map(|r| r.0).filter(|&i| i > 100_000).sum();
    assert_eq!(s.long_context_input_tokens, Some(long_input));
    // The pool's billing line gives the share of its input billed so.
    let all_input: u64 = rows.iter().map(|r| r.0).sum();
    let share = format!(
        "; {:.1}% of its input tokens in calls of over 100000 tokens",
        100.0 * long_input as f64 / all_input as f64
    );
    assert!(
        s.pools[0].billing.contains(&share),
        "{}",
        s.pools[0].billing
    );
    assert!(rel(s.pools[0].cost_usd, expected) < 1e-9);
    // Billing the row of 100,000 tokens long, or none, is told apart.
    let at_or_over: f64 = rows.iter().map(|&r| price(r, 99_999)).sum();
    let base: f64 = rows.iter().map(|&r| price(r, u64::MAX)).sum();
    assert!(rel(s.cost_usd, at_or_over) > 1e-6 && rel(s.cost_usd, base) > 0.5);
}
