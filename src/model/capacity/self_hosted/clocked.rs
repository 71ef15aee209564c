//! A replica that reserves each call's whole KV cache when it admits it
//! (as TGI's router plans a batch): one prefill at a time, whole, with
//! decoding paused, then decoding with every other decoding sequence.
//!
//! Decoding is followed in virtual time: every decoding sequence of a
//! replica advances at the same rate, so the replica keeps one clock of
//! tokens made per sequence (`v`), and a sequence is done when `v` reaches
//! its finish mark. Only the replica's next event is scheduled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::outcome::{ReplicaStats, Woken};
use super::sequence::Sequence;
use super::spec::SelfHostedSpec;
use crate::engine::{Key, SimDuration, SimTime, TICKS_PER_SECOND};

/// A decoding sequence, ordered by its finish mark (ties by admission).
#[derive(Clone, Copy, Debug)]
struct Decoding {
    finish: f64,
    order: u64,
    attempt: Key,
    input: u32,
    reserved: u64,
    start_v: f64,
    /// When its first token came, and the tokens it makes.
    first_at: SimTime,
    output: u32,
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

pub(super) struct Clocked {
    /// Waiting for their prefill; the head prefilling since `prefill_since`.
    pub(super) prefill: VecDeque<Sequence>,
    prefill_since: SimTime,
    decoding: BinaryHeap<Reverse<Decoding>>,
    /// Tokens made per decoding sequence since the replica started, as of `v_at`.
    v: f64,
    v_at: SimTime,
    /// Sums over decoding sequences, for the KV cache they hold.
    decoding_input: u64,
    decoding_start_v: f64,
    pub(super) kv_reserved: u64,
}

impl Clocked {
    pub(super) fn new(now: SimTime) -> Self {
        Clocked {
            prefill: VecDeque::new(),
            prefill_since: now,
            decoding: BinaryHeap::new(),
            v: 0.0,
            v_at: now,
            decoding_input: 0,
            decoding_start_v: 0.0,
            kv_reserved: 0,
        }
    }

    pub(super) fn sequences(&self) -> u32 {
        (self.prefill.len() + self.decoding.len()) as u32
    }

    pub(super) fn is_idle(&self) -> bool {
        self.prefill.is_empty() && self.decoding.is_empty()
    }

    /// KV-cache tokens held: inputs of sequences past prefill plus every
    /// token they made.
    pub(super) fn kv_held(&self) -> f64 {
        let n = self.decoding.len() as f64;
        self.decoding_input as f64 + n * (1.0 + self.v) - self.decoding_start_v
    }

    /// KV-cache tokens held at `now`, the clock moving at `rate` since it last moved.
    pub(super) fn kv_held_at(&self, now: SimTime, rate: f64) -> f64 {
        let moved = now.since(self.v_at).as_secs_f64() * rate;
        self.kv_held() + self.decoding.len() as f64 * moved
    }

    /// Whether it has room for a sequence reserving `reserved`.
    pub(super) fn fits(&self, spec: &SelfHostedSpec, reserved: u64) -> bool {
        self.sequences() < spec.max_sequences && self.kv_reserved + reserved <= spec.kv_cache_tokens
    }

    /// Decode tokens per sequence per second now (0 while it prefills or
    /// has nothing to decode, or when it is not `warm`).
    pub(super) fn rate(&self, spec: &SelfHostedSpec, slowdown: f64, warm: bool) -> f64 {
        if !warm || !self.prefill.is_empty() || self.decoding.is_empty() {
            0.0
        } else {
            let held = self.kv_held().max(0.0) as u64;
            1.0 / (spec.decode.iteration_s(self.decoding.len() as u32, held) * slowdown)
        }
    }

    /// Brings the decode clock to `now` at `rate`, with the `measured`
    /// seconds since it last moved counted into `stats`.
    pub(super) fn advance(
        &mut self,
        now: SimTime,
        rate: f64,
        measured: f64,
        stats: &mut ReplicaStats,
    ) {
        let before = self.kv_held();
        if rate > 0.0 {
            self.v += now.since(self.v_at).as_secs_f64() * rate;
            stats.batch_seconds[self.decoding.len()] += measured;
        }
        self.v_at = now;
        // Held tokens grow linearly while decoding: the mean of the ends.
        stats.kv_held += (before + self.kv_held()) / 2.0 * measured;
    }

    /// Since when the clock has moved.
    pub(super) fn since(&self) -> SimTime {
        self.v_at
    }

    /// Takes `seq` in: it prefills after those before it (`started` gets
    /// it when its prefill begins now).
    pub(super) fn take(&mut self, seq: Sequence, now: SimTime, started: &mut Vec<Key>) {
        self.kv_reserved += seq.reserved();
        self.prefill.push_back(seq);
        if self.prefill.len() == 1 {
            self.prefill_since = now;
            started.push(seq.attempt);
        }
    }

    /// When its next event is due, decoding at `rate`.
    pub(super) fn next_at(
        &self,
        now: SimTime,
        rate: f64,
        spec: &SelfHostedSpec,
        slowdown: f64,
    ) -> Option<SimTime> {
        if let Some(head) = self.prefill.front() {
            let tokens = u64::from(head.uncached());
            Some(
                self.prefill_since
                    + SimDuration::from_secs_f64(spec.prefill.seconds(tokens) * slowdown),
            )
        } else if let Some(Reverse(first)) = self.decoding.peek() {
            // Rounded up to a whole tick, so the clock has reached
            // the mark when it wakes.
            let ticks = ((first.finish - self.v) / rate * TICKS_PER_SECOND as f64).ceil();
            Some(now + SimDuration::from_ticks((ticks.max(0.0) as u64).max(1)))
        } else {
            None
        }
    }

    /// Its wake-up at `now` (the clock brought there): the prefill in
    /// progress ends, or the sequences whose mark the clock reached are
    /// done. `admitted` numbers sequences as they start decoding.
    pub(super) fn wake(
        &mut self,
        now: SimTime,
        admitted: &mut u64,
        started: &mut Vec<Key>,
        woken: &mut Woken,
    ) {
        let Some(seq) = self.prefill.pop_front() else {
            // A hair of rounding allowed.
            while let Some(&Reverse(d)) = self.decoding.peek() {
                if d.finish > self.v + 1e-6 {
                    break;
                }
                self.decoding.pop();
                self.kv_reserved -= d.reserved;
                self.decoding_input -= u64::from(d.input);
                self.decoding_start_v -= d.start_v;
                woken.finished.push(d.attempt);
                woken
                    .per_token_s
                    .push(now.since(d.first_at).as_secs_f64() / f64::from(d.output - 1));
            }
            return;
        };
        woken.first_tokens.push((seq.attempt, seq.cold));
        if seq.makes() <= 1 {
            self.kv_reserved -= seq.reserved();
            woken.finished.push(seq.attempt);
        } else {
            *admitted += 1;
            self.decoding.push(Reverse(Decoding {
                finish: self.v + f64::from(seq.makes() - 1),
                order: *admitted,
                attempt: seq.attempt,
                input: seq.input,
                reserved: seq.reserved(),
                start_v: self.v,
                first_at: now,
                output: seq.makes(),
            }));
            self.decoding_input += u64::from(seq.input);
            self.decoding_start_v += self.v;
        }
        if let Some(next) = self.prefill.front() {
            self.prefill_since = now;
            started.push(next.attempt);
        }
    }
}
