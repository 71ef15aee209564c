//! A Batch API: calls are collected into a batch, the batch is submitted,
//! and every call in it completes when the batch does, after a batch
//! latency, at the batch's own prices.
//!
//! - A batch opens with its first call and is submitted `collect_for`
//!   later, or at once when it holds `max_requests` calls.
//! - Its latency is drawn when it is submitted (a latency fault stretches
//!   it). A batch that would take longer than `completion_window` expires
//!   there instead: its calls fail unanswered and are not billed, as the
//!   providers' batch APIs do with requests a batch did not reach.
//! - Limits refuse a call at once, as a 429-like "queue full": when the
//!   calls or the input tokens of every batch open or in progress would
//!   exceed `max_queued_requests` or `max_queued_tokens`, or when no batch
//!   is open and `max_in_progress` batches are (an open batch counts as in
//!   progress).
//! - The client's request timeout does not apply: a client submits a batch
//!   and polls for its results rather than holding a connection open.

use crate::engine::{Key, SimDuration, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Rejection, Request};
use crate::model::distribution::DurationDist;

#[derive(Clone, Debug)]
pub struct BatchSpec {
    /// From submission to results.
    pub latency: DurationDist,
    /// How long a batch collects calls before it is submitted.
    pub collect_for: SimDuration,
    /// Calls per batch at most.
    pub max_requests: u32,
    /// Batches open or in progress at once, at most.
    pub max_in_progress: Option<u32>,
    /// Calls in batches open or in progress, at most (Anthropic's batch
    /// requests in the processing queue).
    pub max_queued_requests: Option<u32>,
    /// Input tokens in batches open or in progress, at most.
    pub max_queued_tokens: Option<u64>,
    /// A batch not done this long after submission expires.
    pub completion_window: SimDuration,
}

/// A submitted batch: when it is done, and whether it expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub id: u32,
    pub done_at: SimTime,
    pub expired: bool,
}

pub struct Batch {
    spec: BatchSpec,
    /// Calls collected into the open batch.
    open: Vec<Key>,
    /// The open batch's id (the next one's, when none is open).
    open_id: u32,
    /// Submitted batches not yet done, with their calls.
    in_progress: Vec<(u32, Vec<Key>)>,
    /// Input tokens of every call open or in progress.
    queued_tokens: u64,
    /// Calls in submitted batches.
    submitted_calls: u32,
}

impl Batch {
    pub fn new(spec: &BatchSpec) -> Self {
        Batch {
            spec: spec.clone(),
            open: Vec::new(),
            open_id: 0,
            in_progress: Vec::new(),
            queued_tokens: 0,
            submitted_calls: 0,
        }
    }

    /// Whether a call asking `request` would be taken now.
    pub fn has_room(&self, request: Request) -> bool {
        let tokens_fit = self
            .spec
            .max_queued_tokens
            .is_none_or(|max| self.queued_tokens + u64::from(request.input_tokens) <= max);
        let calls_fit = self
            .spec
            .max_queued_requests
            .is_none_or(|max| self.open.len() + (self.submitted_calls as usize) < max as usize);
        let batch_open = !self.open.is_empty()
            || self
                .spec
                .max_in_progress
                .is_none_or(|max| self.in_progress.len() < max as usize);
        tokens_fit && calls_fit && batch_open
    }

    /// Collects `attempt` into the open batch, opening one if none is.
    pub fn offer(&mut self, attempt: Key, request: Request) -> Admission {
        if !self.has_room(request) {
            return Admission::Rejected(Rejection::QueueFull { retry_after: None });
        }
        self.queued_tokens += u64::from(request.input_tokens);
        self.open.push(attempt);
        Admission::Batched {
            batch: self.open_id,
            opened: self.open.len() == 1,
            full: self.open.len() >= self.spec.max_requests as usize,
        }
    }

    /// The collection time after which a batch opened now is submitted.
    pub fn collect_for(&self) -> SimDuration {
        self.spec.collect_for
    }

    /// Submits the open batch if it is batch `id` (a stale timer finds it
    /// already submitted); its latency is stretched by `slowdown`.
    pub fn submit(
        &mut self,
        id: u32,
        now: SimTime,
        slowdown: f64,
        rng: &mut Stream,
    ) -> Option<Submitted> {
        if id != self.open_id || self.open.is_empty() {
            return None;
        }
        let mut latency = self.spec.latency.sample(rng);
        if slowdown != 1.0 {
            latency = SimDuration::from_secs_f64(latency.as_secs_f64() * slowdown);
        }
        let expired = latency > self.spec.completion_window;
        let calls = std::mem::take(&mut self.open);
        self.submitted_calls += calls.len() as u32;
        self.in_progress.push((id, calls));
        self.open_id = self.open_id.wrapping_add(1);
        Some(Submitted {
            id,
            done_at: now + latency.min(self.spec.completion_window),
            expired,
        })
    }

    /// The calls of the batch submitted last.
    pub fn last_submitted(&self) -> &[Key] {
        self.in_progress.last().map_or(&[], |(_, calls)| calls)
    }

    /// The calls of submitted batch `id`, now done.
    pub fn take_done(&mut self, id: u32) -> Vec<Key> {
        let at = self
            .in_progress
            .iter()
            .position(|(b, _)| *b == id)
            .expect("a batch is done once");
        self.in_progress.swap_remove(at).1
    }

    /// The calls of a submitted batch whose results are in.
    pub fn release(&mut self, request: Request) {
        self.queued_tokens -= u64::from(request.input_tokens);
        self.submitted_calls -= 1;
    }

    /// Calls in submitted batches.
    pub fn in_flight(&self) -> u32 {
        self.submitted_calls
    }

    /// Calls collected into the open batch.
    pub fn queued(&self) -> u32 {
        self.open.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RandomStreams, Slab};
    use crate::model::distribution::Dist;

    fn spec() -> BatchSpec {
        BatchSpec {
            latency: DurationDist::new(Dist::constant(600.0).unwrap()),
            collect_for: SimDuration::from_secs(60),
            max_requests: 3,
            max_in_progress: Some(2),
            max_queued_requests: Some(5),
            max_queued_tokens: Some(10_000),
            completion_window: SimDuration::from_secs(3600),
        }
    }

    fn request(tokens: u32) -> Request {
        Request {
            input_tokens: tokens,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            max_output_tokens: 100,
        }
    }

    #[test]
    fn batches_fill_submit_finish_and_respect_their_limits() {
        let mut keys = Slab::new();
        let mut key = || keys.insert(());
        let mut rng = RandomStreams::new(1).stream("batch");
        let mut b = Batch::new(&spec());
        let now = SimTime::ZERO;
        let first = Admission::Batched {
            batch: 0,
            opened: true,
            full: false,
        };
        assert_eq!(b.offer(key(), request(1000)), first);
        b.offer(key(), request(1000));
        assert_eq!(
            b.offer(key(), request(1000)),
            Admission::Batched {
                batch: 0,
                opened: false,
                full: true
            }
        );
        let done = b.submit(0, now, 1.0, &mut rng).unwrap();
        assert_eq!(done.done_at, now + SimDuration::from_secs(600));
        assert!(!done.expired);
        // A stale timer for the batch already submitted does nothing.
        assert_eq!(b.submit(0, now, 1.0, &mut rng), None);
        // A second batch opens; a third cannot while two are in progress.
        b.offer(key(), request(6000));
        assert!(b.submit(1, now, 7.0, &mut rng).unwrap().expired);
        let refused = Admission::Rejected(Rejection::QueueFull { retry_after: None });
        assert_eq!(b.offer(key(), request(1)), refused);
        assert_eq!(b.in_flight(), 4);
        for _ in b.take_done(0) {
            b.release(request(1000));
        }
        // A batch slot is free, but 6,000 tokens are still queued.
        assert_eq!(b.offer(key(), request(4001)), refused);
        assert!(matches!(
            b.offer(key(), request(4000)),
            Admission::Batched {
                batch: 2,
                opened: true,
                ..
            }
        ));
        assert_eq!((b.in_flight(), b.queued()), (1, 1));
        // Five calls are queued at most: with the expired batch done, the
        // open batch takes two more (the second fills it), the next opens
        // with two, and a sixth is refused until a batch is done.
        for _ in b.take_done(1) {
            b.release(request(6000));
        }
        b.offer(key(), request(1));
        b.offer(key(), request(1));
        b.submit(2, now, 1.0, &mut rng).unwrap();
        b.offer(key(), request(1));
        b.offer(key(), request(1));
        assert_eq!((b.in_flight(), b.queued()), (3, 2));
        assert_eq!(b.offer(key(), request(1)), refused);
        let done = b.take_done(2);
        assert_eq!(done.len(), 3);
        b.release(request(4000));
        b.release(request(1));
        b.release(request(1));
        assert!(matches!(
            b.offer(key(), request(1)),
            Admission::Batched { .. }
        ));
    }
}
