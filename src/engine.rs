//! The discrete-event core: simulated time, the event queue, random streams,
//! entity storage and the run loop. It knows nothing about LLMs, users or TOML.

pub mod fast_map;
pub mod queue;
pub mod random;
pub mod simulation;
pub mod slab;
pub mod time;

pub use queue::EventQueue;
pub use random::{RandomStreams, Stream};
pub use simulation::{Ctx, MEMORY_CHECK_EVERY, Model, STALL_EVENTS, Simulation, Stopped};
pub use slab::{Key, Place, Slab};
pub use time::{SimDuration, SimTime, TICKS_PER_MINUTE, TICKS_PER_SECOND, as_f64};
