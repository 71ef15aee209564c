//! The client's retry policy: attempts, backoff, jitter, retry-after and timeouts.
//!
//! Backoff and jitter follow Marc Brooker, "Exponential Backoff And Jitter",
//! AWS Architecture Blog, 2015: with `temp = min(cap, base * multiplier^n)`,
//! none sleeps `temp`, full sleeps `uniform(0, temp)`, equal sleeps
//! `temp/2 + uniform(0, temp/2)`, and decorrelated sleeps
//! `min(cap, uniform(base, previous * 3))`. The SDKs add two forms: partial
//! sleeps `temp * (1 - share * uniform(0, 1))` (the Anthropic and OpenAI
//! SDKs' share of 0.25), added sleeps `temp + uniform(0, max)` (LiteLLM's,
//! on a retry-after too); and a `min` under the backoff, which full jitter
//! draws from (tenacity's `wait_random_exponential(min=...)`).

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
        /// The shortest delay: `temp` is at least this, and full jitter
        /// draws from it to `temp`.
        min: SimDuration,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait exactly the header's time instead of backing off (a client
    /// that trusts the provider; loopcap's default).
    Exact,
    /// Wait the longer of the backoff and the header's time.
    AtLeast,
    /// As the SDKs do: use the header when it asks for more than 0 and at
    /// most this long, otherwise back off (60 s in the Anthropic Python
    /// SDK, 120 s in the OpenAI Python SDK's `_calculate_retry_timeout`).
    Capped(SimDuration),
    /// Back off as if no header came.
    Ignore,
}

impl RetryAfter {
    /// Its name in the summary: exact, at_least, capped at 60s or ignore.
    pub fn name(self) -> String {
        match self {
            RetryAfter::Exact => "exact".to_owned(),
            RetryAfter::AtLeast => "at_least".to_owned(),
            RetryAfter::Capped(max) => format!("capped at {max}"),
            RetryAfter::Ignore => "ignore".to_owned(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    None,
    Full,
    Equal,
    /// Only with exponential backoff: each delay drawn from (base, 3 × previous).
    Decorrelated,
    /// The delay less up to this share of it, uniformly: `temp * (1 - share * U)`.
    Partial(f64),
    /// The delay plus up to this much, uniformly: `temp + max * U`; added
    /// to a retry-after taken at its word too.
    Added(SimDuration),
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
                min: SimDuration::ZERO,
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
        let backoff = |rng: &mut Stream| self.backoff.delay(failed, *previous, rng);
        let delay = match (self.retry_after, retry_after) {
            (RetryAfter::Exact, Some(wait)) => self.backoff.jitter().added(wait, rng),
            (RetryAfter::AtLeast, Some(wait)) => backoff(rng).max(wait),
            (RetryAfter::Capped(max), Some(wait)) if !wait.is_zero() && wait <= max => {
                self.backoff.jitter().added(wait, rng)
            }
            _ => backoff(rng),
        };
        *previous = delay;
        delay
    }
}

impl Backoff {
    fn delay(&self, failed: u32, previous: SimDuration, rng: &mut Stream) -> SimDuration {
        match *self {
            Backoff::None => SimDuration::ZERO,
            Backoff::Constant { delay, jitter } => jitter.apply(delay.as_secs_f64(), 0.0, rng),
            Backoff::Exponential {
                base,
                cap,
                multiplier,
                min,
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
                let min = min.as_secs_f64();
                let temp = (base * multiplier.powi(exponent)).min(cap).max(min);
                jitter.apply(temp, min, rng)
            }
        }
    }

    /// Its jitter (none for no backoff).
    fn jitter(&self) -> Jitter {
        match *self {
            Backoff::None => Jitter::None,
            Backoff::Constant { jitter, .. } | Backoff::Exponential { jitter, .. } => jitter,
        }
    }
}

impl Jitter {
    /// `temp` jittered; full jitter draws from `min` up.
    fn apply(self, temp: f64, min: f64, rng: &mut Stream) -> SimDuration {
        let secs = match self {
            // Decorrelated jitter on a constant delay is refused by validation;
            // treat it as no jitter rather than panic.
            Jitter::None | Jitter::Decorrelated => temp,
            Jitter::Full => min + (temp - min) * rng.random::<f64>(),
            Jitter::Equal => temp / 2.0 + temp / 2.0 * rng.random::<f64>(),
            Jitter::Partial(share) => temp * (1.0 - share * rng.random::<f64>()),
            Jitter::Added(_) => return self.added(SimDuration::from_secs_f64(temp), rng),
        };
        SimDuration::from_secs_f64(secs)
    }

    /// `wait` with an added jitter's draw added to it (a retry-after taken
    /// at its word, as LiteLLM adds its jitter); other jitters leave it be.
    fn added(self, wait: SimDuration, rng: &mut Stream) -> SimDuration {
        match self {
            Jitter::Added(max) => {
                wait + SimDuration::from_secs_f64(max.as_secs_f64() * rng.random::<f64>())
            }
            _ => wait,
        }
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
                min: SimDuration::ZERO,
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
        let sdk = RetryAfter::Capped(SimDuration::from_secs(60));
        assert_eq!(delays(&mode(sdk), seven), [7.0; 6]);
        assert_eq!(
            delays(&mode(sdk), ninety),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0],
            "past 60 s the SDKs back off"
        );
        assert_eq!(
            delays(
                &mode(RetryAfter::Capped(SimDuration::from_secs(120))),
                ninety
            ),
            [90.0; 6],
            "up to 120 s, as the OpenAI Python SDK"
        );
        assert_eq!(
            delays(&mode(sdk), Some(SimDuration::ZERO)),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0],
            "and at 0 s"
        );
        assert_eq!(
            delays(&mode(RetryAfter::Ignore), seven),
            [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
        );
        for m in [RetryAfter::Exact, RetryAfter::AtLeast, sdk] {
            assert_eq!(delays(&mode(m), None), [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]);
        }
    }

    /// The SDKs' partial jitter: 0.5 s doubling to 8 s, each less up to a
    /// quarter of it; 20k draws at the third retry (2 s) have the mean of
    /// uniform(1.5, 2), 1.75, within 0.01 (its standard error is 0.001; a
    /// share of 0.2 or 0.3 moves it by 0.05).
    #[test]
    fn partial_jitter_takes_up_to_its_share_off() {
        let sdk = ClientPolicy {
            backoff: Backoff::Exponential {
                base: SimDuration::from_secs_f64(0.5),
                cap: SimDuration::from_secs(8),
                multiplier: 2.0,
                min: SimDuration::ZERO,
                jitter: Jitter::Partial(0.25),
            },
            ..exponential(Jitter::None)
        };
        let temps = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0];
        for (d, temp) in delays(&sdk, None).iter().zip(temps) {
            assert!((0.75 * temp..=temp).contains(d), "{d} vs {temp}");
        }
        let mut rng = RandomStreams::new(9).stream("client");
        let mut previous = SimDuration::ZERO;
        let n = 20_000;
        let mean = (0..n)
            .map(|_| {
                sdk.retry_delay(3, None, &mut previous, &mut rng)
                    .as_secs_f64()
            })
            .sum::<f64>()
            / f64::from(n);
        assert!((mean - 1.75).abs() < 0.01, "mean {mean}");
    }

    /// LiteLLM's added jitter: up to 0.75 s on the backoff and on a
    /// retry-after taken at its word; tenacity's `min` is the floor full
    /// jitter draws from.
    #[test]
    fn added_jitter_and_a_floor() {
        let litellm = ClientPolicy {
            backoff: Backoff::Exponential {
                base: SimDuration::from_secs_f64(0.5),
                cap: SimDuration::from_secs(8),
                multiplier: 2.0,
                min: SimDuration::ZERO,
                jitter: Jitter::Added(SimDuration::from_secs_f64(0.75)),
            },
            retry_after: RetryAfter::Capped(SimDuration::from_secs(60)),
            ..exponential(Jitter::None)
        };
        let temps = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0];
        for (d, temp) in delays(&litellm, None).iter().zip(temps) {
            assert!((temp..=temp + 0.75).contains(d), "{d} vs {temp}");
        }
        for d in delays(&litellm, Some(SimDuration::from_secs(7))) {
            assert!((7.0..=7.75).contains(&d), "{d}");
        }
        let tenacity = ClientPolicy {
            backoff: Backoff::Exponential {
                base: SimDuration::from_secs(1),
                cap: SimDuration::from_secs(60),
                multiplier: 2.0,
                min: SimDuration::from_secs(1),
                jitter: Jitter::Full,
            },
            ..exponential(Jitter::None)
        };
        let highs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let drawn = delays(&tenacity, None);
        assert_eq!(drawn[0], 1.0, "uniform(1, 1)");
        for (d, high) in drawn.iter().zip(highs) {
            assert!((1.0..=high).contains(d), "{d} vs {high}");
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
