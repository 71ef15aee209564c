//! Prices as written, in US dollars.

use serde::Deserialize;

use super::checks::{Checked, non_negative};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::Number;
use crate::model::capacity::CapacitySpec;
use crate::model::prices::Prices;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrices {
    input_per_mtok: Option<Number>,
    cached_input_per_mtok: Option<Number>,
    output_per_mtok: Option<Number>,
    per_lane_hour: Option<Number>,
}

impl RawPrices {
    /// The prices at `at`, of which `per_lane_hour` only for reserved capacity.
    pub fn check(&self, at: &FieldPath, capacity: &CapacitySpec) -> Checked<Prices> {
        let price = |name: &str, value: Option<Number>| {
            value.map(|n| non_negative(&at.child(name), n)).transpose()
        };
        if self.per_lane_hour.is_some() && capacity.lanes().is_none() {
            return Err(Invalid::new(
                at.child("per_lane_hour"),
                "applies to reserved capacity only (its capacity's kind is \"shared_api\")",
            ));
        }
        let input_per_mtok = price("input_per_mtok", self.input_per_mtok)?.unwrap_or_default();
        Ok(Prices {
            input_per_mtok,
            // Without a cache price, cached input costs what other input does.
            cached_input_per_mtok: price("cached_input_per_mtok", self.cached_input_per_mtok)?
                .unwrap_or(input_per_mtok),
            output_per_mtok: price("output_per_mtok", self.output_per_mtok)?.unwrap_or_default(),
            per_lane_hour: price("per_lane_hour", self.per_lane_hour)?.unwrap_or_default(),
        })
    }
}
