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
mod tests;
