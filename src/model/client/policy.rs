//! The client's retry policy: attempts, backoff, jitter, retry-after and timeouts.
//!
//! Backoff and jitter follow Marc Brooker, "Exponential Backoff And Jitter",
//! AWS Architecture Blog, 2015: with `temp = min(cap, base * multiplier^n)`,
//! none sleeps `temp`, full sleeps `uniform(0, temp)`, equal sleeps
//! `temp/2 + uniform(0, temp/2)`, and decorrelated sleeps
//! `min(cap, uniform(base, previous * 3))`.

use rand::RngExt;

use crate::engine::{SimDuration, Stream};
use crate::model::client::rate_limit::RateLimit;
use crate::model::client::resilience::Policy;

#[derive(Clone, Debug)]
pub struct ClientPolicy {
    /// Attempts per call, the first included (>= 1).
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// What the client does with a provider's retry-after.
    pub retry_after: RetryAfter,
    /// What a loop does when one call of a step fails for good.
    pub on_call_failure: OnCallFailure,
    /// Retry a call too large for a bucket like any refusal, as clients that
    /// cannot tell that 429 from a rate 429 do (it never succeeds), instead
    /// of failing its loop at once.
    pub retry_too_large: bool,
    /// Per-attempt timeout. A timed-out attempt is retried by the client but
    /// keeps its provider slot until the provider finishes it.
    pub timeout: Option<SimDuration>,
    /// A cap on each agent's (each loop's) request rate, enforced by delaying
    /// requests on the client, before they reach the provider.
    pub agent_rate_limit: Option<RateLimit>,
    /// Resilience policies: retry budgets and throttles, circuit breakers,
    /// the coordinated throttle.
    pub policies: Vec<Policy>,
}

#[derive(Clone, Debug)]
pub enum Backoff {
    /// Retry at once.
    None,
    Constant {
        delay: SimDuration,
        jitter: Jitter,
    },
    Exponential {
        base: SimDuration,
        cap: SimDuration,
        multiplier: f64,
        jitter: Jitter,
    },
}

/// What an agent does when one call of a step (a fan-out burst) fails for
/// good, since frameworks differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnCallFailure {
    /// Fail the loop at once; its other calls are abandoned (a gather that
    /// raises on the first error).
    Abandon,
    /// Let the step's other calls finish, then fail the loop (a gather that
    /// collects every result first).
    WaitForSiblings,
}

/// How a client treats the retry-after a refusal carries (429s send one, and
/// full lane queues with a `queue_full_retry_after`; 529s, outages, errors
/// and timeouts do not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// Wait exactly the header's time instead of backing off (a client
    /// that trusts the provider; loopcap's default).
    Exact,
    /// Wait the longer of the backoff and the header's time.
    AtLeast,
    /// As the OpenAI and Anthropic Python SDKs: use the header when it asks
    /// for more than 0 and at most 60 seconds, otherwise back off
    /// (`_calculate_retry_timeout` in both SDKs' `_base_client.py`).
    Sdk,
    /// Back off as if no header came.
    Ignore,
}

impl RetryAfter {
    /// The longest retry-after the SDKs take at its word.
    pub const SDK_MAX: SimDuration = SimDuration::from_secs(60);

    pub fn name(self) -> &'static str {
        match self {
            RetryAfter::Exact => "exact",
            RetryAfter::AtLeast => "at_least",
            RetryAfter::Sdk => "sdk",
            RetryAfter::Ignore => "ignore",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    None,
    Full,
    Equal,
    /// Only with exponential backoff: each delay drawn from (base, 3 × previous).
    Decorrelated,
}

impl Default for ClientPolicy {
    /// Three attempts, exponential backoff from 1 s to 60 s with full jitter,
    /// retry-after honoured, no timeout.
    fn default() -> Self {
        ClientPolicy {
            max_attempts: 3,
            backoff: Backoff::Exponential {
                base: SimDuration::from_secs(1),
                cap: SimDuration::from_secs(60),
                multiplier: 2.0,
                jitter: Jitter::Full,
            },
            retry_after: RetryAfter::Exact,
            on_call_failure: OnCallFailure::Abandon,
            retry_too_large: false,
            timeout: None,
            agent_rate_limit: None,
            policies: Vec::new(),
        }
    }
}

impl ClientPolicy {
    /// The wait before the next attempt, after `failed` attempts of one call
    /// have failed (1 for the first retry). `previous` is the call's last
    /// delay, which decorrelated jitter builds on; it is updated.
    pub fn retry_delay(
        &self,
        failed: u32,
        retry_after: Option<SimDuration>,
        previous: &mut SimDuration,
        rng: &mut Stream,
    ) -> SimDuration {
        let mut backoff = || self.backoff.delay(failed, *previous, rng);
        let delay = match (self.retry_after, retry_after) {
            (RetryAfter::Exact, Some(wait)) => wait,
            (RetryAfter::AtLeast, Some(wait)) => backoff().max(wait),
            (RetryAfter::Sdk, Some(wait)) if !wait.is_zero() && wait <= RetryAfter::SDK_MAX => wait,
            _ => backoff(),
        };
        *previous = delay;
        delay
    }
}

impl Backoff {
    fn delay(&self, failed: u32, previous: SimDuration, rng: &mut Stream) -> SimDuration {
        match *self {
            Backoff::None => SimDuration::ZERO,
            Backoff::Constant { delay, jitter } => jitter.apply(delay.as_secs_f64(), rng),
            Backoff::Exponential {
                base,
                cap,
                multiplier,
                jitter,
            } => {
                let (base, cap) = (base.as_secs_f64(), cap.as_secs_f64());
                if jitter == Jitter::Decorrelated {
                    let previous = previous.as_secs_f64().max(base);
                    let high = previous * 3.0;
                    let drawn = base + (high - base) * rng.random::<f64>();
                    return SimDuration::from_secs_f64(drawn.min(cap));
                }
                let exponent = i32::try_from(failed.saturating_sub(1)).unwrap_or(i32::MAX);
                let temp = (base * multiplier.powi(exponent)).min(cap);
                jitter.apply(temp, rng)
            }
        }
    }
}

impl Jitter {
    fn apply(self, temp: f64, rng: &mut Stream) -> SimDuration {
        let secs = match self {
            // Decorrelated jitter on a constant delay is refused by validation;
            // treat it as no jitter rather than panic.
            Jitter::None | Jitter::Decorrelated => temp,
            Jitter::Full => temp * rng.random::<f64>(),
            Jitter::Equal => temp / 2.0 + temp / 2.0 * rng.random::<f64>(),
        };
        SimDuration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    fn exponential(jitter: Jitter) -> ClientPolicy {
        ClientPolicy {
            max_attempts: 10,
            backoff: Backoff::Exponential {
                base: SimDuration::from_secs(1),
                cap: SimDuration::from_secs(10),
                multiplier: 2.0,
                jitter,
            },
            retry_after: RetryAfter::Ignore,
            on_call_failure: OnCallFailure::Abandon,
            retry_too_large: false,
            timeout: None,
            agent_rate_limit: None,
            policies: Vec::new(),
        }
    }

    fn delays(policy: &ClientPolicy, retry_after: Option<SimDuration>) -> Vec<f64> {
        let mut rng = RandomStreams::new(3).stream("client");
        let mut previous = SimDuration::ZERO;
        (1..=6)
            .map(|n| {
                policy
                    .retry_delay(n, retry_after, &mut previous, &mut rng)
                    .as_secs_f64()
            })
            .collect()
    }

    #[test]
    fn exponential_without_jitter_doubles_up_to_the_cap() {
        assert_eq!(
            delays(&exponential(Jitter::None), None),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        );
    }

    #[test]
    fn jittered_delays_stay_within_their_ranges() {
        let temps = [1.0, 2.0, 4.0, 8.0, 10.0, 10.0];
        for (d, temp) in delays(&exponential(Jitter::Full), None).iter().zip(temps) {
            assert!((0.0..=temp).contains(d), "full {d} vs {temp}");
        }
        for (d, temp) in delays(&exponential(Jitter::Equal), None).iter().zip(temps) {
            assert!((temp / 2.0..=temp).contains(d), "equal {d} vs {temp}");
        }
        let mut previous = 1.0;
        for d in delays(&exponential(Jitter::Decorrelated), None) {
            assert!(
                d >= 1.0 && d <= (previous * 3.0f64).min(10.0),
                "decorrelated {d}"
            );
            previous = d;
        }
    }

    #[test]
    fn full_jitter_spreads_delays_uniformly() {
        // 20k draws of uniform(0, 4): mean 2, standard error 0.008; 0.05 is over 6 se.
        let policy = exponential(Jitter::Full);
        let mut rng = RandomStreams::new(9).stream("client");
        let mut previous = SimDuration::ZERO;
        let n = 20_000;
        let mean = (0..n)
            .map(|_| {
                policy
                    .retry_delay(3, None, &mut previous, &mut rng)
                    .as_secs_f64()
            })
            .sum::<f64>()
            / f64::from(n);
        assert!((mean - 2.0).abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn each_retry_after_mode_combines_header_and_backoff_its_way() {
        // Backoff 1, 2, 4, 8, 10, 10 s (capped); a header of 7 s, then of 90 s.
        let mode = |retry_after| ClientPolicy {
            retry_after,
            ..exponential(Jitter::None)
        };
        let seven = Some(SimDuration::from_secs(7));
        let ninety = Some(SimDuration::from_secs(90));
        assert_eq!(delays(&mode(RetryAfter::Exact), seven), [7.0; 6]);
        assert_eq!(delays(&mode(RetryAfter::Exact), ninety), [90.0; 6]);
        assert_eq!(
            delays(&mode(RetryAfter::AtLeast), seven),
            [7.0, 7.0, 7.0, 8.0, 10.0, 10.0]
        );
        assert_eq!(delays(&mode(RetryAfter::Sdk), seven), [7.0; 6]);
        assert_eq!(
            delays(&mode(RetryAfter::Sdk), ninety),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0],
            "past 60 s the SDKs back off"
        );
        assert_eq!(
            delays(&mode(RetryAfter::Sdk), Some(SimDuration::ZERO)),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0],
            "and at 0 s"
        );
        assert_eq!(
            delays(&mode(RetryAfter::Ignore), seven),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        );
        for m in [RetryAfter::Exact, RetryAfter::AtLeast, RetryAfter::Sdk] {
            assert_eq!(delays(&mode(m), None), [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        }
    }

    #[test]
    fn constant_and_none_backoff() {
        let constant = ClientPolicy {
            backoff: Backoff::Constant {
                delay: SimDuration::from_secs(2),
                jitter: Jitter::None,
            },
            ..exponential(Jitter::None)
        };
        assert_eq!(delays(&constant, None), [2.0; 6]);
        let none = ClientPolicy {
            backoff: Backoff::None,
            ..exponential(Jitter::None)
        };
        assert_eq!(delays(&none, None), [0.0; 6]);
    }
}
