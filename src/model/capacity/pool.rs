//! Capacity pools and the router that picks one per attempt.
//!
//! A model with one `[capacity]` has one pool, and every attempt goes there.
//! With `[[pool]]`s, each user class has a router (the model's `[router]`,
//! or its own in `[class_router]`):
//! - `spillover` offers each attempt to the pools in order: the first that
//!   can take it now ([`crate::model::capacity::kind::Capacity::can_take_now`]) gets it,
//!   and the last pool takes whatever the others could not;
//! - `failover` sends every attempt to its primary, except while the
//!   primary cools down after failing; then to its fallback;
//! - `weighted` draws each attempt's pool with fixed shares;
//! - `single` sends every attempt to one pool.

use std::collections::VecDeque;

use crate::engine::{SimDuration, SimTime};
use crate::model::capacity::admission::Rejection;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::prices::Prices;

/// One pool: capacity of any kind, with its own prices.
#[derive(Clone, Debug)]
pub struct PoolSpec {
    pub name: String,
    pub capacity: CapacitySpec,
    pub prices: Prices,
    /// The models it serves (indices into the model's `models`), in order.
    pub models: Vec<u16>,
}

/// How one class's attempts are spread over the pools (indices into the
/// model's pools).
#[derive(Clone, Debug, PartialEq)]
pub enum Router {
    /// Every attempt to one pool: a model with one `[capacity]`, or a class
    /// routed to one pool.
    Single(usize),
    /// The first of `order` that can take the attempt now, else the last.
    /// `queue_up_to[i]` is how many attempts pool `order[i]`'s lane queue
    /// may hold and still take more (reserved pools; 0: only a free lane).
    Spillover {
        order: Vec<usize>,
        queue_up_to: Vec<u32>,
    },
    /// Every attempt to `primary`, except while it cools down after
    /// failing: then to `fallback`.
    Failover(Failover),
    /// Each attempt to pool `pools[i]` with probability `shares[i]`.
    Weighted { pools: Vec<usize>, shares: Vec<f64> },
}

/// A primary pool and the fallback that takes its traffic while it cools
/// down, as LLM gateways' fallback and cool-down settings do.
#[derive(Clone, Debug, PartialEq)]
pub struct Failover {
    pub primary: usize,
    pub fallback: usize,
    /// The failures of the primary that count towards a cool-down.
    pub on: Vec<FailureKind>,
    /// How many such failures within a minute the primary may have before
    /// it cools down (0: the first failure does it).
    pub allowed_fails: u32,
    pub cool_down: SimDuration,
}

/// A way an attempt fails at a pool, as a failover router's `on` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    RateLimited,
    Overloaded,
    QueueFull,
    Unavailable,
    ServerError,
    Timeout,
    /// A Batch API's batch expired before it reached the call.
    Expired,
}

impl FailureKind {
    pub const ALL: [FailureKind; 7] = [
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::QueueFull,
        FailureKind::Unavailable,
        FailureKind::ServerError,
        FailureKind::Timeout,
        FailureKind::Expired,
    ];

    /// The name model files give it.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Overloaded => "overloaded",
            FailureKind::QueueFull => "queue_full",
            FailureKind::Unavailable => "unavailable",
            FailureKind::ServerError => "server_error",
            FailureKind::Timeout => "timeout",
            FailureKind::Expired => "expired",
        }
    }

    /// The kind of a refusal; `None` for one no retry can fix (too large).
    pub fn of(rejection: Rejection) -> Option<FailureKind> {
        match rejection {
            Rejection::RateLimited { .. } => Some(FailureKind::RateLimited),
            Rejection::Overloaded => Some(FailureKind::Overloaded),
            Rejection::QueueFull { .. } => Some(FailureKind::QueueFull),
            Rejection::Unavailable => Some(FailureKind::Unavailable),
            Rejection::ServerError => Some(FailureKind::ServerError),
            Rejection::TooLarge => None,
        }
    }
}

impl Router {
    /// The pool attempts go to first, or most often.
    pub fn entry(&self) -> usize {
        match self {
            Router::Single(p) => *p,
            Router::Spillover { order, .. } => order[0],
            Router::Failover(f) => f.primary,
            Router::Weighted { pools, shares } => {
                let heaviest = (0..pools.len())
                    .max_by(|&a, &b| shares[a].total_cmp(&shares[b]).then(b.cmp(&a)))
                    .expect("a router has pools");
                pools[heaviest]
            }
        }
    }

    /// The pool that takes whatever the others cannot, when there is one.
    pub fn last_resort(&self) -> Option<usize> {
        match self {
            Router::Single(p) => Some(*p),
            Router::Spillover { order, .. } => order.last().copied(),
            Router::Failover(_) | Router::Weighted { .. } => None,
        }
    }

    /// The same router over only the pools `keep` accepts (those serving
    /// one model): a spillover keeps their order, weights are renormalised,
    /// a failover with one pool left sends everything there. `None` when
    /// it keeps no pool.
    pub fn restricted(&self, keep: impl Fn(usize) -> bool) -> Option<Router> {
        // The pools kept, each with its setting, in order; one left is a
        // single pool whatever the kind.
        fn kept<T: Copy>(
            pools: &[usize],
            with: &[T],
            keep: impl Fn(usize) -> bool,
        ) -> Result<(Vec<usize>, Vec<T>), Option<Router>> {
            let (pools, with): (Vec<usize>, Vec<T>) = pools
                .iter()
                .zip(with)
                .filter(|&(&p, _)| keep(p))
                .map(|(&p, &v)| (p, v))
                .unzip();
            match pools.as_slice() {
                [] => Err(None),
                [only] => Err(Some(Router::Single(*only))),
                _ => Ok((pools, with)),
            }
        }
        Some(match self {
            Router::Single(p) => Router::Single(keep(*p).then_some(*p)?),
            Router::Spillover { order, queue_up_to } => match kept(order, queue_up_to, keep) {
                Ok((order, queue_up_to)) => Router::Spillover { order, queue_up_to },
                Err(fewer) => return fewer,
            },
            Router::Failover(f) => match (keep(f.primary), keep(f.fallback)) {
                (true, true) => Router::Failover(f.clone()),
                (true, false) => Router::Single(f.primary),
                (false, true) => Router::Single(f.fallback),
                (false, false) => return None,
            },
            Router::Weighted { pools, shares } => match kept(pools, shares, keep) {
                Ok((pools, shares)) => {
                    let total: f64 = shares.iter().sum();
                    Router::Weighted {
                        pools,
                        shares: shares.iter().map(|s| s / total).collect(),
                    }
                }
                Err(fewer) => return fewer,
            },
        })
    }

    /// Every pool it can send an attempt to.
    pub fn pools(&self) -> Vec<usize> {
        match self {
            Router::Single(p) => vec![*p],
            Router::Spillover { order, .. } => order.clone(),
            Router::Failover(f) => vec![f.primary, f.fallback],
            Router::Weighted { pools, .. } => pools.clone(),
        }
    }
}

/// A failover router's state: its primary's recent failures and cool-down.
#[derive(Clone, Debug, Default)]
pub struct FailoverState {
    /// When the primary's cool-down ends.
    cool_until: SimTime,
    /// Failures counted towards the next cool-down, oldest first.
    recent: VecDeque<SimTime>,
}

/// The window `allowed_fails` counts failures in, as gateways count them.
const FAILURE_WINDOW: SimDuration = SimDuration::from_secs(60);

impl FailoverState {
    /// The pool the next attempt goes to at `now`.
    pub fn pick(&self, failover: &Failover, now: SimTime) -> usize {
        if now < self.cool_until {
            failover.fallback
        } else {
            failover.primary
        }
    }

    /// An attempt at `pool` failed as `kind` at `now`. Returns whether the
    /// primary started cooling down.
    pub fn failed(
        &mut self,
        failover: &Failover,
        pool: usize,
        kind: FailureKind,
        now: SimTime,
    ) -> bool {
        if pool != failover.primary || !failover.on.contains(&kind) || now < self.cool_until {
            return false;
        }
        while self
            .recent
            .front()
            .is_some_and(|&t| now.since(t) >= FAILURE_WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() as u64 > u64::from(failover.allowed_fails) {
            self.recent.clear();
            self.cool_until = now + failover.cool_down;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    fn failover(on: Vec<FailureKind>, allowed_fails: u32) -> Failover {
        Failover {
            primary: 0,
            fallback: 1,
            on,
            allowed_fails,
            cool_down: SimDuration::from_secs(30),
        }
    }

    #[test]
    fn only_the_primarys_listed_failures_start_a_cool_down_that_ends_on_time() {
        let f = failover(vec![FailureKind::Timeout], 0);
        let mut state = FailoverState::default();
        assert!(!state.failed(&f, 0, FailureKind::RateLimited, at(1)));
        assert!(!state.failed(&f, 1, FailureKind::Timeout, at(2)));
        assert_eq!(state.pick(&f, at(3)), 0);
        assert!(state.failed(&f, 0, FailureKind::Timeout, at(10)));
        assert_eq!(state.pick(&f, at(10)), 1);
        assert_eq!(state.pick(&f, at(39)), 1);
        assert_eq!(state.pick(&f, at(40)), 0);
    }

    /// `allowed_fails` failures within a minute are tolerated; older ones
    /// no longer count.
    #[test]
    fn allowed_fails_count_within_a_minute() {
        let f = failover(FailureKind::ALL.to_vec(), 2);
        let mut state = FailoverState::default();
        assert!(!state.failed(&f, 0, FailureKind::Overloaded, at(0)));
        assert!(!state.failed(&f, 0, FailureKind::Overloaded, at(30)));
        // The first has aged out: two in the minute, still tolerated.
        assert!(!state.failed(&f, 0, FailureKind::Overloaded, at(60)));
        assert!(state.failed(&f, 0, FailureKind::Overloaded, at(61)));
        assert_eq!(state.pick(&f, at(61)), 1);
    }

    /// A router over the pools serving one model: the rest drop out, a
    /// spillover keeping its order and queue allowances, weights
    /// renormalised, one pool left a single pool, none left no router.
    #[test]
    fn a_router_restricted_to_some_pools_keeps_their_order_and_weights() {
        let spill = Router::Spillover {
            order: vec![2, 0, 1],
            queue_up_to: vec![5, 6, 0],
        };
        assert_eq!(
            spill.restricted(|p| p != 0),
            Some(Router::Spillover {
                order: vec![2, 1],
                queue_up_to: vec![5, 0]
            })
        );
        assert_eq!(spill.restricted(|p| p == 0), Some(Router::Single(0)));
        assert_eq!(spill.restricted(|_| false), None);
        assert_eq!(spill.restricted(|_| true), Some(spill.clone()));
        let weighted = Router::Weighted {
            pools: vec![0, 1, 2],
            shares: vec![0.5, 0.3, 0.2],
        };
        let Some(Router::Weighted { pools, shares }) = weighted.restricted(|p| p != 1) else {
            panic!("two pools stay weighted");
        };
        assert_eq!(pools, [0, 2]);
        assert!((shares[0] - 0.5 / 0.7).abs() < 1e-12 && (shares[1] - 0.2 / 0.7).abs() < 1e-12);
        assert_eq!(weighted.restricted(|p| p == 2), Some(Router::Single(2)));
        let f = Router::Failover(failover(Vec::new(), 0));
        assert_eq!(f.restricted(|_| true), Some(f.clone()));
        assert_eq!(f.restricted(|p| p == 1), Some(Router::Single(1)));
        assert_eq!(f.restricted(|p| p == 0), Some(Router::Single(0)));
        assert_eq!(f.restricted(|_| false), None);
        assert_eq!(
            Router::Single(3).restricted(|p| p == 3),
            Some(Router::Single(3))
        );
        assert_eq!(Router::Single(3).restricted(|_| false), None);
    }
}
