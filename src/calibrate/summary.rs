//! A run known only by its summary: the JSON `vllm bench serve
//! --save-result` writes without `--save-detailed` (counts, token totals,
//! and each latency's mean, median and percentiles in ms). It can be
//! scored, replayed as vLLM's client sent it, but not fitted to.

use rand::SeedableRng;
use rand_distr::{Distribution, Gamma};
use rand_pcg::Pcg64;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::BadInput;

/// What a summary says of a run.
#[derive(Debug)]
pub struct Summary {
    pub name: String,
    /// Requests answered.
    pub completed: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    /// Requests a second; None: all sent at once (vLLM's `inf`).
    pub request_rate: Option<f64>,
    /// The gamma shape of the gaps between sends (1: Poisson).
    pub burstiness: f64,
    /// Seconds from the first send to the last answer.
    pub duration_s: f64,
    /// Each latency figure given: loopcap's metric, the statistic, seconds.
    pub figures: Vec<(&'static str, &'static str, f64)>,
}

/// The fields read beside the latency figures (serve.py's `result_json`).
#[derive(Deserialize)]
struct Head {
    completed: u64,
    total_input_tokens: u64,
    total_output_tokens: u64,
    request_rate: Value,
    #[serde(default = "poisson")]
    burstiness: f64,
    #[serde(default)]
    max_concurrency: Option<u64>,
    duration: f64,
}

fn poisson() -> f64 {
    1.0
}

/// The most requests a summary's replay sends.
const MAX_REQUESTS: u64 = 10_000_000;

/// The longest a summary's sends or duration may span, in seconds (about
/// 116 days; the replay runs ten durations past its last send).
const MAX_SPAN_S: f64 = 1e7;

/// The gamma shapes of gaps replayed: gaps of CV 10 to 0.1.
const BURSTINESS: (f64, f64) = (0.01, 100.0);

/// vLLM's name of each latency loopcap predicts, and loopcap's.
const METRICS: [(&str, &str); 3] = [
    ("ttft", "time to first token"),
    ("e2el", "end to end"),
    ("tpot", "time per output token"),
];

/// vLLM's name of each statistic loopcap gives, and loopcap's.
const STATS: [(&str, &str); 5] = [
    ("mean", "mean"),
    ("median", "p50"),
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
];

/// Whether `object` is a summary rather than a detailed result: it has
/// figures but no per-request `ttfts`.
pub fn is_summary(object: &Map<String, Value>) -> bool {
    !object.contains_key("ttfts") && object.contains_key("mean_ttft_ms")
}

/// The summary in `object`, read from the file `name`.
pub fn from_json(name: &str, object: Map<String, Value>) -> Result<Summary, BadInput> {
    let bad = |why: String| BadInput::new(format!("{name}: {why}"));
    let figures = figures(name, &object)?;
    let head: Head = serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| {
        bad(format!(
            "field `{}`: {}; expected the JSON `vllm bench serve --save-result` writes",
            e.path(),
            e.inner()
        ))
    })?;
    let request_rate = match &head.request_rate {
        Value::String(s) if s == "inf" => None,
        Value::Number(n) => match n.as_f64() {
            Some(r) if r.is_finite() && r > 0.0 => Some(r),
            _ => {
                return Err(bad(format!(
                    "`request_rate` {n}: a rate above 0 or \"inf\""
                )));
            }
        },
        _ => {
            return Err(bad(format!(
                "`request_rate` {}: a rate above 0 or \"inf\"",
                head.request_rate
            )));
        }
    };
    if let Some(cap) = head.max_concurrency {
        return Err(bad(format!(
            "`max_concurrency` {cap}: a client capped in flight cannot be replayed from a summary; score runs made without --max-concurrency"
        )));
    }
    if !(BURSTINESS.0..=BURSTINESS.1).contains(&head.burstiness) {
        return Err(bad(format!(
            "`burstiness` {}: loopcap replays gamma gaps of shape {} to {}",
            head.burstiness, BURSTINESS.0, BURSTINESS.1
        )));
    }
    if let Some(rate) = request_rate
        && head.completed as f64 / rate > MAX_SPAN_S
    {
        return Err(bad(format!(
            "`request_rate` {rate} for {} requests: their sends would span {:.0} s, and a replay spans at most {MAX_SPAN_S} s",
            head.completed,
            head.completed as f64 / rate
        )));
    }
    if head.completed == 0 || head.completed > MAX_REQUESTS {
        return Err(bad(format!(
            "`completed` {}: from 1 to {MAX_REQUESTS} requests answered can be replayed",
            head.completed
        )));
    }
    for (field, total) in [
        ("total_input_tokens", head.total_input_tokens),
        ("total_output_tokens", head.total_output_tokens),
    ] {
        if total.div_ceil(head.completed) > u64::from(u32::MAX) {
            return Err(bad(format!(
                "`{field}` {total} over {} requests: more tokens a request than one can hold ({})",
                head.completed,
                u32::MAX
            )));
        }
    }
    if head.total_output_tokens < head.completed {
        return Err(bad(format!(
            "`total_output_tokens` {} < `completed` {}: each answer made at least one token",
            head.total_output_tokens, head.completed
        )));
    }
    if !(head.duration.is_finite() && head.duration > 0.0 && head.duration <= MAX_SPAN_S) {
        return Err(bad(format!(
            "`duration` {}: seconds above 0, at most {MAX_SPAN_S}",
            head.duration
        )));
    }
    Ok(Summary {
        name: name.to_owned(),
        completed: head.completed,
        total_input_tokens: head.total_input_tokens,
        total_output_tokens: head.total_output_tokens,
        request_rate,
        burstiness: head.burstiness,
        duration_s: head.duration,
        figures,
    })
}

/// The latency figures of `object` loopcap can predict, in seconds (a
/// median given twice, as `median_` and `p50_`, once).
fn figures(
    name: &str,
    object: &Map<String, Value>,
) -> Result<Vec<(&'static str, &'static str, f64)>, BadInput> {
    let mut figures: Vec<(&str, &str, f64)> = vec![];
    for (vllm, metric) in METRICS {
        for (key, stat) in STATS {
            let field = format!("{key}_{vllm}_ms");
            let Some(value) = object.get(&field) else {
                continue;
            };
            match value.as_f64() {
                Some(_) if figures.iter().any(|f| (f.0, f.1) == (metric, stat)) => {}
                Some(ms) if ms.is_finite() && ms > 0.0 => figures.push((metric, stat, ms / 1e3)),
                _ => {
                    return Err(BadInput::new(format!(
                        "{name}: `{field}` {value}: milliseconds above 0"
                    )));
                }
            }
        }
    }
    Ok(figures)
}

impl Summary {
    /// The requests as vLLM's client sent them: when (seconds from the
    /// first), prompt and output tokens. The totals are shared out evenly,
    /// as the summary keeps no request's own; gaps are drawn as the client
    /// draws them (gamma, shape `burstiness`, mean 1/rate) from `seed`.
    pub fn requests(&self, seed: u64) -> Vec<(f64, u64, u64)> {
        let n = self.completed;
        let share = |total: u64, i: u64| total / n + u64::from(i < total % n);
        let gaps = self.request_rate.map(|rate| {
            let shape = self.burstiness;
            Gamma::new(shape, 1.0 / (rate * shape)).expect("a shape and rate above 0")
        });
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut sent = 0.0;
        (0..n)
            .map(|i| {
                if let (Some(gaps), true) = (&gaps, i > 0) {
                    sent += gaps.sample(&mut rng);
                }
                (
                    sent,
                    share(self.total_input_tokens, i),
                    share(self.total_output_tokens, i),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Summary, BadInput> {
        let Value::Object(object) = serde_json::from_str(text).unwrap() else {
            panic!("not an object")
        };
        assert!(is_summary(&object));
        from_json("run.json", object)
    }

    const BURST: &str = r#"{"completed": 3, "total_input_tokens": 3071, "total_output_tokens": 3000,
        "request_rate": "inf", "burstiness": 1.0, "max_concurrency": null, "duration": 14.31,
        "mean_ttft_ms": 503.72, "median_ttft_ms": 553.62, "p99_ttft_ms": 699.66, "std_ttft_ms": 80.0, "p50_ttft_ms": 600.0,
        "mean_tpot_ms": 13.46, "p99.9_tpot_ms": 20.0, "mean_itl_ms": 13.46}"#;

    #[test]
    fn a_summary_gives_its_figures_in_seconds_and_shares_its_tokens_out() {
        let summary = read(BURST).unwrap();
        let want = [
            ("time to first token", "mean", 0.50372),
            ("time to first token", "p50", 0.55362),
            ("time to first token", "p99", 0.69966),
            ("time per output token", "mean", 0.01346),
        ];
        assert_eq!(summary.figures.len(), want.len(), "{:?}", summary.figures);
        for (got, want) in summary.figures.iter().zip(want) {
            assert_eq!((got.0, got.1), (want.0, want.1));
            assert!((got.2 - want.2).abs() < 1e-12, "{got:?}");
        }
        // All sent at once; 3,071 prompt tokens over three requests, the
        // remainder to the first.
        assert_eq!(
            summary.requests(1),
            vec![(0.0, 1024, 1000), (0.0, 1024, 1000), (0.0, 1023, 1000)]
        );
    }

    #[test]
    fn a_rated_summary_is_sent_at_its_rate() {
        let text = BURST
            .replace("\"inf\"", "4.0")
            .replace("\"completed\": 3", "\"completed\": 4000")
            .replace("3000", "40000");
        let summary = read(&text).unwrap();
        let sent: Vec<f64> = summary.requests(1).iter().map(|r| r.0).collect();
        assert_eq!(sent[0], 0.0);
        // 3,999 exponential gaps of mean 0.25 s: their mean within 0.025 s
        // (six standard errors of 0.004).
        let mean_gap = sent[3999] / 3999.0;
        assert!((mean_gap - 0.25).abs() < 0.025, "{mean_gap}");
        assert!(sent.windows(2).all(|w| w[0] <= w[1]));
        // Burstier sends are more variable: gaps of CV 2 at shape 0.25.
        let bursty = read(&text.replace("\"burstiness\": 1.0", "\"burstiness\": 0.25")).unwrap();
        let gaps: Vec<f64> = bursty
            .requests(1)
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / mean - 2.0).abs() < 0.3, "CV {}", sd / mean);
    }

    #[test]
    fn a_summary_that_cannot_be_replayed_says_why() {
        // Each change to a good summary, and what its refusal says.
        for (from, to, said) in [
            (
                "\"max_concurrency\": null",
                "\"max_concurrency\": 8",
                "run.json: `max_concurrency` 8",
            ),
            ("\"inf\"", "\"fast\"", "`request_rate` \"fast\""),
            ("503.72", "-1", "`mean_ttft_ms` -1"),
            ("\"duration\": 14.31,", "", "missing field `duration`"),
            ("\"completed\": 3", "\"completed\": 0", "`completed` 0"),
            (
                "3071",
                "30000000000",
                "`total_input_tokens` 30000000000 over 3 requests",
            ),
            ("\"inf\"", "1e-9", "their sends would span"),
            ("14.31", "1e300", "`duration` 1000000000"),
            (
                "\"burstiness\": 1.0",
                "\"burstiness\": 1e-9",
                "`burstiness` 0.000000001",
            ),
        ] {
            let refused = read(&BURST.replace(from, to)).unwrap_err().0;
            assert!(refused.contains(said), "{from} -> {to}: {refused}");
        }
    }
}
