use std::collections::{BTreeMap, BTreeSet};

use rand::RngExt;

use super::*;
use crate::engine::{RandomStreams, Slab};
use crate::model::capacity::prompt_cache::{Conversation, Session};
use crate::model::distribution::Dist;
use crate::model::distribution::DurationDist;

mod vllm;

fn secs(s: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(s)
}

fn spec(replicas: u32, max_sequences: u32, kv: u64) -> SelfHostedSpec {
    SelfHostedSpec {
        min_replicas: replicas,
        max_replicas: replicas,
        initial_replicas: replicas,
        max_sequences,
        kv_cache_tokens: kv,
        prefill: PrefillSpeed::Constant(10_000.0),
        decode: DecodeSpeed::Table(vec![(1.0, 50.0), (8.0, 240.0), (32.0, 480.0)]),
        scheduler: Scheduler::Reserve,
        routing: Routing::LeastLoaded,
        queue_limit: None,
        queue_full_retry_after: None,
        autoscale: None,
        cold_start: None,
    }
}

fn request(input: u32, max_output: u32) -> Request {
    Request {
        input_tokens: input,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        max_output_tokens: max_output,
    }
}

/// Checks what must hold of every replica at every instant.
fn check(fleet: &SelfHosted) {
    for r in &fleet.replicas {
        match (&r.work, fleet.spec.scheduler) {
            (Work::Clocked(c), _) => {
                assert!(
                    c.kv_reserved <= fleet.spec.kv_cache_tokens,
                    "KV over budget"
                );
                assert!(
                    c.kv_held() <= c.kv_reserved as f64 + 1e-6,
                    "held beyond reserved"
                );
                assert!(r.sequences() <= fleet.spec.max_sequences);
            }
            (Work::Stepped(s), Scheduler::Vllm { block_size, .. }) => {
                // Blocks held (the sequences' own, recounted, and those
                // they reference, recounted by session in
                // `check_references`), cached and free make the whole
                // cache: none lost, none made up.
                let blocks = fleet.spec.kv_cache_tokens / u64::from(block_size);
                let (free, cached) = s.free_blocks();
                assert_eq!(s.used_blocks() + free + cached, blocks, "blocks leak");
                assert_eq!(s.kv_held(), s.used_blocks() * u64::from(block_size));
                s.check_references();
                assert!(s.running() <= fleet.spec.max_sequences);
            }
            (Work::Stepped(_), Scheduler::Reserve) => panic!("a stepped replica reserving"),
        }
        assert!(r.state == ReplicaState::Warm || r.is_idle());
    }
}

/// Runs `fleet` through `arrivals` (time, request, output tokens) and
/// every wake-up it asks for (wake-ups first at one instant, as the
/// model orders them), checking it after every step, until it is
/// empty. Returns each attempt's first-token and finish times.
fn drive(
    fleet: &mut SelfHosted,
    arrivals: &[(SimTime, Request, u32)],
) -> BTreeMap<Key, (SimTime, SimTime)> {
    let arrivals: Vec<_> = arrivals.iter().map(|&(t, r, o)| (t, r, o, None)).collect();
    drive_sessions(fleet, &arrivals)
}

/// [`drive`], each call continuing a session or none.
fn drive_sessions(
    fleet: &mut SelfHosted,
    arrivals: &[(SimTime, Request, u32, Option<Conversation>)],
) -> BTreeMap<Key, (SimTime, SimTime)> {
    let mut keys = Slab::new();
    let mut wakes: Vec<Wake> = Vec::new();
    let mut times = BTreeMap::new();
    let mut first = BTreeMap::new();
    let mut next = 0;
    loop {
        wakes.extend(fleet.take_wakes());
        fleet.take_started().for_each(drop);
        let due_wake = wakes.iter().map(|w| w.at).min();
        let due_arrival = arrivals.get(next).map(|a| a.0);
        match (due_wake, due_arrival) {
            // A step's start comes after the calls that arrive with it.
            (Some(w), a)
                if a.is_none_or(|a| {
                    w < a || (w == a && wakes.iter().any(|x| x.at == w && !x.starts_step))
                }) =>
            {
                let i = wakes
                    .iter()
                    .position(|x| x.at == w && (!x.starts_step || a != Some(w)))
                    .unwrap();
                let wake = wakes.swap_remove(i);
                let woken = fleet.wake(wake.at, wake.replica, wake.generation);
                for (key, _) in woken.first_tokens {
                    first.insert(key, wake.at);
                }
                for key in woken.finished {
                    times.insert(key, (first[&key], wake.at));
                }
            }
            (_, Some(at)) => {
                let (_, req, output, session) = arrivals[next];
                next += 1;
                let key = keys.insert(());
                assert_eq!(
                    fleet.offer(at, key, (req, output, session)),
                    Admission::Queued
                );
            }
            _ => break,
        }
        check(fleet);
    }
    assert_eq!((fleet.in_flight(), fleet.queued()), (0, 0), "drained");
    times
}

/// Random calls into two small replicas: the KV budget and the batch
/// limit hold at every step, every call finishes, and each takes at
/// least its prefill plus its decoding alone at full speed.
#[test]
fn the_kv_budget_and_batch_limit_hold_and_everything_finishes() {
    let mut rng = RandomStreams::new(3).stream("t");
    let mut t = 0.0;
    let arrivals: Vec<_> = (0..400)
        .map(|_| {
            t += rng.random::<f64>() * 0.5;
            let input = 100 + (rng.random::<f64>() * 3000.0) as u32;
            let output = 1 + (rng.random::<f64>() * 300.0) as u32;
            (secs(t), request(input, 400), output)
        })
        .collect();
    let mut fleet = SelfHosted::new(&spec(2, 8, 12_000), SimTime::ZERO);
    let times = drive(&mut fleet, &arrivals);
    assert_eq!(times.len(), arrivals.len());
    let fastest_token_s = DecodeSpeed::Table(vec![(1.0, 50.0)]).iteration_s(1, 0);
    for ((_, (first, done)), (at, req, output)) in times.iter().zip(&arrivals) {
        let prefill = f64::from(req.input_tokens) / 10_000.0;
        assert!(first.since(*at).as_secs_f64() >= prefill - 1e-6);
        let decode = f64::from(output - 1) * fastest_token_s;
        assert!(done.since(*first).as_secs_f64() >= decode - 1e-3);
    }
}

/// One sequence alone decodes at the batch-of-one speed: prefill, then
/// (output - 1) iterations of 1/50 s.
#[test]
fn a_lone_sequence_takes_its_prefill_and_its_iterations() {
    let mut fleet = SelfHosted::new(&spec(1, 8, 100_000), SimTime::ZERO);
    let times = drive(&mut fleet, &[(secs(1.0), request(2000, 400), 101)]);
    let (first, done) = times.values().next().unwrap();
    assert_eq!(*first, secs(1.2));
    assert!((done.since(*first).as_secs_f64() - 100.0 / 50.0).abs() < 1e-5);
}

/// Aggregate decode speed rises with the batch: the same 64 calls of
/// 200 tokens, all queued at once, finish sooner with more sequences
/// per replica, until the KV budget admits no more at once.
#[test]
fn throughput_rises_with_the_batch_until_the_kv_budget_binds() {
    let makespan = |max_sequences: u32, kv: u64| {
        let arrivals: Vec<_> = (0..64)
            .map(|_| (secs(0.0), request(500, 500), 200))
            .collect();
        let mut fleet = SelfHosted::new(&spec(1, max_sequences, kv), SimTime::ZERO);
        let times = drive(&mut fleet, &arrivals);
        times.values().map(|t| t.1).max().unwrap().as_secs_f64()
    };
    let spans: Vec<f64> = [1, 2, 4, 8, 16, 32]
        .map(|b| makespan(b, 1_000_000))
        .to_vec();
    assert!(spans.windows(2).all(|w| w[1] < w[0]), "{spans:?}");
    // A budget of 8 reservations of 1,000 tokens caps the batch at 8.
    assert_eq!(makespan(32, 8_000), makespan(8, 8_000));
    assert!(makespan(32, 8_000) > makespan(32, 1_000_000));
}

fn autoscaled(cold_start_s: f64) -> SelfHostedSpec {
    SelfHostedSpec {
        min_replicas: 1,
        max_replicas: 3,
        initial_replicas: 1,
        autoscale: Some(Autoscale {
            metric: ScaleMetric::Queue,
            target: 1.0,
            interval: SimDuration::from_secs(10),
            window: SimDuration::from_secs(10),
            scale_down_after: SimDuration::from_secs(60),
        }),
        cold_start: Some(DurationDist::new(Dist::constant(cold_start_s).unwrap())),
        ..spec(1, 1, 100_000)
    }
}

/// A queue makes the autoscaler start replicas; each serves exactly its
/// cold-start draw after it was started, and what waited for it is cold.
#[test]
fn a_cold_start_delays_service_by_exactly_its_draw() {
    let mut keys = Slab::new();
    let mut rng = RandomStreams::new(1).stream("t");
    let mut fleet = SelfHosted::new(&autoscaled(120.0), SimTime::ZERO);
    for _ in 0..4 {
        fleet.offer(
            secs(0.0),
            keys.insert(()),
            (request(100, 100), 10_000, None),
        );
    }
    fleet.take_started().for_each(drop);
    assert_eq!(fleet.queued(), 3);
    fleet.autoscale(secs(10.0), &mut rng);
    // As Kubernetes' autoscaler: ceil(1 replica × 3 queued per replica / target 1).
    assert_eq!(fleet.alive(), 3);
    let ready: Vec<Wake> = fleet.take_wakes().filter(|w| w.at == secs(130.0)).collect();
    assert_eq!(ready.len(), 2);
    for w in ready {
        let woken = fleet.wake(w.at, w.replica, w.generation);
        assert!(woken.finished.is_empty());
    }
    assert_eq!(fleet.take_started().count(), 2, "both start at 130 s");
    assert_eq!(fleet.queued(), 1);
    assert!(fleet.replicas[1..].iter().all(|r| match &r.work {
        Work::Clocked(c) => c.prefill[0].cold,
        Work::Stepped(_) => false,
    }));
    assert_eq!(fleet.stats(secs(130.0)).cold_starts, 2);
}

/// Scale-down waits `scale_down_after` of surplus, then drains the
/// least loaded replicas: they take nothing new and stop when empty, so
/// no sequence is ever dropped.
#[test]
fn scale_down_drains_replicas_and_never_drops_a_sequence() {
    let mut keys = Slab::new();
    let mut rng = RandomStreams::new(1).stream("t");
    let spec = SelfHostedSpec {
        initial_replicas: 3,
        ..autoscaled(30.0)
    };
    let mut fleet = SelfHosted::new(&spec, SimTime::ZERO);
    // Replica 0 (least loaded, lowest index) takes a long call.
    fleet.offer(
        secs(0.0),
        keys.insert(()),
        (request(100, 100), 100_000, None),
    );
    fleet.autoscale(secs(30.0), &mut rng);
    assert_eq!(fleet.alive(), 3, "no minute of surplus yet");
    fleet.autoscale(secs(90.0), &mut rng);
    assert_eq!(fleet.alive(), 1, "the two idle ones stop at once");
    assert_eq!(fleet.replicas[0].state, ReplicaState::Warm);
    assert_eq!(fleet.in_flight(), 1);
    fleet.autoscale(secs(600.0), &mut rng);
    assert_eq!(fleet.alive(), 1, "never below min_replicas");
    // A serving replica asked to drain finishes its sequence first.
    let mut fleet = SelfHosted::new(
        &SelfHostedSpec {
            min_replicas: 1,
            initial_replicas: 2,
            ..autoscaled(30.0)
        },
        SimTime::ZERO,
    );
    let arrivals: Vec<_> = (0..2)
        .map(|_| (secs(0.0), request(100, 100), 5_000))
        .collect();
    for (at, req, output) in &arrivals {
        fleet.offer(*at, keys.insert(()), (*req, *output, None));
    }
    fleet.autoscale(secs(10.0), &mut rng);
    fleet.autoscale(secs(80.0), &mut rng);
    assert_eq!(fleet.alive(), 2, "both still serve");
    assert_eq!(fleet.replicas.iter().filter(|r| r.draining).count(), 1);
    assert_eq!(fleet.in_flight(), 2);
}

#[test]
fn decode_speed_interpolates_between_measured_points() {
    let table = DecodeSpeed::Table(vec![(1.0, 50.0), (8.0, 240.0), (32.0, 480.0)]);
    // A table ignores the context.
    assert!((table.iteration_s(1, 9_000) - 1.0 / 50.0).abs() < 1e-12);
    // Halfway from 8 to 32: 360 tokens/s over 20 sequences.
    assert!((table.iteration_s(20, 0) - 20.0 / 360.0).abs() < 1e-12);
    assert!((table.iteration_s(64, 0) - 64.0 / 480.0).abs() < 1e-12);
    let linear = DecodeSpeed::Linear {
        base_s: 0.02,
        per_sequence_s: 0.001,
        per_context_token_s: 1e-6,
    };
    // 20 ms + 10 x 1 ms + 5,000 x 1 µs.
    assert!((linear.iteration_s(10, 5_000) - 0.035).abs() < 1e-12);
    let prefill = PrefillSpeed::Table(vec![(128.0, 10_200.0), (2_048.0, 24_700.0)]);
    assert_eq!(prefill.tokens_per_s(64.0), 10_200.0);
    // A third of the way from 128 to 2,048 tokens.
    assert!((prefill.tokens_per_s(768.0) - (10_200.0 + 14_500.0 / 3.0)).abs() < 1e-9);
    assert!((prefill.seconds(4_096) - 4_096.0 / 24_700.0).abs() < 1e-12);
}
