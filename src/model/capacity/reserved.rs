//! Reserved capacity: N always-warm lanes; attempts queue FIFO when all are busy.

use std::collections::VecDeque;

use crate::engine::{Key, SimDuration};
use crate::model::capacity::admission::{Admission, Rejection};
use crate::model::capacity::service_time::ServiceTime;

#[derive(Clone, Debug)]
pub struct ReservedSpec {
    pub lanes: u32,
    /// Most attempts that may wait; beyond it attempts are rejected. `None`: unbounded.
    pub queue_limit: Option<u32>,
    /// The retry-after a refusal for a full queue carries, if any.
    pub queue_full_retry_after: Option<SimDuration>,
    pub service: ServiceTime,
    /// How long the prompt cache keeps a session's prefix after its last
    /// use; `None`: it never expires.
    pub cache_ttl: Option<SimDuration>,
}

/// Lanes and their queue. An attempt keeps its place in the queue and its
/// lane even after its client times out: the server cannot tell it was abandoned.
pub struct Reserved {
    /// Lanes as provisioned.
    base_lanes: u32,
    /// Lanes available now (fewer during a capacity drop).
    lanes: u32,
    queue_limit: Option<u32>,
    queue_full_retry_after: Option<SimDuration>,
    busy: u32,
    queue: VecDeque<Key>,
}

impl Reserved {
    pub fn new(spec: &ReservedSpec) -> Self {
        Reserved {
            base_lanes: spec.lanes,
            lanes: spec.lanes,
            queue_limit: spec.queue_limit,
            queue_full_retry_after: spec.queue_full_retry_after,
            busy: 0,
            queue: VecDeque::new(),
        }
    }

    pub fn offer(&mut self, attempt: Key) -> Admission {
        if self.busy < self.lanes {
            self.busy += 1;
            Admission::Started
        } else if self
            .queue_limit
            .is_some_and(|limit| self.queue.len() >= limit as usize)
        {
            Admission::Rejected(Rejection::QueueFull {
                retry_after: self.queue_full_retry_after,
            })
        } else {
            self.queue.push_back(attempt);
            Admission::Queued
        }
    }

    /// Whether a lane is free, or fewer than `queue_up_to` attempts wait.
    pub fn has_room(&self, queue_up_to: u32) -> bool {
        self.busy < self.lanes || self.queue.len() < queue_up_to as usize
    }

    /// A lane came free: the head of the queue, if any, takes it.
    pub fn release(&mut self) -> Option<Key> {
        // A lane a capacity drop has taken away is not handed on.
        let next = if self.busy > self.lanes {
            None
        } else {
            self.queue.pop_front()
        };
        if next.is_none() {
            self.busy -= 1;
        }
        next
    }

    /// Scales the lanes by `factor` (at least one lane stays). Attempts in
    /// service finish on lanes taken away; returns the queued attempts that
    /// start on lanes given back.
    pub fn scale(&mut self, factor: f64) -> Vec<Key> {
        self.lanes = ((f64::from(self.base_lanes) * factor).round() as u32).max(1);
        let mut started = Vec::new();
        while self.busy < self.lanes {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            self.busy += 1;
            started.push(next);
        }
        started
    }

    pub fn busy(&self) -> u32 {
        self.busy
    }

    pub fn queued(&self) -> u32 {
        self.queue.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Slab;

    fn spec(lanes: u32, queue_limit: Option<u32>) -> ReservedSpec {
        ReservedSpec {
            lanes,
            queue_limit,
            queue_full_retry_after: None,
            service: ServiceTime::constant(1.0),
            cache_ttl: None,
        }
    }

    #[test]
    fn queues_fifo_when_lanes_are_busy_and_rejects_past_the_limit() {
        let mut keys = Slab::new();
        let k: Vec<Key> = (0..5).map(|i| keys.insert(i)).collect();
        let mut r = Reserved::new(&spec(2, Some(2)));
        assert_eq!(r.offer(k[0]), Admission::Started);
        assert_eq!(r.offer(k[1]), Admission::Started);
        assert_eq!(r.offer(k[2]), Admission::Queued);
        assert_eq!(r.offer(k[3]), Admission::Queued);
        assert_eq!(
            r.offer(k[4]),
            Admission::Rejected(Rejection::QueueFull { retry_after: None })
        );
        assert_eq!((r.busy(), r.queued()), (2, 2));
        assert_eq!(r.release(), Some(k[2]));
        assert_eq!(r.release(), Some(k[3]));
        assert_eq!(r.release(), None);
        assert_eq!(r.release(), None);
        assert_eq!((r.busy(), r.queued()), (0, 0));
    }

    #[test]
    fn a_capacity_drop_takes_lanes_away_as_they_free_and_gives_them_back() {
        let mut keys = Slab::new();
        let k: Vec<Key> = (0..6).map(|i| keys.insert(i)).collect();
        let mut r = Reserved::new(&spec(4, None));
        for &key in &k {
            r.offer(key);
        }
        assert_eq!((r.busy(), r.queued()), (4, 2));
        assert!(r.scale(0.5).is_empty(), "two lanes now, four busy");
        assert_eq!(
            r.release(),
            None,
            "a freed lane above the new count is not reused"
        );
        assert_eq!(r.release(), None);
        assert_eq!(
            r.release(),
            Some(k[4]),
            "two busy of two: the next one goes"
        );
        assert_eq!(r.scale(1.0), [k[5]]);
        assert_eq!((r.busy(), r.queued()), (3, 0));
    }
}
