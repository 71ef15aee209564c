//! Claude Code's own session transcripts as recorded sessions
//! (`format = "claude_code"`): the JSONL files Claude Code writes under
//! `~/.claude/projects/<project>/`, one line a message, as many files as
//! wanted put together (each line names its session, and a subagent's
//! lines, in their own `subagents/agent-*.jsonl` files or among their
//! session's, name their agent with `isSidechain`). Checked against the
//! format of Claude Code 2.0 to 2.1.
//!
//! - A `user` line whose content is text (not a `tool_result`, and not
//!   `isMeta`) is a person's request: it starts an agent loop.
//! - An `assistant` line is part of an LLM call: Claude Code writes one
//!   line for each content block of a response, all with the response's
//!   `message.id` and usage. The call starts at the line before it in its
//!   thread (the request, or the tool result it answers) and ends at its
//!   last line. Its input is `input_tokens` plus the cache's reads and
//!   writes (`cache_read_input_tokens`, `cache_creation_input_tokens`),
//!   of them the reads cached; its output `output_tokens`.
//! - An API error (`isApiErrorMessage`, or the `<synthetic>` model) is a
//!   failed attempt: skipped and counted, since the simulation makes its own.
//! - A subagent's thread is part of its parent's loop: a fan-out of the
//!   call that asked for it with a `Task` (or `Agent`) tool use, the
//!   session's own or another subagent's, the subagents of one call
//!   together. The tool's result names the agent it started
//!   (`toolUseResult.agentId`, beside the `tool_result` of that tool use's
//!   id, as Claude Code 2.0.5x on writes it); where no result names it, the
//!   call is the session's own one whose answer came last before the
//!   subagent's first line. It starts as long after that answer as
//!   recorded, and the parent's next call waits for the last of them as
//!   simulated (see `fan_out`). A subagent launched in the background
//!   (`toolUseResult.status` "async_launched", or `isAsync`) is not waited
//!   for, and one whose session's own thread is not in the files, or that
//!   started before its first answer, neither: each is a session of its
//!   own at its recorded time.
//!
//! Think and tool times are the gaps, as for the other session formats.

use std::collections::HashMap;

use serde_json::Value;

use super::agent_loop::CallTokens;
use super::sessions::{
    At, Owner, RecordedCall, SessionTrace, Unplaced, json_lines, model_named, place, requests_of,
    timestamp,
};
use super::trace::{TraceError, TraceSpec};
use crate::error::BadInput;

/// What a line of a thread is.
enum Line {
    /// A person's request.
    Request,
    /// Any other line that is not a response (a tool's result).
    Prompt,
    /// Part of a response: its id, model and tokens.
    Response {
        id: String,
        model: Option<String>,
        tokens: CallTokens,
    },
}

/// A thread's session and agent (empty for the session's main thread).
type ThreadKey = (String, String);

/// What the transcripts say of the subagents their calls started: each
/// tool use's response, and each agent's spawning tool use and whether
/// its parent went on without waiting for it (launched in the background).
#[derive(Default)]
struct Links {
    /// A response's message id, by the id of a tool use in it.
    responses: HashMap<String, String>,
    /// By (session, agent id): the tool use, and whether it was async.
    agents: HashMap<ThreadKey, (String, bool)>,
}

impl Links {
    /// Notes the tool uses of an assistant line, and the agent a user
    /// line's tool result says it started.
    fn read(&mut self, value: &Value) {
        let message = value.get("message");
        let blocks = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(id) = message.and_then(|m| text(m, "id")) {
            for block in blocks {
                if block.get("type").and_then(Value::as_str) == Some("tool_use")
                    && let Some(tool_use) = text(block, "id")
                {
                    self.responses.insert(tool_use, id.clone());
                }
            }
        }
        let result = value.get("toolUseResult");
        let (Some(session), Some(agent)) = (
            text(value, "sessionId"),
            result.and_then(|r| text(r, "agentId")),
        ) else {
            return;
        };
        let Some(tool_use) = blocks
            .iter()
            .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .and_then(|b| text(b, "tool_use_id"))
        else {
            return;
        };
        let async_launched = result.is_some_and(|r| {
            r.get("isAsync").and_then(Value::as_bool) == Some(true)
                || r.get("status").and_then(Value::as_str) == Some("async_launched")
        });
        self.agents
            .insert((session, agent), (tool_use, async_launched));
    }

    /// The response that started `thread`'s agent, if a result names it;
    /// None inside if it ran in the background.
    fn spawner(&self, thread: &ThreadKey) -> Option<Option<&str>> {
        let (tool_use, async_launched) = self.agents.get(thread)?;
        let response = self.responses.get(tool_use)?;
        Some((!async_launched).then_some(response.as_str()))
    }
}

/// One conversation, a session's main thread or one of its subagents:
/// its lines, with their times (µs since the epoch).
type Thread = Vec<(i64, Line)>;

/// The sessions of Claude Code transcripts; `models` maps the recorded
/// model names to the model's.
pub fn read_claude_code(
    spec: &TraceSpec,
    models: &[(String, u16)],
) -> Result<SessionTrace, TraceError> {
    let mut threads: HashMap<ThreadKey, Thread> = HashMap::new();
    let mut order = Vec::new();
    let mut failed = std::collections::HashSet::new();
    let mut links = Links::default();
    for line in json_lines(spec)? {
        let (n, text) = line?;
        let at = |what: String| TraceError {
            message: format!("{}: line {n}: {what}", spec.shown),
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            at(format!(
                "not a Claude Code transcript line ({e}): give the JSONL files under ~/.claude/projects"
            ))
        })?;
        let Some((thread, time, line)) = read_line(&value).map_err(|e| at(e.0))? else {
            continue;
        };
        links.read(&value);
        if let Line::Response { id, model, .. } = &line
            && (value.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true)
                || model.as_deref() == Some("<synthetic>"))
        {
            failed.insert(id.clone());
            continue;
        }
        if !threads.contains_key(&thread) {
            order.push(thread.clone());
        }
        threads.entry(thread).or_default().push((time, line));
    }
    let calls = order
        .into_iter()
        .filter_map(|key| {
            let mut thread = threads.remove(&key)?;
            // Stable: the lines of one instant keep the file's order.
            thread.sort_by_key(|(time, _)| *time);
            let groups = calls(&thread, models);
            (!groups.is_empty()).then_some((key, groups))
        })
        .collect();
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: place(spec, sessions(calls, &links)).into(),
        skipped_rows: 0,
        failed_calls: failed.len() as u64,
        dated: true,
    })
}

/// A line's thread (session and agent), time and meaning; None for lines
/// that are neither a message nor a response (summaries, snapshots).
fn read_line(value: &Value) -> Result<Option<(ThreadKey, i64, Line)>, BadInput> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "user" | "assistant") {
        return Ok(None);
    }
    let text = |key: &str| value.get(key).and_then(Value::as_str);
    let session =
        text("sessionId").ok_or_else(|| BadInput::new("a message without `sessionId`"))?;
    let sidechain = value.get("isSidechain").and_then(Value::as_bool) == Some(true);
    let agent = match (sidechain, text("agentId")) {
        (false, _) => "",
        (true, Some(agent)) => agent,
        (true, None) => "sidechain",
    };
    let stamp = text("timestamp").ok_or_else(|| BadInput::new("a message without `timestamp`"))?;
    let time = timestamp(stamp)?;
    let message = value.get("message");
    let line = if kind == "assistant" {
        let message =
            message.ok_or_else(|| BadInput::new("an assistant line without `message`"))?;
        let id = message
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| BadInput::new("an assistant message without `id`"))?;
        let usage = message.get("usage");
        let count = |key: &str| -> Result<u32, BadInput> {
            match usage.and_then(|u| u.get(key)) {
                None | Some(Value::Null) => Ok(0),
                Some(v) => v
                    .as_u64()
                    .and_then(|x| u32::try_from(x).ok())
                    .ok_or_else(|| BadInput(format!("`usage.{key}` is not a token count ({v})"))),
            }
        };
        let cached_input = count("cache_read_input_tokens")?;
        let input = count("input_tokens")?
            .saturating_add(cached_input)
            .saturating_add(count("cache_creation_input_tokens")?);
        Line::Response {
            id: id.to_owned(),
            model: message
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned),
            tokens: CallTokens {
                input,
                shared_input: 0,
                cached_input,
                output: count("output_tokens")?,
                max_output: None,
            },
        }
    } else if value.get("isMeta").and_then(Value::as_bool) == Some(true) || is_tool_result(message)
    {
        Line::Prompt
    } else {
        Line::Request
    };
    Ok(Some(((session.to_owned(), agent.to_owned()), time, line)))
}

/// Whether a user message carries a tool's result.
fn is_tool_result(message: Option<&Value>) -> bool {
    message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|blocks| {
            blocks
                .iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        })
}

/// A call and its response's message id.
type Answered = (RecordedCall, String);

/// A thread's calls, in groups a person's request each (none empty): each
/// person's request a loop of the calls that follow it (a subagent's
/// thread, one loop).
fn calls(thread: &[(i64, Line)], models: &[(String, u16)]) -> Vec<Vec<Answered>> {
    let mut groups: Vec<Vec<Answered>> = vec![Vec::new()];
    let mut last_id: Option<&str> = None;
    let mut before: Option<i64> = None;
    for (time, line) in thread {
        match line {
            Line::Request => {
                if groups.last().is_some_and(|g| !g.is_empty()) {
                    groups.push(Vec::new());
                }
                last_id = None;
            }
            Line::Prompt => last_id = None,
            Line::Response { id, model, tokens } => {
                let calls = groups.last_mut().expect("one group at least");
                match calls.last_mut() {
                    // A further block of the same response: it ends later,
                    // and its usage is the latest.
                    Some((call, _)) if last_id == Some(id.as_str()) => {
                        call.end_us = *time;
                        call.tokens = CallTokens {
                            output: call.tokens.output.max(tokens.output),
                            ..*tokens
                        };
                    }
                    _ => calls.push((
                        RecordedCall {
                            start_us: before.unwrap_or(*time),
                            end_us: *time,
                            tokens: *tokens,
                            model: model.as_deref().and_then(|m| model_named(models, m)),
                        },
                        id.clone(),
                    )),
                }
                last_id = Some(id);
            }
        }
        before = Some(*time);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// Where each call went: by its response's id, its session, place and
/// answer's end.
type Placed = HashMap<String, (usize, At, i64)>;

/// A subagent's place: the call that spawned it (its session, where it
/// went and its answer's end), or none, a session of its own.
type Parent = Option<(usize, At, i64)>;

/// The sessions of the threads' calls, each from its first call's start:
/// a session's own thread its requests, the user's think time before each
/// the gap from the previous request's last answer; a subagent's thread a
/// fan-out of the call that started it (see [`Links`]), its own thread's
/// or another subagent's, or else of the own thread's call whose answer
/// came last before it started, or a session of its own if it ran in the
/// background or there is no such call.
fn sessions(threads: Vec<(ThreadKey, Vec<Vec<Answered>>)>, links: &Links) -> Vec<(i64, Unplaced)> {
    let mut out: Vec<(i64, Unplaced)> = vec![];
    let mut placed = Placed::new();
    // Each session's own calls by when their answers ended, for subagents
    // no result names.
    let mut own_ends: HashMap<String, (usize, Vec<(i64, At)>)> = HashMap::new();
    let (own, subagents): (Vec<_>, Vec<_>) = threads
        .into_iter()
        .partition(|((_, agent), _)| agent.is_empty());
    for ((session, _), groups) in own {
        let s = out.len();
        let mut ends = vec![];
        for (r, calls) in groups.iter().enumerate() {
            for (round, (call, id)) in calls.iter().enumerate() {
                let at = At {
                    owner: Owner::Request(r),
                    round: round as u32,
                    owner_start: calls[0].0.start_us,
                };
                ends.push((call.end_us, at));
                placed.insert(id.clone(), (s, at, call.end_us));
            }
        }
        own_ends.insert(session, (s, ends));
        out.push((
            groups[0][0].0.start_us,
            requests_of(recorded(groups)).into(),
        ));
    }
    let by_time = |session: &str, start: i64| -> Parent {
        let (s, ends) = own_ends.get(session)?;
        let &(end, at) = ends.iter().rfind(|(end, _)| *end <= start)?;
        Some((*s, at, end))
    };
    // Subagents in generations: those whose spawning call is placed, then
    // those their calls spawned; the rest (their spawner never placed) by time.
    let mut pending: Vec<(ThreadKey, Vec<Answered>)> = subagents
        .into_iter()
        .map(|(thread, groups)| (thread, groups.into_iter().flatten().collect()))
        .collect();
    while !pending.is_empty() {
        // None while the spawning call is not placed yet.
        let known = |thread: &ThreadKey, start: i64| match links.spawner(thread) {
            Some(None) => Some(None),
            Some(Some(response)) => placed.get(response).map(|&p| Some(p)),
            None => Some(by_time(&thread.0, start)),
        };
        let (mut ready, mut waiting) = (vec![], vec![]);
        for (thread, calls) in pending {
            match known(&thread, calls[0].0.start_us) {
                Some(parent) => ready.push((parent, calls)),
                None => waiting.push((thread, calls)),
            }
        }
        if ready.is_empty() {
            // Their spawning calls are never placed: timing decides.
            ready = waiting
                .drain(..)
                .map(|(thread, calls)| (by_time(&thread.0, calls[0].0.start_us), calls))
                .collect();
        }
        pending = waiting;
        ready.sort_by_key(|(parent, calls)| {
            let call = parent.map(|(s, at, _)| (s, at.owner, at.round));
            (call, calls[0].0.start_us)
        });
        for (parent, calls) in ready {
            place_subagent(&mut out, &mut placed, parent, calls);
        }
    }
    for (_, session) in &mut out {
        session.close_spawns();
    }
    out
}

/// Puts a subagent's `calls` in its parent's session as a fan-out of the
/// spawning call, or as a session of its own; notes where each call went.
fn place_subagent(
    out: &mut Vec<(i64, Unplaced)>,
    placed: &mut Placed,
    parent: Parent,
    calls: Vec<Answered>,
) {
    let start = calls[0].0.start_us;
    let (ends, calls): (Vec<(String, i64)>, Vec<RecordedCall>) = calls
        .into_iter()
        .map(|(call, id)| ((id, call.end_us), call))
        .unzip();
    let (s, owner) = match parent {
        Some((s, at, end)) => (s, Owner::Subagent(out[s].1.spawn(&calls, at, end))),
        None => {
            out.push((start, requests_of(vec![calls]).into()));
            (out.len() - 1, Owner::Request(0))
        }
    };
    for (round, (id, end)) in ends.into_iter().enumerate() {
        let at = At {
            owner,
            round: round as u32,
            owner_start: start,
        };
        placed.insert(id, (s, at, end));
    }
}

/// The calls of `groups`, without their ids.
fn recorded(groups: Vec<Vec<Answered>>) -> Vec<Vec<RecordedCall>> {
    groups
        .into_iter()
        .map(|calls| calls.into_iter().map(|(call, _)| call).collect())
        .collect()
}
