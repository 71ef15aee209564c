//! What an attempt asks of capacity and how capacity answers: a request,
//! its admission, and why it was turned away (with the limit a 429 names).

use crate::engine::SimDuration;
use crate::model::prices::Tokens;

/// What one attempt asks of capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// All input tokens, cached ones included.
    pub input_tokens: u32,
    /// Input tokens read from the prompt cache.
    pub cached_input_tokens: u32,
    /// Input tokens written to the prompt cache (a cacheable prefix the
    /// cache did not hold): billed at the cache-write price, prefilled.
    pub cache_write_tokens: u32,
    /// The request's `max_tokens`: what output-token limits reserve at admission.
    pub max_output_tokens: u32,
}

impl Request {
    /// The input tokens the provider prefills: all but cache reads.
    pub fn uncached_input(self) -> u32 {
        self.input_tokens - self.cached_input_tokens
    }

    /// The tokens billed for this request when it produced `output_tokens`.
    pub fn billed(self, output_tokens: u32) -> Tokens {
        Tokens {
            input: u64::from(self.input_tokens),
            cached_input: u64::from(self.cached_input_tokens),
            cache_write: u64::from(self.cache_write_tokens),
            output: u64::from(output_tokens),
        }
    }
}

/// Capacity's answer to an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// In service from now.
    Started,
    /// Waiting for a lane; it starts when `Capacity::release` hands it out.
    Queued,
    /// Collected into a Batch API's open batch `batch`, which this attempt
    /// `opened`, and which is due now when `full`.
    Batched {
        batch: u32,
        opened: bool,
        full: bool,
    },
    Rejected(Rejection),
}

/// Why capacity turned an attempt away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// HTTP 429: over a rate or concurrency limit; the provider says when to come back.
    RateLimited {
        retry_after: SimDuration,
        /// The limit with the longest wait: the one that binds.
        limit: Limit,
        /// The group of limits over several pools it is one of
        /// (an index into the model's shared limits); none for the pool's own.
        group: Option<u16>,
    },
    /// HTTP 529: the provider is overloaded.
    Overloaded,
    /// Every lane is busy and the lane queue is full; a gateway in front of
    /// the lanes may say when to come back.
    QueueFull { retry_after: Option<SimDuration> },
    /// Larger than a token bucket can ever hold: no retry can succeed.
    TooLarge,
    /// HTTP 503 during an outage.
    Unavailable,
    /// HTTP 500 during an error burst.
    ServerError,
}

impl Rejection {
    pub fn is_retryable(self) -> bool {
        !matches!(self, Rejection::TooLarge)
    }

    pub fn retry_after(self) -> Option<SimDuration> {
        match self {
            Rejection::RateLimited { retry_after, .. } => Some(retry_after),
            Rejection::QueueFull { retry_after } => retry_after,
            _ => None,
        }
    }
}

/// A limit of a shared API, as a 429 names the one that refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Requests,
    InputTokens,
    OutputTokens,
    /// Input and output together.
    Tokens,
    Concurrency,
    /// Traffic grown faster than the provider follows (OpenAI's `slow_down`).
    Ramp,
}

impl Limit {
    pub const ALL: [Limit; 6] = [
        Limit::Requests,
        Limit::InputTokens,
        Limit::OutputTokens,
        Limit::Tokens,
        Limit::Concurrency,
        Limit::Ramp,
    ];

    /// The setting's name in a model file.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Requests => "requests_per_min",
            Limit::InputTokens => "input_tokens_per_min",
            Limit::OutputTokens => "output_tokens_per_min",
            Limit::Tokens => "tokens_per_min",
            Limit::Concurrency => "max_concurrency",
            Limit::Ramp => "ramp_limit",
        }
    }
}
