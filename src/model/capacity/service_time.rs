//! How long capacity takes to serve one attempt: time to first token (with
//! the prefill of the prompt's uncached part), then decoding.

use crate::engine::{SimDuration, Stream};
use crate::model::distribution::{Dist, DurationDist};

/// Service time = time to first token + uncached input tokens / prefill
/// tokens per second + output tokens / output tokens per second.
#[derive(Clone, Debug)]
pub struct ServiceTime {
    /// Queueing inside the provider (and prefill, without
    /// `prefill_tokens_per_s`) until the first token streams.
    pub time_to_first_token: DurationDist,
    /// Prefill speed: the prompt's uncached tokens (those not read from the
    /// prompt cache) add to the time to first token. `None`: prefill is in
    /// `time_to_first_token`.
    pub prefill_tokens_per_s: Option<f64>,
    /// Decoding speed. `None` means decoding takes no time, so the whole
    /// service time is `time_to_first_token` (a plain server, as in `mmc.toml`).
    pub output_tokens_per_s: Option<f64>,
    /// The prefill makes the first output token, so decoding makes the
    /// rest: a self-hosted server alone with a call (the floor of a
    /// self-hosted pool). An API's `output_tokens_per_s` paces them all.
    pub prefill_makes_first_token: bool,
}

impl ServiceTime {
    /// `seconds` for every call, whatever it prefills or produces (no
    /// prefill or decoding speed); `seconds` must be a valid constant
    /// (finite, not negative), as the literals of its callers are.
    pub fn constant(seconds: f64) -> Self {
        ServiceTime {
            time_to_first_token: DurationDist::new(
                Dist::constant(seconds).expect("a finite, non-negative constant"),
            ),
            prefill_tokens_per_s: None,
            output_tokens_per_s: None,
            prefill_makes_first_token: false,
        }
    }

    /// The service time of a call that prefills `uncached_input` tokens and
    /// produces `output_tokens`.
    pub fn sample(&self, uncached_input: u32, output_tokens: u32, rng: &mut Stream) -> SimDuration {
        let first_token = self.time_to_first_token.sample(rng)
            + self.prefill_tokens_per_s.map_or(SimDuration::ZERO, |tps| {
                SimDuration::from_secs_f64(f64::from(uncached_input) / tps)
            });
        let decoded = output_tokens.saturating_sub(u32::from(self.prefill_makes_first_token));
        let decoding = self.output_tokens_per_s.map_or(SimDuration::ZERO, |tps| {
            SimDuration::from_secs_f64(f64::from(decoded) / tps)
        });
        first_token + decoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    #[test]
    fn a_constant_service_takes_its_seconds_whatever_the_call() {
        let service = ServiceTime::constant(1.5);
        let mut rng = RandomStreams::new(1).stream("service");
        for (input, output) in [(0, 0), (30_000, 200), (1, 4_096)] {
            assert_eq!(
                service.sample(input, output, &mut rng),
                SimDuration::from_secs_f64(1.5)
            );
        }
    }

    #[test]
    fn decoding_adds_output_over_speed_and_prefill_uncached_input_over_its_speed() {
        let service = ServiceTime {
            time_to_first_token: DurationDist::new(Dist::constant(0.5).unwrap()),
            prefill_tokens_per_s: None,
            output_tokens_per_s: Some(80.0),
            prefill_makes_first_token: false,
        };
        let mut rng = RandomStreams::new(1).stream("service");
        assert_eq!(
            service.sample(30_000, 200, &mut rng),
            SimDuration::from_secs_f64(3.0)
        );
        let prefilled = ServiceTime {
            prefill_tokens_per_s: Some(4000.0),
            ..service.clone()
        };
        // 0.5 s + 30,000 / 4,000 s + 200 / 80 s.
        assert_eq!(
            prefilled.sample(30_000, 200, &mut rng),
            SimDuration::from_secs_f64(10.5)
        );
        let plain = ServiceTime {
            output_tokens_per_s: None,
            ..service
        };
        assert_eq!(
            plain.sample(30_000, 200, &mut rng),
            SimDuration::from_secs_f64(0.5)
        );
    }
}
