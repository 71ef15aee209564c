//! How long capacity takes to serve one attempt: time to first token, then decoding.

use super::distribution::DurationDist;
use crate::engine::{SimDuration, Stream};

/// Service time = time to first token + output tokens / output tokens per second.
#[derive(Clone, Debug)]
pub struct ServiceTime {
    /// Queueing inside the provider plus prefill, until the first token streams.
    pub time_to_first_token: DurationDist,
    /// Decoding speed. `None` means decoding takes no time, so the whole
    /// service time is `time_to_first_token` (a plain server, as in `mmc.toml`).
    pub output_tokens_per_s: Option<f64>,
}

impl ServiceTime {
    pub fn sample(&self, output_tokens: u32, rng: &mut Stream) -> SimDuration {
        let first_token = self.time_to_first_token.sample(rng);
        let decoding = self.output_tokens_per_s.map_or(SimDuration::ZERO, |tps| {
            SimDuration::from_secs_f64(f64::from(output_tokens) / tps)
        });
        first_token + decoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;
    use crate::model::distribution::Dist;

    #[test]
    fn decoding_adds_output_over_speed() {
        let service = ServiceTime {
            time_to_first_token: DurationDist::new(Dist::constant(0.5).unwrap()),
            output_tokens_per_s: Some(80.0),
        };
        let mut rng = RandomStreams::new(1).stream("service");
        assert_eq!(
            service.sample(200, &mut rng),
            SimDuration::from_secs_f64(3.0)
        );
        let plain = ServiceTime {
            output_tokens_per_s: None,
            ..service
        };
        assert_eq!(plain.sample(200, &mut rng), SimDuration::from_secs_f64(0.5));
    }
}
