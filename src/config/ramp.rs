//! A shared API's ramp-rate limit as written: `ramp_limit = {
//! above_input_tokens_per_min = 1000000, growth = 0.5, every = "15m" }`.

use serde::Deserialize;

use super::checks::{Checked, positive, positive_duration, whole};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use crate::engine::TICKS_PER_MINUTE;
use crate::model::capacity::ramp::RampLimit;
use crate::model::capacity::token_bucket::MAX_PER_MIN;

/// Traffic may grow by `growth` (0.5: by half) every `every` (whole
/// minutes) once it is above `above_input_tokens_per_min`; a minute's
/// input past that is refused with a 429 (OpenAI's `slow_down`).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRampLimit {
    above_input_tokens_per_min: Number,
    growth: Number,
    every: Duration,
}

impl RawRampLimit {
    pub fn check(&self, at: &FieldPath) -> Checked<RampLimit> {
        let every_at = at.child("every");
        let every = positive_duration(&every_at, self.every)?;
        let minutes = every.ticks() / TICKS_PER_MINUTE;
        if every.ticks() % TICKS_PER_MINUTE != 0 || !(1..=1440).contains(&minutes) {
            return Err(Invalid::new(
                every_at,
                "must be a whole number of minutes, from 1m to 24h: traffic is compared minute by minute",
            ));
        }
        Ok(RampLimit {
            above_per_min: whole(
                &at.child("above_input_tokens_per_min"),
                self.above_input_tokens_per_min,
                1,
                MAX_PER_MIN,
            )?,
            growth: positive(&at.child("growth"), self.growth)?,
            every_min: minutes as u32,
        })
    }
}
