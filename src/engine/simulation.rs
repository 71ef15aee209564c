//! The run loop: pop the earliest event, advance the clock, hand the event to the model.

use super::queue::EventQueue;
use super::time::{SimDuration, SimTime};

/// What the engine drives. The engine knows nothing else about the model.
pub trait Model {
    /// Events are small plain values, copied in and out of the queue.
    type Event: Copy;

    /// Orders events due at the same instant: lower ranks are handled first,
    /// and events of equal rank in the order they were scheduled.
    fn rank(event: &Self::Event) -> u8;

    /// Reacts to one event; new events are scheduled through `cx`.
    fn handle(&mut self, event: Self::Event, cx: &mut Ctx<'_, Self>);

    /// Told the event to be handled after the current one (if nothing
    /// earlier is scheduled meanwhile), so it can start loading its state.
    #[inline(always)]
    fn prefetch(&self, _next: &Self::Event) {}

    /// Bytes of the model's state that grow as a run goes (entities,
    /// queues), held against [`Simulation::memory_limit`].
    fn state_bytes(&self) -> usize {
        0
    }
}

/// The model's view of the engine while it handles an event.
pub struct Ctx<'a, M: Model + ?Sized> {
    now: SimTime,
    queue: &'a mut EventQueue<M::Event>,
}

impl<M: Model + ?Sized> Ctx<'_, M> {
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `time`, which must not be in the past: a model
    /// that schedules into the past has a bug, which debug builds catch here
    /// (release builds then treat the time as now).
    #[inline(always)]
    pub fn schedule_at(&mut self, time: SimTime, event: M::Event) {
        debug_assert!(
            time >= self.now,
            "scheduled at {time:?}, before now ({:?})",
            self.now
        );
        let rank = M::rank(&event);
        self.queue.push(time.max(self.now), rank, event);
    }

    #[inline(always)]
    pub fn schedule_in(&mut self, delay: SimDuration, event: M::Event) {
        self.schedule_at(self.now + delay, event);
    }
}

/// The most events handled at one instant before a run is declared stalled:
/// far more than any burst (a million users each firing a fan-out of ten
/// at once makes about 10^7), reached in a few seconds by a model that
/// keeps scheduling work at the same instant forever.
pub const STALL_EVENTS: u64 = 50_000_000;

/// Pending events from which the model is shown the next event to fetch
/// its state ahead ([`Model::prefetch`]): fewer, and its state is in cache.
pub const PREFETCH_FROM: usize = 4096;

/// The memory limit is checked once per this many events: often enough
/// that state cannot outgrow it by much, rarely enough to cost nothing.
pub const MEMORY_CHECK_EVERY: u64 = 4096;

/// Why a run stopped before its horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// The run stopped making progress in simulated time.
    #[error("{events} events at one instant without the clock moving")]
    Stalled {
        /// The instant the clock stuck at.
        at: SimTime,
        events: u64,
    },
    /// The pending events and the model's state outgrew the memory limit.
    #[error("state of {bytes} bytes at {at:?}, over the memory limit")]
    OverMemory { at: SimTime, bytes: usize },
    /// The run handled more events than its limit.
    #[error("{events} events by {at:?}, over the limit")]
    OverEvents { at: SimTime, events: u64 },
}

/// A model plus its clock and pending events.
pub struct Simulation<M: Model> {
    model: M,
    queue: EventQueue<M::Event>,
    now: SimTime,
    events: u64,
    stall_events: u64,
    memory_limit: usize,
    event_limit: u64,
}

impl<M: Model> Simulation<M> {
    pub fn new(model: M) -> Self {
        Simulation {
            model,
            queue: EventQueue::new(),
            now: SimTime::ZERO,
            events: 0,
            stall_events: STALL_EVENTS,
            memory_limit: usize::MAX,
            event_limit: u64::MAX,
        }
    }

    /// Stops the run once it has handled more than `events` (checked with
    /// the memory limit, every [`MEMORY_CHECK_EVERY`] events; no limit by
    /// default).
    pub fn event_limit(mut self, events: u64) -> Self {
        self.event_limit = events;
        self
    }

    /// Declares the run stalled after `events` at one instant instead of [`STALL_EVENTS`].
    pub fn stall_after(mut self, events: u64) -> Self {
        self.stall_events = events;
        self
    }

    /// Stops the run when its pending events and the model's
    /// [`Model::state_bytes`] hold more than `bytes` (checked every
    /// [`MEMORY_CHECK_EVERY`] events; no limit by default).
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// The bytes held against the memory limit now.
    pub fn state_bytes(&self) -> usize {
        self.queue.bytes() + self.model.state_bytes()
    }

    /// Lets the model schedule its first events before the run starts.
    pub fn init(&mut self, f: impl FnOnce(&mut M, &mut Ctx<'_, M>)) {
        let mut cx = Ctx {
            now: self.now,
            queue: &mut self.queue,
        };
        f(&mut self.model, &mut cx);
    }

    /// Handles every event due up to and including `horizon`, then sets the
    /// clock to `horizon`. Events due later stay pending. Stops early, with
    /// the clock where it stuck, if more than [`STALL_EVENTS`] (or the
    /// [`Simulation::stall_after`]) events happen at one instant.
    #[inline]
    pub fn run_until(&mut self, horizon: SimTime) -> Result<(), Stopped> {
        self.run_until_observed(horizon, |_, _| {})
    }

    /// [`Simulation::run_until`], showing `observe` each event before it is
    /// handled: an event log kept outside the model, e.g. to recount what
    /// the model's own metrics say.
    #[inline(always)]
    pub fn run_until_observed(
        &mut self,
        horizon: SimTime,
        mut observe: impl FnMut(SimTime, &M::Event),
    ) -> Result<(), Stopped> {
        let mut at_this_instant = 0u64;
        while let Some((time, event)) = self.queue.pop_due(horizon) {
            if time == self.now {
                at_this_instant += 1;
                if at_this_instant > self.stall_events {
                    return Err(Stopped::Stalled {
                        at: time,
                        events: at_this_instant,
                    });
                }
            } else {
                at_this_instant = 1;
            }
            self.now = time;
            self.events += 1;
            observe(time, &event);
            // With few events pending the model's state is in cache anyway.
            if self.queue.len() > PREFETCH_FROM
                && let Some(next) = self.queue.peek()
            {
                self.model.prefetch(next);
            }
            let mut cx = Ctx {
                now: time,
                queue: &mut self.queue,
            };
            self.model.handle(event, &mut cx);
            if self.events.is_multiple_of(MEMORY_CHECK_EVERY) {
                let bytes = self.state_bytes();
                if bytes > self.memory_limit {
                    return Err(Stopped::OverMemory { at: time, bytes });
                }
                if self.events > self.event_limit {
                    return Err(Stopped::OverEvents {
                        at: time,
                        events: self.events,
                    });
                }
            }
        }
        self.now = self.now.max(horizon);
        Ok(())
    }

    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events scheduled but not yet handled.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    pub fn into_model(self) -> M {
        self.model
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records (time, label) of every event and re-schedules per its script.
    struct Recorder {
        seen: Vec<(u64, &'static str)>,
    }

    #[derive(Clone, Copy)]
    enum Ev {
        Completion(&'static str),
        Retry(&'static str),
        Spawn,
    }

    impl Model for Recorder {
        type Event = Ev;
        fn rank(event: &Ev) -> u8 {
            match event {
                Ev::Completion(_) => 0,
                Ev::Spawn => 1,
                Ev::Retry(_) => 2,
            }
        }
        fn handle(&mut self, event: Ev, cx: &mut Ctx<'_, Self>) {
            let t = cx.now().ticks();
            match event {
                Ev::Completion(l) | Ev::Retry(l) => self.seen.push((t, l)),
                Ev::Spawn => {
                    self.seen.push((t, "spawn"));
                    // Same-instant events scheduled from a handler still obey rank.
                    cx.schedule_in(SimDuration::ZERO, Ev::Retry("spawned-retry"));
                    cx.schedule_in(SimDuration::ZERO, Ev::Completion("spawned-completion"));
                }
            }
        }
    }

    #[test]
    fn same_instant_order_is_rank_then_fifo() {
        let mut sim = Simulation::new(Recorder { seen: vec![] });
        sim.init(|_, cx| {
            let t = SimTime::from_ticks(10);
            cx.schedule_at(t, Ev::Retry("retry-a"));
            cx.schedule_at(t, Ev::Completion("done-a"));
            cx.schedule_at(t, Ev::Spawn);
            cx.schedule_at(t, Ev::Completion("done-b"));
            cx.schedule_at(t, Ev::Retry("retry-b"));
        });
        sim.run_until(SimTime::from_ticks(100)).unwrap();
        let labels: Vec<_> = sim.model().seen.iter().map(|&(_, l)| l).collect();
        assert_eq!(
            labels,
            [
                "done-a",
                "done-b",
                "spawn",
                "spawned-completion",
                "retry-a",
                "retry-b",
                "spawned-retry"
            ]
        );
        assert_eq!(sim.events(), 7);
    }

    #[test]
    fn horizon_is_inclusive_and_later_events_stay_pending() {
        let mut sim = Simulation::new(Recorder { seen: vec![] });
        sim.init(|_, cx| {
            cx.schedule_at(SimTime::from_ticks(50), Ev::Completion("at-horizon"));
            cx.schedule_at(SimTime::from_ticks(51), Ev::Completion("after"));
        });
        sim.run_until(SimTime::from_ticks(50)).unwrap();
        assert_eq!(sim.model().seen, [(50, "at-horizon")]);
        assert_eq!(sim.pending(), 1);
        assert_eq!(sim.now(), SimTime::from_ticks(50));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "before now")]
    fn scheduling_into_the_past_is_a_bug_debug_builds_catch() {
        let mut sim = Simulation::new(Recorder { seen: vec![] });
        sim.init(|_, cx| cx.schedule_at(SimTime::from_ticks(50), Ev::Spawn));
        sim.run_until(SimTime::from_ticks(50)).unwrap();
        sim.init(|_, cx| cx.schedule_at(SimTime::from_ticks(10), Ev::Spawn));
    }

    /// Schedules itself again at the same instant, forever.
    struct Spinner;

    impl Model for Spinner {
        type Event = ();
        fn rank(_: &()) -> u8 {
            0
        }
        fn handle(&mut self, (): (), cx: &mut Ctx<'_, Self>) {
            cx.schedule_in(SimDuration::ZERO, ());
        }
    }

    #[test]
    fn a_run_stuck_at_one_instant_stops_as_stalled() {
        let mut sim = Simulation::new(Spinner).stall_after(1000);
        sim.init(|_, cx| cx.schedule_at(SimTime::from_ticks(7), ()));
        let stalled = sim.run_until(SimTime::from_ticks(100)).unwrap_err();
        assert_eq!(
            stalled,
            Stopped::Stalled {
                at: SimTime::from_ticks(7),
                events: 1001
            }
        );
        // A burst below the limit is no stall.
        let mut sim = Simulation::new(Recorder { seen: vec![] }).stall_after(3);
        sim.init(|_, cx| {
            for _ in 0..3 {
                cx.schedule_at(SimTime::from_ticks(5), Ev::Completion("c"));
            }
        });
        assert!(sim.run_until(SimTime::from_ticks(10)).is_ok());
    }

    /// Adds one event per event: the queue grows by one every time.
    struct Doubler;

    impl Model for Doubler {
        type Event = ();
        fn rank(_: &()) -> u8 {
            0
        }
        fn handle(&mut self, (): (), cx: &mut Ctx<'_, Self>) {
            cx.schedule_in(SimDuration::from_ticks(1), ());
            cx.schedule_in(SimDuration::from_ticks(1), ());
        }
    }

    #[test]
    fn a_run_whose_queue_outgrows_the_memory_limit_stops_there() {
        let entry = EventQueue::<()>::BYTES_PER_EVENT;
        // After n events, n + 1 are pending; the first check after 10,000
        // are pending is at event 12,288, the third multiple of 4,096.
        let mut sim = Simulation::new(Doubler).memory_limit(10_000 * entry);
        sim.init(|_, cx| cx.schedule_at(SimTime::ZERO, ()));
        let stopped = sim.run_until(SimTime::from_ticks(1 << 40)).unwrap_err();
        let Stopped::OverMemory { bytes, .. } = stopped else {
            panic!("{stopped:?}");
        };
        assert_eq!(sim.events(), 3 * MEMORY_CHECK_EVERY);
        assert_eq!(bytes, (3 * 4096 + 1) * entry);
        assert_eq!(bytes, sim.state_bytes());
        // Without a limit the same run goes on.
        let mut sim = Simulation::new(Doubler);
        sim.init(|_, cx| cx.schedule_at(SimTime::ZERO, ()));
        sim.run_until(SimTime::from_ticks(12)).unwrap();
        assert_eq!(sim.pending(), 1 << 13);
    }
}
