//! Subagents spawned together after a call and waited for, put in their
//! session as a fan-out (see [`Spawn`]): each a request of its own among
//! the session's subagents, starting as long after the answer that spawned
//! it as recorded, the spawning loop going on once the last has ended.
//! The session formats that record subagents (`weka`, `claude_code`) say
//! which call spawned which; this puts them together the same way.

use super::sessions::{At, Owner, RecordedCall, RecordedRequest, Spawn, Unplaced};
use super::trace::micros;

impl Unplaced {
    /// The request or subagent `owner`.
    pub(super) fn owned(&mut self, owner: Owner) -> &mut RecordedRequest {
        match owner {
            Owner::Request(r) => &mut self.requests[r],
            Owner::Subagent(j) => &mut self.subagents[j],
        }
    }

    /// Adds `calls` (in order, at least one) as a subagent spawned by the
    /// call at `parent`, whose answer ended at `end` (µs), beside any
    /// spawned just before by the same call; gives its index among the
    /// session's subagents. Siblings must be added one after another.
    pub(super) fn spawn(&mut self, calls: &[RecordedCall], parent: At, end: i64) -> usize {
        let j = self.subagents.len();
        let think = micros(calls[0].start_us - end);
        self.subagents.push(RecordedRequest::of_calls(think, calls));
        let spawns = &mut self.owned(parent.owner).spawns;
        match spawns.last_mut() {
            Some(s) if s.after == parent.round && (s.first + s.count) as usize == j => s.count += 1,
            _ => spawns.push(Spawn {
                after: parent.round,
                first: j as u32,
                count: 1,
            }),
        }
        self.spawned.push((j, parent, end, calls[0].start_us));
        j
    }

    /// Each fan-out's parent waits for its last subagent: the tool time
    /// after its spawning call runs from that end to the parent's next
    /// call (none if that came first), and the parent's recorded span
    /// reaches it (and so, for a request whose last answer spawned them,
    /// the user's think time before the next runs from it). Called once
    /// every subagent is spawned; the deepest are taken first, so a
    /// subagent's span holds its own.
    pub(super) fn close_spawns(&mut self) {
        let mut latest: Vec<(Owner, u32, i64, i64)> = vec![];
        for (j, parent, end, start) in std::mem::take(&mut self.spawned).into_iter().rev() {
            let child_end = start + self.subagents[j].recorded.ticks() as i64;
            let owner = self.owned(parent.owner);
            let before = owner.recorded;
            owner.recorded = owner.recorded.max(micros(child_end - parent.owner_start));
            let later = owner.recorded.ticks() - before.ticks();
            if let Owner::Request(r) = parent.owner
                && let Some(next) = self.requests.get_mut(r + 1)
            {
                next.think_before = micros(next.think_before.ticks() as i64 - later as i64);
            }
            let key = (parent.owner, parent.round);
            match latest.iter_mut().find(|l| (l.0, l.1) == key) {
                Some(l) => l.3 = l.3.max(child_end),
                None => latest.push((parent.owner, parent.round, end, child_end)),
            }
        }
        for (owner, round, end, child_end) in latest {
            let round = &mut self.owned(owner).rounds[round as usize];
            let next = end + round.tool_after.ticks() as i64;
            round.tool_after = micros(next - child_end);
        }
    }
}
