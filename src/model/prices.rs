//! Prices: per million tokens, per lane-hour for reserved lanes, per
//! replica-hour for self-hosted replicas.

use std::ops::AddAssign;

/// Hours in a billing month: 365 × 24 / 12, the month of cloud price
/// lists (AWS Pricing Calculator, "730 hours in a month"; Azure pricing
/// calculator, "730 hours per month"; read 2026-12).
pub const HOURS_PER_MONTH: f64 = 730.0;

#[derive(Clone, Debug, Default)]
pub struct Prices {
    pub tokens: TokenPrices,
    /// Dearer rates for a call whose input (cached and written included)
    /// passes a size, the whole call billed at them (Anthropic's long-context
    /// pricing; Claude Haiku 5.5's prompts over 100K tokens).
    pub long_context: Option<LongContext>,
    /// Per lane-hour of reserved lanes, or per replica-hour of self-hosted replicas.
    pub per_unit_hour: f64,
    /// A flat fee a month (a plan's or a commitment's), whatever the use.
    pub per_month: f64,
}

/// What a million tokens of each kind cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenPrices {
    pub input_per_mtok: f64,
    /// Input read from the prompt cache (providers charge about a tenth).
    pub cached_input_per_mtok: f64,
    /// Input written to the prompt cache (Anthropic: 1.25x the input price
    /// for a 5-minute cache, 2x for a 1-hour one; OpenAI: the input price).
    pub cache_write_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// The rates of calls whose input is over `above_input_tokens`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongContext {
    pub above_input_tokens: u32,
    pub tokens: TokenPrices,
}

/// Input (all of it, and the parts read from and written to the prompt
/// cache) and output tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// All input tokens, cached ones and those written to the cache included.
    pub input: u64,
    /// Read from the prompt cache.
    pub cached_input: u64,
    /// Written to the prompt cache: a cacheable prefix the cache did not hold.
    pub cache_write: u64,
    pub output: u64,
}

/// Tokens billed over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUse {
    pub all: Tokens,
    /// The part of `all` billed at its pool's long-context rates.
    pub long_context: Tokens,
}

impl AddAssign for Tokens {
    fn add_assign(&mut self, other: Tokens) {
        self.input += other.input;
        self.cached_input += other.cached_input;
        self.cache_write += other.cache_write;
        self.output += other.output;
    }
}

impl TokenUse {
    /// One call's `tokens`, billed at the long-context rates if `long`.
    #[inline]
    pub fn add(&mut self, tokens: Tokens, long: bool) {
        self.all += tokens;
        if long {
            self.long_context += tokens;
        }
    }
}

impl AddAssign for TokenUse {
    fn add_assign(&mut self, other: TokenUse) {
        self.all += other.all;
        self.long_context += other.long_context;
    }
}

impl TokenPrices {
    /// What `tokens` cost at these rates.
    fn usd(&self, t: Tokens) -> f64 {
        let per_mtok = |n: u64, price: f64| n as f64 / 1e6 * price;
        per_mtok(
            t.input - t.cached_input - t.cache_write,
            self.input_per_mtok,
        ) + per_mtok(t.cached_input, self.cached_input_per_mtok)
            + per_mtok(t.cache_write, self.cache_write_per_mtok)
            + per_mtok(t.output, self.output_per_mtok)
    }
}

impl Prices {
    /// The long-context rates one call's `tokens` are billed at, if its
    /// input is over their size.
    fn long_rates(&self, tokens: Tokens) -> Option<&TokenPrices> {
        self.long_context
            .as_ref()
            .filter(|l| tokens.input > u64::from(l.above_input_tokens))
            .map(|l| &l.tokens)
    }

    /// Whether one call's `tokens` are billed at the long-context rates.
    #[inline]
    pub fn is_long(&self, tokens: Tokens) -> bool {
        self.long_rates(tokens).is_some()
    }

    /// What one call's `tokens` cost.
    pub fn call_usd(&self, tokens: Tokens) -> f64 {
        self.long_rates(tokens).unwrap_or(&self.tokens).usd(tokens)
    }

    /// What `tokens` and `unit_hours` of lanes or replicas cost over a
    /// window of `window_hours`, the flat fee's share of it included.
    pub fn cost_usd(&self, tokens: TokenUse, unit_hours: f64, window_hours: f64) -> f64 {
        self.use_usd(tokens, unit_hours) + self.per_month * window_hours / HOURS_PER_MONTH
    }

    /// What `tokens` and `unit_hours` of lanes or replicas cost.
    pub fn use_usd(&self, tokens: TokenUse, unit_hours: f64) -> f64 {
        let long = &tokens.long_context;
        let short = Tokens {
            input: tokens.all.input - long.input,
            cached_input: tokens.all.cached_input - long.cached_input,
            cache_write: tokens.all.cache_write - long.cache_write,
            output: tokens.all.output - long.output,
        };
        self.tokens.usd(short)
            + self.long_context.map_or(0.0, |l| l.tokens.usd(*long))
            + unit_hours * self.per_unit_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONNET: TokenPrices = TokenPrices {
        input_per_mtok: 3.0,
        cached_input_per_mtok: 0.3,
        cache_write_per_mtok: 3.75,
        output_per_mtok: 15.0,
    };

    #[test]
    fn cost_adds_tokens_and_lane_hours() {
        let p = Prices {
            tokens: SONNET,
            per_unit_hour: 2.0,
            ..Prices::default()
        };
        let tokens = Tokens {
            input: 2_000_000,
            cached_input: 1_000_000,
            cache_write: 0,
            output: 100_000,
        };
        let mut run = TokenUse::default();
        run.add(tokens, p.is_long(tokens));
        let cost = p.use_usd(run, 10.0);
        assert!((cost - (3.0 + 0.3 + 1.5 + 20.0)).abs() < 1e-9);
        // 4M input: 1M read, 2M written, 1M neither.
        let written = Tokens {
            input: 4_000_000,
            cached_input: 1_000_000,
            cache_write: 2_000_000,
            output: 0,
        };
        let cost = p.call_usd(written);
        assert!((cost - (3.0 + 0.3 + 7.5)).abs() < 1e-9, "{cost}");
    }

    /// Claude Haiku 5.5's rates, worked by hand: $0.10 input, $0.01 cached,
    /// $0.125 written, $0.50 output a million up to 100,000 input tokens;
    /// past them, the whole call at $0.50, $0.05, $0.625 and $0.50.
    #[test]
    fn a_call_past_the_long_context_size_is_billed_whole_at_its_rates() {
        let p = Prices {
            tokens: TokenPrices {
                input_per_mtok: 0.10,
                cached_input_per_mtok: 0.01,
                cache_write_per_mtok: 0.125,
                output_per_mtok: 0.50,
            },
            long_context: Some(LongContext {
                above_input_tokens: 100_000,
                tokens: TokenPrices {
                    input_per_mtok: 0.50,
                    cached_input_per_mtok: 0.05,
                    cache_write_per_mtok: 0.625,
                    output_per_mtok: 0.50,
                },
            }),
            ..Prices::default()
        };
        let call = |input: u64| Tokens {
            input,
            cached_input: input / 2,
            cache_write: 20_000,
            output: 2_000,
        };
        // At the size: 30,000 × 0.10 + 50,000 × 0.01 + 20,000 × 0.125 + 2,000 × 0.50.
        let at = p.call_usd(call(100_000));
        assert!((at - 7_000e-6).abs() < 1e-12, "{at}");
        // One token past it: 30,001 × 0.50 + 50,000 × 0.05 + 20,000 × 0.625 + 2,000 × 0.50.
        let past = p.call_usd(call(100_001));
        assert!((past - 31_000.5e-6).abs() < 1e-12, "{past}");
        // Summed over calls, each is billed at its own rates.
        let mut run = TokenUse::default();
        for input in [100_000, 100_001] {
            run.add(call(input), p.is_long(call(input)));
        }
        assert_eq!(run.long_context, call(100_001));
        assert!((p.use_usd(run, 0.0) - (at + past)).abs() < 1e-12);
        // Without long-context rates both are billed at the base ones.
        let base = Prices {
            long_context: None,
            ..p.clone()
        };
        assert!(p.is_long(call(100_001)) && !base.is_long(call(100_001)));
        assert!((base.call_usd(call(100_001)) - 7_000.1e-6).abs() < 1e-12);
    }
}
