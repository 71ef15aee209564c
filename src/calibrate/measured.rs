//! A real server's own measurements of the requests it served: the JSON
//! `vllm bench serve --save-result --save-detailed` writes, or a CSV with a
//! row per request; or, to be scored only, a run's summary ([`summary`]).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::summary::{self, Summary};
use crate::error::{BadInput, ReadError};

/// One request as the client measured it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// When it was sent, in seconds from the run's first request.
    pub sent_s: f64,
    /// Prompt tokens.
    pub input: u64,
    /// Tokens it made, the first included.
    pub output: u64,
    /// When each output token came, in seconds from the run's first
    /// request: measured, or spread evenly between the first and the last.
    pub token_s: Vec<f64>,
    /// Whether `token_s` was measured token by token.
    pub tokens_measured: bool,
}

impl Request {
    pub fn ttft_s(&self) -> f64 {
        self.token_s[0] - self.sent_s
    }

    pub fn e2e_s(&self) -> f64 {
        self.token_s[self.token_s.len() - 1] - self.sent_s
    }

    /// Seconds per output token after the first, as vLLM's TPOT.
    pub fn tpot_s(&self) -> Option<f64> {
        (self.output > 1).then(|| (self.e2e_s() - self.ttft_s()) / (self.output - 1) as f64)
    }

    pub fn first_token_s(&self) -> f64 {
        self.token_s[0]
    }

    pub fn last_token_s(&self) -> f64 {
        self.token_s[self.token_s.len() - 1]
    }
}

/// The requests of one run, in the order they were sent, and the failed
/// ones left out.
#[derive(Debug)]
pub struct Run {
    /// How to name it in messages and reports: the path as given.
    pub name: String,
    pub requests: Vec<Request>,
    pub failed: usize,
}

/// The fields of vLLM's detailed result this reads (serve.py's
/// `benchmark()` result; `start_times` are `time.perf_counter()` readings).
#[derive(Deserialize)]
struct VllmResult {
    input_lens: Vec<u64>,
    output_lens: Vec<u64>,
    ttfts: Vec<f64>,
    itls: Vec<Vec<f64>>,
    start_times: Option<Vec<f64>>,
    #[serde(default)]
    errors: Vec<Option<String>>,
}

/// A row of the per-request CSV.
#[derive(Deserialize)]
struct CsvRow {
    sent_s: f64,
    first_token_s: f64,
    last_token_s: f64,
    input_tokens: u64,
    output_tokens: u64,
}

/// A measured run: its requests, or only its summary.
#[derive(Debug)]
pub enum Measured {
    Requests(Run),
    Summary(Summary),
}

/// Reads the requests measured in `path`, which must have them to be
/// fitted to.
pub fn read(path: &Path) -> Result<Run, ReadError> {
    match read_run(path)? {
        Measured::Requests(run) => Ok(run),
        Measured::Summary(summary) => Err(ReadError::bad(format!(
            "{}: a run's summary, with no request's own times (`ttfts`): it can be scored with --check, but a fit needs the requests (`--save-detailed`) or a --profile",
            summary.name
        ))),
    }
}

/// Reads the run in `path`: vLLM's JSON (by its `.json` name), detailed or
/// a summary, or the CSV of `sent_s, first_token_s, last_token_s,
/// input_tokens, output_tokens` (times in seconds from any origin).
pub fn read_run(path: &Path) -> Result<Measured, ReadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(ReadError::io(path))?;
    let (requests, failed) = if path.extension().is_some_and(|e| e == "json") {
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| ReadError::bad(format!("{name}: not JSON: {e}")))?;
        match value {
            Value::Object(object) if summary::is_summary(&object) => {
                return Ok(Measured::Summary(summary::from_json(&name, object)?));
            }
            value => from_vllm(&name, value)?,
        }
    } else {
        (from_csv(path, &text)?, 0)
    };
    if requests.len() < 2 {
        return Err(ReadError::bad(format!(
            "{name}: {} request(s) answered; calibrating needs at least 2",
            requests.len()
        )));
    }
    Ok(Measured::Requests(Run {
        name,
        requests,
        failed,
    }))
}

fn from_vllm(name: &str, value: Value) -> Result<(Vec<Request>, usize), BadInput> {
    let raw: VllmResult = serde_path_to_error::deserialize(value).map_err(|e| {
        BadInput::new(format!(
            "{name}: field `{}`: {}; expected the JSON `vllm bench serve --save-result --save-detailed` writes",
            e.path(),
            e.inner()
        ))
    })?;
    let Some(start_times) = &raw.start_times else {
        return Err(BadInput::new(format!(
            "{name}: no `start_times`: the requests' send times are needed to replay them (vLLM's serve benchmark saves them with --save-detailed in recent versions); or give a CSV of sent_s, first_token_s, last_token_s, input_tokens, output_tokens"
        )));
    };
    let n = raw.input_lens.len();
    for (field, len) in [
        ("output_lens", raw.output_lens.len()),
        ("ttfts", raw.ttfts.len()),
        ("itls", raw.itls.len()),
        ("start_times", start_times.len()),
    ] {
        if len != n {
            return Err(BadInput::new(format!(
                "{name}: field `{field}` has {len} entries, `input_lens` {n}: one per request in each"
            )));
        }
    }
    let origin = start_times.iter().copied().fold(f64::INFINITY, f64::min);
    let mut requests = vec![];
    let mut failed = 0;
    for (i, &start) in start_times.iter().enumerate() {
        let error = raw.errors.get(i).and_then(Option::as_deref);
        let output = raw.output_lens[i];
        if error.is_some_and(|e| !e.is_empty()) || output == 0 || raw.ttfts[i] <= 0.0 {
            failed += 1;
            continue;
        }
        let at = |field: &str, why: &str| {
            BadInput::new(format!("{name}: request {i} (from 0): `{field}` {why}"))
        };
        let itls = &raw.itls[i];
        if itls.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(at("itls", "holds a negative or non-finite gap"));
        }
        let sent_s = start - origin;
        let first = sent_s + raw.ttfts[i];
        // Streamed chunks can carry several tokens: then the gaps are not
        // one a token, and the tokens are spread over the span.
        let tokens_measured = itls.len() as u64 + 1 == output;
        let token_s = if tokens_measured {
            std::iter::once(first)
                .chain(itls.iter().scan(first, |t, gap| {
                    *t += gap;
                    Some(*t)
                }))
                .collect()
        } else {
            spread(first, first + itls.iter().sum::<f64>(), output)
        };
        if !sent_s.is_finite() || !raw.ttfts[i].is_finite() {
            return Err(at("ttfts", "or `start_times` is not a finite number"));
        }
        requests.push(Request {
            sent_s,
            input: raw.input_lens[i],
            output,
            token_s,
            tokens_measured,
        });
    }
    requests.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
    Ok((requests, failed))
}

fn from_csv(path: &Path, text: &str) -> Result<Vec<Request>, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = vec![];
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| {
            ReadError::bad(format!(
                "{}: line {line}: {e}; expected columns sent_s, first_token_s, last_token_s (seconds), input_tokens, output_tokens",
                path.display()
            ))
        })?;
        let bad = |why: &str| ReadError::bad(format!("{}: line {line}: {why}", path.display()));
        if ![row.sent_s, row.first_token_s, row.last_token_s]
            .iter()
            .all(|t| t.is_finite())
        {
            return Err(bad("a time is not a finite number"));
        }
        if row.first_token_s < row.sent_s || row.last_token_s < row.first_token_s {
            return Err(bad(
                "times out of order: sent_s ≤ first_token_s ≤ last_token_s expected",
            ));
        }
        if row.output_tokens == 0 {
            return Err(bad(
                "output_tokens is 0: a request answered made at least one",
            ));
        }
        rows.push(row);
    }
    let origin = rows.iter().map(|r| r.sent_s).fold(f64::INFINITY, f64::min);
    let mut requests: Vec<Request> = rows
        .into_iter()
        .map(|r| Request {
            sent_s: r.sent_s - origin,
            input: r.input_tokens,
            output: r.output_tokens,
            token_s: spread(
                r.first_token_s - origin,
                r.last_token_s - origin,
                r.output_tokens,
            ),
            tokens_measured: false,
        })
        .collect();
    requests.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
    Ok(requests)
}

/// `count` token times evenly from `first` to `last`.
fn spread(first: f64, last: f64, count: u64) -> Vec<f64> {
    if count == 1 {
        return vec![first];
    }
    let gap = (last - first) / (count - 1) as f64;
    (0..count).map(|k| first + gap * k as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_vllm_result_gives_each_answered_request_its_token_times() {
        let (requests, failed) = from_vllm(
            "run.json",
            json(
                r#"{"input_lens": [10, 20, 30], "output_lens": [3, 0, 4],
                "ttfts": [0.5, 0.0, 0.25], "itls": [[0.1, 0.2], [], [0.3]],
                "start_times": [101.0, 100.5, 100.0], "errors": ["", "timed out", null]}"#,
            ),
        )
        .unwrap();
        // The failed one is left out; the rest in the order sent, from the first.
        assert_eq!(failed, 1);
        assert_eq!(requests.len(), 2);
        let (third, first) = (&requests[0], &requests[1]);
        assert_eq!((third.sent_s, third.input), (0.0, 30));
        assert_eq!((first.sent_s, first.input), (1.0, 10));
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
        };
        assert!(
            close(&first.token_s, &[1.5, 1.6, 1.8]),
            "{:?}",
            first.token_s
        );
        assert!(first.tokens_measured);
        // Three gaps' worth of tokens in one: spread over the span.
        assert!(
            close(&third.token_s, &[0.25, 0.35, 0.45, 0.55]),
            "{:?}",
            third.token_s
        );
        assert!(!third.tokens_measured);
        assert!(
            (first.e2e_s() - 0.8).abs() < 1e-12 && (first.tpot_s().unwrap() - 0.15).abs() < 1e-12
        );
    }

    #[test]
    fn a_vllm_result_that_cannot_be_replayed_says_why() {
        let no_times = from_vllm(
            "run.json",
            json(r#"{"input_lens": [1], "output_lens": [1], "ttfts": [0.1], "itls": [[]]}"#),
        );
        assert!(no_times.unwrap_err().0.contains("no `start_times`"));
        let short = from_vllm(
            "run.json",
            json(
                r#"{"input_lens": [1, 2], "output_lens": [1], "ttfts": [0.1, 0.2], "itls": [[], []], "start_times": [0, 1]}"#,
            ),
        );
        assert!(
            short
                .unwrap_err()
                .0
                .contains("field `output_lens` has 1 entries, `input_lens` 2")
        );
        let typed = from_vllm(
            "run.json",
            json(r#"{"input_lens": ["ten"], "output_lens": [1], "ttfts": [0.1], "itls": [[]]}"#),
        );
        assert!(typed.unwrap_err().0.contains("field `input_lens[0]`"));
        let negative = from_vllm(
            "run.json",
            json(
                r#"{"input_lens": [1], "output_lens": [2], "ttfts": [0.1], "itls": [[-0.1]], "start_times": [0]}"#,
            ),
        );
        assert!(
            negative
                .unwrap_err()
                .0
                .contains("request 0 (from 0): `itls`")
        );
    }

    #[test]
    fn a_csv_row_spreads_its_tokens_and_a_bad_one_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.csv");
        std::fs::write(
            &path,
            "sent_s,first_token_s,last_token_s,input_tokens,output_tokens\n10,10.5,11.5,100,5\n9,9.1,9.1,7,1\n",
        )
        .unwrap();
        let run = read(&path).unwrap();
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
        };
        assert!(close(&run.requests[0].token_s, &[0.1]));
        assert!(close(
            &run.requests[1].token_s,
            &[1.5, 1.75, 2.0, 2.25, 2.5]
        ));
        std::fs::write(
            &path,
            "sent_s,first_token_s,last_token_s,input_tokens,output_tokens\n10,10.5,11.5,100,5\n9,8,9.1,7,1\n",
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("requests.csv: line 3: times out of order"),
            "{e}"
        );
    }
}
