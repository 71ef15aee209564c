//! Agents as written: steps, tokens, tool calls, fan-out, deadline.

use std::path::Path;

use serde::Deserialize;

use super::checks::{Checked, positive_duration, share, whole};
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use crate::model::agent_loop::{AgentProfile, ContextGrowth, FanOut};

/// The `max_tokens` of each request when the agent does not set one.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    steps: RawDist,
    input_tokens: RawDist,
    cached_input_share: Option<Number>,
    output_tokens: RawDist,
    max_output_tokens: Option<Number>,
    tool_latency: Option<RawDist>,
    fan_out: Option<RawFanOut>,
    deadline: Option<Duration>,
    /// Tokens each step after the first adds to every later call's input.
    context_growth: Option<RawContextGrowth>,
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
struct RawFanOut {
    every: Number,
    width: RawDist,
}

impl RawAgent {
    /// The agent called `name`, at `agents.<name>`.
    pub fn check(&self, name: &str, base_dir: &Path) -> Checked<AgentProfile> {
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
        let context_growth = self
            .context_growth
            .as_ref()
            .map(|g| {
                let at = at.child("context_growth");
                Ok(ContextGrowth {
                    per_step: g.per_step.count(&at.child("per_step"), base_dir)?,
                    cached_share: g
                        .cached_share
                        .map_or(Ok(1.0), |n| share(&at.child("cached_share"), n))?,
                })
            })
            .transpose()?;
        Ok(AgentProfile {
            name: name.to_owned(),
            context_growth,
            steps,
            input_tokens,
            cached_input_share,
            output_tokens,
            max_output_tokens,
            tool_latency,
            fan_out,
            deadline,
        })
    }
}
