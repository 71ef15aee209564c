//! The domain: workload, agent loops, capacity kinds, client policy, prices
//! and metrics, assembled into one simulation of one model.
//!
//! In wings: `workload` (who starts loops and what a loop calls),
//! `capacity` (what serves the calls), `client` (how clients send and
//! retry), `measure` (what a run records and reports), `estimate` (what a
//! run will cost the machine, before it runs) and `system` (the event
//! handlers that tie them together); `spec` is a validated model and `run`
//! runs one. The leaves `distribution`, `bound`, `prices` and `fault` serve
//! every wing.

pub mod bound;
pub mod capacity;
pub mod client;
pub mod distribution;
pub mod estimate;
pub mod fault;
pub mod measure;
pub mod prices;
pub mod run;
pub mod spec;
pub mod system;
pub mod workload;

pub use run::{MEMORY_LIMIT, RunError, RunOptions, RunResult, simulate, simulate_with};
pub use spec::ModelSpec;
pub use system::residue::Residue;
