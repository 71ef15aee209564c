//! Side-by-side speed: the hand-written reference loop, loopcap's engine
//! alone, loopcap on models/mmc.toml, and loopcap on the coding-agent model.
//! Each is timed several times and the median reported, with ratios against
//! the reference measured in the same run (the machine is shared and noisy).
//! Run with `scripts/bench.sh` (or `cargo bench --bench compare`).

#[path = "reference.rs"]
mod reference;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use loopcap::config::{self, Override, Source};
use loopcap::model::{self, ModelSpec};

const RUNS: usize = 7;
const CUSTOMERS: u64 = 1_000_000;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Seconds one run of `f` takes.
fn time_once(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn model(file: &str, overrides: &[&str]) -> ModelSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(file);
    let overrides: Vec<Override> = overrides
        .iter()
        .map(|o| Override::parse(o).unwrap())
        .collect();
    config::load_model(&Source::read(&path).unwrap(), &overrides)
        .unwrap()
        .spec
}

fn main() {
    // 10^6 customers at 8 a second: 125,000 s.
    let mmc = model("mmc.toml", &["duration=125000s", "warmup=0s"]);
    // One target, run once, for instruction counts under callgrind, which
    // stay the same however busy the machine is.
    match std::env::var("LOOPCAP_BENCH_ONLY").as_deref() {
        Ok("reference") => {
            black_box(reference::mmc(CUSTOMERS, 8.0, 1.0, 10, 1));
            return;
        }
        Ok("mmc") => {
            black_box(model::simulate(&mmc, false).summary.events);
            return;
        }
        _ => {}
    }
    let coding = model("coding-agents-shared.toml", &["duration=200h"]);
    // Reference and loopcap alternate, so a busy spell on the shared machine
    // slows both sides of a ratio rather than one.
    let mmc_summary = model::simulate(&mmc, false).summary;
    let mut reference_times = Vec::new();
    let mut loopcap_times = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..RUNS {
        let reference = time_once(|| {
            black_box(reference::mmc(CUSTOMERS, 8.0, 1.0, 10, 1));
        });
        let loopcap = time_once(|| {
            black_box(model::simulate(&mmc, false).summary.loops_completed);
        });
        reference_times.push(reference);
        loopcap_times.push(loopcap);
        ratios.push(reference / loopcap);
    }
    let (reference, loopcap) = (median(reference_times), median(loopcap_times));
    let coding_summary = model::simulate(&coding, false).summary;
    let coding_time = median(
        (0..RUNS)
            .map(|_| {
                time_once(|| {
                    black_box(model::simulate(&coding, false).summary.events);
                })
            })
            .collect(),
    );
    let per_s = |n: f64, t: f64| n / t / 1e6;
    println!(
        "{:<46} {:>14} {:>14} {:>10}",
        "system", "customers/s", "events/s", "vs ref"
    );
    println!(
        "{:<46} {:>13.2}M {:>13.2}M {:>10.2}",
        "hand-written BinaryHeap loop (M/M/10)",
        per_s(CUSTOMERS as f64, reference),
        per_s(2.0 * CUSTOMERS as f64, reference),
        1.0
    );
    println!(
        "{:<46} {:>13.2}M {:>13.2}M {:>10.2}",
        "loopcap, models/mmc.toml (full model path)",
        per_s(mmc_summary.loops_started as f64, loopcap),
        per_s(mmc_summary.events as f64, loopcap),
        median(ratios)
    );
    println!(
        "{:<46} {:>13.2}M {:>13.2}M {:>10}",
        "loopcap, coding-agents-shared.toml (loops/s)",
        per_s(coding_summary.loops_started as f64, coding_time),
        per_s(coding_summary.events as f64, coding_time),
        "-"
    );
}
