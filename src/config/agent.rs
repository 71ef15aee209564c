//! Agents as written: steps, tokens, tool calls, fan-out, deadline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::checks::{self, Checked, positive, positive_duration, share, whole};
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use crate::model::workload::agent_loop::{AgentProfile, ContextGrowth, FanOut, ToolCalls};
use crate::model::workload::llm::{Choice, ModelMix};

/// The `max_tokens` of each request when the agent does not set one.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    steps: RawDist,
    input_tokens: RawDist,
    cached_input_share: Option<Number>,
    /// Of each call's cached input, the leading tokens every session of
    /// the agent sends alike (system prompt, tool definitions): a pool's
    /// prompt cache keeps them for all its sessions (default 0).
    shared_prefix_tokens: Option<Number>,
    output_tokens: RawDist,
    max_output_tokens: Option<Number>,
    tool_latency: Option<RawDist>,
    /// Several tool calls after a step, each taking a `tool_latency`:
    /// { per_step = 3, run = "parallel" | "serial" } (default: one call).
    tool_calls: Option<RawToolCalls>,
    fan_out: Option<RawFanOut>,
    deadline: Option<Duration>,
    /// Tokens each step after the first adds to every later call's input.
    context_growth: Option<RawContextGrowth>,
    /// The model of `[models]` its steps call (default: the only one).
    model: Option<String>,
    /// Which model each step calls, by position, by kind or by share.
    model_mix: Option<RawModelMix>,
}

/// `model_mix`: the first and last step and every fan-out step may name
/// their model; other steps call `model`, or one drawn by `shares`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawModelMix {
    first: Option<String>,
    last: Option<String>,
    fan_out: Option<String>,
    /// Each model's share of the other steps, e.g. { opus = 0.6, haiku = 0.4 }.
    shares: Option<BTreeMap<String, Number>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawContextGrowth {
    per_step: RawDist,
    /// The share of the grown context read from the prompt cache (default 1).
    cached_share: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawToolCalls {
    /// Tool calls after each step but the last (a count, 0 or more).
    per_step: RawDist,
    /// "parallel" (default: the longest is the wait) or "serial" (their sum).
    run: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFanOut {
    every: Number,
    width: RawDist,
}

impl RawAgent {
    /// The agent called `name`, at `agents.<name>`, calling the `models`
    /// of `[models]` (none: one unnamed model).
    pub fn check(&self, name: &str, models: &[String], base_dir: &Path) -> Checked<AgentProfile> {
        let at = FieldPath::root("agents").child(name);
        if name.is_empty() || name.contains('.') {
            return Err(Invalid::new(
                &at,
                format!(
                    "an agent's name must be non-empty and contain no dots, so --set can address it (got \"{name}\")"
                ),
            ));
        }
        let steps = self
            .steps
            .count_of_at_least_one(&at.child("steps"), base_dir)?;
        let input_tokens = self
            .input_tokens
            .count(&at.child("input_tokens"), base_dir)?;
        let cached_input_share = self
            .cached_input_share
            .map_or(Ok(0.0), |n| share(&at.child("cached_input_share"), n))?;
        let shared_prefix_tokens = self
            .shared_prefix_tokens
            .map(|n| whole(&at.child("shared_prefix_tokens"), n, 0, u64::from(u32::MAX)))
            .transpose()?
            .unwrap_or(0) as u32;
        let output_tokens = self
            .output_tokens
            .count(&at.child("output_tokens"), base_dir)?;
        let max_output_tokens = self
            .max_output_tokens
            .map(|n| whole(&at.child("max_output_tokens"), n, 0, u64::from(u32::MAX)))
            .transpose()?
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS) as u32;
        let tool_latency = self
            .tool_latency
            .as_ref()
            .map(|d| d.duration(&at.child("tool_latency"), base_dir))
            .transpose()?;
        let tool_calls = self.tool_calls(&at, tool_latency.is_some(), base_dir)?;
        let fan_out = self
            .fan_out
            .as_ref()
            .map(|f| {
                let at = at.child("fan_out");
                Ok(FanOut {
                    every: whole(&at.child("every"), f.every, 1, u64::from(u32::MAX))? as u32,
                    width: f
                        .width
                        .count_of_at_least_one(&at.child("width"), base_dir)?,
                })
            })
            .transpose()?;
        let deadline = self
            .deadline
            .map(|d| positive_duration(&at.child("deadline"), d))
            .transpose()?;
        let context_growth = self.context_growth(&at, base_dir)?;
        let mix = self.mix(&at, models)?;
        Ok(AgentProfile {
            name: name.to_owned(),
            mix,
            context_growth,
            steps,
            input_tokens,
            cached_input_share,
            shared_prefix_tokens,
            output_tokens,
            max_output_tokens,
            tool_latency,
            tool_calls,
            fan_out,
            deadline,
        })
    }

    /// The tool calls of each step, which go with a tool latency.
    fn tool_calls(
        &self,
        at: &FieldPath,
        has_latency: bool,
        base_dir: &Path,
    ) -> Checked<Option<ToolCalls>> {
        let Some(t) = &self.tool_calls else {
            return Ok(None);
        };
        let at = at.child("tool_calls");
        if !has_latency {
            return Err(Invalid::new(
                &at,
                "goes with tool_latency, which each tool call takes",
            ));
        }
        let serial = match t.run.as_deref() {
            None | Some("parallel") => false,
            Some("serial") => true,
            Some(other) => {
                return Err(Invalid::new(
                    at.child("run"),
                    format!("unknown choice `{other}`: allowed are parallel, serial"),
                ));
            }
        };
        Ok(Some(ToolCalls {
            per_step: t.per_step.count(&at.child("per_step"), base_dir)?,
            serial,
        }))
    }

    /// How the context grows each step, and how much of the growth is cached.
    fn context_growth(&self, at: &FieldPath, base_dir: &Path) -> Checked<Option<ContextGrowth>> {
        let Some(g) = &self.context_growth else {
            return Ok(None);
        };
        let at = at.child("context_growth");
        Ok(Some(ContextGrowth {
            per_step: g.per_step.count(&at.child("per_step"), base_dir)?,
            cached_share: g
                .cached_share
                .map_or(Ok(1.0), |n| share(&at.child("cached_share"), n))?,
        }))
    }
}

impl RawAgent {
    /// Which model each step calls.
    fn mix(&self, at: &FieldPath, models: &[String]) -> Checked<ModelMix> {
        let named = |field: &str, name: &str| -> Checked<u16> {
            if models.is_empty() {
                return Err(Invalid::new(
                    at.child(field),
                    format!("names model `{name}`, but the model declares no `[models]`"),
                ));
            }
            models
                .iter()
                .position(|m| m == name)
                .map(|m| m as u16)
                .ok_or_else(|| {
                    Invalid::new(
                        at.child(field),
                        format!(
                            "no model is called `{name}`: the models are {}",
                            models.join(", ")
                        ),
                    )
                })
        };
        let mix = self.model_mix.as_ref();
        let position = |field: &str, name: Option<&String>| {
            name.map(|n| named(&format!("model_mix.{field}"), n))
                .transpose()
        };
        let other = match (&self.model, mix.and_then(|m| m.shares.as_ref())) {
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at.child("model_mix").child("shares"),
                    "give either `model` or `model_mix.shares` for the steps the mix does not name, not both",
                ));
            }
            (Some(model), None) => Choice::One(named("model", model)?),
            (None, Some(shares)) => {
                let at = at.child("model_mix").child("shares");
                let mut weighted = Vec::with_capacity(shares.len());
                for (name, &share) in shares {
                    let m = named(&format!("model_mix.shares.{name}"), name)?;
                    weighted.push((m, positive(&at.child(name), share)?));
                }
                let weights: Vec<f64> = weighted.iter().map(|w| w.1).collect();
                let mut cumulative = 0.0;
                let mut choice: Vec<(u16, f64)> = weighted
                    .iter()
                    .zip(checks::shares(&weights))
                    .map(|(&(m, _), share)| {
                        cumulative += share;
                        (m, cumulative)
                    })
                    .collect();
                match choice.as_mut_slice() {
                    [] => return Err(Invalid::new(at, "must give at least one model a share")),
                    [.., last] => last.1 = 1.0,
                }
                Choice::Shares(choice)
            }
            (None, None) if models.len() <= 1 => Choice::One(0),
            (None, None) => {
                return Err(Invalid::new(
                    at.child("model"),
                    format!(
                        "missing: the model declares {} models ({}): name the one the agent's steps call, or give `model_mix.shares`",
                        models.len(),
                        models.join(", ")
                    ),
                ));
            }
        };
        Ok(ModelMix {
            first: position("first", mix.and_then(|m| m.first.as_ref()))?,
            last: position("last", mix.and_then(|m| m.last.as_ref()))?,
            fan_out: position("fan_out", mix.and_then(|m| m.fan_out.as_ref()))?,
            other,
        })
    }
}
