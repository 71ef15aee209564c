//! Prices: per million tokens on a shared API, per lane-hour for reserved lanes.

#[derive(Clone, Debug, Default)]
pub struct Prices {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub per_lane_hour: f64,
}

impl Prices {
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64, lane_hours: f64) -> f64 {
        input_tokens as f64 / 1e6 * self.input_per_mtok
            + output_tokens as f64 / 1e6 * self.output_per_mtok
            + lane_hours * self.per_lane_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_adds_tokens_and_lane_hours() {
        let p = Prices {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
            per_lane_hour: 2.0,
        };
        let cost = p.cost_usd(2_000_000, 100_000, 10.0);
        assert!((cost - (6.0 + 1.5 + 20.0)).abs() < 1e-9);
    }
}
