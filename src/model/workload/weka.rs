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
//!   call) are a fan-out of the call before them: each starts as long
//!   after that call's answer as recorded, and the parent's next call
//!   waits for the last to end, as simulated (see `fan_out`). Subagents
//!   not waited for (`async_launched`), or spawned before any call, are
//!   sessions of their own, started at their recorded times while the
//!   parent waits as recorded. Tool and think times are the gaps.
//! - The traces keep no wall-clock start: every session starts at the
//!   trace's time 0. Replayed, they start together; resampled
//!   (`resample`), a class's arrivals start them.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::agent_loop::CallTokens;
use super::sessions::{
    At, Owner, RecordedCall, SessionTrace, Unplaced, model_named, place, requests_of,
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
    /// one at a time; another, a subagent spawned beside others or not
    /// waited for (see [`flatten`]).
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
    let mut flat: Vec<(Vec<Placed>, Vec<Option<usize>>)> = vec![];
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
        let mut threads = vec![None];
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
    let mut cached: Vec<Vec<(u32, u32)>> =
        flat.iter().map(|(p, _)| vec![(0, 0); p.len()]).collect();
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
        sessions.extend(Threads::new(models, &cached[k]).sessions(placed, threads));
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
/// order they were sent, times its trace's block size, at most its input;
/// and of them, the leading blocks more than one trace sends (a system
/// prompt every session starts with), which a prompt cache keeps for all.
fn fill(
    cached: &mut [Vec<(u32, u32)>],
    traces: &[(usize, Trace)],
    mut calls: Vec<(usize, &Placed)>,
) {
    // Each block's first trace, and whether another sends it too.
    let mut senders: HashMap<u64, (usize, bool)> = HashMap::new();
    for &(k, placed) in &calls {
        for &id in &placed.call.hash_ids {
            let (first, several) = senders.entry(id).or_insert((k, false));
            *several |= *first != k;
        }
    }
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
        let shared = call.hash_ids[..hits]
            .iter()
            .take_while(|id| senders[*id].1)
            .count();
        let tokens = |blocks: usize| {
            let tokens = (blocks as u64).saturating_mul(u64::from(traces[k].1.block_size));
            tokens.min(u64::from(call.input)) as u32
        };
        cached[k][order] = (tokens(hits), tokens(shared));
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
/// the thread, as its parent waits for it. Subagents spawned together (in
/// a run before the next call) or not waited for (`async_launched`) each
/// run in a new thread of `threads`, which holds for each the call whose
/// answer spawned it, if its parent waits for it (a fan-out), or none (a
/// session of its own: one not waited for, or spawned before any call).
fn flatten<'a>(
    entries: &'a [Entry],
    (thread, direct): (usize, bool),
    threads: &mut Vec<Option<usize>>,
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
        // The thread's latest call spawned the run. The run's threads are
        // numbered before any of their own, so siblings are neighbours.
        let after = placed.iter().rev().find(|p| p.thread == thread);
        let after = after.map(|p| p.order);
        let mut within = vec![];
        for entry in &entries[i..i + run] {
            let Entry::Subagent(subagent) = entry else {
                continue;
            };
            let waited = subagent.status != "async_launched";
            if run == 1 && waited {
                within.push((thread, subagent));
            } else {
                threads.push(after.filter(|_| waited));
                within.push((threads.len() - 1, subagent));
            }
        }
        for (t, subagent) in within {
            flatten(&subagent.requests, (t, false), threads, placed);
        }
        i += run;
    }
}

/// One trace's threads made into sessions and their subagents.
struct Threads<'m> {
    models: &'m [(String, u16)],
    /// Each call's cached input, and the part of it other traces share,
    /// by its order.
    cached: &'m [(u32, u32)],
    sessions: Vec<(i64, Unplaced)>,
    /// Where each call went (its session, among the trace's), by its order.
    at: Vec<Option<(usize, At)>>,
}

impl<'m> Threads<'m> {
    fn new(models: &'m [(String, u16)], cached: &'m [(u32, u32)]) -> Self {
        Threads {
            models,
            cached,
            sessions: vec![],
            at: vec![None; cached.len()],
        }
    }

    fn recorded(&self, placed: &Placed) -> RecordedCall {
        let call = placed.call;
        let us = |s: f64| (s * 1e6).round() as i64;
        let start_us = us(call.t);
        RecordedCall {
            start_us,
            end_us: start_us + us(call.api_time.unwrap_or(0.0)),
            tokens: CallTokens {
                input: call.input,
                cached_input: self.cached[placed.order].0,
                shared_input: self.cached[placed.order].1,
                output: call.output,
                max_output: None,
            },
            model: model_named(self.models, &call.model),
        }
    }

    /// The sessions of `placed`'s `threads`: a thread of its own a session
    /// split into loops at the session's own `end_turn`s; a thread spawned
    /// in a fan-out a subagent of the session of the call that spawned it.
    fn sessions(mut self, placed: &[Placed], threads: &[Option<usize>]) -> Vec<(i64, Unplaced)> {
        for (thread, after) in threads.iter().enumerate() {
            let calls: Vec<&Placed> = placed.iter().filter(|p| p.thread == thread).collect();
            match after.and_then(|order| Some((order, self.at[order]?))) {
                None => self.own_session(&calls),
                Some((order, (session, parent))) if !calls.is_empty() => {
                    let end = self.recorded(&placed[order]).end_us;
                    let recorded: Vec<RecordedCall> =
                        calls.iter().map(|p| self.recorded(p)).collect();
                    let j = self.sessions[session].1.spawn(&recorded, parent, end);
                    let orders: Vec<usize> = calls.iter().map(|p| p.order).collect();
                    let owner = Owner::Subagent(j);
                    self.place_rounds(&orders, recorded[0].start_us, (session, owner));
                }
                Some(_) => {}
            }
        }
        for (_, session) in &mut self.sessions {
            session.close_spawns();
        }
        self.sessions
    }

    /// A thread of its own, split into loops at the session's `end_turn`s.
    fn own_session(&mut self, calls: &[&Placed]) {
        let mut groups: Vec<Vec<&Placed>> = vec![vec![]];
        for &placed in calls {
            groups.last_mut().expect("a group").push(placed);
            if placed.ends_turns && placed.call.stop == "end_turn" {
                groups.push(vec![]);
            }
        }
        groups.retain(|g| !g.is_empty());
        let session = self.sessions.len();
        let mut requests: Vec<Vec<RecordedCall>> = Vec::with_capacity(groups.len());
        for (r, group) in groups.iter().enumerate() {
            let calls: Vec<RecordedCall> = group.iter().map(|p| self.recorded(p)).collect();
            let orders: Vec<usize> = group.iter().map(|p| p.order).collect();
            self.place_rounds(&orders, calls[0].start_us, (session, Owner::Request(r)));
            requests.push(calls);
        }
        let Some(first) = requests.first().map(|calls| calls[0].start_us) else {
            return;
        };
        self.sessions.push((first, requests_of(requests).into()));
    }

    /// The calls `orders`, in order, are the rounds of `owner` in `session`,
    /// which started at `owner_start` (µs).
    fn place_rounds(
        &mut self,
        orders: &[usize],
        owner_start: i64,
        (session, owner): (usize, Owner),
    ) {
        for (round, order) in orders.iter().enumerate() {
            let round = round as u32;
            self.at[*order] = Some((
                session,
                At {
                    owner,
                    round,
                    owner_start,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimDuration;
    use crate::model::workload::sessions::Spawn;

    /// A session whose call at 0 s spawns S1 and S2 together; S1 calls at
    /// 1.2 s, spawns S1a (2.5 s) and S1b (2.6 s, 2 s long) together, and
    /// calls again at 5 s; the session's last call is at 7 s. Calls take
    /// 1 s unless said.
    const NESTED: &str = r#"{"block_size":64,"hash_id_scope":"local","requests":[
        {"t":0.0,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"tool_use"},
        {"t":1.0,"type":"subagent","requests":[
            {"t":1.2,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"tool_use"},
            {"t":2.4,"type":"subagent","requests":[
                {"t":2.5,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"end_turn"}]},
            {"t":2.4,"type":"subagent","requests":[
                {"t":2.6,"type":"n","model":"m","in":1,"out":1,"api_time":2.0,"stop":"end_turn"}]},
            {"t":5.0,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"end_turn"}]},
        {"t":1.0,"type":"subagent","requests":[
            {"t":1.3,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"end_turn"}]},
        {"t":7.0,"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"end_turn"}]}"#;

    /// Nested fan-outs: siblings are neighbours among the session's
    /// subagents (S1, S2, then S1's S1a and S1b); each starts as long after
    /// the answer that spawned it as recorded; the tool time after a
    /// spawning call runs from its last subagent's end (S1: 5 − 4.6 s; the
    /// session: 7 − 6 s, S1's end holding S1b's).
    #[test]
    fn nested_fan_outs_keep_siblings_together_and_wait_for_the_last() {
        let text = NESTED.replace('\n', "");
        let trace = &traces(&text).unwrap()[0].1;
        let (mut threads, mut placed) = (vec![None], vec![]);
        flatten(&trace.requests, (0, true), &mut threads, &mut placed);
        assert_eq!(threads, [None, Some(0), Some(0), Some(1), Some(1)]);
        let cached = vec![(0, 0); placed.len()];
        let sessions = Threads::new(&[], &cached).sessions(&placed, &threads);
        let [(start, session)] = &sessions[..] else {
            panic!("one session");
        };
        let ms = |d: SimDuration| d.ticks() / 1_000;
        let spawn = |after, first, count| Spawn {
            after,
            first,
            count,
        };
        assert_eq!(*start, 0);
        assert_eq!(session.requests.len(), 1);
        let main = &session.requests[0];
        assert_eq!(main.spawns, [spawn(0, 0, 2)]);
        assert_eq!(ms(main.rounds[0].tool_after), 1_000);
        assert_eq!(ms(main.recorded), 8_000);
        let s = &session.subagents;
        assert_eq!(s[0].spawns, [spawn(0, 2, 2)]);
        let rounds: Vec<usize> = s.iter().map(|r| r.rounds.len()).collect();
        assert_eq!(rounds, [2, 1, 1, 1]);
        let think: Vec<u64> = s.iter().map(|r| ms(r.think_before)).collect();
        assert_eq!(think, [200, 300, 300, 400]);
        assert_eq!(ms(s[0].rounds[0].tool_after), 400);
        assert_eq!(ms(s[0].recorded), 4_800);
        assert!(s[1..].iter().all(|r| r.spawns.is_empty()));
    }

    /// Subagents spawned by a request's last answer (at 1 s) end at 2.6 s:
    /// the request's span reaches them, and the user's think time before
    /// the next request (at 10 s) runs from there, 7.4 s, not 9 s.
    #[test]
    fn a_request_ends_with_the_subagents_its_last_answer_spawned() {
        let call = |t: f64, stop: &str| {
            format!(
                r#"{{"t":{t},"type":"n","model":"m","in":1,"out":1,"api_time":1.0,"stop":"{stop}"}}"#
            )
        };
        let subagent = |t: f64| {
            format!(
                r#"{{"t":1.2,"type":"subagent","requests":[{}]}}"#,
                call(t, "end_turn")
            )
        };
        let text = format!(
            r#"{{"block_size":64,"hash_id_scope":"local","requests":[{},{},{},{}]}}"#,
            call(0.0, "end_turn"),
            subagent(1.5),
            subagent(1.6),
            call(10.0, "end_turn")
        );
        let trace = &traces(&text).unwrap()[0].1;
        let (mut threads, mut placed) = (vec![None], vec![]);
        flatten(&trace.requests, (0, true), &mut threads, &mut placed);
        let cached = vec![(0, 0); placed.len()];
        let sessions = Threads::new(&[], &cached).sessions(&placed, &threads);
        let requests = &sessions[0].1.requests;
        let ms = |d: SimDuration| d.ticks() / 1_000;
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].spawns.len(), 1);
        assert_eq!(ms(requests[0].recorded), 2_600);
        assert_eq!(ms(requests[1].think_before), 7_400);
    }
}
