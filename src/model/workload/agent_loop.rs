//! The agent loop: steps of LLM calls, tool calls between them, fan-out bursts.

use crate::engine::{Key, SimDuration, SimTime, Stream};
use crate::model::capacity::admission::Request;
use crate::model::capacity::prompt_cache::Session;
use crate::model::client::coordinated_throttle::Charge;
use crate::model::distribution::{CountDist, DurationDist, round_count};
use crate::model::workload::llm::{Llm, ModelMix};

/// How a loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopOutcome {
    Completed,
    /// A call used up its attempts.
    Exhausted,
    Deadline,
    /// A call could never fit a token bucket.
    TooLarge,
    /// A resilience policy refused a call's retry.
    RetryDenied,
}

/// How one agent behaves for one user command.
#[derive(Clone, Debug)]
pub struct AgentProfile {
    pub name: String,
    /// Steps (LLM calls, or fan-out bursts of calls) per loop, at least one.
    pub steps: CountDist,
    pub input_tokens: CountDist,
    /// The share of each call's input read from the provider's prompt cache.
    pub cached_input_share: f64,
    /// Of that cached input, the leading tokens every session of the agent
    /// sends alike (system prompt, tool definitions).
    pub shared_prefix_tokens: u32,
    /// Tokens a call produces; capped at `max_output_tokens`.
    pub output_tokens: CountDist,
    /// The `max_tokens` each request sends, which output-token limits reserve.
    pub max_output_tokens: u32,
    /// Tool-call time between consecutive steps (none before the first or after the last).
    pub tool_latency: Option<DurationDist>,
    /// How many tool calls follow a step, and how they run (default: one).
    pub tool_calls: Option<ToolCalls>,
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

/// The tool calls after a step (but the last): how many, each with its
/// own latency, and whether they run one after another or at once.
#[derive(Clone, Debug)]
pub struct ToolCalls {
    pub per_step: CountDist,
    /// One after another (the wait is their sum); else at once (the longest).
    pub serial: bool,
}

/// Every `every`-th step is a burst of `width` parallel calls, joined before the loop goes on.
#[derive(Clone, Debug)]
pub struct FanOut {
    pub every: u32,
    pub width: CountDist,
}

impl AgentProfile {
    /// How long the loop waits for the tools after a step: none without
    /// tools; else the step's tool calls' latencies, summed when they run
    /// one after another, their longest when they run at once.
    pub fn tool_time(&self, rng: &mut Stream) -> SimDuration {
        let Some(latency) = &self.tool_latency else {
            return SimDuration::ZERO;
        };
        let Some(calls) = &self.tool_calls else {
            return latency.sample(rng);
        };
        let draws = (0..calls.per_step.sample(rng)).map(|_| latency.sample(rng));
        match calls.serial {
            true => draws.fold(SimDuration::ZERO, |a, b| a + b),
            false => draws.max().unwrap_or(SimDuration::ZERO),
        }
    }

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
        let (input, output) = self.token_dists(llm);
        let input = input.sample(rng);
        self.tokens(input, output.sample(rng), context)
    }

    /// The tokens of every call to `llm`, when they are always the same:
    /// constant counts, and a context that does not grow.
    pub fn constant_tokens(&self, llm: &Llm) -> Option<CallTokens> {
        let (input, output) = self.token_dists(llm);
        match (input.constant(), output.constant(), &self.context_growth) {
            (Some(input), Some(output), None) => Some(self.tokens(input, output, 0)),
            _ => None,
        }
    }

    /// The input and output distributions of a call to `llm`.
    fn token_dists<'a>(&'a self, llm: &'a Llm) -> (&'a CountDist, &'a CountDist) {
        (
            llm.input_tokens.as_ref().unwrap_or(&self.input_tokens),
            llm.output_tokens.as_ref().unwrap_or(&self.output_tokens),
        )
    }

    /// The tokens of a call drawing `input` and `output`, after `context` tokens of growth.
    fn tokens(&self, input: u32, output: u32, context: u32) -> CallTokens {
        let context_cached = self
            .context_growth
            .as_ref()
            .map_or(0, |g| round_count(f64::from(context) * g.cached_share));
        CallTokens {
            input: input.saturating_add(context),
            cached_input: round_count(f64::from(input) * self.cached_input_share)
                .saturating_add(context_cached),
            shared_input: 0,
            output: output.min(self.max_output_tokens),
            max_output: None,
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
    /// Of them, the leading tokens other sessions send alike (a system
    /// prompt), where a trace records it: a prompt cache keeps them for
    /// every session.
    pub shared_input: u32,
    pub output: u32,
    /// Its own `max_tokens`, where a trace records it (else the agent's).
    pub max_output: Option<u32>,
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
    /// Subagent `subagent` of recorded session `session` (as for
    /// `Request`), spawned by the loop at `parent`, which waits for it.
    Subagent {
        parent: Key,
        session: u32,
        subagent: u32,
    },
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
    /// What each of its attempts asks of capacity (before a prompt cache
    /// that expires has its say).
    pub request: Request,
    /// Of its cached input, the leading tokens other sessions share.
    pub shared_input: u32,
    /// Tokens its answer holds.
    pub output_tokens: u32,
    /// The last retry delay, for decorrelated jitter.
    pub last_delay: SimDuration,
    /// What the retry quota charged for the retry about to go out.
    pub quota_cost: u32,
    /// What the coordinated throttle's spend cap charged for the attempt about to go out.
    pub gate_charge: Charge,
}

impl CallState {
    /// A call of the loop at `loop_key`, made at `now`, to `model` through
    /// `router`, asking `request` (the first `shared_input` tokens of its
    /// cached input shared with other sessions) and answered with
    /// `output_tokens`.
    pub fn new(
        loop_key: Key,
        now: SimTime,
        (model, router): (u16, usize),
        (request, shared_input): (Request, u32),
        output_tokens: u32,
    ) -> Self {
        CallState {
            loop_key,
            model,
            router,
            attempts: 0,
            first_sent_at: now,
            request,
            shared_input,
            output_tokens,
            last_delay: SimDuration::ZERO,
            quota_cost: 0,
            gate_charge: Charge::default(),
        }
    }
}

impl LoopState {
    /// A loop of class `class` (started by `user` of a closed population)
    /// arriving `now` with `steps_total` steps, none of them begun.
    #[inline(always)]
    pub fn new(
        (class, user): (u16, Option<u32>),
        now: SimTime,
        in_cohort: bool,
        steps_total: u32,
        script: Option<Script>,
    ) -> Self {
        LoopState {
            class,
            user,
            arrived_at: now,
            in_cohort,
            steps_total,
            steps_done: 0,
            step_started_at: now,
            calls_pending: 0,
            calls_backing_off: 0,
            failing: None,
            throttle_tat: SimTime::ZERO,
            cold: false,
            script,
            context: 0,
        }
    }

    /// The loop waiting for this one, if it is a subagent spawned by one.
    #[inline(always)]
    pub fn parent(&self) -> Option<Key> {
        match self.script {
            Some(Script::Subagent { parent, .. }) => Some(parent),
            _ => None,
        }
    }

    /// Whose conversation this loop, kept at `key`, continues (a
    /// subagent's, its session's: it reads what the session sent).
    pub fn session(&self, key: Key) -> Session {
        match (self.script, self.user) {
            (Some(Script::Request { session, .. } | Script::Subagent { session, .. }), _) => {
                Session::Recorded {
                    class: self.class,
                    session,
                }
            }
            (Some(Script::Call(_) | Script::Stream { .. }), _) | (None, None) => Session::Loop(key),
            (None, Some(user)) => Session::User {
                class: self.class,
                user,
            },
        }
    }
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
            shared_prefix_tokens: 0,
            output_tokens: constant(5000.0),
            max_output_tokens: 4096,
            tool_latency: None,
            tool_calls: None,
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

    #[test]
    fn constant_tokens_are_what_every_call_draws_and_only_when_nothing_varies() {
        let agent = AgentProfile {
            name: "a".into(),
            steps: constant(3.0),
            input_tokens: constant(1001.0),
            cached_input_share: 0.3,
            shared_prefix_tokens: 0,
            output_tokens: constant(5000.0),
            max_output_tokens: 4096,
            tool_latency: None,
            tool_calls: None,
            fan_out: None,
            deadline: None,
            context_growth: None,
            mix: ModelMix::single(0),
        };
        let own = Llm {
            name: "own".into(),
            input_tokens: None,
            output_tokens: None,
        };
        let small = Llm {
            name: "small".into(),
            input_tokens: Some(constant(200.0)),
            output_tokens: Some(constant(50.0)),
        };
        let mut rng = RandomStreams::new(1).stream("agent");
        for llm in [&own, &small] {
            let fixed = agent.constant_tokens(llm).expect("constant counts");
            assert_eq!(fixed, agent.call_tokens(llm, 0, &mut rng));
        }
        // 1001 in, 300 of them cached (0.3, rounded), output capped at 4096.
        assert_eq!(
            agent.constant_tokens(&own),
            Some(CallTokens {
                input: 1001,
                cached_input: 300,
                shared_input: 0,
                output: 4096,
                max_output: None,
            })
        );
        let drawn = Llm {
            output_tokens: Some(CountDist::new(Dist::exponential(50.0).unwrap())),
            ..small.clone()
        };
        assert_eq!(agent.constant_tokens(&drawn), None);
        let growing = AgentProfile {
            context_growth: Some(ContextGrowth {
                per_step: constant(10.0),
                cached_share: 1.0,
            }),
            ..agent
        };
        assert_eq!(growing.constant_tokens(&own), None);
    }
}
