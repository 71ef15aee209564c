//! A replica scheduled as vLLM's V1 engine schedules (`vllm/v1/core/sched/
//! scheduler.py`, `Scheduler.schedule`): in steps, each running every
//! running sequence's next tokens within a budget of batched tokens.
//!
//! At a step's start it first takes the running sequences in the order
//! they were admitted: each gets its next token (or the next chunk of its
//! prompt) while the step's budget lasts, and the KV blocks those tokens
//! need; when blocks run out, the latest admitted running sequence is
//! preempted (its blocks freed, it waits again first in line) until they
//! suffice, or the sequence preempts itself. Then, unless a sequence was
//! preempted, it admits waiting sequences first come first served while
//! the budget lasts, fewer than `max_sequences` run, and the blocks of
//! their first chunk are free: a prompt longer than what is left of the
//! budget is prefilled in chunks over several steps. A sequence makes a
//! token at the end of a step in which it caught up with its tokens (the
//! first one ends its prefill); it is done when it has made its output.
//! Sequences that arrive during a step wait for its end; scheduled one
//! step ahead (vLLM's async scheduling, on by default since 0.14: the
//! next step is planned when the one before it starts), they wait for
//! the step after it too, unless the replica would otherwise stand idle.
//!
//! A step lasts the decode iteration of its decoding sequences (by their
//! number and the tokens they attend to) plus the prefill of its prompt
//! tokens (by their number).
//!
//! Steps that only decode, every running sequence, with nothing waiting
//! that could be admitted, repeat alike until a sequence is done or its
//! blocks would run out: such a run of steps is one wake-up, cut short at
//! the end of the step in progress when a sequence arrives or the speed
//! changes, so a run gives what its steps one by one give.

use std::collections::VecDeque;

use super::held::Held;
use super::outcome::{ReplicaStats, Woken};
use super::prefix_cache::{Part, PrefixCache};
use super::sequence::Sequence;
use super::spec::{PrefixCaching, SelfHostedSpec};
use super::step_time::decode_ticks;
use crate::engine::{Key, SimDuration, SimTime};

mod resume;
mod schedule;

/// The step in progress: when it started and ends, and the tokens it
/// computes for each of the first running sequences; or a run of
/// `repeats` decode steps of every running sequence, attending to
/// `context` tokens at the first and `running` more at each next one.
struct Step {
    started: SimTime,
    ends: SimTime,
    tokens: Vec<u32>,
    repeats: u32,
    context: u64,
    slowdown: f64,
}

pub(super) struct Stepped {
    /// Tokens a KV-cache block holds.
    block_size: u32,
    waiting: VecDeque<Held>,
    /// In the order they were admitted.
    running: Vec<Held>,
    /// KV-cache blocks in all, and those free.
    blocks: u64,
    free_blocks: u64,
    /// With prefix caching by blocks: the blocks finished calls left.
    cache: Option<PrefixCache>,
    step: Option<Step>,
    /// The last step's list of tokens, emptied, for the next step to fill
    /// (a step a few microseconds long should not cost an allocation).
    spare: Vec<u32>,
    /// KV statistics are counted up to here.
    counted_to: SimTime,
    /// Steps scheduled so far (each run of like steps counted once).
    scheduled: u64,
    /// Tests compare runs of decode steps with the steps one by one.
    #[cfg(test)]
    pub(super) one_by_one: bool,
}

/// Blocks of `block_size` tokens that `tokens` take.
fn blocks_for(tokens: u32, block_size: u32) -> u64 {
    u64::from(tokens.div_ceil(block_size))
}

impl Stepped {
    /// A replica of `kv_tokens` of KV cache in blocks of `block_size`.
    pub(super) fn new(
        kv_tokens: u64,
        block_size: u32,
        caching: PrefixCaching,
        now: SimTime,
    ) -> Self {
        Stepped {
            block_size,
            waiting: VecDeque::new(),
            running: Vec::new(),
            blocks: kv_tokens / u64::from(block_size),
            free_blocks: kv_tokens / u64::from(block_size),
            cache: (caching == PrefixCaching::Blocks).then(PrefixCache::new),
            step: None,
            spare: Vec::new(),
            counted_to: now,
            scheduled: 0,
            #[cfg(test)]
            one_by_one: false,
        }
    }

    pub(super) fn waiting(&self) -> u32 {
        self.waiting.len() as u32
    }

    pub(super) fn running(&self) -> u32 {
        self.running.len() as u32
    }

    pub(super) fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty() && self.step.is_none()
    }

    /// Whether a step is in progress.
    pub(super) fn stepping(&self) -> bool {
        self.step.is_some()
    }

    /// Blocks in use, recounted: those its sequences hold of their own,
    /// and those of their prefixes they reference (each once).
    #[cfg(test)]
    pub(super) fn used_blocks(&self) -> u64 {
        let own: u64 = self.running.iter().map(|h| h.blocks).sum();
        own + self.cache.as_ref().map_or(0, PrefixCache::referenced)
    }

    /// KV-cache tokens its blocks in use hold: those neither free nor
    /// cached unreferenced, as blocks are conserved (the tests recount
    /// them as [`used_blocks`](Stepped::used_blocks) at every event).
    pub(super) fn kv_held(&self) -> u64 {
        (self.blocks - self.free_blocks - self.cached_blocks()) * u64::from(self.block_size)
    }

    /// Blocks free, and those the prefix cache holds (free once evicted).
    #[cfg(test)]
    pub(super) fn free_blocks(&self) -> (u64, u64) {
        (self.free_blocks, self.cached_blocks())
    }

    /// Checks each part's referenced prefix against a recount from the
    /// running sequences.
    #[cfg(test)]
    pub(super) fn check_references(&self) {
        let Some(cache) = &self.cache else {
            assert!(self.running.iter().all(|h| h.referenced() == 0));
            return;
        };
        let parts: std::collections::HashSet<Part> = self
            .running
            .iter()
            .filter_map(|h| h.parts(self.block_size))
            .flat_map(|p| [Some(p.session), p.class])
            .flatten()
            .collect();
        let recount: u64 = parts
            .iter()
            .map(|&part| {
                let most = self.referencing(part);
                assert_eq!(cache.prefix(part).1, most, "references to {part:?}");
                most
            })
            .sum();
        assert_eq!(cache.referenced(), recount, "references in all");
    }

    /// Blocks the prefix cache holds that no sequence references.
    fn cached_blocks(&self) -> u64 {
        self.cache.as_ref().map_or(0, PrefixCache::unreferenced)
    }

    /// The blocks of `part`'s prefix the running sequences reference: the
    /// most any one does.
    fn referencing(&self, part: Part) -> u64 {
        self.running
            .iter()
            .filter_map(|h| h.references(part, self.block_size))
            .max()
            .unwrap_or(0)
    }

    /// Whether a sequence of `input` tokens would be admitted at the next
    /// step, nothing waiting before it.
    pub(super) fn has_room(&self, spec: &SelfHostedSpec, input: u32) -> bool {
        self.waiting.is_empty()
            && self.running() < spec.max_sequences
            && blocks_for(input, self.block_size) <= self.free_blocks + self.cached_blocks()
    }

    /// Takes `seq` in to wait for a step. An empty prompt (vLLM refuses
    /// one) is computed as one token, as a tokenizer's start token would be.
    pub(super) fn take(&mut self, seq: Sequence) {
        let seq = Sequence {
            input: seq.input.max(1),
            ..seq
        };
        self.waiting.push_back(Held {
            seq,
            made: 0,
            computed: 0,
            blocks: 0,
            shared: 0,
            common: 0,
            decoding: false,
            started: false,
            first_at: seq.arrived,
            queued_at: self.scheduled,
        });
    }

    /// Counts the KV cache held up to `now`, `measured` seconds of it in the window.
    pub(super) fn advance(&mut self, now: SimTime, measured: f64, stats: &mut ReplicaStats) {
        stats.kv_held += self.kv_held() as f64 * measured;
        self.counted_to = now;
    }

    /// Since when the KV cache is counted.
    pub(super) fn since(&self) -> SimTime {
        self.counted_to
    }

    /// When it next wakes: at the end of its step, or now to start one.
    pub(super) fn next_at(&self, now: SimTime) -> Option<SimTime> {
        match &self.step {
            Some(step) => Some(step.ends),
            None if self.waiting.is_empty() && self.running.is_empty() => None,
            None => Some(now),
        }
    }

    /// Cuts a run of decode steps short at the end of the step in
    /// progress at `now`; says whether its end moved.
    pub(super) fn interrupt(&mut self, now: SimTime, spec: &SelfHostedSpec) -> bool {
        let Some(step) = &mut self.step else {
            return false;
        };
        let batch = step.tokens.len() as u32;
        // The first of its steps to end after `now`, if not its last.
        let cut = if spec.decode.reads_context() {
            let mut ends = step.started;
            (1..step.repeats).find_map(|k| {
                let context = step.context + u64::from(k - 1) * u64::from(batch);
                ends += decode_ticks(spec, batch, context, step.slowdown);
                (ends > now).then_some((k, ends))
            })
        } else {
            // Steps alike: the k-th ends at k of them.
            let each = decode_ticks(spec, batch, step.context, step.slowdown).ticks();
            let k = now.since(step.started).ticks() / each + 1;
            (k < u64::from(step.repeats))
                .then(|| (k as u32, step.started + SimDuration::from_ticks(k * each)))
        };
        let Some((k, ends)) = cut else {
            return false;
        };
        step.repeats = k;
        step.ends = ends;
        for held in &mut self.running {
            let keep = blocks_for(held.computed + k, self.block_size) - held.referenced();
            self.free_blocks += held.blocks - keep;
            held.blocks = keep;
        }
        true
    }

    /// Its wake-up at `now`: the step in progress ends, then the next one
    /// starts, if there is work, `slowdown` times slower than the spec's
    /// speeds (`started` gets the sequences scheduled for the first time;
    /// `stats` the preemptions and batch sizes from `measure_from` on).
    pub(super) fn wake(
        &mut self,
        now: SimTime,
        spec: &SelfHostedSpec,
        slowdown: f64,
        (measure_from, stats): (SimTime, &mut ReplicaStats),
        started: &mut Vec<Key>,
        woken: &mut Woken,
    ) {
        if let Some(step) = self.step.take() {
            let from = step.started.max(measure_from);
            if now > from {
                let batch = step.tokens.len().min(stats.batch_seconds.len() - 1);
                stats.batch_seconds[batch] += now.since(from).as_secs_f64();
            }
            self.finish(now, &step.tokens, step.repeats, woken);
            self.spare = step.tokens;
        }
        self.step = self.schedule(now, spec, slowdown, (measure_from, stats), started);
    }

    /// The steps ending at `now`, `repeats` alike, each of which computed
    /// `tokens` for the first running sequences: each that caught up
    /// makes a token at each; those done leave.
    fn finish(&mut self, now: SimTime, tokens: &[u32], repeats: u32, woken: &mut Woken) {
        for (held, &n) in self.running.iter_mut().zip(tokens) {
            held.computed += n * repeats;
            if held.computed < held.tokens() {
                continue; // a chunk of its prompt
            }
            held.decoding = true;
            held.made += repeats;
            if held.made == 1 {
                held.first_at = now;
                woken.first_tokens.push((held.seq.attempt, held.seq.cold));
            }
        }
        // In admission order, both those done and those still running;
        // no allocation unless some are done.
        let done: Vec<Held> = self
            .running
            .extract_if(.., |held| held.made >= held.seq.makes())
            .collect();
        for held in done {
            woken.finished.push(held.seq.attempt);
            if held.made > 1 {
                woken
                    .per_token_s
                    .push(now.since(held.first_at).as_secs_f64() / f64::from(held.made - 1));
            }
            self.release(&held, held.holds());
        }
    }

    /// Frees `held`'s blocks (it no longer runs), of which its class's and
    /// its session's parts keep the first `cacheable` of those it held or
    /// referenced (whole blocks of computed tokens): its own blocks are
    /// first those of its class's part it did not find cached.
    fn release(&mut self, held: &Held, cacheable: u64) {
        let Some(parts) = held.parts(self.block_size).filter(|_| self.cache.is_some()) else {
            self.free_blocks += held.blocks;
            return;
        };
        let whole = cacheable.min(held.holds());
        let own_common = (parts.blocks - held.common).min(held.blocks);
        let mut leave = |part: Part, (shared, own, kept): (u64, u64, u64)| {
            let still = if shared == 0 {
                self.cache.as_ref().expect("a prefix cache").prefix(part).1
            } else {
                self.referencing(part)
            };
            let cache = self.cache.as_mut().expect("a prefix cache");
            self.free_blocks += cache.leave(part, (shared, own, kept), still);
        };
        // The session's part first: its class's is left after it.
        let kept = whole.saturating_sub(parts.blocks + held.shared);
        leave(parts.session, (held.shared, held.blocks - own_common, kept));
        if let Some(class) = parts.class {
            let kept = whole.min(parts.blocks).saturating_sub(held.common);
            leave(class, (held.common, own_common, kept));
        }
    }

    /// Frees cached blocks until `need` are free, if it can.
    fn make_room(&mut self, need: u64) {
        if need > self.free_blocks
            && let Some(cache) = &mut self.cache
        {
            self.free_blocks += cache.evict(need - self.free_blocks);
        }
    }

    #[cfg(test)]
    fn runs_allowed(&self) -> bool {
        !self.one_by_one
    }

    #[cfg(not(test))]
    fn runs_allowed(&self) -> bool {
        true
    }

    /// How many decode steps of every running sequence (its first step's
    /// blocks taken) go alike: until the first is done, and no further
    /// than the free blocks last.
    fn run_length(&self, block_size: u32) -> u32 {
        let done = self
            .running
            .iter()
            .map(|h| h.seq.makes() - h.made)
            .min()
            .expect("running sequences");
        let needs = |k: u32| -> u64 {
            self.running
                .iter()
                .map(|h| blocks_for(h.computed + k, block_size) - h.holds())
                .sum()
        };
        // The longest run whose blocks are free (one step's are).
        let (mut fits, mut over) = (1, done + 1);
        while over - fits > 1 {
            let mid = fits + (over - fits) / 2;
            if needs(mid) <= self.free_blocks {
                fits = mid;
            } else {
                over = mid;
            }
        }
        fits
    }
}
