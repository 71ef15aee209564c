//! Limits over several shared API pools together: `[organization]` over
//! every one (an organization's over its projects, an account's over its
//! keys), and `[shared_limits.NAME]` over the pools it names (an
//! organization's limit for one model over the projects' pools calling
//! it, a workspace's over its keys). A pool's own limits, its groups' and
//! the organization's nest: a call passes every one of them.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::capacity::RawSharedApi;
use super::checks::Checked;
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::router::{PoolNames, pool_named};
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::capacity::service_time::ServiceTime;
use crate::model::capacity::shared_api::SharedApiSpec;
use crate::model::capacity::shared_limits::{Account, SharedLimits};

/// `[shared_limits.NAME]`: the pools held together, and their limits.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSharedLimits {
    /// The shared API pools the limits hold together, by name.
    pools: Vec<String>,
    /// Their limits and counting rules, as a shared API's (no `overload`:
    /// they serve nothing).
    limits: RawSharedApi,
}

/// The most `[shared_limits]` groups a model may have: far more than any
/// organization's projects and workspaces, and with its organization and
/// each preset's limit well within a 429's 16-bit group index.
const MAX_GROUPS: usize = 1_000;

/// The model's limits over several pools: each provider's limit that
/// pools name presets of (`preset_limits`, in name order), each named
/// group's, in name order, then the organization's over every shared API
/// pool.
pub fn check_shared_limits(
    preset_limits: &[(String, Vec<usize>)],
    groups: &BTreeMap<String, RawSharedLimits>,
    organization: Option<&RawSharedApi>,
    pools: &[PoolSpec],
) -> Checked<Vec<SharedLimits>> {
    if groups.len() > MAX_GROUPS {
        return Err(Invalid::new(
            "shared_limits",
            format!("{} groups: at most {MAX_GROUPS} are allowed", groups.len()),
        ));
    }
    let mut checked = Vec::with_capacity(preset_limits.len() + groups.len() + 1);
    for (limit, held) in preset_limits {
        checked.push(preset_limit(limit, held, pools)?);
    }
    for (name, group) in groups {
        let at = FieldPath::root("shared_limits").child(name);
        checked.push(SharedLimits {
            name: format!("shared_limits.{name}"),
            limits: group.limits.check_shared_limits(&at.child("limits"))?,
            pools: pools_named(&group.pools, pools, &at.child("pools"))?,
        });
    }
    if let Some(organization) = organization {
        checked.push(SharedLimits {
            name: "organization".to_owned(),
            limits: organization.check_shared_limits(&FieldPath::root("organization"))?,
            pools: (0..pools.len())
                .filter(|&p| shared_api(&pools[p]))
                .collect(),
        });
    }
    Ok(checked)
}

/// The provider's `limit` over the pools `held` that name presets of it:
/// their limits as the first of them has them (they serve nothing, so no
/// service time, prompt cache or overload). Pools that give the limit
/// other numbers or counting rules beside their presets (a ramp limit, a
/// burst, what counts) are refused: a provider has one.
fn preset_limit(limit: &str, held: &[usize], pools: &[PoolSpec]) -> Checked<SharedLimits> {
    let mut apis = Vec::with_capacity(held.len());
    for &p in held {
        let CapacitySpec::SharedApi(api) = &pools[p].capacity else {
            return Err(Invalid::new(
                FieldPath::root("pool").child(p).child("capacity"),
                format!(
                    "names a preset of the provider's limit \"{limit}\" but is not a shared API"
                ),
            ));
        };
        apis.push((p, api));
    }
    let numbers = |api: &SharedApiSpec| {
        (
            [
                api.requests_per_min,
                api.input_tokens_per_min,
                api.output_tokens_per_min,
                api.tokens_per_min,
                api.max_concurrency.map(u64::from),
            ],
            api.monthly_spend_cap.map(f64::to_bits),
            (api.counting, api.tokens_charged, api.output_token_weight),
            (api.admit, api.burst, api.concurrency_retry_after),
            api.ramp_limit,
        )
    };
    let (first, api) = apis[0];
    if let Some(&(other, _)) = apis.iter().find(|(_, a)| numbers(a) != numbers(api)) {
        return Err(Invalid::new(
            FieldPath::root("pool").child(other).child("capacity"),
            format!(
                "names a preset of the provider's limit \"{limit}\", as pool `{}` does, but gives it other limits or counting rules: pools under one provider's limit share it, so give them the same (or give one its own limits without the preset)",
                pools[first].name
            ),
        ));
    }
    Ok(SharedLimits {
        name: format!("preset_limit.{limit}"),
        // Its spend cap is its account's (see `check_accounts`).
        limits: SharedApiSpec {
            service: ServiceTime::constant(0.0),
            cache_ttl: None,
            overload: None,
            monthly_spend_cap: None,
            ..api.clone()
        },
        pools: held.to_vec(),
    })
}

/// Each provider account that pools name presets of, with the one spend
/// cap they give it (an account none of whose pools has a cap has none).
/// Pools giving an account two caps are refused: an organization is on one
/// usage tier. The refusal is at `pool`, over both pools, so that a
/// `--set` or plan that changed either is named as its cause.
pub fn check_accounts(
    preset_accounts: &[(String, Vec<usize>)],
    pools: &[PoolSpec],
) -> Checked<Vec<Account>> {
    let mut accounts = Vec::with_capacity(preset_accounts.len());
    for (account, held) in preset_accounts {
        let capped = held
            .iter()
            .filter_map(|&p| Some((p, pools[p].capacity.monthly_spend_cap()?)));
        let mut cap: Option<(usize, f64)> = None;
        for (p, dollars) in capped {
            match cap {
                None => cap = Some((p, dollars)),
                Some((first, first_dollars)) if first_dollars != dollars => {
                    return Err(Invalid::new(
                        FieldPath::root("pool"),
                        format!(
                            "pools `{}` and `{}` name presets of the account \"{account}\" with monthly spend caps of {first_dollars} and {dollars}: an account has one cap, which every pool naming its presets spends against (an organization is on one usage tier); name presets of the same tier (or give one pool its own limits without the preset)",
                            pools[first].name, pools[p].name
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some((_, monthly_spend_cap)) = cap {
            accounts.push(Account {
                name: format!("account.{account}"),
                pools: held.clone(),
                monthly_spend_cap,
            });
        }
    }
    Ok(accounts)
}

fn shared_api(pool: &PoolSpec) -> bool {
    matches!(pool.capacity, CapacitySpec::SharedApi(_))
}

/// The indices of the shared API pools `names` (at `at`) among `pools`.
fn pools_named(names: &[String], pools: &[PoolSpec], at: &FieldPath) -> Checked<Vec<usize>> {
    if names.is_empty() {
        return Err(Invalid::new(
            at,
            "names no pool: give the shared API pools the limits hold together",
        ));
    }
    let known = PoolNames::new(pools);
    let mut indices: Vec<usize> = Vec::with_capacity(names.len());
    for name in names {
        let index = pool_named(at, name, &known)?;
        if !shared_api(&pools[index]) {
            return Err(Invalid::new(
                at,
                format!(
                    "pool `{name}` has kind = \"{}\": shared limits hold shared API pools",
                    pools[index].capacity.kind()
                ),
            ));
        }
        if indices.contains(&index) {
            return Err(Invalid::new(at, format!("names pool `{name}` twice")));
        }
        indices.push(index);
    }
    Ok(indices)
}
