//! The human-readable summary that `loopcap run` prints.

use std::fmt::Write as _;

use crate::bytes::Bytes;
use crate::model::measure::percentiles::Percentiles;
use crate::model::measure::summary::Summary;

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn percentile_row(out: &mut String, label: &str, p: Option<Percentiles>, decimals: usize) {
    let cells: Vec<String> = match p {
        Some(p) => [p.p50, p.p95, p.p99, p.max, p.mean]
            .iter()
            .map(|v| format!("{v:.decimals$}"))
            .collect(),
        None => vec!["-".to_owned(); 5],
    };
    let _ = writeln!(
        out,
        "  {label:<16}{:>10}{:>10}{:>10}{:>10}{:>10}",
        cells[0], cells[1], cells[2], cells[3], cells[4]
    );
}

fn line(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {label:<24}{value}");
}

/// Renders `summary` as an aligned, sectioned table; `peak_memory_bytes` is
/// the process's peak resident memory, where the platform tells it.
pub fn render(summary: &Summary, peak_memory_bytes: Option<u64>) -> String {
    let s = summary;
    let mut out = String::new();
    let _ = writeln!(out, "{} (seed {})", s.model, s.seed);
    let _ = writeln!(
        out,
        "simulated {} s, measured after {} s of warm-up\n",
        s.duration_s, s.warmup_s
    );

    loops(&mut out, s);
    latency(&mut out, s);
    classes(&mut out, s);
    attempts(&mut out, s);
    windows(&mut out, s);
    pools(&mut out, s);
    models(&mut out, s);
    loop_groups(&mut out, s);
    faults(&mut out, s);
    cost(&mut out, s);

    let _ = writeln!(out, "\nengine");
    line(
        &mut out,
        "events",
        format!(
            "{} in {:.3} s ({:.2} M events/s)",
            s.events,
            s.wall_s,
            s.events_per_s / 1e6
        ),
    );
    if let Some(bytes) = peak_memory_bytes {
        line(
            &mut out,
            "peak memory",
            format!("{} resident", Bytes(bytes)),
        );
    }
    out
}

/// The loops: how many, how they ended.
fn loops(out: &mut String, s: &Summary) {
    let _ = writeln!(out, "loops");
    line(out, "loops/min", format!("{:.2}", s.loops_per_min));
    line(
        out,
        "started",
        format!(
            "{}  = completed {} + failed {} + in flight {}",
            s.loops_started, s.loops_completed, s.loops_failed, s.loops_in_flight
        ),
    );
    if s.loops_failed > 0 {
        line(
            out,
            "failed share",
            format!("{}%", opt(s.loops_failed_share.map(|f| f * 100.0), 1)),
        );
        line(
            out,
            "failed because",
            format!(
                "attempts exhausted {}, deadline {}, call too large {}, retry denied {}",
                s.loops_failed_exhausted,
                s.loops_failed_deadline,
                s.loops_failed_too_large,
                s.loops_failed_denied
            ),
        );
    }
    line(
        out,
        "mean loops in flight",
        format!("{:.2}", s.mean_loops_in_flight),
    );
}

/// Percentiles of latency and steps.
fn latency(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "\n  {:<16}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "seconds", "p50", "p95", "p99", "max", "mean"
    );
    percentile_row(out, "loop latency", s.loop_latency_s, 2);
    percentile_row(out, "step latency", s.step_latency_s, 2);
    percentile_row(out, "queue wait", s.queue_wait_s, 2);
    percentile_row(out, "steps per loop", s.steps_per_loop, 1);
}

/// Each class, when there are several.
fn classes(out: &mut String, s: &Summary) {
    if s.classes.len() > 1 {
        let _ = writeln!(out, "\nclasses (loops started after warm-up)");
        let _ = writeln!(
            out,
            "  {:<16}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "class", "started", "failed", "loops/min", "p50 s", "p99 s"
        );
        for (name, c) in &s.classes {
            let latency = |f: fn(&Percentiles) -> f64| opt(c.loop_latency_s.as_ref().map(f), 1);
            let _ = writeln!(
                out,
                "  {:<16}{:>10}{:>10}{:>10.2}{:>10}{:>10}",
                name,
                c.loops_started,
                format!("{}%", opt(c.loops_failed_share.map(|f| f * 100.0), 1)),
                c.loops_per_min,
                latency(|p| p.p50),
                latency(|p| p.p99),
            );
        }
    }
}

/// Attempts and what refused or failed them.
fn attempts(out: &mut String, s: &Summary) {
    let _ = writeln!(out, "\nattempts");
    line(out, "calls", s.calls);
    line(
        out,
        "attempts",
        format!("{}  ({:.1} per minute)", s.attempts, s.attempts_per_min),
    );
    line(
        out,
        "retries",
        format!("{}  (retry rate {})", s.retries, opt(s.retry_rate, 3)),
    );
    line(out, "retry-after honoured", &s.retry_after);
    if s.throttled > 0 {
        line(out, "held by client throttle", s.throttled);
    }
    line(out, "rate limited (429)", s.rate_limited);
    line(out, "overloaded (529)", s.overloaded);
    line(out, "timeouts", s.timeouts);
    if s.unavailable + s.server_errors > 0 {
        line(
            out,
            "errors (503, 500)",
            format!("{}, {}", s.unavailable, s.server_errors),
        );
    }
    if s.rejected_locally > 0 {
        line(out, "failed by the client", s.rejected_locally);
    }
    if s.retries_denied > 0 {
        line(out, "retries denied", s.retries_denied);
    }
    if s.queue_rejected > 0 {
        line(out, "queue full", s.queue_rejected);
    }
    if s.too_large > 0 {
        line(out, "too large for a bucket", s.too_large);
    }
    line(
        out,
        "amplification",
        format!("{} attempts per loop", opt(s.amplification, 2)),
    );
    line(
        out,
        "in flight",
        format!("peak {}, mean {:.2}", s.peak_in_flight, s.mean_in_flight),
    );
    if let Some(u) = s.lane_utilization {
        line(out, "lane utilization", format!("{:.1}%", u * 100.0));
    }
    if s.lane_queue_unbounded == Some(true) {
        line(
            out,
            "UNSTABLE",
            format!(
                "the lane queue grows without bound ({:+.1} per minute, never empty in the second half): the load offered exceeds the lanes, so these figures describe a transient, not a steady state",
                s.lane_queue_growth_per_min.unwrap_or(0.0)
            ),
        );
    }
}

/// Each window.
fn windows(out: &mut String, s: &Summary) {
    if !s.windows.is_empty() {
        let _ = writeln!(
            out,
            "\nwindows (loops started in each, followed to their end; the rest inside it)"
        );
        let _ = writeln!(
            out,
            "  {:<24}{:>14}{:>9}{:>8}{:>10}{:>10}{:>10}{:>9}{:>8}{:>7}{:>10}",
            "window",
            "from-to s",
            "started",
            "failed",
            "loops/min",
            "p50 s",
            "p99 s",
            "attempts",
            "429s",
            "peak",
            "cost"
        );
        for w in &s.windows {
            let p = |f: fn(&Percentiles) -> f64| opt(w.loop_latency_s.as_ref().map(f), 1);
            let _ = writeln!(
                out,
                "  {:<24}{:>14}{:>9}{:>8}{:>10.2}{:>10}{:>10}{:>9}{:>8}{:>7}{:>10}",
                w.name,
                format!("{:.0}-{:.0}", w.start_s, w.end_s),
                w.loops_started,
                w.loops_failed_share
                    .map_or_else(|| "-".to_owned(), |f| format!("{:.1}%", f * 100.0)),
                w.loops_per_min,
                p(|p| p.p50),
                p(|p| p.p99),
                w.attempts,
                w.rate_limited,
                w.peak_in_flight,
                format!("${:.2}", w.cost_usd)
            );
        }
    }
}

/// Each pool, and self-hosted replicas.
fn pools(out: &mut String, s: &Summary) {
    if !s.pools.is_empty() {
        let _ = writeln!(
            out,
            "\npools (attempts the router sent each, after warm-up)"
        );
        let _ = writeln!(
            out,
            "  {:<16}{:<12}{:>10}{:>10}{:>10}{:>10}{:>8}{:>12}",
            "pool", "kind", "attempts", "served", "refused", "in flight", "busy", "cost"
        );
        for p in &s.pools {
            let refused = p.rate_limited
                + p.overloaded
                + p.queue_rejected
                + p.too_large
                + p.unavailable
                + p.server_errors;
            let _ = writeln!(
                out,
                "  {:<16}{:<12}{:>10}{:>10}{:>10}{:>10.2}{:>8}{:>12}",
                p.name,
                p.kind,
                p.attempts,
                p.served,
                refused,
                p.mean_in_flight,
                p.busy_share
                    .map_or_else(|| "-".to_owned(), |b| format!("{:.1}%", b * 100.0)),
                format!("${:.2}", p.cost_usd)
            );
        }
        for p in &s.pools {
            let Some(h) = &p.self_hosted else { continue };
            let ttft = |f: fn(&Percentiles) -> f64| opt(h.time_to_first_token_s.as_ref().map(f), 2);
            let _ = writeln!(
                out,
                "  {}: {:.2} replicas on average ({:.2} replica-hours, {} cold starts); batch mean {} / p95 {}; {:.1} output tokens/s; first token p50 {} s / p99 {} s; KV cache {}% used",
                p.name,
                h.mean_replicas,
                h.replica_hours,
                h.cold_starts,
                opt(h.mean_batch, 1),
                opt(h.p95_batch, 0),
                h.output_tokens_per_s,
                ttft(|t| t.p50),
                ttft(|t| t.p99),
                opt(h.kv_cache_utilization.map(|u| u * 100.0), 1),
            );
        }
    }
}

/// Each model, and the limit that bound first.
fn models(out: &mut String, s: &Summary) {
    if !s.by_model.is_empty() {
        let _ = writeln!(out, "\nmodels (after warm-up)");
        let _ = writeln!(
            out,
            "  {:<16}{:>10}{:>8}  {:<34}{:>14}{:>12}{:>12}",
            "model", "attempts", "429s", "first 429 (limit, s)", "input tokens", "output", "cost"
        );
        for m in &s.by_model {
            let first = match (&m.first_limit, m.first_limit_s) {
                (Some(limit), Some(t)) => format!("{limit} at {t:.0}"),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:<16}{:>10}{:>8}  {:<34}{:>14}{:>12}{:>12}",
                m.name,
                m.attempts,
                m.rate_limited,
                first,
                m.input_tokens,
                m.output_tokens,
                format!("${:.2}", m.cost_usd)
            );
        }
        let first = s
            .by_model
            .iter()
            .filter_map(|m| Some((m.first_limit_s?, m.first_limit.as_deref()?, &m.name)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((t, limit, model)) = first {
            line(
                out,
                "bound first",
                format!("{model}'s {limit}, at {t:.0} s"),
            );
        }
    }
}

/// Warm and cold loops (self-hosted pools).
fn loop_groups(out: &mut String, s: &Summary) {
    for (label, group) in [("warm loops", &s.warm_loops), ("cold loops", &s.cold_loops)] {
        if let Some(g) = group {
            let latency = |f: fn(&Percentiles) -> f64| opt(g.loop_latency_s.as_ref().map(f), 1);
            line(
                out,
                label,
                format!(
                    "{} completed ({:.2}/min), {} failed; latency p50 {} s / p99 {} s",
                    g.loops_completed,
                    g.loops_per_min,
                    g.loops_failed,
                    latency(|p| p.p50),
                    latency(|p| p.p99),
                ),
            );
        }
    }
}

/// Each fault and whether goodput recovered.
fn faults(out: &mut String, s: &Summary) {
    if !s.faults.is_empty() {
        let _ = writeln!(out, "\nfaults (goodput in loops per minute)");
        for f in &s.faults {
            let verdict = match (f.recovered, f.recovery_s) {
                (Some(true), Some(t)) => format!("recovered {t:.0} s after it ended"),
                (Some(false), _) => "did not recover".to_owned(),
                _ => "no goodput before it to recover to".to_owned(),
            };
            line(
                out,
                &format!("{} {:.0}-{:.0} s", f.kind, f.start_s, f.end_s),
                format!(
                    "before {}, during {}, after {}: {verdict}",
                    opt(f.goodput_before_per_min, 2),
                    opt(f.goodput_during_per_min, 2),
                    opt(f.goodput_after_per_min, 2)
                ),
            );
        }
    }
}

/// Tokens and cost.
fn cost(out: &mut String, s: &Summary) {
    let _ = writeln!(out, "\ncost");
    line(
        out,
        "tokens billed",
        match s.cache_write_tokens {
            0 => format!(
                "{} in ({} from cache), {} out",
                s.input_tokens, s.cached_input_tokens, s.output_tokens
            ),
            written => format!(
                "{} in ({} from cache, {written} written to it), {} out",
                s.input_tokens, s.cached_input_tokens, s.output_tokens
            ),
        },
    );
    line(out, "cost", format!("${:.2}", s.cost_usd));
    line(out, "loops per dollar", opt(s.loops_per_dollar, 2));
    line(
        out,
        "cost per loop",
        s.cost_per_loop_usd
            .map_or_else(|| "-".to_owned(), |c| format!("${c:.3}")),
    );
}
