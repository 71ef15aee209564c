//! Limits over several shared API pools together: a named group's over the
//! pools it names, or the organization's over every one. They nest over
//! each pool's own: a call refused by any of them never reaches its pool
//! (and counts against the one that refused it as its rules say; its 429
//! names the group), and a call its pool admits counts against each of them.

use crate::engine::{Key, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Rejection, Request};
use crate::model::capacity::kind::Capacity;
use crate::model::capacity::prompt_cache::Conversation;
use crate::model::capacity::shared_api::{SharedApi, SharedApiSpec};

/// One group of limits, as the model gives it.
#[derive(Clone, Debug)]
pub struct SharedLimits {
    /// As the model names it: `organization`, `shared_limits.NAME`, or
    /// `preset_limit.NAME` for a provider's limit its pools' presets name.
    pub name: String,
    pub limits: SharedApiSpec,
    /// The pools held together (indices into the model's pools).
    pub pools: Vec<usize>,
}

/// A provider account's one monthly spend cap over the pools naming its
/// presets: an organization's usage tier caps what it spends a month on
/// every model together, where its rate limits are each model's. It
/// refuses no call; a month that would pass it is reported.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// `account.NAME`, NAME as the presets give it.
    pub name: String,
    /// The pools spending against the cap (indices into the model's pools).
    pub pools: Vec<usize>,
    /// US dollars a month.
    pub monthly_spend_cap: f64,
}

/// The buckets of every group, and the groups over each pool.
pub struct NestedLimits {
    buckets: Vec<SharedApi>,
    /// Per pool, the groups over it, innermost first.
    over: Vec<Vec<usize>>,
}

impl NestedLimits {
    /// The buckets of `groups` (innermost first) over `pools` pools, their
    /// ramp-rate limits watching from `warmup`'s end.
    pub fn new(groups: &[SharedLimits], pools: usize, warmup: SimTime) -> Self {
        let mut over = vec![Vec::new(); pools];
        for (g, group) in groups.iter().enumerate() {
            for &p in &group.pools {
                over[p].push(g);
            }
        }
        NestedLimits {
            buckets: groups
                .iter()
                .map(|g| SharedApi::new(&g.limits, warmup))
                .collect(),
            over,
        }
    }

    /// Offers `attempt` (at `now`, asking `request`, to produce its output,
    /// continuing its session) to `pool`, number `p`, within the limits
    /// over it.
    pub fn admit(
        &mut self,
        p: usize,
        pool: &mut Capacity,
        rng: &mut Stream,
        (now, attempt, request, made): (SimTime, Key, Request, (u32, Option<Conversation>)),
    ) -> Admission {
        let over = match self.over.get(p) {
            Some(over) if !over.is_empty() => over,
            _ => return pool.offer(now, attempt, request, made, rng),
        };
        if let Some(&refusing) = over
            .iter()
            .find(|&&g| !self.buckets[g].would_admit(now, request))
        {
            let mut refused = self.buckets[refusing].offer(now, request, rng);
            if let Admission::Rejected(Rejection::RateLimited { group, .. }) = &mut refused {
                *group = Some(u16::try_from(refusing).expect("a model has few groups"));
            }
            return refused;
        }
        let admission = pool.offer(now, attempt, request, made, rng);
        if admission == Admission::Started {
            for &g in over {
                let counted = self.buckets[g].offer(now, request, rng);
                debug_assert_eq!(counted, Admission::Started, "it would admit");
            }
        }
        admission
    }

    /// Whether every group over pool `p` would admit `request` now
    /// (nothing is taken): what a spillover router asks before it picks
    /// the pool.
    pub fn would_admit(&mut self, p: usize, now: SimTime, request: Request) -> bool {
        match self.over.get(p) {
            Some(over) => over
                .iter()
                .all(|&g| self.buckets[g].would_admit(now, request)),
            None => true,
        }
    }

    /// An attempt at pool `p` that asked `request` ended at `now` having
    /// made `output_tokens`: each group over the pool settles it.
    #[inline]
    pub fn release(&mut self, p: usize, now: SimTime, request: Request, output_tokens: u32) {
        if let Some(over) = self.over.get(p) {
            for &g in over {
                self.buckets[g].release(now, request, output_tokens);
            }
        }
    }
}
