//! `loopcap fit`: the fitted Azure code trace, run over the trace's span,
//! has its rate, inter-arrival CV and token quantiles (recounted here from
//! the CSV); the conversation trace fits as Poisson; the shipped
//! models/tracelab-fitted.toml is what `fit` writes from the example.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{documentation, loopcap, spec, uniform};
use crate::traces::{azure_code, rows};

fn trace(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/traces")
        .join(name)
        .display()
        .to_string()
}

/// `loopcap fit TRACE --format FORMAT --json` into `dir`, and its report.
fn fit(trace: &str, format: &str, out: &Path, replications: &str) -> Value {
    let output = loopcap()
        .args([
            "fit",
            trace,
            "--format",
            format,
            "--json",
            "--replications",
            replications,
        ])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `loopcap fit CSV --format csv --columns COLUMNS --json --replications
/// N --out OUT`, which must succeed: its report and what it warned of.
fn fit_csv(csv: &Path, columns: &str, out: &Path, replications: &str) -> (Value, String) {
    let output = loopcap()
        .arg("fit")
        .arg(csv)
        .args(["--format", "csv", "--columns", columns, "--json"])
        .args(["--replications", replications, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report = serde_json::from_slice(&output.stdout).unwrap();
    (report, String::from_utf8(output.stderr).unwrap())
}

/// Session rows (time in ms, session, input tokens; 100 output tokens
/// each) put in time order, written as a csv in `dir` and fitted with 100
/// replications: the report.
fn fit_sessions(dir: &Path, rows: &mut [(f64, u32, u64)]) -> Value {
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut text = String::from("ms,sid,in,out\n");
    for (ms, s, input) in rows.iter() {
        text.push_str(&format!("{},s{s},{input},100\n", ms.round()));
    }
    let csv = dir.join("sessions.csv");
    fs::write(&csv, &text).unwrap();
    let columns =
        "time = \"ms\", time_unit = \"ms\", input = \"in\", output = \"out\", session = \"sid\"";
    fit_csv(&csv, columns, &dir.join("fitted.toml"), "100").0
}

/// `loopcap fit ARGS`, which must be refused as bad input (exit 2): what it said.
fn fit_refused<'a>(args: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> String {
    let output = loopcap().arg("fit").args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn nearest_rank(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn within(a: f64, b: f64, share: f64) -> bool {
    (a - b).abs() <= share * b.abs()
}

/// The Azure code trace (inter-arrival CV 13) fits as its own gaps
/// replayed in blocks: on/off, with its CV, has half its burstiness at a
/// second. The written gaps are the trace's, recounted. The written
/// model, run 300 times over the trace's 57 minutes, starts loops at the
/// trace's rate within 2% (its 95% interval is narrower than that, so a
/// 3% error would be seen) and with its inter-arrival CV within 20%; its
/// input and output tokens have the trace's p50 and p99 within 5%.
#[test]
fn the_fitted_azure_code_trace_has_its_rate_cv_and_token_quantiles() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("azure-code.toml");
    let report = fit(&azure_code().display().to_string(), "azure", &out, "300");
    // The trace read by the replay test's own parser.
    let rows = rows();
    let t: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let input: Vec<f64> = rows.iter().map(|r| r.1 as f64).collect();
    let output: Vec<f64> = rows.iter().map(|r| r.2 as f64).collect();
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    let rate = t.len() as f64 / ((t[t.len() - 1] - t[0]) / 60.0);
    let (trace_rate, trace_cv) = (rate, sd / mean);
    assert!(trace_cv > 13.0, "{trace_cv}");

    let loops = &report["loops_per_min"];
    assert!(within(loops["trace"].as_f64().unwrap(), trace_rate, 1e-6));
    let model_rate = loops["model"].as_f64().unwrap();
    assert!(within(model_rate, trace_rate, 0.02), "{loops}");
    assert!(
        loops["model_ci"].as_f64().unwrap() < 0.02 * trace_rate,
        "{loops}"
    );
    // A 3% error either way would fail the check.
    for nudged in [0.97, 1.03] {
        assert!(!within(model_rate, nudged * trace_rate, 0.02), "{loops}");
    }

    let arrivals = &report["arrivals"];
    assert_eq!(arrivals["process"], "recorded");
    let written: Vec<f64> = fs::read_to_string(dir.path().join("azure-code.gaps.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(written.len(), gaps.len());
    for (w, g) in written.iter().zip(&gaps) {
        assert!((w - g).abs() < 1e-6, "{w} against {g}");
    }
    let cv = &arrivals["interarrival_cv"];
    assert!(
        within(cv["trace"].as_f64().unwrap(), trace_cv, 1e-6),
        "{cv}"
    );
    assert!(within(cv["model"].as_f64().unwrap(), trace_cv, 0.2), "{cv}");
    // Burstiness by scale, recounted here: arrivals per window of 10 s and
    // of a minute from the first, their variance over their mean. The
    // replayed gaps have it within 10% (or the trace's interval): nothing
    // is warned of. On/off, fitted to the same gaps, misses it by half at
    // a second.
    let dispersion = &arrivals["dispersion"];
    for (i, window) in [1.0, 10.0, 60.0].into_iter().enumerate() {
        let windows = (t[t.len() - 1] / window).floor() as usize;
        let mut counts = vec![0.0; windows];
        for &at in &t {
            if let Some(c) = counts.get_mut((at / window) as usize) {
                *c += 1.0;
            }
        }
        let mean = counts.iter().sum::<f64>() / windows as f64;
        let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (windows as f64 - 1.0);
        let at = &dispersion[i];
        assert_eq!(at["window_s"].as_f64(), Some(window));
        assert!(
            within(at["trace"].as_f64().unwrap(), var / mean, 0.01),
            "{at} against {}",
            var / mean
        );
    }
    // The trace spans under 10 windows of 10 minutes: not measured there.
    assert_eq!(dispersion.as_array().unwrap().len(), 3);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    let second = &dispersion[0];
    let on_off = loopcap::fit::arrivals::parametric(&gaps);
    assert!(matches!(
        on_off,
        loopcap::fit::arrivals::ArrivalFit::OnOff { .. }
    ));
    assert!(
        on_off.dispersion(1.0) < 0.6 * second["trace"].as_f64().unwrap(),
        "{second}"
    );

    for (q, values) in report["quantities"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&input, &output])
    {
        for p in ["p50", "p99"] {
            let level = if p == "p50" { 0.5 } else { 0.99 };
            let recount = nearest_rank(values, level);
            assert_eq!(q["trace"][p].as_f64().unwrap(), recount, "{}", q["name"]);
            let model = q["model"][p].as_f64().unwrap();
            assert!(
                within(model, recount, 0.05),
                "{} {p}: {model} vs {recount}",
                q["name"]
            );
        }
    }
    // The written model passes check.
    let check = loopcap().arg("check").arg(&out).output().unwrap();
    assert!(check.status.success(), "{check:?}");
    let text = fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("# Fitted by loopcap"), "{text}");
    assert!(
        text.contains("arrivals = { process = \"recorded\", file = \"azure-code.gaps.csv\""),
        "{text}"
    );
}

/// The conversation trace (CV 1.09) looks Poisson by its gaps, but its
/// counts are 16 times as variable as Poisson's at a minute: it fits as
/// its own gaps replayed, whose dispersion at a minute is within 10% of
/// the trace's (Poisson's would be 1), and nothing is warned of.
#[test]
fn the_azure_conversation_trace_keeps_its_minute_burstiness() {
    let dir = tempfile::tempdir().unwrap();
    let file = trace("azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv");
    let report = fit(&file, "azure", &dir.path().join("conv.toml"), "20");
    assert_eq!(report["arrivals"]["process"], "recorded");
    let cv = &report["arrivals"]["interarrival_cv"];
    assert!(within(
        cv["model"].as_f64().unwrap(),
        cv["trace"].as_f64().unwrap(),
        0.2
    ));
    let minute = &report["arrivals"]["dispersion"][2];
    assert_eq!(minute["window_s"].as_f64(), Some(60.0));
    let (trace, model) = (
        minute["trace"].as_f64().unwrap(),
        minute["model"].as_f64().unwrap(),
    );
    assert!(trace > 5.0, "{minute}");
    assert!(within(model, trace, 0.10), "{minute}");
    // Poisson, as its CV alone would have it, is 1 at every scale.
    let parametric = loopcap::fit::arrivals::ArrivalFit::Poisson { per_min: 1.0 };
    assert!(!within(parametric.dispersion(60.0), trace, 0.5));
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

/// models/tracelab-fitted.toml and its CSV (the think time between sessions) are what `fit` writes from the
/// TraceLab example today (comments aside); the steps it fits are the
/// example's requests' rounds.
#[test]
fn the_shipped_tracelab_fit_is_what_fit_writes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tracelab-fitted.toml");
    let report = fit(
        &trace("tracelab-example/round_trace.jsonl"),
        "tracelab",
        &out,
        "2",
    );
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    // The trace is named from the model's own directory: by its file name here.
    let body = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| match l.split_once("file = \"") {
                Some((head, path)) if l.starts_with("resample") => {
                    format!("{head}file = \"{}", path.rsplit('/').next().unwrap_or(path))
                }
                _ => l.to_owned(),
            })
            .collect()
    };
    assert_eq!(
        body(fs::read_to_string(&out).unwrap()),
        body(fs::read_to_string(models.join("tracelab-fitted.toml")).unwrap())
    );
    let mut csvs = 0;
    for entry in fs::read_dir(dir.path()).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_string_lossy().ends_with(".csv") {
            csvs += 1;
            assert_eq!(
                fs::read_to_string(dir.path().join(&name)).unwrap(),
                fs::read_to_string(models.join(&name)).unwrap(),
                "{name:?}"
            );
        }
    }
    assert_eq!(csvs, 1);
    // Its user replays the sessions whole, so a call's input is the
    // example's within 2% (drawing each quantity on its own lost 14%).
    let input = &report["input_tokens_per_call"];
    let (trace, model) = (
        input["trace"].as_f64().unwrap(),
        input["model"].as_f64().unwrap(),
    );
    assert!(
        (model - trace).abs() / trace < 0.02,
        "{model} against {trace}"
    );
    // Requests of 5, 5, 5, 2 and 2 rounds (a user message starts one).
    let steps = &report["quantities"][0];
    assert_eq!(steps["name"], "steps");
    assert_eq!(steps["values"], 5);
    assert_eq!(
        (
            steps["trace"]["p50"].as_f64(),
            steps["trace"]["mean"].as_f64()
        ),
        (Some(5.0), Some(3.8))
    );
    assert_eq!(report["calls"], 19);
}

/// Unknown formats and a csv without columns are input errors (exit 2).
#[test]
fn bad_fit_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.toml");
    let file = trace("tracelab-example/round_trace.jsonl");
    for (format, expected) in [
        (
            "parquet",
            "invalid value 'parquet' for '--format <FORMAT>'\n  [possible values: azure, burstgpt, tracelab, otel, claude_code, weka, csv]",
        ),
        ("csv", "format = \"csv\" needs columns"),
    ] {
        let stderr = fit_refused([
            file.as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!out.exists());
    }
}

/// The README's fit example is what the command prints: every line of the
/// block after it.
#[test]
fn the_readme_fit_report_is_what_fit_prints() {
    let readme = documentation();
    let command = "--format azure --out fitted.toml --replications 300 --check models/azure-code-replay.toml\n```\n";
    let after = &readme[readme.find(command).expect("the README's fit command") + command.len()..];
    let shown = after.split("```").nth(1).unwrap().trim_matches('\n');
    let dir = tempfile::tempdir().unwrap();
    let output = loopcap()
        .args([
            "fit",
            &trace("azure-llm-inference-2023/AzureLLMInferenceTrace_code.csv"),
        ])
        .args(["--format", "azure", "--replications", "300"])
        .args(["--check", "models/azure-code-replay.toml", "--out"])
        .arg(dir.path().join("fitted.toml"))
        .output()
        .unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    for line in shown.lines() {
        assert!(
            printed.contains(line),
            "README shows `{line}`, fit prints:\n{printed}"
        );
    }
}

/// A csv trace with its own columns fits through --columns: without a
/// session column as one-call loops, with one as loops whose steps are the
/// sessions' calls.
#[test]
fn a_csv_trace_fits_through_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("ms,sid,in,out\n");
    for i in 0..60u32 {
        // Six sessions of ten calls, each call 2 s after the last.
        let (session, call) = (i / 10, i % 10);
        let at = session * 1000 + call * 2000;
        text.push_str(&format!("{at},s{session},{},{}\n", 100 + 7 * i, 10 + i % 5));
    }
    // Rows are in time order.
    let mut rows: Vec<&str> = text.lines().skip(1).collect();
    rows.sort_by_key(|r| r.split(',').next().unwrap().parse::<u32>().unwrap());
    let csv = dir.path().join("t.csv");
    fs::write(&csv, format!("ms,sid,in,out\n{}\n", rows.join("\n"))).unwrap();
    let columns = "time = \"ms\", time_unit = \"ms\", input = \"in\", output = \"out\"";
    let fit_with = |columns: &str, out: &str| {
        let (report, _) = fit_csv(&csv, columns, &dir.path().join(out), "2");
        let model = fs::read_to_string(dir.path().join(out)).unwrap();
        (report, model)
    };
    let (report, model) = fit_with(columns, "calls.toml");
    assert_eq!(report["calls"], 60);
    assert!(model.contains("arrivals = { process ="), "{model}");
    assert!(model.contains("steps = 1\n"), "{model}");
    let (report, model) = fit_with(&format!("{columns}, session = \"sid\""), "sessions.toml");
    assert_eq!(
        (report["calls"].as_u64(), report["loops"].as_u64()),
        (Some(60), Some(6))
    );
    // The sessions arrive as an open stream, not as closed users, each
    // one of the trace's (named from the model's directory) replayed whole.
    assert!(
        model.contains("name = \"sessions\"\nagent = \"fitted\"\narrivals = { process ="),
        "{model}"
    );
    assert!(!model.contains("users = "), "{model}");
    assert!(
        model.contains(&format!(
            "resample = {{ file = \"t.csv\", format = \"csv\", columns = {{ {columns}, session = \"sid\" }} }}\n"
        )),
        "{model}"
    );
    // Every session is ten calls, 2 s apart: so is every loop of the model.
    let steps = &report["steps_per_loop"];
    assert_eq!(
        (steps["trace"].as_f64(), steps["model"].as_f64()),
        (Some(10.0), Some(10.0))
    );
    let tools = &report["quantities"][4];
    assert_eq!(
        (tools["name"].as_str(), tools["chosen"].as_null()),
        (Some("tool_latency"), Some(()))
    );
    assert_eq!(tools["model"]["p99"].as_f64(), Some(2.0));
}

/// 400 sessions of five calls each, starting as a Poisson stream at 2 a
/// minute: every session one request, so none records a think time. The
/// fitted model starts sessions at the trace's rate, recounted here from
/// the file (sessions over the span), within 5%, its 95% interval over 100
/// runs narrower than that; fitted as closed users thinking for the whole
/// span (as before), it started 95% too few.
#[test]
fn sessions_of_one_request_arrive_as_an_open_stream_at_the_traces_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut uniform = uniform(0x2545_f491_4f6c_dd1d_u64);
    let (mut t, mut rows) = (0.0f64, Vec::new());
    for s in 0..400u32 {
        t += -30.0 * (1.0 - uniform()).ln();
        for k in 0..5u32 {
            rows.push((
                (t + 3.0 * f64::from(k)) * 1000.0,
                s,
                u64::from(1000 + 50 * k),
            ));
        }
    }
    let report = fit_sessions(dir.path(), &mut rows);
    // The recount: sessions over the trace's span, first call to last.
    let times: Vec<f64> = rows.iter().map(|r| r.0.round() / 1000.0).collect();
    let span_min = (times[times.len() - 1] - times[0]) / 60.0;
    let recount = 400.0 / span_min;
    let rate = &report["loops_per_min"];
    assert!(
        within(rate["trace"].as_f64().unwrap(), recount, 1e-9),
        "{rate}"
    );
    let (model, half) = (
        rate["model"].as_f64().unwrap(),
        rate["model_ci"].as_f64().unwrap(),
    );
    assert!(half < 0.05 * recount, "{rate}");
    assert!(within(model, recount, 0.05), "{model} against {recount}");
    assert!(
        report["arrives"]
            .as_str()
            .unwrap()
            .starts_with("sessions: an open stream")
    );
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
}

/// 300 agent sessions of 1 to 20 calls, the longer ones growing faster
/// (by 1,000 tokens a call, 2,000 from the fifth, 3,000 from the ninth)
/// and compacted back to 2,000 every eighth call: the mean input per call
/// depends on how growth goes with length and on the compaction. The
/// fitted model resamples the sessions whole, so its runs send the
/// trace's input per call (recounted here from the rows) within 3%, the
/// 95% interval over 100 runs narrower than that (a model off by 5%, or
/// the trace's mean nudged by 5%, fails), and make its calls per loop.
#[test]
fn fitted_sessions_keep_growth_with_length_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut uniform = uniform(0x9e37_79b9_7f4a_7c15_u64);
    let (mut t, mut rows) = (0.0f64, Vec::new());
    for s in 0..300u32 {
        t += -30.0 * (1.0 - uniform()).ln();
        let calls: u32 = [1, 2, 3, 5, 8, 13, 20][(uniform() * 7.0) as usize];
        let mut input = 1500u64;
        for k in 0..calls {
            rows.push(((t + 4.0 * f64::from(k)) * 1000.0, s, input));
            input += 1000 * (1 + u64::from(k) / 4);
            if k % 8 == 7 {
                input = 2000;
            }
        }
    }
    let report = fit_sessions(dir.path(), &mut rows);
    let recount = rows.iter().map(|r| r.2 as f64).sum::<f64>() / rows.len() as f64;
    let per_call = &report["input_tokens_per_call"];
    let (trace, model, half) = (
        per_call["trace"].as_f64().unwrap(),
        per_call["model"].as_f64().unwrap(),
        per_call["model_ci"].as_f64().unwrap(),
    );
    assert!(within(trace, recount, 1e-9), "{per_call} against {recount}");
    assert!(half < 0.03 * recount, "{per_call}");
    assert!(within(model, recount, 0.03), "{per_call} against {recount}");
    for nudged in [0.95, 1.05] {
        assert!(!within(model, nudged * recount, 0.03), "{per_call}");
    }
    let steps = &report["steps_per_loop"];
    assert!(
        within(
            steps["model"].as_f64().unwrap(),
            rows.len() as f64 / 300.0,
            0.05
        ),
        "{steps}"
    );
    // The compaction is in the trace's growth as the report gives it.
    let growth = &report["quantities"][3];
    assert_eq!(growth["name"], "context_growth");
    assert!(
        growth["trace"]["mean"].as_f64().unwrap() < 1500.0,
        "{growth}"
    );
}

/// 300 Claude Code sessions starting as a Poisson stream at 1 a minute,
/// each of 1 to 4 requests (a person's message, then 1 to 5 calls with a
/// 1 s tool between) and 40 s of thought between requests, written as
/// Claude Code's transcript lines. The report's sessions per minute and
/// loops per session are the file's, recounted here (sessions over the
/// first call to the last; requests over sessions); the fitted model,
/// which resamples the sessions whole, starts sessions at that rate within
/// 3% and makes as many loops of each, its 95% intervals over 100 runs
/// narrower than that (and a rate or length nudged by 5% fails).
#[test]
fn fitted_claude_code_sessions_keep_their_rate_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut uniform = uniform(0x3c6e_f372_fe94_f82b_u64);
    let stamp = |t: f64| {
        let ms = (t * 1000.0).round() as u64;
        let (s, ms) = (ms / 1000, ms % 1000);
        format!(
            "2026-03-02T{:02}:{:02}:{:02}.{ms:03}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    };
    let line = |session: u32, t: f64, kind: &str, message: String| {
        format!(
            "{{\"type\": \"{kind}\", \"sessionId\": \"s{session}\", \"isSidechain\": false, \"timestamp\": \"{}\", \"message\": {message}}}\n",
            stamp(t)
        )
    };
    let (mut text, mut start, mut requests) = (String::new(), 60.0f64, 0u32);
    let (mut first, mut last) = (f64::INFINITY, 0.0f64);
    for session in 0..300u32 {
        // On the millisecond, as the transcript writes it.
        start += (-60_000.0 * (1.0 - uniform()).ln()).round() / 1000.0;
        let mut t = start;
        for r in 0..1 + (uniform() * 4.0) as u32 {
            requests += 1;
            let ask = "{\"role\": \"user\", \"content\": \"go on\"}";
            text += &line(session, t, "user", ask.to_owned());
            for k in 0..1 + (uniform() * 5.0) as u32 {
                t += 2.0;
                first = first.min(t - 2.0);
                last = last.max(t);
                let answer = format!(
                    "{{\"id\": \"m{session}.{r}.{k}\", \"model\": \"m\", \"role\": \"assistant\", \"content\": [], \"usage\": {{\"input_tokens\": 1000, \"output_tokens\": 50}}}}"
                );
                text += &line(session, t, "assistant", answer);
                t += 1.0;
                let result = "{\"role\": \"user\", \"content\": [{\"type\": \"tool_result\", \"content\": \"ok\"}]}";
                text += &line(session, t, "user", result.to_owned());
            }
            t += 40.0;
        }
    }
    let file = dir.path().join("transcripts.jsonl");
    fs::write(&file, text).unwrap();
    let report = fit(
        file.to_str().unwrap(),
        "claude_code",
        &dir.path().join("fitted.toml"),
        "100",
    );
    let recounted = [
        ("sessions_per_min", 300.0 / ((last - first) / 60.0)),
        ("loops_per_session", f64::from(requests) / 300.0),
    ];
    for (figure, recount) in recounted {
        let c = &report[figure];
        let (trace, model, half) = (
            c["trace"].as_f64().unwrap(),
            c["model"].as_f64().unwrap(),
            c["model_ci"].as_f64().unwrap(),
        );
        assert!(
            within(trace, recount, 1e-9),
            "{figure}: {c} against {recount}"
        );
        assert!(half < 0.03 * recount, "{figure}: {c}");
        assert!(
            within(model, recount, 0.03),
            "{figure}: {c} against {recount}"
        );
        for nudged in [0.95, 1.05] {
            assert!(!within(model, nudged * recount, 0.03), "{figure}: {c}");
        }
    }
    assert!(
        report["arrives"]
            .as_str()
            .unwrap()
            .starts_with("sessions: an open stream"),
        "{report}"
    );
    assert!(!undated_warning(&report), "{report}");
}

/// Whether a fit report warns that its trace keeps no start times.
fn undated_warning(report: &Value) -> bool {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("keeps no session start times"))
}

/// A Weka trace's sessions keep no wall-clock start: its calls and
/// tokens fit (the file's 14 calls, 11,050 input tokens as recounted in
/// `traces.rs`), but the fit says its arrivals are not traffic.
#[test]
fn a_weka_trace_fits_its_calls_and_warns_that_its_arrivals_are_not_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/weka.jsonl");
    let report = fit(
        data.to_str().unwrap(),
        "weka",
        &dir.path().join("fitted.toml"),
        "10",
    );
    assert_eq!(report["calls"], 14, "{report}");
    assert_eq!(
        report["input_tokens_per_call"]["trace"],
        11_050.0 / 14.0,
        "{report}"
    );
    assert!(undated_warning(&report), "{report}");
}

/// Resampling TraceLab's example: its two sessions are of two requests
/// (5 and 5 calls) and of three (5, 2 and 2), so each session that
/// arrives is a run of 2 loops and 10 calls or of 3 loops and 9 calls,
/// with their think times between: how many of each the run started
/// follows from its loops and calls, and its input tokens are theirs
/// exactly, recounted from the file's rows, and its sessions the sum.
#[test]
fn tracelab_sessions_resample_with_their_requests_and_think_times() {
    let file = trace("tracelab-example/round_trace.jsonl");
    let (mut claude, mut codex) = (0u64, 0u64);
    for line in fs::read_to_string(&file).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let input = row["input_tokens_total"].as_u64().unwrap();
        match row["session_id"].as_str().unwrap().starts_with("claude") {
            true => claude += input,
            false => codex += input,
        }
    }
    let model = format!(
        "name = \"r\"\nseed = 2\nduration = \"2h\"\n\n[[workload]]\nname = \"s\"\nagent = \"a\"\narrivals = {{ process = \"poisson\", per_min = 2 }}\nsurges = [{{ at = \"100m\", for = \"20m\", factor = 0 }}]\nresample = {{ file = {file:?}, format = \"tracelab\" }}\n\n[agents.a]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\n\n[capacity]\nkind = \"shared_api\"\ntime_to_first_token = \"1s\"\n"
    );
    let s = loopcap::model::simulate(&spec(&model, &[]), false)
        .unwrap()
        .summary;
    assert_eq!(s.loops_started, s.loops_completed);
    // loops = 2a + 3b, calls = 10a + 9b.
    let (loops, calls) = (s.loops_completed as i64, s.calls as i64);
    let b = (10 * loops - 2 * calls) / 12;
    let a = (loops - 3 * b) / 2;
    assert_eq!((2 * a + 3 * b, 10 * a + 9 * b), (loops, calls));
    assert!(a > 50 && b > 50, "{a} and {b}");
    assert_eq!(s.input_tokens, a as u64 * claude + b as u64 * codex);
    // The sessions it counted are those a and b.
    let per_min = s.classes["s"].sessions_per_min.unwrap();
    let window_min = (s.duration_s - s.warmup_s) / 60.0;
    assert!(
        within(per_min * window_min, (a + b) as f64, 1e-9),
        "{per_min}/min against {} sessions",
        a + b
    );
}

/// Poisson arrivals at 2 a second for 4 hours, their times rounded down
/// to a 3 s tick: a third of the seconds hold every arrival, so counts
/// per second are 5 times as variable as Poisson's and most gaps are 0.
/// With `--tick 3s` the rows of a tick are spread over it, and the trace
/// is Poisson again: dispersion at 1 s and 10 s within 10% of 1 (their
/// intervals over 14,400 and 1,440 windows narrower than that), and
/// fitted as Poisson at its rate. Without the tick it is not.
#[test]
fn a_trace_rounded_to_a_tick_is_spread_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut uniform = uniform(0x853c_49e6_748f_ea9b_u64);
    let (mut t, mut text) = (0.0f64, String::from("t,in,out\n"));
    while t < 4.0 * 3600.0 {
        text.push_str(&format!("{},100,10\n", (t / 3.0).floor() * 3.0));
        t += -0.5 * (1.0 - uniform()).ln();
    }
    let csv = dir.path().join("rounded.csv");
    fs::write(&csv, &text).unwrap();
    let columns = "time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\"";
    let fit_with = |tick: &[&str], out: &str| {
        let output = loopcap()
            .arg("fit")
            .arg(&csv)
            .args(["--format", "csv", "--columns", columns, "--json"])
            .args(tick)
            .args(["--replications", "2", "--out"])
            .arg(dir.path().join(out))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let spread = fit_with(&["--tick", "3s"], "spread.toml");
    let arrivals = &spread["arrivals"];
    assert_eq!(arrivals["process"], "poisson", "{arrivals}");
    for scale in [0, 1] {
        let d = &arrivals["dispersion"][scale];
        let (trace, half) = (
            d["trace"].as_f64().unwrap(),
            d["trace_ci"].as_f64().unwrap(),
        );
        assert!(half < 0.1 && within(trace, 1.0, 0.1), "{d}");
    }
    let rate = spread["loops_per_min"]["trace"].as_f64().unwrap();
    assert!(within(rate, 120.0, 0.02), "{rate}");
    let rounded = fit_with(&[], "rounded.toml");
    let second = rounded["arrivals"]["dispersion"][0]["trace"]
        .as_f64()
        .unwrap();
    assert!(second > 4.0, "{second}");
    assert_ne!(rounded["arrivals"]["process"], "poisson");
    let model = fs::read_to_string(dir.path().join("spread.toml")).unwrap();
    assert!(model.contains("--tick 3s"), "{model}");
}

/// `fit --check` runs the trace replayed and the fitted model on another
/// model's capacity (models/azure-code-replay.toml: Anthropic Tier 2
/// limits, 3 attempts). Its replay is the shipped model's own workload
/// run with the fitted agent over the trace's span: recomputed here from
/// that model file, seed by seed, it gives the same figures exactly. The
/// fitted model, whose gaps replay the trace's bursts, fails as many
/// loops within 10% (an on/off fit failed 6.0% against 8.3%) and peaks
/// as high within 10% (on/off: 21 against 48), so nothing is warned of.
#[test]
fn fit_check_runs_the_replay_and_the_model_on_one_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("code.toml");
    let capacity = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/azure-code-replay.toml");
    let output = loopcap()
        .arg("fit")
        .arg(azure_code())
        .args([
            "--format",
            "azure",
            "--json",
            "--replications",
            "30",
            "--check",
        ])
        .arg(&capacity)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let figures = report["check"]["figures"].as_array().unwrap();
    let figure = |name: &str| figures.iter().find(|f| f["name"] == name).unwrap();
    // The replay, recomputed: the shipped model over the fitted span, with
    // the fitted agent's max_tokens.
    let fitted = fs::read_to_string(&out).unwrap();
    let line = |key: &str| {
        fitted
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .to_owned()
    };
    let text = fs::read_to_string(&capacity)
        .unwrap()
        .replace("duration = \"1h\"", &line("duration = "))
        .replace("max_output_tokens = 512", &line("max_output_tokens = "));
    let (mut failed, mut peaks) = (Vec::new(), Vec::new());
    for seed in 1..=30u64 {
        let source = loopcap::config::Source {
            name: "replay.toml".into(),
            text: text.replace("seed = 7", &format!("seed = {seed}")),
            base_dir: capacity.parent().unwrap().to_path_buf(),
        };
        let spec = loopcap::config::load_model_with(&source, &[] as &[&str])
            .unwrap()
            .spec;
        let s = loopcap::model::simulate(&spec, false).unwrap().summary;
        failed.push(100.0 * s.loops_failed_share.unwrap());
        peaks.push(s.peak_in_flight as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (failed_share, peak) = (figure("loops failed %"), figure("peak in flight"));
    assert!((failed_share["trace"].as_f64().unwrap() - mean(&failed)).abs() < 1e-9);
    assert!((peak["trace"].as_f64().unwrap() - mean(&peaks)).abs() < 1e-9);
    for f in [failed_share, peak] {
        let (replay, model) = (f["trace"].as_f64().unwrap(), f["model"].as_f64().unwrap());
        assert!(within(model, replay, 0.10), "{f}");
    }
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    // A capacity that cannot be read is bad input, and nothing is written.
    let other = dir.path().join("other.toml");
    let code = azure_code();
    let stderr = fit_refused([
        code.as_os_str(),
        "--format".as_ref(),
        "azure".as_ref(),
        "--check".as_ref(),
        "missing.toml".as_ref(),
        "--out".as_ref(),
        other.as_os_str(),
    ]);
    assert!(
        stderr.contains("--check missing.toml: cannot read"),
        "{stderr}"
    );
    assert!(!dir.path().join("other.toml").exists());
}

/// Five requests are too few to fit: the fit says so.
#[test]
fn a_trace_too_small_to_fit_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("five.csv");
    fs::write(
        &csv,
        "t,in,out\n0,100,10\n50,120,12\n70,90,9\n200,130,11\n290,100,10\n",
    )
    .unwrap();
    let columns = "time = \"t\", time_unit = \"s\", input = \"in\", output = \"out\"";
    let (report, stderr) = fit_csv(&csv, columns, &dir.path().join("five.toml"), "2");
    assert!(
        stderr.contains(
            "warning: only 5 loops in the trace: too few to fit distributions to (at least 30)"
        ),
        "{stderr}"
    );
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("only 5 loops")
    );
    // Beside the model, the report: the table and its warnings.
    let written = fs::read_to_string(dir.path().join("five.fit.txt")).unwrap();
    assert!(written.starts_with("# loopcap fit: the trace against the fitted model\n"));
    assert!(written.contains("\nloops/min ") && written.contains("\nwarning: only 5 loops"));
    let model = fs::read_to_string(dir.path().join("five.toml")).unwrap();
    assert!(model.contains("its warnings: five.fit.txt"), "{model}");
    // A file of that name loopcap did not write is left alone, and nothing
    // of the fit is written.
    fs::write(dir.path().join("mine.fit.txt"), "my notes\n").unwrap();
    let mine = dir.path().join("mine.toml");
    let stderr = fit_refused([
        csv.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
        "--columns".as_ref(),
        columns.as_ref(),
        "--out".as_ref(),
        mine.as_os_str(),
    ]);
    assert!(
        stderr.contains("mine.fit.txt: exists and loopcap did not write it"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("mine.fit.txt")).unwrap(),
        "my notes\n"
    );
    assert!(!dir.path().join("mine.toml").exists());
}
