//! The human-readable summary that `loopcap run` prints. Every figure is
//! named in the metric catalogue's words, and the table notes each metric
//! it names: a test holds it to the catalogue, both ways.

use std::fmt::Write as _;

use crate::bytes::Bytes;
use crate::engine::SimDuration;
use crate::model::measure::catalogue::Scope;
use crate::model::measure::percentiles::Percentiles;
use crate::model::measure::summary::{LoopGroupSummary, Summary};
use crate::model::workload::classes::week_time;
use crate::report::verdict;
use writer::{Table, header, opt, pct, usd};

/// The clock time `offset_s` after a start `start_s` into the week.
fn clock(start_s: f64, offset_s: f64) -> String {
    week_time(SimDuration::from_secs_f64(start_s + offset_s))
}

/// Renders `summary` as an aligned, sectioned table; `peak_memory_bytes` is
/// the process's peak resident memory, where the platform tells it.
pub fn render(summary: &Summary, peak_memory_bytes: Option<u64>) -> String {
    noted(summary, peak_memory_bytes).out
}

/// The table, with the metrics it named.
fn noted(s: &Summary, peak_memory_bytes: Option<u64>) -> Table {
    let mut t = Table {
        out: String::new(),
        named: Vec::new(),
    };
    let _ = writeln!(t.out, "{} (seed {})", s.model, s.seed);
    t.out.push_str(&verdict::of_run(s).text());
    let from = s.start_in_week_s.map_or(String::new(), |start| {
        format!(" from {}", clock(start, 0.0))
    });
    let _ = writeln!(
        t.out,
        "simulated {} s{from}, measured after {} s of warm-up",
        s.duration_s, s.warmup_s
    );
    loops(&mut t, s);
    latency(&mut t, s);
    classes(&mut t, s);
    attempts(&mut t, s);
    windows(&mut t, s);
    pools::pools(&mut t, s);
    pools::models(&mut t, s);
    pools::shared_limits(&mut t, s);
    loop_groups(&mut t, s);
    faults(&mut t, s);
    cost(&mut t, s);
    t.heading("engine");
    t.run_line(
        "events",
        format!(
            "{} in {:.3} s ({:.2} M events/s)",
            s.events,
            s.wall_s,
            s.events_per_s / 1e6
        ),
    );
    if let Some(bytes) = peak_memory_bytes {
        t.line("peak memory", format!("{} resident", Bytes(bytes)));
    }
    t
}

/// The loops: how many, how they ended.
fn loops(t: &mut Table, s: &Summary) {
    t.heading("loops");
    t.run_line("loops_per_min", format!("{:.2}", s.loops_per_min));
    let ended = t.pairs(
        Scope::Run,
        &[
            ("loops_completed", s.loops_completed.to_string()),
            ("loops_failed", s.loops_failed.to_string()),
            ("loops_in_flight", s.loops_in_flight.to_string()),
        ],
    );
    t.run_line(
        "loops_started",
        format!("{}  = {}", s.loops_started, ended.replace(", ", " + ")),
    );
    if s.loops_failed > 0 {
        t.run_line("loops_failed_share", pct(s.loops_failed_share));
        let why = t.pairs(
            Scope::Run,
            &[
                (
                    "loops_failed_exhausted",
                    s.loops_failed_exhausted.to_string(),
                ),
                ("loops_failed_deadline", s.loops_failed_deadline.to_string()),
                (
                    "loops_failed_too_large",
                    s.loops_failed_too_large.to_string(),
                ),
                ("loops_failed_denied", s.loops_failed_denied.to_string()),
            ],
        );
        t.line("failed because", why);
    }
    t.run_line(
        "mean_loops_in_flight",
        format!("{:.2}", s.mean_loops_in_flight),
    );
}

/// Percentiles of latency and steps.
fn latency(t: &mut Table, s: &Summary) {
    let rows = [
        ("loop_latency_s", s.loop_latency_s, 2),
        ("step_latency_s", s.step_latency_s, 2),
        ("queue_wait_s", s.queue_wait_s, 2),
        ("steps_per_loop", s.steps_per_loop, 1),
    ];
    let _ = writeln!(
        t.out,
        "\n  {:<16}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "seconds", "p50", "p95", "p99", "max", "mean"
    );
    for (name, p, decimals) in rows {
        let label = t.label(Scope::Run, name);
        let cells: Vec<String> = match p {
            Some(p) => [p.p50, p.p95, p.p99, p.max, p.mean]
                .iter()
                .map(|v| format!("{v:.decimals$}"))
                .collect(),
            None => vec!["-".to_owned(); 5],
        };
        let _ = writeln!(
            t.out,
            "  {label:<16}{:>10}{:>10}{:>10}{:>10}{:>10}",
            cells[0], cells[1], cells[2], cells[3], cells[4]
        );
    }
}

/// Each class, when there are several.
fn classes(t: &mut Table, s: &Summary) {
    if s.classes.len() < 2 {
        return;
    }
    t.heading("classes (loops started after warm-up)");
    let columns = [
        "loops_started",
        "loops_failed_share",
        "loops_per_min",
        "loop_latency_s.p50",
        "loop_latency_s.p99",
        "arrivals_per_min",
        "sessions_per_min",
        "interarrival_cv",
    ];
    let header = header(t, "class", Scope::Class, &columns);
    let rows = s
        .classes
        .iter()
        .map(|(name, c)| {
            let latency = |f: fn(&Percentiles) -> f64| opt(c.loop_latency_s.as_ref().map(f), 1);
            vec![
                name.clone(),
                c.loops_started.to_string(),
                pct(c.loops_failed_share),
                format!("{:.2}", c.loops_per_min),
                latency(|p| p.p50),
                latency(|p| p.p99),
                format!("{:.2}", c.arrivals_per_min),
                opt(c.sessions_per_min, 2),
                opt(c.interarrival_cv, 2),
            ]
        })
        .collect();
    t.grid(1, header, rows);
}

/// Attempts and what refused or failed them.
fn attempts(t: &mut Table, s: &Summary) {
    t.heading("attempts");
    t.run_line("calls", s.calls);
    let per_min = t.words(Scope::Run, "attempts_per_min");
    t.run_line(
        "attempts",
        format!("{}  ({:.1} {per_min})", s.attempts, s.attempts_per_min),
    );
    let rate = t.words(Scope::Run, "retry_rate");
    t.run_line(
        "retries",
        format!("{}  ({rate} {})", s.retries, pct(s.retry_rate)),
    );
    t.line("retry-after honoured", &s.retry_after);
    for (name, count, always) in [
        ("throttled", s.throttled, false),
        ("rate_limited", s.rate_limited, true),
        ("overloaded", s.overloaded, true),
        ("timeouts", s.timeouts, true),
        ("unavailable", s.unavailable, false),
        ("server_errors", s.server_errors, false),
        ("expired", s.expired, false),
        ("rejected_locally", s.rejected_locally, false),
        ("retries_denied", s.retries_denied, false),
        ("queue_rejected", s.queue_rejected, false),
        ("too_large", s.too_large, false),
    ] {
        if always || count > 0 {
            t.run_line(name, count);
        }
    }
    pools::limits(t, Scope::Run, "run", &s.refusals);
    t.run_line(
        "amplification",
        format!("{} attempts per loop", opt(s.amplification, 2)),
    );
    t.run_line("peak_in_flight", s.peak_in_flight);
    t.run_line("mean_in_flight", format!("{:.2}", s.mean_in_flight));
    if let Some(u) = s.lane_utilization {
        t.run_line("lane_utilization", pct(Some(u)));
    }
    if let Some(w) = s.waited_share {
        t.run_line("waited_share", pct(Some(w)));
    }
    if s.lane_queue_unbounded == Some(true) {
        let unbounded = t.words(Scope::Run, "lane_queue_unbounded");
        let growth = t.words(Scope::Run, "lane_queue_growth_per_min");
        t.line(
            "UNSTABLE",
            format!(
                "{unbounded} ({growth} {:+.1}, never empty in the second half): the load offered exceeds the lanes, so these figures describe a transient, not a steady state",
                s.lane_queue_growth_per_min.unwrap_or(0.0)
            ),
        );
    }
}

/// Each window.
fn windows(t: &mut Table, s: &Summary) {
    if s.windows.is_empty() {
        return;
    }
    t.heading("windows (loops started in each, followed to their end; the rest inside it)");
    let columns = [
        "loops_started",
        "loops_failed_share",
        "loops_per_min",
        "loop_latency_s.p50",
        "loop_latency_s.p99",
        "attempts",
        "retries",
        "rate_limited",
        "peak_in_flight",
        "cost_usd",
    ];
    let mut header = header(t, "window", Scope::Window, &columns);
    header.insert(
        1,
        if s.start_in_week_s.is_some() {
            "from-to"
        } else {
            "from-to s"
        }
        .to_owned(),
    );
    let rows = s
        .windows
        .iter()
        .map(|w| {
            let p = |f: fn(&Percentiles) -> f64| opt(w.loop_latency_s.as_ref().map(f), 1);
            vec![
                w.name.clone(),
                match s.start_in_week_s {
                    Some(start) => format!("{}-{}", clock(start, w.start_s), clock(start, w.end_s)),
                    None => format!("{:.0}-{:.0}", w.start_s, w.end_s),
                },
                w.loops_started.to_string(),
                pct(w.loops_failed_share),
                format!("{:.2}", w.loops_per_min),
                p(|p| p.p50),
                p(|p| p.p99),
                w.attempts.to_string(),
                w.retries.to_string(),
                w.rate_limited.to_string(),
                w.peak_in_flight.to_string(),
                usd(w.cost_usd),
            ]
        })
        .collect();
    t.grid(1, header, rows);
}

/// Warm and cold loops (self-hosted pools).
fn loop_groups(t: &mut Table, s: &Summary) {
    for (scope, label, group) in [
        (Scope::WarmLoops, "warm loops", &s.warm_loops),
        (Scope::ColdLoops, "cold loops", &s.cold_loops),
    ] {
        if let Some(g) = group {
            let listed = loop_group(t, scope, g);
            t.line(label, listed);
        }
    }
}

fn loop_group(t: &mut Table, scope: Scope, g: &LoopGroupSummary) -> String {
    let latency = |f: fn(&Percentiles) -> f64| opt(g.loop_latency_s.as_ref().map(f), 1);
    t.pairs(
        scope,
        &[
            ("loops_completed", g.loops_completed.to_string()),
            ("loops_per_min", format!("{:.2}", g.loops_per_min)),
            ("loops_failed", g.loops_failed.to_string()),
            ("loops_failed_share", pct(g.loops_failed_share)),
            ("loop_latency_s.p50", latency(|p| p.p50)),
            ("loop_latency_s.p99", latency(|p| p.p99)),
        ],
    )
}

/// Each fault and whether goodput recovered.
fn faults(t: &mut Table, s: &Summary) {
    if s.faults.is_empty() {
        return;
    }
    t.heading("faults (goodput in loops per minute)");
    for f in &s.faults {
        let goodput = t.pairs(
            Scope::Fault,
            &[
                ("goodput_before_per_min", opt(f.goodput_before_per_min, 2)),
                ("goodput_during_per_min", opt(f.goodput_during_per_min, 2)),
                ("goodput_after_per_min", opt(f.goodput_after_per_min, 2)),
            ],
        );
        let recovered = t.words(Scope::Fault, "recovered");
        let recovery = t.label(Scope::Fault, "recovery_s");
        let verdict = match (f.recovered, f.recovery_s) {
            (Some(true), Some(at)) => format!("{recovered} ({recovery} {at:.0} s after it ended)"),
            (Some(false), _) => format!("not {recovered}"),
            _ => "no goodput before it to recover to".to_owned(),
        };
        t.line(
            &format!("{} {:.0}-{:.0} s", f.kind, f.start_s, f.end_s),
            format!("{goodput}: {verdict}"),
        );
    }
}

/// Tokens and cost.
fn cost(t: &mut Table, s: &Summary) {
    t.heading("cost");
    t.run_line("input_tokens", s.input_tokens);
    t.run_line("cached_input_tokens", s.cached_input_tokens);
    if s.cache_write_tokens > 0 {
        t.run_line("cache_write_tokens", s.cache_write_tokens);
    }
    if let Some(long) = s.long_context_input_tokens {
        let share = long as f64 / s.input_tokens.max(1) as f64;
        t.run_line(
            "long_context_input_tokens",
            format!("{long} ({})", pct(Some(share))),
        );
    }
    t.run_line("output_tokens", s.output_tokens);
    t.run_line("cost_usd", usd(s.cost_usd));
    t.run_line("loops_per_dollar", opt(s.loops_per_dollar, 2));
    t.run_line("cost_per_loop_usd", opt(s.cost_per_loop_usd, 3));
    let committed = t.words(Scope::Run, "committed_per_month_usd");
    t.run_line(
        "cost_per_month_usd",
        format!(
            "{} ({committed} {})",
            usd(s.cost_per_month_usd),
            usd(s.committed_per_month_usd)
        ),
    );
    t.line("month reckoned from", &s.month_basis);
    // Shown where a cap is spent before the month is out (the verdict says whose).
    if s.spend_cap_month_share < 1.0 {
        t.run_line("spend_cap_month_share", pct(Some(s.spend_cap_month_share)));
    }
}

mod pools;
#[cfg(test)]
mod tests;
mod writer;
