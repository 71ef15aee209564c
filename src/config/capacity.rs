//! Capacity as written: `kind = "shared_api"`, `"reserved"` or `"batch"`.

use std::path::Path;

use serde::Deserialize;

use super::checks::{Checked, optional_u32, positive, positive_duration, probability, whole};
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use super::ramp::RawRampLimit;
use super::self_hosted::RawSelfHosted;
use super::tagged::Variants;
use crate::engine::SimDuration;
use crate::model::capacity::batch::BatchSpec;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::reserved::ReservedSpec;
use crate::model::capacity::service_time::ServiceTime;
use crate::model::capacity::shared_api::{
    Admit, Bursts, Counting, Overload, SharedApiSpec, TokensCharged,
};
use crate::model::capacity::token_bucket::MAX_PER_MIN;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RawCapacity {
    SharedApi(Box<RawSharedApi>),
    Reserved(RawReserved),
    Batch(RawBatch),
    SelfHosted(Box<RawSelfHosted>),
}

impl Variants for RawCapacity {
    const TAG: &'static str = "kind";
    type Common = RawService;
}

/// How long a call is served: required by every kind but `batch`, whose
/// calls finish when their batch does.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// A capacity preset (`loopcap presets`): a provider's tier, its
    /// counting rules and its prices, each key given beside it replacing
    /// the preset's. Taken apart before the table is read.
    preset: Option<String>,
    time_to_first_token: Option<RawDist>,
    output_tokens_per_s: Option<Number>,
    /// Uncached input tokens prefilled per second: a prompt's tokens not
    /// read from the prompt cache add to its time to first token
    /// (`self_hosted`: required; `batch`: does not apply).
    prefill_tokens_per_s: Option<Number>,
    /// How long the provider's prompt cache keeps a session's prefix after
    /// its last use (e.g. "5m", "1h"): a call whose session last reached
    /// this capacity longer ago writes its cached part (billed at
    /// `cache_write_per_mtok`, prefilled) instead of reading it. Default:
    /// the cache never expires and is never written.
    cache_ttl: Option<Duration>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSharedApi {
    requests_per_min: Option<Number>,
    input_tokens_per_min: Option<Number>,
    /// Whether prompt-cache reads count towards `input_tokens_per_min`
    /// (Anthropic's current models: no; OpenAI: yes). Unstated, they count,
    /// with a warning when the model reads from the cache.
    cache_reads_count: Option<bool>,
    /// Whether prompt-cache writes count towards it (default true).
    cache_writes_count: Option<bool>,
    /// Whether a refused request still counts against every limit, as far
    /// as each holds (OpenAI: yes; default false).
    failed_requests_count: Option<bool>,
    /// Whether the output reserved from `max_tokens` returns, down to the
    /// tokens produced, when a request ends (Anthropic: yes; default true).
    output_corrected: Option<bool>,
    output_tokens_per_min: Option<Number>,
    /// Input and output tokens together, a minute (OpenAI's TPM; an Azure
    /// provisioned deployment's throughput): input counted as for
    /// `input_tokens_per_min`, plus `max_tokens` at admission, corrected as
    /// `output_corrected` says.
    tokens_per_min: Option<Number>,
    /// How many tokens of `tokens_per_min` each output token counts as
    /// (Azure provisioned gpt-4.1: 4; default 1).
    output_token_weight: Option<Number>,
    /// What `tokens_per_min` charges a request: "input_plus_output"
    /// (default; Azure provisioned, OpenAI's cookbook) or
    /// "larger_of_input_and_output" (OpenAI's rate-limit guide).
    tokens_charged: Option<RawTokensCharged>,
    /// A provisioned deployment's size in units (Azure's PTUs):
    /// `tokens_per_min` is `provisioned_units` × `tokens_per_min_per_unit`.
    provisioned_units: Option<Number>,
    tokens_per_min_per_unit: Option<Number>,
    /// The smallest deployment on offer, in units, and the step between
    /// sizes (Azure global provisioned gpt-4.1: 15 and 5).
    min_provisioned_units: Option<Number>,
    provisioned_unit_step: Option<Number>,
    /// "within_limit" (default): a bucket admits a request when it holds
    /// all the request asks; "below_limit": while it holds anything, the
    /// request taking it below empty (Azure provisioned).
    admit: Option<RawAdmit>,
    /// The most the tier lets you spend a month (USD), past which the
    /// provider refuses calls: the run says when a month would pass it.
    monthly_spend_cap: Option<Number>,
    max_concurrency: Option<Number>,
    /// Traffic grown faster than this is refused (OpenAI's ramp rule).
    ramp_limit: Option<RawRampLimit>,
    concurrency_retry_after: Option<Duration>,
    overload: Option<RawOverload>,
    burst: Option<RawBursts>,
    /// Each per-minute limit enforced over this shorter interval: each
    /// bucket holds that interval's share of its minute (60 requests a
    /// minute over "1s" hold 1), as Anthropic and OpenAI say they may.
    enforced_over: Option<Duration>,
}

/// What each bucket holds at most, where not one minute's worth.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBursts {
    requests: Option<Number>,
    input_tokens: Option<Number>,
    output_tokens: Option<Number>,
    tokens: Option<Number>,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RawTokensCharged {
    InputPlusOutput,
    LargerOfInputAndOutput,
}

#[derive(Clone, Copy, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RawAdmit {
    WithinLimit,
    BelowLimit,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReserved {
    lanes: Number,
    queue_limit: Option<Number>,
    /// The retry-after sent with a refusal for a full queue (a gateway's).
    queue_full_retry_after: Option<Duration>,
}

/// A Batch API: calls collected into batches that complete after a latency.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    /// From a batch's submission to its results.
    latency: RawDist,
    /// How long a batch collects calls before it is submitted.
    collect_for: Duration,
    /// Calls per batch at most (default 50,000, OpenAI's limit).
    max_requests_per_batch: Option<Number>,
    /// Batches open or in progress at once, at most (default: no limit).
    max_batches_in_progress: Option<Number>,
    /// Calls in batches open or in progress, at most (the provider's limit
    /// on batch requests in its processing queue; default: no limit).
    max_queued_requests: Option<Number>,
    /// Input tokens of every call in batches open or in progress, at most
    /// (the provider's enqueued-token limit; default: no limit).
    max_queued_tokens: Option<Number>,
    /// A batch not done this long after submission expires (default 24h).
    completion_window: Option<Duration>,
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
        let Some(first_token) = &self.time_to_first_token else {
            return Err(Invalid::new(
                at.child("time_to_first_token"),
                "missing: how long until a call's first token",
            ));
        };
        Ok(ServiceTime {
            time_to_first_token: first_token
                .duration(&at.child("time_to_first_token"), base_dir)?,
            prefill_tokens_per_s: self
                .prefill_tokens_per_s
                .map(|n| positive(&at.child("prefill_tokens_per_s"), n))
                .transpose()?,
            output_tokens_per_s: self
                .output_tokens_per_s
                .map(|n| positive(&at.child("output_tokens_per_s"), n))
                .transpose()?,
            prefill_makes_first_token: false,
        })
    }
}

impl RawCapacity {
    /// The capacity at `at`, serving calls as `service` says.
    pub fn check(
        self,
        service: &RawService,
        at: &FieldPath,
        base_dir: &Path,
    ) -> Checked<CapacitySpec> {
        // The pool's preset was taken apart before; one left is a preset's own.
        if service.preset.is_some() {
            return Err(Invalid::new(
                at.child("preset"),
                "a preset's table cannot name another preset",
            ));
        }
        if let Some(field) = self.service_field_out_of_place(service) {
            return Err(Invalid::new(
                at.child(field),
                match self {
                    RawCapacity::Batch(_) => {
                        "does not apply to kind = \"batch\": a batch's calls finish together, `latency` after it is submitted"
                    }
                    _ => {
                        "does not apply to kind = \"self_hosted\": prefill and decode speeds make the service time"
                    }
                },
            ));
        }
        let cache_ttl = service.cache_ttl.map(|d| d.0);
        if cache_ttl.is_some_and(|d| d.is_zero()) {
            return Err(Invalid::new(
                at.child("cache_ttl"),
                "must be longer than 0s (leave it out for a cache that never expires)",
            ));
        }
        match self {
            RawCapacity::Batch(raw) => raw.check(at, base_dir),
            RawCapacity::SelfHosted(raw) => raw.check(service.prefill_tokens_per_s, at, base_dir),
            RawCapacity::SharedApi(raw) => raw.check(service.check(at, base_dir)?, cache_ttl, at),
            RawCapacity::Reserved(raw) => raw.check(service.check(at, base_dir)?, cache_ttl, at),
        }
    }

    /// A service field that a batch or a self-hosted pool has no use for,
    /// if one is given: their own settings make their service times.
    fn service_field_out_of_place(&self, service: &RawService) -> Option<&'static str> {
        let batch = matches!(self, RawCapacity::Batch(_));
        if !batch && !matches!(self, RawCapacity::SelfHosted(_)) {
            return None;
        }
        [
            ("time_to_first_token", service.time_to_first_token.is_some()),
            ("output_tokens_per_s", service.output_tokens_per_s.is_some()),
            (
                "prefill_tokens_per_s",
                batch && service.prefill_tokens_per_s.is_some(),
            ),
            ("cache_ttl", service.cache_ttl.is_some()),
        ]
        .iter()
        .find_map(|&(name, given)| given.then_some(name))
    }
}

impl RawSharedApi {
    /// Limits over several shared API pools (an organization's, a
    /// group's): their buckets and counting rules; they serve nothing, so
    /// they take no service time and no overload.
    pub fn check_shared_limits(&self, at: &FieldPath) -> Checked<SharedApiSpec> {
        if self.overload.is_some() {
            return Err(Invalid::new(
                at.child("overload"),
                "is a server's: shared limits refuse calls, their pools' servers overload",
            ));
        }
        match self.check(ServiceTime::constant(0.0), None, at)? {
            CapacitySpec::SharedApi(api) => Ok(api),
            _ => unreachable!("a shared API's limits check as a shared API"),
        }
    }

    /// A shared API's limits, in whole units a minute, and how it refuses.
    fn check(
        &self,
        service: ServiceTime,
        cache_ttl: Option<SimDuration>,
        at: &FieldPath,
    ) -> Checked<CapacitySpec> {
        let limit = |name: &str, value: Option<Number>| {
            value
                .map(|n| whole(&at.child(name), n, 1, MAX_PER_MIN))
                .transpose()
        };
        let (tokens_per_min, provisioned_units) = self.combined(at)?;
        Ok(CapacitySpec::SharedApi(SharedApiSpec {
            service,
            cache_ttl,
            requests_per_min: limit("requests_per_min", self.requests_per_min)?,
            input_tokens_per_min: limit("input_tokens_per_min", self.input_tokens_per_min)?,
            counting: Counting {
                cache_reads: self.cache_reads_count,
                cache_writes: self
                    .cache_writes_count
                    .unwrap_or(Counting::DEFAULT.cache_writes),
                refused: self
                    .failed_requests_count
                    .unwrap_or(Counting::DEFAULT.refused),
                output_corrected: self
                    .output_corrected
                    .unwrap_or(Counting::DEFAULT.output_corrected),
            },
            output_tokens_per_min: limit("output_tokens_per_min", self.output_tokens_per_min)?,
            tokens_per_min,
            monthly_spend_cap: self
                .monthly_spend_cap
                .map(|n| positive(&at.child("monthly_spend_cap"), n))
                .transpose()?,
            provisioned_units,
            output_token_weight: self
                .output_token_weight
                .map(|n| whole(&at.child("output_token_weight"), n, 1, 100))
                .transpose()?
                .map_or(1, |w| w as u32),
            tokens_charged: match self.tokens_charged {
                None | Some(RawTokensCharged::InputPlusOutput) => TokensCharged::Sum,
                Some(RawTokensCharged::LargerOfInputAndOutput) => TokensCharged::Larger,
            },
            admit: match self.admit {
                None | Some(RawAdmit::WithinLimit) => Admit::WithinLimit,
                Some(RawAdmit::BelowLimit) => Admit::BelowLimit,
            },
            max_concurrency: optional_u32(&at.child("max_concurrency"), self.max_concurrency, 1)?,
            ramp_limit: self
                .ramp_limit
                .as_ref()
                .map(|r| r.check(&at.child("ramp_limit")))
                .transpose()?,
            concurrency_retry_after: self
                .concurrency_retry_after
                .map_or(SimDuration::from_secs(1), |d| d.0),
            overload: self
                .overload
                .as_ref()
                .map(|o| o.check(&at.child("overload")))
                .transpose()?,
            burst: self.bursts(at, tokens_per_min)?,
        }))
    }

    /// The combined limit and the provisioned units it comes from: as
    /// given, or a provisioned deployment's units times each unit's tokens,
    /// in a size on offer.
    fn combined(&self, at: &FieldPath) -> Checked<(Option<u64>, Option<u32>)> {
        let units = self
            .provisioned_units
            .map(|n| whole(&at.child("provisioned_units"), n, 1, 1_000_000))
            .transpose()?;
        let per_unit = self
            .tokens_per_min_per_unit
            .map(|n| whole(&at.child("tokens_per_min_per_unit"), n, 1, MAX_PER_MIN))
            .transpose()?;
        let given = self
            .tokens_per_min
            .map(|n| whole(&at.child("tokens_per_min"), n, 1, MAX_PER_MIN))
            .transpose()?;
        let (units, per_unit) = match (units, per_unit, given) {
            (None, None, given) => return Ok((given, None)),
            (_, Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at.child("tokens_per_min"),
                    "give tokens_per_min or tokens_per_min_per_unit (with provisioned_units), not both",
                ));
            }
            (Some(_), None, _) => {
                return Err(Invalid::new(
                    at.child("tokens_per_min_per_unit"),
                    "missing: the tokens a minute each provisioned unit gives (a provisioned preset sets it; loopcap presets)",
                ));
            }
            (None, Some(per_unit), None) => {
                return Err(Invalid::new(
                    at.child("provisioned_units"),
                    format!(
                        "missing: how many units the deployment has, each giving {per_unit} tokens a minute{}",
                        self.sizes_on_offer()
                    ),
                ));
            }
            (Some(units), Some(per_unit), None) => (units, per_unit),
        };
        let min = self
            .min_provisioned_units
            .map(|n| whole(&at.child("min_provisioned_units"), n, 1, 1_000_000))
            .transpose()?
            .unwrap_or(1);
        let step = self
            .provisioned_unit_step
            .map(|n| whole(&at.child("provisioned_unit_step"), n, 1, 1_000_000))
            .transpose()?
            .unwrap_or(1);
        if units < min || (units - min) % step != 0 {
            return Err(Invalid::new(
                at.child("provisioned_units"),
                format!(
                    "{units} units is not a size on offer{}",
                    self.sizes_on_offer()
                ),
            ));
        }
        let per_min = units.saturating_mul(per_unit);
        if per_min > MAX_PER_MIN {
            return Err(Invalid::new(
                at.child("provisioned_units"),
                format!(
                    "{units} units of {per_unit} tokens a minute are more than loopcap's largest limit ({MAX_PER_MIN})"
                ),
            ));
        }
        Ok((Some(per_min), Some(units as u32)))
    }

    /// `: from 15 units in steps of 5 (15, 20, 25, ...)`, where the
    /// capacity says.
    fn sizes_on_offer(&self) -> String {
        let (min, step) = (
            self.min_provisioned_units.map_or(1.0, |n| n.0),
            self.provisioned_unit_step.map_or(1.0, |n| n.0),
        );
        format!(
            ": from {min} units in steps of {step} ({min}, {}, {}, ...)",
            min + step,
            min + 2.0 * step
        )
    }

    /// Each bucket's burst: as given, or each limit's share of a minute
    /// over `enforced_over` (at least 1), or none.
    fn bursts(&self, at: &FieldPath, tokens_per_min: Option<u64>) -> Checked<Bursts> {
        let limits = [
            self.requests_per_min.map(|n| n.0),
            self.input_tokens_per_min.map(|n| n.0),
            self.output_tokens_per_min.map(|n| n.0),
            tokens_per_min.map(|t| t as f64),
        ];
        match (&self.burst, self.enforced_over) {
            (Some(_), Some(_)) => Err(Invalid::new(
                at.child("enforced_over"),
                "give burst or enforced_over, not both: enforced_over sets every bucket's burst",
            )),
            (Some(b), None) => b.check(&at.child("burst"), limits.map(|l| l.is_some())),
            (None, Some(over)) => {
                let over = positive_duration(&at.child("enforced_over"), over)?;
                if over > SimDuration::from_secs(60) {
                    return Err(Invalid::new(
                        at.child("enforced_over"),
                        format!("must be at most a minute, the limits' own interval (got {over})"),
                    ));
                }
                let share = over.as_secs_f64() / 60.0;
                let burst = |limit: Option<f64>| {
                    limit.map(|l| ((l * share).ceil() as u64).clamp(1, MAX_PER_MIN))
                };
                Ok(Bursts {
                    requests: burst(limits[0]),
                    input_tokens: burst(limits[1]),
                    output_tokens: burst(limits[2]),
                    tokens: burst(limits[3]),
                })
            }
            (None, None) => Ok(Bursts::default()),
        }
    }
}

impl RawReserved {
    /// Reserved lanes and their queue.
    fn check(
        &self,
        service: ServiceTime,
        cache_ttl: Option<SimDuration>,
        at: &FieldPath,
    ) -> Checked<CapacitySpec> {
        Ok(CapacitySpec::Reserved(ReservedSpec {
            service,
            cache_ttl,
            lanes: whole(&at.child("lanes"), self.lanes, 1, 1_000_000)? as u32,
            queue_limit: optional_u32(&at.child("queue_limit"), self.queue_limit, 0)?,
            queue_full_retry_after: match (self.queue_full_retry_after, self.queue_limit) {
                (Some(_), None) => {
                    return Err(Invalid::new(
                        at.child("queue_full_retry_after"),
                        "is sent when the queue is full: set queue_limit too",
                    ));
                }
                (d, _) => d.map(|d| d.0),
            },
        }))
    }
}

impl RawBatch {
    fn check(&self, at: &FieldPath, base_dir: &Path) -> Checked<CapacitySpec> {
        let completion_window = self
            .completion_window
            .map_or(Ok(SimDuration::from_secs(24 * 3600)), |d| {
                positive_duration(&at.child("completion_window"), d)
            })?;
        Ok(CapacitySpec::Batch(BatchSpec {
            latency: self.latency.duration(&at.child("latency"), base_dir)?,
            collect_for: positive_duration(&at.child("collect_for"), self.collect_for)?,
            max_requests: optional_u32(
                &at.child("max_requests_per_batch"),
                self.max_requests_per_batch,
                1,
            )?
            .unwrap_or(50_000),
            max_in_progress: optional_u32(
                &at.child("max_batches_in_progress"),
                self.max_batches_in_progress,
                1,
            )?,
            max_queued_requests: optional_u32(
                &at.child("max_queued_requests"),
                self.max_queued_requests,
                1,
            )?,
            max_queued_tokens: self
                .max_queued_tokens
                .map(|n| whole(&at.child("max_queued_tokens"), n, 1, u64::MAX >> 1))
                .transpose()?,
            completion_window,
        }))
    }
}

impl RawBursts {
    /// The bursts, each for a limit the capacity has (`limits`: requests,
    /// input tokens, output tokens, tokens).
    fn check(&self, at: &FieldPath, limits: [bool; 4]) -> Checked<Bursts> {
        let fields = [
            ("requests", self.requests, "requests_per_min"),
            ("input_tokens", self.input_tokens, "input_tokens_per_min"),
            ("output_tokens", self.output_tokens, "output_tokens_per_min"),
            ("tokens", self.tokens, "tokens_per_min"),
        ];
        let mut checked = [None; 4];
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
            tokens: checked[3],
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
