//! Criterion benches of events per second: the hand-written reference loop,
//! the same queue on loopcap's engine alone, `models/mmc.toml` through the
//! full model path, the coding-agent model and a self-hosted vLLM pool.
//! `scripts/bench.sh` prints the side-by-side ratios; these give
//! criterion's confidence intervals.

#[path = "engine_mmc.rs"]
mod engine_mmc;
#[path = "reference.rs"]
mod reference;
#[path = "shipped.rs"]
mod shipped;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loopcap::model::{self, ModelSpec};

/// Customers per iteration of the hand-written queues: 10^5 at 8 a second.
const CUSTOMERS: u64 = 100_000;

/// Runs `spec` once; the events it handled.
fn events(spec: &ModelSpec) -> u64 {
    model::simulate(spec, false).unwrap().summary.events
}

fn mmc_queues(c: &mut Criterion) {
    let mut group = c.benchmark_group("mmc");
    group.sample_size(20);
    // An arrival and a departure per customer.
    group.throughput(Throughput::Elements(2 * CUSTOMERS));
    group.bench_function("hand-written reference", |b| {
        b.iter(|| black_box(reference::mmc(black_box(CUSTOMERS), 8.0, 1.0, 10, 1)))
    });
    let (_, engine_events, _) = engine_mmc::mmc(CUSTOMERS, 8.0, 1.0, 10, 1);
    group.throughput(Throughput::Elements(engine_events));
    group.bench_function("loopcap engine", |b| {
        b.iter(|| black_box(engine_mmc::mmc(black_box(CUSTOMERS), 8.0, 1.0, 10, 1)))
    });
    let spec = shipped::model("mmc.toml", &[]);
    // The event count is fixed by the model and seed: measure it once.
    group.throughput(Throughput::Elements(events(&spec)));
    group.bench_function("models/mmc.toml", |b| {
        b.iter(|| black_box(events(black_box(&spec))))
    });
    group.finish();
}

/// A bench group `name` of one shipped model, `models/<file>`, run whole.
fn shipped_model(c: &mut Criterion, name: &str, file: &str) {
    let spec = shipped::model(file, &[]);
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.throughput(Throughput::Elements(events(&spec)));
    group.bench_function(format!("models/{file}"), |b| {
        b.iter(|| black_box(events(black_box(&spec))))
    });
    group.finish();
}

fn coding_agents(c: &mut Criterion) {
    shipped_model(c, "coding-agents", "coding-agents-shared.toml");
}

/// A self-hosted vLLM pool: most of its events are replicas' steps.
fn self_hosted(c: &mut Criterion) {
    shipped_model(c, "self-hosted", "self-hosted-vllm.toml");
}

criterion_group! {
    name = benches;
    // No plots: their fonts need not exist on a bench machine.
    config = Criterion::default().without_plots();
    targets = mmc_queues, coding_agents, self_hosted
}
criterion_main!(benches);
