//! Integration tests, in one binary to keep link time down.

mod bill;
mod cli;
mod determinism;
mod fit;
mod fuzz;
mod invariants;
mod layering;
mod limits;
mod model_mix;
mod outputs;
mod pools;
mod prompt_cache;
mod readme;
mod report;
mod resilience;
mod retries;
mod schema;
mod self_hosted;
mod sizing;
mod support;
mod sweep;
mod theory;
mod traces;
mod verdict;
mod windows;
mod workload;
