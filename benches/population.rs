//! Events per second as the population grows: `models/coding-agents-reserved.toml`
//! with 10^3, 10^4, 10^5 and 10^6 users and a lane each (so no call waits
//! for a lane and the work per event is the same at every size), measured
//! in the steady state: each size is first run for half an hour of simulated
//! time (users all start thinking at once; the loops in flight settle within
//! that), then criterion times runs of about two million more events.
//!
//! After criterion's own report the sizes take turns for a few rounds, and
//! it prints, per size, the median events/s, the median of its per-round
//! ratios to the 10^3-user case, and the bytes the run's state holds
//! (pending events and the slabs of loops, calls and attempts) per user.
//! `scripts/bench.sh` adds each size's whole-process peak memory.

#[path = "shipped.rs"]
mod shipped;

use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use loopcap::engine::{SimDuration, SimTime, Simulation};
use loopcap::model::ModelSpec;
use loopcap::model::system::AgentSystem;

const USERS: [u32; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Simulated time before measuring.
const WARM: SimDuration = SimDuration::from_secs(30 * 60);
/// Events per measured iteration: each run of simulated time is timed and
/// its time scaled to exactly this many events.
const EVENTS: u64 = 2_000_000;

/// Rounds of the side-by-side comparison after criterion's report.
const ROUNDS: usize = 7;

/// One size, warmed up, and the simulated time that holds about EVENTS events.
struct Size<'a> {
    users: u32,
    sim: Simulation<AgentSystem<'a>>,
    window: SimDuration,
}

impl Size<'_> {
    /// Runs the next window: the wall time it took and the events it handled.
    fn step(&mut self) -> (Duration, u64) {
        let before = self.sim.events();
        let start = Instant::now();
        let horizon = self.sim.now() + self.window;
        self.sim.run_until(horizon).expect("runs");
        (start.elapsed(), self.sim.events() - before)
    }
}

fn warmed(spec: &ModelSpec, users: u32) -> Size<'_> {
    let mut sim = Simulation::new(AgentSystem::new(spec, false));
    sim.init(|system, cx| system.start(cx));
    sim.run_until(SimTime::ZERO + WARM).expect("runs");
    let before = sim.events();
    sim.run_until(sim.now() + SimDuration::from_secs(60))
        .expect("runs");
    let per_s = (sim.events() - before) as f64 / 60.0;
    Size {
        users,
        sim,
        window: SimDuration::from_secs_f64(EVENTS as f64 / per_s),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn population(c: &mut Criterion) {
    let specs: Vec<ModelSpec> = USERS
        .iter()
        .map(|users| {
            shipped::model(
                "coding-agents-reserved.toml",
                &[
                    &format!("workload.developers.users={users}"),
                    &format!("capacity.lanes={users}"),
                    // Far beyond any run here: each window sets its own horizon.
                    "duration=100000h",
                    "warmup=0s",
                ],
            )
        })
        .collect();
    let mut sizes: Vec<Size> = specs
        .iter()
        .zip(USERS)
        .map(|(spec, users)| warmed(spec, users))
        .collect();

    let mut group = c.benchmark_group("population");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(EVENTS));
    for size in &mut sizes {
        group.bench_function(BenchmarkId::from_parameter(size.users), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let (took, handled) = size.step();
                        took.mul_f64(EVENTS as f64 / handled as f64)
                    })
                    .sum()
            })
        });
    }
    group.finish();

    // Side by side: the sizes take turns, round after round, so a busy
    // spell on the shared machine slows every size of a round alike.
    let mut rates = vec![Vec::new(); sizes.len()];
    let mut ratios = vec![Vec::new(); sizes.len()];
    for _ in 0..ROUNDS {
        let round: Vec<f64> = sizes
            .iter_mut()
            .map(|size| {
                let (took, handled) = size.step();
                handled as f64 / took.as_secs_f64()
            })
            .collect();
        for (i, &rate) in round.iter().enumerate() {
            rates[i].push(rate);
            ratios[i].push(rate / round[0]);
        }
    }
    println!();
    println!(
        "models/coding-agents-reserved.toml, a lane per user, in the steady state; \
         medians of {ROUNDS} rounds"
    );
    println!(
        "{:>10} {:>14} {:>14} {:>18}",
        "users", "events/s", "vs 10^3 users", "state bytes/user"
    );
    for (i, size) in sizes.iter().enumerate() {
        println!(
            "{:>10} {:>13.2}M {:>14.2} {:>18.0}",
            size.users,
            median(rates[i].clone()) / 1e6,
            median(ratios[i].clone()),
            size.sim.state_bytes() as f64 / f64::from(size.users)
        );
    }
}

criterion_group! {
    name = benches;
    // No plots: their fonts need not exist on a bench machine.
    config = Criterion::default().without_plots();
    targets = population
}
criterion_main!(benches);
