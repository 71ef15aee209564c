//! A shared, rate-limited API: token buckets, a concurrency cap and overload errors.

use rand::RngExt;

use crate::engine::{SimDuration, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Limit, Rejection, Request};
use crate::model::capacity::service_time::ServiceTime;
use crate::model::capacity::token_bucket::{MAX_PER_MIN, TokenBucket};

#[derive(Clone, Debug)]
pub struct SharedApiSpec {
    pub requests_per_min: Option<u64>,
    pub input_tokens_per_min: Option<u64>,
    /// What counts towards the limits: the provider's rules.
    pub counting: Counting,
    /// Reserved from each request's `max_tokens` at admission and, where
    /// the provider corrects it, returned down to the tokens produced.
    pub output_tokens_per_min: Option<u64>,
    pub max_concurrency: Option<u32>,
    /// The retry-after sent with a 429 for the concurrency cap, which (unlike
    /// a bucket) cannot know when a slot frees up.
    pub concurrency_retry_after: SimDuration,
    pub overload: Option<Overload>,
    /// What each bucket holds at most, where not one minute's worth.
    pub burst: Bursts,
    pub service: ServiceTime,
    /// How long the prompt cache keeps a session's prefix after its last
    /// use; `None`: it never expires.
    pub cache_ttl: Option<SimDuration>,
}

impl SharedApiSpec {
    /// An API with no limits and no overload errors, serving at `service`.
    pub fn unlimited(service: ServiceTime) -> Self {
        SharedApiSpec {
            requests_per_min: None,
            input_tokens_per_min: None,
            counting: Counting::DEFAULT,
            output_tokens_per_min: None,
            max_concurrency: None,
            concurrency_retry_after: SimDuration::ZERO,
            overload: None,
            burst: Bursts::default(),
            service,
            cache_ttl: None,
        }
    }
}

/// What a provider counts towards its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counting {
    /// Whether prompt-cache reads count towards input tokens per minute
    /// (Anthropic's current models: no; OpenAI: yes); `None`: the model
    /// leaves it unstated, and they count.
    pub cache_reads: Option<bool>,
    /// Whether prompt-cache writes count towards input tokens per minute
    /// (Anthropic: yes, with the uncached input).
    pub cache_writes: bool,
    /// Whether a refused request still counts, as far as each bucket holds
    /// (OpenAI: "unsuccessful requests contribute to your per-minute limit").
    pub refused: bool,
    /// Whether the output reserved from `max_tokens` is corrected to the
    /// tokens produced when the request ends (Anthropic: yes).
    pub output_corrected: bool,
}

impl Counting {
    /// Anthropic's rules for its current models, and loopcap's defaults but
    /// for cache reads, which count unless a model says otherwise.
    pub const DEFAULT: Counting = Counting {
        cache_reads: None,
        cache_writes: true,
        refused: false,
        output_corrected: true,
    };

    /// Whether cache reads count (they do where unstated).
    pub fn cache_reads(&self) -> bool {
        self.cache_reads.unwrap_or(true)
    }
}

/// The burst capacity of each token bucket; `None` holds one minute's worth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bursts {
    pub requests: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// Overload errors (HTTP 529) whose probability rises linearly with attempts
/// in flight: zero at `threshold`, `max_probability` at `saturation` and above.
#[derive(Clone, Copy, Debug)]
pub struct Overload {
    pub threshold: u32,
    pub saturation: u32,
    pub max_probability: f64,
}

impl Overload {
    pub fn probability(&self, in_flight: u32) -> f64 {
        if in_flight <= self.threshold {
            return 0.0;
        }
        let span = f64::from(self.saturation - self.threshold);
        let over = f64::from(in_flight - self.threshold);
        self.max_probability * (over / span).min(1.0)
    }
}

pub struct SharedApi {
    /// Limits as provisioned: requests, input and output tokens per minute.
    /// Each bucket's rate and burst as specified, before any capacity drop.
    base_limits: [Option<(u64, u64)>; 3],
    base_concurrency: Option<u32>,
    requests: Option<TokenBucket>,
    input_tokens: Option<TokenBucket>,
    output_tokens: Option<TokenBucket>,
    max_concurrency: Option<u32>,
    concurrency_retry_after: SimDuration,
    overload: Option<Overload>,
    counting: Counting,
    in_flight: u32,
}

impl SharedApi {
    pub fn new(spec: &SharedApiSpec) -> Self {
        let limit =
            |per_min: Option<u64>, burst: Option<u64>| per_min.map(|r| (r, burst.unwrap_or(r)));
        let base_limits = [
            limit(spec.requests_per_min, spec.burst.requests),
            limit(spec.input_tokens_per_min, spec.burst.input_tokens),
            limit(spec.output_tokens_per_min, spec.burst.output_tokens),
        ];
        let bucket = |limit: Option<(u64, u64)>| limit.map(|(r, b)| TokenBucket::with_burst(r, b));
        SharedApi {
            base_limits,
            base_concurrency: spec.max_concurrency,
            requests: bucket(base_limits[0]),
            input_tokens: bucket(base_limits[1]),
            output_tokens: bucket(base_limits[2]),
            max_concurrency: spec.max_concurrency,
            concurrency_retry_after: spec.concurrency_retry_after,
            overload: spec.overload,
            counting: spec.counting,
            in_flight: 0,
        }
    }

    /// Admission is all-or-nothing: an attempt takes from every bucket or from
    /// none, so a large call can wait behind a stream of small ones.
    /// A refusal names the limit with the longest wait: the one binding.
    pub fn offer(&mut self, now: SimTime, request: Request, rng: &mut Stream) -> Admission {
        let mut retry_after = SimDuration::ZERO;
        let mut limit = Limit::Concurrency;
        if self
            .max_concurrency
            .is_some_and(|cap| self.in_flight >= cap)
        {
            retry_after = self.concurrency_retry_after;
        }
        for (which, bucket, tokens) in self.demands(request) {
            match bucket.wait_for(now, tokens) {
                None => return Admission::Rejected(Rejection::TooLarge),
                Some(wait) if wait > retry_after => (retry_after, limit) = (wait, which),
                Some(_) => {}
            }
        }
        if !retry_after.is_zero() {
            if self.counting.refused {
                retry_after = self.count_refused(now, request, retry_after);
            }
            return Admission::Rejected(Rejection::RateLimited { retry_after, limit });
        }
        for (_, bucket, tokens) in self.demands(request) {
            bucket.take(now, tokens);
        }
        // The limiter has admitted the request; an overloaded server may still
        // refuse it. Requests and input tokens stay spent, as the provider
        // counted them; no output was produced, so that reservation returns.
        if let Some(overload) = self.overload {
            let p = overload.probability(self.in_flight);
            if p > 0.0 && rng.random::<f64>() < p {
                if let Some(bucket) = &mut self.output_tokens {
                    bucket.refund(now, u64::from(request.max_output_tokens));
                }
                return Admission::Rejected(Rejection::Overloaded);
            }
        }
        self.in_flight += 1;
        Admission::Started
    }

    /// A refused `request` counted as the provider counts it: each bucket
    /// gives what it asked for, down to empty. The refusal's retry-after is
    /// then the wait until the request would fit (at least `retry_after`,
    /// the concurrency cap's).
    fn count_refused(
        &mut self,
        now: SimTime,
        request: Request,
        retry_after: SimDuration,
    ) -> SimDuration {
        let mut wait = retry_after;
        for (_, bucket, tokens) in self.demands(request) {
            bucket.drain(now, tokens);
            wait = wait.max(bucket.wait_for(now, tokens).unwrap_or(SimDuration::ZERO));
        }
        wait
    }

    /// Whether `request` would pass every limit now (no overload refusal is
    /// drawn, and nothing is taken): concurrency below its cap and every
    /// bucket holding the tokens.
    pub fn would_admit(&mut self, now: SimTime, request: Request) -> bool {
        self.max_concurrency.is_none_or(|cap| self.in_flight < cap)
            && self
                .demands(request)
                .all(|(_, bucket, tokens)| bucket.wait_for(now, tokens) == Some(SimDuration::ZERO))
    }

    /// Scales every limit by `factor` (a capacity drop, or its end); each
    /// limit stays at least 1.
    pub fn scale(&mut self, now: SimTime, factor: f64) {
        let scaled = |limit: u64| ((limit as f64 * factor).round() as u64).clamp(1, MAX_PER_MIN);
        let buckets = [
            &mut self.requests,
            &mut self.input_tokens,
            &mut self.output_tokens,
        ];
        for (bucket, base) in buckets.into_iter().zip(self.base_limits) {
            if let (Some(bucket), Some(base)) = (bucket, base) {
                bucket.set_limit(now, scaled(base.0), scaled(base.1));
            }
        }
        self.max_concurrency = self
            .base_concurrency
            .map(|cap| scaled(u64::from(cap)).min(u64::from(u32::MAX)) as u32);
    }

    /// Each configured bucket, its limit and the tokens `request` needs from it.
    fn demands(
        &mut self,
        request: Request,
    ) -> impl Iterator<Item = (Limit, &mut TokenBucket, u64)> {
        let reads = if self.counting.cache_reads() {
            0
        } else {
            request.cached_input_tokens
        };
        let writes = if self.counting.cache_writes {
            0
        } else {
            request.cache_write_tokens
        };
        let uncounted = reads + writes;
        [
            (Limit::Requests, self.requests.as_mut(), 1),
            (
                Limit::InputTokens,
                self.input_tokens.as_mut(),
                u64::from(request.input_tokens - uncounted),
            ),
            (
                Limit::OutputTokens,
                self.output_tokens.as_mut(),
                u64::from(request.max_output_tokens),
            ),
        ]
        .into_iter()
        .filter_map(|(limit, bucket, tokens)| bucket.map(|b| (limit, b, tokens)))
    }

    /// Frees the concurrency slot and returns the unused output reservation
    /// (where the provider corrects it).
    pub fn release(&mut self, now: SimTime, request: Request, output_tokens: u32) {
        self.in_flight -= 1;
        if !self.counting.output_corrected {
            return;
        }
        if let Some(bucket) = &mut self.output_tokens {
            let unused = request.max_output_tokens.saturating_sub(output_tokens);
            bucket.refund(now, u64::from(unused));
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether every token bucket has refilled to its capacity by `now`.
    pub fn buckets_full(&mut self, now: SimTime) -> bool {
        [
            &mut self.requests,
            &mut self.input_tokens,
            &mut self.output_tokens,
        ]
        .into_iter()
        .flatten()
        .all(|b| b.is_full(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;
    use crate::model::distribution::{Dist, DurationDist};

    fn spec() -> SharedApiSpec {
        SharedApiSpec {
            requests_per_min: None,
            input_tokens_per_min: None,
            counting: Counting {
                cache_reads: Some(true),
                ..Counting::DEFAULT
            },
            output_tokens_per_min: None,
            max_concurrency: None,
            concurrency_retry_after: SimDuration::from_secs(1),
            overload: None,
            burst: Bursts::default(),
            service: ServiceTime {
                time_to_first_token: DurationDist::new(Dist::constant(1.0).unwrap()),
                prefill_tokens_per_s: None,
                output_tokens_per_s: None,
                prefill_makes_first_token: false,
            },
            cache_ttl: None,
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
        let mut api = SharedApi::new(&SharedApiSpec {
            requests_per_min: Some(2),
            ..spec()
        });
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
            })
        );
    }

    #[test]
    fn admission_is_all_or_nothing_and_retry_after_is_the_slowest_bucket() {
        let mut api = SharedApi::new(&SharedApiSpec {
            requests_per_min: Some(100),
            input_tokens_per_min: Some(1000),
            ..spec()
        });
        let mut rng = rng();
        let t = SimTime::ZERO;
        assert_eq!(api.offer(t, req(900, 0), &mut rng), Admission::Started);
        // 200 input tokens are missing 100: 6 s at 1000/min. Nothing is taken.
        assert_eq!(
            api.offer(t, req(200, 0), &mut rng),
            Admission::Rejected(Rejection::RateLimited {
                retry_after: SimDuration::from_secs(6),
                limit: Limit::InputTokens,
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
        let mut api = SharedApi::new(&SharedApiSpec {
            input_tokens_per_min: Some(1500),
            counting,
            ..spec()
        });
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
            let mut api = SharedApi::new(&SharedApiSpec {
                requests_per_min: Some(60),
                counting: Counting {
                    refused,
                    ..Counting::DEFAULT
                },
                ..spec()
            });
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
        let mut api = SharedApi::new(&SharedApiSpec {
            input_tokens_per_min: Some(1000),
            output_tokens_per_min: Some(500),
            ..spec()
        });
        let mut rng = rng();
        let too_large = Admission::Rejected(Rejection::TooLarge);
        assert_eq!(api.offer(SimTime::ZERO, req(1001, 1), &mut rng), too_large);
        assert_eq!(api.offer(SimTime::ZERO, req(10, 501), &mut rng), too_large);
        assert!(!Rejection::TooLarge.is_retryable());
    }

    #[test]
    fn output_reservation_is_corrected_at_completion() {
        let mut api = SharedApi::new(&SharedApiSpec {
            output_tokens_per_min: Some(1000),
            ..spec()
        });
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
        let mut kept = SharedApi::new(&SharedApiSpec {
            output_tokens_per_min: Some(1000),
            counting: Counting {
                output_corrected: false,
                ..Counting::DEFAULT
            },
            ..spec()
        });
        assert_eq!(kept.offer(t, req(1, 800), &mut rng), Admission::Started);
        kept.release(t, req(1, 800), 100);
        assert!(matches!(
            kept.offer(t, req(1, 300), &mut rng),
            Admission::Rejected(Rejection::RateLimited { .. })
        ));
    }

    #[test]
    fn concurrency_cap_rejects_with_its_retry_after_until_a_slot_frees() {
        let mut api = SharedApi::new(&SharedApiSpec {
            max_concurrency: Some(2),
            ..spec()
        });
        let mut rng = rng();
        let t = SimTime::ZERO;
        assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
        assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
        assert_eq!(
            api.offer(t, req(1, 1), &mut rng),
            Admission::Rejected(Rejection::RateLimited {
                retry_after: SimDuration::from_secs(1),
                limit: Limit::Concurrency,
            })
        );
        api.release(t, req(1, 1), 1);
        assert_eq!(api.offer(t, req(1, 1), &mut rng), Admission::Started);
    }

    #[test]
    fn a_capacity_drop_scales_every_limit() {
        let mut api = SharedApi::new(&SharedApiSpec {
            requests_per_min: Some(100),
            max_concurrency: Some(10),
            ..spec()
        });
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
        let mut api = SharedApi::new(&SharedApiSpec {
            overload: Some(Overload {
                threshold: 10,
                saturation: 20,
                max_probability: 0.4,
            }),
            ..spec()
        });
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
}
