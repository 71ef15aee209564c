//! The reference: the M/M/c queue as a hand-written Rust event loop with a
//! BinaryHeap and no framework, the baseline loopcap is measured against.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};
use rand_pcg::Pcg64;

/// Simulates an M/M/c queue (λ arrivals/s, service rate μ/s, c servers)
/// until `customers` have arrived; returns the customers served and their
/// mean wait, so the work cannot be optimised away.
pub fn mmc(customers: u64, lambda: f64, mu: f64, servers: u32, seed: u64) -> (u64, f64) {
    const ARRIVAL: u8 = 0;
    const DEPARTURE: u8 = 1;
    let mut rng = Pcg64::seed_from_u64(seed);
    let inter = Exp::new(lambda).expect("positive rate");
    let service = Exp::new(mu).expect("positive rate");
    let micros = |s: f64| (s * 1e6) as u64;
    // (time in µs, insertion order, kind): earliest first, ties in order.
    let mut events: BinaryHeap<Reverse<(u64, u64, u8)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |events: &mut BinaryHeap<_>, time: u64, kind: u8| {
        seq += 1;
        events.push(Reverse((time, seq, kind)));
    };
    push(&mut events, micros(inter.sample(&mut rng)), ARRIVAL);
    let (mut arrived, mut served, mut busy) = (0u64, 0u64, 0u32);
    let mut waiting: VecDeque<u64> = VecDeque::new();
    let mut total_wait = 0u64;
    while let Some(Reverse((now, _, kind))) = events.pop() {
        if kind == ARRIVAL {
            arrived += 1;
            if arrived < customers {
                push(&mut events, now + micros(inter.sample(&mut rng)), ARRIVAL);
            }
            if busy < servers {
                busy += 1;
                push(
                    &mut events,
                    now + micros(service.sample(&mut rng)),
                    DEPARTURE,
                );
            } else {
                waiting.push_back(now);
            }
        } else {
            served += 1;
            if let Some(arrival) = waiting.pop_front() {
                total_wait += now - arrival;
                push(
                    &mut events,
                    now + micros(service.sample(&mut rng)),
                    DEPARTURE,
                );
            } else {
                busy -= 1;
            }
        }
    }
    (served, total_wait as f64 / served as f64 / 1e6)
}
