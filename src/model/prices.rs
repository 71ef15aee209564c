//! Prices: per million tokens, per lane-hour for reserved lanes, per
//! replica-hour for self-hosted replicas.

use std::ops::AddAssign;

/// Hours in a billing month: 365 × 24 / 12, the month of cloud price
/// lists (AWS Pricing Calculator, "730 hours in a month"; Azure pricing
/// calculator, "730 hours per month"; read 2026-12).
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Clone, Debug, Default)]
pub struct Prices {
    pub input_per_mtok: f64,
    /// Input read from the prompt cache (providers charge about a tenth).
    pub cached_input_per_mtok: f64,
    /// Input written to the prompt cache (Anthropic: 1.25x the input price
    /// for a 5-minute cache, 2x for a 1-hour one; OpenAI: the input price).
    pub cache_write_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Per lane-hour of reserved lanes, or per replica-hour of self-hosted replicas.
    pub per_unit_hour: f64,
    /// A flat fee a month (a plan's or a commitment's), whatever the use.
    pub per_month: f64,
}

/// Tokens billed over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUse {
    /// All input tokens, cached ones and those written to the cache included.
    pub input: u64,
    /// Read from the prompt cache.
    pub cached_input: u64,
    /// Written to the prompt cache: a cacheable prefix the cache did not hold.
    pub cache_write: u64,
    pub output: u64,
}

impl AddAssign for TokenUse {
    fn add_assign(&mut self, other: TokenUse) {
        self.input += other.input;
        self.cached_input += other.cached_input;
        self.cache_write += other.cache_write;
        self.output += other.output;
    }
}

impl Prices {
    /// What `tokens` and `unit_hours` of lanes or replicas cost over a
    /// window of `window_hours`, the flat fee's share of it included.
    pub fn cost_usd(&self, tokens: TokenUse, unit_hours: f64, window_hours: f64) -> f64 {
        self.use_usd(tokens, unit_hours) + self.per_month * window_hours / HOURS_PER_MONTH
    }

    /// What `tokens` and `unit_hours` of lanes or replicas cost.
    pub fn use_usd(&self, tokens: TokenUse, unit_hours: f64) -> f64 {
        let per_mtok = |n: u64, price: f64| n as f64 / 1e6 * price;
        per_mtok(
            tokens.input - tokens.cached_input - tokens.cache_write,
            self.input_per_mtok,
        ) + per_mtok(tokens.cached_input, self.cached_input_per_mtok)
            + per_mtok(tokens.cache_write, self.cache_write_per_mtok)
            + per_mtok(tokens.output, self.output_per_mtok)
            + unit_hours * self.per_unit_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_adds_tokens_and_lane_hours() {
        let p = Prices {
            input_per_mtok: 3.0,
            cached_input_per_mtok: 0.3,
            cache_write_per_mtok: 3.75,
            output_per_mtok: 15.0,
            per_unit_hour: 2.0,
            per_month: 0.0,
        };
        let tokens = TokenUse {
            input: 2_000_000,
            cached_input: 1_000_000,
            cache_write: 0,
            output: 100_000,
        };
        let cost = p.use_usd(tokens, 10.0);
        assert!((cost - (3.0 + 0.3 + 1.5 + 20.0)).abs() < 1e-9);
        // 4M input: 1M read, 2M written, 1M neither.
        let written = TokenUse {
            input: 4_000_000,
            cached_input: 1_000_000,
            cache_write: 2_000_000,
            output: 0,
        };
        let cost = p.use_usd(written, 0.0);
        assert!((cost - (3.0 + 0.3 + 7.5)).abs() < 1e-9, "{cost}");
    }
}
