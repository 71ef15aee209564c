//! Recorded agent sessions: each a user's requests, each request an agent
//! loop of recorded rounds with the tool time after each, and the user's
//! think time before each request after the first.
//!
//! TraceLab's round-trace JSONL of real Claude Code and Codex sessions
//! (`format = "tracelab"`) is read whole and held in memory, about 24
//! bytes a round. (A request trace with a session column replays as it is
//! read: see `session_stream`; `fit` reads one whole into this form.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use serde::Deserialize;

use crate::engine::{SimDuration, SimTime};
use crate::error::BadInput;
use crate::model::workload::agent_loop::CallTokens;
use crate::model::workload::datetime::parse_datetime;
use crate::model::workload::session_stream::SessionStream;
use crate::model::workload::trace::{
    TraceError, TraceReader, TraceSpec, micros, open_data, session_key,
};

/// The sessions of a trace, in order of their start.
#[derive(Clone, Debug)]
pub struct SessionTrace {
    /// The file as the model names it, for messages.
    pub shown: String,
    pub sessions: Arc<[RecordedSession]>,
    /// Lines skipped as bad (`bad_rows = "skip"`).
    pub skipped_rows: u64,
    /// Calls recorded as failed (error spans, such as 429s), left out: the
    /// simulation makes its own failures.
    pub failed_calls: u64,
    /// Whether the sessions start at the times they were recorded at (a
    /// format keeping none starts them all at its time 0).
    pub dated: bool,
}

impl SessionTrace {
    /// The rounds of every session: the calls the trace replays.
    pub fn rounds(&self) -> usize {
        self.sessions
            .iter()
            .flat_map(RecordedSession::calling)
            .map(|r| r.rounds.len())
            .sum()
    }
}

impl RecordedSession {
    /// Its requests and the subagents they spawn: everything that calls.
    pub fn calling(&self) -> impl Iterator<Item = &RecordedRequest> {
        self.requests.iter().chain(&self.subagents)
    }

    /// `request` (one of its own) and every subagent it spawns, theirs
    /// among them: the calls of one loop.
    pub fn with_subagents<'s>(&'s self, request: &'s RecordedRequest) -> Vec<&'s RecordedRequest> {
        let mut all = vec![request];
        let mut k = 0;
        while let Some(spawner) = all.get(k) {
            for spawn in &spawner.spawns {
                let first = spawn.first as usize;
                all.extend(&self.subagents[first..first + spawn.count as usize]);
            }
            k += 1;
        }
        all
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSession {
    /// When its first request arrives in the simulation (over `speed`).
    pub start: SimTime,
    pub requests: Vec<RecordedRequest>,
    /// The subagents its requests spawn (see [`Spawn`]), nested ones among
    /// them, each a request of its own.
    pub subagents: Vec<RecordedRequest>,
}

/// Subagents spawned together after a round's call and waited for: the
/// spawning loop goes on (with the round's tool time) once they have all
/// ended, and fails if one fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spawn {
    /// The round whose answer spawns them.
    pub after: u32,
    /// The first of them among the session's subagents; the rest follow it.
    pub first: u32,
    pub count: u32,
}

/// One user request: one agent loop.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// The user's think time after the previous request ended (zero for
    /// the first); a subagent's, the time from the answer that spawned it
    /// to its first call.
    pub think_before: SimDuration,
    pub rounds: Vec<RecordedRound>,
    /// How long it took as recorded, from its first call to its last answer.
    pub recorded: SimDuration,
    /// The subagents it spawns, in the order of their rounds.
    pub spawns: Vec<Spawn>,
}

/// One LLM call of a request, and the tool time after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedRound {
    pub tokens: CallTokens,
    /// The model it calls, where the trace's `models` maps its recorded one.
    pub model: Option<u16>,
    /// The round's tool calls, run in parallel: the longest of them (zero
    /// after the request's last round).
    pub tool_after: SimDuration,
}

/// A recorded call as a trace gives it: when it started and ended (µs),
/// its tokens, and the model it calls where the trace maps one.
pub(super) struct RecordedCall {
    pub start_us: i64,
    pub end_us: i64,
    pub tokens: CallTokens,
    pub model: Option<u16>,
}

impl RecordedRequest {
    /// The request of `calls`, in order, after a think time: each call a
    /// round, the gap from its end to the next one's start the tool time
    /// between them, and the request as long as from its first call's
    /// start to its last answer.
    pub(super) fn of_calls(think_before: SimDuration, calls: &[RecordedCall]) -> Self {
        let start = calls.first().map_or(0, |c| c.start_us);
        let end = calls.iter().map(|c| c.end_us).max().unwrap_or(start);
        let rounds = calls
            .iter()
            .zip(calls.iter().skip(1).map(Some).chain([None]))
            .map(|(call, next)| RecordedRound {
                tokens: call.tokens,
                model: call.model,
                tool_after: micros(next.map_or(0, |n| n.start_us - call.end_us)),
            })
            .collect();
        RecordedRequest {
            think_before,
            rounds,
            recorded: micros(end - start),
            spawns: Vec::new(),
        }
    }
}

/// The model of `[models]` a recorded model name calls, where the
/// trace's `models` table maps it.
pub(super) fn model_named(models: &[(String, u16)], name: &str) -> Option<u16> {
    models.iter().find(|(n, _)| n == name).map(|&(_, m)| m)
}

/// A session's requests, each one group's calls in order (empty groups
/// left out), the user's think time before each the gap from the previous
/// request's last answer.
pub(super) fn requests_of(groups: Vec<Vec<RecordedCall>>) -> Vec<RecordedRequest> {
    let mut previous_end: Option<i64> = None;
    groups
        .into_iter()
        .filter(|calls| !calls.is_empty())
        .map(|calls| {
            let think_before = micros(previous_end.map_or(0, |e| calls[0].start_us - e));
            previous_end = calls.iter().map(|c| c.end_us).max();
            RecordedRequest::of_calls(think_before, &calls)
        })
        .collect()
}

impl SessionTrace {
    /// The models of `[models]` its rounds call, where its `models` maps them.
    pub fn models(&self) -> Vec<u16> {
        let mut used: Vec<u16> = self
            .sessions
            .iter()
            .flat_map(RecordedSession::calling)
            .flat_map(|r| &r.rounds)
            .filter_map(|r| r.model)
            .collect();
        used.sort_unstable();
        used.dedup();
        used
    }

    /// The mean recorded session: its requests, its rounds, and its
    /// length in seconds as recorded (think times and requests).
    pub fn mean_session(&self) -> (f64, f64, f64) {
        let n = self.sessions.len().max(1) as f64;
        let requests = self
            .sessions
            .iter()
            .map(|s| s.requests.len())
            .sum::<usize>();
        let seconds: f64 = self
            .sessions
            .iter()
            .flat_map(|s| &s.requests)
            .map(|r| (r.think_before + r.recorded).as_secs_f64())
            .sum();
        (requests as f64 / n, self.rounds() as f64 / n, seconds / n)
    }

    pub fn request(&self, session: u32, request: u32) -> &RecordedRequest {
        &self.sessions[session as usize].requests[request as usize]
    }
}

/// Whose round a recorded call is in its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Owner {
    Request(usize),
    Subagent(usize),
}

/// Where a recorded call went in its session: the request or subagent it
/// is a round of, which round, and when that request or subagent started
/// (µs).
#[derive(Clone, Copy, Debug)]
pub(super) struct At {
    pub owner: Owner,
    pub round: u32,
    pub owner_start: i64,
}

/// A subagent spawned: its index among the session's subagents, where its
/// spawning call went, when that call's answer ended and when the
/// subagent started, as recorded (µs; it may start before the answer's
/// last line).
pub(super) type Spawned = (usize, At, i64, i64);

/// A session's requests, and the subagents they spawn, before it is placed.
pub(super) struct Unplaced {
    pub requests: Vec<RecordedRequest>,
    pub subagents: Vec<RecordedRequest>,
    /// Where each subagent was spawned, as `fan_out` records it.
    pub spawned: Vec<Spawned>,
}

impl From<Vec<RecordedRequest>> for Unplaced {
    fn from(requests: Vec<RecordedRequest>) -> Self {
        Unplaced {
            requests,
            subagents: Vec::new(),
            spawned: Vec::new(),
        }
    }
}

/// Sessions that start in `spec`'s window, by their absolute start (µs),
/// placed at their offsets from the first session's start.
pub(super) fn place<S: Into<Unplaced>>(
    spec: &TraceSpec,
    mut sessions: Vec<(i64, S)>,
) -> Vec<RecordedSession> {
    sessions.sort_by_key(|(start, _)| *start);
    let Some(first) = sessions.first().map(|(start, _)| *start) else {
        return Vec::new();
    };
    sessions
        .into_iter()
        .filter(|(start, _)| spec.in_window(start - first))
        .map(|(start, session)| {
            let Unplaced {
                mut requests,
                mut subagents,
                ..
            } = session.into();
            share_first_reads(&mut requests);
            for subagent in &mut subagents {
                share_first_reads(std::slice::from_mut(subagent));
            }
            RecordedSession {
                start: spec.place(start - first),
                requests,
                subagents,
            }
        })
        .collect()
}

/// What a thread's first call read from the cache (its session's, or a
/// subagent's), it read from other sessions' calls: a system prompt, tool
/// definitions. Every call of the thread shares that much of its cached
/// input with them, or what its trace says it shares, if more.
fn share_first_reads(thread: &mut [RecordedRequest]) {
    let mut first = None;
    for round in thread.iter_mut().flat_map(|r| &mut r.rounds) {
        let tokens = &mut round.tokens;
        let read = *first.get_or_insert(tokens.cached_input);
        tokens.shared_input = tokens.shared_input.max(read.min(tokens.cached_input));
    }
}

/// A request trace with a session column, read whole (for `fit`): each
/// session one request, its rows as the stream replays them.
pub fn read_csv_sessions(spec: &TraceSpec) -> Result<SessionTrace, TraceError> {
    let counts = spec
        .sessions
        .clone()
        .expect("a trace with a session column");
    let mut stream = SessionStream::open(spec, counts)?;
    let mut sessions = Vec::new();
    while let Some((slot, start)) = stream.next_start()? {
        let calls = stream.calls(slot);
        let mut rounds = Vec::with_capacity(calls as usize);
        for k in 0..calls {
            let tokens = stream.take_call(slot)?;
            let tool_after = if k + 1 < calls {
                stream.tool_time(slot)?
            } else {
                SimDuration::ZERO
            };
            rounds.push(RecordedRound {
                tokens,
                model: None,
                tool_after,
            });
        }
        let recorded = stream.recorded(slot);
        stream.close(slot);
        sessions.push(RecordedSession {
            start,
            requests: vec![RecordedRequest {
                think_before: SimDuration::ZERO,
                rounds,
                recorded,
                spawns: Vec::new(),
            }],
            subagents: Vec::new(),
        });
    }
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: sessions.into(),
        skipped_rows: spec.skipped_rows,
        failed_calls: 0,
        dated: true,
    })
}

/// A trace with a session column whose rows are not in time order (grouped
/// by session, say; each session's rows in order), read whole: each
/// session one request, as [`read_csv_sessions`] gives a sorted one. The
/// window and speed apply to sessions' starts, from the earliest.
pub fn read_grouped_sessions(spec: &TraceSpec) -> Result<SessionTrace, TraceError> {
    type Calls = Vec<RecordedCall>;
    let mut reader = TraceReader::open_any_order(spec)?;
    // Each session: where the file first names it, and its calls.
    let mut rows: HashMap<u64, (usize, Calls)> = HashMap::new();
    while let Some((offset, record)) = reader.next_row()? {
        let next = rows.len();
        rows.entry(session_key(reader.session()))
            .or_insert_with(|| (next, Vec::new()))
            .1
            .push(RecordedCall {
                start_us: offset,
                end_us: offset + reader.latency_us(),
                tokens: record.tokens(),
                model: None,
            });
    }
    let mut found: Vec<(usize, Calls)> = rows.into_values().collect();
    // Ties in start in the order the file names them.
    found.sort_by_key(|(seen, _)| *seen);
    let sessions = found
        .into_iter()
        .map(|(_, calls)| {
            let start = calls[0].start_us;
            (
                start,
                vec![RecordedRequest::of_calls(SimDuration::ZERO, &calls)],
            )
        })
        .collect();
    let sessions = place(spec, sessions);
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: sessions.into(),
        skipped_rows: reader.skipped,
        failed_calls: 0,
        dated: true,
    })
}

/// The fields of a TraceLab round that replay uses.
#[derive(Deserialize)]
struct Round {
    session_id: String,
    round_index: u32,
    input_tokens_total: u32,
    prefix_tokens: u32,
    output_tokens: u32,
    #[serde(default)]
    model: Option<String>,
    timing_events: Vec<TimingEvent>,
    #[serde(default)]
    tools: Vec<Tool>,
}

#[derive(Deserialize)]
struct TimingEvent {
    event_type: String,
    timestamp: String,
}

#[derive(Deserialize)]
struct Tool {
    emitted_at: Option<String>,
    result_at: Option<String>,
    tool_wall_latency_ms: Option<f64>,
}

/// A round as replay sees it: its tokens, whether a user message starts
/// it, its first and last event (µs) and its longest tool call.
struct ParsedRound {
    index: u32,
    tokens: CallTokens,
    /// The model of `[models]` its recorded model maps to, if any.
    model: Option<u16>,
    user_message: bool,
    first_us: i64,
    last_us: i64,
    tool_us: i64,
}

pub(super) fn timestamp(text: &str) -> Result<i64, BadInput> {
    parse_datetime(text.trim_end_matches('Z'))
        .ok_or_else(|| BadInput(format!("`{text}` is not an ISO-8601 timestamp")))
}

fn parse_round(line: &str, models: &[(String, u16)]) -> Result<(String, ParsedRound), BadInput> {
    let round: Round = serde_json::from_str(line).map_err(|e| BadInput(e.to_string()))?;
    if round.prefix_tokens > round.input_tokens_total {
        return Err(BadInput(format!(
            "`prefix_tokens` ({}) is more than `input_tokens_total` ({})",
            round.prefix_tokens, round.input_tokens_total
        )));
    }
    let mut times = Vec::with_capacity(round.timing_events.len());
    for event in &round.timing_events {
        times.push(timestamp(&event.timestamp)?);
    }
    let (Some(&first_us), Some(&last_us)) = (times.iter().min(), times.iter().max()) else {
        return Err(BadInput::new(
            "`timing_events` is empty: the round has no time",
        ));
    };
    let mut tool_us = 0i64;
    for tool in &round.tools {
        let wall = match (tool.tool_wall_latency_ms, &tool.emitted_at, &tool.result_at) {
            (Some(ms), _, _) if ms.is_finite() && ms >= 0.0 => (ms * 1000.0).round() as i64,
            (Some(ms), _, _) => {
                return Err(BadInput(format!(
                    "`tool_wall_latency_ms` must be a time, at least 0 (got {ms})"
                )));
            }
            (None, Some(emitted), Some(result)) => timestamp(result)? - timestamp(emitted)?,
            (None, ..) => 0,
        };
        tool_us = tool_us.max(wall);
    }
    let model = round
        .model
        .as_deref()
        .and_then(|name| model_named(models, name));
    let parsed = ParsedRound {
        index: round.round_index,
        model,
        tokens: CallTokens {
            shared_input: 0,
            input: round.input_tokens_total,
            cached_input: round.prefix_tokens,
            output: round.output_tokens,
            max_output: None,
        },
        user_message: round
            .timing_events
            .iter()
            .any(|e| e.event_type == "user_message"),
        first_us,
        last_us,
        tool_us,
    };
    Ok((round.session_id, parsed))
}

/// The lines of a JSON Lines trace that are not blank, each with its
/// number from 1.
pub(super) fn json_lines(
    spec: &TraceSpec,
) -> Result<impl Iterator<Item = Result<(usize, String), TraceError>> + '_, TraceError> {
    let fail = |what: String| TraceError {
        message: format!("{}: {what}", spec.shown),
    };
    let file = open_data(&spec.path).map_err(|e| fail(e.0))?;
    Ok(BufReader::new(file)
        .lines()
        .enumerate()
        .filter_map(move |(n, line)| match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(Ok((n + 1, line))),
            Err(e) => Some(Err(fail(format!("cannot read it: {e}")))),
        }))
}

/// TraceLab's round trace: a request starts at a round with a user message;
/// the think time before it runs from the previous request's last event.
/// `models` maps the trace's model names to those of `[models]` its rounds call.
pub fn read_tracelab(
    spec: &TraceSpec,
    models: &[(String, u16)],
) -> Result<SessionTrace, TraceError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut sessions: Vec<Vec<ParsedRound>> = Vec::new();
    let mut skipped = 0u64;
    for line in json_lines(spec)? {
        let (n, line) = line?;
        match parse_round(&line, models) {
            Ok((session, round)) => {
                let i = *index.entry(session).or_insert_with(|| {
                    sessions.push(Vec::new());
                    sessions.len() - 1
                });
                sessions[i].push(round);
            }
            Err(_) if spec.skip_bad_rows => skipped += 1,
            Err(what) if sessions.is_empty() && !line.trim_start().starts_with('{') => {
                return Err(TraceError {
                    message: format!(
                        "{}:{}: not a TraceLab trace, whose lines are JSON objects, one a round (this one starts `{}`; {what}): a CSV trace is format = \"csv\" with its columns, or \"azure\" or \"burstgpt\"",
                        spec.shown,
                        n,
                        line.chars().take(40).collect::<String>()
                    ),
                });
            }
            Err(what) => {
                return Err(TraceError {
                    message: format!("{}:{n}: {what}", spec.shown),
                });
            }
        }
    }
    let sessions = sessions
        .into_iter()
        .map(|mut rounds| {
            rounds.sort_by_key(|r| r.index);
            session_requests(&rounds)
        })
        .collect();
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: place(spec, sessions).into(),
        skipped_rows: skipped,
        failed_calls: 0,
        dated: true,
    })
}

/// A session's start and requests, from its rounds in order.
fn session_requests(rounds: &[ParsedRound]) -> (i64, Vec<RecordedRequest>) {
    let mut requests: Vec<RecordedRequest> = Vec::new();
    let mut previous_end: Option<i64> = None;
    let (start, mut request_start) = (rounds[0].first_us, rounds[0].first_us);
    for (k, round) in rounds.iter().enumerate() {
        if k == 0 || round.user_message {
            requests.push(RecordedRequest {
                think_before: previous_end
                    .map_or(SimDuration::ZERO, |end| micros(round.first_us - end)),
                rounds: Vec::new(),
                recorded: SimDuration::ZERO,
                spawns: Vec::new(),
            });
            request_start = round.first_us;
        }
        let last_of_request = rounds.get(k + 1).is_none_or(|next| next.user_message);
        let request = requests.last_mut().expect("a request was opened");
        request.rounds.push(RecordedRound {
            tokens: round.tokens,
            model: round.model,
            tool_after: if last_of_request {
                SimDuration::ZERO
            } else {
                micros(round.tool_us)
            },
        });
        request.recorded = micros(round.last_us - request_start);
        previous_end = Some(round.last_us);
    }
    (start, requests)
}
