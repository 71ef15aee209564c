//! Capacity in plain words, for a page that compares plans: what a plan's
//! `set` (or a model) buys, "8 reserved lanes at $4/lane-hour", instead of
//! the TOML it is written in (which the page keeps, folded).

use toml::{Table, Value};

use crate::config::presets;

/// What the TOML table `set` (a plan's `set`) buys, in words: its
/// capacity as [`capacity_in_words`] says it, then any other key as a
/// dotted setting. Empty when it sets nothing.
fn in_words(set: &Table) -> String {
    let mut parts: Vec<String> = Some(capacity_in_words(set))
        .filter(|c| !c.is_empty())
        .into_iter()
        .collect();
    for (key, value) in set {
        if !CAPACITY.contains(&key.as_str()) {
            dotted(key, value, &mut parts);
        }
    }
    parts.join("; ")
}

/// The keys of a model or plan that say what capacity it buys.
const CAPACITY: [&str; 4] = ["pool", "capacity", "prices", "router"];

/// The capacity a model or plan buys, in words: each pool's capacity and
/// prices, then how the router spreads calls.
pub fn capacity_in_words(set: &Table) -> String {
    let mut parts = Vec::new();
    if let Some(pools) = set.get("pool").and_then(Value::as_array) {
        for pool in pools.iter().filter_map(Value::as_table) {
            let name = pool.get("name").and_then(Value::as_str).unwrap_or("?");
            parts.push(format!("pool {name}: {}", pool_words(pool)));
        }
    }
    if set.contains_key("capacity") || set.contains_key("prices") {
        parts.push(pool_words(set));
    }
    if let Some(router) = set.get("router").and_then(Value::as_table) {
        parts.extend(router_words(router));
    }
    parts.join("; ")
}

/// `value` at `path` as `path.to.leaf = leaf` settings.
fn dotted(path: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Table(t) => {
            for (key, v) in t {
                dotted(&format!("{path}.{key}"), v, out);
            }
        }
        leaf => out.push(format!("{path} = {leaf}")),
    }
}

/// The `set` text of a plan (`key = value, ...`, as a manifest lists it)
/// in words; the text itself if it does not read as TOML.
pub fn set_in_words(set: &str) -> String {
    match format!("set = {{ {set} }}").parse::<Table>() {
        Ok(mut t) => match t.remove("set") {
            Some(Value::Table(set)) => in_words(&set),
            _ => set.to_owned(),
        },
        Err(_) => set.to_owned(),
    }
}

/// A pool's (or a model's) `capacity` and `prices` in words, a preset's
/// limits and prices among them.
fn pool_words(pool: &Table) -> String {
    let mut pool = pool.clone();
    presets::spelled_out(&mut pool);
    let capacity = pool.get("capacity").and_then(Value::as_table);
    let mut words = capacity.map_or_else(Vec::new, capacity_words);
    if let Some(name) = capacity
        .and_then(|c| c.get("preset"))
        .and_then(Value::as_str)
    {
        words.push(format!("preset {name}"));
    }
    if let Some(prices) = pool.get("prices").and_then(Value::as_table) {
        words.extend(price_words(prices));
    }
    words.join(", ")
}

fn number(t: &Table, key: &str) -> Option<f64> {
    match t.get(key)? {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A count grouped in thousands: 450,000.
fn count(x: f64) -> String {
    crate::report::verdict::number(x)
}

fn capacity_words(c: &Table) -> Vec<String> {
    let kind = c.get("kind").and_then(Value::as_str).unwrap_or("");
    let limits = |pairs: &[(&str, &str)]| -> Vec<String> {
        pairs
            .iter()
            .filter_map(|&(key, unit)| Some(format!("{} {unit}", count(number(c, key)?))))
            .collect()
    };
    match kind {
        "shared_api" => {
            let mut words = vec!["shared API".to_owned()];
            words.extend(limits(&[
                ("requests_per_min", "requests/min"),
                ("input_tokens_per_min", "input tokens/min"),
                ("output_tokens_per_min", "output tokens/min"),
                ("tokens_per_min", "tokens/min"),
                ("provisioned_units", "provisioned units"),
                ("tokens_per_min_per_unit", "tokens/min a unit"),
                ("max_concurrency", "at once"),
            ]));
            words
        }
        "reserved" => {
            let lanes = number(c, "lanes").map_or("?".to_owned(), count);
            let mut words = vec![format!("{lanes} reserved lanes")];
            words.extend(limits(&[("queue_limit", "queued at most")]));
            words
        }
        "self_hosted" => {
            let replicas = match (number(c, "min_replicas"), number(c, "max_replicas")) {
                (Some(lo), Some(hi)) => format!("{}–{} replicas, autoscaled", count(lo), count(hi)),
                _ => format!(
                    "{} replicas",
                    number(c, "replicas").map_or("?".to_owned(), count)
                ),
            };
            let mut words = vec![format!("self-hosted, {replicas}")];
            words.extend(limits(&[("max_sequences", "sequences each")]));
            words
        }
        "batch" => vec!["Batch API".to_owned()],
        other => vec![other.to_owned()],
    }
}

fn price_words(p: &Table) -> Vec<String> {
    let usd = |x: f64| {
        if x == x.trunc() {
            format!("${}", count(x))
        } else {
            format!("${x}")
        }
    };
    [
        ("per_lane_hour", " a lane-hour"),
        ("per_replica_hour", " a replica-hour"),
        ("per_provisioned_unit_hour", " a unit-hour"),
        ("per_provisioned_unit_month", " a unit a month"),
        ("per_month", " a month"),
        ("input_per_mtok", "/M input tokens"),
        ("cached_input_per_mtok", "/M cached"),
        ("output_per_mtok", "/M output"),
    ]
    .iter()
    .filter_map(|&(key, per)| Some(format!("{}{per}", usd(number(p, key)?))))
    .chain(
        p.get("long_context")
            .and_then(Value::as_table)
            .and_then(|l| {
                let above = count(number(l, "above_input_tokens")?);
                let input = number(l, "input_per_mtok")
                    .map_or(String::new(), |x| format!(" ({}/M input)", usd(x)));
                Some(format!(
                    "long-context rates past {above} input tokens{input}"
                ))
            }),
    )
    .collect()
}

fn router_words(r: &Table) -> Option<String> {
    let names = |key: &str| -> Vec<&str> {
        r.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let text = |key: &str| r.get(key).and_then(Value::as_str).unwrap_or("?");
    match r.get("kind").and_then(Value::as_str)? {
        "single" => None,
        "spillover" => Some(format!("spilling {}", names("order").join(" → "))),
        "failover" => Some(format!(
            "failing over from {} to {}",
            text("primary"),
            text("fallback")
        )),
        "weighted" => Some(format!(
            "weighted {}",
            r.get("weights").map_or(String::new(), Value::to_string)
        )),
        other => Some(format!("router {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_as_what_it_buys() {
        let tier = r#"pool = [{ name = "tier2", capacity = { kind = "shared_api", requests_per_min = 1000, input_tokens_per_min = 450000, output_tokens_per_min = 90000, time_to_first_token = { dist = "lognormal", median = "1.2s", p99 = "6s" } }, prices = { input_per_mtok = 3.0, cached_input_per_mtok = 0.30, output_per_mtok = 15.0 } }], router = { kind = "single", pool = "tier2" }"#;
        assert_eq!(
            set_in_words(tier),
            "pool tier2: shared API, 1000 requests/min, 450,000 input tokens/min, 90,000 output tokens/min, $3/M input tokens, $0.3/M cached, $15/M output"
        );
        let spill = r#"pool = [{ name = "lanes", capacity = { kind = "reserved", lanes = 8 }, prices = { per_lane_hour = 4.0 } }, { name = "gpus", capacity = { kind = "self_hosted", min_replicas = 1, max_replicas = 4 }, prices = { per_replica_hour = 2.99 } }], router = { kind = "spillover", order = ["lanes", "gpus"] }"#;
        assert_eq!(
            set_in_words(spill),
            "pool lanes: 8 reserved lanes, $4 a lane-hour; pool gpus: self-hosted, 1–4 replicas, autoscaled, $2.99 a replica-hour; spilling lanes → gpus"
        );
        let long = r#"prices = { input_per_mtok = 0.1, long_context = { above_input_tokens = 100000, input_per_mtok = 0.5 } }"#;
        assert_eq!(
            set_in_words(long),
            "$0.1/M input tokens, long-context rates past 100,000 input tokens ($0.5/M input)"
        );
        // What is not capacity is said as it is written; what is not TOML, as it is.
        assert_eq!(
            set_in_words("workload.developers.users = 80, duration = \"2h\""),
            "workload.developers.users = 80; duration = \"2h\""
        );
        assert_eq!(set_in_words("not toml ="), "not toml =");
    }
}
