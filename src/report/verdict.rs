//! A run's verdict: one plain sentence of what happened, with the figures
//! it rests on, then what a planner would miss in the numbers (the limit
//! that binds on each shared pool, a p99 of the few loops that survived,
//! an autoscaler that flaps, the worst window). The terminal summary and
//! the run's page both open with it.

use crate::csv_row::significant;
use crate::engine::SimDuration;
use crate::model::measure::by_model::{ByLimit, Refusals};
use crate::model::measure::catalogue::Scope;
use crate::model::measure::pool_summary::{OverSpendCap, PoolSummary, SelfHostedSummary};
use crate::model::measure::summary::Summary;
use crate::model::prices::HOURS_PER_MONTH;
use crate::model::workload::classes::week_time;

/// Failed shares above this make the p99 of loop latency a survivors' p99:
/// more than 1% of loops have no latency, so the 99th percentile of all
/// loops is a failure.
pub const SURVIVORS: f64 = 0.01;

/// Replicas an autoscaler may start per replica of headroom (cap minus
/// floor) per day before it is said to flap: a working day scales up and
/// down once, a lunch dip once more.
const STARTS_PER_HEADROOM_PER_DAY: f64 = 2.0;

/// What a run came to.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// What happened, in one sentence.
    pub headline: String,
    /// What the headline's figures do not show by themselves.
    pub notes: Vec<String>,
}

impl Verdict {
    /// The verdict as the terminal prints it: the sentence, then each note
    /// on its own line.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.headline);
        for note in &self.notes {
            out.push_str(&format!("  - {note}\n"));
        }
        out
    }
}

/// The verdict of the run `s` summarises.
pub fn of_run(s: &Summary) -> Verdict {
    let mut notes = Vec::new();
    let limits = binding_limits(s);
    let headline = headline(s, limits.first());
    // The headline names the first limit to bind when loops fail; a note
    // adds what it does not say.
    let named = s.loops_failed > 0;
    notes.extend(
        limits
            .iter()
            .enumerate()
            .filter(|(i, l)| *i > 0 || !named || l.most().0 != l.first)
            .map(|(_, l)| l.sentence(s)),
    );
    notes.extend(s.over_spend_cap.iter().map(|o| over_spend_cap(o, s)));
    notes.extend(survivors(s));
    notes.extend(s.pools.iter().filter_map(|p| flapping(p, s)));
    if s.lane_queue_unbounded == Some(true) {
        notes.push(format!(
            "The lanes' queue grows by {:.1} a minute and is never empty in the run's second half: the load exceeds the lanes, so these figures describe a transient, not a steady state.",
            s.lane_queue_growth_per_min.unwrap_or(0.0)
        ));
    }
    notes.extend(worst_window(s));
    Verdict { headline, notes }
}

/// The opening sentence: how many loops failed and why, or that all
/// completed; throughput, the p99 and the month's bill.
fn headline(s: &Summary, binding: Option<&Binding>) -> String {
    let ended = s.loops_completed + s.loops_failed;
    if ended == 0 {
        return format!(
            "No loop ended in the measured window ({} still running at the end).",
            s.loops_in_flight
        );
    }
    let p99 = s
        .loop_latency_s
        .as_ref()
        .map(|p| format!(", p99 {}", seconds(p.p99)));
    let month = (s.cost_per_month_usd > 0.0)
        .then(|| format!(", {} a month", dollars(s.cost_per_month_usd)));
    let figures = format!(
        "{} loops/min{}{}",
        count(s.loops_per_min),
        p99.unwrap_or_default(),
        month.unwrap_or_default()
    );
    if s.loops_failed == 0 {
        return format!("Every loop completed: {figures}.");
    }
    let share = s.loops_failed as f64 / ended as f64;
    let cause = binding.map_or_else(
        || refused_most(s).unwrap_or_default(),
        |b| format!(": {}", b.short(s)),
    );
    format!(
        "{} of loops fail ({} of {}, {}){cause}; those that complete: {figures}.",
        percent(share),
        s.loops_failed,
        ended,
        failed_because(s)
    )
}

/// Why the failed loops failed, largest reason first.
fn failed_because(s: &Summary) -> String {
    let mut reasons = [
        (s.loops_failed_exhausted, "retries exhausted"),
        (s.loops_failed_deadline, "past their deadline"),
        (s.loops_failed_too_large, "too large for a limit"),
        (s.loops_failed_denied, "retries denied"),
    ];
    reasons.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
    reasons
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What refused most attempts, when no rate limit did.
fn refused_most(s: &Summary) -> Option<String> {
    [
        (s.overloaded, "overloaded (529)"),
        (s.timeouts, "timed out"),
        (s.queue_rejected, "refused as the lane queue was full"),
        (s.unavailable, "refused as unavailable"),
        (s.server_errors, "failed with a server error"),
        (s.expired, "expired in a batch"),
        (s.too_large, "too large for a bucket"),
    ]
    .into_iter()
    .filter(|&(n, _)| n > 0)
    .max_by_key(|&(n, _)| n)
    .map(|(n, what)| format!(": {n} attempts {what}"))
}

/// A shared pool's 429s, or a group's of limits over several pools: the
/// limit that refused first and the one that refused most.
struct Binding<'a> {
    owner: Owner<'a>,
    by: &'a ByLimit,
    first: &'a str,
    first_s: f64,
}

/// Whose limits refused.
enum Owner<'a> {
    /// A model's only pool.
    Only,
    Pool(&'a str),
    /// A group of limits over several pools, by name, and its pools.
    Group(&'a str, &'a [String]),
}

/// A limit's name in a planner's words: the catalogue's short words for
/// its 429s ("by input tokens/min") without the "by".
fn limit_words(limit: &str) -> &str {
    Scope::Run
        .find(&format!("rate_limited_by.{limit}"))
        .and_then(|(m, _)| m.short.strip_prefix("by "))
        .unwrap_or(limit)
}

impl Binding<'_> {
    fn total(&self) -> u64 {
        self.by.named().iter().map(|&(_, n)| n).sum()
    }

    /// `input tokens/min on tier2 binds from minute 3`, or `… of
    /// organization (over a and b) binds …`.
    fn short(&self, s: &Summary) -> String {
        let on = match self.owner {
            Owner::Only => String::new(),
            Owner::Pool(p) => format!(" on {p}"),
            Owner::Group(g, pools) => format!(" of {g} (over {})", pools.join(" and ")),
        };
        format!(
            "{}{on} binds from {}",
            limit_words(self.first),
            when(s, self.first_s)
        )
    }

    /// The limit that refused most, and how many times.
    fn most(&self) -> (&'static str, u64) {
        self.by
            .named()
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .expect("every limit")
    }

    /// The limit that binds first and the one that refuses most, with counts.
    fn sentence(&self, s: &Summary) -> String {
        let total = self.total();
        let (most, most_n) = self.most();
        let who = match self.owner {
            Owner::Only => "The pool".to_owned(),
            Owner::Pool(p) => format!("Pool {p}"),
            Owner::Group(g, pools) => format!("Limits {g} over {}", pools.join(" and ")),
        };
        let first = limit_words(self.first);
        let share = percent(most_n as f64 / total.max(1) as f64);
        if most == self.first {
            format!(
                "{who}: {first} binds first, from {}, and refuses most ({share} of its {total} 429s).",
                when(s, self.first_s)
            )
        } else {
            format!(
                "{who}: {first} binds first, from {}; {} refuses most ({share} of its {total} 429s).",
                when(s, self.first_s),
                limit_words(most)
            )
        }
    }
}

fn binding<'a>(owner: Owner<'a>, refusals: &'a Refusals) -> Option<Binding<'a>> {
    Some(Binding {
        owner,
        by: &refusals.rate_limited_by,
        first: refusals.first_limit.as_deref()?,
        first_s: refusals.first_limit_s?,
    })
}

/// Each shared pool and each group of limits over several pools that
/// returned 429s, the earliest to bind first; the run's own tally when the
/// model has one pool.
fn binding_limits(s: &Summary) -> Vec<Binding<'_>> {
    let mut found: Vec<Binding<'_>> = if s.pools.is_empty() {
        binding(Owner::Only, &s.refusals).into_iter().collect()
    } else {
        let pools = s
            .pools
            .iter()
            .filter_map(|p: &PoolSummary| binding(Owner::Pool(&p.name), &p.refusals));
        let groups = s
            .limits
            .iter()
            .filter_map(|g| binding(Owner::Group(&g.name, &g.pools), &g.refusals));
        pools.chain(groups).collect()
    };
    // A limit that refused only during warm-up does not bind in the window.
    found.retain(|b| b.total() > 0);
    found.sort_by(|a, b| a.first_s.total_cmp(&b.first_s));
    found
}

/// The survivors' p99: latency that looks good because the loops that
/// would have been slow failed instead.
fn survivors(s: &Summary) -> Option<String> {
    survivors_note(s.loops_failed_share?, s.loop_latency_s.as_ref()?.p99)
}

/// The note on a p99 of `p99` when `share` of loops failed, if more than
/// one in a hundred did.
pub fn survivors_note(share: f64, p99: f64) -> Option<String> {
    (share > SURVIVORS).then(|| {
        format!(
            "The p99 of {} is a survivors' p99: it counts only the {} of loops that completed; with {} failing, the p99 of all loops is a failure.",
            seconds(p99),
            percent(1.0 - share),
            percent(share)
        )
    })
}

/// A shared pool, or a group of them, whose month would pass its tier's
/// monthly spend cap: the provider stops serving it once the cap is spent.
/// The month repeats the measured window round the clock, so a run with
/// faults says they repeat with it (a fallback's month is an outage's).
fn over_spend_cap(o: &OverSpendCap, s: &Summary) -> String {
    let whose = match (s.pools.is_empty(), o.pools.as_slice()) {
        (_, [_, ..]) => format!("The month of {} together ({})", o.pool, o.pools.join(", ")),
        (true, []) => "The month".to_owned(),
        (false, []) => format!("Pool {}'s month", o.pool),
    };
    // At this rate, a 730-hour month spends the cap this far in.
    let spent_s = o.month_share() * HOURS_PER_MONTH * 3600.0;
    let repeated = if s.faults.is_empty() {
        ""
    } else {
        " (a month of the measured window, its faults repeated with it)"
    };
    format!(
        "{whose}, {}{repeated}, is over its tier's {} monthly spend cap: the provider refuses its calls once the cap is spent, {} into a month at this rate; buy a tier whose cap covers it.",
        dollars(o.cost_per_month_usd),
        dollars(o.cap_usd),
        span(spent_s)
    )
}

/// A self-hosted pool whose autoscaler starts replicas far more often than
/// its headroom and the days measured call for.
fn flapping(p: &PoolSummary, s: &Summary) -> Option<String> {
    let h: &SelfHostedSummary = p.self_hosted.as_ref()?;
    let headroom = h.max_replicas.saturating_sub(h.min_replicas);
    let window_s = s.duration_s - s.warmup_s;
    let days = (window_s / 86_400.0).ceil().max(1.0);
    let allowed = STARTS_PER_HEADROOM_PER_DAY * f64::from(headroom) * days;
    (headroom > 0 && h.cold_starts as f64 > allowed).then(|| {
        format!(
            "The autoscaler of pool {} flaps: it started {} replicas in {} against a cap of {} ({:.1} starts per replica of headroom a day), each paying its cold start; lengthen its scale_down_after or window.",
            p.name,
            h.cold_starts,
            span(window_s),
            h.max_replicas,
            h.cold_starts as f64 / f64::from(headroom) / days
        )
    })
}

/// The window whose loops failed most, when it is worse than the run.
fn worst_window(s: &Summary) -> Option<String> {
    let run = s.loops_failed_share.unwrap_or(0.0);
    let w = s
        .windows
        .iter()
        .filter(|w| w.loops_failed_share.is_some_and(|f| f > run))
        .max_by(|a, b| {
            a.loops_failed_share
                .unwrap_or(0.0)
                .total_cmp(&b.loops_failed_share.unwrap_or(0.0))
        })?;
    let p99 = w
        .loop_latency_s
        .as_ref()
        .map_or(String::new(), |p| format!(", p99 {}", seconds(p.p99)));
    Some(format!(
        "Worst window: {} ({} to {}), {} of loops fail{p99}.",
        w.name,
        when(s, w.start_s),
        when(s, w.end_s),
        percent(w.loops_failed_share.unwrap_or(0.0))
    ))
}

/// A time of the run: its clock time when the model has a start, else
/// how far into the run.
fn when(s: &Summary, at_s: f64) -> String {
    match s.start_in_week_s {
        Some(start) => week_time(SimDuration::from_secs_f64(start + at_s)),
        None if at_s < 120.0 => format!("{at_s:.0} s"),
        None if at_s < 7200.0 => format!("minute {:.0}", (at_s / 60.0).floor()),
        None => format!("hour {:.1}", at_s / 3600.0),
    }
}

/// A length of time in its largest sensible unit.
pub fn span(s: f64) -> String {
    match s {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 2.0 * 86_400.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// The unit a latency of `s` seconds reads in: seconds below two minutes,
/// then minutes, then hours; its divisor, its name and its decimals (two
/// below ten seconds, else one).
fn latency_unit(s: f64) -> (f64, &'static str, usize) {
    let decimals = if s < 10.0 { 2 } else { 1 };
    match s {
        s if s < 120.0 => (1.0, "s", decimals),
        s if s < 7200.0 => (60.0, "min", 1),
        _ => (3600.0, "h", 1),
    }
}

/// A latency in its unit: "4.95 s", "20.0 min".
pub fn seconds(s: f64) -> String {
    let (scale, unit, decimals) = latency_unit(s);
    format!("{:.decimals$} {unit}", s / scale)
}

/// A latency and its half-width, both in the latency's unit.
pub fn seconds_interval(mean: f64, half: f64) -> String {
    let (scale, unit, decimals) = latency_unit(mean);
    format!(
        "{:.decimals$} ± {:.decimals$} {unit}",
        mean / scale,
        half / scale
    )
}

/// `mean`, and `± half` beside it unless the half-width is rounding noise
/// (a fixed price's), each shown by `show`.
pub fn with_interval(mean: f64, half: Option<f64>, show: impl Fn(f64) -> String) -> String {
    match half {
        Some(h) if h > 1e-9 * mean.abs() => format!("{} ± {}", show(mean), show(h)),
        _ => show(mean),
    }
}

/// A share as a percentage with the digits that tell it from 0% and 100%.
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    match p {
        p if p == 0.0 || p == 100.0 || (10.0..=90.0).contains(&p) => format!("{p:.0}%"),
        p if !(0.1..=99.9).contains(&p) => format!("{p:.2}%"),
        p => format!("{p:.1}%"),
    }
}

/// A count or rate, grouped in thousands, to a tenth below 100.
pub fn count(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        grouped(x.round() as u64)
    }
}

/// Dollars: cents below $100, whole dollars grouped in thousands above.
pub fn dollars(x: f64) -> String {
    if x < 100.0 {
        format!("${x:.2}")
    } else {
        format!("${}", grouped(x.round() as u64))
    }
}

/// A metric as the report shows it: 4 significant digits, the whole part
/// never rounded and grouped in thousands (1,262 · 0.001115 · 353,459,359).
pub fn number(x: f64) -> String {
    let text = significant(x, 4);
    let (sign, digits) = text.strip_prefix('-').map_or(("", &*text), |d| ("-", d));
    let (whole, fraction) = digits.split_once('.').map_or((digits, ""), |(w, f)| (w, f));
    if whole.len() <= 4 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return text;
    }
    let grouped = group_thousands(whole);
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{fraction}")
    }
}

fn grouped(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A string of digits with a comma between each group of three from the right.
pub fn group_thousands(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
