//! The memory a model needs, located at the field that needs most of it,
//! held against the limit a run may use.

use super::diagnostic::{Diagnostic, Invalid};
use super::field_path::FieldPath;
use super::overrides::Override;
use super::read::{Source, locate};
use crate::bytes::Bytes;
use crate::model::ModelSpec;
use crate::model::estimate::footprint::{self, Cause, Need};

/// The memory a run of a model holds at most (see [`footprint`]), for a
/// run that keeps no time series and for one that does (`run --out`, a
/// sweep drawing figures over time).
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    /// Without a kept time series.
    pub bytes: Bytes,
    /// The field behind the largest need, and what that need is.
    pub largest: Diagnostic,
    /// Keeping the time series.
    pub with_timeseries: Bytes,
    largest_with_timeseries: Diagnostic,
}

impl Memory {
    /// Estimates `spec`'s memory, locating its largest need in `source`
    /// (or at the override that set it).
    pub fn of(spec: &ModelSpec, source: &Source, overrides: &[Override]) -> Memory {
        let needs = footprint::estimate(spec);
        let located = |needs: &[Need]| {
            let largest = needs
                .iter()
                .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
                .expect("user classes are always a need");
            let message = format!(
                "{} hold about {}. {}",
                largest.what,
                bytes(largest.bytes),
                largest.advice.as_deref().unwrap_or("Lower it")
            );
            (
                bytes(footprint::bound(needs)),
                locate(
                    source,
                    overrides,
                    Invalid::new(path(spec, largest.cause), message),
                ),
            )
        };
        let without: Vec<Need> = needs
            .iter()
            .filter(|n| n.cause != Cause::Timeseries)
            .cloned()
            .collect();
        let (bytes, largest) = located(&without);
        let (with_timeseries, largest_with_timeseries) = located(&needs);
        Memory {
            bytes,
            largest,
            with_timeseries,
            largest_with_timeseries,
        }
    }

    /// Refuses a model that needs more than `limit`, keeping its time
    /// series or not, naming the field that needs the most.
    pub fn fits(&self, limit: Bytes, timeseries: bool) -> Result<(), Diagnostic> {
        let (bytes, largest) = if timeseries {
            (self.with_timeseries, &self.largest_with_timeseries)
        } else {
            (self.bytes, &self.largest)
        };
        if bytes <= limit {
            return Ok(());
        }
        Err(Diagnostic {
            message: format!(
                "the model needs up to about {bytes} of memory, more than the limit of {limit}: {}, or raise the limit with --memory-limit if the machine has the memory",
                largest.message
            ),
            ..largest.clone()
        })
    }
}

fn bytes(x: f64) -> Bytes {
    // `as` saturates: an estimate beyond 16 EiB is simply too large.
    Bytes(x as u64)
}

/// The model field a need or a load comes from.
pub(super) fn path(spec: &ModelSpec, cause: Cause) -> String {
    let class = |c: usize| FieldPath::root("workload").child(&spec.classes[c].name);
    // A pool's field: `capacity.X` for a model of one, `pool.NAME.capacity.X`.
    let pool = |p: usize, field: &str| {
        let pool = &spec.pools[p];
        if spec.pools.len() > 1 || pool.name != "capacity" {
            FieldPath::root("pool").child(&pool.name).child("capacity")
        } else {
            FieldPath::root("capacity")
        }
        .child(field)
    };
    match cause {
        Cause::Classes => FieldPath::root("workload"),
        Cause::Users { class: c } => class(c).child("users"),
        Cause::Arrivals { class: c } => class(c).child("arrivals"),
        Cause::Surges { class: c } => class(c).child("surges"),
        Cause::FanOut { agent } => FieldPath::root("agents")
            .child(&spec.agents[agent].name)
            .child("fan_out")
            .child("width"),
        Cause::LaneQueue => match spec.last_pool() {
            Some(last) => pool(
                spec.pools
                    .iter()
                    .position(|p| std::ptr::eq(p, last))
                    .unwrap_or(0),
                "lanes",
            ),
            None => FieldPath::root("capacity").child("lanes"),
        },
        Cause::ThinkTime { class: c } => class(c).child("think_time"),
        Cause::Phases { class: c } => class(c).child("arrivals"),
        Cause::Autoscaler { pool: p } => pool(p, "autoscale").child("interval"),
        Cause::Replicas { pool: p } => pool(p, "max_replicas"),
        Cause::Bins | Cause::Timeseries => FieldPath::root("timeseries_bin"),
        Cause::Windows => FieldPath::root("window"),
        Cause::Steps { agent } => FieldPath::root("agents")
            .child(&spec.agents[agent].name)
            .child("steps"),
    }
    .to_string()
}
