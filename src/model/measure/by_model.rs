//! Each model's share of a run, for a model that declares `[models]`: its
//! attempts, its 429s by the limit that refused them (and which limit
//! refused first), its tokens and what they cost at the prices of the
//! pools that served them. A pool's 429s are tallied by limit the same way.

use serde::{Deserialize, Serialize};

use crate::engine::SimTime;
use crate::model::capacity::admission::Limit;
use crate::model::capacity::pool::PoolSpec;
use crate::model::prices::{TokenUse, Tokens};

/// 429s by the limit that refused them over the measured window, and when
/// each limit first refused, warm-up included (a limit that binds during
/// warm-up binds from then).
#[derive(Clone, Debug, Default)]
pub struct LimitTally {
    /// 429s in the window, by [`Limit::ALL`]'s order.
    counts: [u64; 6],
    /// When each limit first refused.
    first: [Option<SimTime>; 6],
}

impl LimitTally {
    /// A 429 from `limit` at `now`, `counted` when in the measured window.
    pub fn record(&mut self, now: SimTime, limit: Limit, counted: bool) {
        let i = Limit::ALL
            .iter()
            .position(|&l| l == limit)
            .expect("every limit is in ALL");
        self.counts[i] += u64::from(counted);
        self.first[i].get_or_insert(now);
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The tally as the summary reports it.
    pub fn refusals(&self) -> Refusals {
        let (first_limit, first_limit_s) = self.first();
        Refusals {
            rate_limited_by: self.by_limit(),
            first_limit,
            first_limit_s,
        }
    }

    fn by_limit(&self) -> ByLimit {
        let [
            requests_per_min,
            input_tokens_per_min,
            output_tokens_per_min,
            tokens_per_min,
            max_concurrency,
            ramp_limit,
        ] = self.counts;
        ByLimit {
            requests_per_min,
            input_tokens_per_min,
            output_tokens_per_min,
            tokens_per_min,
            max_concurrency,
            ramp_limit,
        }
    }

    /// The limit that refused first, by its name in a model file, and when (s).
    fn first(&self) -> (Option<String>, Option<f64>) {
        let first = (0..Limit::ALL.len())
            .filter_map(|i| self.first[i].map(|t| (t, i)))
            .min();
        (
            first.map(|(_, i)| Limit::ALL[i].name().to_owned()),
            first.map(|(t, _)| t.as_secs_f64()),
        )
    }
}

/// One model's counts over the measured window.
#[derive(Clone, Debug)]
pub struct ModelTally {
    attempts: u64,
    rate_limited: LimitTally,
    /// Tokens billed at each pool.
    tokens: Vec<TokenUse>,
}

/// A 429 count per limit, by the limit's name in a model file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByLimit {
    pub requests_per_min: u64,
    pub input_tokens_per_min: u64,
    pub output_tokens_per_min: u64,
    /// Absent from summaries written before the combined limit.
    #[serde(default)]
    pub tokens_per_min: u64,
    pub max_concurrency: u64,
    /// Absent from summaries written before the ramp-rate limit.
    #[serde(default)]
    pub ramp_limit: u64,
}

impl ByLimit {
    /// Each limit's name and count, in [`Limit::ALL`]'s order.
    pub fn named(&self) -> [(&'static str, u64); 6] {
        let counts = [
            self.requests_per_min,
            self.input_tokens_per_min,
            self.output_tokens_per_min,
            self.tokens_per_min,
            self.max_concurrency,
            self.ramp_limit,
        ];
        std::array::from_fn(|i| (Limit::ALL[i].name(), counts[i]))
    }
}

/// What a run's, a pool's or a model's 429s say: how many each limit
/// refused, and which refused first and when (s), warm-up included: the
/// limit that binds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Refusals {
    #[serde(default)]
    pub rate_limited_by: ByLimit,
    #[serde(default)]
    pub first_limit: Option<String>,
    #[serde(default)]
    pub first_limit_s: Option<f64>,
}

/// One model's figures in the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub attempts: u64,
    pub rate_limited: u64,
    #[serde(flatten)]
    pub refusals: Refusals,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    /// Its tokens at each serving pool's prices (hourly prices of lanes and
    /// replicas stay with the pools, which models may share).
    pub cost_usd: f64,
}

impl ModelTally {
    pub fn new(pools: usize) -> Self {
        ModelTally {
            attempts: 0,
            rate_limited: LimitTally::default(),
            tokens: vec![TokenUse::default(); pools],
        }
    }

    pub fn sent(&mut self) {
        self.attempts += 1;
    }

    pub fn rate_limited(&mut self, now: SimTime, limit: Limit, counted: bool) {
        self.rate_limited.record(now, limit, counted);
    }

    pub fn billed(&mut self, pool: usize, tokens: Tokens, long: bool) {
        self.tokens[pool].add(tokens, long);
    }

    pub fn summary(&self, name: &str, pools: &[PoolSpec]) -> ModelSummary {
        let mut total = TokenUse::default();
        for &t in &self.tokens {
            total += t;
        }
        let cost_usd = self
            .tokens
            .iter()
            .zip(pools)
            .map(|(&t, p)| p.prices.use_usd(t, 0.0))
            .sum();
        ModelSummary {
            name: name.to_owned(),
            attempts: self.attempts,
            rate_limited: self.rate_limited.total(),
            refusals: self.rate_limited.refusals(),
            input_tokens: total.all.input,
            cached_input_tokens: total.all.cached_input,
            cache_write_tokens: total.all.cache_write,
            output_tokens: total.all.output,
            cost_usd,
        }
    }
}
