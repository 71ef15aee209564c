//! Self-hosted capacity as a model file writes it: the fleet (fixed or
//! autoscaled), the decode speed, routing and the queue, checked into a
//! [`SelfHostedSpec`].

use std::path::Path;

use serde::Deserialize;

use super::checks::{Checked, optional_u32, positive, positive_duration, whole};
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use super::presets;
use super::quantity::{Duration, Number, StepCost};
use crate::engine::SimDuration;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::self_hosted::{
    Autoscale, DecodeSpeed, Preemption, PrefillSpeed, PrefixCaching, Routing, ScaleMetric,
    Scheduler, SelfHostedSpec,
};

/// The preset whose scheduler knobs a vLLM replica takes unless given: vLLM's own defaults.
const VLLM_SERVER: &str = "vllm-server";

/// vLLM's own default for `name` (block_size, max_num_batched_tokens or
/// max_sequences), as the `vllm-server` preset gives it.
pub fn vllm_server_default(name: &str) -> i64 {
    vllm_server(name, toml::Value::as_integer)
}

/// Whether vLLM schedules one step ahead by default, as the
/// `vllm-server` preset says.
pub fn vllm_server_async_scheduling() -> bool {
    vllm_server("async_scheduling", toml::Value::as_bool)
}

fn vllm_server<T>(name: &str, read: fn(&toml::Value) -> Option<T>) -> T {
    presets::capacity_table(VLLM_SERVER)
        .expect("the vllm-server preset is shipped (a test reads it)")
        .get(name)
        .and_then(read)
        .expect("the vllm-server preset sets it (a test reads it)")
}

/// Replicas of an inference server with continuous batching.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSelfHosted {
    /// A fixed number of replicas (without `autoscale`).
    replicas: Option<Number>,
    /// With `autoscale`: the fewest and most replicas, and how many are
    /// warm at the start (default `min_replicas`).
    min_replicas: Option<Number>,
    max_replicas: Option<Number>,
    initial_replicas: Option<Number>,
    /// Sequences a replica serves at once (vLLM's `max_num_seqs`).
    max_sequences: Number,
    /// KV-cache tokens per replica.
    kv_cache_tokens: Number,
    /// Measured aggregate decode speed at batch sizes, or ...
    decode_tokens_per_s: Option<Vec<RawDecodePoint>>,
    /// ... how long one decode iteration takes.
    decode_iteration: Option<RawDecodeIteration>,
    /// "least_loaded" (default) or "round_robin".
    routing: Option<String>,
    queue_limit: Option<Number>,
    queue_full_retry_after: Option<Duration>,
    autoscale: Option<RawAutoscale>,
    /// Model load time of a replica the autoscaler starts.
    cold_start: Option<RawDist>,
    /// "vllm" (default: vLLM V1's steps, KV blocks taken on demand,
    /// preemption) or "reserve" (each call reserves input + max_tokens, as TGI).
    scheduler: Option<String>,
    /// vLLM's `--block-size` and `--max-num-batched-tokens` (defaults: the
    /// `vllm-server` preset's, vLLM's own).
    block_size: Option<Number>,
    max_num_batched_tokens: Option<Number>,
    /// "recompute" (default, vLLM V1's only mode) or "swap".
    preemption: Option<String>,
    /// vLLM's async scheduling: each step planned while the one before
    /// it runs, so a call that arrives during a step waits for the next
    /// one too (default: the `vllm-server` preset's, on since vLLM 0.14;
    /// false for `--no-async-scheduling` or an older server).
    async_scheduling: Option<bool>,
    /// With preemption = "swap": KV-cache tokens a second the host link
    /// copies out and back.
    swap_tokens_per_s: Option<Number>,
    /// "given" (default: each call's cached input, as its agent or trace
    /// says) or "blocks" (what its session's earlier calls left in the
    /// replica's cache, least recently used evicted first).
    prefix_cache: Option<String>,
    /// Measured prefill speed by the prompt tokens in a step, instead of
    /// one `prefill_tokens_per_s`.
    prefill_by_chunk: Option<Vec<RawPrefillPoint>>,
    /// A step's prefill as a cost, instead: `base` when it prefills, plus
    /// `per_token` a prompt token.
    prefill_step: Option<RawPrefillStep>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrefillStep {
    base: StepCost,
    per_token: StepCost,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrefillPoint {
    tokens: Number,
    tokens_per_s: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDecodePoint {
    batch: Number,
    tokens_per_s: Number,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDecodeIteration {
    base: StepCost,
    per_sequence: StepCost,
    /// Added per token of context the batch attends to (default 0).
    per_context_token: Option<StepCost>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    /// "queue" (waiting sequences per replica) or "in_flight" (waiting or served).
    metric: String,
    target: Number,
    /// How often it decides (default 15s) and over how long it averages (default 1m).
    interval: Option<Duration>,
    window: Option<Duration>,
    /// How long the fleet must be larger than it needs before the surplus
    /// drains and stops (default 5m).
    scale_down_after: Option<Duration>,
}

impl RawSelfHosted {
    pub(super) fn check(
        &self,
        prefill_tokens_per_s: Option<Number>,
        at: &FieldPath,
        base_dir: &Path,
    ) -> Checked<CapacitySpec> {
        let (min_replicas, max_replicas, initial_replicas) = self.fleet(at)?;
        let decode = self.decode_speed(at)?;
        let routing = match self.routing.as_deref() {
            None | Some("least_loaded") => Routing::LeastLoaded,
            Some("round_robin") => Routing::RoundRobin,
            Some("session") => Routing::Session,
            Some(other) => {
                return Err(Invalid::new(
                    at.child("routing"),
                    format!(
                        "unknown routing `{other}`: allowed are least_loaded, round_robin, session"
                    ),
                ));
            }
        };
        let autoscale = self.autoscaler(at)?;
        if autoscale.is_some() && self.cold_start.is_none() {
            return Err(Invalid::new(
                at.child("cold_start"),
                "missing: how long a replica the autoscaler starts takes to load its model",
            ));
        }
        let queue_limit = optional_u32(&at.child("queue_limit"), self.queue_limit, 0)?;
        if self.queue_full_retry_after.is_some() && queue_limit.is_none() {
            return Err(Invalid::new(
                at.child("queue_full_retry_after"),
                "is sent when the queue is full: set queue_limit too",
            ));
        }
        Ok(CapacitySpec::SelfHosted(SelfHostedSpec {
            min_replicas,
            max_replicas,
            initial_replicas,
            max_sequences: whole(&at.child("max_sequences"), self.max_sequences, 1, 100_000)?
                as u32,
            kv_cache_tokens: whole(
                &at.child("kv_cache_tokens"),
                self.kv_cache_tokens,
                1,
                u64::MAX >> 1,
            )?,
            prefill: self.prefill_speed(prefill_tokens_per_s, at)?,
            decode,
            scheduler: self.scheduler(at)?,
            routing,
            queue_limit,
            queue_full_retry_after: self.queue_full_retry_after.map(|d| d.0),
            autoscale,
            cold_start: self
                .cold_start
                .as_ref()
                .map(|d| d.duration(&at.child("cold_start"), base_dir))
                .transpose()?,
        }))
    }

    /// The fleet: min, max and initial replicas, fixed or autoscaled.
    fn fleet(&self, at: &FieldPath) -> Checked<(u32, u32, u32)> {
        let count = |name: &str, n: Option<Number>| optional_u32(&at.child(name), n, 1);
        let (min_replicas, max_replicas) = match (&self.autoscale, self.replicas) {
            (None, Some(n)) => {
                if let Some(name) = [
                    ("min_replicas", self.min_replicas),
                    ("max_replicas", self.max_replicas),
                    ("initial_replicas", self.initial_replicas),
                ]
                .iter()
                .find_map(|(name, v)| v.is_some().then_some(*name))
                {
                    return Err(Invalid::new(
                        at.child(name),
                        "goes with `autoscale`; without it `replicas` is the fleet",
                    ));
                }
                let n = count("replicas", Some(n))?.expect("given");
                (n, n)
            }
            (Some(_), None) => {
                let min = count("min_replicas", self.min_replicas)?.ok_or_else(|| {
                    Invalid::new(
                        at.child("min_replicas"),
                        "missing: `autoscale` needs min_replicas and max_replicas",
                    )
                })?;
                let max = count("max_replicas", self.max_replicas)?.ok_or_else(|| {
                    Invalid::new(
                        at.child("max_replicas"),
                        "missing: `autoscale` needs min_replicas and max_replicas",
                    )
                })?;
                if max < min {
                    return Err(Invalid::new(
                        at.child("max_replicas"),
                        format!("must be at least min_replicas ({max} < {min})"),
                    ));
                }
                (min, max)
            }
            (None, None) => {
                return Err(Invalid::new(
                    at.child("replicas"),
                    "missing: how many replicas (or min_replicas and max_replicas with `autoscale`)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Invalid::new(
                    at.child("replicas"),
                    "with `autoscale`, give min_replicas and max_replicas instead",
                ));
            }
        };
        let initial_replicas =
            count("initial_replicas", self.initial_replicas)?.unwrap_or(min_replicas);
        if !(min_replicas..=max_replicas).contains(&initial_replicas) {
            return Err(Invalid::new(
                at.child("initial_replicas"),
                format!(
                    "must be from min_replicas to max_replicas ({min_replicas} to {max_replicas}; got {initial_replicas})"
                ),
            ));
        }
        Ok((min_replicas, max_replicas, initial_replicas))
    }

    /// How fast a replica decodes: a table by batch, or a linear iteration time.
    fn decode_speed(&self, at: &FieldPath) -> Checked<DecodeSpeed> {
        Ok(match (&self.decode_tokens_per_s, &self.decode_iteration) {
            (Some(points), None) => DecodeSpeed::Table(measured(
                &at.child("decode_tokens_per_s"),
                points.iter().map(|p| (p.batch, p.tokens_per_s)),
                ("batch", "batches"),
            )?),
            (None, Some(it)) => {
                let field = at.child("decode_iteration");
                DecodeSpeed::Linear {
                    base_s: positive(&field.child("base"), Number(it.base.0, None))?,
                    per_sequence_s: it.per_sequence.0,
                    per_context_token_s: it.per_context_token.map_or(0.0, |d| d.0),
                }
            }
            _ => {
                return Err(Invalid::new(
                    at.child("decode_tokens_per_s"),
                    "give the decode speed as decode_tokens_per_s = [{ batch, tokens_per_s }, ...] or decode_iteration = { base, per_sequence }, one of the two",
                ));
            }
        })
    }

    /// How fast a replica prefills: one speed, a table by chunk, or a cost a step.
    fn prefill_speed(
        &self,
        prefill_tokens_per_s: Option<Number>,
        at: &FieldPath,
    ) -> Checked<PrefillSpeed> {
        let given = [
            ("prefill_tokens_per_s", prefill_tokens_per_s.is_some()),
            ("prefill_by_chunk", self.prefill_by_chunk.is_some()),
            ("prefill_step", self.prefill_step.is_some()),
        ];
        if let Some((second, _)) = given.iter().filter(|g| g.1).nth(1) {
            return Err(Invalid::new(
                at.child(second),
                "give one of prefill_tokens_per_s, prefill_by_chunk and prefill_step, not two",
            ));
        }
        match (
            prefill_tokens_per_s,
            &self.prefill_by_chunk,
            &self.prefill_step,
        ) {
            (Some(rate), _, _) => Ok(PrefillSpeed::Constant(positive(
                &at.child("prefill_tokens_per_s"),
                rate,
            )?)),
            (_, Some(points), _) => Ok(PrefillSpeed::Table(measured(
                &at.child("prefill_by_chunk"),
                points.iter().map(|p| (p.tokens, p.tokens_per_s)),
                ("tokens", "chunks"),
            )?)),
            (_, _, Some(step)) => Ok(PrefillSpeed::Linear {
                base_s: step.base.0,
                per_token_s: positive(
                    &at.child("prefill_step").child("per_token"),
                    Number(step.per_token.0, None),
                )?,
            }),
            (None, None, None) => Err(Invalid::new(
                at.child("prefill_tokens_per_s"),
                "missing: uncached input tokens a replica prefills per second (or prefill_by_chunk = [{ tokens, tokens_per_s }, ...], or prefill_step = { base, per_token })",
            )),
        }
    }

    /// How a replica schedules its sequences: vLLM's steps (its knobs
    /// defaulting to the `vllm-server` preset's) or reservations.
    fn scheduler(&self, at: &FieldPath) -> Checked<Scheduler> {
        match self.scheduler.as_deref() {
            None | Some("vllm") => {}
            // A preset's vLLM knobs do not apply.
            Some("reserve") => return Ok(Scheduler::Reserve),
            Some(other) => {
                return Err(Invalid::new(
                    at.child("scheduler"),
                    format!("unknown scheduler `{other}`: allowed are vllm, reserve"),
                ));
            }
        }
        let knob = |name: &str, given: Option<Number>| {
            let value = given.unwrap_or_else(|| {
                let default = vllm_server_default(name);
                Number(default as f64, Some(default))
            });
            whole(&at.child(name), value, 1, u64::from(u32::MAX)).map(|n| n as u32)
        };
        let preemption = match self.preemption.as_deref() {
            None | Some("recompute") => Preemption::Recompute,
            Some("swap") => Preemption::Swap {
                tokens_per_s: positive(
                    &at.child("swap_tokens_per_s"),
                    self.swap_tokens_per_s.ok_or_else(|| {
                        Invalid::new(
                            at.child("swap_tokens_per_s"),
                            "missing: with preemption = \"swap\", the KV-cache tokens a second the host link copies out and back",
                        )
                    })?,
                )?,
            },
            Some(other) => {
                return Err(Invalid::new(
                    at.child("preemption"),
                    format!("unknown preemption `{other}`: allowed are recompute, swap"),
                ));
            }
        };
        let prefix_cache = match self.prefix_cache.as_deref() {
            Some("given") => PrefixCaching::Given,
            None | Some("blocks") => PrefixCaching::Blocks,
            Some(other) => {
                return Err(Invalid::new(
                    at.child("prefix_cache"),
                    format!("unknown prefix_cache `{other}`: allowed are given, blocks"),
                ));
            }
        };
        Ok(Scheduler::Vllm {
            prefix_cache,
            block_size: knob("block_size", self.block_size)?,
            max_num_batched_tokens: knob("max_num_batched_tokens", self.max_num_batched_tokens)?,
            preemption,
            async_scheduling: self
                .async_scheduling
                .unwrap_or_else(vllm_server_async_scheduling),
        })
    }

    /// The autoscaler, if the fleet has one.
    fn autoscaler(&self, at: &FieldPath) -> Checked<Option<Autoscale>> {
        self.autoscale
            .as_ref()
            .map(|a| {
                let field = at.child("autoscale");
                let metric = match a.metric.as_str() {
                    "queue" => ScaleMetric::Queue,
                    "in_flight" => ScaleMetric::InFlight,
                    other => {
                        return Err(Invalid::new(
                            field.child("metric"),
                            format!("unknown metric `{other}`: allowed are queue, in_flight"),
                        ));
                    }
                };
                let duration = |name: &str, d: Option<Duration>, default: u64| {
                    d.map_or(Ok(SimDuration::from_secs(default)), |d| {
                        positive_duration(&field.child(name), d)
                    })
                };
                Ok(Autoscale {
                    metric,
                    target: positive(&field.child("target"), a.target)?,
                    interval: duration("interval", a.interval, 15)?,
                    window: duration("window", a.window, 60)?,
                    scale_down_after: a
                        .scale_down_after
                        .map_or(SimDuration::from_secs(300), |d| d.0),
                })
            })
            .transpose()
    }
}

/// A measured table at `field`: points of `{ <x>, tokens_per_s }`, `x` (as
/// `names` says it, and in the plural) a whole number from 1, strictly
/// increasing, and each speed above 0; at least one point.
fn measured(
    field: &FieldPath,
    points: impl ExactSizeIterator<Item = (Number, Number)>,
    (x, plural): (&str, &str),
) -> Checked<Vec<(f64, f64)>> {
    if points.len() == 0 {
        return Err(Invalid::new(
            field.clone(),
            format!("needs at least one {{ {x}, tokens_per_s }} point"),
        ));
    }
    let mut checked: Vec<(f64, f64)> = Vec::with_capacity(points.len());
    for (i, (at, tokens_per_s)) in points.enumerate() {
        let at_x = whole(&field.child(i).child(x), at, 1, u64::from(u32::MAX))? as f64;
        let tokens_per_s = positive(&field.child(i).child("tokens_per_s"), tokens_per_s)?;
        if let Some(&(last, _)) = checked.last()
            && at_x <= last
        {
            return Err(Invalid::new(
                field.child(i).child(x),
                format!("{plural} must increase ({at_x} after {last})"),
            ));
        }
        checked.push((at_x, tokens_per_s));
    }
    Ok(checked)
}
