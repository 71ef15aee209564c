//! The coordinated throttle's gate, between the client and the provider:
//! calls pass it or wait there in priority order, and its spend cap is
//! charged each call's worst case and settled when the call is billed.

use super::attempts::Passed;
use super::{AgentSystem, Event};
use crate::engine::{Ctx, Key, SimTime};
use crate::model::capacity::admission::Request;
use crate::model::client::coordinated_throttle::Charge;
use crate::model::spec::ModelSpec;

impl AgentSystem<'_> {
    /// Whether the call goes through the coordinated throttle's gate now
    /// (if not, it waits there).
    pub(super) fn pass_gate(&mut self, call_key: Key, cx: &mut Ctx<'_, Self>) -> bool {
        let Some(gate) = &mut self.resilience.gate else {
            return true;
        };
        let call = self.calls.get_mut(call_key).expect("a live call");
        let class = self
            .loops
            .get(call.loop_key)
            .expect("a live call's loop")
            .class;
        let cost = worst_case_cost(self.spec, call.request);
        let priority = self.spec.classes[usize::from(class)].priority;
        match gate.request(cx.now(), priority, call_key, cost) {
            Some(charge) => {
                call.gate_charge = charge;
                true
            }
            None => {
                self.schedule_gate(cx);
                false
            }
        }
    }

    /// Makes sure the gate wakes when it next opens, if calls wait there.
    pub(super) fn schedule_gate(&mut self, cx: &mut Ctx<'_, Self>) {
        let Some(gate) = &mut self.resilience.gate else {
            return;
        };
        if self.gate_pending || !gate.has_waiting() {
            return;
        }
        // A spend cap without a period never opens again: its calls wait out the run.
        if let Some(at) = gate.opens_at(cx.now()) {
            self.gate_pending = true;
            cx.schedule_at(at, Event::GateOpened);
        }
    }

    pub(super) fn on_gate_opened(&mut self, cx: &mut Ctx<'_, Self>) {
        self.gate_pending = false;
        let now = cx.now();
        loop {
            let (spec, calls, loops) = (self.spec, &mut self.calls, &self.loops);
            let Some(gate) = &mut self.resilience.gate else {
                return;
            };
            // Calls whose loop ended are dropped, and take no slot.
            let released = gate.release(now, |key| {
                let call = calls.get(key)?;
                if loops.get(call.loop_key).is_none() {
                    calls.remove(key);
                    return None;
                }
                Some(worst_case_cost(spec, call.request))
            });
            let Some((call, charge)) = released else {
                break;
            };
            self.calls
                .get_mut(call)
                .expect("a released call")
                .gate_charge = charge;
            self.send_attempt(call, Passed::Gate, cx);
        }
        self.schedule_gate(cx);
    }

    /// Gives the spend cap back what it charged for an attempt that cost nothing,
    /// or corrects the charge to what the attempt really cost.
    pub(super) fn settle_gate_charge(&mut self, now: SimTime, charged: Charge, cost: f64) {
        if let Some(gate) = &mut self.resilience.gate {
            gate.settle(now, charged, cost);
        }
    }
}

/// What a call asking `request` can cost at most: its input and its
/// `max_tokens` of output, at the dearest pool's prices (the router picks the
/// pool after the gate).
fn worst_case_cost(spec: &ModelSpec, request: Request) -> f64 {
    let billed = request.billed(request.max_output_tokens);
    spec.pools
        .iter()
        .map(|p| p.prices.call_usd(billed))
        .fold(0.0, f64::max)
}
