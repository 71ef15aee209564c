//! The table's sections of each pool and each model: their work, bills,
//! refusals, the limits that refused them and which bound first.

use std::fmt::Write as _;

use super::writer::{Table, header, opt, pct, usd};
use crate::model::measure::by_model::Refusals;
use crate::model::measure::catalogue::Scope;
use crate::model::measure::percentiles::Percentiles;
use crate::model::measure::summary::Summary;

/// Each pool, what it refused, and self-hosted replicas.
pub(super) fn pools(t: &mut Table, s: &Summary) {
    if s.pools.is_empty() {
        return;
    }
    t.heading("pools (attempts the router sent each, after warm-up)");
    let columns = [
        "attempts",
        "served",
        "mean_in_flight",
        "busy_share",
        "cost_usd",
        "cost_per_month_usd",
        "committed_per_month_usd",
    ];
    let mut header = header(t, "pool", Scope::Pool, &columns);
    header.insert(1, "kind".to_owned());
    let rows = s
        .pools
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.kind.clone(),
                p.attempts.to_string(),
                p.served.to_string(),
                format!("{:.2}", p.mean_in_flight),
                pct(p.busy_share),
                usd(p.cost_usd),
                usd(p.cost_per_month_usd),
                usd(p.committed_per_month_usd),
            ]
        })
        .collect();
    t.grid(2, header, rows);
    for p in &s.pools {
        t.line(&format!("{} billed", p.name), &p.billing);
    }
    for p in &s.pools {
        let failures: Vec<(&str, String)> = [
            ("rate_limited", p.rate_limited),
            (
                "rate_limited_by_shared_limits",
                p.rate_limited_by_shared_limits,
            ),
            ("overloaded", p.overloaded),
            ("queue_rejected", p.queue_rejected),
            ("too_large", p.too_large),
            ("unavailable", p.unavailable),
            ("server_errors", p.server_errors),
            ("timed_out", p.timed_out),
            ("expired", p.expired),
            ("cool_downs", p.cool_downs),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(name, n)| (name, n.to_string()))
        .collect();
        if !failures.is_empty() {
            let listed = t.pairs(Scope::Pool, &failures);
            let _ = writeln!(t.out, "  {}: {listed}", p.name);
        }
        limits(t, Scope::Pool, &p.name, &p.refusals);
    }
    for p in &s.pools {
        let Some(h) = &p.self_hosted else { continue };
        let ttft = |f: fn(&Percentiles) -> f64| opt(h.time_to_first_token_s.as_ref().map(f), 2);
        let tpot = |f: fn(&Percentiles) -> f64| opt(h.time_per_output_token_s.as_ref().map(f), 4);
        let listed = t.pairs(
            Scope::Pool,
            &[
                ("mean_replicas", format!("{:.2}", h.mean_replicas)),
                ("replica_hours", format!("{:.2}", h.replica_hours)),
                ("cold_starts", h.cold_starts.to_string()),
                ("min_replicas", h.min_replicas.to_string()),
                ("max_replicas", h.max_replicas.to_string()),
                ("mean_batch", opt(h.mean_batch, 1)),
                ("p95_batch", opt(h.p95_batch, 0)),
                (
                    "output_tokens_per_s",
                    format!("{:.1}", h.output_tokens_per_s),
                ),
                ("time_to_first_token_s.p50", ttft(|t| t.p50)),
                ("time_to_first_token_s.p90", ttft(|t| t.p90)),
                ("time_to_first_token_s.p99", ttft(|t| t.p99)),
                ("time_per_output_token_s.p50", tpot(|t| t.p50)),
                ("time_per_output_token_s.p90", tpot(|t| t.p90)),
                ("time_per_output_token_s.p99", tpot(|t| t.p99)),
                ("preemptions", h.preemptions.to_string()),
                ("prefix_cache_hit_share", pct(h.prefix_cache_hit_share)),
                ("kv_cache_utilization", pct(h.kv_cache_utilization)),
            ],
        );
        let _ = writeln!(t.out, "  {}: {listed}", p.name);
    }
}

/// Each model, the limits that refused it, and the limit that bound first.
pub(super) fn models(t: &mut Table, s: &Summary) {
    if s.by_model.is_empty() {
        return;
    }
    t.heading("models (after warm-up)");
    let columns = [
        "attempts",
        "rate_limited",
        "first_limit_s",
        "input_tokens",
        "output_tokens",
        "cost_usd",
    ];
    let header = header(t, "model", Scope::Model, &columns);
    let rows = s
        .by_model
        .iter()
        .map(|m| {
            let first = match (&m.refusals.first_limit, m.refusals.first_limit_s) {
                (Some(limit), Some(t)) => format!("{limit} at {t:.0}"),
                _ => "-".to_owned(),
            };
            vec![
                m.name.clone(),
                m.attempts.to_string(),
                m.rate_limited.to_string(),
                first,
                m.input_tokens.to_string(),
                m.output_tokens.to_string(),
                usd(m.cost_usd),
            ]
        })
        .collect();
    t.grid(1, header, rows);
    for m in &s.by_model {
        limits(t, Scope::Model, &m.name, &m.refusals);
    }
    let first = s
        .by_model
        .iter()
        .filter_map(|m| {
            let r = &m.refusals;
            Some((r.first_limit_s?, r.first_limit.as_deref()?, &m.name))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((at, limit, model)) = first {
        t.line("bound first", format!("{model}'s {limit}, at {at:.0} s"));
    }
}

/// Each group of limits over several pools, the pools it holds, and its 429s.
pub(super) fn shared_limits(t: &mut Table, s: &Summary) {
    if s.limits.is_empty() {
        return;
    }
    t.heading("shared limits (over several pools, after warm-up)");
    for g in &s.limits {
        let listed = t.pairs(
            Scope::Limits,
            &[("rate_limited", g.rate_limited.to_string())],
        );
        let _ = writeln!(t.out, "  {} over {}: {listed}", g.name, g.pools.join(", "));
        limits(t, Scope::Limits, &g.name, &g.refusals);
    }
}

/// `who`'s 429s by the limit that refused them, and the limit that refused
/// first: the one that binds. Nothing when none refused.
pub(super) fn limits(t: &mut Table, scope: Scope, who: &str, refusals: &Refusals) {
    let counts: Vec<(String, String)> = refusals
        .rate_limited_by
        .named()
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(limit, n)| (format!("rate_limited_by.{limit}"), n.to_string()))
        .collect();
    if counts.is_empty() {
        return;
    }
    let pairs: Vec<(&str, String)> = counts
        .iter()
        .map(|(c, n)| (c.as_str(), n.clone()))
        .collect();
    let listed = t.pairs(scope, &pairs);
    t.note(scope, "first_limit_s");
    let first = match (&refusals.first_limit, refusals.first_limit_s) {
        (Some(limit), Some(at)) => format!("; {limit} first, at {at:.0} s"),
        _ => String::new(),
    };
    let _ = writeln!(t.out, "  {who} 429s: {listed}{first}");
}
