//! A shared, rate-limited API: token buckets, a concurrency cap and overload errors.

use rand::RngExt;

use crate::engine::{SimDuration, SimTime, Stream};
use crate::model::capacity::admission::{Admission, Limit, Rejection, Request};
use crate::model::capacity::ramp::{RampLimit, RampWatch};
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
    /// Input and output tokens together (OpenAI's tokens per minute, an
    /// Azure provisioned deployment's utilization): the input counted as
    /// for `input_tokens_per_min`, plus `max_tokens` at admission (and
    /// corrected as for `output_tokens_per_min`), each output token
    /// counting `output_token_weight` times.
    pub tokens_per_min: Option<u64>,
    /// A provisioned deployment's units (Azure's PTUs), billed all month.
    pub provisioned_units: Option<u32>,
    /// The most the tier lets an organization spend a month (USD), after
    /// which the provider refuses its calls (Anthropic's and OpenAI's
    /// tiers); the run reports a month that would pass it.
    pub monthly_spend_cap: Option<f64>,
    pub output_token_weight: u32,
    /// What `tokens_per_min` charges a request.
    pub tokens_charged: TokensCharged,
    /// How a bucket admits a request: when it holds all the request asks
    /// for, or while it holds anything (Azure provisioned).
    pub admit: Admit,
    pub max_concurrency: Option<u32>,
    /// Traffic growing faster than this is refused, however far below the
    /// per-minute limits (OpenAI's ramp-rate limit).
    pub ramp_limit: Option<RampLimit>,
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
            tokens_per_min: None,
            provisioned_units: None,
            monthly_spend_cap: None,
            output_token_weight: 1,
            tokens_charged: TokensCharged::Sum,
            admit: Admit::WithinLimit,
            max_concurrency: None,
            ramp_limit: None,
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

/// What a combined `tokens_per_min` charges a request, of its counted
/// input and its weighted output (`max_tokens` at admission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokensCharged {
    /// Both: the prompt plus `max_tokens` (OpenAI's cookbook counts
    /// "prompt + n * max_tokens"; Azure provisioned "combines" them).
    Sum,
    /// The larger of the two (OpenAI's rate-limit guide: "the maximum of
    /// max_tokens and the estimated number of tokens based on the character
    /// count of your request").
    Larger,
}

impl TokensCharged {
    fn charge(self, input: u64, weighted_output: u64) -> u64 {
        match self {
            TokensCharged::Sum => input + weighted_output,
            TokensCharged::Larger => input.max(weighted_output),
        }
    }

    /// The most counted input a call with `weighted_output` can bring
    /// and still be charged no more than `limit`; none when its output
    /// alone is charged more.
    pub fn input_room(self, limit: u64, weighted_output: u64) -> Option<u64> {
        match self {
            TokensCharged::Sum => limit.checked_sub(weighted_output),
            TokensCharged::Larger => (weighted_output <= limit).then_some(limit),
        }
    }
}

/// How a shared API's buckets admit a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// When every bucket holds all the request asks of it (Anthropic's and
    /// OpenAI's token buckets).
    WithinLimit,
    /// While every bucket holds anything: the request's estimate may take
    /// a bucket below empty, and the next waits for the refill to repay it
    /// (Azure provisioned: "calls are accepted until utilization reaches
    /// 100%").
    BelowLimit,
}

/// The burst capacity of each token bucket; `None` holds one minute's worth.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bursts {
    pub requests: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub tokens: Option<u64>,
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

/// The limit each bucket enforces, in the order a shared API holds them;
/// `OUTPUT` and `TOKENS` are the buckets an output reservation returns to.
const BUCKETS: [Limit; 4] = [
    Limit::Requests,
    Limit::InputTokens,
    Limit::OutputTokens,
    Limit::Tokens,
];
const INPUT: usize = 1;
const OUTPUT: usize = 2;
const TOKENS: usize = 3;

pub struct SharedApi {
    /// Each bucket's rate and burst as specified, before any capacity drop.
    base_limits: [Option<(u64, u64)>; 4],
    base_concurrency: Option<u32>,
    buckets: [Option<TokenBucket>; 4],
    max_concurrency: Option<u32>,
    ramp: Option<RampWatch>,
    concurrency_retry_after: SimDuration,
    overload: Option<Overload>,
    counting: Counting,
    output_token_weight: u64,
    tokens_charged: TokensCharged,
    in_flight: u32,
}

impl SharedApi {
    /// The API `spec` describes, its ramp-rate limit comparing no minute
    /// before `watch_from` (the warm-up's end) with a later one (see
    /// [`RampWatch`]).
    pub fn new(spec: &SharedApiSpec, watch_from: SimTime) -> Self {
        let limit =
            |per_min: Option<u64>, burst: Option<u64>| per_min.map(|r| (r, burst.unwrap_or(r)));
        let base_limits = [
            limit(spec.requests_per_min, spec.burst.requests),
            limit(spec.input_tokens_per_min, spec.burst.input_tokens),
            limit(spec.output_tokens_per_min, spec.burst.output_tokens),
            limit(spec.tokens_per_min, spec.burst.tokens),
        ];
        let bucket = |limit: Option<(u64, u64)>| {
            limit.map(|(r, b)| {
                let bucket = TokenBucket::with_burst(r, b);
                match spec.admit {
                    Admit::WithinLimit => bucket,
                    Admit::BelowLimit => bucket.overdrawing(),
                }
            })
        };
        SharedApi {
            base_limits,
            base_concurrency: spec.max_concurrency,
            buckets: base_limits.map(bucket),
            max_concurrency: spec.max_concurrency,
            ramp: spec.ramp_limit.map(|r| RampWatch::new(r, watch_from)),
            concurrency_retry_after: spec.concurrency_retry_after,
            overload: spec.overload,
            counting: spec.counting,
            output_token_weight: u64::from(spec.output_token_weight),
            tokens_charged: spec.tokens_charged,
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
        let asks = self.asks(request);
        // Indexed loops: the hot path of every shared API, spared an iterator.
        for (i, &tokens) in asks.iter().enumerate() {
            let Some(bucket) = &mut self.buckets[i] else {
                continue;
            };
            match bucket.wait_for(now, tokens) {
                None => return Admission::Rejected(Rejection::TooLarge),
                Some(wait) if wait > retry_after => (retry_after, limit) = (wait, BUCKETS[i]),
                Some(_) => {}
            }
        }
        if let Some(ramp) = &mut self.ramp {
            let wait = ramp.wait_for(now, asks[INPUT]);
            if wait > retry_after {
                (retry_after, limit) = (wait, Limit::Ramp);
            }
        }
        if !retry_after.is_zero() {
            if self.counting.refused {
                retry_after = self.count_refused(now, asks, retry_after);
            }
            return Admission::Rejected(Rejection::RateLimited {
                retry_after,
                limit,
                group: None,
            });
        }
        for (bucket, &tokens) in self.buckets.iter_mut().zip(&asks) {
            if let Some(bucket) = bucket {
                bucket.take(now, tokens);
            }
        }
        if let Some(ramp) = &mut self.ramp {
            ramp.take(now, asks[INPUT]);
        }
        // The limiter has admitted the request; an overloaded server may still
        // refuse it. Requests and input tokens stay spent, as the provider
        // counted them; no output was produced, so that reservation returns.
        if let Some(overload) = self.overload {
            let p = overload.probability(self.in_flight);
            if p > 0.0 && rng.random::<f64>() < p {
                self.refund_output(now, request, 0);
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
        asks: [u64; 4],
        retry_after: SimDuration,
    ) -> SimDuration {
        let mut wait = retry_after;
        for (bucket, &tokens) in self.buckets.iter_mut().zip(&asks) {
            if let Some(bucket) = bucket {
                bucket.drain(now, tokens);
                wait = wait.max(bucket.wait_for(now, tokens).unwrap_or(SimDuration::ZERO));
            }
        }
        wait
    }

    /// Whether `request` would pass every limit now (no overload refusal is
    /// drawn, and nothing is taken): concurrency below its cap and every
    /// bucket admitting it.
    pub fn would_admit(&mut self, now: SimTime, request: Request) -> bool {
        let asks = self.asks(request);
        self.max_concurrency.is_none_or(|cap| self.in_flight < cap)
            && self
                .ramp
                .as_mut()
                .is_none_or(|r| r.wait_for(now, asks[INPUT]).is_zero())
            && self.buckets.iter_mut().zip(&asks).all(|(bucket, &tokens)| {
                bucket
                    .as_mut()
                    .is_none_or(|b| b.wait_for(now, tokens) == Some(SimDuration::ZERO))
            })
    }

    /// Scales every limit by `factor` (a capacity drop, or its end); each
    /// limit stays at least 1.
    pub fn scale(&mut self, now: SimTime, factor: f64) {
        let scaled = |limit: u64| ((limit as f64 * factor).round() as u64).clamp(1, MAX_PER_MIN);
        for (bucket, base) in self.buckets.iter_mut().zip(self.base_limits) {
            if let (Some(bucket), Some(base)) = (bucket, base) {
                bucket.set_limit(now, scaled(base.0), scaled(base.1));
            }
        }
        self.max_concurrency = self
            .base_concurrency
            .map(|cap| scaled(u64::from(cap)).min(u64::from(u32::MAX)) as u32);
    }

    /// The tokens `request` asks of each bucket, in [`BUCKETS`]' order.
    fn asks(&self, request: Request) -> [u64; 4] {
        let input = self.counted_input(request);
        let output = u64::from(request.max_output_tokens);
        // Worked out only where a combined limit asks for it.
        let combined = match self.buckets[TOKENS] {
            Some(_) => self.tokens_asked(input, output),
            None => 0,
        };
        [1, input, output, combined]
    }

    /// The input counted against the limits: all but what the provider's
    /// rules leave out.
    fn counted_input(&self, request: Request) -> u64 {
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
        u64::from(request.input_tokens - reads - writes)
    }

    /// What `tokens_per_min` charges a call of `counted_input` for `output` tokens out.
    fn tokens_asked(&self, counted_input: u64, output: u64) -> u64 {
        self.tokens_charged
            .charge(counted_input, self.output_token_weight * output)
    }

    /// Returns what `request` reserved for output beyond the `produced`
    /// tokens to the buckets that hold it.
    fn refund_output(&mut self, now: SimTime, request: Request, produced: u32) {
        let reserved = u64::from(request.max_output_tokens);
        let produced = u64::from(produced).min(reserved);
        if let Some(bucket) = &mut self.buckets[OUTPUT] {
            bucket.refund(now, reserved - produced);
        }
        if self.buckets[TOKENS].is_some() {
            let input = self.counted_input(request);
            let unused = self.tokens_asked(input, reserved) - self.tokens_asked(input, produced);
            if let Some(bucket) = &mut self.buckets[TOKENS] {
                bucket.refund(now, unused);
            }
        }
    }

    /// Frees the concurrency slot and returns the unused output reservation
    /// (where the provider corrects it).
    pub fn release(&mut self, now: SimTime, request: Request, output_tokens: u32) {
        self.in_flight -= 1;
        if self.counting.output_corrected {
            self.refund_output(now, request, output_tokens);
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether every token bucket has refilled to its capacity by `now`.
    pub fn buckets_full(&mut self, now: SimTime) -> bool {
        self.buckets.iter_mut().flatten().all(|b| b.is_full(now))
    }
}

#[cfg(test)]
mod tests;
