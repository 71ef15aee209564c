//! Capacity that serves attempts: a shared rate-limited API, reserved lanes
//! or a Batch API.

use rand::RngExt;

use crate::engine::{Key, SimDuration, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Rejection, Request};
use crate::model::capacity::batch::{Batch, BatchSpec};
use crate::model::capacity::prompt_cache::Conversation;
use crate::model::capacity::reserved::{Reserved, ReservedSpec};
use crate::model::capacity::self_hosted::{FleetLevel, SelfHosted, SelfHostedSpec};
use crate::model::capacity::service_time::ServiceTime;
use crate::model::capacity::shared_api::{SharedApi, SharedApiSpec};
use crate::model::fault::FaultEffect;

/// The validated description of capacity, shared by every run of a model.
#[derive(Clone, Debug)]
pub enum CapacitySpec {
    SharedApi(SharedApiSpec),
    Reserved(ReservedSpec),
    Batch(BatchSpec),
    SelfHosted(SelfHostedSpec),
}

impl CapacitySpec {
    /// How long one attempt is served; `None` for a Batch API, whose calls
    /// finish when their batch does.
    pub fn service(&self) -> Option<&ServiceTime> {
        match self {
            CapacitySpec::SharedApi(s) => Some(&s.service),
            CapacitySpec::Reserved(r) => Some(&r.service),
            CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => None,
        }
    }

    /// How long the prompt cache keeps a session's prefix after its last
    /// use; `None` where it never expires (or there is none to model).
    pub fn cache_ttl(&self) -> Option<SimDuration> {
        match self {
            CapacitySpec::SharedApi(s) => s.cache_ttl,
            CapacitySpec::Reserved(r) => r.cache_ttl,
            CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => None,
        }
    }

    /// The kind's name, as model files write it.
    pub fn kind(&self) -> &'static str {
        match self {
            CapacitySpec::SharedApi(_) => "shared_api",
            CapacitySpec::Reserved(_) => "reserved",
            CapacitySpec::Batch(_) => "batch",
            CapacitySpec::SelfHosted(_) => "self_hosted",
        }
    }

    /// Lanes, for reserved capacity.
    pub fn lanes(&self) -> Option<u32> {
        match self {
            CapacitySpec::Reserved(r) => Some(r.lanes),
            CapacitySpec::SharedApi(_) | CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => {
                None
            }
        }
    }

    /// A shared API tier's monthly spend cap (USD), where it has one.
    pub fn monthly_spend_cap(&self) -> Option<f64> {
        match self {
            CapacitySpec::SharedApi(api) => api.monthly_spend_cap,
            CapacitySpec::Reserved(_) | CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => {
                None
            }
        }
    }

    /// Provisioned units, for a shared API deployed in them (Azure's PTUs).
    pub fn provisioned_units(&self) -> Option<u32> {
        match self {
            CapacitySpec::SharedApi(api) => api.provisioned_units,
            CapacitySpec::Reserved(_) | CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => {
                None
            }
        }
    }
}

/// The run-time state of capacity, and the faults it currently suffers.
pub struct Capacity {
    kind: CapacityKind,
    effect: FaultEffect,
}

// One per run, so its size costs nothing; boxing the larger variant would
// add a pointer chase to every attempt offered.
#[allow(clippy::large_enum_variant)]
enum CapacityKind {
    SharedApi(SharedApi),
    Reserved(Reserved),
    Batch(Batch),
    SelfHosted(SelfHosted),
}

impl Capacity {
    /// Capacity as `spec` describes it; what it measures itself counts from `warmup`.
    pub fn new(spec: &CapacitySpec, warmup: SimTime) -> Self {
        let kind = match spec {
            CapacitySpec::SharedApi(s) => CapacityKind::SharedApi(SharedApi::new(s, warmup)),
            CapacitySpec::Reserved(r) => CapacityKind::Reserved(Reserved::new(r)),
            CapacitySpec::Batch(b) => CapacityKind::Batch(Batch::new(b)),
            CapacitySpec::SelfHosted(h) => CapacityKind::SelfHosted(SelfHosted::new(h, warmup)),
        };
        Capacity {
            kind,
            effect: FaultEffect::NONE,
        }
    }

    /// Offers an attempt asking `request` that will produce `output_tokens`.
    #[inline(always)]
    pub fn offer(
        &mut self,
        now: SimTime,
        attempt: Key,
        request: Request,
        (output_tokens, conversation): (u32, Option<Conversation>),
        rng: &mut Stream,
    ) -> Admission {
        if self.effect.outage {
            return Admission::Rejected(Rejection::Unavailable);
        }
        let p = self.effect.error_probability;
        if p > 0.0 && rng.random::<f64>() < p {
            return Admission::Rejected(Rejection::ServerError);
        }
        match &mut self.kind {
            CapacityKind::SharedApi(api) => api.offer(now, request, rng),
            CapacityKind::Reserved(lanes) => lanes.offer(attempt),
            CapacityKind::Batch(batch) => batch.offer(attempt, request),
            CapacityKind::SelfHosted(fleet) => {
                fleet.offer(now, attempt, (request, output_tokens, conversation))
            }
        }
    }

    /// Whether it can take `request` now, for a spillover router: not in an
    /// outage, and a shared API's limits all pass it or a reserved pool has
    /// a free lane (or fewer than `queue_up_to` attempts queued), or a Batch
    /// API's limits let the call join a batch. Error
    /// bursts and overload refusals are drawn only when the attempt is offered.
    pub fn can_take_now(&mut self, now: SimTime, request: Request, queue_up_to: u32) -> bool {
        !self.effect.outage
            && match &mut self.kind {
                CapacityKind::SharedApi(api) => api.would_admit(now, request),
                CapacityKind::Reserved(lanes) => lanes.has_room(queue_up_to),
                CapacityKind::Batch(batch) => batch.has_room(request),
                CapacityKind::SelfHosted(fleet) => fleet.has_room(request),
            }
    }

    /// The faults now active changed. Returns the queued attempts that start
    /// because lanes came back.
    pub fn set_faults(&mut self, now: SimTime, effect: FaultEffect) -> Vec<Key> {
        self.effect = effect;
        match &mut self.kind {
            CapacityKind::SharedApi(api) => {
                api.scale(now, effect.capacity_factor);
                Vec::new()
            }
            CapacityKind::Reserved(lanes) => lanes.scale(effect.capacity_factor),
            // A Batch API's limits are the account's; a drop does not change them.
            CapacityKind::Batch(_) => Vec::new(),
            CapacityKind::SelfHosted(fleet) => {
                fleet.set_faults(now, effect.latency_factor, effect.capacity_factor);
                Vec::new()
            }
        }
    }

    /// How many times longer than usual service takes now.
    pub fn latency_factor(&self) -> f64 {
        self.effect.latency_factor
    }

    /// An attempt in service has finished after producing `output_tokens`.
    /// Returns the queued attempt, if any, that takes over its lane.
    pub fn release(&mut self, now: SimTime, request: Request, output_tokens: u32) -> Option<Key> {
        match &mut self.kind {
            CapacityKind::SharedApi(api) => {
                api.release(now, request, output_tokens);
                None
            }
            CapacityKind::Reserved(lanes) => lanes.release(),
            CapacityKind::Batch(batch) => {
                batch.release(request);
                None
            }
            // Its replicas let their sequences go themselves.
            CapacityKind::SelfHosted(_) => None,
        }
    }

    /// Its attempts in service (including those whose client has already
    /// given up), and those waiting for a lane or collected into an open
    /// batch, read at once.
    #[inline]
    pub fn load(&self) -> (u32, u32) {
        match &self.kind {
            CapacityKind::SharedApi(api) => (api.in_flight(), 0),
            CapacityKind::Reserved(lanes) => (lanes.busy(), lanes.queued()),
            CapacityKind::Batch(batch) => (batch.in_flight(), batch.queued()),
            CapacityKind::SelfHosted(fleet) => (fleet.in_flight(), fleet.queued()),
        }
    }

    /// Whether every rate limit has refilled to its capacity by `now` (always, for lanes).
    pub fn buckets_full(&mut self, now: SimTime) -> bool {
        match &mut self.kind {
            CapacityKind::SharedApi(api) => api.buckets_full(now),
            _ => true,
        }
    }

    /// The self-hosted fleet, for a pool of that kind.
    pub fn self_hosted(&mut self) -> Option<&mut SelfHosted> {
        match &mut self.kind {
            CapacityKind::SelfHosted(fleet) => Some(fleet),
            _ => None,
        }
    }

    /// A self-hosted pool's replicas starting or warm.
    pub fn replicas_alive(&self) -> Option<u32> {
        match &self.kind {
            CapacityKind::SelfHosted(fleet) => Some(fleet.alive()),
            _ => None,
        }
    }

    /// A self-hosted pool's replicas and KV cache at `now`.
    pub fn fleet_level(&self, now: SimTime) -> Option<FleetLevel> {
        match &self.kind {
            CapacityKind::SelfHosted(fleet) => Some(fleet.level(now)),
            _ => None,
        }
    }

    /// The Batch API, for a pool of that kind.
    pub fn batch(&mut self) -> Option<&mut Batch> {
        match &mut self.kind {
            CapacityKind::Batch(batch) => Some(batch),
            _ => None,
        }
    }
}
