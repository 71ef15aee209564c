//! Routers as written: `[router]` and `[class_router.NAME]`, each spreading
//! attempts over the model's `[[pool]]`s, checked against the pools.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::checks::{self, Checked, positive, positive_duration, shares};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use super::tagged::{NoCommon, Tagged, Variants};
use crate::model::capacity::pool::{Failover, FailureKind, PoolSpec, Router};

/// `[router]` or `[class_router.NAME]`: how attempts are spread over the pools.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawRouter {
    Single(RawSingle),
    Spillover(RawSpillover),
    Failover(RawFailover),
    Weighted(RawWeighted),
}

impl Variants for RawRouter {
    const TAG: &'static str = "kind";
    type Common = NoCommon;
}

/// Every attempt to one pool.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSingle {
    pool: String,
}

/// Pools in the order attempts are offered to them.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSpillover {
    order: Vec<String>,
    /// Per reserved pool (not the last): how many attempts its lane queue
    /// may hold and still take more (default 0: only a free lane).
    #[serde(default)]
    queue_up_to: BTreeMap<String, Number>,
}

/// A primary pool, and a fallback while the primary cools down.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFailover {
    primary: String,
    fallback: String,
    /// The failures that count: rate_limited, overloaded, queue_full,
    /// unavailable, server_error, timeout (default: all of them).
    on: Option<Vec<String>>,
    /// Failures within a minute the primary may have before it cools down.
    allowed_fails: Option<Number>,
    cool_down: Duration,
}

/// Fixed shares of the attempts, by pool name.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWeighted {
    weights: BTreeMap<String, Number>,
}

/// The pools' names, in order, and each name's index: a look-up per name
/// (a list searched for every name a router gives made `check` quadratic:
/// 59 s for 10^5 pools).
pub(super) struct PoolNames<'a> {
    pub(super) names: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
}

impl<'a> PoolNames<'a> {
    pub(super) fn new(pools: &'a [PoolSpec]) -> Self {
        let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        let index = names.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        PoolNames { names, index }
    }
}

/// The pool named `name`, for the field at `at`.
pub(super) fn pool_named(at: &FieldPath, name: &str, names: &PoolNames) -> Checked<usize> {
    names.index.get(name).copied().ok_or_else(|| {
        Invalid::new(
            at.clone(),
            format!(
                "no pool is called `{name}`: the pools are {}",
                names.names.join(", ")
            ),
        )
    })
}

/// The router `raw` (at `at`) over `pools`.
pub(super) fn check_router(
    raw: &Tagged<RawRouter>,
    at: &FieldPath,
    pools: &[PoolSpec],
    names: &PoolNames,
) -> Checked<Router> {
    Ok(match raw.read(at)? {
        RawRouter::Single(single) => {
            Router::Single(pool_named(&at.child("pool"), &single.pool, names)?)
        }
        RawRouter::Spillover(spill) => check_spillover(&spill, at, pools, names)?,
        RawRouter::Failover(f) => check_failover(&f, at, names)?,
        RawRouter::Weighted(w) => check_weighted(&w, at, names)?,
    })
}

fn check_spillover(
    spill: &RawSpillover,
    at: &FieldPath,
    pools: &[PoolSpec],
    names: &PoolNames,
) -> Checked<Router> {
    let mut order = Vec::with_capacity(spill.order.len());
    let mut listed = HashSet::new();
    for (i, name) in spill.order.iter().enumerate() {
        let field = at.child("order").child(i);
        let p = pool_named(&field, name, names)?;
        if !listed.insert(p) {
            return Err(Invalid::new(
                field,
                format!("`{name}` is listed twice: each pool is offered attempts once"),
            ));
        }
        order.push(p);
    }
    if order.is_empty() {
        return Err(Invalid::new(
            at.child("order"),
            "must name at least one pool",
        ));
    }
    let mut queue_up_to = vec![0; order.len()];
    for (name, n) in &spill.queue_up_to {
        let field = at.child("queue_up_to").child(name);
        let position = order.iter().position(|&p| names.names[p] == name.as_str());
        let Some(i) = position.filter(|&i| i + 1 < order.len()) else {
            return Err(Invalid::new(
                field,
                "names a pool before the last in `order`: the last takes every attempt the others cannot",
            ));
        };
        if pools[order[i]].capacity.lanes().is_none() {
            return Err(Invalid::new(
                field,
                "applies to reserved pools only: a shared API has no lane queue",
            ));
        }
        queue_up_to[i] = checks::whole(&field, *n, 0, u64::from(u32::MAX))? as u32;
    }
    Ok(Router::Spillover { order, queue_up_to })
}

/// A failover router: the primary, a fallback other than it, the failures
/// that count and how many a minute the primary may have.
fn check_failover(f: &RawFailover, at: &FieldPath, names: &PoolNames) -> Checked<Router> {
    let primary = pool_named(&at.child("primary"), &f.primary, names)?;
    let fallback = pool_named(&at.child("fallback"), &f.fallback, names)?;
    if fallback == primary {
        return Err(Invalid::new(
            at.child("fallback"),
            format!(
                "`{}` is also the primary: a pool cannot fail over to itself",
                f.fallback
            ),
        ));
    }
    let on = match &f.on {
        None => FailureKind::ALL.to_vec(),
        Some(kinds) => kinds
            .iter()
            .enumerate()
            .map(|(i, name)| {
                FailureKind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        Invalid::new(
                            at.child("on").child(i),
                            format!(
                                "unknown failure `{name}`: allowed are {}",
                                FailureKind::ALL.map(FailureKind::name).join(", ")
                            ),
                        )
                    })
            })
            .collect::<Checked<Vec<_>>>()?,
    };
    let allowed_fails = f
        .allowed_fails
        .map(|n| checks::whole(&at.child("allowed_fails"), n, 0, u64::from(u32::MAX)))
        .transpose()?
        .unwrap_or(0) as u32;
    Ok(Router::Failover(Failover {
        primary,
        fallback,
        on,
        allowed_fails,
        cool_down: positive_duration(&at.child("cool_down"), f.cool_down)?,
    }))
}

/// A weighted router: two pools or more, each with a positive weight.
fn check_weighted(w: &RawWeighted, at: &FieldPath, names: &PoolNames) -> Checked<Router> {
    if w.weights.len() < 2 {
        return Err(Invalid::new(
            at.child("weights"),
            "give at least two pools' weights (for one pool, use kind = \"single\")",
        ));
    }
    let mut chosen = Vec::with_capacity(w.weights.len());
    let mut weights = Vec::with_capacity(w.weights.len());
    for (name, weight) in &w.weights {
        let field = at.child("weights").child(name);
        chosen.push(pool_named(&field, name, names)?);
        weights.push(positive(&field, *weight)?);
    }
    Ok(Router::Weighted {
        pools: chosen,
        shares: shares(&weights),
    })
}
