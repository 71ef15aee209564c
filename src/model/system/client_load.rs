//! `ClientLoad`: what the clients have in progress, the figures a retry
//! budget judges by. Each counter changes in one place: here.

use crate::model::client::resilience::InProgress;
use crate::model::workload::agent_loop::LoopState;

#[derive(Clone, Copy, Debug, Default)]
pub struct ClientLoad {
    /// Attempts the client is waiting on (sent, not answered or timed out).
    live_attempts: u32,
    /// The retries among them.
    live_retries: u32,
    /// Calls waiting out a backoff, in every running loop.
    backing_off: u32,
    /// Running loops that are subagents of others: part of their parents'.
    subagents: u32,
}

impl ClientLoad {
    pub fn attempt_sent(&mut self, is_retry: bool) {
        self.live_attempts += 1;
        self.live_retries += u32::from(is_retry);
    }

    /// The client stops waiting on an attempt: answered or timed out.
    pub fn attempt_settled(&mut self, is_retry: bool) {
        self.live_attempts -= 1;
        self.live_retries -= u32::from(is_retry);
    }

    /// A call of `lp` starts (or, with `false`, ends) a backoff.
    pub fn backoff(&mut self, lp: &mut LoopState, started: bool) {
        if started {
            lp.calls_backing_off += 1;
            self.backing_off += 1;
        } else {
            lp.calls_backing_off -= 1;
            self.backing_off -= 1;
        }
    }

    /// `lp` ended: its calls still backing off will never retry.
    pub fn loop_ended(&mut self, lp: &LoopState) {
        self.backing_off -= lp.calls_backing_off;
    }

    /// A subagent loop starts (or, with `false`, ends).
    pub fn subagent(&mut self, started: bool) {
        if started {
            self.subagents += 1;
        } else {
            self.subagents -= 1;
        }
    }

    /// The running loops of which `loops` are not subagents of others.
    #[inline(always)]
    pub fn own_loops(&self, loops: usize) -> u32 {
        loops as u32 - self.subagents
    }

    pub fn backing_off(&self) -> u32 {
        self.backing_off
    }

    /// Requests and retries in progress when a call that just failed is
    /// about to retry: the call itself counts as both.
    pub fn with_retrying_call(&self) -> InProgress {
        InProgress {
            requests: self.live_attempts + self.backing_off + 1,
            retries: self.live_retries + self.backing_off,
        }
    }
}
