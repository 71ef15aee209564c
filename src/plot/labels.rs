//! Metrics and axis paths in words, for figure labels.

use crate::model::measure::catalogue;

/// The title of the panel beneath a latency: the failed share of the same
/// loops, since a latency counts only those that completed.
pub const FAILED_TITLE: &str = "share of loops failed (latency counts only those completed)";

/// A metric's name in words, its unit spelled out and its scope last, as
/// the catalogue gives them: `windows.surge-a-1.loop_latency_s.p99` is "p99
/// loop latency (s), window surge-a-1". A name the catalogue does not know
/// (a column of a newer loopcap's runs.csv) reads as its words.
pub fn metric_label(metric: &str) -> String {
    catalogue::find(metric).map_or_else(|| in_words(metric), |named| named.label())
}

/// An axis's path in words: `workload.developers.users` is "users
/// (developers)", `capacity.max_concurrency` "max concurrency".
pub fn axis_path_label(path: &str) -> String {
    match path.split_once('.') {
        Some(("workload", rest)) => match rest.split_once('.') {
            Some((class, field)) => format!("{} ({class})", in_words(field)),
            None => in_words(rest),
        },
        Some(("capacity" | "agents", rest)) => in_words(rest),
        _ => in_words(path),
    }
}

/// A name in words: rates spelled out, underscores and dots as spaces.
fn in_words(name: &str) -> String {
    name.replace("per_min", "per minute")
        .replace("per_dollar", "per US dollar")
        .replace(['_', '.'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_words_with_units_and_scope() {
        assert_eq!(metric_label("loop_latency_s.p99"), "p99 loop latency (s)");
        assert_eq!(metric_label("loops_per_min"), "loops per minute");
        assert_eq!(
            metric_label("classes.big.loops_per_min"),
            "loops per minute, class big"
        );
        assert_eq!(
            metric_label("windows.surge-a-1.loop_latency_s.p99"),
            "p99 loop latency (s), window surge-a-1"
        );
        assert_eq!(metric_label("queue_wait_s.mean"), "mean queue wait (s)");
        assert_eq!(metric_label("cost_usd"), "cost (US$)");
        assert_eq!(metric_label("loops_per_dollar"), "loops per US dollar");
        assert_eq!(
            metric_label("pools.gpu.time_to_first_token_s.p95"),
            "p95 time to first token (s), pool gpu"
        );
        assert_eq!(metric_label("no_such.metric"), "no such metric");
        assert_eq!(metric_label("rate_limited"), "rate limited");
    }

    #[test]
    fn axis_labels_are_words() {
        assert_eq!(
            axis_path_label("workload.developers.users"),
            "users (developers)"
        );
        assert_eq!(
            axis_path_label("workload.customers.arrivals.per_min"),
            "arrivals per minute (customers)"
        );
        assert_eq!(
            axis_path_label("capacity.max_concurrency"),
            "max concurrency"
        );
        assert_eq!(axis_path_label("client.backoff"), "client backoff");
        assert_eq!(axis_path_label("plan"), "plan");
    }
}
