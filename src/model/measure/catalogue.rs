//! Every summary metric once: its name, unit, which way is better and its
//! words, by the scope it is reported in (the run, a class, a window, a
//! pool, ...). runs.csv's columns ([`Summary::metrics`]), the terminal
//! table, the HTML report's tables, SLO parsing and judging, and figure
//! labels read it. Tests hold it, both ways, to the summary's fields, to
//! the terminal table and to the run page (each shows every entry or says
//! why not), and to the SLOs every column takes.
//!
//! [`Summary::metrics`]: crate::model::measure::summary::Summary::metrics

/// What a metric counts or measures, which also says how a value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Loops, calls, attempts, events.
    Count,
    Tokens,
    /// A time-averaged or peak level (attempts in service, replicas).
    Level,
    Seconds,
    Hours,
    PerMinute,
    PerSecond,
    /// A fraction of a whole, shown as a percentage.
    Share,
    /// A ratio of two counts (attempts per loop, a coefficient of variation).
    Ratio,
    /// US dollars.
    Usd,
    PerDollar,
    /// 1 for yes, 0 for no.
    Flag,
}

impl Unit {
    /// What a figure's axis label adds after the metric's words.
    pub fn label_suffix(self) -> &'static str {
        match self {
            Unit::Seconds => " (s)",
            Unit::Usd => " (US$)",
            _ => "",
        }
    }
}

/// Which way a metric is better; none for counts of work offered, levels
/// and the like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// The statistics a metric of [`Form::Percentiles`] has, in order.
pub const PERCENTILE_FIELDS: [&str; 6] = ["p50", "p90", "p95", "p99", "max", "mean"];

/// What follows a metric's name in a column: nothing, its percentiles
/// (`p50`, `p90`, `p95`, `p99`, `max`, `mean`) or the quantiles of its
/// distribution (`q05` … `q999`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Value,
    Percentiles,
    Quantiles,
}

/// One metric of one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub better: Option<Better>,
    /// In words, for figures: "loop latency", "loops per minute".
    pub label: &'static str,
    /// In a table under its scope's heading: "p99 s", "429s".
    pub short: &'static str,
    pub form: Form,
}

/// Where a metric is reported, and how its columns are prefixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Run,
    /// `classes.NAME.`
    Class,
    /// `fault.N.`
    Fault,
    /// `windows.NAME.`
    Window,
    /// `pools.NAME.`
    Pool,
    /// `warm_loops.`: loops that met no cold start (self-hosted pools).
    WarmLoops,
    /// `cold_loops.`
    ColdLoops,
    /// `by_model.NAME.`
    Model,
    /// `limits.NAME.`: a group of limits over several pools, as the model
    /// names it (`organization`, `shared_limits.NAME`, `preset_limit.NAME`).
    Limits,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::Run,
        Scope::Class,
        Scope::Fault,
        Scope::Window,
        Scope::Pool,
        Scope::WarmLoops,
        Scope::ColdLoops,
        Scope::Model,
        Scope::Limits,
    ];

    /// The first segment of its columns' names, and whether a name follows.
    pub fn prefix(self) -> Option<(&'static str, bool)> {
        match self {
            Scope::Run => None,
            Scope::Class => Some(("classes", true)),
            Scope::Fault => Some(("fault", true)),
            Scope::Window => Some(("windows", true)),
            Scope::Pool => Some(("pools", true)),
            Scope::WarmLoops => Some(("warm_loops", false)),
            Scope::ColdLoops => Some(("cold_loops", false)),
            Scope::Model => Some(("by_model", true)),
            Scope::Limits => Some(("limits", true)),
        }
    }

    /// Its metrics, in the order runs.csv gives them.
    pub fn metrics(self) -> &'static [Metric] {
        match self {
            Scope::Run => RUN,
            Scope::Class => CLASS,
            Scope::Fault => FAULT,
            Scope::Window => WINDOW,
            Scope::Pool => POOL,
            Scope::WarmLoops | Scope::ColdLoops => LOOP_GROUP,
            Scope::Model => MODEL,
            Scope::Limits => LIMITS,
        }
    }

    /// The scope and its `owner` in words: "run", "window surge-1", "pool tier2".
    pub fn heading(self, owner: &str) -> String {
        match self {
            Scope::Run => "run".to_owned(),
            Scope::Class => format!("class {owner}"),
            Scope::Fault => format!("fault {owner}"),
            Scope::Window => format!("window {owner}"),
            Scope::Pool => format!("pool {owner}"),
            Scope::WarmLoops => "warm loops".to_owned(),
            Scope::ColdLoops => "cold loops".to_owned(),
            Scope::Model => format!("model {owner}"),
            Scope::Limits => format!("limits {owner}"),
        }
    }

    /// How a figure label names the scope, after the metric.
    fn in_words(self, owner: &str) -> String {
        match self {
            Scope::Run => String::new(),
            _ => format!(", {}", self.heading(owner)),
        }
    }
}

/// A column's name read against the catalogue: `windows.surge-a-1.loop_latency_s.p99`
/// is the window metric `loop_latency_s` of window `surge-a-1`, statistic `p99`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Named<'a> {
    pub metric: &'static Metric,
    pub scope: Scope,
    /// The class, window, pool, fault or model it is of.
    pub owner: &'a str,
    /// `p99`, `q50`…; none for a value, or for a distribution named whole.
    pub statistic: Option<&'a str>,
}

impl Named<'_> {
    /// The column in words, its unit and scope after: "p99 loop latency (s), window surge-a-1".
    pub fn label(&self) -> String {
        let stat = self.statistic.map_or_else(String::new, |s| format!("{s} "));
        format!(
            "{stat}{}{}{}",
            self.metric.label,
            self.metric.unit.label_suffix(),
            self.scope.in_words(self.owner)
        )
    }
}

/// Which dotted part of `metric` names a latency or a wait, if one does.
fn latency_part(metric: &str) -> Option<usize> {
    metric
        .split('.')
        .position(|part| part.contains("latency") || part.ends_with("wait_s"))
}

/// Whether a metric (or a time-series column) is a latency or a wait,
/// which describes only the loops that completed, so it is shown with the
/// failed share beside it.
pub fn is_latency(metric: &str) -> bool {
    latency_part(metric).is_some()
}

/// The failed share of the loops a latency metric describes, the same
/// class's or window's or the whole run's; none for another metric, or a
/// scope that has no failed share (a pool's).
pub fn failed_share_beside(metric: &str) -> Option<String> {
    let parts: Vec<&str> = metric.split('.').collect();
    let mut share = parts[..latency_part(metric)?].to_vec();
    share.push("loops_failed_share");
    let share = share.join(".");
    find(&share).is_some().then_some(share)
}

/// Whether a column is a share (a fraction of 1, shown as a percentage).
pub fn is_share(column: &str) -> bool {
    find(column).is_some_and(|n| n.metric.unit == Unit::Share)
}

/// The metric a column of runs.csv (or a prefix of one, such as
/// `loop_latency_s`) names, if any.
pub fn find(column: &str) -> Option<Named<'_>> {
    Scope::ALL.into_iter().find_map(|scope| {
        let named = |owner, rest| {
            let (metric, statistic) = scope.find(rest)?;
            Some(Named {
                metric,
                scope,
                owner,
                statistic,
            })
        };
        match scope.prefix() {
            None => named("", column),
            Some((first, false)) => named("", column.strip_prefix(first)?.strip_prefix('.')?),
            // An owner's name may hold dots (`preset_limit.NAME`): the
            // first split after which the rest names a metric.
            Some((first, true)) => {
                let rest = column.strip_prefix(first)?.strip_prefix('.')?;
                rest.match_indices('.')
                    .find_map(|(i, _)| named(&rest[..i], &rest[i + 1..]))
            }
        }
    })
}

impl Scope {
    /// The metric `rest` names in this scope (the column without the
    /// scope's prefix), and its statistic.
    pub fn find(self, rest: &str) -> Option<(&'static Metric, Option<&str>)> {
        let metrics = self.metrics();
        if let Some(m) = metrics.iter().find(|m| m.name == rest) {
            return Some((m, None));
        }
        let (name, stat) = rest.rsplit_once('.')?;
        let m = metrics.iter().find(|m| m.name == name)?;
        let fits = match m.form {
            Form::Value => false,
            Form::Percentiles => PERCENTILE_FIELDS.contains(&stat),
            Form::Quantiles => {
                stat.len() > 1
                    && stat.starts_with('q')
                    && stat[1..].bytes().all(|b| b.is_ascii_digit())
            }
        };
        fits.then_some((m, Some(stat)))
    }

    /// How a table headed by this scope names column `rest`: the metric's
    /// short words, after its statistic (`p99 s`); `rest` itself when the
    /// catalogue does not know it.
    pub fn short_label(self, rest: &str) -> String {
        match self.find(rest) {
            Some((m, Some(stat))) => format!("{stat} {}", m.short),
            Some((m, None)) => m.short.to_owned(),
            None => rest.to_owned(),
        }
    }
}

const fn metric(
    name: &'static str,
    unit: Unit,
    better: Option<Better>,
    label: &'static str,
    short: &'static str,
) -> Metric {
    Metric {
        name,
        unit,
        better,
        label,
        short,
        form: Form::Value,
    }
}

const fn percentiles(
    name: &'static str,
    unit: Unit,
    better: Option<Better>,
    label: &'static str,
    short: &'static str,
) -> Metric {
    Metric {
        form: Form::Percentiles,
        ..metric(name, unit, better, label, short)
    }
}

const LOWER: Option<Better> = Some(Better::Lower);
const HIGHER: Option<Better> = Some(Better::Higher);

use Unit::*;

/// Metrics several scopes report alike.
#[rustfmt::skip]
const LOOPS_COMPLETED: Metric = metric("loops_completed", Count, HIGHER, "loops completed", "completed");
#[rustfmt::skip]
const LOOPS_IN_FLIGHT: Metric = metric("loops_in_flight", Count, None, "loops in flight", "in flight at the end");
#[rustfmt::skip]
const LOOPS_FAILED_SHARE: Metric = metric("loops_failed_share", Share, LOWER, "loops failed share", "failed share");
#[rustfmt::skip]
const LOOPS_PER_MIN: Metric = metric("loops_per_min", PerMinute, HIGHER, "loops per minute", "loops/min");
#[rustfmt::skip]
const CACHED_INPUT_TOKENS: Metric = metric("cached_input_tokens", Tokens, None, "cached input tokens", "from cache");
#[rustfmt::skip]
const CACHE_WRITE_TOKENS: Metric = metric("cache_write_tokens", Tokens, None, "cache write tokens", "written to cache");
#[rustfmt::skip]
const OUTPUT_TOKENS: Metric = metric("output_tokens", Tokens, None, "output tokens", "output tokens");
#[rustfmt::skip]
const LOOPS_STARTED: Metric = metric("loops_started", Count, None, "loops started", "started");
#[rustfmt::skip]
const LOOPS_FAILED: Metric = metric("loops_failed", Count, LOWER, "loops failed", "failed");
#[rustfmt::skip]
const LOOP_LATENCY: Metric = percentiles("loop_latency_s", Seconds, LOWER, "loop latency", "s");
#[rustfmt::skip]
const RETRIES: Metric = metric("retries", Count, LOWER, "retries", "retries");
const RATE_LIMITED_429S: Metric = metric("rate_limited", Count, LOWER, "rate limited", "429s");
#[rustfmt::skip]
const ATTEMPTS: Metric = metric("attempts", Count, None, "attempts", "attempts");
#[rustfmt::skip]
const COST: Metric = metric("cost_usd", Usd, LOWER, "cost", "cost (USD)");

#[rustfmt::skip]
const COST_PER_MONTH: Metric = metric("cost_per_month_usd", Usd, LOWER, "cost per month", "cost a month (USD)");
#[rustfmt::skip]
const COMMITTED_PER_MONTH: Metric = metric("committed_per_month_usd", Usd, None, "committed cost per month", "of it committed");

#[rustfmt::skip]
const RUN: &[Metric] = &[
    LOOPS_STARTED,
    LOOPS_COMPLETED,
    LOOPS_FAILED,
    LOOPS_IN_FLIGHT,
    metric("loops_failed_exhausted", Count, LOWER, "loops failed exhausted", "attempts exhausted"),
    metric("loops_failed_deadline", Count, LOWER, "loops failed deadline", "deadline"),
    metric("loops_failed_too_large", Count, LOWER, "loops failed too large", "call too large"),
    metric("loops_failed_denied", Count, LOWER, "loops failed denied", "retry denied"),
    LOOPS_FAILED_SHARE,
    LOOPS_PER_MIN,
    LOOP_LATENCY,
    Metric {
        form: Form::Quantiles,
        ..metric("loop_latency_cdf_s", Seconds, LOWER, "loop latency", "loop latency (s)")
    },
    percentiles("steps_per_loop", Count, None, "steps per loop", "steps"),
    percentiles("step_latency_s", Seconds, LOWER, "step latency", "step latency (s)"),
    metric("calls", Count, None, "calls", "LLM calls"),
    metric("attempts", Count, None, "attempts", "attempts"),
    RETRIES,
    metric("attempts_per_min", PerMinute, None, "attempts per minute", "attempts/min"),
    metric("throttled", Count, None, "throttled", "held by client throttle"),
    metric("rate_limited", Count, LOWER, "rate limited", "rate limited (429)"),
    BY_REQUESTS,
    BY_INPUT_TOKENS,
    BY_OUTPUT_TOKENS,
    BY_TOKENS,
    BY_CONCURRENCY,
    BY_RAMP,
    FIRST_LIMIT,
    metric("overloaded", Count, LOWER, "overloaded", "overloaded (529)"),
    metric("timeouts", Count, LOWER, "timeouts", "timeouts"),
    metric("expired", Count, LOWER, "expired", "expired in a batch"),
    metric("queue_rejected", Count, LOWER, "queue rejected", "lane queue full"),
    metric("too_large", Count, LOWER, "too large", "too large for a bucket"),
    metric("unavailable", Count, LOWER, "unavailable", "unavailable (503)"),
    metric("server_errors", Count, LOWER, "server errors", "server errors (500)"),
    metric("rejected_locally", Count, LOWER, "rejected locally", "rejected by the client"),
    metric("retries_denied", Count, LOWER, "retries denied", "retries denied"),
    metric("retry_rate", Share, LOWER, "retry rate", "retry rate"),
    metric("amplification", Ratio, LOWER, "amplification", "amplification"),
    metric("peak_in_flight", Level, None, "peak in flight", "peak in service"),
    metric("mean_in_flight", Level, None, "mean in flight", "mean in service"),
    metric("mean_loops_in_flight", Level, None, "mean loops in flight", "mean loops in flight"),
    metric("lane_utilization", Share, None, "lane utilization", "lane utilization"),
    metric("lane_queue_growth_per_min", PerMinute, None, "lane queue growth per minute", "lane queue growth/min"),
    metric("lane_queue_unbounded", Flag, None, "lane queue unbounded", "lane queue unbounded"),
    percentiles("queue_wait_s", Seconds, LOWER, "queue wait", "queue wait (s)"),
    metric("waited_share", Share, LOWER, "waited share", "attempts that waited"),
    metric("input_tokens", Tokens, None, "input tokens", "input tokens billed"),
    metric("cached_input_tokens", Tokens, None, "cached input tokens", "of them from cache"),
    CACHE_WRITE_TOKENS,
    metric("long_context_input_tokens", Tokens, None, "long-context input tokens", "long-context input"),
    OUTPUT_TOKENS,
    COST,
    metric("loops_per_dollar", PerDollar, HIGHER, "loops per US dollar", "loops per dollar"),
    metric("cost_per_loop_usd", Usd, LOWER, "cost per loop", "cost per loop (USD)"),
    COST_PER_MONTH,
    COMMITTED_PER_MONTH,
    metric("spend_cap_month_share", Share, HIGHER, "share of a month within spend caps", "month within spend caps"),
    metric("events", Count, None, "events", "events"),
];

#[rustfmt::skip]
const CLASS: &[Metric] = &[
    LOOPS_STARTED,
    LOOPS_COMPLETED,
    LOOPS_FAILED,
    LOOPS_IN_FLIGHT,
    LOOPS_FAILED_SHARE,
    LOOPS_PER_MIN,
    LOOP_LATENCY,
    metric("arrivals_per_min", PerMinute, None, "arrivals per minute", "arrivals/min"),
    metric("sessions_per_min", PerMinute, None, "sessions per minute", "sessions/min"),
    metric("interarrival_cv", Ratio, None, "interarrival cv", "CV of gaps"),
];

#[rustfmt::skip]
const FAULT: &[Metric] = &[
    metric("goodput_before_per_min", PerMinute, None, "goodput before per minute", "loops/min before"),
    metric("goodput_during_per_min", PerMinute, HIGHER, "goodput during per minute", "during"),
    metric("goodput_after_per_min", PerMinute, HIGHER, "goodput after per minute", "after"),
    metric("recovered", Flag, None, "recovered", "recovered"),
    metric("recovery_s", Seconds, LOWER, "recovery", "recovery s"),
];

#[rustfmt::skip]
const WINDOW: &[Metric] = &[
    LOOPS_STARTED,
    LOOPS_COMPLETED,
    LOOPS_FAILED,
    LOOPS_FAILED_SHARE,
    LOOPS_PER_MIN,
    LOOP_LATENCY,
    ATTEMPTS,
    RETRIES,
    RATE_LIMITED_429S,
    metric("retry_rate", Share, LOWER, "retry rate", "retry rate"),
    metric("peak_in_flight", Level, None, "peak in flight", "peak in service"),
    COST,
];

// A pool's or a model's 429s by the limit that refused them, and when the
// first limit refused: the limit that binds.
#[rustfmt::skip]
const BY_REQUESTS: Metric = metric("rate_limited_by.requests_per_min", Count, None, "rate limited by requests per minute", "by requests/min");
#[rustfmt::skip]
const BY_INPUT_TOKENS: Metric = metric("rate_limited_by.input_tokens_per_min", Count, None, "rate limited by input tokens per minute", "by input tokens/min");
#[rustfmt::skip]
const BY_OUTPUT_TOKENS: Metric = metric("rate_limited_by.output_tokens_per_min", Count, None, "rate limited by output tokens per minute", "by output tokens/min");
#[rustfmt::skip]
const BY_TOKENS: Metric = metric("rate_limited_by.tokens_per_min", Count, None, "rate limited by tokens per minute", "by tokens/min");
#[rustfmt::skip]
const BY_CONCURRENCY: Metric = metric("rate_limited_by.max_concurrency", Count, None, "rate limited by max concurrency", "by concurrency");
#[rustfmt::skip]
const BY_RAMP: Metric = metric("rate_limited_by.ramp_limit", Count, None, "rate limited by the ramp-rate limit", "by ramp rate");
#[rustfmt::skip]
const FIRST_LIMIT: Metric = metric("first_limit_s", Seconds, None, "first limit", "first 429 at s");

#[rustfmt::skip]
const POOL: &[Metric] = &[
    ATTEMPTS,
    metric("served", Count, None, "served", "served"),
    RATE_LIMITED_429S,
    BY_REQUESTS,
    BY_INPUT_TOKENS,
    BY_OUTPUT_TOKENS,
    BY_TOKENS,
    BY_CONCURRENCY,
    BY_RAMP,
    FIRST_LIMIT,
    metric("rate_limited_by_shared_limits", Count, None, "rate limited by limits over several pools", "by shared limits"),
    metric("overloaded", Count, LOWER, "overloaded", "529s"),
    metric("queue_rejected", Count, LOWER, "queue rejected", "queue full"),
    metric("too_large", Count, LOWER, "too large", "too large"),
    metric("unavailable", Count, LOWER, "unavailable", "unavailable"),
    metric("server_errors", Count, LOWER, "server errors", "500s"),
    metric("timed_out", Count, LOWER, "timed out", "timed out"),
    metric("expired", Count, LOWER, "expired", "expired"),
    metric("cool_downs", Count, None, "cool downs", "cool-downs"),
    metric("mean_in_flight", Level, None, "mean in flight", "mean in service"),
    metric("busy_share", Share, None, "busy share", "busy share"),
    metric("input_tokens", Tokens, None, "input tokens", "input tokens"),
    CACHED_INPUT_TOKENS,
    CACHE_WRITE_TOKENS,
    OUTPUT_TOKENS,
    COST,
    COST_PER_MONTH,
    COMMITTED_PER_MONTH,
    metric("mean_replicas", Level, None, "mean replicas", "mean replicas"),
    metric("replica_hours", Hours, None, "replica hours", "replica-hours"),
    metric("cold_starts", Count, LOWER, "cold starts", "cold starts"),
    metric("min_replicas", Count, None, "replica floor", "min replicas"),
    metric("max_replicas", Count, None, "replica cap", "max replicas"),
    metric("mean_batch", Level, None, "mean batch", "mean batch"),
    metric("p95_batch", Level, None, "p95 batch", "p95 batch"),
    metric("output_tokens_per_s", PerSecond, None, "output tokens per second", "output tokens/s"),
    percentiles("time_to_first_token_s", Seconds, LOWER, "time to first token", "time to first token (s)"),
    percentiles("time_per_output_token_s", Seconds, LOWER, "time per output token", "time per output token (s)"),
    metric("preemptions", Count, LOWER, "preemptions", "preemptions"),
    metric("prefix_cache_hit_share", Share, HIGHER, "prefix cache hit share", "prefix cache hits"),
    metric("kv_cache_utilization", Share, None, "kv cache utilization", "KV cache utilization"),
];

#[rustfmt::skip]
const LOOP_GROUP: &[Metric] = &[
    LOOPS_COMPLETED,
    LOOPS_FAILED,
    LOOPS_FAILED_SHARE,
    LOOPS_PER_MIN,
    LOOP_LATENCY,
];

#[rustfmt::skip]
const MODEL: &[Metric] = &[
    ATTEMPTS,
    RATE_LIMITED_429S,
    BY_REQUESTS,
    BY_INPUT_TOKENS,
    BY_OUTPUT_TOKENS,
    BY_TOKENS,
    BY_CONCURRENCY,
    BY_RAMP,
    FIRST_LIMIT,
    metric("input_tokens", Tokens, None, "input tokens", "input tokens"),
    CACHED_INPUT_TOKENS,
    CACHE_WRITE_TOKENS,
    OUTPUT_TOKENS,
    COST,
];

// A group of limits over several pools: its 429s by limit, and the first.
#[rustfmt::skip]
const LIMITS: &[Metric] = &[
    RATE_LIMITED_429S,
    BY_REQUESTS,
    BY_INPUT_TOKENS,
    BY_OUTPUT_TOKENS,
    BY_TOKENS,
    BY_CONCURRENCY,
    BY_RAMP,
    FIRST_LIMIT,
];

#[cfg(test)]
mod tests;
