//! Agent loops and their steps: a loop starts, runs its steps (each one call
//! or a fan-out burst, with tool calls between), and ends completed or failed.

use super::attempts::Passed;
use super::{AgentSystem, CallDone, Event, FixedCall};
use crate::engine::{Ctx, Key, SimDuration};
use crate::model::capacity::admission::Request;
use crate::model::capacity::prompt_cache::Session;
use crate::model::client::policy::OnCallFailure;
use crate::model::spec::ModelSpec;
use crate::model::workload::agent_loop::AgentProfile;
use crate::model::workload::agent_loop::LoopOutcome;
use crate::model::workload::agent_loop::{CallState, CallTokens, LoopState, Script};
use crate::model::workload::classes::Population;
use crate::model::workload::sessions::{RecordedRequest, Spawn};

impl FixedCall {
    /// The calls of class `class`, if they are all alike (a class replaying
    /// a trace takes its calls from it).
    pub(super) fn of(spec: &ModelSpec, class: u16) -> Option<FixedCall> {
        let c = &spec.classes[usize::from(class)];
        if !matches!(
            c.population,
            Population::Open(_) | Population::Closed { sessions: None, .. }
        ) {
            return None;
        }
        let agent = spec.agent_for(class);
        let model = agent.mix.only().filter(|_| agent.fan_out.is_none())?;
        let tokens = agent.constant_tokens(&spec.models[usize::from(model)])?;
        let (request, shared_input) = asks(agent, tokens);
        Some(FixedCall {
            model,
            router: spec.router_of(class, model),
            request,
            shared_input,
            output_tokens: tokens.output,
        })
    }
}

/// What each attempt of a call with `tokens` by `agent` asks of capacity,
/// and how many of its cached tokens every session of its class sends
/// alike: as its trace records them, else its agent's `shared_prefix_tokens`.
fn asks(agent: &AgentProfile, tokens: CallTokens) -> (Request, u32) {
    let request = Request {
        input_tokens: tokens.input,
        cached_input_tokens: tokens.cached_input,
        cache_write_tokens: 0,
        max_output_tokens: tokens.max_output.unwrap_or(agent.max_output_tokens),
    };
    let shared = tokens
        .shared_input
        .max(agent.shared_prefix_tokens.min(tokens.cached_input));
    (request, shared)
}

impl AgentSystem<'_> {
    /// Starts a loop of user class `class` (by `user` of a closed
    /// population), its steps and tokens fixed by `script` if it replays a trace.
    #[inline(always)]
    pub(super) fn start_loop(
        &mut self,
        class: u16,
        user: Option<u32>,
        script: Option<Script>,
        cx: &mut Ctx<'_, Self>,
    ) {
        let now = cx.now();
        let agent = self.agents[usize::from(class)];
        let steps_total = match script {
            Some(Script::Call(_)) => 1,
            Some(Script::Stream { slot }) => self.stream(class).calls(slot),
            Some(_) => self
                .scripted(class, script)
                .map_or(1, |r| r.rounds.len() as u32),
            None => agent
                .steps
                .sample(&mut self.streams[usize::from(class)].agent)
                .max(1),
        };
        let opens_session = matches!(
            script,
            Some(Script::Request { request: 0, .. } | Script::Stream { .. })
        );
        let in_cohort = self.metrics.loop_arrived(now, class, opens_session);
        let key = self.loops.insert(LoopState::new(
            (class, user),
            now,
            in_cohort,
            steps_total,
            script,
        ));
        if let Some(deadline) = agent.deadline {
            cx.schedule_in(deadline, Event::DeadlineReached(key));
        }
        self.start_step(key, cx);
    }

    #[inline(always)]
    pub(super) fn start_step(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let Some(lp) = self.loops.get_mut(loop_key) else {
            return;
        };
        let class = lp.class;
        let c = usize::from(class);
        if let (None, Some(fixed)) = (lp.script, self.fixed_calls[c]) {
            lp.calls_pending = 1;
            lp.step_started_at = now;
            let call = self.calls.insert(CallState::new(
                loop_key,
                now,
                (fixed.model, fixed.router),
                (fixed.request, fixed.shared_input),
                fixed.output_tokens,
            ));
            self.send_attempt(call, Passed::Nothing, cx);
            return;
        }
        let agent = self.agents[usize::from(class)];
        if lp.steps_done > 0
            && let Some(growth) = &agent.context_growth
        {
            lp.context = lp
                .context
                .saturating_add(growth.per_step.sample(&mut self.streams[c].agent));
        }
        let (script, context, step, steps) = (lp.script, lp.context, lp.steps_done, lp.steps_total);
        let width = match script {
            Some(_) => 1,
            None => agent.calls_in_step(step + 1, &mut self.streams[c].agent),
        };
        lp.calls_pending = width;
        lp.step_started_at = now;
        // A recorded round whose model the trace maps calls it; any other
        // step the model the agent's mix gives it.
        let recorded = self
            .scripted(class, script)
            .map(|r| &r.rounds[step as usize]);
        let model = recorded.and_then(|r| r.model).unwrap_or_else(|| {
            agent.mix.model(
                step + 1,
                steps,
                script.is_none() && agent.fans_out(step + 1),
                &mut self.streams[c].agent,
            )
        });
        let llm = &self.spec.models[usize::from(model)];
        let router = self.spec.router_of(class, model);
        for _ in 0..width {
            let tokens = match (script, recorded) {
                (_, Some(round)) => round.tokens,
                (Some(Script::Call(tokens)), _) => tokens,
                (Some(Script::Stream { slot }), _) => match self.stream(class).take_call(slot) {
                    Ok(tokens) => tokens,
                    Err(e) => {
                        self.trace_error = Some(e);
                        CallTokens::default()
                    }
                },
                _ => agent.call_tokens(llm, context, &mut self.streams[c].agent),
            };
            let call = self.calls.insert(CallState::new(
                loop_key,
                now,
                (model, router),
                asks(agent, tokens),
                tokens.output,
            ));
            self.send_attempt(call, Passed::Nothing, cx);
            // A call that failed at once may have ended the loop: stop the burst.
            if self.loops.get(loop_key).is_none() {
                return;
            }
        }
    }

    /// A call of the loop's current step is done: answered after waiting
    /// `wait` for service, or failed for good; or a subagent it spawned has
    /// ended. A failure ends the loop at once, or, when the agent waits for
    /// siblings, once the step's other calls (or subagents) are done. The
    /// last call of a step completes the step (the loop is looked up once
    /// for all of it): it spawns the subagents a recorded round spawned, or
    /// the loop goes on as [`Self::step_done`] says.
    #[inline(always)]
    pub(super) fn call_done(&mut self, loop_key: Key, done: CallDone, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let Some(lp) = self.loops.get_mut(loop_key) else {
            return; // the loop failed meanwhile; the answer goes nowhere
        };
        let failed = match done {
            CallDone::Answered { wait } => {
                self.metrics.call_answered(now, wait);
                None
            }
            CallDone::Failed(outcome) => Some(outcome),
            CallDone::Subagent(outcome) => Some(outcome).filter(|&o| o != LoopOutcome::Completed),
        };
        if let Some(outcome) = failed {
            if self.spec.client.on_call_failure == OnCallFailure::Abandon {
                self.end_loop(loop_key, outcome, cx);
                return;
            }
            lp.failing.get_or_insert(outcome);
        }
        lp.calls_pending -= 1;
        if lp.calls_pending > 0 {
            return;
        }
        if let Some(outcome) = lp.failing {
            self.end_loop(loop_key, outcome, cx);
            return;
        }
        let spawned = matches!(done, CallDone::Subagent(_));
        if !spawned {
            self.metrics
                .step_completed(now, now.since(lp.step_started_at));
            lp.steps_done += 1;
        }
        let (class, script) = (lp.class, lp.script);
        let steps = (lp.steps_done, lp.steps_total);
        if let Some(parent) = lp.parent()
            && self.loops.get(parent).is_none()
        {
            return self.orphaned(loop_key, cx);
        }
        let recorded = self.scripted(class, script);
        // A step done spawns what its round spawned (a spawn, once done,
        // finishes the step).
        let spawn = recorded
            .filter(|_| !spawned)
            .and_then(|r| r.spawns.iter().find(|s| s.after == steps.0 - 1));
        match spawn {
            Some(&spawn) => self.spawn(loop_key, spawn, cx),
            None => self.step_done(loop_key, (class, script, recorded), steps, cx),
        }
    }

    /// The step `done` of `total` of the loop (of class `class`, replaying
    /// `recorded` by `script`, if it does) is done, and any subagents it
    /// spawned: the loop ends after its last step, or its agent calls a
    /// tool before the next.
    #[inline(always)]
    fn step_done(
        &mut self,
        loop_key: Key,
        (class, script, recorded): (u16, Option<Script>, Option<&RecordedRequest>),
        (done, total): (u32, u32),
        cx: &mut Ctx<'_, Self>,
    ) {
        if done == total {
            self.end_loop(loop_key, LoopOutcome::Completed, cx);
            return;
        }
        let round = done as usize - 1;
        let delay = match (script, recorded) {
            (_, Some(recorded)) => recorded.rounds[round].tool_after,
            (Some(Script::Stream { slot }), _) => match self.stream(class).tool_time(slot) {
                Ok(delay) => delay,
                Err(e) => {
                    self.trace_error = Some(e);
                    SimDuration::ZERO
                }
            },
            _ => self.agents[usize::from(class)]
                .tool_time(&mut self.streams[usize::from(class)].agent),
        };
        if delay > SimDuration::ZERO {
            cx.schedule_in(delay, Event::ToolFinished(loop_key));
        } else {
            self.start_step(loop_key, cx);
        }
    }

    /// The loop at `parent` spawns the subagents of `spawn` and waits for
    /// them: each a loop of its own calls, part of its parent's (counted in
    /// none of the loop figures), starting its first call after its
    /// recorded delay.
    #[inline(never)]
    fn spawn(&mut self, parent: Key, spawn: Spawn, cx: &mut Ctx<'_, Self>) {
        let Some(lp) = self.loops.get_mut(parent) else {
            return;
        };
        lp.calls_pending = spawn.count;
        let (class, in_cohort, script) = (lp.class, lp.in_cohort, lp.script);
        let Some(Script::Request { session, .. } | Script::Subagent { session, .. }) = script
        else {
            unreachable!("only a recorded request spawns subagents")
        };
        for subagent in spawn.first..spawn.first + spawn.count {
            let script = Some(Script::Subagent {
                parent,
                session,
                subagent,
            });
            let recorded = self.scripted(class, script).expect("a recorded subagent");
            let steps = recorded.rounds.len() as u32;
            let state = LoopState::new((class, None), cx.now(), in_cohort, steps, script);
            let key = self.loops.insert(state);
            self.load.subagent(true);
            cx.schedule_in(recorded.think_before, Event::ToolFinished(key));
        }
    }

    #[inline(always)]
    pub(super) fn end_loop(&mut self, loop_key: Key, outcome: LoopOutcome, cx: &mut Ctx<'_, Self>) {
        let lp = self
            .loops
            .remove(loop_key)
            .expect("caller checked the loop");
        // Its calls are cleaned up as their pending events come due.
        self.load.loop_ended(lp);
        if let Some(parent) = lp.parent() {
            self.load.subagent(false);
            return self.subagent_ended(parent, outcome, cx);
        }
        if self.cache_ttls.is_some()
            && let own @ Session::Loop(_) = lp.session(loop_key)
        {
            self.prompt_caches
                .forget(own, self.spec.pools.len(), self.spec.models.len());
        }
        self.metrics.loop_ended(cx.now(), lp, outcome);
        let (class, script, user) = (lp.class, lp.script, lp.user);
        match (script, user) {
            (Some(Script::Request { session, request }), _) => {
                self.request_ended(class, session, request, cx);
            }
            (Some(Script::Stream { slot }), _) => self.stream(class).close(slot),
            (_, Some(user)) => self.user_loop_ended(class, user, cx),
            _ => {}
        }
    }

    /// A subagent of the loop at `parent` ended so. Kept out of line: it
    /// closes the circle from a loop's end back to its parent's step, which
    /// would keep the hot path of every loop from being inlined.
    #[cold]
    #[inline(never)]
    fn subagent_ended(&mut self, parent: Key, outcome: LoopOutcome, cx: &mut Ctx<'_, Self>) {
        self.call_done(parent, CallDone::Subagent(outcome), cx);
    }

    /// The subagent loop at `key` outlived its parent (failed meanwhile):
    /// nothing waits for it, and it stops. Kept out of line, as rare.
    #[cold]
    #[inline(never)]
    fn orphaned(&mut self, key: Key, cx: &mut Ctx<'_, Self>) {
        self.end_loop(key, LoopOutcome::Deadline, cx);
    }

    pub(super) fn on_deadline(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        if self.loops.get(loop_key).is_some() {
            self.end_loop(loop_key, LoopOutcome::Deadline, cx);
        }
    }

    pub(super) fn on_tool_finished(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        if let Some(parent) = self.loops.get(loop_key).and_then(LoopState::parent)
            && self.loops.get(parent).is_none()
        {
            return self.orphaned(loop_key, cx);
        }
        self.start_step(loop_key, cx);
    }
}
