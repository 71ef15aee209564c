//! The agent system as an event-driven model: users start loops, loops issue
//! calls, calls make attempts on capacity, failed attempts back off and retry.
//!
//! Events due at the same instant are handled in this order (then FIFO):
//! 1. `AttemptFinished`: completions first, so a freed slot, lane or refund
//!    is visible to everything else happening at that instant;
//! 2. `AttemptTimedOut`: an attempt that finishes exactly at its timeout succeeds;
//! 3. `DeadlineReached`: likewise, a loop finishing at its deadline completes;
//! 4. `SurgeChanged`, `PhaseSwitched`, `FaultChanged`: the world changes
//!    before new work arrives in it;
//! 5. `UserReady`, `LoopArrived`: new loops;
//! 6. `ToolFinished`: the next step of a running loop;
//! 7. `RetryDue`, `ThrottleReleased`, `GateOpened`: attempts leaving the
//!    client's own waits, last, after every completion at that instant.

use super::ModelSpec;
use super::agent_loop::{CallState, CallTokens, LoopState};
use super::capacity::{Admission, Capacity, Rejection, Request};
use super::fault::FaultEffect;
use super::metrics::{Levels, LoopOutcome, Metrics, RunFacts};
use super::resilience::{InProgress, Resilience};
use super::summary::Summary;
use super::timeseries::Timeseries;
use super::workload::{ClassState, Population, UserState, exponential};
use crate::engine::{Ctx, Key, Model, RandomStreams, SimDuration, SimTime, Slab, Stream};

#[derive(Clone, Copy, Debug)]
pub enum Event {
    AttemptFinished(Key),
    AttemptTimedOut(Key),
    /// A loop's deadline.
    DeadlineReached(Key),
    SurgeChanged {
        class: u16,
    },
    /// An on/off arrival process changes phase.
    PhaseSwitched {
        class: u16,
    },
    /// A closed-population user has finished thinking.
    UserReady {
        class: u16,
        user: u32,
    },
    LoopArrived {
        class: u16,
        generation: u32,
    },
    /// The tool call after a step is done.
    ToolFinished(Key),
    /// A call's backoff is over.
    RetryDue(Key),
    /// The client's per-agent rate limit lets a call's attempt go.
    ThrottleReleased(Key),
    /// The coordinated throttle's gate lets waiting calls through.
    GateOpened,
    /// A fault begins or ends.
    FaultChanged,
}

/// How one try of a call failed.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Capacity turned the attempt away.
    Refused(Rejection),
    TimedOut,
    /// The client failed it itself, without sending it.
    Local,
}

impl Failure {
    fn retry_after(self) -> Option<SimDuration> {
        match self {
            Failure::Refused(rejection) => rejection.retry_after(),
            _ => None,
        }
    }
}

/// One attempt, from the client's send until the provider is done with it.
struct AttemptState {
    call: Key,
    sent_at: SimTime,
    request: Request,
    output_tokens: u32,
    service_started_at: SimTime,
    /// The client timed out; the provider still serves it, to no one.
    abandoned: bool,
    /// A timeout event is already pending.
    timeout_scheduled: bool,
    is_retry: bool,
    /// What the retry quota charged for this retry (refunded on success).
    quota_cost: u32,
    /// What the spend cap charged in advance, corrected when it is billed.
    gate_charge: f64,
}

/// Per-class random streams: arrivals and think times, and the loops' own draws.
struct ClassStreams {
    workload: Stream,
    agent: Stream,
}

pub struct AgentSystem<'a> {
    spec: &'a ModelSpec,
    classes: Vec<ClassState>,
    streams: Vec<ClassStreams>,
    client_rng: Stream,
    capacity_rng: Stream,
    capacity: Capacity,
    loops: Slab<LoopState>,
    calls: Slab<CallState>,
    attempts: Slab<AttemptState>,
    backing_off: u32,
    /// Attempts the client is waiting on (sent, not answered or timed out).
    live_attempts: u32,
    live_retries: u32,
    resilience: Resilience,
    /// A `GateOpened` event is scheduled.
    gate_pending: bool,
    metrics: Metrics,
}

impl<'a> AgentSystem<'a> {
    pub fn new(spec: &'a ModelSpec, timeseries: bool) -> Self {
        let random = RandomStreams::new(spec.seed);
        AgentSystem {
            spec,
            classes: spec.classes.iter().map(ClassState::new).collect(),
            streams: spec
                .classes
                .iter()
                .map(|c| ClassStreams {
                    workload: random.stream(&format!("workload/{}", c.name)),
                    agent: random.stream(&format!("agent/{}", c.name)),
                })
                .collect(),
            client_rng: random.stream("client"),
            capacity_rng: random.stream("capacity"),
            capacity: Capacity::new(&spec.capacity),
            loops: Slab::new(),
            calls: Slab::new(),
            attempts: Slab::new(),
            backing_off: 0,
            live_attempts: 0,
            live_retries: 0,
            resilience: Resilience::new(&spec.client.policies),
            gate_pending: false,
            metrics: Metrics::new(
                SimTime::ZERO + spec.warmup,
                spec.classes.len(),
                timeseries.then_some(spec.timeseries_bin),
            ),
        }
    }

    /// Schedules every class's first arrivals, phase switches and surges.
    pub fn start(&mut self, cx: &mut Ctx<'_, Self>) {
        let spec = self.spec;
        for (index, class) in spec.classes.iter().enumerate() {
            let c = index as u16;
            match &class.population {
                Population::Closed { users, .. } => {
                    for user in 0..*users {
                        self.think(c, user, cx);
                    }
                }
                Population::Open(arrivals) => {
                    let rng = &mut self.streams[index].workload;
                    let on = arrivals.initial_phase(rng);
                    self.classes[index].on = on;
                    if let Some(length) = arrivals.phase_length(on, rng) {
                        cx.schedule_in(length, Event::PhaseSwitched { class: c });
                    }
                    self.schedule_arrival(c, cx);
                }
            }
            for surge in &class.surges {
                cx.schedule_at(surge.at, Event::SurgeChanged { class: c });
                cx.schedule_at(surge.end(), Event::SurgeChanged { class: c });
            }
        }
        for fault in &spec.faults {
            cx.schedule_at(fault.start, Event::FaultChanged);
            cx.schedule_at(fault.end(), Event::FaultChanged);
        }
    }

    /// Closes the books at the horizon.
    pub fn finish(
        self,
        horizon: SimTime,
        events: u64,
        wall_s: f64,
    ) -> (Summary, Option<Timeseries>) {
        let mut in_flight = vec![0u64; self.spec.classes.len()];
        for lp in self.loops.values().filter(|l| l.in_cohort) {
            in_flight[usize::from(lp.class)] += 1;
        }
        let classes = self
            .spec
            .classes
            .iter()
            .zip(in_flight)
            .map(|(c, n)| (c.name.as_str(), n))
            .collect();
        self.metrics.finish(&RunFacts {
            model: &self.spec.name,
            seed: self.spec.seed,
            horizon,
            classes,
            lanes: self.spec.capacity.lanes(),
            prices: &self.spec.prices,
            faults: &self.spec.faults,
            recovery: self.spec.recovery,
            events,
            wall_s,
        })
    }

    // --- workload -------------------------------------------------------

    fn think(&mut self, class: u16, user: u32, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let spec = self.spec;
        let Population::Closed { think_time, .. } = &spec.classes[c].population else {
            unreachable!("only closed classes have users");
        };
        let delay = think_time.sample(&mut self.streams[c].workload);
        self.classes[c].users[user as usize] = UserState::Thinking;
        cx.schedule_in(delay, Event::UserReady { class, user });
    }

    fn on_user_ready(&mut self, class: u16, user: u32, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        if user >= state.target_users {
            state.users[user as usize] = UserState::Idle;
            return;
        }
        state.users[user as usize] = UserState::Looping;
        self.start_loop(class, Some(user), cx);
    }

    fn user_loop_ended(&mut self, class: u16, user: u32, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        if user < state.target_users {
            self.think(class, user, cx);
        } else {
            state.users[user as usize] = UserState::Idle;
        }
    }

    fn schedule_arrival(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let spec = self.spec;
        let Population::Open(arrivals) = &spec.classes[c].population else {
            return;
        };
        let state = &self.classes[c];
        let per_min = arrivals.per_min(state.on) * state.multiplier;
        if per_min <= 0.0 {
            return;
        }
        let generation = state.arrival_generation;
        let delay = exponential(60.0 / per_min, &mut self.streams[c].workload);
        cx.schedule_in(delay, Event::LoopArrived { class, generation });
    }

    /// The arrival rate changed: the pending arrival is void, draw a new one.
    fn rate_changed(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        state.arrival_generation = state.arrival_generation.wrapping_add(1);
        self.schedule_arrival(class, cx);
    }

    fn on_loop_arrived(&mut self, class: u16, generation: u32, cx: &mut Ctx<'_, Self>) {
        if generation != self.classes[usize::from(class)].arrival_generation {
            return;
        }
        self.start_loop(class, None, cx);
        self.schedule_arrival(class, cx);
    }

    fn on_phase_switched(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let spec = self.spec;
        let Population::Open(arrivals) = &spec.classes[c].population else {
            return;
        };
        let on = !self.classes[c].on;
        self.classes[c].on = on;
        if let Some(length) = arrivals.phase_length(on, &mut self.streams[c].workload) {
            cx.schedule_in(length, Event::PhaseSwitched { class });
        }
        self.rate_changed(class, cx);
    }

    fn on_surge_changed(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let model = self.spec;
        let spec = &model.classes[c];
        let multiplier = spec.multiplier(cx.now());
        self.classes[c].multiplier = multiplier;
        match spec.population {
            Population::Open(_) => self.rate_changed(class, cx),
            Population::Closed { users, .. } => {
                let target = (f64::from(users) * multiplier).round() as u32;
                let state = &mut self.classes[c];
                state.target_users = target;
                if state.users.len() < target as usize {
                    state.users.resize(target as usize, UserState::Idle);
                }
                // Users above the target retire when their loop or thought ends.
                for user in 0..target {
                    if self.classes[c].users[user as usize] == UserState::Idle {
                        self.think(class, user, cx);
                    }
                }
            }
        }
    }

    // --- agent loop -----------------------------------------------------

    fn start_loop(&mut self, class: u16, user: Option<u32>, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let agent = self.spec.agent_for(class);
        let steps_total = agent
            .steps
            .sample(&mut self.streams[usize::from(class)].agent)
            .max(1);
        let in_cohort = self.metrics.loop_arrived(now, class);
        let key = self.loops.insert(LoopState {
            class,
            user,
            arrived_at: now,
            in_cohort,
            steps_total,
            steps_done: 0,
            step_started_at: now,
            calls_pending: 0,
            calls_backing_off: 0,
            throttle_tat: SimTime::ZERO,
        });
        if let Some(deadline) = agent.deadline {
            cx.schedule_in(deadline, Event::DeadlineReached(key));
        }
        self.start_step(key, cx);
    }

    fn start_step(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let Some(lp) = self.loops.get_mut(loop_key) else {
            return;
        };
        let class = lp.class;
        let agent = self.spec.agent_for(class);
        let c = usize::from(class);
        let width = agent.calls_in_step(lp.steps_done + 1, &mut self.streams[c].agent);
        lp.calls_pending = width;
        lp.step_started_at = now;
        for _ in 0..width {
            let tokens = agent.call_tokens(&mut self.streams[c].agent);
            let call = self.calls.insert(CallState {
                loop_key,
                attempts: 0,
                first_sent_at: now,
                tokens,
                last_delay: SimDuration::ZERO,
                quota_cost: 0,
                gate_charge: 0.0,
            });
            self.send_attempt(call, cx);
            // A call that can never fit fails the loop at once: stop the burst.
            if self.loops.get(loop_key).is_none() {
                return;
            }
        }
    }

    fn step_done(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let lp = self
            .loops
            .get_mut(loop_key)
            .expect("caller checked the loop");
        self.metrics
            .step_completed(now, now.since(lp.step_started_at));
        lp.steps_done += 1;
        if lp.steps_done == lp.steps_total {
            self.end_loop(loop_key, LoopOutcome::Completed, cx);
            return;
        }
        let class = usize::from(lp.class);
        match &self.spec.agent_for(lp.class).tool_latency {
            Some(tool) => {
                let delay = tool.sample(&mut self.streams[class].agent);
                cx.schedule_in(delay, Event::ToolFinished(loop_key));
            }
            None => self.start_step(loop_key, cx),
        }
    }

    fn end_loop(&mut self, loop_key: Key, outcome: LoopOutcome, cx: &mut Ctx<'_, Self>) {
        let lp = self
            .loops
            .remove(loop_key)
            .expect("caller checked the loop");
        // Its calls are cleaned up as their pending events come due.
        self.backing_off -= lp.calls_backing_off;
        self.metrics.loop_ended(cx.now(), &lp, outcome);
        if let Some(user) = lp.user {
            self.user_loop_ended(lp.class, user, cx);
        }
    }

    // --- calls and attempts --------------------------------------------

    /// Removes a waiting call whose loop has ended; says whether it is still live.
    fn call_is_live(&mut self, call_key: Key) -> bool {
        let loop_key = self.calls.get(call_key).expect("a waiting call").loop_key;
        let live = self.loops.get(loop_key).is_some();
        if !live {
            self.calls.remove(call_key);
        }
        live
    }

    /// Sends the call's next attempt, once the client's per-agent rate limit allows.
    fn send_attempt(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        if let Some(limit) = &self.spec.client.agent_rate_limit {
            let loop_key = self
                .calls
                .get(call_key)
                .expect("caller checked the call")
                .loop_key;
            let lp = self.loops.get_mut(loop_key).expect("a live call's loop");
            let release = limit.release(now, &mut lp.throttle_tat);
            if release > now {
                self.metrics.attempt_throttled(now);
                cx.schedule_at(release, Event::ThrottleReleased(call_key));
                return;
            }
        }
        self.pass_gate(call_key, cx);
    }

    fn on_throttle_released(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        if self.call_is_live(call_key) {
            self.pass_gate(call_key, cx);
        }
    }

    /// Through the coordinated throttle's gate, if there is one: go, or wait there.
    fn pass_gate(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        if let Some(gate) = &mut self.resilience.gate {
            let call = self.calls.get_mut(call_key).expect("a live call");
            let class = self
                .loops
                .get(call.loop_key)
                .expect("a live call's loop")
                .class;
            let cost = worst_case_cost(self.spec, class, call.tokens);
            let priority = self.spec.classes[usize::from(class)].priority;
            if !gate.request(cx.now(), priority, call_key, cost) {
                self.schedule_gate(cx);
                return;
            }
            call.gate_charge = cost;
        }
        self.try_attempt(call_key, cx);
    }

    /// Makes sure the gate wakes when it next opens, if calls wait there.
    fn schedule_gate(&mut self, cx: &mut Ctx<'_, Self>) {
        let Some(gate) = &mut self.resilience.gate else {
            return;
        };
        if self.gate_pending || !gate.has_waiting() {
            return;
        }
        // A spend cap without a period never opens again: its calls wait out the run.
        if let Some(at) = gate.opens_at(cx.now()) {
            self.gate_pending = true;
            cx.schedule_at(at, Event::GateOpened);
        }
    }

    fn on_gate_opened(&mut self, cx: &mut Ctx<'_, Self>) {
        self.gate_pending = false;
        let now = cx.now();
        loop {
            let (spec, calls, loops) = (self.spec, &mut self.calls, &self.loops);
            let Some(gate) = &mut self.resilience.gate else {
                return;
            };
            // Calls whose loop ended are dropped, and take no slot.
            let released = gate.release(now, |key| {
                let call = calls.get_mut(key)?;
                let Some(lp) = loops.get(call.loop_key) else {
                    calls.remove(key);
                    return None;
                };
                call.gate_charge = worst_case_cost(spec, lp.class, call.tokens);
                Some(call.gate_charge)
            });
            let Some(call) = released else { break };
            self.try_attempt(call, cx);
        }
        self.schedule_gate(cx);
    }

    /// Gives the spend cap back what it charged for an attempt that cost nothing,
    /// or corrects the charge to what the attempt really cost.
    fn settle_gate_charge(&mut self, now: SimTime, charged: f64, cost: f64) {
        if let Some(gate) = &mut self.resilience.gate {
            gate.on_spend(now, cost - charged);
        }
    }

    /// The client's own checks (circuit breaker, adaptive throttling), then the provider.
    fn try_attempt(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        if !self.resilience.admit(now, &mut self.client_rng) {
            let call = self.calls.get_mut(call_key).expect("a live call");
            call.attempts += 1;
            let charged = std::mem::take(&mut call.gate_charge);
            self.metrics
                .attempt_rejected_locally(now, call.attempts > 1);
            self.settle_gate_charge(now, charged, 0.0);
            self.attempt_failed(call_key, Failure::Local, cx);
            return;
        }
        self.offer_attempt(call_key, cx);
    }

    /// Offers the call's next attempt to capacity.
    fn offer_attempt(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let call = self
            .calls
            .get_mut(call_key)
            .expect("caller checked the call");
        call.attempts += 1;
        let is_retry = call.attempts > 1;
        let class = self.loops.get(call.loop_key).expect("live call").class;
        let request = request(self.spec, class, call.tokens);
        self.metrics.attempt_sent(now, is_retry);
        let attempt = self.attempts.insert(AttemptState {
            call: call_key,
            sent_at: now,
            request,
            output_tokens: call.tokens.output,
            service_started_at: now,
            abandoned: false,
            timeout_scheduled: false,
            is_retry,
            quota_cost: std::mem::take(&mut call.quota_cost),
            gate_charge: std::mem::take(&mut call.gate_charge),
        });
        let admission = self
            .capacity
            .offer(now, attempt, request, &mut self.capacity_rng);
        if let Admission::Rejected(rejection) = admission {
            let refused = self.attempts.remove(attempt).expect("just inserted");
            self.settle_gate_charge(now, refused.gate_charge, 0.0);
            self.metrics.attempt_rejected(now, rejection);
            if rejection != Rejection::TooLarge {
                self.resilience.on_failure(now);
            }
            if let (Rejection::RateLimited { retry_after }, Some(gate)) =
                (rejection, &mut self.resilience.gate)
            {
                gate.on_rate_limited(now, retry_after);
            }
            self.attempt_failed(call_key, Failure::Refused(rejection), cx);
            return;
        }
        self.live_attempts += 1;
        self.live_retries += u32::from(is_retry);
        self.resilience.on_accepted(now);
        match admission {
            Admission::Started => self.start_service(attempt, cx),
            _ => {
                if let Some(timeout) = self.spec.client.timeout {
                    self.attempts
                        .get_mut(attempt)
                        .expect("just inserted")
                        .timeout_scheduled = true;
                    cx.schedule_in(timeout, Event::AttemptTimedOut(attempt));
                }
            }
        }
    }

    fn start_service(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = self
            .attempts
            .get_mut(attempt_key)
            .expect("attempt in capacity");
        attempt.service_started_at = now;
        let mut service = self
            .spec
            .capacity
            .service()
            .sample(attempt.output_tokens, &mut self.capacity_rng);
        let slowdown = self.capacity.latency_factor();
        if slowdown != 1.0 {
            service = SimDuration::from_secs_f64(service.as_secs_f64() * slowdown);
        }
        let finish = now + service;
        cx.schedule_at(finish, Event::AttemptFinished(attempt_key));
        if let Some(timeout) = self.spec.client.timeout {
            let expiry = attempt.sent_at + timeout;
            if !attempt.timeout_scheduled && expiry < finish {
                attempt.timeout_scheduled = true;
                cx.schedule_at(expiry, Event::AttemptTimedOut(attempt_key));
            }
        }
    }

    /// The client stops waiting on an attempt: answered or timed out.
    fn attempt_settled(&mut self, is_retry: bool) {
        self.live_attempts -= 1;
        self.live_retries -= u32::from(is_retry);
    }

    fn on_attempt_finished(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = self
            .attempts
            .remove(attempt_key)
            .expect("one finish per attempt");
        self.metrics
            .attempt_billed(now, attempt.request, attempt.output_tokens);
        if self.resilience.gate.is_some() {
            let billed = attempt.request.billed(attempt.output_tokens);
            let cost = self.spec.prices.cost_usd(billed, 0.0);
            self.settle_gate_charge(now, attempt.gate_charge, cost);
        }
        if let Some(next) = self
            .capacity
            .release(now, attempt.request, attempt.output_tokens)
        {
            self.start_service(next, cx);
        }
        if attempt.abandoned {
            return;
        }
        self.attempt_settled(attempt.is_retry);
        self.resilience.on_success(attempt.quota_cost);
        let call = self
            .calls
            .remove(attempt.call)
            .expect("a live attempt's call");
        let Some(lp) = self.loops.get_mut(call.loop_key) else {
            return; // the loop failed meanwhile; the answer goes nowhere
        };
        self.metrics
            .call_answered(now, attempt.service_started_at.since(call.first_sent_at));
        lp.calls_pending -= 1;
        if lp.calls_pending == 0 {
            self.step_done(call.loop_key, cx);
        }
    }

    fn on_attempt_timed_out(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let Some(attempt) = self.attempts.get_mut(attempt_key) else {
            return; // finished first
        };
        attempt.abandoned = true;
        let (call_key, is_retry) = (attempt.call, attempt.is_retry);
        self.attempt_settled(is_retry);
        self.resilience.on_failure(cx.now());
        let loop_key = self
            .calls
            .get(call_key)
            .expect("a live attempt's call")
            .loop_key;
        // A loop that already ended has no client left to notice the timeout.
        if self.loops.get(loop_key).is_some() {
            self.metrics.attempt_timed_out(cx.now());
        }
        self.attempt_failed(call_key, Failure::TimedOut, cx);
    }

    /// A try failed: retry it after a backoff, or fail its loop.
    fn attempt_failed(&mut self, call_key: Key, failure: Failure, cx: &mut Ctx<'_, Self>) {
        let call = self
            .calls
            .get_mut(call_key)
            .expect("a failing attempt's call");
        let loop_key = call.loop_key;
        if self.loops.get(loop_key).is_none() {
            self.calls.remove(call_key);
            return;
        }
        let policy = &self.spec.client;
        let mut outcome = match failure {
            Failure::Refused(Rejection::TooLarge) => Some(LoopOutcome::TooLarge),
            _ if call.attempts >= policy.max_attempts => Some(LoopOutcome::Exhausted),
            _ => None,
        };
        if outcome.is_none() {
            // The call itself is a request in progress, about to retry.
            let in_progress = InProgress {
                requests: self.live_attempts + self.backing_off + 1,
                retries: self.live_retries + self.backing_off,
            };
            match self
                .resilience
                .allow_retry(matches!(failure, Failure::TimedOut), in_progress)
            {
                Some(cost) => call.quota_cost = cost,
                None => {
                    self.metrics.retry_denied(cx.now());
                    outcome = Some(LoopOutcome::RetryDenied);
                }
            }
        }
        if let Some(outcome) = outcome {
            self.calls.remove(call_key);
            self.end_loop(loop_key, outcome, cx);
            return;
        }
        let delay = policy.retry_delay(
            call.attempts,
            failure.retry_after(),
            &mut call.last_delay,
            &mut self.client_rng,
        );
        self.loops
            .get_mut(loop_key)
            .expect("checked")
            .calls_backing_off += 1;
        self.backing_off += 1;
        cx.schedule_in(delay, Event::RetryDue(call_key));
    }

    fn on_retry_due(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let loop_key = self
            .calls
            .get(call_key)
            .expect("a backing-off call")
            .loop_key;
        let Some(lp) = self.loops.get_mut(loop_key) else {
            self.calls.remove(call_key); // the loop ended while this call waited
            return;
        };
        lp.calls_backing_off -= 1;
        self.backing_off -= 1;
        self.send_attempt(call_key, cx);
    }

    /// A fault began or ended: capacity takes on the faults active now.
    fn on_fault_changed(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let effect = FaultEffect::at(&self.spec.faults, now);
        for attempt in self.capacity.set_faults(now, effect) {
            self.start_service(attempt, cx);
        }
    }

    fn on_deadline(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        if self.loops.get(loop_key).is_some() {
            self.end_loop(loop_key, LoopOutcome::Deadline, cx);
        }
    }

    fn on_tool_finished(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        self.start_step(loop_key, cx);
    }
}

/// What each attempt of a call of `class` asks of capacity.
fn request(spec: &ModelSpec, class: u16, tokens: CallTokens) -> Request {
    Request {
        input_tokens: tokens.input,
        cached_input_tokens: tokens.cached_input,
        max_output_tokens: spec.agent_for(class).max_output_tokens,
    }
}

/// What a call can cost at most: its input and its `max_tokens` of output.
fn worst_case_cost(spec: &ModelSpec, class: u16, tokens: CallTokens) -> f64 {
    let request = request(spec, class, tokens);
    spec.prices
        .cost_usd(request.billed(request.max_output_tokens), 0.0)
}

impl Model for AgentSystem<'_> {
    type Event = Event;

    fn rank(event: &Event) -> u8 {
        match event {
            Event::AttemptFinished(_) => 0,
            Event::AttemptTimedOut(_) => 1,
            Event::DeadlineReached(_) => 2,
            Event::SurgeChanged { .. } | Event::PhaseSwitched { .. } | Event::FaultChanged => 3,
            Event::UserReady { .. } | Event::LoopArrived { .. } => 4,
            Event::ToolFinished(_) => 5,
            Event::RetryDue(_) | Event::ThrottleReleased(_) | Event::GateOpened => 6,
        }
    }

    fn handle(&mut self, event: Event, cx: &mut Ctx<'_, Self>) {
        match event {
            Event::AttemptFinished(a) => self.on_attempt_finished(a, cx),
            Event::AttemptTimedOut(a) => self.on_attempt_timed_out(a, cx),
            Event::DeadlineReached(l) => self.on_deadline(l, cx),
            Event::SurgeChanged { class } => self.on_surge_changed(class, cx),
            Event::PhaseSwitched { class } => self.on_phase_switched(class, cx),
            Event::UserReady { class, user } => self.on_user_ready(class, user, cx),
            Event::LoopArrived { class, generation } => self.on_loop_arrived(class, generation, cx),
            Event::ToolFinished(l) => self.on_tool_finished(l, cx),
            Event::RetryDue(c) => self.on_retry_due(c, cx),
            Event::ThrottleReleased(c) => self.on_throttle_released(c, cx),
            Event::GateOpened => self.on_gate_opened(cx),
            Event::FaultChanged => self.on_fault_changed(cx),
        }
        self.metrics.observe(
            cx.now(),
            Levels {
                in_flight: self.capacity.in_flight(),
                queued: self.capacity.queued(),
                backing_off: self.backing_off,
                loops_in_flight: self.loops.len() as u32,
            },
        );
    }
}
