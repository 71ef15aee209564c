//! Batch API pools: batches close after collecting, are submitted, and end
//! together, answered or expired.

use super::attempts::TryFailure;
use super::{AgentSystem, Event};
use crate::engine::{Ctx, Key};
use crate::model::capacity::pool::FailureKind;

impl AgentSystem<'_> {
    /// An attempt joined batch `batch` of pool `pool`: a batch it opened
    /// closes after its collection time, a full one at once.
    pub(super) fn batched(
        &mut self,
        pool: usize,
        batch: u32,
        opened: bool,
        full: bool,
        cx: &mut Ctx<'_, Self>,
    ) {
        if full {
            self.submit_batch(pool, batch, cx);
        } else if opened {
            let collect_for = self.batch_pool(pool).collect_for();
            cx.schedule_in(
                collect_for,
                Event::BatchClosed {
                    pool: pool as u16,
                    batch,
                },
            );
        }
    }

    /// Submits batch `batch` of pool `pool`, unless it already went (full).
    pub(super) fn submit_batch(&mut self, pool: usize, batch: u32, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let slowdown = self.pools[pool].latency_factor();
        let api = self.pools[pool].batch().expect("a batch pool");
        let Some(submitted) = api.submit(batch, now, slowdown, &mut self.capacity_rng) else {
            return;
        };
        for &key in api.last_submitted() {
            self.attempts
                .get_mut(key)
                .expect("a batched attempt")
                .service_started_at = now;
        }
        cx.schedule_at(
            submitted.done_at,
            Event::BatchDone {
                pool: pool as u16,
                batch,
                expired: submitted.expired,
            },
        );
    }

    /// Every call of a batch finishes, or fails if the batch expired.
    pub(super) fn on_batch_done(
        &mut self,
        pool: usize,
        batch: u32,
        expired: bool,
        cx: &mut Ctx<'_, Self>,
    ) {
        let calls = self.batch_pool(pool).take_done(batch);
        for attempt in calls {
            if expired {
                self.attempt_expired(attempt, cx);
            } else {
                self.on_attempt_finished(attempt, cx);
            }
        }
    }

    /// A call whose batch expired: not billed, and failed like a refusal.
    fn attempt_expired(&mut self, attempt_key: Key, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let attempt = *self
            .attempts
            .remove(attempt_key)
            .expect("one end per attempt");
        let pool = attempt.pool;
        self.pools[pool].release(now, attempt.request, 0);
        self.settle_gate_charge(now, attempt.gate_charge, 0.0);
        self.metrics.attempt_expired(now, pool);
        self.load.attempt_settled(attempt.is_retry);
        self.resilience.on_failure(now);
        let call = self.calls.get(attempt.call).expect("a live attempt's call");
        if self.loops.get(call.loop_key).is_some() {
            let router = call.router;
            self.pool_failed(router, pool, FailureKind::Expired, now);
        }
        self.attempt_failed(attempt.call, TryFailure::Expired, cx);
    }

    fn batch_pool(&mut self, pool: usize) -> &mut crate::model::capacity::batch::Batch {
        self.pools[pool].batch().expect("a batch pool")
    }
}
