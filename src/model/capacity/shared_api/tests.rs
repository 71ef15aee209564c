use super::*;
use crate::engine::RandomStreams;

fn spec() -> SharedApiSpec {
    SharedApiSpec {
        counting: Counting {
            cache_reads: Some(true),
            ..Counting::DEFAULT
        },
        concurrency_retry_after: SimDuration::from_secs(1),
        ..SharedApiSpec::unlimited(ServiceTime::constant(1.0))
    }
}

fn req(input: u32, max_out: u32) -> Request {
    Request {
        input_tokens: input,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        max_output_tokens: max_out,
    }
}

fn rng() -> Stream {
    RandomStreams::new(1).stream("api")
}

#[test]
fn requests_per_min_gives_429_with_exact_retry_after() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            requests_per_min: Some(2),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    assert_eq!(
        api.offer(SimTime::ZERO, req(1, 1), &mut rng),
        Admission::Started
    );
    assert_eq!(
        api.offer(SimTime::ZERO, req(1, 1), &mut rng),
        Admission::Started
    );
    // Two per minute refill one every 30 s.
    assert_eq!(
        api.offer(SimTime::ZERO, req(1, 1), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            retry_after: SimDuration::from_secs(30),
            limit: Limit::Requests,
            group: None,
        })
    );
}

#[test]
fn admission_is_all_or_nothing_and_retry_after_is_the_slowest_bucket() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            requests_per_min: Some(100),
            input_tokens_per_min: Some(1000),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    let t = SimTime::ZERO;
    assert_eq!(api.offer(t, req(900, 0), &mut rng), Admission::Started);
    // 200 input tokens are missing 100: 6 s at 1000/min. Nothing is taken.
    assert_eq!(
        api.offer(t, req(200, 0), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            retry_after: SimDuration::from_secs(6),
            limit: Limit::InputTokens,
            group: None,
        })
    );
    // A small call still fits: the big one can starve behind small ones.
    assert_eq!(api.offer(t, req(100, 0), &mut rng), Admission::Started);
    assert_eq!(api.in_flight(), 2);
}

/// Whether a second `request` fits 1,500 input tokens a minute at once
/// after a first, under `counting`.
fn second_fits(counting: Counting, request: Request) -> bool {
    let mut rng = rng();
    let mut api = SharedApi::new(
        &SharedApiSpec {
            input_tokens_per_min: Some(1500),
            counting,
            ..spec()
        },
        SimTime::ZERO,
    );
    assert_eq!(
        api.offer(SimTime::ZERO, request, &mut rng),
        Admission::Started
    );
    api.offer(SimTime::ZERO, request, &mut rng) == Admission::Started
}

/// 1,000 input tokens of which 900 are cache reads: counted in full,
/// 1,000 + 1,000 > 1,500; uncached only, 100 + 100 fit.
#[test]
fn cache_reads_count_towards_the_input_limit_only_if_the_provider_says_so() {
    let cached = Request {
        input_tokens: 1000,
        cached_input_tokens: 900,
        cache_write_tokens: 0,
        max_output_tokens: 1,
    };
    for count in [true, false] {
        let counting = Counting {
            cache_reads: Some(count),
            ..Counting::DEFAULT
        };
        assert_eq!(
            second_fits(counting, cached),
            !count,
            "reads count: {count}"
        );
    }
}

/// 1,000 input tokens of which 900 are cache writes: counted
/// (Anthropic's rule) a second one waits; uncounted, it fits.
#[test]
fn cache_writes_count_unless_the_provider_says_not() {
    let writing = Request {
        input_tokens: 1000,
        cached_input_tokens: 0,
        cache_write_tokens: 900,
        max_output_tokens: 1,
    };
    for count in [true, false] {
        let counting = Counting {
            cache_writes: count,
            ..Counting::DEFAULT
        };
        assert_eq!(
            second_fits(counting, writing),
            !count,
            "writes count: {count}"
        );
    }
}

/// 60 requests a minute, all 60 taken at 0 s: at 0.5 s half a request
/// is back. A refused request that does not count is told to come back
/// in 0.5 s and gets in at 1 s; one that counts (OpenAI's rule) empties
/// the bucket, is told 1 s, and at 1 s finds only half a request again.
#[test]
fn a_refused_request_counts_where_the_provider_says_so() {
    let mut rng = rng();
    let at = |s: f64| SimTime::ZERO + SimDuration::from_secs_f64(s);
    for refused in [false, true] {
        let mut api = SharedApi::new(
            &SharedApiSpec {
                requests_per_min: Some(60),
                counting: Counting {
                    refused,
                    ..Counting::DEFAULT
                },
                ..spec()
            },
            SimTime::ZERO,
        );
        for _ in 0..60 {
            assert_eq!(api.offer(at(0.0), req(1, 1), &mut rng), Admission::Started);
        }
        let told = match api.offer(at(0.5), req(1, 1), &mut rng) {
            Admission::Rejected(Rejection::RateLimited { retry_after, .. }) => {
                retry_after.as_secs_f64()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(told, if refused { 1.0 } else { 0.5 });
        let later = api.offer(at(1.0), req(1, 1), &mut rng) == Admission::Started;
        assert_eq!(later, !refused, "refused requests count: {refused}");
    }
}

#[test]
fn calls_larger_than_a_bucket_are_rejected_for_good() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            input_tokens_per_min: Some(1000),
            output_tokens_per_min: Some(500),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    let too_large = Admission::Rejected(Rejection::TooLarge);
    assert_eq!(api.offer(SimTime::ZERO, req(1001, 1), &mut rng), too_large);
    assert_eq!(api.offer(SimTime::ZERO, req(10, 501), &mut rng), too_large);
    assert!(!Rejection::TooLarge.is_retryable());
}

#[test]
fn output_reservation_is_corrected_at_completion() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            output_tokens_per_min: Some(1000),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    let t = SimTime::ZERO;
    assert_eq!(api.offer(t, req(1, 800), &mut rng), Admission::Started);
    // Only 200 left while 800 are reserved.
    assert!(matches!(
        api.offer(t, req(1, 300), &mut rng),
        Admission::Rejected(Rejection::RateLimited { .. })
    ));
    // The call produced 100 tokens: 700 come back.
    api.release(t, req(1, 800), 100);
    assert_eq!(api.offer(t, req(1, 900), &mut rng), Admission::Started);
    // A provider that keeps the whole reservation returns nothing.
    let mut kept = SharedApi::new(
        &SharedApiSpec {
            output_tokens_per_min: Some(1000),
            counting: Counting {
                output_corrected: false,
                ..Counting::DEFAULT
            },
            ..spec()
        },
        SimTime::ZERO,
    );
    assert_eq!(kept.offer(t, req(1, 800), &mut rng), Admission::Started);
    kept.release(t, req(1, 800), 100);
    assert!(matches!(
        kept.offer(t, req(1, 300), &mut rng),
        Admission::Rejected(Rejection::RateLimited { .. })
    ));
}

#[test]
fn concurrency_cap_rejects_with_its_retry_after_until_a_slot_frees() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            max_concurrency: Some(2),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    let t = SimTime::ZERO;
    assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
    assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
    assert_eq!(
        api.offer(t, req(1, 1), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            retry_after: SimDuration::from_secs(1),
            limit: Limit::Concurrency,
            group: None,
        })
    );
    api.release(t, req(1, 1), 1);
    assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
}

#[test]
fn a_capacity_drop_scales_every_limit() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            requests_per_min: Some(100),
            max_concurrency: Some(10),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    api.scale(SimTime::ZERO, 0.2);
    let admitted = (0..20)
        .filter(|_| api.offer(SimTime::ZERO, req(1, 1), &mut rng) == Admission::Started)
        .count();
    assert_eq!(admitted, 2, "concurrency cap 10 x 0.2");
    api.scale(SimTime::ZERO, 1.0);
    assert_eq!(
        api.offer(SimTime::ZERO, req(1, 1), &mut rng),
        Admission::Started
    );
}

#[test]
fn overload_probability_rises_linearly_above_the_threshold() {
    let o = Overload {
        threshold: 10,
        saturation: 20,
        max_probability: 0.5,
    };
    assert_eq!(o.probability(10), 0.0);
    assert!((o.probability(15) - 0.25).abs() < 1e-12);
    assert_eq!(o.probability(40), 0.5);
}

#[test]
fn overloaded_server_returns_529_at_the_configured_rate() {
    // With 30 in flight and saturation at 20, every attempt has p = 0.4.
    // 20k trials: binomial sd 0.0035, so 0.02 is over five sd.
    let mut api = SharedApi::new(
        &SharedApiSpec {
            overload: Some(Overload {
                threshold: 10,
                saturation: 20,
                max_probability: 0.4,
            }),
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    while api.in_flight() < 30 {
        api.offer(SimTime::ZERO, req(1, 1), &mut rng);
    }
    let trials = 20_000;
    let mut overloaded = 0;
    for _ in 0..trials {
        match api.offer(SimTime::ZERO, req(1, 1), &mut rng) {
            Admission::Rejected(Rejection::Overloaded) => overloaded += 1,
            Admission::Started => api.release(SimTime::ZERO, req(1, 1), 1),
            other => panic!("unexpected {other:?}"),
        }
    }
    let share = f64::from(overloaded) / f64::from(trials);
    assert!((share - 0.4).abs() < 0.02, "529 share {share}");
}

/// A combined limit of 2,800 tokens a minute with each output token
/// counted 4 times: a call of 1,000 input and `max_tokens` 100 asks 1,400,
/// so two fit at once and the third waits the 30 s that refill 1,400.
/// Corrected, a call that produced 50 returns 4 × 50: a third call of 200
/// input and 0 output then fits.
#[test]
fn a_combined_limit_charges_input_plus_weighted_output() {
    let combined = SharedApiSpec {
        tokens_per_min: Some(2800),
        output_token_weight: 4,
        ..spec()
    };
    let mut api = SharedApi::new(&combined, SimTime::ZERO);
    let mut rng = rng();
    let t = SimTime::ZERO;
    assert_eq!(api.offer(t, req(1000, 100), &mut rng), Admission::Started);
    assert_eq!(api.offer(t, req(1000, 100), &mut rng), Admission::Started);
    assert_eq!(
        api.offer(t, req(1000, 100), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            retry_after: SimDuration::from_secs(30),
            limit: Limit::Tokens,
            group: None,
        })
    );
    assert_eq!(
        api.offer(t, req(200, 0), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            // 200 of 2,800 a minute: 4.29 s, rounded up to the tick.
            retry_after: SimDuration::from_ticks(4_285_715),
            limit: Limit::Tokens,
            group: None,
        })
    );
    api.release(t, req(1000, 100), 50);
    assert_eq!(api.offer(t, req(200, 0), &mut rng), Admission::Started);
    // Uncorrected (OpenAI documents no correction), nothing returns.
    let mut fixed = SharedApi::new(
        &SharedApiSpec {
            counting: Counting {
                output_corrected: false,
                ..combined.counting
            },
            ..combined
        },
        SimTime::ZERO,
    );
    assert_eq!(fixed.offer(t, req(1000, 100), &mut rng), Admission::Started);
    assert_eq!(fixed.offer(t, req(1000, 100), &mut rng), Admission::Started);
    fixed.release(t, req(1000, 100), 0);
    assert!(!fixed.would_admit(t, req(200, 0)));
}

/// Charged the larger of input and output (OpenAI's guide), a call of
/// 1,000 input and `max_tokens` 100 asks 1,000 and one of 100 input and
/// `max_tokens` 1,000 asks 1,000 too: three such fit 3,000 a minute, a
/// fourth of either waits; corrected, the second returns 1,000 − 100.
#[test]
fn a_combined_limit_may_charge_the_larger_of_input_and_output() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            tokens_per_min: Some(3000),
            tokens_charged: TokensCharged::Larger,
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    let t = SimTime::ZERO;
    for call in [req(1000, 100), req(100, 1000), req(1000, 100)] {
        assert_eq!(api.offer(t, call, &mut rng), Admission::Started);
    }
    assert!(!api.would_admit(t, req(1, 1)));
    api.release(t, req(100, 1000), 0);
    assert!(api.would_admit(t, req(900, 0)) && !api.would_admit(t, req(901, 0)));
}

/// Azure's provisioned rule: a full deployment of 1,000 tokens a minute
/// admits a call asking 5,000 (it holds something), and then refuses
/// every call, the 429's retry-after the wait until the refill has repaid
/// the 4,000 owed: 240 s and a tick.
#[test]
fn a_limit_admitting_below_it_lets_a_call_overdraw() {
    let mut api = SharedApi::new(
        &SharedApiSpec {
            tokens_per_min: Some(1000),
            admit: Admit::BelowLimit,
            ..spec()
        },
        SimTime::ZERO,
    );
    let mut rng = rng();
    assert_eq!(
        api.offer(SimTime::ZERO, req(4000, 1000), &mut rng),
        Admission::Started
    );
    assert_eq!(
        api.offer(SimTime::ZERO, req(1, 0), &mut rng),
        Admission::Rejected(Rejection::RateLimited {
            retry_after: SimDuration::from_ticks(240_000_001),
            limit: Limit::Tokens,
            group: None,
        })
    );
    // Within the limit, the same call could never be admitted.
    let mut within = SharedApi::new(
        &SharedApiSpec {
            tokens_per_min: Some(1000),
            ..spec()
        },
        SimTime::ZERO,
    );
    assert_eq!(
        within.offer(SimTime::ZERO, req(4000, 1000), &mut rng),
        Admission::Rejected(Rejection::TooLarge)
    );
}
