//! Self-hosted replicas: inference servers with continuous batching behind
//! one queue, optionally autoscaled, with cold starts.
//!
//! Each replica serves up to `max_sequences` sequences at once. A sequence
//! is admitted when its KV-cache reservation (its input plus its
//! `max_tokens`, as TGI's router plans a batch) fits the replica's budget.
//! It is first prefilled: its uncached input at `prefill_tokens_per_s`,
//! one prefill at a time, decoding paused meanwhile (prefill-first
//! scheduling); the prefill produces its first token. Then it decodes with
//! every other decoding sequence: an iteration makes one token for each,
//! and lasts `batch / tokens_per_s(batch)`, so per-sequence speed falls
//! and aggregate tokens/s rises as the batch grows.
//!
//! Decoding is followed in virtual time: every decoding sequence of a
//! replica advances at the same rate, so the replica keeps one clock of
//! tokens made per sequence (`v`), and a sequence is done when `v` reaches
//! its finish mark. Only the replica's next event is scheduled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::capacity::{Admission, Rejection, Request};
use super::distribution::DurationDist;
use crate::engine::{Key, SimDuration, SimTime, Stream, TICKS_PER_SECOND};

/// Aggregate decode speed against the number of sequences decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum DecodeSpeed {
    /// Measured points: (batch, aggregate output tokens/s), batches strictly
    /// increasing from 1; linear between points, flat past the last.
    Table(Vec<(f64, f64)>),
    /// An iteration takes `base_s + per_sequence_s × batch`.
    Linear { base_s: f64, per_sequence_s: f64 },
}

impl DecodeSpeed {
    /// Seconds one decode iteration takes with `batch` sequences.
    pub fn iteration_s(&self, batch: u32) -> f64 {
        let b = f64::from(batch.max(1));
        match self {
            DecodeSpeed::Linear {
                base_s,
                per_sequence_s,
            } => base_s + per_sequence_s * b,
            DecodeSpeed::Table(points) => {
                let tokens_per_s = match points.iter().position(|&(pb, _)| pb >= b) {
                    Some(0) => points[0].1,
                    Some(i) => {
                        let (b0, t0) = points[i - 1];
                        let (b1, t1) = points[i];
                        t0 + (t1 - t0) * (b - b0) / (b1 - b0)
                    }
                    None => points[points.len() - 1].1,
                };
                b / tokens_per_s
            }
        }
    }
}

/// Which warm replica with room takes the queue's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The one with the fewest sequences (the lowest index on a tie).
    LeastLoaded,
    /// The next in turn after the last one chosen.
    RoundRobin,
}

/// What the autoscaler watches, per replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMetric {
    /// Sequences waiting in the queue.
    Queue,
    /// Sequences waiting or being served.
    InFlight,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Autoscale {
    pub metric: ScaleMetric,
    /// The metric's value per replica the autoscaler aims at.
    pub target: f64,
    /// How often it decides.
    pub interval: SimDuration,
    /// The metric is averaged over the samples of this long.
    pub window: SimDuration,
    /// How long the fleet must be larger than it needs before the excess
    /// replicas are drained: they take no new sequences and stop once
    /// their last one is done (Kubernetes' scale-down stabilization window).
    pub scale_down_after: SimDuration,
}

#[derive(Clone, Debug)]
pub struct SelfHostedSpec {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Replicas warm at time zero.
    pub initial_replicas: u32,
    pub max_sequences: u32,
    pub kv_cache_tokens: u64,
    pub prefill_tokens_per_s: f64,
    pub decode: DecodeSpeed,
    pub routing: Routing,
    pub queue_limit: Option<u32>,
    pub queue_full_retry_after: Option<SimDuration>,
    pub autoscale: Option<Autoscale>,
    /// Model load time of a replica started by the autoscaler.
    pub cold_start: Option<DurationDist>,
}

impl SelfHostedSpec {
    /// What a call holds of a replica's KV cache at most.
    pub fn reservation(request: Request) -> u64 {
        u64::from(request.input_tokens) + u64::from(request.max_output_tokens)
    }
}

/// A call on its way through the pool.
#[derive(Clone, Copy, Debug)]
struct Sequence {
    attempt: Key,
    input: u32,
    uncached: u32,
    output: u32,
    reserved: u64,
    arrived: SimTime,
    /// It waited for a replica that was still loading when it arrived.
    cold: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReplicaState {
    Stopped,
    Starting,
    Warm,
}

/// A decoding sequence, ordered by its finish mark (ties by admission).
#[derive(Clone, Copy, Debug)]
struct Decoding {
    finish: f64,
    order: u64,
    attempt: Key,
    input: u32,
    reserved: u64,
    start_v: f64,
}

impl PartialEq for Decoding {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Decoding {}
impl PartialOrd for Decoding {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Decoding {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.finish
            .total_cmp(&other.finish)
            .then(self.order.cmp(&other.order))
    }
}

/// Bytes one replica holds before its sequences.
pub const REPLICA_BYTES: usize = size_of::<Replica>();

struct Replica {
    state: ReplicaState,
    /// Started by the autoscaler (so a sequence waiting for it waited on a
    /// cold start), and when it is or was warm.
    cold_started: bool,
    ready_at: SimTime,
    /// Waiting for their prefill; the head prefilling since `prefill_since`.
    prefill: VecDeque<Sequence>,
    prefill_since: SimTime,
    decoding: BinaryHeap<Reverse<Decoding>>,
    /// Tokens made per decoding sequence since the replica started, as of `v_at`.
    v: f64,
    v_at: SimTime,
    /// Sums over decoding sequences, for the KV cache they hold.
    decoding_input: u64,
    decoding_start_v: f64,
    kv_reserved: u64,
    /// Scaled down: it takes no new sequences and stops when empty.
    draining: bool,
    /// Its pending wake-up's number: older ones are stale.
    generation: u32,
    /// A capacity drop holds it: it takes nothing new.
    held: bool,
}

impl Replica {
    fn new(state: ReplicaState, now: SimTime, ready_at: SimTime, cold_started: bool) -> Self {
        Replica {
            state,
            cold_started,
            ready_at,
            prefill: VecDeque::new(),
            prefill_since: now,
            decoding: BinaryHeap::new(),
            v: 0.0,
            v_at: now,
            decoding_input: 0,
            decoding_start_v: 0.0,
            kv_reserved: 0,
            draining: false,
            generation: 0,
            held: false,
        }
    }

    fn sequences(&self) -> u32 {
        (self.prefill.len() + self.decoding.len()) as u32
    }

    fn is_idle(&self) -> bool {
        self.prefill.is_empty() && self.decoding.is_empty()
    }

    fn is_alive(&self) -> bool {
        self.state != ReplicaState::Stopped
    }

    /// KV-cache tokens held: inputs of sequences past prefill plus every
    /// token they made.
    fn kv_held(&self) -> f64 {
        let n = self.decoding.len() as f64;
        self.decoding_input as f64 + n * (1.0 + self.v) - self.decoding_start_v
    }
}

/// What a replica's wake-up did.
#[derive(Debug, Default, PartialEq)]
pub struct Woken {
    /// Attempts whose first token came (their prefill ended), and whether
    /// each waited on a cold start.
    pub first_tokens: Vec<(Key, bool)>,
    /// Attempts done, in the order they finished.
    pub finished: Vec<Key>,
}

/// A wake-up to schedule: replica `replica`, at `at`, numbered `generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub replica: u16,
    pub at: SimTime,
    pub generation: u32,
}

/// A pool's figures over the measured window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaStats {
    /// Seconds spent decoding at each batch size, summed over replicas.
    pub batch_seconds: Vec<f64>,
    /// KV-cache token-seconds held, and offered by warm replicas.
    pub kv_held: f64,
    pub kv_offered: f64,
    pub cold_starts: u64,
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
            .map(|_| Replica::new(ReplicaState::Warm, SimTime::ZERO, SimTime::ZERO, false))
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

    /// Decode tokens per sequence per second of replica `i` now (0 while
    /// it prefills or has nothing to decode).
    fn rate(&self, i: usize) -> f64 {
        let r = &self.replicas[i];
        if r.state != ReplicaState::Warm || !r.prefill.is_empty() || r.decoding.is_empty() {
            0.0
        } else {
            1.0 / (self.spec.decode.iteration_s(r.decoding.len() as u32) * self.slowdown)
        }
    }

    /// Brings replica `i`'s decode clock and statistics to `now`.
    fn advance(&mut self, i: usize, now: SimTime) {
        let rate = self.rate(i);
        let measured = self.measured_s(self.replicas[i].v_at, now);
        let r = &mut self.replicas[i];
        let before = r.kv_held();
        if rate > 0.0 {
            r.v += now.since(r.v_at).as_secs_f64() * rate;
            self.stats.batch_seconds[r.decoding.len()] += measured;
        }
        r.v_at = now;
        // Held tokens grow linearly while decoding: the mean of the ends.
        self.stats.kv_held += (before + r.kv_held()) / 2.0 * measured;
    }

    /// Queues a call; refused as too large when no replica's KV cache could
    /// ever hold it, or as a full queue past `queue_limit`.
    pub fn offer(
        &mut self,
        now: SimTime,
        attempt: Key,
        request: Request,
        output: u32,
    ) -> Admission {
        let reserved = SelfHostedSpec::reservation(request);
        if reserved > self.spec.kv_cache_tokens {
            return Admission::Rejected(Rejection::TooLarge);
        }
        if self
            .spec
            .queue_limit
            .is_some_and(|limit| self.queue.len() >= limit as usize)
        {
            return Admission::Rejected(Rejection::QueueFull {
                retry_after: self.spec.queue_full_retry_after,
            });
        }
        self.queue.push_back(Sequence {
            attempt,
            input: request.input_tokens,
            uncached: request.uncached_input(),
            output,
            reserved,
            arrived: now,
            cold: false,
        });
        self.dispatch(now);
        Admission::Queued
    }

    /// Whether a call would go to a replica at once (for a spillover router).
    pub fn has_room(&self, request: Request) -> bool {
        self.queue.is_empty()
            && self
                .replica_for(SelfHostedSpec::reservation(request))
                .is_some()
    }

    /// The replica the routing rule gives a sequence reserving `reserved`.
    fn replica_for(&self, reserved: u64) -> Option<usize> {
        let fits = |i: usize| {
            let r = &self.replicas[i];
            r.state == ReplicaState::Warm
                && !r.held
                && !r.draining
                && r.sequences() < self.spec.max_sequences
                && r.kv_reserved + reserved <= self.spec.kv_cache_tokens
        };
        let n = self.replicas.len();
        match self.spec.routing {
            Routing::LeastLoaded => (0..n)
                .filter(|&i| fits(i))
                .min_by_key(|&i| (self.replicas[i].sequences(), i)),
            Routing::RoundRobin => (0..n).map(|k| (self.next_turn + k) % n).find(|&i| fits(i)),
        }
    }

    /// Sends the queue's head to a replica while one has room (FIFO: a head
    /// that fits nowhere waits, and so does everything behind it).
    fn dispatch(&mut self, now: SimTime) {
        while let Some(head) = self.queue.front() {
            let Some(i) = self.replica_for(head.reserved) else {
                return;
            };
            let mut seq = self.queue.pop_front().expect("a head");
            self.next_turn = (i + 1) % self.replicas.len();
            self.advance(i, now);
            let r = &mut self.replicas[i];
            seq.cold = r.cold_started && seq.arrived < r.ready_at;
            r.kv_reserved += seq.reserved;
            r.prefill.push_back(seq);
            if r.prefill.len() == 1 {
                r.prefill_since = now;
                self.started.push(seq.attempt);
            }
            self.reschedule(i, now);
        }
    }

    /// Works out replica `i`'s next event and asks for a wake-up then.
    fn reschedule(&mut self, i: usize, now: SimTime) {
        let rate = self.rate(i);
        let r = &mut self.replicas[i];
        r.generation = r.generation.wrapping_add(1);
        let at = match r.state {
            ReplicaState::Stopped => return,
            ReplicaState::Starting => r.ready_at,
            ReplicaState::Warm => {
                if let Some(head) = r.prefill.front() {
                    r.prefill_since
                        + SimDuration::from_secs_f64(
                            f64::from(head.uncached) / self.spec.prefill_tokens_per_s
                                * self.slowdown,
                        )
                } else if let Some(Reverse(first)) = r.decoding.peek() {
                    // Rounded up to a whole tick, so the clock has reached
                    // the mark when it wakes.
                    let ticks = ((first.finish - r.v) / rate * TICKS_PER_SECOND as f64).ceil();
                    now + SimDuration::from_ticks((ticks.max(0.0) as u64).max(1))
                } else {
                    return;
                }
            }
        };
        self.wakes.push(Wake {
            replica: i as u16,
            at: at.max(now),
            generation: r.generation,
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
        match r.state {
            ReplicaState::Stopped => return woken,
            ReplicaState::Starting => {
                r.state = ReplicaState::Warm;
            }
            ReplicaState::Warm if r.prefill.is_empty() => {
                // Every sequence whose mark the clock reached is done (a
                // hair of rounding allowed).
                while let Some(&Reverse(d)) = r.decoding.peek() {
                    if d.finish > r.v + 1e-6 {
                        break;
                    }
                    r.decoding.pop();
                    r.kv_reserved -= d.reserved;
                    r.decoding_input -= u64::from(d.input);
                    r.decoding_start_v -= d.start_v;
                    woken.finished.push(d.attempt);
                }
            }
            ReplicaState::Warm => {
                let seq = r.prefill.pop_front().expect("a prefill");
                woken.first_tokens.push((seq.attempt, seq.cold));
                if seq.output <= 1 {
                    r.kv_reserved -= seq.reserved;
                    woken.finished.push(seq.attempt);
                } else {
                    self.admitted += 1;
                    r.decoding.push(Reverse(Decoding {
                        finish: r.v + f64::from(seq.output - 1),
                        order: self.admitted,
                        attempt: seq.attempt,
                        input: seq.input,
                        reserved: seq.reserved,
                        start_v: r.v,
                    }));
                    r.decoding_input += u64::from(seq.input);
                    r.decoding_start_v += r.v;
                }
                if let Some(next) = r.prefill.front() {
                    r.prefill_since = now;
                    self.started.push(next.attempt);
                }
            }
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

    /// Sequences on replicas (prefilling or decoding).
    pub fn in_flight(&self) -> u32 {
        self.replicas.iter().map(Replica::sequences).sum()
    }

    pub fn queued(&self) -> u32 {
        self.queue.len() as u32
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
        let waiting = self.queue.len() as f64;
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
        let fresh = Replica::new(ReplicaState::Starting, now, now + load, true);
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
mod tests {
    use std::collections::BTreeMap;

    use rand::RngExt;

    use super::*;
    use crate::engine::{RandomStreams, Slab};
    use crate::model::distribution::Dist;

    fn secs(s: f64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs_f64(s)
    }

    fn spec(replicas: u32, max_sequences: u32, kv: u64) -> SelfHostedSpec {
        SelfHostedSpec {
            min_replicas: replicas,
            max_replicas: replicas,
            initial_replicas: replicas,
            max_sequences,
            kv_cache_tokens: kv,
            prefill_tokens_per_s: 10_000.0,
            decode: DecodeSpeed::Table(vec![(1.0, 50.0), (8.0, 240.0), (32.0, 480.0)]),
            routing: Routing::LeastLoaded,
            queue_limit: None,
            queue_full_retry_after: None,
            autoscale: None,
            cold_start: None,
        }
    }

    fn request(input: u32, max_output: u32) -> Request {
        Request {
            input_tokens: input,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            max_output_tokens: max_output,
        }
    }

    /// Checks what must hold of every replica at every instant.
    fn check(fleet: &SelfHosted) {
        for r in &fleet.replicas {
            assert!(
                r.kv_reserved <= fleet.spec.kv_cache_tokens,
                "KV over budget"
            );
            assert!(
                r.kv_held() <= r.kv_reserved as f64 + 1e-6,
                "held beyond reserved"
            );
            assert!(r.sequences() <= fleet.spec.max_sequences);
            assert!(r.state == ReplicaState::Warm || r.is_idle());
        }
    }

    /// Runs `fleet` through `arrivals` (time, request, output tokens) and
    /// every wake-up it asks for (wake-ups first at one instant, as the
    /// model orders them), checking it after every step, until it is
    /// empty. Returns each attempt's first-token and finish times.
    fn drive(
        fleet: &mut SelfHosted,
        arrivals: &[(SimTime, Request, u32)],
    ) -> BTreeMap<Key, (SimTime, SimTime)> {
        let mut keys = Slab::new();
        let mut wakes: Vec<Wake> = Vec::new();
        let mut times = BTreeMap::new();
        let mut first = BTreeMap::new();
        let mut next = 0;
        loop {
            wakes.extend(fleet.take_wakes());
            fleet.take_started().for_each(drop);
            let due_wake = wakes.iter().map(|w| w.at).min();
            let due_arrival = arrivals.get(next).map(|a| a.0);
            match (due_wake, due_arrival) {
                (Some(w), a) if a.is_none_or(|a| w <= a) => {
                    let i = wakes.iter().position(|x| x.at == w).unwrap();
                    let wake = wakes.swap_remove(i);
                    let woken = fleet.wake(wake.at, wake.replica, wake.generation);
                    for (key, _) in woken.first_tokens {
                        first.insert(key, wake.at);
                    }
                    for key in woken.finished {
                        times.insert(key, (first[&key], wake.at));
                    }
                }
                (_, Some(at)) => {
                    let (_, req, output) = arrivals[next];
                    next += 1;
                    let key = keys.insert(());
                    assert_eq!(fleet.offer(at, key, req, output), Admission::Queued);
                }
                _ => break,
            }
            check(fleet);
        }
        assert_eq!((fleet.in_flight(), fleet.queued()), (0, 0), "drained");
        times
    }

    /// Random calls into two small replicas: the KV budget and the batch
    /// limit hold at every step, every call finishes, and each takes at
    /// least its prefill plus its decoding alone at full speed.
    #[test]
    fn the_kv_budget_and_batch_limit_hold_and_everything_finishes() {
        let mut rng = RandomStreams::new(3).stream("t");
        let mut t = 0.0;
        let arrivals: Vec<_> = (0..400)
            .map(|_| {
                t += rng.random::<f64>() * 0.5;
                let input = 100 + (rng.random::<f64>() * 3000.0) as u32;
                let output = 1 + (rng.random::<f64>() * 300.0) as u32;
                (secs(t), request(input, 400), output)
            })
            .collect();
        let mut fleet = SelfHosted::new(&spec(2, 8, 12_000), SimTime::ZERO);
        let times = drive(&mut fleet, &arrivals);
        assert_eq!(times.len(), arrivals.len());
        let fastest_token_s = DecodeSpeed::Table(vec![(1.0, 50.0)]).iteration_s(1);
        for ((_, (first, done)), (at, req, output)) in times.iter().zip(&arrivals) {
            let prefill = f64::from(req.input_tokens) / 10_000.0;
            assert!(first.since(*at).as_secs_f64() >= prefill - 1e-6);
            let decode = f64::from(output - 1) * fastest_token_s;
            assert!(done.since(*first).as_secs_f64() >= decode - 1e-3);
        }
    }

    /// One sequence alone decodes at the batch-of-one speed: prefill, then
    /// (output - 1) iterations of 1/50 s.
    #[test]
    fn a_lone_sequence_takes_its_prefill_and_its_iterations() {
        let mut fleet = SelfHosted::new(&spec(1, 8, 100_000), SimTime::ZERO);
        let times = drive(&mut fleet, &[(secs(1.0), request(2000, 400), 101)]);
        let (first, done) = times.values().next().unwrap();
        assert_eq!(*first, secs(1.2));
        assert!((done.since(*first).as_secs_f64() - 100.0 / 50.0).abs() < 1e-5);
    }

    /// Aggregate decode speed rises with the batch: the same 64 calls of
    /// 200 tokens, all queued at once, finish sooner with more sequences
    /// per replica, until the KV budget admits no more at once.
    #[test]
    fn throughput_rises_with_the_batch_until_the_kv_budget_binds() {
        let makespan = |max_sequences: u32, kv: u64| {
            let arrivals: Vec<_> = (0..64)
                .map(|_| (secs(0.0), request(500, 500), 200))
                .collect();
            let mut fleet = SelfHosted::new(&spec(1, max_sequences, kv), SimTime::ZERO);
            let times = drive(&mut fleet, &arrivals);
            times.values().map(|t| t.1).max().unwrap().as_secs_f64()
        };
        let spans: Vec<f64> = [1, 2, 4, 8, 16, 32]
            .map(|b| makespan(b, 1_000_000))
            .to_vec();
        assert!(spans.windows(2).all(|w| w[1] < w[0]), "{spans:?}");
        // A budget of 8 reservations of 1,000 tokens caps the batch at 8.
        assert_eq!(makespan(32, 8_000), makespan(8, 8_000));
        assert!(makespan(32, 8_000) > makespan(32, 1_000_000));
    }

    fn autoscaled(cold_start_s: f64) -> SelfHostedSpec {
        SelfHostedSpec {
            min_replicas: 1,
            max_replicas: 3,
            initial_replicas: 1,
            autoscale: Some(Autoscale {
                metric: ScaleMetric::Queue,
                target: 1.0,
                interval: SimDuration::from_secs(10),
                window: SimDuration::from_secs(10),
                scale_down_after: SimDuration::from_secs(60),
            }),
            cold_start: Some(DurationDist::new(Dist::constant(cold_start_s).unwrap())),
            ..spec(1, 1, 100_000)
        }
    }

    /// A queue makes the autoscaler start replicas; each serves exactly its
    /// cold-start draw after it was started, and what waited for it is cold.
    #[test]
    fn a_cold_start_delays_service_by_exactly_its_draw() {
        let mut keys = Slab::new();
        let mut rng = RandomStreams::new(1).stream("t");
        let mut fleet = SelfHosted::new(&autoscaled(120.0), SimTime::ZERO);
        for _ in 0..4 {
            fleet.offer(secs(0.0), keys.insert(()), request(100, 100), 10_000);
        }
        fleet.take_started().for_each(drop);
        assert_eq!(fleet.queued(), 3);
        fleet.autoscale(secs(10.0), &mut rng);
        // As Kubernetes' autoscaler: ceil(1 replica × 3 queued per replica / target 1).
        assert_eq!(fleet.alive(), 3);
        let ready: Vec<Wake> = fleet.take_wakes().filter(|w| w.at == secs(130.0)).collect();
        assert_eq!(ready.len(), 2);
        for w in ready {
            let woken = fleet.wake(w.at, w.replica, w.generation);
            assert!(woken.finished.is_empty());
        }
        assert_eq!(fleet.take_started().count(), 2, "both start at 130 s");
        assert_eq!(fleet.queued(), 1);
        assert!(fleet.replicas[1..].iter().all(|r| r.prefill[0].cold));
        assert_eq!(fleet.stats(secs(130.0)).cold_starts, 2);
    }

    /// Scale-down waits `scale_down_after` of surplus, then drains the
    /// least loaded replicas: they take nothing new and stop when empty, so
    /// no sequence is ever dropped.
    #[test]
    fn scale_down_drains_replicas_and_never_drops_a_sequence() {
        let mut keys = Slab::new();
        let mut rng = RandomStreams::new(1).stream("t");
        let spec = SelfHostedSpec {
            initial_replicas: 3,
            ..autoscaled(30.0)
        };
        let mut fleet = SelfHosted::new(&spec, SimTime::ZERO);
        // Replica 0 (least loaded, lowest index) takes a long call.
        fleet.offer(secs(0.0), keys.insert(()), request(100, 100), 100_000);
        fleet.autoscale(secs(30.0), &mut rng);
        assert_eq!(fleet.alive(), 3, "no minute of surplus yet");
        fleet.autoscale(secs(90.0), &mut rng);
        assert_eq!(fleet.alive(), 1, "the two idle ones stop at once");
        assert_eq!(fleet.replicas[0].state, ReplicaState::Warm);
        assert_eq!(fleet.in_flight(), 1);
        fleet.autoscale(secs(600.0), &mut rng);
        assert_eq!(fleet.alive(), 1, "never below min_replicas");
        // A serving replica asked to drain finishes its sequence first.
        let mut fleet = SelfHosted::new(
            &SelfHostedSpec {
                min_replicas: 1,
                initial_replicas: 2,
                ..autoscaled(30.0)
            },
            SimTime::ZERO,
        );
        let arrivals: Vec<_> = (0..2)
            .map(|_| (secs(0.0), request(100, 100), 5_000))
            .collect();
        for (at, req, output) in &arrivals {
            fleet.offer(*at, keys.insert(()), *req, *output);
        }
        fleet.autoscale(secs(10.0), &mut rng);
        fleet.autoscale(secs(80.0), &mut rng);
        assert_eq!(fleet.alive(), 2, "both still serve");
        assert_eq!(fleet.replicas.iter().filter(|r| r.draining).count(), 1);
        assert_eq!(fleet.in_flight(), 2);
    }

    #[test]
    fn decode_speed_interpolates_between_measured_points() {
        let table = DecodeSpeed::Table(vec![(1.0, 50.0), (8.0, 240.0), (32.0, 480.0)]);
        assert!((table.iteration_s(1) - 1.0 / 50.0).abs() < 1e-12);
        // Halfway from 8 to 32: 360 tokens/s over 20 sequences.
        assert!((table.iteration_s(20) - 20.0 / 360.0).abs() < 1e-12);
        assert!((table.iteration_s(64) - 64.0 / 480.0).abs() < 1e-12);
        let linear = DecodeSpeed::Linear {
            base_s: 0.02,
            per_sequence_s: 0.001,
        };
        assert!((linear.iteration_s(10) - 0.03).abs() < 1e-12);
    }
}
