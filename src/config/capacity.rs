//! Capacity as written: `kind = "shared_api"` or `kind = "reserved"`.

use std::path::Path;

use serde::Deserialize;

use super::checks::{Checked, positive, probability, whole};
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use super::tagged::Variants;
use crate::engine::SimDuration;
use crate::model::capacity::CapacitySpec;
use crate::model::reserved::ReservedSpec;
use crate::model::service_time::ServiceTime;
use crate::model::shared_api::{Bursts, Overload, SharedApiSpec};
use crate::model::token_bucket::MAX_PER_MIN;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawCapacity {
    SharedApi(RawSharedApi),
    Reserved(RawReserved),
}

impl Variants for RawCapacity {
    const TAG: &'static str = "kind";
    type Common = RawService;
}

/// What every kind of capacity takes: how long a call is served.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    time_to_first_token: RawDist,
    output_tokens_per_s: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSharedApi {
    requests_per_min: Option<Number>,
    input_tokens_per_min: Option<Number>,
    cache_reads_count: Option<bool>,
    output_tokens_per_min: Option<Number>,
    max_concurrency: Option<Number>,
    concurrency_retry_after: Option<Duration>,
    overload: Option<RawOverload>,
    burst: Option<RawBursts>,
}

/// What each bucket holds at most, where not one minute's worth.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBursts {
    requests: Option<Number>,
    input_tokens: Option<Number>,
    output_tokens: Option<Number>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReserved {
    lanes: Number,
    queue_limit: Option<Number>,
    /// The retry-after sent with a refusal for a full queue (a gateway's).
    queue_full_retry_after: Option<Duration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawOverload {
    threshold: Number,
    saturation: Number,
    max_probability: Number,
}

impl RawService {
    fn check(&self, at: &FieldPath, base_dir: &Path) -> Checked<ServiceTime> {
        Ok(ServiceTime {
            time_to_first_token: self
                .time_to_first_token
                .duration(&at.child("time_to_first_token"), base_dir)?,
            output_tokens_per_s: self
                .output_tokens_per_s
                .map(|n| positive(&at.child("output_tokens_per_s"), n))
                .transpose()?,
        })
    }
}

/// A whole number of at most `u32::MAX`, at least `min`.
fn optional_u32(at: &FieldPath, n: Option<Number>, min: u64) -> Checked<Option<u32>> {
    n.map(|n| whole(at, n, min, u64::from(u32::MAX)).map(|v| v as u32))
        .transpose()
}

impl RawCapacity {
    /// The capacity at `at`, serving calls as `service` says.
    pub fn check(
        self,
        service: &RawService,
        at: &FieldPath,
        base_dir: &Path,
    ) -> Checked<CapacitySpec> {
        let service = service.check(at, base_dir)?;
        Ok(match self {
            RawCapacity::SharedApi(raw) => {
                let limit = |name: &str, value: Option<Number>| {
                    value
                        .map(|n| whole(&at.child(name), n, 1, MAX_PER_MIN))
                        .transpose()
                };
                CapacitySpec::SharedApi(SharedApiSpec {
                    service,
                    requests_per_min: limit("requests_per_min", raw.requests_per_min)?,
                    input_tokens_per_min: limit("input_tokens_per_min", raw.input_tokens_per_min)?,
                    cache_reads_count: raw.cache_reads_count.unwrap_or(true),
                    output_tokens_per_min: limit(
                        "output_tokens_per_min",
                        raw.output_tokens_per_min,
                    )?,
                    max_concurrency: optional_u32(
                        &at.child("max_concurrency"),
                        raw.max_concurrency,
                        1,
                    )?,
                    concurrency_retry_after: raw
                        .concurrency_retry_after
                        .map_or(SimDuration::from_secs(1), |d| d.0),
                    overload: raw
                        .overload
                        .as_ref()
                        .map(|o| o.check(&at.child("overload")))
                        .transpose()?,
                    burst: raw.burst.as_ref().map_or(Ok(Bursts::default()), |b| {
                        b.check(
                            &at.child("burst"),
                            [
                                raw.requests_per_min.is_some(),
                                raw.input_tokens_per_min.is_some(),
                                raw.output_tokens_per_min.is_some(),
                            ],
                        )
                    })?,
                })
            }
            RawCapacity::Reserved(raw) => CapacitySpec::Reserved(ReservedSpec {
                service,
                lanes: whole(&at.child("lanes"), raw.lanes, 1, 1_000_000)? as u32,
                queue_limit: optional_u32(&at.child("queue_limit"), raw.queue_limit, 0)?,
                queue_full_retry_after: match (raw.queue_full_retry_after, raw.queue_limit) {
                    (Some(_), None) => {
                        return Err(Invalid::new(
                            at.child("queue_full_retry_after"),
                            "is sent when the queue is full: set queue_limit too",
                        ));
                    }
                    (d, _) => d.map(|d| d.0),
                },
            }),
        })
    }
}

impl RawBursts {
    /// The bursts, each for a limit the capacity has (`limits`: requests,
    /// input tokens, output tokens).
    fn check(&self, at: &FieldPath, limits: [bool; 3]) -> Checked<Bursts> {
        let fields = [
            ("requests", self.requests, "requests_per_min"),
            ("input_tokens", self.input_tokens, "input_tokens_per_min"),
            ("output_tokens", self.output_tokens, "output_tokens_per_min"),
        ];
        let mut checked = [None; 3];
        for (i, (name, value, limit)) in fields.into_iter().enumerate() {
            let Some(n) = value else { continue };
            if !limits[i] {
                return Err(Invalid::new(
                    at.child(name),
                    format!("is the burst of {limit}, which this capacity does not set"),
                ));
            }
            checked[i] = Some(whole(&at.child(name), n, 1, MAX_PER_MIN)?);
        }
        Ok(Bursts {
            requests: checked[0],
            input_tokens: checked[1],
            output_tokens: checked[2],
        })
    }
}

impl RawOverload {
    fn check(&self, at: &FieldPath) -> Checked<Overload> {
        let threshold = whole(
            &at.child("threshold"),
            self.threshold,
            0,
            u64::from(u32::MAX),
        )? as u32;
        let saturation = whole(
            &at.child("saturation"),
            self.saturation,
            0,
            u64::from(u32::MAX),
        )? as u32;
        if saturation <= threshold {
            return Err(Invalid::new(
                at.child("saturation"),
                format!("must be above threshold ({saturation} <= {threshold})"),
            ));
        }
        Ok(Overload {
            threshold,
            saturation,
            max_probability: probability(&at.child("max_probability"), self.max_probability)?,
        })
    }
}
