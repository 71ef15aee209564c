//! The population: closed users who think between loops, open arrivals
//! (Poisson or on/off), and surges that change either.

use super::{AgentSystem, Event, TraceFeed};
use crate::engine::Ctx;
use crate::engine::SimDuration;
use crate::model::capacity::prompt_cache::Session;
use crate::model::workload::agent_loop::Script;
use crate::model::workload::classes::{Arrivals, PendingGap, Population, UserState, exponential};
use crate::model::workload::session_stream::SessionStream;
use crate::model::workload::sessions::{RecordedRequest, SessionTrace};
use rand::RngExt;

impl AgentSystem<'_> {
    /// User `user` thinks: a whole think time after a loop, or when it
    /// `joins` (at the start, or as a surge or the profile adds it) the
    /// time left of a think in progress if the class joins steady.
    pub(super) fn think(&mut self, class: u16, user: u32, joins: bool, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let spec = self.spec;
        let Population::Closed {
            think_time,
            joining,
            ..
        } = &spec.classes[c].population
        else {
            unreachable!("only closed classes have users");
        };
        let rng = &mut self.streams[c].workload;
        let delay = match joining {
            Some(joining) if joins && rng.random::<f64>() >= joining.mid_loop => {
                SimDuration::from_secs_f64(joining.left.sample(rng))
            }
            _ => think_time.sample(rng),
        };
        self.classes[c].users[user as usize] = UserState::Thinking;
        cx.schedule_in(delay, Event::ThinkTimeEnded { class, user });
    }

    pub(super) fn on_think_time_ended(&mut self, class: u16, user: u32, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        if user >= state.target_users {
            state.users[user as usize] = UserState::Idle;
            return;
        }
        state.users[user as usize] = UserState::Looping;
        let script = self.resample(class, Some(user));
        self.start_loop(class, Some(user), script, cx);
    }

    pub(super) fn user_loop_ended(&mut self, class: u16, user: u32, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        if user < state.target_users {
            self.think(class, user, false, cx);
        } else {
            state.users[user as usize] = UserState::Idle;
        }
    }

    #[inline(always)]
    pub(super) fn schedule_arrival(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        if let Some(per_min) = self.poisson[c] {
            self.schedule_exponential(class, per_min, cx);
            return;
        }
        match &mut self.traces[c] {
            // The trace's next row, at its recorded time.
            Some(TraceFeed::Calls { reader, next }) => {
                match reader.next_record() {
                    Ok(Some(record)) => {
                        *next = Some(record);
                        let generation = self.classes[c].arrival_generation;
                        cx.schedule_at(
                            record.at.max(cx.now()),
                            Event::LoopArrived { class, generation },
                        );
                    }
                    Ok(None) => {}
                    Err(e) => self.trace_error = Some(e),
                }
                return;
            }
            // The next session to start, at its first row's time.
            Some(TraceFeed::Sessions(stream)) => {
                match stream.next_start() {
                    Ok(Some((session, at))) => {
                        let request = 0;
                        cx.schedule_at(
                            at.max(cx.now()),
                            Event::RequestDue {
                                class,
                                session,
                                request,
                            },
                        );
                    }
                    Ok(None) => {}
                    Err(e) => self.trace_error = Some(e),
                }
                return;
            }
            None => {}
        }
        let spec = self.spec;
        let Some(arrivals) = spec.classes[c].population.arrivals() else {
            return;
        };
        let state = &mut self.classes[c];
        let per_min = arrivals.per_min(state.on);
        let Arrivals::Recorded { gaps, block } = arrivals else {
            self.schedule_exponential(class, per_min, cx);
            return;
        };
        let (generation, multiplier) = (state.arrival_generation, state.multiplier);
        if per_min * multiplier <= 0.0 {
            return;
        }
        // A recorded gap, shortened as a surge or the profile raises the rate.
        let rng = &mut self.streams[c].workload;
        let gap = state.gaps.next_gap(gaps, *block, rng).as_secs_f64();
        state.pending_gap = Some(PendingGap {
            since: cx.now(),
            left_s: gap,
            speed: multiplier,
        });
        let delay = SimDuration::from_secs_f64(gap / multiplier);
        cx.schedule_in(delay, Event::LoopArrived { class, generation });
    }

    /// Schedules class `class`'s next arrival after an exponential gap, at
    /// `per_min` arrivals a minute times its surge multiplier (none while
    /// that is 0).
    #[inline(always)]
    fn schedule_exponential(&mut self, class: u16, per_min: f64, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let state = &self.classes[c];
        let per_min = per_min * state.multiplier;
        if per_min <= 0.0 {
            return;
        }
        let generation = state.arrival_generation;
        let delay = exponential(60.0 / per_min, &mut self.streams[c].workload);
        cx.schedule_in(delay, Event::LoopArrived { class, generation });
    }

    /// The arrival rate changed: the pending arrival is void. An
    /// exponential gap is drawn anew (it is memoryless); a recorded gap in
    /// progress goes on at the new speed, what is left of it as recorded
    /// shortened or lengthened, and held while the rate is 0.
    pub(super) fn rate_changed(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let state = &mut self.classes[usize::from(class)];
        state.arrival_generation = state.arrival_generation.wrapping_add(1);
        let Some(gap) = state.pending_gap else {
            self.schedule_arrival(class, cx);
            return;
        };
        let now = cx.now();
        let left_s = (gap.left_s - now.since(gap.since).as_secs_f64() * gap.speed).max(0.0);
        let speed = state.multiplier;
        state.pending_gap = Some(PendingGap {
            since: now,
            left_s,
            speed,
        });
        if speed > 0.0 {
            let generation = state.arrival_generation;
            cx.schedule_in(
                SimDuration::from_secs_f64(left_s / speed),
                Event::LoopArrived { class, generation },
            );
        }
    }

    pub(super) fn on_loop_arrived(&mut self, class: u16, generation: u32, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        if generation != self.classes[c].arrival_generation {
            return;
        }
        let script = match &mut self.traces[c] {
            _ if self.poisson[c].is_some() => None,
            Some(TraceFeed::Calls { next, .. }) => next.take().map(|r| Script::Call(r.tokens())),
            _ => self.resample(class, None),
        };
        self.start_loop(class, None, script, cx);
        self.schedule_arrival(class, cx);
    }

    pub(super) fn on_phase_switched(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let spec = self.spec;
        let Some(arrivals) = spec.classes[c].population.arrivals() else {
            return;
        };
        let on = !self.classes[c].on;
        self.classes[c].on = on;
        if let Some(length) = arrivals.phase_length(on, &mut self.streams[c].workload) {
            cx.schedule_in(length, Event::PhaseSwitched { class });
        }
        self.rate_changed(class, cx);
    }

    pub(super) fn on_surge_changed(&mut self, class: u16, cx: &mut Ctx<'_, Self>) {
        let c = usize::from(class);
        let model = self.spec;
        let spec = &model.classes[c];
        let multiplier = spec.multiplier(cx.now());
        self.classes[c].multiplier = multiplier;
        match spec.population {
            Population::Open(_) | Population::Resampled { .. } => self.rate_changed(class, cx),
            // A trace's rate is its recording (and `speed`): it takes no surges.
            Population::Trace(_) | Population::Sessions(_) => {}
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
                        self.think(class, user, true, cx);
                    }
                }
            }
        }
    }

    /// A recorded session's request is due: its loop starts (and, for a
    /// session's first request, the next session's start is scheduled).
    /// A streamed session (`session` is its slot) is one request.
    pub(super) fn on_request_due(
        &mut self,
        class: u16,
        session: u32,
        request: u32,
        cx: &mut Ctx<'_, Self>,
    ) {
        if let Population::Trace(_) = self.spec.classes[usize::from(class)].population {
            self.start_loop(class, None, Some(Script::Stream { slot: session }), cx);
            self.schedule_arrival(class, cx);
            return;
        }
        if request == 0 {
            self.schedule_session(class, session + 1, cx);
        }
        self.start_loop(class, None, Some(Script::Request { session, request }), cx);
    }

    /// The session stream of class `class`, a trace with a session column.
    pub(super) fn stream(&mut self, class: u16) -> &mut SessionStream {
        match &mut self.traces[usize::from(class)] {
            Some(TraceFeed::Sessions(stream)) => stream,
            _ => unreachable!("only a trace with a session column streams sessions"),
        }
    }

    /// Schedules the start of session `session` of class `class`, if there is one.
    pub(super) fn schedule_session(&mut self, class: u16, session: u32, cx: &mut Ctx<'_, Self>) {
        if let Some(s) = self.sessions(class).sessions.get(session as usize) {
            let request = 0;
            cx.schedule_at(
                s.start.max(cx.now()),
                Event::RequestDue {
                    class,
                    session,
                    request,
                },
            );
        }
    }

    /// A resampling class's next session: one of the recorded sessions
    /// drawn at random, from its first request, in a free slot (a closed
    /// population's `user` replays its sessions in its own); none for any
    /// other class.
    #[inline(always)]
    fn resample(&mut self, class: u16, user: Option<u32>) -> Option<Script> {
        let spec = self.spec;
        match &spec.classes[usize::from(class)].population {
            Population::Resampled { sessions, .. }
            | Population::Closed {
                sessions: Some(sessions),
                ..
            } => Some(self.resampled(class, user, sessions.sessions.len() as u32)),
            _ => None,
        }
    }

    /// [`Self::resample`] for a class that resamples from `sessions`
    /// recorded sessions.
    fn resampled(&mut self, class: u16, user: Option<u32>, sessions: u32) -> Script {
        let c = usize::from(class);
        let recorded = self.streams[c].workload.random_range(0..sessions);
        let state = &mut self.classes[c];
        let slot = match (user, state.free_slots.pop()) {
            (Some(user), _) => {
                if state.resampled.len() <= user as usize {
                    state.resampled.resize(user as usize + 1, 0);
                }
                state.resampled[user as usize] = recorded;
                user
            }
            (None, Some(slot)) => {
                state.resampled[slot as usize] = recorded;
                slot
            }
            (None, None) => {
                state.resampled.push(recorded);
                state.resampled.len() as u32 - 1
            }
        };
        Script::Request {
            session: slot,
            request: 0,
        }
    }

    /// A recorded request's loop ended: the user thinks, then sends the
    /// next. A resampled session's slot is freed after its last request
    /// (a closed population's user thinks until its next session), its
    /// prompt cache forgotten with it.
    pub(super) fn request_ended(
        &mut self,
        class: u16,
        session: u32,
        request: u32,
        cx: &mut Ctx<'_, Self>,
    ) {
        let c = usize::from(class);
        let (trace, recorded) = self.replayed(class, session);
        if let Some(next) = trace.sessions[recorded as usize]
            .requests
            .get(request as usize + 1)
        {
            let request = request + 1;
            cx.schedule_in(
                next.think_before,
                Event::RequestDue {
                    class,
                    session,
                    request,
                },
            );
        } else if self.resamples(class) {
            let spec = self.spec;
            match spec.classes[c].population {
                Population::Closed { .. } => self.user_loop_ended(class, session, cx),
                _ => self.classes[c].free_slots.push(session),
            }
            if self.cache_ttls.is_some() {
                self.prompt_caches.forget(
                    Session::Recorded { class, session },
                    self.spec.pools.len(),
                    self.spec.models.len(),
                );
            }
        }
    }
}

impl<'a> AgentSystem<'a> {
    /// Request `request` of recorded session `session` of class `class`
    /// (for a resampling class, of the session in slot `session`).
    pub(super) fn recorded(&self, class: u16, session: u32, request: u32) -> &'a RecordedRequest {
        let (trace, recorded) = self.replayed(class, session);
        trace.request(recorded, request)
    }

    /// The recorded request a loop of class `class` replays by `script`:
    /// a session's request, or a subagent one of them spawned.
    #[inline(always)]
    pub(super) fn scripted(
        &self,
        class: u16,
        script: Option<Script>,
    ) -> Option<&'a RecordedRequest> {
        match script? {
            Script::Request { session, request } => Some(self.recorded(class, session, request)),
            Script::Subagent {
                session, subagent, ..
            } => {
                let (trace, recorded) = self.replayed(class, session);
                Some(&trace.sessions[recorded as usize].subagents[subagent as usize])
            }
            Script::Call(_) | Script::Stream { .. } => None,
        }
    }

    /// The recorded sessions class `class` replays, and which of them
    /// its session `session` is.
    fn replayed(&self, class: u16, session: u32) -> (&'a SessionTrace, u32) {
        let c = usize::from(class);
        let recorded = if self.resamples(class) {
            self.classes[c].resampled[session as usize]
        } else {
            session
        };
        (self.sessions(class), recorded)
    }

    /// Whether class `class` draws its sessions from recorded ones.
    fn resamples(&self, class: u16) -> bool {
        matches!(
            self.spec.classes[usize::from(class)].population,
            Population::Resampled { .. }
                | Population::Closed {
                    sessions: Some(_),
                    ..
                }
        )
    }

    /// The recorded sessions class `class` replays, in order or resampled.
    fn sessions(&self, class: u16) -> &'a SessionTrace {
        let spec = self.spec;
        match &spec.classes[usize::from(class)].population {
            Population::Sessions(trace)
            | Population::Resampled {
                sessions: trace, ..
            }
            | Population::Closed {
                sessions: Some(trace),
                ..
            } => trace,
            _ => unreachable!("only session classes replay recorded sessions"),
        }
    }
}
