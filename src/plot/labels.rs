//! Metrics and axis paths in words, for figure labels.

/// A metric's name in words, its unit spelled out and its scope last, read
/// from the naming convention (`_s` seconds, `_per_min` per minute, `_usd`
/// US dollars; `classes.C.`, `windows.W.`, `faults.N.` scopes; a trailing
/// `p99`, `max` or `mean` statistic): `windows.surge-a-1.loop_latency_s.p99`
/// is "p99 loop latency (s), window surge-a-1".
pub fn metric_label(metric: &str) -> String {
    let mut parts: Vec<&str> = metric.split('.').collect();
    let scope = match parts.as_slice() {
        ["classes", name, ..] => Some(format!("class {name}")),
        ["windows", name, ..] => Some(format!("window {name}")),
        ["faults", n, ..] => Some(format!("fault {n}")),
        _ => None,
    };
    if scope.is_some() && parts.len() > 2 {
        parts.drain(..2);
    }
    let stat = match parts.last() {
        Some(&last) if parts.len() > 1 && is_statistic(last) => parts.pop(),
        _ => None,
    };
    let base = parts.join(" ");
    let (base, unit) = if let Some(b) = base.strip_suffix("_usd") {
        (b.to_owned(), " (US$)")
    } else if let Some(b) = base.strip_suffix("_s") {
        (b.to_owned(), " (s)")
    } else {
        (base, "")
    };
    let words = in_words(&base);
    let mut label = match stat {
        Some(stat) => format!("{stat} {words}{unit}"),
        None => format!("{words}{unit}"),
    };
    if let Some(scope) = scope {
        label.push_str(&format!(", {scope}"));
    }
    label
}

fn is_statistic(part: &str) -> bool {
    matches!(part, "max" | "mean" | "min")
        || part
            .strip_prefix('p')
            .is_some_and(|q| !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
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
            metric_label("loop_latency_cdf_s.p99_9"),
            "p99_9 loop latency cdf (s)"
        );
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
