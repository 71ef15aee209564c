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
//! - A subagent's calls are a loop of their own, started at its recorded
//!   time while its parent waits for it as for a tool: subagents that ran
//!   at once run at once here.
//!
//! Think and tool times are the gaps, as for the other session formats.

use std::collections::HashMap;

use serde_json::Value;

use super::agent_loop::CallTokens;
use super::sessions::{
    RecordedCall, RecordedRequest, SessionTrace, json_lines, model_named, place, requests_of,
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
    let sessions = order
        .into_iter()
        .filter_map(|key| {
            let mut thread = threads.remove(&key)?;
            // Stable: the lines of one instant keep the file's order.
            thread.sort_by_key(|(time, _)| *time);
            requests(&thread, models)
        })
        .collect();
    Ok(SessionTrace {
        shown: spec.shown.clone(),
        sessions: place(spec, sessions).into(),
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

/// A thread's requests, from its first call's start: each person's
/// request a loop of the calls that follow it (a subagent's thread, one
/// loop), the user's think time before it the gap from the previous
/// request's last answer.
fn requests(
    thread: &[(i64, Line)],
    models: &[(String, u16)],
) -> Option<(i64, Vec<RecordedRequest>)> {
    let mut groups: Vec<Vec<RecordedCall>> = vec![Vec::new()];
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
                    Some(call) if last_id == Some(id.as_str()) => {
                        call.end_us = *time;
                        call.tokens = CallTokens {
                            output: call.tokens.output.max(tokens.output),
                            ..*tokens
                        };
                    }
                    _ => calls.push(RecordedCall {
                        start_us: before.unwrap_or(*time),
                        end_us: *time,
                        tokens: *tokens,
                        model: model.as_deref().and_then(|m| model_named(models, m)),
                    }),
                }
                last_id = Some(id);
            }
        }
        before = Some(*time);
    }
    let first = groups.iter().flatten().next()?.start_us;
    Some((first, requests_of(groups)))
}
