//! The same M/M/c queue as `reference.rs`, written as a model on loopcap's
//! engine (its event list, clock, random streams and integer time), without
//! loopcap's agent model: what the engine alone costs over a bare loop.

use std::collections::VecDeque;

use loopcap::engine::{Ctx, Model, RandomStreams, SimDuration, SimTime, Simulation, Stream};
use rand_distr::{Distribution, Exp};

#[derive(Clone, Copy)]
enum Event {
    Arrival,
    Departure,
}

struct Mmc {
    arrivals: Stream,
    services: Stream,
    inter: Exp<f64>,
    service: Exp<f64>,
    customers: u64,
    arrived: u64,
    served: u64,
    busy: u32,
    servers: u32,
    waiting: VecDeque<SimTime>,
    total_wait: SimDuration,
}

impl Mmc {
    fn draw(dist: &Exp<f64>, rng: &mut Stream) -> SimDuration {
        SimDuration::from_secs_f64(dist.sample(rng))
    }
}

impl Model for Mmc {
    type Event = Event;

    fn rank(_: &Event) -> u8 {
        0
    }

    fn handle(&mut self, event: Event, cx: &mut Ctx<'_, Self>) {
        match event {
            Event::Arrival => {
                self.arrived += 1;
                if self.arrived < self.customers {
                    cx.schedule_in(Self::draw(&self.inter, &mut self.arrivals), Event::Arrival);
                }
                if self.busy < self.servers {
                    self.busy += 1;
                    cx.schedule_in(
                        Self::draw(&self.service, &mut self.services),
                        Event::Departure,
                    );
                } else {
                    self.waiting.push_back(cx.now());
                }
            }
            Event::Departure => {
                self.served += 1;
                if let Some(arrival) = self.waiting.pop_front() {
                    self.total_wait = self.total_wait + cx.now().since(arrival);
                    cx.schedule_in(
                        Self::draw(&self.service, &mut self.services),
                        Event::Departure,
                    );
                } else {
                    self.busy -= 1;
                }
            }
        }
    }
}

/// Simulates the queue until `customers` have arrived and been served;
/// returns the customers served, the events handled and the mean wait.
pub fn mmc(customers: u64, lambda: f64, mu: f64, servers: u32, seed: u64) -> (u64, u64, f64) {
    let streams = RandomStreams::new(seed);
    let mut sim = Simulation::new(Mmc {
        arrivals: streams.stream("arrivals"),
        services: streams.stream("services"),
        inter: Exp::new(lambda).expect("positive rate"),
        service: Exp::new(mu).expect("positive rate"),
        customers,
        arrived: 0,
        served: 0,
        busy: 0,
        servers,
        waiting: VecDeque::new(),
        total_wait: SimDuration::ZERO,
    });
    sim.init(|mmc, cx| {
        let first = Mmc::draw(&mmc.inter, &mut mmc.arrivals);
        cx.schedule_in(first, Event::Arrival);
    });
    sim.run_until(SimTime::MAX).unwrap();
    let events = sim.events();
    let mmc = sim.into_model();
    let mean_wait = mmc.total_wait.as_secs_f64() / mmc.served as f64;
    (mmc.served, events, mean_wait)
}
