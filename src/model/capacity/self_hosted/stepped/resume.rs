//! Where a waiting sequence starts when it is admitted: the prefix
//! blocks it finds cached, or being computed, and the blocks it needs.

use std::cmp::Reverse;

use super::{Stepped, blocks_for};
use crate::model::capacity::self_hosted::held::Held;
use crate::model::capacity::self_hosted::prefix_cache::Part;

/// Where a waiting sequence starts when it is admitted: the tokens it has
/// computed, the blocks of its class's part it references (`common`), and
/// of its session's (`reuses`, if it reaches it: its class's whole), of
/// which `pinned` were unreferenced, and `promoted` the blocks a part
/// gains from the running sequence at that index first.
#[derive(Clone, Copy)]
pub(super) struct Resume {
    pub(super) computed: u32,
    pub(super) common: u64,
    pub(super) reuses: Option<u64>,
    pub(super) pinned: u64,
    pub(super) promoted: Option<(Part, usize, u64)>,
}

impl Stepped {
    /// Where `held`, waiting, would start if admitted now, the running
    /// sequences computing `scheduled` tokens each in this step (changing
    /// nothing).
    pub(super) fn resume(&self, held: &Held, scheduled: &[u32]) -> Resume {
        let block_size = self.block_size;
        // Blocks of its own for all it starts with: what it computed
        // (swapped out), or its given cached blocks, or none.
        let anew = |computed| Resume {
            computed,
            common: 0,
            reuses: None,
            pinned: 0,
            promoted: None,
        };
        let cacheable = held.cacheable_blocks(block_size);
        let (cache, parts) = match (&self.cache, held.parts(block_size)) {
            _ if held.computed > 0 => return anew(held.computed),
            (Some(cache), Some(parts)) => (cache, parts),
            (Some(_), None) => return anew(0),
            // Given: its cached blocks are a hit, held anew.
            (None, _) => return anew((cacheable * u64::from(block_size)) as u32),
        };
        let at = |common, reuses: u64| ((common + reuses) * u64::from(block_size)) as u32;
        // As much of its class's part as is cached, or being computed; its
        // session's blocks continue the whole of it, so none is found
        // past a missing block.
        let (cached, pinned) = parts.class.map_or((0, 0), |class| {
            let (blocks, referenced) = cache.prefix(class);
            let cached = parts.blocks.min(blocks);
            (cached, cached.saturating_sub(referenced))
        });
        if let Some(class) = parts.class.filter(|_| cached < parts.blocks) {
            let promoted = self.continuing(scheduled, class, (0, cached), parts.blocks);
            let common = cached + promoted.map_or(0, |p| p.1);
            return Resume {
                computed: at(common, 0),
                common,
                pinned,
                promoted: promoted.map(|(i, more)| (class, i, more)),
                ..anew(0)
            };
        }
        let (prefix, referenced) = cache.prefix(parts.session);
        let promoted = self.continuing(scheduled, parts.session, (parts.blocks, prefix), cacheable);
        let reuses = (cacheable - parts.blocks).min(prefix + promoted.map_or(0, |p| p.1));
        Resume {
            computed: at(cached, reuses),
            common: cached,
            reuses: Some(reuses),
            pinned: pinned + reuses.min(prefix).saturating_sub(referenced),
            promoted: promoted.map(|(i, more)| (parts.session, i, more)),
        }
    }

    /// The running sequence that references the first `prefix` blocks of
    /// `part` (from its block `start` on) and nothing past them, and
    /// continues them furthest towards block `end` with whole blocks of
    /// its prompt (of a class's part, its own), computed or being computed
    /// in this step, as vLLM caches a call's whole blocks when it
    /// schedules them: its index and how many blocks more.
    fn continuing(
        &self,
        scheduled: &[u32],
        part: Part,
        (start, prefix): (u64, u64),
        end: u64,
    ) -> Option<(usize, u64)> {
        if end <= start + prefix {
            return None;
        }
        let block_size = self.block_size;
        self.running
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                h.references(part, block_size) == Some(prefix) && h.referenced() == start + prefix
            })
            .map(|(i, h)| {
                let now = scheduled.get(i).copied().unwrap_or(0);
                let through = u64::from((h.computed + now).min(h.seq.input) / block_size);
                let its_end = h
                    .parts(block_size)
                    .map_or(0, |p| if p.session == part { end } else { p.blocks });
                (
                    i,
                    through.min(end).min(its_end).saturating_sub(start + prefix),
                )
            })
            .filter(|&(_, more)| more > 0)
            .max_by_key(|&(i, more)| (more, Reverse(i)))
    }

    /// The blocks the waiting head, resuming as `resume`, needs for its
    /// next chunk (of at most `budget` tokens), if they are free or cached.
    pub(super) fn head_needs(
        &self,
        head: &Held,
        resume: &Resume,
        budget: u32,
    ) -> Option<(u32, u64)> {
        let n = (head.tokens() - resume.computed).min(budget);
        let reused = resume.common + resume.reuses.unwrap_or(0);
        let need = blocks_for(resume.computed + n, self.block_size) - reused;
        (need <= self.free_blocks + self.cached_blocks() - resume.pinned).then_some((n, need))
    }

    /// Whether the waiting head's next chunk (of at most `budget` tokens)
    /// needs more blocks than are free or cached.
    pub(super) fn head_blocked(&self, scheduled: &[u32], budget: u32) -> bool {
        self.waiting.front().is_some_and(|head| {
            let resume = self.resume(head, scheduled);
            self.head_needs(head, &resume, budget).is_none()
        })
    }
}
