//! Self-hosted pools: replicas' wake-ups (prefills and decodes ending,
//! cold starts done) and the autoscaler's decisions.

use super::{AgentSystem, Event};
use crate::engine::Ctx;

impl AgentSystem<'_> {
    /// Schedules the wake-ups a self-hosted pool asked for, and starts the
    /// service of the attempts whose prefill began.
    #[inline]
    pub(super) fn replica_events(&mut self, pool: usize, cx: &mut Ctx<'_, Self>) {
        let Some(fleet) = self.pools[pool].self_hosted() else {
            return;
        };
        let now = cx.now();
        for wake in fleet.take_wakes() {
            let (pool, replica, generation) = (pool as u16, wake.replica, wake.generation);
            let event = match wake.starts_step {
                true => Event::ReplicaStart {
                    pool,
                    replica,
                    generation,
                },
                false => Event::ReplicaWake {
                    pool,
                    replica,
                    generation,
                },
            };
            cx.schedule_at(wake.at, event);
        }
        for key in fleet.take_started() {
            self.attempts
                .get_mut(key)
                .expect("an attempt on a replica")
                .service_started_at = now;
        }
    }

    pub(super) fn on_replica_wake(
        &mut self,
        pool: usize,
        replica: u16,
        generation: u32,
        cx: &mut Ctx<'_, Self>,
    ) {
        let now = cx.now();
        let woken = self.pools[pool]
            .self_hosted()
            .expect("a self-hosted pool")
            .wake(now, replica, generation);
        self.replica_events(pool, cx);
        for (key, cold) in woken.first_tokens {
            let attempt = self.attempts.get(key).expect("an attempt on a replica");
            self.metrics
                .first_token(now, pool, now.since(attempt.sent_at));
            // An attempt abandoned after a timeout may outlive its call,
            // which failed for good or was answered by a later attempt.
            if cold
                && let Some(call) = self.calls.get(attempt.call)
                && let Some(lp) = self.loops.get_mut(call.loop_key)
            {
                lp.cold = true;
            }
        }
        for per_token_s in woken.per_token_s {
            self.metrics.per_output_token(now, pool, per_token_s);
        }
        for key in woken.finished {
            self.on_attempt_finished(key, cx);
        }
    }

    pub(super) fn on_autoscale(&mut self, pool: usize, cx: &mut Ctx<'_, Self>) {
        let fleet = self.pools[pool].self_hosted().expect("a self-hosted pool");
        if let Some(next) = fleet.autoscale(cx.now(), &mut self.capacity_rng) {
            cx.schedule_at(next, Event::Autoscale { pool: pool as u16 });
        }
        self.replica_events(pool, cx);
    }
}
