//! loopcap: a deterministic discrete-event capacity simulator for AI-agent workloads.
//!
//! Users start agent loops; each loop is a sequence of steps (LLM calls, some
//! of them fan-out bursts of parallel calls) with tool calls between them;
//! every call makes one or more attempts on capacity — a shared, rate-limited
//! API or reserved lanes — and failed attempts back off and retry under the
//! client's policy.
//!
//! The [`engine`] is a plain event loop over integer simulated time that knows
//! nothing of LLMs: a model handles one event at a time and schedules more.
//!
//! ```
//! use loopcap::engine::{Ctx, Model, SimDuration, SimTime, Simulation};
//!
//! /// Customers arriving every 2 s to a single server that takes 3 s.
//! struct Queue { busy_until: SimTime, served: u32 }
//! #[derive(Clone, Copy)]
//! enum Event { Arrived }
//!
//! impl Model for Queue {
//!     type Event = Event;
//!     fn rank(_: &Event) -> u8 { 0 }
//!     fn handle(&mut self, _: Event, cx: &mut Ctx<'_, Self>) {
//!         let start = self.busy_until.max(cx.now());
//!         self.busy_until = start + SimDuration::from_secs(3);
//!         self.served += 1;
//!         cx.schedule_in(SimDuration::from_secs(2), Event::Arrived);
//!     }
//! }
//!
//! let mut sim = Simulation::new(Queue { busy_until: SimTime::ZERO, served: 0 });
//! sim.init(|_, cx| cx.schedule_at(SimTime::ZERO, Event::Arrived));
//! sim.run_until(SimTime::ZERO + SimDuration::from_secs(10)).unwrap();
//! assert_eq!(sim.model().served, 6); // arrivals at 0, 2, 4, 6, 8 and 10 s
//! ```
//!
//! [`config`] turns model files into a validated [`model::ModelSpec`];
//! [`model::simulate`] runs it; [`report`] writes what a run produced.

pub mod atomic_file;
pub mod bytes;
pub mod calibrate;
pub mod cli;
pub mod command;
pub mod config;
pub mod csv_row;
pub mod engine;
pub mod error;
pub mod export;
pub mod fit;
pub mod histogram;
pub mod html_report;
pub mod json;
pub mod model;
pub mod output;
pub mod peak_memory;
pub mod plot;
pub mod report;
pub mod sizing;
pub mod statistics;
pub mod sweep;
pub mod sweep_dir;
pub mod validation;
