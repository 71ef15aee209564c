//! The LLMs a model's agents call, and how an agent's steps choose one.
//!
//! Real coding agents mix models: the main loop on a large model,
//! exploring or summarising subagents on a small one. Each model may have
//! token distributions of its own, and the pools that serve it (with its
//! limits and prices, since providers set both per model).

use rand::RngExt;

use crate::engine::Stream;
use crate::model::distribution::CountDist;

/// One LLM, as `[models.NAME]` declares it.
#[derive(Clone, Debug)]
pub struct Llm {
    pub name: String,
    /// A call's input (context growth aside) on this model, instead of its agent's.
    pub input_tokens: Option<CountDist>,
    /// A call's output on this model, instead of its agent's (capped alike).
    pub output_tokens: Option<CountDist>,
}

/// Which model each step of an agent's loop calls: the first and the last
/// step, and every call of a fan-out step, may name theirs; any other step
/// calls `other`. A step's calls all go to one model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMix {
    pub first: Option<u16>,
    pub last: Option<u16>,
    pub fan_out: Option<u16>,
    pub other: Choice,
}

/// The model of a step the mix does not name by position or kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    One(u16),
    /// Drawn with these shares: (model, cumulative share), the last 1.
    Shares(Vec<(u16, f64)>),
}

impl ModelMix {
    /// Every step on model `model`.
    pub fn single(model: u16) -> ModelMix {
        ModelMix {
            first: None,
            last: None,
            fan_out: None,
            other: Choice::One(model),
        }
    }

    /// The model every step calls, if every step calls the same one.
    pub fn only(&self) -> Option<u16> {
        match (self.first, self.last, self.fan_out, &self.other) {
            (None, None, None, Choice::One(m)) => Some(*m),
            _ => None,
        }
    }

    /// The model of step `step` (1-based) of `steps`, a fan-out step or not;
    /// a draw from `rng` only for a step whose model goes by shares.
    #[inline]
    pub fn model(&self, step: u32, steps: u32, fan_out: bool, rng: &mut Stream) -> u16 {
        if let Some(m) = self.only() {
            return m; // every step on one model: the common case
        }
        if let Some(m) = self.fan_out.filter(|_| fan_out) {
            return m;
        }
        if let Some(m) = self.first.filter(|_| step == 1) {
            return m;
        }
        if let Some(m) = self.last.filter(|_| step == steps) {
            return m;
        }
        match &self.other {
            Choice::One(m) => *m,
            Choice::Shares(cumulative) => {
                let u: f64 = rng.random();
                cumulative
                    .iter()
                    .find(|&&(_, c)| u < c)
                    .or(cumulative.last())
                    .map_or(0, |&(m, _)| m)
            }
        }
    }

    /// Every model a loop of this mix may call.
    pub fn models(&self) -> Vec<u16> {
        let mut all: Vec<u16> = [self.first, self.last, self.fan_out]
            .into_iter()
            .flatten()
            .collect();
        match &self.other {
            Choice::One(m) => all.push(*m),
            Choice::Shares(c) => all.extend(c.iter().map(|&(m, _)| m)),
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::RandomStreams;

    #[test]
    fn steps_take_the_model_their_position_or_kind_names_else_a_share() {
        let mix = ModelMix {
            first: Some(0),
            last: Some(0),
            fan_out: Some(2),
            other: Choice::Shares(vec![(0, 0.25), (1, 1.0)]),
        };
        let mut rng = RandomStreams::new(3).stream("agent");
        assert_eq!(mix.model(1, 10, false, &mut rng), 0);
        assert_eq!(mix.model(10, 10, false, &mut rng), 0);
        assert_eq!(mix.model(10, 10, true, &mut rng), 2);
        assert_eq!(mix.model(1, 1, true, &mut rng), 2);
        // The middle steps: a quarter on model 0, within 1% over 100,000 draws
        // (the 95% interval of a share of 100,000 is about ±0.27%).
        let n = 100_000;
        let zeros = (0..n)
            .filter(|_| mix.model(5, 10, false, &mut rng) == 0)
            .count();
        let share = zeros as f64 / f64::from(n);
        assert!((share - 0.25).abs() < 0.01, "{share}");
        assert_eq!(mix.models(), [0, 1, 2]);
    }

    #[test]
    fn a_single_model_draws_nothing() {
        let mix = ModelMix::single(1);
        let mut rng = RandomStreams::new(3).stream("agent");
        let mut untouched = RandomStreams::new(3).stream("agent");
        assert_eq!(mix.model(4, 9, true, &mut rng), 1);
        assert_eq!(rng.random::<u64>(), untouched.random::<u64>());
    }
}
