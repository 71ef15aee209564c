//! The vLLM scheduler's replicas: chunked prefill in a step budget, KV
//! blocks taken on demand and preemption, runs of decode steps, and the
//! prefix cache.

use super::*;

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
            async_scheduling: false,
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
    let (a, b) = a_then_b(&vllm(1, 8, 100_000, 512));
    assert_eq!(b, (secs(0.1840), secs(0.1940)));
    assert_eq!(a.0, secs(0.0016));
    assert_eq!(a.1, secs(0.0016 + 9.96 + 2.0 * 0.0611 + 0.0102));
}

/// A (16 prompt tokens, 1,000 out) sent at 0 and B (1,024 prompt tokens,
/// 2 out) at 50 ms to one replica of `spec`: each one's first token and end.
fn a_then_b(spec: &SelfHostedSpec) -> ((SimTime, SimTime), (SimTime, SimTime)) {
    let mut fleet = SelfHosted::new(spec, SimTime::ZERO);
    let times = drive(
        &mut fleet,
        &[
            (secs(0.0), request(16, 1000), 1000),
            (secs(0.05), request(1024, 1000), 2),
        ],
    );
    let mut it = times.values();
    (*it.next().unwrap(), *it.next().unwrap())
}

/// `spec` planning each step while the one before it runs.
fn ahead(mut spec: SelfHostedSpec) -> SelfHostedSpec {
    if let Scheduler::Vllm {
        async_scheduling, ..
    } = &mut spec.scheduler
    {
        *async_scheduling = true;
    }
    spec
}

/// Scheduled one step ahead (vLLM's async scheduling), the step after the
/// one in progress was planned when it started: B, arriving at 50 ms in
/// the step of 41.6 to 51.6 ms, waits for the next step too (to 61.6 ms),
/// and its three steps of prefill beside A's tokens end at 194.0 ms, a
/// step later than above. A, sent to an idle replica, starts at once as
/// before, and ends as before: B's steps only move.
#[test]
fn scheduled_one_step_ahead_an_arrival_waits_for_the_next_step_too() {
    let (a, b) = a_then_b(&ahead(vllm(1, 8, 100_000, 512)));
    assert_eq!(b, (secs(0.1940), secs(0.2040)));
    assert_eq!(a.0, secs(0.0016));
    assert_eq!(a.1, secs(0.0016 + 9.96 + 2.0 * 0.0611 + 0.0102));
    // Runs of decode steps, cut short by arrivals that now wait a step
    // more, still give what the steps one by one give.
    let spec = SelfHostedSpec {
        decode: growing_decode(),
        ..ahead(vllm(2, 12, 12_000, 256))
    };
    runs_match_steps(&spec, &sessionless_calls());
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
                async_scheduling: false,
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
fn sessionless_calls() -> Vec<(SimTime, Request, u32, Option<Conversation>)> {
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
            async_scheduling: false,
        },
        ..vllm(1, 8, kv, 8192)
    }
}

/// A call of user `n`'s session, of class 0, sharing nothing with other
/// sessions.
fn session(n: u32) -> Option<Conversation> {
    sharing(n, 0, 0)
}

/// A call of user `n`'s session, of class `class`, whose first `shared`
/// tokens every session of its class sends alike.
fn sharing(n: u32, class: u16, shared: u32) -> Option<Conversation> {
    Some(Conversation {
        session: Session::User { class, user: n },
        class,
        shared,
    })
}

/// 300 calls drawn with seed `seed`: gaps up to `gap` s, 50 to 50 +
/// `input` prompt tokens with a random part cached, 1 to 1 + `output`
/// tokens out (at most 600), each of one of 20 sessions; those of even
/// users (class 0) start with 320 tokens their class sends alike, when
/// they have that many cached.
fn random_calls(
    seed: u64,
    gap: f64,
    input: u32,
    output: u32,
) -> Vec<(SimTime, Request, u32, Option<Conversation>)> {
    let mut rng = RandomStreams::new(seed).stream("t");
    let mut t = 0.0;
    let mut draw = |most: u32| (rng.random::<f64>() * f64::from(most)) as u32;
    (0..300)
        .map(|_| {
            t += f64::from(draw(1000)) / 1000.0 * gap;
            let tokens = 50 + draw(input);
            let hit = draw(tokens);
            let user = draw(20);
            let class = (user % 2) as u16;
            let shared = if class == 0 { hit.min(320) } else { 0 };
            (
                secs(t),
                cached(tokens, hit, 600),
                1 + draw(output),
                sharing(user, class, shared),
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
    let (blocks, hits) = firsts_and_hits(100_000, &[a, b, c]);
    assert_eq!(blocks, [secs(0.16), secs(1.16), secs(2.32)]);
    // B read its 1,600 from the cache, C none of its 1,600.
    assert_eq!(hits, (1600, 3200));
    let given = firsts_and_hits_on(&caching(100_000, PrefixCaching::Given), &[a, b, c]).0;
    assert_eq!(given, [secs(0.16), secs(1.16), secs(2.16)]);
    let d = (secs(0.5), request(3000, 400), 2, session(3));
    let evicted = firsts_and_hits(4000, &[a, d, b]).0;
    assert_eq!(evicted[2], secs(1.2208), "{evicted:?}");
}

/// Calls of one session share their prefix's blocks by reference, as
/// vLLM caches a call's whole blocks when it schedules them. B (3,200
/// prompt tokens, the first 1,600 its session's) sent with A (1,600)
/// references A's 100 blocks in the same step and prefills only its own
/// 1,600: the step prefills 3,200 tokens, both first tokens at 0.32 s.
/// In a cache of 250 blocks they run together (A grows to 113 blocks, B
/// to 201, 100 of them A's); were B another session's, it would need 200
/// blocks beside A's 100 and wait for A's end (2.15 s: its prefill and
/// 199 steps) to prefill all 3,200 (2.47 s). Sent at 0.505 s, while A
/// decodes, B waits for the step's end (0.51 s) and prefills 1,600 beside
/// A's token (10 ms + 160 ms): its first token at 0.68 s.
#[test]
fn calls_of_a_session_running_together_share_its_prefix_blocks() {
    let a = (secs(0.0), request(1600, 400), 200, session(1));
    let b = (secs(0.0), cached(3200, 1600, 400), 2, session(1));
    let run = |kv: u64, calls: &[(SimTime, Request, u32, Option<Conversation>)]| {
        let mut fleet = SelfHosted::new(&caching(kv, PrefixCaching::Blocks), SimTime::ZERO);
        let firsts: Vec<_> = drive_sessions(&mut fleet, calls)
            .into_values()
            .map(|t| t.0)
            .collect();
        let stats = fleet.stats(secs(10.0));
        (firsts, stats.cache_hit_tokens, stats.preemptions)
    };
    assert_eq!(run(4000, &[a, b]), (vec![secs(0.32), secs(0.32)], 1600, 0));
    let other = (secs(0.0), cached(3200, 1600, 400), 2, session(2));
    assert_eq!(run(4000, &[a, other]), (vec![secs(0.16), secs(2.47)], 0, 0));
    let later = (secs(0.505), cached(3200, 1600, 400), 2, session(1));
    assert_eq!(
        run(100_000, &[a, later]),
        (vec![secs(0.16), secs(0.68)], 1600, 0)
    );
}

/// First tokens and (cache hits, cacheable tokens) of `calls` on one
/// replica caching prefixes by blocks in a KV cache of `kv` tokens.
fn firsts_and_hits(
    kv: u64,
    calls: &[(SimTime, Request, u32, Option<Conversation>)],
) -> (Vec<SimTime>, (u64, u64)) {
    firsts_and_hits_on(&caching(kv, PrefixCaching::Blocks), calls)
}

/// [`firsts_and_hits`] on replicas of `spec`.
fn firsts_and_hits_on(
    spec: &SelfHostedSpec,
    calls: &[(SimTime, Request, u32, Option<Conversation>)],
) -> (Vec<SimTime>, (u64, u64)) {
    let mut fleet = SelfHosted::new(spec, SimTime::ZERO);
    let firsts = drive_sessions(&mut fleet, calls)
        .into_values()
        .map(|t| t.0)
        .collect();
    let stats = fleet.stats(secs(10.0));
    (firsts, (stats.cache_hit_tokens, stats.cacheable_tokens))
}

/// The blocks every session of a class starts with alike are one prefix,
/// as vLLM names a block by its tokens. Each call: 3,200 prompt tokens,
/// 2,400 cached (150 blocks), the first 1,600 (100 blocks) its class's.
/// A (user 1) prefills all (0.32 s) and leaves 100 blocks of its class's
/// and 50 of its session's. B (user 2) reads the class's 100 and
/// prefills 1,600 (1.16 s); C (user 3, class 1) reads nothing (2.32 s);
/// D (user 1 again) reads 150 and prefills 800 (3.08 s); E (user 4)
/// starts with a shared part of 800 tokens, another text (4.32 s). Hits:
/// 1,600 + 2,400 of 5 x 2,400. Sharing nothing across sessions, B would
/// prefill all 3,200 (1.32 s).
#[test]
fn sessions_of_a_class_share_the_blocks_they_all_start_with() {
    let call = |t: f64, user: u32, class: u16, shared: u32| {
        (
            secs(t),
            cached(3200, 2400, 400),
            2,
            sharing(user, class, shared),
        )
    };
    let calls = [
        call(0.0, 1, 0, 1600),
        call(1.0, 2, 0, 1600),
        call(2.0, 3, 1, 1600),
        call(3.0, 1, 0, 1600),
        call(4.0, 4, 0, 800),
    ];
    let (firsts, hits) = firsts_and_hits(100_000, &calls);
    let expected = [0.32, 1.16, 2.32, 3.08, 4.32].map(secs);
    assert_eq!(firsts, expected);
    assert_eq!(hits, (4_000, 12_000));
    let alone = calls.map(|(t, r, o, c)| (t, r, o, c.map(|c| Conversation { shared: 0, ..c })));
    let (firsts, hits) = firsts_and_hits(100_000, &alone);
    assert_eq!((firsts[1], hits.0), (secs(1.32), 2_400));
}

/// A class's part is shared while it is computed, as vLLM caches a call's
/// whole blocks when it schedules them: B (user 2), sent with A (user 1),
/// references the 100 blocks A prefills in the same step and prefills its
/// other 1,600 tokens: the step prefills 4,800, both first tokens at
/// 0.48 s. Were B of another class, the step would prefill 6,400 (0.64 s).
#[test]
fn calls_of_a_class_sent_together_share_its_part_as_it_is_computed() {
    let call = |user: u32, class: u16| {
        (
            secs(0.0),
            cached(3200, 2400, 400),
            2,
            sharing(user, class, 1600),
        )
    };
    let (firsts, hits) = firsts_and_hits(100_000, &[call(1, 0), call(2, 0)]);
    assert_eq!((firsts, hits.0), (vec![secs(0.48); 2], 1_600));
    let (firsts, hits) = firsts_and_hits(100_000, &[call(1, 0), call(2, 1)]);
    assert_eq!((firsts, hits.0), (vec![secs(0.64); 2], 0));
}

/// The same in steps of 1,024 tokens: A's prompt takes the whole budget
/// of three steps, so B waits; in the fourth A's last 128 tokens leave
/// 896 for B, which references A's 100 blocks of the class's part as A
/// schedules its last chunk, and prefills 896 of its own 1,600 (A's first
/// token at 0.4096 s). The fifth step decodes A's second token (10 ms)
/// beside B's other 704 (70.4 ms): B's first token at 0.49 s. Of another
/// class, B prefills all 3,200: 896, then 1,024 beside A's token (0.522
/// s), 1,024 and 256: 0.65 s.
#[test]
fn a_classs_part_is_shared_from_the_step_that_finishes_computing_it() {
    let spec = SelfHostedSpec {
        scheduler: Scheduler::Vllm {
            block_size: 16,
            max_num_batched_tokens: 1024,
            preemption: Preemption::Recompute,
            prefix_cache: PrefixCaching::Blocks,
            async_scheduling: false,
        },
        ..vllm(1, 8, 100_000, 1024)
    };
    let call = |user: u32, class: u16| {
        (
            secs(0.0),
            cached(3200, 2400, 400),
            2,
            sharing(user, class, 1600),
        )
    };
    let (firsts, hits) = firsts_and_hits_on(&spec, &[call(1, 0), call(2, 0)]);
    assert_eq!((firsts, hits.0), (vec![secs(0.4096), secs(0.49)], 1_600));
    let (firsts, hits) = firsts_and_hits_on(&spec, &[call(1, 0), call(2, 1)]);
    assert_eq!((firsts, hits.0), (vec![secs(0.4096), secs(0.65)], 0));
}

/// A session's blocks are evicted before the class's part they continue,
/// which every session of the class reads. In a cache of 250 blocks, A
/// (as above, 2 tokens out) leaves 50 blocks of user 1's and 100 of its
/// class's, 100 free. F (2,400 tokens, no session) needs 150: it evicts
/// user 1's 50, and G (user 2, at 2 s) still reads the class's 100
/// (2.16 s); user 1 at 3 s reads them too, but prefills its own 800 again
/// (3.16 s). F' (3,200 tokens) evicts 50 of the class's part as well: G
/// reads the 50 left and prefills 2,400 (2.24 s), and leaves the part
/// whole again for user 5 (3.16 s).
#[test]
fn a_sessions_blocks_are_evicted_before_its_classs_part() {
    let call = |t: f64, user: u32| (secs(t), cached(3200, 2400, 400), 2, sharing(user, 0, 1600));
    let alone = |t: f64, input: u32| (secs(t), request(input, 400), 1, None);
    let (firsts, hits) = firsts_and_hits(
        4_000,
        &[call(0.0, 1), alone(1.0, 2400), call(2.0, 2), call(3.0, 1)],
    );
    assert_eq!(firsts, [0.32, 1.24, 2.16, 3.16].map(secs));
    assert_eq!(hits.0, 3_200);
    let (firsts, hits) = firsts_and_hits(
        4_000,
        &[call(0.0, 1), alone(1.0, 3200), call(2.0, 2), call(3.0, 5)],
    );
    assert_eq!(firsts, [0.32, 1.32, 2.24, 3.16].map(secs));
    assert_eq!(hits.0, 800 + 1_600);
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

/// The same with preemption by swapping: a swapped call gives up the
/// prefix blocks it referenced and comes back with all it computed, held
/// anew; blocks and references still add up at every event.
#[test]
fn swapped_calls_give_up_their_references_and_blocks_are_conserved() {
    let arrivals = random_calls(9, 0.3, 2500, 300);
    let spec = SelfHostedSpec {
        decode: growing_decode(),
        scheduler: Scheduler::Vllm {
            block_size: 16,
            max_num_batched_tokens: 8192,
            preemption: Preemption::Swap { tokens_per_s: 1e6 },
            prefix_cache: PrefixCaching::Blocks,
            async_scheduling: false,
        },
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
    arrivals: &[(SimTime, Request, u32, Option<Conversation>)],
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
