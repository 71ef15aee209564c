//! The agent loop: steps of LLM calls, tool calls between them, fan-out bursts.

use super::coordinated_throttle::Charge;
use super::distribution::{CountDist, DurationDist, round_count};
use super::llm::{Llm, ModelMix};
use super::metrics::LoopOutcome;
use crate::engine::{Key, SimDuration, SimTime, Stream};

/// How one agent behaves for one user command.
#[derive(Clone, Debug)]
pub struct AgentProfile {
    pub name: String,
    /// Steps (LLM calls, or fan-out bursts of calls) per loop, at least one.
    pub steps: CountDist,
    pub input_tokens: CountDist,
    /// The share of each call's input read from the provider's prompt cache.
    pub cached_input_share: f64,
    /// Tokens a call produces; capped at `max_output_tokens`.
    pub output_tokens: CountDist,
    /// The `max_tokens` each request sends, which output-token limits reserve.
    pub max_output_tokens: u32,
    /// Tool-call time between consecutive steps (none before the first or after the last).
    pub tool_latency: Option<DurationDist>,
    pub fan_out: Option<FanOut>,
    /// A loop still running this long after it arrived fails.
    pub deadline: Option<SimDuration>,
    /// The context a loop accumulates: tokens each step after the first
    /// adds to the input of every later call.
    pub context_growth: Option<ContextGrowth>,
    /// Which model each step calls.
    pub mix: ModelMix,
}

/// Input that grows step by step, as an agent's context accumulates.
#[derive(Clone, Debug)]
pub struct ContextGrowth {
    /// Tokens added before each step after the first.
    pub per_step: CountDist,
    /// The share of the accumulated context read from the prompt cache.
    pub cached_share: f64,
}

/// Every `every`-th step is a burst of `width` parallel calls, joined before the loop goes on.
#[derive(Clone, Debug)]
pub struct FanOut {
    pub every: u32,
    pub width: CountDist,
}

impl AgentProfile {
    /// Whether step `step` (1-based) is a fan-out burst: every `every`-th.
    pub fn fans_out(&self, step: u32) -> bool {
        self.fan_out
            .as_ref()
            .is_some_and(|f| step.is_multiple_of(f.every))
    }

    /// Calls in step `step` (1-based): the fan-out width on every `every`-th step, else one.
    pub fn calls_in_step(&self, step: u32, rng: &mut Stream) -> u32 {
        match &self.fan_out {
            Some(f) if self.fans_out(step) => f.width.sample(rng).max(1),
            _ => 1,
        }
    }

    /// The tokens of one call to `llm` (its own token distributions where
    /// it has them, else the agent's), in a loop whose context has grown by
    /// `context` tokens, output capped at `max_output_tokens`.
    pub fn call_tokens(&self, llm: &Llm, context: u32, rng: &mut Stream) -> CallTokens {
        let input = llm
            .input_tokens
            .as_ref()
            .unwrap_or(&self.input_tokens)
            .sample(rng);
        let context_cached = self
            .context_growth
            .as_ref()
            .map_or(0, |g| round_count(f64::from(context) * g.cached_share));
        CallTokens {
            input: input.saturating_add(context),
            cached_input: round_count(f64::from(input) * self.cached_input_share)
                .saturating_add(context_cached),
            output: llm
                .output_tokens
                .as_ref()
                .unwrap_or(&self.output_tokens)
                .sample(rng)
                .min(self.max_output_tokens),
        }
    }
}

/// The tokens of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTokens {
    /// All input tokens, cached ones included.
    pub input: u32,
    /// Input tokens read from the prompt cache.
    pub cached_input: u32,
    pub output: u32,
}

/// What a replayed trace fixes of a loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// One call with its recorded tokens (a request trace's row).
    Call(CallTokens),
    /// Request `request` of recorded session `session`: its rounds' tokens
    /// and the tool time after each.
    Request { session: u32, request: u32 },
    /// The session in slot `slot` of a request trace with a session column,
    /// its calls read as the loop makes them.
    Stream { slot: u32 },
}

/// A loop in progress.
pub struct LoopState {
    pub class: u16,
    /// The closed-population user who started it.
    pub user: Option<u32>,
    pub arrived_at: SimTime,
    /// Arrived after warm-up: counted in the summary's loop counts.
    pub in_cohort: bool,
    pub steps_total: u32,
    pub steps_done: u32,
    pub step_started_at: SimTime,
    /// Calls of the current step not yet done.
    pub calls_pending: u32,
    /// Calls of this loop waiting to retry.
    pub calls_backing_off: u32,
    /// Why the loop fails once the current step's other calls are done (a
    /// call failed for good, and the agent waits for its siblings).
    pub failing: Option<LoopOutcome>,
    /// The agent's theoretical arrival time under the client's rate limit.
    pub throttle_tat: SimTime,
    /// One of its calls waited for a self-hosted replica still loading.
    pub cold: bool,
    /// What a replayed trace fixes of it: its steps and tokens.
    pub script: Option<Script>,
    /// Tokens its context has grown by since its first step.
    pub context: u32,
}

/// One LLM call of a step, across all its attempts.
pub struct CallState {
    pub loop_key: Key,
    /// The model it calls.
    pub model: u16,
    /// The router its attempts take: its class's, for its model.
    pub router: usize,
    pub attempts: u32,
    pub first_sent_at: SimTime,
    pub tokens: CallTokens,
    /// The last retry delay, for decorrelated jitter.
    pub last_delay: SimDuration,
    /// What the retry quota charged for the retry about to go out.
    pub quota_cost: u32,
    /// What the coordinated throttle's spend cap charged for the attempt about to go out.
    pub gate_charge: Charge,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;
    use crate::model::distribution::Dist;

    fn constant(x: f64) -> CountDist {
        CountDist::new(Dist::constant(x).unwrap())
    }

    #[test]
    fn every_kth_step_fans_out_and_output_is_capped() {
        let agent = AgentProfile {
            name: "a".into(),
            steps: constant(9.0),
            input_tokens: constant(100.0),
            cached_input_share: 0.25,
            output_tokens: constant(5000.0),
            max_output_tokens: 4096,
            tool_latency: None,
            fan_out: Some(FanOut {
                every: 3,
                width: constant(10.0),
            }),
            deadline: None,
            context_growth: None,
            mix: ModelMix::single(0),
        };
        let mut rng = RandomStreams::new(1).stream("agent");
        let widths: Vec<u32> = (1..=9).map(|s| agent.calls_in_step(s, &mut rng)).collect();
        assert_eq!(widths, [1, 1, 10, 1, 1, 10, 1, 1, 10]);
        let llm = Llm {
            name: "m".into(),
            input_tokens: None,
            output_tokens: None,
        };
        let tokens = agent.call_tokens(&llm, 0, &mut rng);
        assert_eq!(
            (tokens.input, tokens.cached_input, tokens.output),
            (100, 25, 4096)
        );
    }
}
