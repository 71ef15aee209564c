//! Events per second on the M/M/c model, through the full model path.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loopcap::config::{self, Source};
use loopcap::model;

fn mmc(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/mmc.toml");
    let spec = config::load_model(&Source::read(&path).unwrap(), &[])
        .unwrap()
        .spec;
    // The event count is fixed by the model and seed: measure it once.
    let events = model::simulate(&spec, false).summary.events;
    let mut group = c.benchmark_group("mmc");
    group.throughput(Throughput::Elements(events));
    group.sample_size(20);
    group.bench_function("models/mmc.toml", |b| {
        b.iter(|| black_box(model::simulate(black_box(&spec), false).summary.events))
    });
    group.finish();
}

criterion_group!(benches, mmc);
criterion_main!(benches);
