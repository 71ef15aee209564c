//! Capacity: what serves the calls. The kinds (a shared rate-limited API
//! with its token buckets, reserved lanes, a Batch API, self-hosted
//! replicas), what an attempt asks of them and how they answer, their
//! service times, the pools a router picks from, and the prompt cache.

pub mod admission;
pub mod batch;
pub mod kind;
pub mod pool;
pub mod prompt_cache;
pub mod ramp;
pub mod reserved;
pub mod self_hosted;
pub mod service_time;
pub mod shared_api;
pub mod shared_limits;
pub mod token_bucket;
