//! How a replica schedules its next step as vLLM V1 does: the running
//! sequences' next tokens first, preempting from the back when blocks run
//! out, then waiting sequences admitted while the token budget, the
//! sequence cap and the blocks allow; a step of decodes alone that nothing
//! could join is taken as a run of like steps.

use super::{Step, Stepped, blocks_for};
use crate::engine::{Key, SimDuration, SimTime, TICKS_PER_SECOND};
use crate::model::capacity::self_hosted::outcome::ReplicaStats;
use crate::model::capacity::self_hosted::spec::{Preemption, Scheduler, SelfHostedSpec};
use crate::model::capacity::self_hosted::step_time::{decode_ticks, step_ticks};

/// What a step being scheduled has taken: each sequence's tokens (the
/// running ones' first, in order), the token budget left, whether it
/// preempted, and the KV tokens copied to the host and back.
struct Taking {
    tokens: Vec<u32>,
    budget: u32,
    preempted: bool,
    swapped: u64,
}

impl Stepped {
    /// The step starting at `now`, if there is anything to run.
    pub(super) fn schedule(
        &mut self,
        now: SimTime,
        spec: &SelfHostedSpec,
        slowdown: f64,
        (measure_from, stats): (SimTime, &mut ReplicaStats),
        started: &mut Vec<Key>,
    ) -> Option<Step> {
        let Scheduler::Vllm {
            max_num_batched_tokens,
            preemption,
            async_scheduling,
            ..
        } = spec.scheduler
        else {
            unreachable!("a stepped replica has vLLM's scheduler");
        };
        let mut tokens = std::mem::take(&mut self.spare);
        tokens.clear();
        let mut taking = Taking {
            tokens,
            budget: max_num_batched_tokens,
            preempted: false,
            swapped: 0,
        };
        let mut measured = (now >= measure_from).then_some(stats);
        self.continue_running(&mut taking, preemption, measured.as_deref_mut());
        if !taking.preempted {
            // Scheduled one step ahead, a step takes those that waited
            // when the step before it started; an idle engine, any.
            let before = if async_scheduling {
                self.scheduled
            } else {
                u64::MAX
            };
            self.admit_waiting(
                &mut taking,
                spec.max_sequences,
                before,
                measured.as_deref_mut(),
                started,
            );
            if async_scheduling && taking.tokens.is_empty() {
                self.admit_waiting(&mut taking, spec.max_sequences, u64::MAX, measured, started);
            }
        }
        self.scheduled += 1;
        if taking.tokens.is_empty() {
            self.spare = taking.tokens;
            return None;
        }
        let (ticks, repeats, context) = self.step_length(&taking, spec, preemption, slowdown);
        Some(Step {
            started: now,
            ends: now + SimDuration::from_ticks(ticks),
            tokens: taking.tokens,
            repeats,
            context,
            slowdown,
        })
    }

    /// Takes each running sequence's next tokens, in order, while the
    /// budget lasts, preempting from the back when blocks run out
    /// (counted in `stats` when measured).
    fn continue_running(
        &mut self,
        taking: &mut Taking,
        preemption: Preemption,
        mut stats: Option<&mut ReplicaStats>,
    ) {
        let block_size = self.block_size;
        'running: while taking.tokens.len() < self.running.len() && taking.budget > 0 {
            let i = taking.tokens.len();
            let n = (self.running[i].tokens() - self.running[i].computed).min(taking.budget);
            loop {
                let held = &self.running[i];
                let need = blocks_for(held.computed + n, block_size) - held.holds();
                self.make_room(need);
                if need <= self.free_blocks {
                    self.free_blocks -= need;
                    self.running[i].blocks += need;
                    break;
                }
                let mut victim = self.running.pop().expect("at least the sequence itself");
                match preemption {
                    // Its whole blocks stay in the prefix cache, if kept.
                    Preemption::Recompute => {
                        let whole = u64::from(victim.computed / block_size);
                        self.release(&victim, whole);
                        victim.computed = 0;
                        victim.decoding = false;
                    }
                    Preemption::Swap { .. } => {
                        self.release(&victim, 0);
                        taking.swapped += u64::from(victim.computed);
                    }
                }
                victim.blocks = 0;
                victim.shared = 0;
                victim.common = 0;
                self.waiting.push_front(victim);
                taking.preempted = true;
                if let Some(stats) = stats.as_deref_mut() {
                    stats.preemptions += 1;
                }
                if self.running.len() == i {
                    break 'running; // it preempted itself
                }
            }
            taking.tokens.push(n);
            taking.budget -= n;
        }
    }

    /// Admits waiting sequences, first come first, while the budget, the
    /// sequence cap and the blocks (free or cached) allow; a prompt's
    /// cache hits are counted in `stats` when measured.
    fn admit_waiting(
        &mut self,
        taking: &mut Taking,
        max_sequences: u32,
        before: u64,
        mut stats: Option<&mut ReplicaStats>,
        started: &mut Vec<Key>,
    ) {
        while taking.budget > 0 && self.running() < max_sequences {
            let Some(head) = self.waiting.front().filter(|h| h.queued_at < before) else {
                break;
            };
            let resume = self.resume(head, &taking.tokens);
            let Some((n, need)) = self.head_needs(head, &resume, taking.budget) else {
                break;
            };
            let mut held = self.waiting.pop_front().expect("a head");
            taking.swapped += u64::from(held.computed);
            if let Some(stats) = stats.as_deref_mut().filter(|_| held.computed == 0) {
                stats.cacheable_tokens += u64::from(held.cacheable_tokens());
                stats.cache_hit_tokens += u64::from(resume.computed);
            }
            if let (Some(cache), Some(parts)) = (&mut self.cache, held.parts(self.block_size)) {
                if let Some((part, i, more)) = resume.promoted {
                    let continuing = &mut self.running[i];
                    continuing.blocks -= more;
                    if part == parts.session {
                        continuing.shared += more;
                    } else {
                        continuing.common += more;
                    }
                    cache.extend(part, more);
                }
                if let Some(class) = parts.class {
                    cache.reference(class, resume.common);
                }
                if let Some(reuses) = resume.reuses {
                    self.free_blocks += cache.reference(parts.session, reuses);
                }
            }
            self.make_room(need);
            self.free_blocks -= need;
            held.blocks = need;
            held.shared = resume.reuses.unwrap_or(0);
            held.common = resume.common;
            held.computed = resume.computed;
            if !held.started {
                held.started = true;
                started.push(held.seq.attempt);
            }
            self.running.push(held);
            taking.tokens.push(n);
            taking.budget -= n;
        }
    }

    /// The step's length in ticks, how many like steps it stands for and
    /// its decodes' context: a step of decodes alone, all of them, with no
    /// one waiting who could come in (the blocks free only shrink while
    /// they decode), is a run of steps taken at once.
    fn step_length(
        &mut self,
        taking: &Taking,
        spec: &SelfHostedSpec,
        preemption: Preemption,
        slowdown: f64,
    ) -> (u64, u32, u64) {
        let block_size = self.block_size;
        let (mut decodes, mut context, mut prefill) = (0, 0, 0);
        for (held, &n) in self.running.iter().zip(&taking.tokens) {
            if held.decoding {
                decodes += 1;
                context += u64::from(held.computed) + 1;
            } else {
                prefill += u64::from(n);
            }
        }
        let mut repeats = 1;
        let mut ticks = step_ticks(spec, (decodes, context, prefill), slowdown);
        if let Preemption::Swap { tokens_per_s } = preemption {
            let copying = taking.swapped as f64 / tokens_per_s * slowdown;
            ticks += (copying * TICKS_PER_SECOND as f64).ceil() as u64;
        }
        let alike = prefill == 0
            && taking.swapped == 0
            && !taking.preempted
            && taking.tokens.len() == self.running.len()
            && self.runs_allowed();
        if alike
            && (self.waiting.is_empty()
                || taking.budget == 0
                || self.running() >= spec.max_sequences
                || self.head_blocked(&taking.tokens, taking.budget))
        {
            repeats = self.run_length(block_size);
            for held in &mut self.running {
                let more = blocks_for(held.computed + repeats, block_size) - held.holds();
                self.free_blocks -= more;
                held.blocks += more;
            }
            if spec.decode.reads_context() {
                for k in 1..repeats {
                    let later = context + u64::from(k) * u64::from(decodes);
                    ticks += decode_ticks(spec, decodes, later, slowdown).ticks();
                }
            } else {
                // Each later step as long as the first.
                ticks += u64::from(repeats - 1) * ticks;
            }
        }
        (ticks, repeats, context)
    }
}
