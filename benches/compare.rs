//! Side-by-side speed on the textbook M/M/c queue (c = 10, λ = 8, μ = 1,
//! 10^6 customers): the hand-written reference loop, the same queue on
//! loopcap's engine alone, and `models/mmc.toml` through the full model path;
//! then the coding-agent model's events and loops per second.
//!
//! The machine is shared and noisy, so the three queues take turns, round
//! after round, and each ratio is the median of the per-round ratios: a busy
//! spell slows both sides of a ratio rather than one. Run with
//! `scripts/bench.sh` (or `cargo bench --bench compare`).
//!
//! `LOOPCAP_BENCH_ONLY=reference|engine|mmc` runs one queue once and exits,
//! for instruction counts under callgrind, which stay the same however busy
//! the machine is.

#[path = "engine_mmc.rs"]
mod engine_mmc;
#[path = "reference.rs"]
mod reference;
#[path = "shipped.rs"]
mod shipped;

use std::hint::black_box;
use std::time::Instant;

use loopcap::model;

const ROUNDS: usize = 9;
const CUSTOMERS: u64 = 1_000_000;
const LAMBDA: f64 = 8.0;
const MU: f64 = 1.0;
const SERVERS: u32 = 10;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Seconds one call of `f` takes; its result is kept from the optimiser.
fn seconds<T>(f: impl FnOnce() -> T) -> f64 {
    let start = Instant::now();
    black_box(f());
    start.elapsed().as_secs_f64()
}

/// One of the queues: its name and a run returning (customers, events).
type Queue<'a> = (&'a str, Box<dyn Fn() -> (u64, u64) + 'a>);

fn main() {
    // 10^6 customers at 8 a second arrive in 125,000 s.
    let mmc = shipped::model("mmc.toml", &["duration=125000s", "warmup=0s"]);
    let queues: Vec<Queue> = vec![
        (
            "hand-written BinaryHeap loop",
            Box::new(|| {
                let (served, _) = reference::mmc(CUSTOMERS, LAMBDA, MU, SERVERS, 1);
                (served, 2 * served)
            }),
        ),
        (
            "loopcap engine, hand-written model",
            Box::new(|| {
                let (served, events, _) = engine_mmc::mmc(CUSTOMERS, LAMBDA, MU, SERVERS, 1);
                (served, events)
            }),
        ),
        (
            "loopcap, models/mmc.toml (full model path)",
            Box::new(|| {
                let summary = model::simulate(&mmc, false).unwrap().summary;
                (summary.loops_started, summary.events)
            }),
        ),
    ];
    if let Ok(only) = std::env::var("LOOPCAP_BENCH_ONLY") {
        let index = ["reference", "engine", "mmc"]
            .iter()
            .position(|name| *name == only)
            .expect("LOOPCAP_BENCH_ONLY is reference, engine or mmc");
        black_box((queues[index].1)());
        return;
    }

    let counts: Vec<(u64, u64)> = queues.iter().map(|(_, run)| run()).collect(); // also warms up
    let mut times = vec![Vec::new(); queues.len()];
    let mut ratios = vec![Vec::new(); queues.len()];
    for _ in 0..ROUNDS {
        let round: Vec<f64> = queues.iter().map(|(_, run)| seconds(run)).collect();
        for (q, &t) in round.iter().enumerate() {
            times[q].push(t);
            ratios[q].push(round[0] / t);
        }
    }
    println!("M/M/10, λ = 8, μ = 1, 10^6 customers; medians of {ROUNDS} rounds");
    println!(
        "{:<44} {:>13} {:>13} {:>13}",
        "system", "customers/s", "events/s", "speed vs ref"
    );
    for (q, (name, _)) in queues.iter().enumerate() {
        let t = median(times[q].clone());
        let (customers, events) = counts[q];
        println!(
            "{:<44} {:>12.2}M {:>12.2}M {:>13.2}",
            name,
            customers as f64 / t / 1e6,
            events as f64 / t / 1e6,
            median(ratios[q].clone())
        );
    }

    // 200 simulated hours of 40 developers' coding agents.
    let coding = shipped::model("coding-agents-shared.toml", &["duration=200h"]);
    let summary = model::simulate(&coding, false).unwrap().summary;
    let t = median(
        (0..ROUNDS)
            .map(|_| seconds(|| model::simulate(&coding, false).unwrap().summary.events))
            .collect(),
    );
    println!();
    println!(
        "models/coding-agents-shared.toml, 200 simulated hours: {:.2}M events/s, {:.0} loops/s \
         ({} events, {} loops per run)",
        summary.events as f64 / t / 1e6,
        summary.loops_started as f64 / t,
        summary.events,
        summary.loops_started
    );
}
