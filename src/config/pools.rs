//! Pools as written: `[capacity]` and `[prices]` for one pool, or
//! `[[pool]]`s behind a `[router]`, with `[class_router.NAME]` for a class
//! routed its own way (the routers themselves are in `router`).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use super::capacity::RawCapacity;
use super::checks::Checked;
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::presets;
use super::prices::RawPrices;
use super::router::{PoolNames, RawRouter, check_router};
use super::tagged::Tagged;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::{PoolSpec, Router};
use crate::model::prices::Prices;

/// A `[[pool]]`: capacity of any kind, with its own prices.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    name: String,
    capacity: Tagged<RawCapacity>,
    prices: Option<RawPrices>,
    /// The models of `[models]` it serves (default: every one), each with
    /// this pool's limits and prices, as providers set both per model.
    models: Option<Vec<String>>,
}

/// The model's pools, its routers and which router each class uses.
pub struct Routing {
    pub pools: Vec<PoolSpec>,
    /// Each provider's limit that two or more pools name presets of, and
    /// those pools (see [`presets::limit_of`]).
    pub preset_limits: Vec<(String, Vec<usize>)>,
    /// Each provider account that two or more pools name presets of, and
    /// those pools (see [`presets::account_of`]).
    pub preset_accounts: Vec<(String, Vec<usize>)>,
    pub routers: Vec<Router>,
    /// Per class and model, an index into `routers` (none for a model the
    /// class's agent never calls).
    pub router_of: Vec<Vec<Option<usize>>>,
}

/// Who calls which model: the models' names, and per user class (with
/// its agent's name) the models its agent calls.
pub struct Calls<'a> {
    pub models: &'a [String],
    pub classes: &'a [String],
    pub agents: Vec<&'a str>,
    pub class_models: Vec<Vec<u16>>,
}

/// What a model file says about capacity, pools and routing.
pub struct RawRouting<'a> {
    pub capacity: Option<&'a Tagged<RawCapacity>>,
    pub prices: Option<&'a RawPrices>,
    pub pools: &'a [RawPool],
    pub router: Option<&'a Tagged<RawRouter>>,
    pub class_routers: &'a BTreeMap<String, Tagged<RawRouter>>,
}

impl RawRouting<'_> {
    /// A warning for each capacity naming a preset its provider no longer
    /// sells as described, at its `preset`.
    pub fn superseded_presets(&self) -> Vec<Invalid> {
        let named = |capacity: &Tagged<RawCapacity>, at: FieldPath| {
            let name = preset_named(capacity)?;
            Some(Invalid::new(at.child("preset"), presets::superseded(name)?))
        };
        let single = self
            .capacity
            .and_then(|c| named(c, FieldPath::root("capacity")));
        let pools = self.pools.iter().enumerate().filter_map(|(i, p)| {
            named(
                &p.capacity,
                FieldPath::root("pool").child(i).child("capacity"),
            )
        });
        single.into_iter().chain(pools).collect()
    }

    /// The model's pools and routers: one pool named `capacity` from
    /// `[capacity]` and `[prices]`, or the `[[pool]]`s behind a `[router]`
    /// (which a single pool may leave out) and the classes' own routers.
    ///
    /// Each class's router is restricted, for each model its agent calls,
    /// to the pools serving that model. Without a router, pools that each
    /// serve their own models need none: each model goes to its pool.
    pub fn check(&self, calls: &Calls<'_>, base_dir: &Path) -> Checked<Routing> {
        let classes = calls.classes;
        let pools = self.pools(calls.models, base_dir)?;
        if self.pools.is_empty() {
            let n = calls.models.len();
            return Ok(Routing {
                pools,
                preset_limits: Vec::new(),
                preset_accounts: Vec::new(),
                routers: vec![Router::Single(0)],
                router_of: calls
                    .class_models
                    .iter()
                    .map(|used| {
                        (0..n as u16)
                            .map(|m| used.contains(&m).then_some(0))
                            .collect()
                    })
                    .collect(),
            });
        }
        let names = PoolNames::new(&pools);
        every_model_served(calls, &pools)?;
        let (mut routers, mut router_of) = self.class_routers(classes, &pools, &names)?;
        let unrouted = router_of.iter().any(Option::is_none);
        let mut default_router = None;
        match (self.router, unrouted) {
            (Some(raw), true) => {
                let default = routers.len();
                default_router = Some(default);
                routers.push(check_router(
                    raw,
                    &FieldPath::root("router"),
                    &pools,
                    &names,
                )?);
                for r in router_of.iter_mut().filter(|r| r.is_none()) {
                    *r = Some(default);
                }
            }
            (Some(_), false) => {
                return Err(Invalid::new(
                    "router",
                    "every user class has its own router in `[class_router]`, so no class uses this one: remove it",
                ));
            }
            (None, true) if pools.len() == 1 => {
                routers.push(Router::Single(0));
                let default = routers.len() - 1;
                for r in router_of.iter_mut().filter(|r| r.is_none()) {
                    *r = Some(default);
                }
            }
            // Each model to the one pool that serves it: no router needed.
            (None, true) if calls.models.len() > 1 && by_model(&pools, calls).is_some() => {}
            (None, true) => {
                return Err(Invalid::new(
                    "router",
                    format!(
                        "missing: {} pools need a router, e.g. [router] kind = \"spillover\", order = [\"{}\"]",
                        pools.len(),
                        names.names.join("\", \"")
                    ),
                ));
            }
            (None, false) => {}
        }
        let router_of = per_model(&router_of, &mut routers, &pools, calls, default_router)?;
        every_pool_reached(&names, &routers, &router_of)?;
        Ok(Routing {
            pools,
            preset_limits: self.pools_by_preset(presets::limit_of),
            preset_accounts: self.pools_by_preset(presets::account_of),
            routers,
            router_of,
        })
    }

    /// Each value of `of` (a provider's limit, or account) that two or
    /// more `[[pool]]`s name presets of, with those pools, in the order of
    /// the values.
    fn pools_by_preset(&self, of: fn(&str) -> Option<String>) -> Vec<(String, Vec<usize>)> {
        let mut held: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, pool) in self.pools.iter().enumerate() {
            if let Some(value) = preset_named(&pool.capacity).and_then(of) {
                held.entry(value).or_default().push(i);
            }
        }
        held.retain(|_, pools| pools.len() > 1);
        held.into_iter().collect()
    }

    /// The classes' own routers (`[class_router]`), and which class has
    /// which (none yet for a class without one).
    fn class_routers(
        &self,
        classes: &[String],
        pools: &[PoolSpec],
        names: &PoolNames,
    ) -> Checked<(Vec<Router>, Vec<Option<usize>>)> {
        let mut routers = Vec::new();
        let mut router_of = vec![None; classes.len()];
        for (class, raw) in self.class_routers {
            let at = FieldPath::root("class_router").child(class);
            let Some(c) = classes.iter().position(|n| n == class) else {
                return Err(Invalid::new(
                    at,
                    format!(
                        "no user class is called `{class}`: the classes are {}",
                        classes.join(", ")
                    ),
                ));
            };
            router_of[c] = Some(routers.len());
            routers.push(check_router(raw, &at, pools, names)?);
        }
        Ok((routers, router_of))
    }

    fn pools(&self, models: &[String], base_dir: &Path) -> Checked<Vec<PoolSpec>> {
        let every: Vec<u16> = (0..models.len() as u16).collect();
        match (self.capacity, self.pools.is_empty()) {
            (Some(capacity), true) => self.single(capacity, every, base_dir),
            (Some(_), false) => Err(Invalid::new(
                "capacity",
                "give either one `[capacity]` or `[[pool]]`s, not both",
            )),
            (None, true) => Err(Invalid::new(
                "capacity",
                "missing: a `[capacity]` table (or `[[pool]]`s with a `[router]`)",
            )),
            (None, false) => self.pool_list(models, &every, base_dir),
        }
    }

    /// The one pool of a model with a `[capacity]`, serving every model.
    fn single(
        &self,
        capacity: &Tagged<RawCapacity>,
        every: Vec<u16>,
        base_dir: &Path,
    ) -> Checked<Vec<PoolSpec>> {
        if self.router.is_some() || !self.class_routers.is_empty() {
            return Err(Invalid::new(
                if self.router.is_some() {
                    "router"
                } else {
                    "class_router"
                },
                "a router spreads attempts over `[[pool]]`s; this model has one `[capacity]`",
            ));
        }
        let (capacity, prices) = read_pool(
            (FieldPath::root("capacity"), FieldPath::root("prices")),
            capacity,
            self.prices,
            base_dir,
        )?;
        Ok(vec![PoolSpec {
            name: "capacity".to_owned(),
            capacity,
            prices,
            models: every,
        }])
    }

    /// The `[[pool]]`s, each named apart from the others and serving the
    /// models it names (every model if it names none).
    fn pool_list(
        &self,
        models: &[String],
        every: &[u16],
        base_dir: &Path,
    ) -> Checked<Vec<PoolSpec>> {
        if self.prices.is_some() {
            return Err(Invalid::new(
                "prices",
                "with `[[pool]]`s each pool has its own `prices`: move these into the pools",
            ));
        }
        let mut pools: Vec<PoolSpec> = Vec::with_capacity(self.pools.len());
        let mut seen = HashSet::new();
        for (i, p) in self.pools.iter().enumerate() {
            let at = FieldPath::root("pool").child(i);
            if p.name.is_empty() || p.name.contains(['.', ',']) || !seen.insert(p.name.as_str()) {
                return Err(Invalid::new(
                    at.child("name"),
                    format!(
                        "must be non-empty, without dots or commas, and unlike every other pool's (got \"{}\")",
                        p.name
                    ),
                ));
            }
            let (capacity, prices) = read_pool(
                (at.child("capacity"), at.child("prices")),
                &p.capacity,
                p.prices.as_ref(),
                base_dir,
            )?;
            let served = match &p.models {
                None => every.to_vec(),
                Some(names) => served(names, models, at.child("models"))?,
            };
            pools.push(PoolSpec {
                name: p.name.clone(),
                capacity,
                prices,
                models: served,
            });
        }
        Ok(pools)
    }
}

/// The preset a capacity names, if any.
fn preset_named(capacity: &Tagged<RawCapacity>) -> Option<&str> {
    capacity.table().get("preset")?.as_str()
}

/// A pool's capacity (at the first path) and prices (at the second).
fn read_pool(
    (at, prices_at): (FieldPath, FieldPath),
    capacity: &Tagged<RawCapacity>,
    prices: Option<&RawPrices>,
    base_dir: &Path,
) -> Checked<(CapacitySpec, Prices)> {
    let preset = preset_named(capacity);
    let (table, preset_prices) = presets::capacity_over(capacity.table())
        .map_err(|m| Invalid::new(at.child("preset"), m.0))?;
    let (service, kind) = Tagged::<RawCapacity>::new(table).read_with_common(&at)?;
    let capacity = kind.check(&service, &at, base_dir)?;
    // Prices given for the pool replace its preset's whole.
    let preset_prices: Option<RawPrices> = preset_prices.map(|table| {
        table
            .try_into()
            .expect("every capacity preset's prices read (a test reads each)")
    });
    // A preset that prices tokens: prices given in its place must too
    // (a provisioned deployment's prices bill no tokens).
    if let (Some(given), Some(theirs)) = (prices, &preset_prices)
        && theirs.unpriced_tokens().is_none()
        && let Some(missing) = given.unpriced_tokens()
    {
        return Err(Invalid::new(
            prices_at.child(missing),
            format!(
                "prices given for a pool with a preset replace its prices whole, and these give no {missing}: give every price (`loopcap presets {}` lists the preset's), or none to keep the preset's",
                preset.unwrap_or_default()
            ),
        ));
    }
    let prices = prices
        .or(preset_prices.as_ref())
        .map_or(Ok(Prices::default()), |p| p.check(&prices_at, &capacity))?;
    Ok((capacity, prices))
}

/// The indices of the models `names` (a pool's `models`, at `at`) among `models`.
fn served(names: &[String], models: &[String], at: FieldPath) -> Checked<Vec<u16>> {
    let mut served = Vec::with_capacity(names.len());
    for name in names {
        let m = models.iter().position(|n| n == name).ok_or_else(|| {
            Invalid::new(
                at.clone(),
                match models {
                    [_] => format!("no model is called `{name}`: declare the models in `[models]`"),
                    _ => format!(
                        "no model is called `{name}`: the models are {}",
                        models.join(", ")
                    ),
                },
            )
        })?;
        served.push(m as u16);
    }
    if served.is_empty() {
        return Err(Invalid::new(at, "must name at least one model"));
    }
    Ok(served)
}

/// Per model, the one pool serving it, when each model has exactly one.
fn by_model(pools: &[PoolSpec], calls: &Calls<'_>) -> Option<Vec<usize>> {
    (0..calls.models.len() as u16)
        .map(|m| {
            let serving: Vec<usize> = (0..pools.len())
                .filter(|&p| pools[p].models.contains(&m))
                .collect();
            match serving.as_slice() {
                [only] => Some(*only),
                _ => None,
            }
        })
        .collect()
}

/// Per class and model its agent calls, the router over the pools serving
/// the model: the class's router restricted to them (`None` for a class
/// whose models each go to their own pool).
fn per_model(
    class_router: &[Option<usize>],
    routers: &mut Vec<Router>,
    pools: &[PoolSpec],
    calls: &Calls<'_>,
    default_router: Option<usize>,
) -> Checked<Vec<Vec<Option<usize>>>> {
    let own = by_model(pools, calls);
    let mut table = Vec::with_capacity(class_router.len());
    for (c, used) in calls.class_models.iter().enumerate() {
        let mut row = vec![None; calls.models.len()];
        for &m in used {
            let serves = |p: usize| pools[p].models.contains(&m);
            let router = match class_router[c] {
                Some(r) => routers[r].restricted(serves).ok_or_else(|| {
                    let at = match default_router {
                        Some(d) if d == r => FieldPath::root("router"),
                        _ => FieldPath::root("class_router").child(&calls.classes[c]),
                    };
                    Invalid::new(
                        at,
                        format!(
                            "sends attempts to no pool serving model `{}`, which agent `{}` calls: add one, or list the model in a pool's `models`",
                            calls.models[usize::from(m)],
                            calls.agents[c]
                        ),
                    )
                })?,
                None => Router::Single(own.as_ref().expect("checked by the caller")[usize::from(m)]),
            };
            let index = match routers.iter().position(|r| *r == router) {
                Some(i) => i,
                None => {
                    routers.push(router);
                    routers.len() - 1
                }
            };
            row[usize::from(m)] = Some(index);
        }
        table.push(row);
    }
    Ok(table)
}

/// Every model a class's agent calls is served by some pool.
fn every_model_served(calls: &Calls<'_>, pools: &[PoolSpec]) -> Checked<()> {
    for (c, used) in calls.class_models.iter().enumerate() {
        if let Some(&m) = used
            .iter()
            .find(|&&m| !pools.iter().any(|p| p.models.contains(&m)))
        {
            return Err(Invalid::new(
                FieldPath::root("agents").child(calls.agents[c]),
                format!(
                    "calls model `{}`, which no pool serves: list it in a pool's `models`",
                    calls.models[usize::from(m)]
                ),
            ));
        }
    }
    Ok(())
}

/// Some class's router sends attempts to every pool.
fn every_pool_reached(
    names: &PoolNames,
    routers: &[Router],
    router_of: &[Vec<Option<usize>>],
) -> Checked<()> {
    // Once over the routers in use, not once a pool.
    let used: HashSet<usize> = router_of.iter().flatten().flatten().copied().collect();
    let reached: HashSet<usize> = used.iter().flat_map(|&r| routers[r].pools()).collect();
    if let Some(unreached) = names
        .names
        .iter()
        .enumerate()
        .find(|&(p, _)| !reached.contains(&p))
    {
        return Err(Invalid::new(
            FieldPath::root("pool").child(unreached.0).child("name"),
            format!(
                "no user class's router sends attempts to pool `{}`: add it to a router, or remove it",
                unreached.1
            ),
        ));
    }
    Ok(())
}
