//! Attempts: sent, admitted or refused by capacity, served, timed out,
//! and retried after a backoff or given up, failing their loop.

use super::{AgentSystem, AttemptRef, AttemptState, CallDone, CallRef, Event, RouterState};
use crate::engine::{Ctx, Key, SimDuration, SimTime};
use crate::model::capacity::admission::{Admission, Rejection, Request};
use crate::model::capacity::kind::Capacity;
use crate::model::capacity::pool::{FailureKind, Router};
use crate::model::capacity::prompt_cache::{Conversation, Prefix};
use crate::model::capacity::shared_limits::NestedLimits;
use crate::model::client::rate_limit::RateLimit;
use crate::model::fault::FaultEffect;
use crate::model::workload::agent_loop::LoopOutcome;
use rand::RngExt;

/// The stages on a call's way out that its next attempt has passed, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Passed {
    Nothing,
    /// The client's per-agent rate limit.
    RateLimit,
    /// The coordinated throttle's gate.
    Gate,
}

/// How one try of a call failed.
#[derive(Clone, Copy, Debug)]
pub(super) enum TryFailure {
    /// Capacity turned the attempt away.
    Refused(Rejection),
    TimedOut,
    /// Its batch expired before reaching it.
    Expired,
    /// The client failed it itself, without sending it.
    Local,
}

impl TryFailure {
    fn retry_after(self) -> Option<SimDuration> {
        match self {
            TryFailure::Refused(rejection) => rejection.retry_after(),
            _ => None,
        }
    }
}

impl AttemptState {
    /// This attempt, kept at `key`, and where its call and loop are.
    fn at(&self, key: Key) -> AttemptRef {
        AttemptRef {
            key,
            call: self.call.place(),
            owner: self.owner,
        }
    }
}

impl AgentSystem<'_> {
    /// Removes a waiting call whose loop has ended; says whether it is still live.
    pub(super) fn call_is_live(&mut self, call_key: Key) -> bool {
        let loop_key = self.calls.get(call_key).expect("a waiting call").loop_key;
        let live = self.loops.get(loop_key).is_some();
        if !live {
            self.calls.remove(call_key);
        }
        live
    }

    /// Sends the call's next attempt, through each of the client's stages
    /// it has not `passed` yet: the per-agent rate limit, the coordinated
    /// throttle's gate, then the client's own checks (circuit breaker,
    /// adaptive throttling) and the provider. A stage the model does not
    /// have costs one test.
    #[inline(always)]
    pub(super) fn send_attempt(&mut self, call_key: Key, passed: Passed, cx: &mut Ctx<'_, Self>) {
        let spec = self.spec;
        if passed < Passed::RateLimit
            && let Some(limit) = &spec.client.agent_rate_limit
            && self.rate_limited(limit, call_key, cx)
        {
            return;
        }
        if passed < Passed::Gate && self.resilience.gate.is_some() && !self.pass_gate(call_key, cx)
        {
            return;
        }
        if !self.resilience.admit(cx.now(), &mut self.client_rng) {
            self.rejected_locally(call_key, cx);
            return;
        }
        self.offer_attempt(call_key, cx);
    }

    /// Whether the client's per-agent rate limit `limit` holds the call back
    /// (it then waits for its release).
    fn rate_limited(&mut self, limit: &RateLimit, call_key: Key, cx: &mut Ctx<'_, Self>) -> bool {
        let now = cx.now();
        let loop_key = self
            .calls
            .get(call_key)
            .expect("caller checked the call")
            .loop_key;
        let lp = self.loops.get_mut(loop_key).expect("a live call's loop");
        let release = limit.release(now, &mut lp.throttle_tat);
        if release <= now {
            return false;
        }
        self.metrics.attempt_throttled(now);
        cx.schedule_at(
            release,
            Event::ThrottleReleased(CallRef::new(call_key, loop_key)),
        );
        true
    }

    pub(super) fn on_throttle_released(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        if self.call_is_live(call_key) {
            self.send_attempt(call_key, Passed::RateLimit, cx);
        }
    }

    /// The client failed the attempt itself, without sending it.
    fn rejected_locally(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let call = self.calls.get_mut(call_key).expect("a live call");
        call.attempts += 1;
        let charged = std::mem::take(&mut call.gate_charge);
        self.metrics
            .attempt_rejected_locally(now, call.attempts > 1);
        self.settle_gate_charge(now, charged, 0.0);
        self.attempt_failed(call_key, TryFailure::Local, cx);
    }

    /// Offers the call's next attempt to capacity.
    pub(super) fn offer_attempt(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let call = self
            .calls
            .get_mut(call_key)
            .expect("caller checked the call");
        call.attempts += 1;
        let is_retry = call.attempts > 1;
        let request = call.request;
        let router = call.router;
        let pool = match &self.spec.routers[router] {
            Router::Single(pool) => *pool,
            spread => route(
                spread,
                &mut self.routers[router],
                (&mut self.pools, &mut self.shared_limits),
                now,
                request,
            ),
        };
        // Whose conversation it continues, for a pool whose prompt cache
        // expires (the session's prefix and its class's shared part read
        // or written) and for a self-hosted replica's prefix cache.
        let ttl = self.cache_ttls.as_ref().and_then(|ttls| ttls[pool]);
        let conversation = (ttl.is_some() || self.hosted).then(|| {
            let lp = self.loops.get(call.loop_key).expect("live call");
            Conversation {
                session: lp.session(call.loop_key),
                class: lp.class,
                shared: call.shared_input,
            }
        });
        let cached = ttl.zip(conversation).map(|(ttl, conversation)| {
            let prefix = Prefix {
                conversation,
                pool,
                model: call.model,
            };
            (prefix, ttl)
        });
        let request = match cached {
            Some((prefix, _)) => self.prompt_caches.request(prefix, now, request),
            None => request,
        };
        let model = call.model;
        let attempt = self.attempts.insert(AttemptState {
            call: call_key,
            owner: call.loop_key.place(),
            pool,
            model,
            sent_at: now,
            request,
            output_tokens: call.output_tokens,
            service_started_at: now,
            abandoned: false,
            timeout_scheduled: false,
            is_retry,
            quota_cost: std::mem::take(&mut call.quota_cost),
            gate_charge: std::mem::take(&mut call.gate_charge),
        });
        // A self-hosted replica's prefix cache keeps each session's blocks.
        let session = conversation.filter(|_| self.hosted);
        let admission = self.shared_limits.admit(
            pool,
            &mut self.pools[pool],
            &mut self.capacity_rng,
            (now, attempt, request, (call.output_tokens, session)),
        );
        if self.hosted {
            self.replica_events(pool, cx);
        }
        let refused = matches!(admission, Admission::Rejected(_));
        self.metrics
            .attempt_offered(now, pool, model, is_retry, refused);
        if let (Some((prefix, ttl)), false) = (cached, refused) {
            self.prompt_caches.used(prefix, ttl, now, request);
        }
        if let Admission::Rejected(rejection) = admission {
            self.refused(attempt, (call_key, router), rejection, cx);
            return;
        }
        self.load.attempt_sent(is_retry);
        match admission {
            Admission::Started => self.start_service(attempt, cx),
            // The client polls for a batch's results: no request timeout.
            Admission::Batched {
                batch,
                opened,
                full,
            } => self.batched(pool, batch, opened, full, cx),
            _ => {
                if let Some(timeout) = self.spec.client.timeout {
                    let state = self.attempts.get_mut(attempt).expect("just inserted");
                    state.timeout_scheduled = true;
                    let at = state.at(attempt);
                    cx.schedule_in(timeout, Event::AttemptTimedOut(at));
                }
            }
        }
    }

    /// Capacity refused the attempt at `attempt_key`, of the call at
    /// `call_key` sent through `router`: the client counts the failure and
    /// retries or gives up.
    #[inline(never)]
    fn refused(
        &mut self,
        attempt_key: Key,
        (call_key, router): (Key, usize),
        rejection: Rejection,
        cx: &mut Ctx<'_, Self>,
    ) {
        let now = cx.now();
        let refused = *self.attempts.remove(attempt_key).expect("just inserted");
        let pool = refused.pool;
        self.settle_gate_charge(now, refused.gate_charge, 0.0);
        self.metrics
            .attempt_rejected(now, pool, refused.model, rejection);
        if let Some(kind) = FailureKind::of(rejection) {
            self.resilience.on_failure(now);
            self.pool_failed(router, pool, kind, now);
        }
        if let (Rejection::RateLimited { retry_after, .. }, Some(gate)) =
            (rejection, &mut self.resilience.gate)
        {
            gate.on_rate_limited(now, retry_after);
        }
        self.attempt_failed(call_key, TryFailure::Refused(rejection), cx);
    }

    #[inline(always)]
    pub(super) fn start_service(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = self
            .attempts
            .get_mut(attempt_key)
            .expect("attempt in capacity");
        attempt.service_started_at = now;
        let pool = attempt.pool;
        let mut service = self.spec.pools[pool]
            .capacity
            .service()
            .expect("batch calls start with their batch")
            .sample(
                attempt.request.uncached_input(),
                attempt.output_tokens,
                &mut self.capacity_rng,
            );
        let slowdown = self.pools[pool].latency_factor();
        if slowdown != 1.0 {
            service = SimDuration::from_secs_f64(service.as_secs_f64() * slowdown);
        }
        let finish = now + service;
        let at = attempt.at(attempt_key);
        cx.schedule_at(finish, Event::AttemptFinished(at));
        if let Some(timeout) = self.spec.client.timeout {
            let expiry = attempt.sent_at + timeout;
            if !attempt.timeout_scheduled && expiry < finish {
                attempt.timeout_scheduled = true;
                cx.schedule_at(expiry, Event::AttemptTimedOut(at));
            }
        }
    }

    // Inlined into both callers: the event loop's is the hottest path.
    #[inline(always)]
    pub(super) fn on_attempt_finished(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = *self
            .attempts
            .remove(attempt_key)
            .expect("one finish per attempt");
        let pool = attempt.pool;
        let prices = &self.spec.pools[pool].prices;
        let billed = attempt.request.billed(attempt.output_tokens);
        let long = prices.is_long(billed);
        self.metrics
            .attempt_billed(now, pool, attempt.model, (billed, long));
        if self.resilience.gate.is_some() {
            let cost = prices.call_usd(billed);
            self.settle_gate_charge(now, attempt.gate_charge, cost);
        }
        self.shared_limits
            .release(pool, now, attempt.request, attempt.output_tokens);
        if let Some(next) = self.pools[pool].release(now, attempt.request, attempt.output_tokens) {
            self.start_service(next, cx);
        }
        if attempt.abandoned {
            return;
        }
        self.load.attempt_settled(attempt.is_retry);
        self.resilience.on_success(now, attempt.quota_cost);
        let call = self
            .calls
            .remove(attempt.call)
            .expect("a live attempt's call");
        let (loop_key, wait) = (
            call.loop_key,
            attempt.service_started_at.since(call.first_sent_at),
        );
        self.call_done(loop_key, CallDone::Answered { wait }, cx);
    }

    pub(super) fn on_attempt_timed_out(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let Some(attempt) = self.attempts.get_mut(attempt_key) else {
            return; // finished first
        };
        attempt.abandoned = true;
        let (call_key, is_retry, pool) = (attempt.call, attempt.is_retry, attempt.pool);
        self.load.attempt_settled(is_retry);
        self.resilience.on_failure(cx.now());
        let call = self.calls.get(call_key).expect("a live attempt's call");
        // A loop that already ended has no client left to notice the timeout.
        if self.loops.get(call.loop_key).is_some() {
            let router = call.router;
            self.metrics.attempt_timed_out(cx.now(), pool);
            self.pool_failed(router, pool, FailureKind::Timeout, cx.now());
        }
        self.attempt_failed(call_key, TryFailure::TimedOut, cx);
    }

    /// A try failed: retry it after a backoff, or fail its loop.
    pub(super) fn attempt_failed(
        &mut self,
        call_key: Key,
        failure: TryFailure,
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
        let mut outcome = match failure {
            TryFailure::Refused(Rejection::TooLarge) if !policy.retry_too_large => {
                Some(LoopOutcome::TooLarge)
            }
            _ if call.attempts >= policy.max_attempts => Some(LoopOutcome::Exhausted),
            _ => None,
        };
        if outcome.is_none() {
            // The call itself is a request in progress, about to retry.
            let in_progress = self.load.with_retrying_call();
            match self
                .resilience
                .allow_retry(matches!(failure, TryFailure::TimedOut), in_progress)
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
            self.call_done(loop_key, CallDone::Failed(outcome), cx);
            return;
        }
        let delay = policy.retry_delay(
            call.attempts,
            failure.retry_after(),
            &mut call.last_delay,
            &mut self.client_rng,
        );
        let lp = self.loops.get_mut(loop_key).expect("checked");
        self.load.backoff(lp, true);
        cx.schedule_in(delay, Event::BackoffEnded(CallRef::new(call_key, loop_key)));
    }

    pub(super) fn on_backoff_ended(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) {
        let loop_key = self
            .calls
            .get(call_key)
            .expect("a backing-off call")
            .loop_key;
        let Some(lp) = self.loops.get_mut(loop_key) else {
            self.calls.remove(call_key); // the loop ended while this call waited
            return;
        };
        self.load.backoff(lp, false);
        self.send_attempt(call_key, Passed::Nothing, cx);
    }

    /// A fault began or ended: capacity takes on the faults active now.
    pub(super) fn on_fault_changed(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        for pool in 0..self.pools.len() {
            let effect = FaultEffect::at(&self.spec.faults, now, pool);
            for attempt in self.pools[pool].set_faults(now, effect) {
                self.start_service(attempt, cx);
            }
            self.replica_events(pool, cx);
        }
    }
}

/// The pool `router` (in state `state`) sends an attempt asking `request` to
/// at `now`, a spillover's first that its own limits and the shared limits
/// over it would admit (kept out of line: a single pool is picked by the
/// caller).
#[inline(never)]
fn route(
    router: &Router,
    state: &mut RouterState,
    (pools, limits): (&mut [Capacity], &mut NestedLimits),
    now: SimTime,
    request: Request,
) -> usize {
    match router {
        Router::Single(pool) => *pool,
        Router::Spillover { order, queue_up_to } => {
            let (last, rest) = order.split_last().expect("a router has pools");
            rest.iter()
                .zip(queue_up_to)
                .find(|&(&p, &up_to)| {
                    pools[p].can_take_now(now, request, up_to)
                        && limits.would_admit(p, now, request)
                })
                .map_or(*last, |(&p, _)| p)
        }
        Router::Failover(failover) => state.failover.pick(failover, now),
        Router::Weighted { pools, shares } => {
            let mut u = state.rng.random::<f64>();
            let (last, rest) = pools.split_last().expect("a router has pools");
            for (&pool, &share) in rest.iter().zip(shares) {
                if u < share {
                    return pool;
                }
                u -= share;
            }
            *last
        }
    }
}

impl AgentSystem<'_> {
    /// An attempt that router `router` sent to `pool` failed as `kind`.
    pub(super) fn pool_failed(
        &mut self,
        router: usize,
        pool: usize,
        kind: FailureKind,
        now: SimTime,
    ) {
        if let Router::Failover(failover) = &self.spec.routers[router]
            && self.routers[router]
                .failover
                .failed(failover, pool, kind, now)
        {
            self.metrics.cool_down_started(now, pool);
        }
    }
}
