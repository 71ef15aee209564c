//! The month's bill, as a planner buys: capacity that exists is billed
//! all month whether busy or not (reserved lanes, a self-hosted pool's
//! fixed fleet or autoscaled minimum, a plan's flat fee); use is billed as
//! measured (tokens at their prices, replicas an autoscaler added while
//! they ran), scaled from the measured window to a month.

use crate::engine::SimDuration;
use crate::model::capacity::kind::CapacitySpec;
use crate::model::capacity::pool::PoolSpec;
use crate::model::prices::{HOURS_PER_MONTH, TokenUse};

const SECONDS_PER_WEEK: f64 = 7.0 * 86_400.0;

/// One pool's month.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bill {
    /// Billed whatever the use.
    pub committed_usd: f64,
    /// Committed plus use.
    pub total_usd: f64,
}

/// The units (lanes, replicas, provisioned units) `pool` pays for all month.
pub fn committed_units(pool: &PoolSpec) -> f64 {
    match &pool.capacity {
        CapacitySpec::Reserved(r) => f64::from(r.lanes),
        CapacitySpec::SelfHosted(h) => f64::from(h.min_replicas),
        CapacitySpec::SharedApi(api) => api.provisioned_units.map_or(0.0, f64::from),
        CapacitySpec::Batch(_) => 0.0,
    }
}

/// What `pool` costs a month however it is used: its committed units all
/// month, and its flat fee. No run is needed to know it.
pub fn committed_per_month(pool: &PoolSpec) -> f64 {
    committed_units(pool) * HOURS_PER_MONTH * pool.prices.per_unit_hour + pool.prices.per_month
}

/// `pool`'s month, from what the measured `window` used: `tokens`, and
/// `replica_seconds` of replicas alive (of which those beyond its
/// committed fleet are billed as use).
pub fn month(pool: &PoolSpec, tokens: TokenUse, replica_seconds: f64, window: SimDuration) -> Bill {
    let committed_usd = committed_per_month(pool);
    let window_s = window.as_secs_f64();
    let extra_unit_hours = match pool.capacity {
        CapacitySpec::SelfHosted(_) => {
            (replica_seconds - committed_units(pool) * window_s).max(0.0) / 3600.0
        }
        _ => 0.0,
    };
    let used = pool.prices.use_usd(tokens, extra_unit_hours);
    let scale = if window_s > 0.0 {
        HOURS_PER_MONTH * 3600.0 / window_s
    } else {
        0.0
    };
    Bill {
        committed_usd,
        total_usd: committed_usd + used * scale,
    }
}

/// The input `tokens` of `pools` billed at long-context rates, where any
/// of them has such rates.
pub fn long_context_input(pools: &[PoolSpec], tokens: TokenUse) -> Option<u64> {
    pools
        .iter()
        .any(|p| p.prices.long_context.is_some())
        .then_some(tokens.long_context.input)
}

/// How `pool` is billed, in words: with long-context rates, the share of
/// its input `tokens` billed at them.
pub fn rule(pool: &PoolSpec, tokens: TokenUse) -> String {
    let fee = match pool.prices.per_month {
        0.0 => String::new(),
        fee => format!(", plus ${fee:.0} a month"),
    };
    let long = pool.prices.long_context.map_or(String::new(), |l| {
        let share = tokens.long_context.input as f64 / tokens.all.input.max(1) as f64;
        format!(
            "; {:.1}% of its input tokens in calls of over {} tokens, billed whole at long-context rates",
            100.0 * share,
            l.above_input_tokens
        )
    });
    let units = match &pool.capacity {
        CapacitySpec::Reserved(r) => format!("{} lanes all month, and tokens by use", r.lanes),
        CapacitySpec::SelfHosted(h) if h.autoscale.is_some() => format!(
            "{} replicas all month, those the autoscaler adds while they run, and tokens by use",
            h.min_replicas
        ),
        CapacitySpec::SelfHosted(h) => {
            format!("{} replicas all month, and tokens by use", h.min_replicas)
        }
        CapacitySpec::SharedApi(api) => match api.provisioned_units {
            Some(units) => format!("{units} provisioned units all month, and tokens by use"),
            None => "tokens by use".to_owned(),
        },
        CapacitySpec::Batch(_) => "tokens by use".to_owned(),
    };
    units + &fee + &long
}

/// What a month's use is reckoned from: the measured `window`, a whole
/// number of weeks (the basis a load that follows the week needs), of
/// days, or neither.
pub fn basis(window: SimDuration) -> String {
    let window_s = window.as_secs_f64();
    let hours = window_s / 3600.0;
    let times = HOURS_PER_MONTH / hours;
    let whole =
        |unit: f64| window_s >= unit && (window_s / unit - (window_s / unit).round()).abs() < 1e-9;
    if whole(SECONDS_PER_WEEK) {
        let weeks = (window_s / SECONDS_PER_WEEK).round();
        format!(
            "use over {weeks} measured week(s), times {times:.3} for a {HOURS_PER_MONTH}-hour month"
        )
    } else if whole(86_400.0) {
        let days = (window_s / 86_400.0).round();
        format!(
            "use over {days} measured day(s), times {times:.3} for a {HOURS_PER_MONTH}-hour month: as if every day, weekends too, were like these"
        )
    } else {
        format!(
            "use over the measured {} h, times {times:.3} for a {HOURS_PER_MONTH}-hour month: as if this load ran round the clock",
            (hours * 100.0).round() / 100.0
        )
    }
}
