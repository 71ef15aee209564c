//! The agent system as an event-driven model: users start loops, loops issue
//! calls, calls make attempts on capacity, failed attempts back off and retry.
//!
//! Events due at the same instant are handled in this order (then FIFO):
//! 1. `AttemptFinished`: completions first, so a freed slot, lane or refund
//!    is visible to everything else happening at that instant;
//! 2. `AttemptTimedOut`: an attempt that finishes exactly at its timeout succeeds;
//! 3. `DeadlineReached`: likewise, a loop finishing at its deadline completes;
//! 4. `SurgeChanged`, `PhaseSwitched`: arrival rates change before arrivals;
//! 5. `UserReady`, `LoopArrived`: new loops;
//! 6. `ToolFinished`: the next step of a running loop;
//! 7. `RetryDue`, `ThrottleReleased`: attempts leaving the client's own
//!    waits, last, after every completion at that instant.

use super::ModelSpec;
use super::agent_loop::{CallState, LoopState};
use super::capacity::{Admission, Capacity, Rejection, Request};
use super::metrics::{Levels, LoopOutcome, Metrics, RunFacts};
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
        self.offer_attempt(call_key, cx);
    }

    fn on_throttle_released(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let loop_key = self.calls.get(call_key).expect("a throttled call").loop_key;
        if self.loops.get(loop_key).is_none() {
            self.calls.remove(call_key); // the loop ended while this call waited
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
        let class = self.loops.get(call.loop_key).expect("live call").class;
        let request = Request {
            input_tokens: call.tokens.input,
            cached_input_tokens: call.tokens.cached_input,
            max_output_tokens: self.spec.agent_for(class).max_output_tokens,
        };
        self.metrics.attempt_sent(now, call.attempts > 1);
        let attempt = self.attempts.insert(AttemptState {
            call: call_key,
            sent_at: now,
            request,
            output_tokens: call.tokens.output,
            service_started_at: now,
            abandoned: false,
            timeout_scheduled: false,
        });
        match self
            .capacity
            .offer(now, attempt, request, &mut self.capacity_rng)
        {
            Admission::Started => self.start_service(attempt, cx),
            Admission::Queued => {
                if let Some(timeout) = self.spec.client.timeout {
                    self.attempts
                        .get_mut(attempt)
                        .expect("just inserted")
                        .timeout_scheduled = true;
                    cx.schedule_in(timeout, Event::AttemptTimedOut(attempt));
                }
            }
            Admission::Rejected(rejection) => {
                self.attempts.remove(attempt);
                self.metrics.attempt_rejected(now, rejection);
                self.attempt_failed(call_key, Some(rejection), cx);
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
        let service = self
            .spec
            .capacity
            .service()
            .sample(attempt.output_tokens, &mut self.capacity_rng);
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

    fn on_attempt_finished(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = self
            .attempts
            .remove(attempt_key)
            .expect("one finish per attempt");
        self.metrics
            .attempt_billed(now, attempt.request, attempt.output_tokens);
        if let Some(next) = self
            .capacity
            .release(now, attempt.request, attempt.output_tokens)
        {
            self.start_service(next, cx);
        }
        if attempt.abandoned {
            return;
        }
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
        let call_key = attempt.call;
        let loop_key = self
            .calls
            .get(call_key)
            .expect("a live attempt's call")
            .loop_key;
        // A loop that already ended has no client left to notice the timeout.
        if self.loops.get(loop_key).is_some() {
            self.metrics.attempt_timed_out(cx.now());
        }
        self.attempt_failed(call_key, None, cx);
    }

    /// An attempt failed: rejected by capacity (`Some`) or timed out (`None`).
    fn attempt_failed(
        &mut self,
        call_key: Key,
        rejection: Option<Rejection>,
        cx: &mut Ctx<'_, Self>,
    ) {
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
        let outcome = match rejection {
            Some(Rejection::TooLarge) => Some(LoopOutcome::TooLarge),
            _ if call.attempts >= policy.max_attempts => Some(LoopOutcome::Exhausted),
            _ => None,
        };
        if let Some(outcome) = outcome {
            self.calls.remove(call_key);
            self.end_loop(loop_key, outcome, cx);
            return;
        }
        let retry_after = rejection.and_then(Rejection::retry_after);
        let delay = policy.retry_delay(
            call.attempts,
            retry_after,
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

    fn on_deadline(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        if self.loops.get(loop_key).is_some() {
            self.end_loop(loop_key, LoopOutcome::Deadline, cx);
        }
    }

    fn on_tool_finished(&mut self, loop_key: Key, cx: &mut Ctx<'_, Self>) {
        self.start_step(loop_key, cx);
    }
}

impl Model for AgentSystem<'_> {
    type Event = Event;

    fn rank(event: &Event) -> u8 {
        match event {
            Event::AttemptFinished(_) => 0,
            Event::AttemptTimedOut(_) => 1,
            Event::DeadlineReached(_) => 2,
            Event::SurgeChanged { .. } | Event::PhaseSwitched { .. } => 3,
            Event::UserReady { .. } | Event::LoopArrived { .. } => 4,
            Event::ToolFinished(_) => 5,
            Event::RetryDue(_) | Event::ThrottleReleased(_) => 6,
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
