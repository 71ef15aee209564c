//! The memory a model needs, located at the field that needs most of it,
//! held against the limit a run may use.

use super::field_path::FieldPath;
use super::{Diagnostic, Invalid, Override, Source};
use crate::bytes::Bytes;
use crate::model::ModelSpec;
use crate::model::footprint::{self, Cause};

/// The memory a run of a model needs at least (see [`footprint`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    pub bytes: Bytes,
    /// The field behind the largest need, and what that need is.
    pub largest: Diagnostic,
}

impl Memory {
    /// Estimates `spec`'s memory, locating its largest need in `source`
    /// (or at the override that set it).
    pub fn of(spec: &ModelSpec, source: &Source, overrides: &[Override]) -> Memory {
        let needs = footprint::estimate(spec);
        let total = footprint::bound(&needs);
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
        Memory {
            bytes: bytes(total),
            largest: super::locate(
                source,
                overrides,
                Invalid::new(path(spec, largest.cause), message),
            ),
        }
    }

    /// Refuses a model that needs more than `limit`, naming the field that
    /// needs the most.
    pub fn fits(&self, limit: Bytes) -> Result<(), Diagnostic> {
        if self.bytes <= limit {
            return Ok(());
        }
        Err(Diagnostic {
            message: format!(
                "the model needs up to about {} of memory, more than the limit of {limit}: {}, or raise the limit with --memory-limit if the machine has the memory",
                self.bytes, self.largest.message
            ),
            ..self.largest.clone()
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
        Cause::Bins => FieldPath::root("timeseries_bin"),
        Cause::Windows => FieldPath::root("window"),
        Cause::Steps { agent } => FieldPath::root("agents")
            .child(&spec.agents[agent].name)
            .child("steps"),
    }
    .to_string()
}
