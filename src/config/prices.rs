//! Prices as written, in US dollars.

use serde::Deserialize;

use super::checks::{Checked, non_negative, whole};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::Number;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::prices::{HOURS_PER_MONTH, LongContext, Prices, TokenPrices};

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrices {
    input_per_mtok: Option<Number>,
    cached_input_per_mtok: Option<Number>,
    /// Input written to the prompt cache (with a capacity's `cache_ttl`;
    /// default: the input price).
    cache_write_per_mtok: Option<Number>,
    output_per_mtok: Option<Number>,
    per_lane_hour: Option<Number>,
    /// Self-hosted pools: per replica alive, loading included.
    per_replica_hour: Option<Number>,
    /// A shared API deployed in provisioned units (Azure's PTUs): per unit,
    /// all month whether used or not, billed by the hour.
    per_provisioned_unit_hour: Option<Number>,
    /// The same units bought for the month (an Azure reservation, its
    /// 1-month term's price or a 1-year term's twelfth): per unit a month,
    /// in place of `per_provisioned_unit_hour`.
    per_provisioned_unit_month: Option<Number>,
    /// A flat fee a month, whatever the use (a plan's, a commitment's).
    per_month: Option<Number>,
    /// Dearer rates for a call whose input passes a size: the whole call
    /// is billed at them (Anthropic's long-context pricing).
    long_context: Option<RawLongContext>,
}

/// `[prices.long_context]`: a rate not given is the base rate of its kind.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLongContext {
    /// The input tokens (cached and written to the cache included) a call
    /// may have at the base rates; one more and the whole call is billed at
    /// these.
    above_input_tokens: Number,
    input_per_mtok: Option<Number>,
    cached_input_per_mtok: Option<Number>,
    cache_write_per_mtok: Option<Number>,
    output_per_mtok: Option<Number>,
}

/// A price at `at`, if given: not negative.
fn price(at: &FieldPath, name: &str, value: Option<Number>) -> Checked<Option<f64>> {
    value.map(|n| non_negative(&at.child(name), n)).transpose()
}

/// The token rates at `at`, those given: input, cache reads, cache writes
/// and output, each a million tokens.
fn token_rates(at: &FieldPath, given: [Option<Number>; 4]) -> Checked<[Option<f64>; 4]> {
    let names = [
        "input_per_mtok",
        "cached_input_per_mtok",
        "cache_write_per_mtok",
        "output_per_mtok",
    ];
    let mut rates = [None; 4];
    for ((rate, name), value) in rates.iter_mut().zip(names).zip(given) {
        *rate = price(at, name, value)?;
    }
    Ok(rates)
}

impl RawLongContext {
    fn check(&self, at: &FieldPath, base: TokenPrices) -> Checked<LongContext> {
        let above = whole(
            &at.child("above_input_tokens"),
            self.above_input_tokens,
            1,
            u64::from(u32::MAX),
        )?;
        let [input, cached, write, output] = token_rates(
            at,
            [
                self.input_per_mtok,
                self.cached_input_per_mtok,
                self.cache_write_per_mtok,
                self.output_per_mtok,
            ],
        )?;
        Ok(LongContext {
            above_input_tokens: above as u32,
            tokens: TokenPrices {
                input_per_mtok: input.unwrap_or(base.input_per_mtok),
                cached_input_per_mtok: cached.unwrap_or(base.cached_input_per_mtok),
                cache_write_per_mtok: write.unwrap_or(base.cache_write_per_mtok),
                output_per_mtok: output.unwrap_or(base.output_per_mtok),
            },
        })
    }
}

impl RawPrices {
    /// The first of the token prices a preset's prices would have set that
    /// these do not: given for a pool with a preset, they replace its whole.
    pub fn unpriced_tokens(&self) -> Option<&'static str> {
        [
            ("input_per_mtok", self.input_per_mtok),
            ("output_per_mtok", self.output_per_mtok),
        ]
        .into_iter()
        .find_map(|(name, given)| given.is_none().then_some(name))
    }

    /// The prices at `at`, of which `per_lane_hour` only for reserved
    /// capacity, `per_replica_hour` only for self-hosted replicas and
    /// `per_provisioned_unit_hour` or `_month` (not both) only for
    /// provisioned units.
    pub fn check(&self, at: &FieldPath, capacity: &CapacitySpec) -> Checked<Prices> {
        let price = |name: &str, value: Option<Number>| price(at, name, value);
        let hosted = matches!(capacity, CapacitySpec::SelfHosted(_));
        for (name, given, applies, what) in [
            (
                "per_lane_hour",
                self.per_lane_hour.is_some(),
                capacity.lanes().is_some(),
                "reserved capacity",
            ),
            (
                "per_replica_hour",
                self.per_replica_hour.is_some(),
                hosted,
                "self_hosted capacity",
            ),
            (
                "per_provisioned_unit_hour",
                self.per_provisioned_unit_hour.is_some(),
                capacity.provisioned_units().is_some(),
                "a shared API with provisioned_units",
            ),
            (
                "per_provisioned_unit_month",
                self.per_provisioned_unit_month.is_some(),
                capacity.provisioned_units().is_some(),
                "a shared API with provisioned_units",
            ),
        ] {
            if given && !applies {
                return Err(Invalid::new(
                    at.child(name),
                    format!(
                        "applies to {what} only (its capacity's kind is \"{}\")",
                        capacity.kind()
                    ),
                ));
            }
        }
        if self.per_provisioned_unit_hour.is_some() && self.per_provisioned_unit_month.is_some() {
            return Err(Invalid::new(
                at.child("per_provisioned_unit_month"),
                "give the units' price by the hour (billed hourly) or by the month (a reservation), not both",
            ));
        }
        let [input, cached, write, output] = token_rates(
            at,
            [
                self.input_per_mtok,
                self.cached_input_per_mtok,
                self.cache_write_per_mtok,
                self.output_per_mtok,
            ],
        )?;
        let input_per_mtok = input.unwrap_or_default();
        let tokens = TokenPrices {
            input_per_mtok,
            // Without a cache price, cached input costs what other input does.
            cached_input_per_mtok: cached.unwrap_or(input_per_mtok),
            cache_write_per_mtok: write.unwrap_or(input_per_mtok),
            output_per_mtok: output.unwrap_or_default(),
        };
        Ok(Prices {
            tokens,
            long_context: self
                .long_context
                .as_ref()
                .map(|l| l.check(&at.child("long_context"), tokens))
                .transpose()?,
            // A lane-, replica- or unit-hour: what the capacity bills by the
            // hour (a unit bought for the month, its month's price spread
            // over the month's hours).
            per_unit_hour: price("per_lane_hour", self.per_lane_hour)?
                .or(price("per_replica_hour", self.per_replica_hour)?)
                .or(price(
                    "per_provisioned_unit_hour",
                    self.per_provisioned_unit_hour,
                )?)
                .or(price(
                    "per_provisioned_unit_month",
                    self.per_provisioned_unit_month,
                )?
                .map(|month| month / HOURS_PER_MONTH))
                .unwrap_or_default(),
            per_month: price("per_month", self.per_month)?.unwrap_or_default(),
        })
    }
}
