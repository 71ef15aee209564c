use std::collections::{BTreeMap, BTreeSet};

use rand::RngExt;

use super::*;
use crate::engine::{RandomStreams, Slab};
use crate::model::capacity::prompt_cache::Session;
use crate::model::distribution::Dist;
use crate::model::distribution::DurationDist;

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
                // Blocks held, recounted from the sequences, and those
                // free make the whole cache: none lost, none made up.
                let blocks = fleet.spec.kv_cache_tokens / u64::from(block_size);
                let (free, cached) = s.free_blocks();
                assert_eq!(s.used_blocks() + free + cached, blocks, "blocks leak");
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
    arrivals: &[(SimTime, Request, u32, Option<Session>)],
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

/// Replicas scheduled as vLLM schedules, with steps of `budget` tokens,
/// blocks of 16, a prefill of 10,000 tokens/s and decode steps of 10 ms
/// whatever the batch and context.
fn vllm(replicas: u32, max_sequences: u32, kv: u64, budget: u32) -> SelfHostedSpec {
    SelfHostedSpec {
        decode: DecodeSpeed::Linear {
            base_s: 0.01,
            per_sequence_s: 0.0,
            per_context_token_s: 0.0,
        },
        scheduler: Scheduler::Vllm {
            block_size: 16,
            max_num_batched_tokens: budget,
            preemption: Preemption::Recompute,
            prefix_cache: PrefixCaching::Given,
        },
        ..spec(replicas, max_sequences, kv)
    }
}

fn cached(input: u32, cached: u32, max_output: u32) -> Request {
    Request {
        cached_input_tokens: cached,
        ..request(input, max_output)
    }
}

/// A prompt of 2,000 tokens alone, in steps of 512: chunks of 512, 512,
/// 512 and 464 at 10,000 tokens/s end its prefill 0.2 s after it came,
/// then each of its 100 other tokens takes a 10 ms step. With 1,000 of
/// them cached, 62 whole blocks (992 tokens) are not computed again.
#[test]
fn a_lone_prompt_prefills_in_chunks_of_the_step_budget_then_makes_a_token_a_step() {
    let mut fleet = SelfHosted::new(&vllm(1, 8, 100_000, 512), SimTime::ZERO);
    let times = drive(&mut fleet, &[(secs(1.0), request(2000, 400), 101)]);
    assert_eq!(times.values().next(), Some(&(secs(1.2), secs(2.2))));
    let mut fleet = SelfHosted::new(&vllm(1, 8, 100_000, 512), SimTime::ZERO);
    let times = drive(&mut fleet, &[(secs(1.0), cached(2000, 1000, 400), 101)]);
    assert_eq!(times.values().next(), Some(&(secs(1.1008), secs(2.1008))));
}

/// An empty prompt (as a fuzzed model sends; vLLM refuses one) is
/// computed as one token: 0.1 ms at 10,000 tokens/s, its first token,
/// then a token a 10 ms step.
#[test]
fn an_empty_prompt_is_computed_as_one_token() {
    let mut fleet = SelfHosted::new(&vllm(1, 8, 100_000, 512), SimTime::ZERO);
    let times = drive(&mut fleet, &[(secs(1.0), cached(0, 0, 400), 3)]);
    assert_eq!(times.values().next(), Some(&(secs(1.0001), secs(1.0201))));
}

/// A decodes in 10 ms steps from 1.6 ms on; B (1,024 prompt tokens)
/// comes at 50 ms, mid-step, and waits for the step's end at 51.6 ms.
/// Then each step runs A's token and 511 of B's prompt (10 ms + 51.1 ms),
/// twice, then A's token and B's last 2 (10.2 ms): B's first token at
/// 184.0 ms, its second a step later; A never pauses, and its 999 tokens
/// after the first take 996 plain steps and those three.
#[test]
fn decodes_go_on_while_a_prompt_prefills_and_arrivals_wait_for_the_step() {
    let mut fleet = SelfHosted::new(&vllm(1, 8, 100_000, 512), SimTime::ZERO);
    let times = drive(
        &mut fleet,
        &[
            (secs(0.0), request(16, 1000), 1000),
            (secs(0.05), request(1024, 1000), 2),
        ],
    );
    let mut it = times.values();
    let (a, b) = (*it.next().unwrap(), *it.next().unwrap());
    assert_eq!(b, (secs(0.1840), secs(0.1940)));
    assert_eq!(a.0, secs(0.0016));
    assert_eq!(a.1, secs(0.0016 + 9.96 + 2.0 * 0.0611 + 0.0102));
}

/// Eight calls of 400 tokens that may make 1,000 but make 50: reserving
/// 1,400 tokens each, a cache of 4,096 runs two at once; taking blocks
/// as they grow (8 x 29 blocks of 16 at most), it runs all eight in one
/// batch with nothing preempted: sent together to an idle replica, their
/// prompts share its first step (3,200 tokens, 320 ms).
#[test]
fn kv_taken_on_demand_runs_more_at_once_than_reservations_do() {
    let arrivals: Vec<_> = (0..8)
        .map(|_| (secs(0.0), request(400, 1000), 50))
        .collect();
    let mut on_demand = SelfHosted::new(&vllm(1, 16, 4096, 8192), SimTime::ZERO);
    let stepped = drive(&mut on_demand, &arrivals);
    let firsts: Vec<SimTime> = stepped.values().map(|t| t.0).collect();
    assert!(firsts.iter().all(|&t| t == secs(0.32)), "{firsts:?}");
    assert_eq!(on_demand.stats(secs(10.0)).preemptions, 0);
    let reserving = SelfHostedSpec {
        scheduler: Scheduler::Reserve,
        ..vllm(1, 16, 4096, 8192)
    };
    let reserved = drive(&mut SelfHosted::new(&reserving, SimTime::ZERO), &arrivals);
    let makespan = |t: &BTreeMap<Key, (SimTime, SimTime)>| t.values().map(|t| t.1).max();
    assert!(makespan(&stepped) < makespan(&reserved));
    // Two at a time: the third starts only once one of the first two ended.
    let firsts: BTreeSet<SimTime> = reserved.values().map(|t| t.0).collect();
    let first_end = reserved.values().map(|t| t.1).min().unwrap();
    assert!(firsts.iter().nth(2) >= Some(&first_end), "{firsts:?}");
    assert!(firsts.iter().nth(1) < Some(&first_end), "{firsts:?}");
}

/// Two calls of 512 prompt tokens that make 1,000 each, in a cache of
/// 128 blocks: together they outgrow it, and the later one is preempted
/// (freed) while the earlier one goes on. Recomputed, it prefills its
/// prompt and what it made again; swapped, it resumes where it was, so
/// it ends sooner, the sooner the faster its KV cache is copied. With room for both, neither is preempted.
#[test]
fn when_blocks_run_out_the_latest_admitted_is_preempted() {
    let arrivals = [
        (secs(0.0), request(512, 1000), 1000),
        (secs(0.001), request(512, 1000), 1000),
    ];
    let run = |kv: u64, preemption: Preemption| {
        let spec = SelfHostedSpec {
            scheduler: Scheduler::Vllm {
                block_size: 16,
                max_num_batched_tokens: 8192,
                preemption,
                prefix_cache: PrefixCaching::Given,
            },
            ..vllm(1, 8, kv, 8192)
        };
        let mut fleet = SelfHosted::new(&spec, SimTime::ZERO);
        let times: Vec<_> = drive(&mut fleet, &arrivals).into_values().collect();
        (times, fleet.stats(secs(100.0)).preemptions)
    };
    let (roomy, none) = run(100_000, Preemption::Recompute);
    assert_eq!(none, 0);
    let (recomputed, preempted) = run(2048, Preemption::Recompute);
    assert!(preempted >= 1);
    let (swapped, swaps) = run(2048, Preemption::Swap { tokens_per_s: 1e6 });
    assert!(swaps >= 1);
    // Copying over a link a hundred times slower costs the swapped call time.
    let (slow_link, _) = run(2048, Preemption::Swap { tokens_per_s: 1e4 });
    assert!(
        slow_link[1].1 > swapped[1].1,
        "{slow_link:?} vs {swapped:?}"
    );
    // The first admitted is never the one preempted, so it ends as soon
    // as with room to spare (later by the copies, which lengthen its
    // steps, when the other is swapped); the second ends later, and later
    // recomputed.
    assert_eq!(recomputed[0].1, roomy[0].1);
    let copies = swapped[0].1.since(roomy[0].1).as_secs_f64();
    assert!(copies > 0.0 && copies < 0.01, "{copies} s of copies");
    for times in [&recomputed, &swapped] {
        assert!(times[1].1 > roomy[1].1);
    }
    assert!(
        recomputed[1].1 > swapped[1].1,
        "{recomputed:?} vs {swapped:?}"
    );
}

/// Random calls, some cached, into two replicas with a tight KV cache
/// (preemptions), small steps (chunked prompts) and decode steps that
/// grow with the batch and its context: blocks are conserved and the
/// batch limit holds at every event, everything finishes, and runs of
/// decode steps give each call the first token and end that the steps
/// one by one give, to the microsecond.
#[test]
fn runs_of_decode_steps_give_what_the_steps_one_by_one_give() {
    let arrivals = sessionless_calls();
    let spec = SelfHostedSpec {
        decode: growing_decode(),
        ..vllm(2, 12, 12_000, 256)
    };
    let together = runs_match_steps(&spec, &arrivals);
    for ((first, _), (at, req, ..)) in together.values().zip(&arrivals) {
        let prefill = f64::from(req.input_tokens - req.cached_input_tokens) / 10_000.0;
        assert!(first.since(*at).as_secs_f64() >= prefill * 0.99 - 1e-6);
    }
}

/// The same when a step's time does not read the context (a measured
/// table, in fractions of a tick): a run's steps are then alike, and
/// counted, and cut short, by multiplying one step's time.
#[test]
fn runs_of_steps_that_do_not_read_the_context_give_the_steps_one_by_one() {
    let arrivals = sessionless_calls();
    let spec = SelfHostedSpec {
        decode: DecodeSpeed::Table(vec![(1.0, 90.0), (8.0, 500.0), (12.0, 610.0)]),
        ..vllm(2, 12, 12_000, 256)
    };
    assert!(!spec.decode.reads_context());
    runs_match_steps(&spec, &arrivals);
}

/// Random calls into the runs-against-steps tests, each a session of its
/// own: nothing to reuse.
fn sessionless_calls() -> Vec<(SimTime, Request, u32, Option<Session>)> {
    random_calls(5, 0.4, 3000, 400)
        .into_iter()
        .map(|(t, r, o, _)| (t, r, o, None))
        .collect()
}

fn caching(kv: u64, prefix_cache: PrefixCaching) -> SelfHostedSpec {
    SelfHostedSpec {
        scheduler: Scheduler::Vllm {
            block_size: 16,
            max_num_batched_tokens: 8192,
            preemption: Preemption::Recompute,
            prefix_cache,
        },
        ..vllm(1, 8, kv, 8192)
    }
}

fn session(n: u32) -> Option<Session> {
    Some(Session::User { class: 0, user: n })
}

/// 300 calls drawn with seed `seed`: gaps up to `gap` s, 50 to 50 +
/// `input` prompt tokens with a random part cached, 1 to 1 + `output`
/// tokens out (at most 600), each of one of 20 sessions.
fn random_calls(
    seed: u64,
    gap: f64,
    input: u32,
    output: u32,
) -> Vec<(SimTime, Request, u32, Option<Session>)> {
    let mut rng = RandomStreams::new(seed).stream("t");
    let mut t = 0.0;
    let mut draw = |most: u32| (rng.random::<f64>() * f64::from(most)) as u32;
    (0..300)
        .map(|_| {
            t += f64::from(draw(1000)) / 1000.0 * gap;
            let tokens = 50 + draw(input);
            let hit = draw(tokens);
            (
                secs(t),
                cached(tokens, hit, 600),
                1 + draw(output),
                session(draw(20)),
            )
        })
        .collect()
}

/// Blocks a session's calls leave behind: A (1,600 prompt tokens, 11
/// out) leaves 101 blocks; B, its session's next call, reuses the 100
/// whole blocks of its 1,600 cached tokens and prefills the other 1,600
/// (first token 0.16 s after it came); C, another session's, finds none
/// and prefills all 3,200 (0.32 s), where the given rule credits both.
/// With a cache of 250 blocks, D (another session, 188 blocks) evicts
/// A's last 39 blocks: B then reuses 62 and prefills 2,208 tokens.
#[test]
fn a_sessions_calls_reuse_the_blocks_it_left_until_they_are_evicted() {
    let a = (secs(0.0), request(1600, 400), 11, session(1));
    let b = (secs(1.0), cached(3200, 1600, 400), 2, session(1));
    let c = (secs(2.0), cached(3200, 1600, 400), 2, session(2));
    let run = |spec: SelfHostedSpec, calls: &[(SimTime, Request, u32, Option<Session>)]| {
        let mut fleet = SelfHosted::new(&spec, SimTime::ZERO);
        let firsts: Vec<_> = drive_sessions(&mut fleet, calls)
            .into_values()
            .map(|t| t.0)
            .collect();
        let stats = fleet.stats(secs(10.0));
        (firsts, (stats.cache_hit_tokens, stats.cacheable_tokens))
    };
    let firsts = |spec, calls: &[_]| run(spec, calls).0;
    let (blocks, hits) = run(caching(100_000, PrefixCaching::Blocks), &[a, b, c]);
    assert_eq!(blocks, [secs(0.16), secs(1.16), secs(2.32)]);
    // B read its 1,600 from the cache, C none of its 1,600.
    assert_eq!(hits, (1600, 3200));
    let given = firsts(caching(100_000, PrefixCaching::Given), &[a, b, c]);
    assert_eq!(given, [secs(0.16), secs(1.16), secs(2.16)]);
    let d = (secs(0.5), request(3000, 400), 2, session(3));
    let evicted = firsts(caching(4000, PrefixCaching::Blocks), &[a, d, b]);
    assert_eq!(evicted[2], secs(1.2208), "{evicted:?}");
}

/// Calls of 20 sessions into a tight cache with prefix caching by blocks:
/// blocks (free, held, cached) are conserved at every event, everything
/// finishes, and runs of decode steps give what the steps one by one give.
#[test]
fn cached_blocks_are_conserved_and_runs_still_match_the_steps() {
    let arrivals = random_calls(9, 0.3, 2500, 300);
    let spec = SelfHostedSpec {
        decode: growing_decode(),
        ..caching(12_000, PrefixCaching::Blocks)
    };
    runs_match_steps(&spec, &arrivals);
}

/// Decode steps of 8 ms, 0.3 ms more a sequence, 0.2 µs more a token of context.
fn growing_decode() -> DecodeSpeed {
    DecodeSpeed::Linear {
        base_s: 0.008,
        per_sequence_s: 0.0003,
        per_context_token_s: 2e-7,
    }
}

/// Drives a fleet of `spec` through `arrivals` twice, with runs of decode
/// steps and with the steps one by one: every call finishes, the cache is
/// tight enough to preempt, and both give each call the same first token
/// and end, which it returns.
fn runs_match_steps(
    spec: &SelfHostedSpec,
    arrivals: &[(SimTime, Request, u32, Option<Session>)],
) -> BTreeMap<Key, (SimTime, SimTime)> {
    let mut runs = SelfHosted::new(spec, SimTime::ZERO);
    let together = drive_sessions(&mut runs, arrivals);
    let mut steps = SelfHosted::new(spec, SimTime::ZERO);
    for r in &mut steps.replicas {
        if let Work::Stepped(s) = &mut r.work {
            s.one_by_one = true;
        }
    }
    let one_by_one = drive_sessions(&mut steps, arrivals);
    assert_eq!(together.len(), arrivals.len());
    assert!(steps.stats(secs(1e4)).preemptions > 0, "the cache is tight");
    assert_eq!(together, one_by_one);
    together
}
