//! Agent sessions in the Weka KV-cache-tester trace format (`format =
//! "weka"`): the form in which SemiAnalysis published its 2026 traces of
//! Claude Code traffic (the `semianalysisai/cc-traces-weka-*` datasets),
//! as NVIDIA AIPerf's `weka_trace` loader reads them (ai-dynamo/aiperf,
//! `src/aiperf/dataset/graph/adapters/weka/trace_models.py`, commit
//! 58028d5). A file holds one trace (a session) as a JSON object, several
//! as a JSON array, or one a line (JSONL).
//!
//! - A trace is `{ id, models, block_size, hash_id_scope, requests }`.
//!   Each entry of `requests` is an LLM call (`type` "n", or "s" when
//!   streamed) with `t` (seconds from the session's start), `model`, `in`
//!   and `out` (tokens), `hash_ids` (the prompt's blocks of `block_size`
//!   tokens, equal ids equal text), `api_time` (seconds the call took),
//!   `stop`; or a subagent (`type` "subagent") spawned at `t`, with its own
//!   `requests`, nested subagents among them.
//! - A call's cached input is its prompt's leading blocks already sent
//!   earlier in the session, by the session or any of its subagents
//!   (`hash_id_scope` "local": one namespace a trace; "global": one for the
//!   file's global traces, filled in the order their calls were sent), at
//!   most its input: what a prefix cache that kept every block would hit.
//! - A session's own calls are its loops, each ending at a call that
//!   stopped with `end_turn` (the turn handed back to the person). A
//!   subagent spawned alone and waited for is part of its parent's loop:
//!   its calls run in the loop, so the parent waits for them as simulated.
//!   Subagents spawned together (a run of them before the parent's next
//!   call), or not waited for (`async_launched`), are loops of their own,
//!   started at their recorded times while the parent waits as recorded.
//!   Tool and think times are the gaps.
//! - The traces keep no wall-clock start: every session starts at the
//!   trace's time 0. Replayed, they start together; resampled
//!   (`resample`), a class's arrivals start them.

use std::collections::HashSet;

use serde::Deserialize;

use super::agent_loop::CallTokens;
use super::sessions::{
    RecordedCall, RecordedRequest, SessionTrace, model_named, place, requests_of,
};
use super::trace::{TraceError, TraceSpec, read_text};
use crate::error::BadInput;

/// One trace: a recorded session.
#[derive(Deserialize)]
struct Trace {
    block_size: u32,
    hash_id_scope: String,
    requests: Vec<Entry>,
}

/// An entry of a trace's or subagent's `requests`.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Entry {
    #[serde(rename = "n", alias = "s")]
    Call(Call),
    #[serde(rename = "subagent")]
    Subagent(Subagent),
}

#[derive(Deserialize)]
struct Call {
    t: f64,
    model: String,
    #[serde(rename = "in")]
    input: u32,
    #[serde(rename = "out")]
    output: u32,
    #[serde(default)]
    hash_ids: Vec<u64>,
    #[serde(default)]
    stop: String,
    api_time: Option<f64>,
}

#[derive(Deserialize)]
struct Subagent {
    /// "completed", or "async_launched" (the parent did not wait).
    #[serde(default)]
    status: String,
    requests: Vec<Entry>,
}

/// A call placed in its session.
struct Placed<'a> {
    /// Its thread: 0 the session's own, with the subagents it waited for
    /// one at a time; another, a subagent run beside others or not waited for.
    thread: usize,
    /// Its order in the file.
    order: usize,
    /// Whether an `end_turn` of it ends a loop: a call of the session's own
    /// list (a subagent's last answer ends the subagent's turn, not the person's).
    ends_turns: bool,
    call: &'a Call,
}

/// The sessions of a Weka trace file; `models` maps the recorded model
/// names to the model's.
pub fn read_weka(spec: &TraceSpec, models: &[(String, u16)]) -> Result<SessionTrace, TraceError> {
    let fail = |what: String| TraceError {
        message: format!("{}: {what}", spec.shown),
    };
    let text = read_text(spec)?;
    let traces = traces(&text).map_err(|e| fail(e.0))?;
    // Each trace's calls, flattened, and how many threads it has.
    let mut flat: Vec<(Vec<Placed>, usize)> = vec![];
    for (line, trace) in &traces {
        let at = |what: String| fail(format!("line {line}: {what}"));
        if trace.block_size == 0 {
            return Err(at("`block_size` 0: a block holds at least one token".into()));
        }
        if !matches!(trace.hash_id_scope.as_str(), "local" | "global") {
            return Err(at(format!(
                "`hash_id_scope` \"{}\": allowed are local, global",
                trace.hash_id_scope
            )));
        }
        let mut placed = vec![];
        let mut threads = 1;
        flatten(&trace.requests, (0, true), &mut threads, &mut placed);
        for Placed { call, .. } in &placed {
            if !(call.t.is_finite() && call.t >= 0.0) {
                return Err(at(format!("a call's `t` {}: seconds, at least 0", call.t)));
            }
            if call.api_time.is_some_and(|a| !(a.is_finite() && a >= 0.0)) {
                return Err(at(format!(
                    "a call's `api_time` {:?}: seconds, at least 0",
                    call.api_time
                )));
            }
        }
        flat.push((placed, threads));
    }
    // The cache fills in the order the calls were sent, subagents' too: a
    // "local" session's on its own, every "global" one's together (each
    // session starting at its time 0).
    let mut cached: Vec<Vec<u32>> = flat.iter().map(|(p, _)| vec![0; p.len()]).collect();
    let mut global = vec![];
    for (k, (placed, _)) in flat.iter().enumerate() {
        let calls = placed.iter().map(|p| (k, p));
        match traces[k].1.hash_id_scope.as_str() {
            "global" => global.extend(calls),
            _ => fill(&mut cached, &traces, calls.collect()),
        }
    }
    fill(&mut cached, &traces, global);
    let mut sessions = vec![];
    for (k, (placed, threads)) in flat.iter().enumerate() {
        for thread in 0..*threads {
            let calls: Vec<(&Placed, u32)> = placed
                .iter()
                .filter(|p| p.thread == thread)
                .map(|p| (p, cached[k][p.order]))
                .collect();
            sessions.extend(session(&calls, models));
        }
    }
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: place(spec, sessions).into(),
        skipped_rows: 0,
        failed_calls: 0,
        dated: false,
    })
}

/// Each call's cached input (`cached[trace][order]`): its prompt's leading
/// blocks sent before by any of `calls` (of the traces' `traces`), in the
/// order they were sent, times its trace's block size, at most its input.
fn fill(cached: &mut [Vec<u32>], traces: &[(usize, Trace)], mut calls: Vec<(usize, &Placed)>) {
    calls.sort_by(|a, b| {
        let (t, u) = (a.1.call.t, b.1.call.t);
        t.total_cmp(&u)
            .then(a.0.cmp(&b.0))
            .then(a.1.order.cmp(&b.1.order))
    });
    let mut seen = HashSet::new();
    for (k, &Placed { order, call, .. }) in calls {
        let hits = call
            .hash_ids
            .iter()
            .take_while(|id| seen.contains(*id))
            .count();
        let tokens = (hits as u64).saturating_mul(u64::from(traces[k].1.block_size));
        cached[k][order] = tokens.min(u64::from(call.input)) as u32;
        seen.extend(call.hash_ids.iter().copied());
    }
}

/// The traces of a file, each with the line it starts on: one JSON object,
/// an array of them, or one a line.
fn traces(text: &str) -> Result<Vec<(usize, Trace)>, BadInput> {
    let read = |json: &str, line: usize| -> Result<Trace, BadInput> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| {
            BadInput(format!(
                "line {line}: not a Weka trace (field `{}`: {}); expected {{ id, models, block_size, hash_id_scope, requests }} as the cc-traces datasets give it",
                e.path(),
                e.inner()
            ))
        })
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| Ok((1, read(&item.to_string(), 1)?)))
            .collect(),
        Ok(_) => Ok(vec![(1, read(text, 1)?)]),
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| Ok((n + 1, read(l, n + 1)?)))
            .collect(),
    }
}

/// Every call of `entries`, in file order, in `thread` (`direct`: the
/// session's own list). A subagent spawned alone and waited for is part of
/// the thread, as its parent waits for it; subagents spawned together (in
/// a run before the next call) or not waited for (`async_launched`) each
/// run in a new thread of their own, beside it.
fn flatten<'a>(
    entries: &'a [Entry],
    (thread, direct): (usize, bool),
    threads: &mut usize,
    placed: &mut Vec<Placed<'a>>,
) {
    let mut i = 0;
    while i < entries.len() {
        let run = entries[i..]
            .iter()
            .take_while(|e| matches!(e, Entry::Subagent(_)))
            .count();
        if run == 0 {
            if let Entry::Call(call) = &entries[i] {
                placed.push(Placed {
                    thread,
                    order: placed.len(),
                    ends_turns: direct,
                    call,
                });
            }
            i += 1;
            continue;
        }
        for entry in &entries[i..i + run] {
            let Entry::Subagent(subagent) = entry else {
                continue;
            };
            let within = if run == 1 && subagent.status != "async_launched" {
                thread
            } else {
                *threads += 1;
                *threads - 1
            };
            flatten(&subagent.requests, (within, false), threads, placed);
        }
        i += run;
    }
}

/// A thread's calls (with their cached input) as a session starting at
/// its first call, split into loops at the session's own `end_turn`s.
fn session(
    calls: &[(&Placed, u32)],
    models: &[(String, u16)],
) -> Option<(i64, Vec<RecordedRequest>)> {
    let micros = |s: f64| (s * 1e6).round() as i64;
    let mut groups: Vec<Vec<RecordedCall>> = vec![vec![]];
    for &(placed, cached_input) in calls {
        let call = placed.call;
        let start_us = micros(call.t);
        groups.last_mut().expect("a group").push(RecordedCall {
            start_us,
            end_us: start_us + micros(call.api_time.unwrap_or(0.0)),
            tokens: CallTokens {
                input: call.input,
                cached_input,
                output: call.output,
                max_output: None,
            },
            model: model_named(models, &call.model),
        });
        if placed.ends_turns && call.stop == "end_turn" {
            groups.push(vec![]);
        }
    }
    let first = groups.iter().flatten().next()?.start_us;
    Some((first, requests_of(groups)))
}
