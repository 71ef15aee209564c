//! OpenTelemetry GenAI spans as recorded sessions (`format = "otel"`):
//! OTLP/JSON as an OTLP file exporter or a collector writes it (one
//! export request per line, or one for the file), or one span a line as
//! some tools flatten them. Spans follow the GenAI semantic conventions,
//! with the older names exporters still write:
//!
//! - an LLM call is a span whose `gen_ai.operation.name` is `chat`,
//!   `text_completion` or `generate_content` (OpenInference:
//!   `openinference.span.kind = "LLM"`), with its input and output
//!   tokens (`gen_ai.usage.input_tokens`, which includes cache reads and
//!   writes; OpenLLMetry's `gen_ai.usage.prompt_tokens`; OpenInference's
//!   `llm.token_count.prompt`; likewise for output and cache reads) and
//!   its model (`gen_ai.request.model`);
//! - an `invoke_agent` span is one user request: the calls within it are
//!   its loop;
//! - a session is `gen_ai.conversation.id`, else `session.id` (Langfuse,
//!   OpenInference), else the trace id;
//! - a span with `error.type` (a 429, say) or an error status is a failed
//!   attempt: skipped and counted, since the simulation makes its own.
//!
//! A session's calls, in order of their start, are its rounds; the gap
//! from one call's end to the next one's start is the tool time between
//! them (tools and the agent's own work), and from a request's last
//! call to the next request's start its user's think time.

use std::collections::HashMap;

use serde_json::Value;

use super::agent_loop::CallTokens;
use super::sessions::{
    RecordedCall, RecordedRequest, SessionTrace, model_named, place, requests_of,
};
use super::trace::{TraceError, TraceSpec, read_text};
use crate::error::BadInput;

/// What the GenAI conventions, and the names older exporters write, call each field.
const OPERATION: [&str; 1] = ["gen_ai.operation.name"];
const SESSION: [&str; 2] = ["gen_ai.conversation.id", "session.id"];
const INPUT: [&str; 3] = [
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
];
const OUTPUT: [&str; 3] = [
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
];
const CACHE_READ: [&str; 3] = [
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
];
/// The OpenTelemetry GenAI conventions' request attribute, and OpenLLMetry's older name.
const MAX_TOKENS: [&str; 2] = ["gen_ai.request.max_tokens", "llm.request.max_tokens"];
const MODEL: [&str; 3] = [
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
];
/// Operations that are one LLM call.
const CALLS: [&str; 3] = ["chat", "text_completion", "generate_content"];

/// One span as read: what it is, when (µs since the epoch), and its fields.
struct Span {
    kind: Kind,
    session: String,
    start_us: i64,
    end_us: i64,
    tokens: CallTokens,
    model: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Call,
    Request,
}

/// The sessions of an OTLP/JSON file of GenAI spans; `models` maps the
/// recorded model names to the model's.
pub fn read_otel(spec: &TraceSpec, models: &[(String, u16)]) -> Result<SessionTrace, TraceError> {
    let fail = |what: String| TraceError {
        message: format!("{}: {what}", spec.shown),
    };
    let text = read_text(spec)?;
    let mut spans = Vec::new();
    let mut failed_calls = 0u64;
    // One JSON value a line, or values over several lines (pretty-printed).
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    // The line each value starts on, counted as the values are read.
    let (mut line, mut counted) = (1, 0);
    loop {
        let offset = values.byte_offset();
        let rest = &text[offset..];
        let start = offset + (rest.len() - rest.trim_start().len());
        line += text[counted..start].matches('\n').count();
        counted = start;
        let value = match values.next() {
            None => break,
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                return Err(fail(format!(
                    "line {}: not OTLP/JSON ({e}): give spans as an OTLP file exporter or collector writes them",
                    e.line()
                )));
            }
        };
        for span in spans_of(&value) {
            match read_span(span).map_err(|what| fail(format!("line {line}: {what}")))? {
                Read::Span(span) => spans.push(span),
                Read::Failed => failed_calls += 1,
                Read::Other => {}
            }
        }
    }
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: place(spec, sessions(spans, models)).into(),
        skipped_rows: 0,
        failed_calls,
        dated: true,
    })
}

/// The spans in one JSON value: an export request's, or the value itself.
fn spans_of(value: &Value) -> Vec<&Value> {
    let Some(resources) = value.get("resourceSpans") else {
        return vec![value];
    };
    resources
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            ["scopeSpans", "instrumentationLibrarySpans"]
                .into_iter()
                .filter_map(move |key| r.get(key)?.as_array())
                .flatten()
        })
        .filter_map(|scope| scope.get("spans")?.as_array())
        .flatten()
        .collect()
}

/// What a span is to replay.
enum Read {
    /// A call or a request.
    Span(Span),
    /// A call that failed.
    Failed,
    /// Any other span (a tool's, say).
    Other,
}

/// A span as a call or a request, a failed call, or another.
fn read_span(span: &Value) -> Result<Read, BadInput> {
    let attributes = attributes(span);
    let get = |names: &[&str]| names.iter().find_map(|n| attributes.get(*n).cloned());
    let text = |names: &[&str]| get(names).and_then(|v| string(&v));
    let operation = text(&OPERATION);
    let open_inference = text(&["openinference.span.kind"]);
    let kind = match (operation.as_deref(), open_inference.as_deref()) {
        (Some(op), _) if CALLS.contains(&op) => Kind::Call,
        (Some("invoke_agent"), _) | (None, Some("AGENT")) => Kind::Request,
        (None, Some("LLM")) => Kind::Call,
        _ => return Ok(Read::Other),
    };
    let failed = get(&["error.type"]).is_some()
        || span.pointer("/status/code").and_then(number) == Some(2.0)
        || span.pointer("/status/code").and_then(Value::as_str) == Some("STATUS_CODE_ERROR");
    if kind == Kind::Call && failed {
        return Ok(Read::Failed);
    }
    let field = |names: &[&str]| -> Result<Option<u32>, BadInput> {
        get(names)
            .map(|v| {
                number(&v)
                    .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x <= f64::from(u32::MAX))
                    .map(|x| x as u32)
                    .ok_or_else(|| BadInput(format!("`{}` is not a token count ({v})", names[0])))
            })
            .transpose()
    };
    let time = |keys: [&str; 3]| -> Result<i64, BadInput> {
        keys.iter()
            .find_map(|k| span.get(*k))
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse::<i64>().ok())
                    .or_else(|| v.as_i64())
            })
            .map(|ns| ns / 1000)
            .ok_or_else(|| BadInput(format!("a span without `{}`", keys[0])))
    };
    let trace_id = ["traceId", "trace_id", "context.trace_id"]
        .iter()
        .find_map(|k| span.get(*k).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let input = field(&INPUT)?;
    if kind == Kind::Call && input.is_none() {
        return Err(BadInput(format!(
            "an LLM call span without input tokens (`{}`)",
            INPUT[0]
        )));
    }
    let input = input.unwrap_or(0);
    let cached_input = field(&CACHE_READ)?.unwrap_or(0).min(input);
    Ok(Read::Span(Span {
        kind,
        session: text(&SESSION).unwrap_or(trace_id),
        start_us: time(["startTimeUnixNano", "start_time_unix_nano", "start_time"])?,
        end_us: time(["endTimeUnixNano", "end_time_unix_nano", "end_time"])?,
        tokens: CallTokens {
            input,
            shared_input: 0,
            cached_input,
            output: field(&OUTPUT)?.unwrap_or(0),
            max_output: field(&MAX_TOKENS)?,
        },
        model: text(&MODEL),
    }))
}

/// A span's attributes by key: OTLP's `[{key, value: {stringValue: ..}}]`,
/// or a flattened `{key: value}`.
fn attributes(span: &Value) -> HashMap<String, Value> {
    match span.get("attributes") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| {
                let key = a.get("key")?.as_str()?.to_owned();
                let value = a.get("value")?;
                let value = ["stringValue", "intValue", "doubleValue", "boolValue"]
                    .iter()
                    .find_map(|k| value.get(*k))
                    .unwrap_or(value)
                    .clone();
                Some((key, value))
            })
            .collect(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => HashMap::new(),
    }
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, or a string of one (OTLP writes 64-bit integers as strings).
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.parse().ok())
}

/// Spans grouped into sessions by their start: each session's requests
/// (its `invoke_agent` spans, or the whole session as one), each
/// request's calls in order.
fn sessions(spans: Vec<Span>, models: &[(String, u16)]) -> Vec<(i64, Vec<RecordedRequest>)> {
    let mut by_session: HashMap<String, Vec<Span>> = HashMap::new();
    let mut order = Vec::new();
    for span in spans {
        if !by_session.contains_key(&span.session) {
            order.push(span.session.clone());
        }
        by_session
            .entry(span.session.clone())
            .or_default()
            .push(span);
    }
    order
        .into_iter()
        .filter_map(|id| {
            let mut spans = by_session.remove(&id)?;
            spans.sort_by_key(|s| (s.start_us, s.end_us));
            let (calls, requests): (Vec<Span>, Vec<Span>) =
                spans.into_iter().partition(|s| s.kind == Kind::Call);
            let first = calls.first()?.start_us;
            // Each call goes with the last request started at or before it.
            let mut groups: Vec<Vec<Span>> =
                (0..requests.len().max(1)).map(|_| Vec::new()).collect();
            for call in calls {
                let r = requests
                    .iter()
                    .rposition(|q| q.start_us <= call.start_us)
                    .unwrap_or(0);
                groups[r].push(call);
            }
            let groups = groups
                .into_iter()
                .map(|calls| {
                    calls
                        .into_iter()
                        .map(|call| RecordedCall {
                            start_us: call.start_us,
                            end_us: call.end_us,
                            tokens: call.tokens,
                            model: call.model.and_then(|m| model_named(models, &m)),
                        })
                        .collect()
                })
                .collect();
            Some((first, requests_of(groups)))
        })
        .collect()
}
