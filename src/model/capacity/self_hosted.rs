//! Self-hosted replicas: inference servers with continuous batching behind
//! one router, optionally autoscaled, with cold starts.
//!
//! A call goes to the open replica the routing rule picks; when none is
//! open (all loading, held or draining), it waits in the pool's queue.
//! Each replica schedules its sequences as its [`Scheduler`] says: in
//! steps, as vLLM's V1 engine does ([`stepped`], the default), or
//! reserving each call's whole KV cache at admission, as TGI's router
//! plans ([`clocked`]), in which case a call waits in the pool's queue
//! until a replica has room for its reservation.

use std::collections::VecDeque;

use crate::engine::random::derive_seed;
use crate::engine::{Key, SimDuration, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Rejection, Request};
use crate::model::capacity::prompt_cache::{Conversation, Session};

mod clocked;
mod held;
mod outcome;
mod prefix_cache;
mod replica;
mod sequence;
mod spec;
mod step_time;
mod stepped;

pub use outcome::{FleetLevel, ReplicaStats, Woken};
pub use replica::REPLICA_BYTES;
use replica::{Replica, ReplicaState, Work};
use sequence::Sequence;
pub use spec::{
    Autoscale, DecodeSpeed, Preemption, PrefillSpeed, PrefixCaching, Routing, ScaleMetric,
    Scheduler, SelfHostedSpec,
};

/// A wake-up to schedule: replica `replica`, at `at`, numbered `generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub replica: u16,
    pub at: SimTime,
    pub generation: u32,
    /// An idle vLLM replica starts a step: after every call that arrives
    /// at this instant, so calls sent together share it.
    pub starts_step: bool,
}

/// The run-time state of a self-hosted pool.
pub struct SelfHosted {
    spec: SelfHostedSpec,
    replicas: Vec<Replica>,
    queue: VecDeque<Sequence>,
    next_turn: usize,
    admitted: u64,
    slowdown: f64,
    /// Wake-ups the system has to schedule.
    wakes: Vec<Wake>,
    /// Attempts whose prefill began since last asked.
    started: Vec<Key>,
    /// The autoscaler's recent samples of its metric per replica.
    samples: VecDeque<f64>,
    /// Since when the autoscaler has wanted fewer replicas than it has.
    surplus_since: Option<SimTime>,
    /// Statistics from `measure_from` on, integrated up to `stats_at`.
    measure_from: SimTime,
    stats_at: SimTime,
    stats: ReplicaStats,
}

impl SelfHosted {
    /// A pool with its initial replicas warm; statistics count from `measure_from`.
    pub fn new(spec: &SelfHostedSpec, measure_from: SimTime) -> Self {
        let replicas = (0..spec.initial_replicas)
            .map(|_| {
                Replica::new(
                    spec,
                    ReplicaState::Warm,
                    SimTime::ZERO,
                    SimTime::ZERO,
                    false,
                )
            })
            .collect();
        SelfHosted {
            spec: spec.clone(),
            replicas,
            queue: VecDeque::new(),
            next_turn: 0,
            admitted: 0,
            slowdown: 1.0,
            wakes: Vec::new(),
            started: Vec::new(),
            samples: VecDeque::new(),
            surplus_since: None,
            measure_from,
            stats_at: SimTime::ZERO,
            stats: ReplicaStats {
                batch_seconds: vec![0.0; spec.max_sequences as usize + 1],
                ..ReplicaStats::default()
            },
        }
    }

    /// Seconds of `[from, to)` inside the measured window.
    fn measured_s(&self, from: SimTime, to: SimTime) -> f64 {
        let from = from.max(self.measure_from);
        if to > from {
            to.since(from).as_secs_f64()
        } else {
            0.0
        }
    }

    /// Brings the KV cache offered by warm replicas to `now`.
    fn integrate(&mut self, now: SimTime) {
        let dt = self.measured_s(self.stats_at, now);
        if dt > 0.0 {
            let warm = self
                .replicas
                .iter()
                .filter(|r| r.state == ReplicaState::Warm)
                .count() as f64;
            self.stats.kv_offered += warm * self.spec.kv_cache_tokens as f64 * dt;
        }
        self.stats_at = now;
    }

    /// Decode tokens per sequence per second of a reserving replica `i`.
    fn rate(&self, i: usize) -> f64 {
        let r = &self.replicas[i];
        match &r.work {
            Work::Clocked(c) => c.rate(&self.spec, self.slowdown, r.state == ReplicaState::Warm),
            Work::Stepped(_) => 0.0,
        }
    }

    /// Brings replica `i`'s clock and statistics to `now`.
    fn advance(&mut self, i: usize, now: SimTime) {
        let rate = self.rate(i);
        let since = match &self.replicas[i].work {
            Work::Clocked(c) => c.since(),
            Work::Stepped(s) => s.since(),
        };
        let measured = self.measured_s(since, now);
        match &mut self.replicas[i].work {
            Work::Clocked(c) => c.advance(now, rate, measured, &mut self.stats),
            Work::Stepped(s) => s.advance(now, measured, &mut self.stats),
        }
    }

    /// Routes a call; refused as too large when no replica's KV cache
    /// could ever hold its input and `max_tokens`, or as a full queue
    /// past `queue_limit` calls waiting.
    pub fn offer(
        &mut self,
        now: SimTime,
        attempt: Key,
        (request, output, conversation): (Request, u32, Option<Conversation>),
    ) -> Admission {
        let seq = Sequence {
            conversation,
            attempt,
            input: request.input_tokens,
            cached: request.cached_input_tokens,
            output,
            max_output: request.max_output_tokens,
            arrived: now,
            cold: false,
        };
        if !self.spec.could_hold(seq.reserved()) {
            return Admission::Rejected(Rejection::TooLarge);
        }
        if self
            .spec
            .queue_limit
            .is_some_and(|limit| self.queued() >= limit)
        {
            return Admission::Rejected(Rejection::QueueFull {
                retry_after: self.spec.queue_full_retry_after,
            });
        }
        self.queue.push_back(seq);
        self.dispatch(now);
        Admission::Queued
    }

    /// Whether a call would be served at once (for a spillover router).
    pub fn has_room(&self, request: Request) -> bool {
        let reserved = u64::from(request.input_tokens) + u64::from(request.max_output_tokens);
        self.queue.is_empty()
            && self
                .replica_for(reserved, None)
                .is_some_and(|i| match &self.replicas[i].work {
                    Work::Clocked(_) => true,
                    Work::Stepped(s) => s.has_room(&self.spec, request.input_tokens),
                })
    }

    /// The replica the routing rule gives a sequence reserving `reserved`
    /// and continuing `session`: an open one, and for a reserving replica
    /// one with room for it.
    fn replica_for(&self, reserved: u64, session: Option<Session>) -> Option<usize> {
        let fits = |i: usize| {
            let r = &self.replicas[i];
            r.open()
                && match &r.work {
                    Work::Clocked(c) => c.fits(&self.spec, reserved),
                    Work::Stepped(_) => true,
                }
        };
        let n = self.replicas.len();
        let least_loaded = || {
            (0..n)
                .filter(|&i| fits(i))
                .min_by_key(|&i| (self.replicas[i].sequences(), i))
        };
        match (self.spec.routing, session) {
            (Routing::LeastLoaded, _) | (Routing::Session, None) => least_loaded(),
            (Routing::RoundRobin, _) => (0..n).map(|k| (self.next_turn + k) % n).find(|&i| fits(i)),
            // Rendezvous hashing: the session's highest-scoring replica
            // among those that take it, so its calls meet its cached
            // prefix, and a replica started or stopped moves only its share.
            (Routing::Session, Some(session)) => {
                let id = session.id();
                (0..n)
                    .filter(|&i| fits(i))
                    .max_by_key(|&i| derive_seed(id, i as u64))
            }
        }
    }

    /// Sends the queue's head to a replica while one takes it (FIFO: a
    /// head that fits nowhere waits, and so does everything behind it).
    fn dispatch(&mut self, now: SimTime) {
        while let Some(head) = self.queue.front() {
            let Some(i) = self.replica_for(head.reserved(), head.session()) else {
                return;
            };
            let mut seq = self.queue.pop_front().expect("a head");
            self.next_turn = (i + 1) % self.replicas.len();
            self.advance(i, now);
            let r = &mut self.replicas[i];
            seq.cold = r.cold_started && seq.arrived < r.ready_at;
            match &mut r.work {
                Work::Clocked(c) => c.take(seq, now, &mut self.started),
                Work::Stepped(s) => {
                    s.take(seq);
                    // It waits for the end of the step in progress.
                    if s.stepping() && !s.interrupt(now, &self.spec) {
                        continue;
                    }
                }
            }
            self.reschedule(i, now);
        }
    }

    /// Works out replica `i`'s next event and asks for a wake-up then.
    fn reschedule(&mut self, i: usize, now: SimTime) {
        let rate = self.rate(i);
        let r = &mut self.replicas[i];
        r.generation = r.generation.wrapping_add(1);
        let starts_step =
            r.state == ReplicaState::Warm && matches!(&r.work, Work::Stepped(s) if !s.stepping());
        let at = match r.state {
            ReplicaState::Stopped => return,
            ReplicaState::Starting => r.ready_at,
            ReplicaState::Warm => {
                let next = match &r.work {
                    Work::Clocked(c) => c.next_at(now, rate, &self.spec, self.slowdown),
                    Work::Stepped(s) => s.next_at(now),
                };
                let Some(at) = next else {
                    return;
                };
                at
            }
        };
        self.wakes.push(Wake {
            replica: i as u16,
            at: at.max(now),
            generation: r.generation,
            starts_step,
        });
    }

    /// Replica `replica`'s wake-up numbered `generation` is due at `now`.
    pub fn wake(&mut self, now: SimTime, replica: u16, generation: u32) -> Woken {
        let i = usize::from(replica);
        let mut woken = Woken::default();
        if self.replicas[i].generation != generation {
            return woken;
        }
        self.integrate(now);
        self.advance(i, now);
        let r = &mut self.replicas[i];
        match (r.state, &mut r.work) {
            (ReplicaState::Stopped, _) => return woken,
            (ReplicaState::Starting, _) => r.state = ReplicaState::Warm,
            (ReplicaState::Warm, Work::Clocked(c)) => {
                c.wake(now, &mut self.admitted, &mut self.started, &mut woken);
            }
            (ReplicaState::Warm, Work::Stepped(s)) => s.wake(
                now,
                &self.spec,
                self.slowdown,
                (self.measure_from, &mut self.stats),
                &mut self.started,
                &mut woken,
            ),
        }
        if r.draining && r.is_idle() {
            r.state = ReplicaState::Stopped;
        }
        self.reschedule(i, now);
        self.dispatch(now);
        woken
    }

    /// Wake-ups to schedule since last asked.
    pub fn take_wakes(&mut self) -> std::vec::Drain<'_, Wake> {
        self.wakes.drain(..)
    }

    /// Attempts whose prefill began since last asked: their service starts.
    pub fn take_started(&mut self) -> std::vec::Drain<'_, Key> {
        self.started.drain(..)
    }

    /// Sequences replicas serve (prefilling or decoding).
    pub fn in_flight(&self) -> u32 {
        self.replicas.iter().map(Replica::in_service).sum()
    }

    /// Sequences waiting: in the pool's queue, or for a replica's next step.
    pub fn queued(&self) -> u32 {
        self.queue.len() as u32 + self.replicas.iter().map(Replica::waiting).sum::<u32>()
    }

    /// Its replicas and KV cache at `now`.
    pub fn level(&self, now: SimTime) -> FleetLevel {
        let mut warm = 0;
        let mut kv_held = 0.0;
        for (i, r) in self.replicas.iter().enumerate() {
            warm += u32::from(r.state == ReplicaState::Warm);
            kv_held += match &r.work {
                Work::Clocked(c) => c.kv_held_at(now, self.rate(i)),
                Work::Stepped(s) => s.kv_held() as f64,
            };
        }
        FleetLevel {
            alive: self.alive(),
            kv_held,
            kv_offered: f64::from(warm) * self.spec.kv_cache_tokens as f64,
        }
    }

    /// Replicas starting or warm.
    pub fn alive(&self) -> u32 {
        self.replicas.iter().filter(|r| r.is_alive()).count() as u32
    }

    /// Faults: prefill and decode take `slowdown` times longer, and only
    /// `factor` of the live replicas (at least one) take new sequences; the
    /// others finish what they hold.
    pub fn set_faults(&mut self, now: SimTime, slowdown: f64, factor: f64) {
        self.integrate(now);
        for i in 0..self.replicas.len() {
            self.advance(i, now);
        }
        self.slowdown = slowdown;
        for r in &mut self.replicas {
            if let Work::Stepped(s) = &mut r.work {
                s.interrupt(now, &self.spec);
            }
        }
        let alive = self.alive();
        let allowed = if factor == 1.0 {
            alive
        } else {
            ((f64::from(alive) * factor).round() as u32).max(1)
        };
        for (kept, r) in self
            .replicas
            .iter_mut()
            .filter(|r| r.is_alive())
            .enumerate()
        {
            r.held = kept as u32 >= allowed;
        }
        for i in 0..self.replicas.len() {
            self.reschedule(i, now);
        }
        self.dispatch(now);
    }

    /// The autoscaler's decision at `now`: samples its metric, then starts
    /// replicas (each warm after a cold-start draw) or stops idle ones.
    /// Returns when it decides next, if it autoscales.
    pub fn autoscale(&mut self, now: SimTime, rng: &mut Stream) -> Option<SimTime> {
        let scale = self.spec.autoscale.clone()?;
        self.integrate(now);
        // The fleet serving: replicas loading or warm, not draining.
        let serving = self
            .replicas
            .iter()
            .filter(|r| r.is_alive() && !r.draining)
            .count() as u32;
        let waiting = f64::from(self.queued());
        let value = match scale.metric {
            ScaleMetric::Queue => waiting,
            ScaleMetric::InFlight => waiting + f64::from(self.in_flight()),
        } / f64::from(serving.max(1));
        self.samples.push_back(value);
        let keep = (scale.window.ticks() / scale.interval.ticks()).max(1) as usize;
        while self.samples.len() > keep {
            self.samples.pop_front();
        }
        let mean = self.samples.iter().sum::<f64>() / self.samples.len() as f64;
        // As Kubernetes' horizontal autoscaler: replicas × metric / target.
        let desired = ((f64::from(serving.max(1)) * mean / scale.target).ceil() as u32)
            .clamp(self.spec.min_replicas, self.spec.max_replicas);
        if desired >= serving {
            self.surplus_since = None;
        }
        if desired > serving {
            let mut missing = desired - serving;
            // A draining replica is warm: take it back before starting one.
            for i in 0..self.replicas.len() {
                let r = &mut self.replicas[i];
                if missing > 0 && r.is_alive() && r.draining {
                    r.draining = false;
                    missing -= 1;
                }
            }
            for _ in 0..missing {
                self.start_replica(now, rng);
            }
            self.dispatch(now);
        } else if desired < serving {
            let since = *self.surplus_since.get_or_insert(now);
            if now.since(since) >= scale.scale_down_after {
                self.surplus_since = None;
                for _ in desired..serving {
                    // The least loaded warm replica (the last on a tie) drains.
                    let Some(i) = (0..self.replicas.len())
                        .rev()
                        .filter(|&i| {
                            let r = &self.replicas[i];
                            r.state == ReplicaState::Warm && !r.draining
                        })
                        .min_by_key(|&i| self.replicas[i].sequences())
                    else {
                        break;
                    };
                    self.advance(i, now);
                    let r = &mut self.replicas[i];
                    r.draining = true;
                    if r.is_idle() {
                        r.state = ReplicaState::Stopped;
                        r.generation = r.generation.wrapping_add(1);
                    }
                }
            }
        }
        Some(now + scale.interval)
    }

    fn start_replica(&mut self, now: SimTime, rng: &mut Stream) {
        let load = self
            .spec
            .cold_start
            .as_ref()
            .map_or(SimDuration::ZERO, |d| d.sample(rng));
        if now >= self.measure_from {
            self.stats.cold_starts += 1;
        }
        let fresh = Replica::new(&self.spec, ReplicaState::Starting, now, now + load, true);
        let i = match self
            .replicas
            .iter()
            .position(|r| r.state == ReplicaState::Stopped)
        {
            Some(i) => {
                let generation = self.replicas[i].generation;
                self.replicas[i] = Replica {
                    generation,
                    ..fresh
                };
                i
            }
            None => {
                self.replicas.push(fresh);
                self.replicas.len() - 1
            }
        };
        self.reschedule(i, now);
    }

    /// The figures of the measured window, integrated up to `now`.
    pub fn stats(&mut self, now: SimTime) -> &ReplicaStats {
        self.integrate(now);
        for i in 0..self.replicas.len() {
            self.advance(i, now);
        }
        &self.stats
    }
}

#[cfg(test)]
mod tests;
