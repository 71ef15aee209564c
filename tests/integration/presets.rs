//! Presets: each client preset is its SDK's source and each capacity
//! preset its provider's tables (the lines read, kept in
//! `tests/data/sources/`, parsed here rather than trusted); each SDK
//! behaves as it does with a long retry-after; each counting rule admits
//! what a recount from the event log says it should; keys beside a preset
//! replace its own; and `loopcap presets` lists and shows them.

use std::fs;
use std::path::Path;

use loopcap::engine::SimDuration;
use loopcap::model::capacity::kind::CapacitySpec;
use loopcap::model::capacity::self_hosted::{DecodeSpeed, Scheduler};
use loopcap::model::capacity::shared_api::{SharedApiSpec, TokensCharged};
use loopcap::model::client::policy::{Backoff, ClientPolicy, Jitter, RetryAfter};
use loopcap::model::prices::Prices;
use loopcap::model::system::Event;
use loopcap::model::{self, ModelSpec, RunOptions};

use crate::support::{
    BASE, load_error, load_error_of, loopcap, run_one_loop, spec, warnings_about,
};

/// The client a model with `client = { preset = NAME }` gets.
fn preset(name: &str) -> ClientPolicy {
    spec(BASE, &[&format!("client={{ preset = \"{name}\" }}")]).client
}

/// The lines of an SDK's source as read.
pub(crate) fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sources")
        .join(file);
    fs::read_to_string(path).unwrap()
}

/// The value the source gives after `key`: a product of numbers and of
/// upper-case names, each name read from its own `NAME = ` line.
fn value(source: &str, key: &str) -> f64 {
    let at = source
        .find(key)
        .unwrap_or_else(|| panic!("`{key}` is not in the source"))
        + key.len();
    let expression: String = source[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || " .*_".contains(*c))
        .collect();
    expression
        .split('*')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .unwrap_or_else(|_| value(source, &format!("{t} = ")))
        })
        .product()
}

/// The exponential backoff's base, cap, multiplier, min and jitter.
fn exponential(c: &ClientPolicy) -> (f64, f64, f64, f64, Jitter) {
    match c.backoff {
        Backoff::Exponential {
            base,
            cap,
            multiplier,
            min,
            jitter,
        } => (
            base.as_secs_f64(),
            cap.as_secs_f64(),
            multiplier,
            min.as_secs_f64(),
            jitter,
        ),
        _ => panic!("not exponential"),
    }
}

fn seconds(s: f64) -> SimDuration {
    SimDuration::from_secs_f64(s)
}

/// The Python SDKs: retries, timeout, backoff and jitter from
/// `_constants.py` and `_calculate_retry_timeout`, the retry-after cap
/// from its condition (60 s in Anthropic's, 120 s in OpenAI's).
#[test]
fn the_python_sdk_presets_are_their_sources() {
    for (name, file) in [
        ("anthropic-python", "anthropic-sdk-python.txt"),
        ("openai-python", "openai-python.txt"),
    ] {
        let (s, c) = (source(file), preset(name));
        assert_eq!(
            f64::from(c.max_attempts),
            value(&s, "DEFAULT_MAX_RETRIES = ") + 1.0,
            "{name}"
        );
        assert_eq!(
            c.timeout,
            Some(seconds(value(&s, "Timeout(timeout="))),
            "{name}"
        );
        let (base, cap, multiplier, min, jitter) = exponential(&c);
        assert_eq!(base, value(&s, "INITIAL_RETRY_DELAY = "), "{name}");
        assert_eq!(cap, value(&s, "MAX_RETRY_DELAY = "), "{name}");
        assert_eq!(multiplier, value(&s, "pow("), "{name}");
        assert_eq!(min, 0.0, "{name}");
        assert_eq!(
            jitter,
            Jitter::Partial(value(&s, "jitter = 1 - ")),
            "{name}"
        );
        assert_eq!(
            c.retry_after,
            RetryAfter::Capped(seconds(value(&s, "0 < retry_after <= "))),
            "{name}"
        );
    }
}

/// The TypeScript SDKs: `client.ts`'s defaults (milliseconds); Anthropic's
/// sleeps whatever retry-after comes, OpenAI's backs off past 60 s.
#[test]
fn the_typescript_sdk_presets_are_their_sources() {
    for (name, file) in [
        ("anthropic-typescript", "anthropic-sdk-typescript.txt"),
        ("openai-typescript", "openai-node.txt"),
    ] {
        let (s, c) = (source(file), preset(name));
        assert_eq!(
            f64::from(c.max_attempts),
            value(&s, "options.maxRetries ?? ") + 1.0,
            "{name}"
        );
        assert_eq!(
            c.timeout,
            Some(seconds(value(&s, "DEFAULT_TIMEOUT = ") / 1000.0)),
            "{name}"
        );
        let (base, cap, multiplier, _, jitter) = exponential(&c);
        assert_eq!(base, value(&s, "const initialRetryDelay = "), "{name}");
        assert_eq!(cap, value(&s, "const maxRetryDelay = "), "{name}");
        assert_eq!(multiplier, 2.0, "{name}: Math.pow(2, numRetries)");
        assert_eq!(
            jitter,
            Jitter::Partial(value(&s, "Math.random() * ")),
            "{name}"
        );
    }
    let s = source("openai-node.txt");
    assert_eq!(
        preset("openai-typescript").retry_after,
        RetryAfter::Capped(seconds(value(&s, "timeoutMillis > ") / 1000.0))
    );
    let s = source("anthropic-sdk-typescript.txt");
    assert!(s.contains("just do what it") && !s.contains("timeoutMillis >"));
    assert_eq!(
        preset("anthropic-typescript").retry_after,
        RetryAfter::Exact
    );
}

/// LiteLLM's constants and `_calculate_retry_after`: its jitter is added,
/// to the backoff and to a retry-after of up to 60 s.
#[test]
fn the_litellm_preset_is_its_source() {
    let (s, c) = (source("litellm.txt"), preset("litellm-router"));
    assert_eq!(
        f64::from(c.max_attempts),
        value(&s, "\"DEFAULT_MAX_RETRIES\", ") + 1.0
    );
    assert_eq!(c.timeout, Some(seconds(value(&s, "\"REQUEST_TIMEOUT\", "))));
    let (base, cap, multiplier, _, jitter) = exponential(&c);
    assert_eq!(base, value(&s, "\"INITIAL_RETRY_DELAY\", "));
    assert_eq!(cap, value(&s, "\"MAX_RETRY_DELAY\", "));
    assert_eq!(multiplier, value(&s, "pow("));
    assert_eq!(jitter, Jitter::Added(seconds(value(&s, "\"JITTER\", "))));
    assert!(s.contains("return retry_after + jitter"));
    assert_eq!(
        c.retry_after,
        RetryAfter::Capped(seconds(value(&s, "0 < retry_after <= ")))
    );
}

/// The cookbook's decorator over tenacity's `wait_random_exponential`:
/// uniform(min, min(max, multiplier * 2 ** (attempt - 1))), no headers read.
#[test]
fn the_tenacity_preset_is_its_source() {
    let (s, c) = (source("tenacity-cookbook.txt"), preset("tenacity-cookbook"));
    assert_eq!(f64::from(c.max_attempts), value(&s, "stop_after_attempt("));
    let (base, cap, multiplier, min, jitter) = exponential(&c);
    assert_eq!(base, value(&s, "multiplier: float = "));
    assert_eq!(multiplier, value(&s, "exp_base: float = "));
    assert_eq!(cap, value(&s, "max="));
    assert_eq!(min, value(&s, "(min="));
    assert!(s.contains("random.uniform(self.min, high)"));
    assert_eq!(jitter, Jitter::Full);
    assert_eq!(c.retry_after, RetryAfter::Ignore);
}

/// Two parallel 1-s calls into a concurrency cap of one whose 429 says
/// "retry after 90 s": an SDK that takes it waits 90 s (done at 91 s);
/// one whose cap is below 90 s backs off from 0.5 s and is done in
/// seconds. Only OpenAI's Python SDK (120 s) and Anthropic's TypeScript
/// SDK (no cap) take it.
#[test]
fn the_sdks_differ_in_the_retry_after_they_take() {
    let done = |name: &str| {
        run_one_loop(&[
            "agents.a.fan_out={ every = 1, width = 2 }",
            "capacity={ kind = \"shared_api\", max_concurrency = 1, concurrency_retry_after = \"90s\", time_to_first_token = \"1s\" }",
            &format!("client={{ preset = \"{name}\" }}"),
        ])
        .loop_latency_s
        .unwrap()
        .max
    };
    for name in ["openai-python", "anthropic-typescript"] {
        assert_eq!(done(name), 91.0, "{name}");
    }
    for name in [
        "anthropic-python",
        "openai-typescript",
        "litellm-router",
        "tenacity-cookbook",
    ] {
        assert!(done(name) < 5.0, "{name}: {}", done(name));
    }
}

/// A key beside a preset replaces the preset's; a retry-after mode given
/// beside it comes without the preset's cap; `retry_after = "sdk"` is the
/// Anthropic Python SDK's cap; an unknown preset is refused, naming them.
#[test]
fn keys_beside_a_preset_replace_its_own() {
    let c = spec(
        BASE,
        &["client={ preset = \"anthropic-python\", max_attempts = 7, retry_after = \"exact\" }"],
    )
    .client;
    assert_eq!((c.max_attempts, c.retry_after), (7, RetryAfter::Exact));
    assert_eq!(exponential(&c).0, 0.5, "the preset's backoff stays");
    let capped = spec(
        BASE,
        &["client={ preset = \"openai-python\", retry_after_max = \"30s\" }"],
    )
    .client;
    assert_eq!(capped.retry_after, RetryAfter::Capped(seconds(30.0)));
    let sdk = spec(BASE, &["client.retry_after=sdk"]).client;
    assert_eq!(sdk.retry_after, preset("anthropic-python").retry_after);
    let e = load_error(&["client={ preset = \"boto3\" }"]);
    assert!(
        e.contains("client.preset") && e.contains("anthropic-python, anthropic-typescript"),
        "{e}"
    );
    let e = load_error(&["client={ retry_after = \"capped\" }"]);
    assert!(
        e.contains("client.retry_after_max") && e.contains("missing"),
        "{e}"
    );
    let e = load_error(&["client={ retry_after = \"exact\", retry_after_max = \"30s\" }"]);
    assert!(e.contains("only with retry_after = \"capped\""), "{e}");
    let e = load_error(&[
        "client.backoff={ kind = \"exponential\", base = \"1s\", jitter = \"partial\" }",
    ]);
    assert!(
        e.contains("client.backoff.jitter_share") && e.contains("missing"),
        "{e}"
    );
    let e = load_error(&[
        "client.backoff={ kind = \"exponential\", base = \"1s\", jitter = \"full\", jitter_max = \"1s\" }",
    ]);
    assert!(e.contains("only with jitter = \"added\""), "{e}");
}

/// `loopcap presets` lists every preset with its description and source; `presets
/// NAME` prints its section of presets/clients.toml whole; an unknown one
/// is bad input (exit 2).
#[test]
fn loopcap_presets_lists_and_shows_them() {
    let out = loopcap().arg("presets").output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    let file =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/clients.toml"))
            .unwrap();
    let names: Vec<&str> = file
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']'))
        .filter(|n| !n.contains('.'))
        .collect();
    assert_eq!(names.len(), 6);
    for name in &names {
        assert!(list.contains(&format!("  {name} ")), "{name} in\n{list}");
    }
    // Each with the source its numbers were read from.
    assert!(list.contains("source: github.com/anthropics/anthropic-sdk-python, commit 009b0353"));
    let out = loopcap()
        .args(["presets", "openai-python"])
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    let start = file.find("[openai-python]").unwrap();
    let end = file.find("[openai-typescript]").unwrap();
    assert_eq!(shown.trim_end(), file[start..end].trim_end());
    let out = loopcap().args(["presets", "boto3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The shared API and prices a model gets from `capacity = { preset = NAME }`.
pub(crate) fn capacity_preset(name: &str) -> (SharedApiSpec, Prices) {
    shared_api_of(&format!("preset = \"{name}\""))
}

/// The shared API and prices a model gets from `capacity = { KEYS }`.
pub(crate) fn shared_api_of(keys: &str) -> (SharedApiSpec, Prices) {
    let s = spec(
        BASE,
        &[&format!(
            "capacity={{ {keys}, time_to_first_token = \"1s\" }}"
        )],
    );
    let pool = &s.pools[0];
    match &pool.capacity {
        CapacitySpec::SharedApi(api) => (api.clone(), pool.prices.clone()),
        _ => panic!("{keys} is not a shared API"),
    }
}

/// The dollar amounts of the pricing row that starts with `model`.
fn price_row(pricing: &str, model: &str) -> Vec<f64> {
    let row = pricing
        .lines()
        .find(|l| l.starts_with(&format!("| {model} |")))
        .unwrap_or_else(|| panic!("no row for {model}"));
    row.split('$')
        .skip(1)
        .map(|cell| cell.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

/// Every Anthropic capacity preset is its tier's row of its class's table
/// (requests, input and output tokens a minute), with cache reads not
/// counted as the same page says, its tier's monthly spend cap (the usage
/// tiers' max usage per month), and its model's list prices (base input,
/// 5-minute cache writes, cache hits, output).
#[test]
fn the_anthropic_presets_are_their_sources() {
    let (limits, pricing, tiers) = (
        source("anthropic-rate-limits.txt"),
        source("anthropic-pricing.txt"),
        source("anthropic-usage-tiers-2025.txt"),
    );
    assert!(limits.contains("cache_read_input_tokens do NOT count toward ITPM"));
    assert!(tiers.contains("usage Tier 2, increasing your monthly usage limit to $500"));
    // One limit an organization's model class: a tier's presets of a
    // class name one, and no two (tier, class) name the same.
    assert!(
        limits.contains("Rate limits apply per organization; spend/rate limits per model class.")
    );
    assert!(limits.contains("Rate limits for Opus are a single total applied to combined traffic"));
    assert!(limits.contains("Sonnet 4.x is similarly pooled"));
    let mut named = std::collections::BTreeSet::new();
    for tier in 1..=4 {
        for class in ["opus", "sonnet", "haiku"] {
            let limit =
                loopcap::config::presets::limit_of(&format!("anthropic-tier{tier}-{class}"));
            assert!(
                limit.as_deref().is_some_and(|l| l.contains(class)),
                "{limit:?}"
            );
            assert!(named.insert(limit), "tier {tier} {class}");
        }
    }
    // Each tier's max usage per month, the last cell of its row.
    let cap = |tier: u32| -> f64 {
        let row = tiers
            .lines()
            .find(|l| l.starts_with(&format!("Tier {tier} |")))
            .unwrap();
        let cell = row.rsplit('|').next().unwrap().trim();
        cell.trim_start_matches('$')
            .replace(',', "")
            .parse()
            .unwrap()
    };
    for (class, table, model) in [
        ("opus", "Opus / Sonnet 4.x", "Claude Opus 4.8"),
        ("sonnet", "Opus / Sonnet 4.x", "Claude Sonnet 4.6"),
        ("haiku", "Haiku 4.5", "Claude Haiku 4.5"),
    ] {
        let table = limits
            .split("Rate Limits — ")
            .find(|t| t.starts_with(table))
            .unwrap();
        let prices = price_row(&pricing, model);
        for tier in 1..=4 {
            let name = format!("anthropic-tier{tier}-{class}");
            let row: Vec<Option<u64>> = table
                .lines()
                .find(|l| l.starts_with(&format!("Tier {tier} |")))
                .unwrap()
                .split('|')
                .skip(1)
                .map(|c| Some(c.trim().replace(',', "").parse().unwrap()))
                .collect();
            let (api, p) = capacity_preset(&name);
            let preset = vec![
                api.requests_per_min,
                api.input_tokens_per_min,
                api.output_tokens_per_min,
            ];
            assert_eq!(preset, row, "{name}");
            assert_eq!(api.counting.cache_reads, Some(false), "{name}");
            assert!(
                api.counting.cache_writes && api.counting.output_corrected,
                "{name}"
            );
            assert_eq!(api.monthly_spend_cap, Some(cap(tier)), "{name}");
            assert_eq!(
                [
                    p.tokens.input_per_mtok,
                    p.tokens.cache_write_per_mtok,
                    p.tokens.cached_input_per_mtok,
                    p.tokens.output_per_mtok
                ],
                [prices[0], prices[1], prices[3], prices[4]],
                "{name}"
            );
        }
    }
}

/// The OpenAI GPT-4.1 preset: the limits and prices as read; tokens a
/// minute for input and output together, charged the larger of the two
/// and not corrected, as the rate-limit guide says; cache reads and
/// refused requests counted, as OpenAI's help article and FAQ say; Tier
/// 4's usage limit a month as the usage-tier table gives it.
#[test]
fn the_openai_preset_is_its_source() {
    let s = source("openai-rate-limits.txt");
    assert!(s.contains("unsuccessful requests contribute to your per-minute limit"));
    let guide = source("openai-rate-limits-2026.txt");
    assert!(guide.contains("the maximum of max_tokens and the estimated number of tokens"));
    let (api, p) = capacity_preset("openai-tier4-gpt-4-1");
    let line = s.lines().find(|l| l.contains("requests/min")).unwrap();
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    assert_eq!(
        (
            api.requests_per_min,
            api.tokens_per_min,
            api.input_tokens_per_min
        ),
        (Some(numbers[0]), Some(numbers[1]), None)
    );
    assert_eq!(api.tokens_charged, TokensCharged::Larger);
    assert!(!api.counting.output_corrected);
    assert_eq!(api.counting.cache_reads, Some(true));
    assert!(api.counting.refused);
    let dollars: Vec<f64> = line
        .split('$')
        .skip(1)
        .map(|d| d.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        [
            p.tokens.input_per_mtok,
            p.tokens.cached_input_per_mtok,
            p.tokens.output_per_mtok
        ],
        [dollars[0], dollars[1], dollars[2]]
    );
    // Tier 4's usage limit a month, the last cell of its row.
    let tier = s.lines().find(|l| l.starts_with("Tier 4 |")).unwrap();
    let cap = tier.rsplit('|').next().unwrap().trim();
    let cap: f64 = cap
        .trim_start_matches('$')
        .split_whitespace()
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    assert_eq!(api.monthly_spend_cap, Some(cap));
}

/// Keys beside a capacity preset replace its own; prices given for the
/// pool replace its prices whole, and must price input and output; a
/// preset naming a preset, or none that exists, is refused.
#[test]
fn keys_beside_a_capacity_preset_replace_its_own() {
    let s = spec(
        BASE,
        &[
            "capacity={ preset = \"anthropic-tier2-sonnet\", requests_per_min = 77, time_to_first_token = \"1s\" }",
            "prices={ input_per_mtok = 1.0, output_per_mtok = 2.0 }",
        ],
    );
    let CapacitySpec::SharedApi(api) = &s.pools[0].capacity else {
        panic!()
    };
    assert_eq!(api.requests_per_min, Some(77));
    assert_eq!(api.input_tokens_per_min, Some(450_000));
    assert_eq!(
        (
            s.pools[0].prices.tokens.input_per_mtok,
            s.pools[0].prices.tokens.cache_write_per_mtok
        ),
        (1.0, 1.0),
        "the pool's prices, whole (cache writes at the input price by default)"
    );
    // Prices that would leave the preset's tokens free are refused, not read as $0.
    let e = load_error(&[
        "capacity={ preset = \"anthropic-tier2-sonnet\", time_to_first_token = \"1s\" }",
        "prices={ cache_write_per_mtok = 10.0 }",
    ]);
    assert!(
        e.contains(
            "prices.input_per_mtok: prices given for a pool with a preset replace its prices whole"
        ) && e.contains("loopcap presets anthropic-tier2-sonnet"),
        "{e}"
    );
    let e = load_error(&[
        "capacity={ preset = \"anthropic-tier2-sonnet\", time_to_first_token = \"1s\" }",
        "prices={ input_per_mtok = 3.0 }",
    ]);
    assert!(e.contains("prices.output_per_mtok: "), "{e}");
    let e = load_error(&["capacity={ preset = \"tier9\", time_to_first_token = \"1s\" }"]);
    assert!(
        e.contains("capacity.preset") && e.contains("anthropic-tier1-haiku"),
        "{e}"
    );
}

/// The attempts the provider finished in a run of `model`, counted from
/// its event log.
fn finished_attempts(model: &ModelSpec) -> u64 {
    let mut finished = 0u64;
    model::simulate_with(model, RunOptions::new(false), |_, event| {
        if matches!(event, Event::AttemptFinished(_)) {
            finished += 1;
        }
    })
    .unwrap();
    finished
}

/// The calls the provider finished in 20 minutes of single-call loops of
/// 1,000 input tokens (900 read from the cache) and 100 output tokens
/// with `max_tokens` 400, offered far beyond what `capacity` lets
/// through, each tried once.
pub(crate) fn finished(capacity: &str) -> f64 {
    let model = spec(
        BASE,
        &[
            "duration=20m",
            "warmup=0s",
            "agents.a.steps=1",
            "agents.a.input_tokens=1000",
            "agents.a.cached_input_share=0.9",
            "agents.a.output_tokens=100",
            "agents.a.max_output_tokens=400",
            "workload.users.arrivals={ process = \"poisson\", per_min = 3000 }",
            &format!("capacity={{ {capacity}, time_to_first_token = \"1s\" }}"),
            "client.max_attempts=1",
        ],
    );
    finished_attempts(&model) as f64
}

/// Calls of 1,000 input tokens, 900 of them read from the cache, offered
/// far beyond a limit of 60,000 input tokens a minute: over 20 minutes the
/// provider admits, by the count of finished attempts in the event log, a
/// minute's worth of counted tokens a minute (within a bucket's burst and
/// the calls in flight at the end): 60 calls a minute where cache reads
/// count, 600 where they do not (Anthropic's rule).
#[test]
fn each_cache_reads_rule_admits_what_it_counts() {
    for (rule, counted) in [("true", 1000.0), ("false", 100.0)] {
        let admitted = finished(&format!(
            "kind = \"shared_api\", input_tokens_per_min = 60000, cache_reads_count = {rule}"
        )) * counted;
        // 20 minutes of refill and the full bucket at the start, less what
        // is in flight at the end (a second's worth) and a call's leftover.
        let most = 60_000.0 * 21.0;
        assert!(
            admitted <= most && admitted >= most - 3_000.0,
            "cache reads count: {rule}: {admitted} counted tokens admitted, at most {most}"
        );
    }
}

/// 30 agents hammering 60 requests a minute, each retrying within half a
/// second of a refusal: where refused requests count (OpenAI's rule) each
/// refusal drains what the bucket had refilled, and far fewer calls get in
/// than the 60 a minute (and the first minute's 60) they get where
/// refusals do not count; the recount is the event log's finished attempts.
#[test]
fn counted_refusals_spend_the_budget() {
    let admitted = |counted: bool| {
        let model = spec(
            BASE,
            &[
                "duration=10m",
                "warmup=0s",
                "agents.a.steps=1",
                "workload.users={ name = \"users\", agent = \"a\", users = 30, think_time = \"1s\" }",
                &format!(
                    "capacity={{ kind = \"shared_api\", requests_per_min = 60, failed_requests_count = {counted}, time_to_first_token = \"1s\" }}"
                ),
                "client={ max_attempts = 1000, backoff = { kind = \"constant\", delay = \"500ms\", jitter = \"full\" }, retry_after = \"ignore\" }",
            ],
        );
        finished_attempts(&model)
    };
    let (plain, counted) = (admitted(false), admitted(true));
    // Without the rule the bucket admits its 60 a minute and its burst.
    assert!((600..=661).contains(&plain), "{plain}");
    assert!(counted < plain / 2, "{counted} against {plain}");
}

/// A per-minute limit enforced over a second holds a second's share:
/// 60 requests a minute over "1s" hold 1 (and 90,000 input tokens 1,500),
/// so of 20 calls at once one gets in where a minute's bucket lets all 20
/// in. It sets every burst, so giving `burst` too is refused.
#[test]
fn a_limit_enforced_over_a_second_holds_a_seconds_share() {
    let api = |extra: &str| {
        let s = spec(
            BASE,
            &[&format!(
                "capacity={{ kind = \"shared_api\", requests_per_min = 60, input_tokens_per_min = 90000, time_to_first_token = \"1s\"{extra} }}"
            )],
        );
        match &s.pools[0].capacity {
            CapacitySpec::SharedApi(api) => api.burst,
            _ => panic!(),
        }
    };
    let burst = api(", enforced_over = \"1s\"");
    assert_eq!((burst.requests, burst.input_tokens), (Some(1), Some(1500)));
    assert_eq!(api("").requests, None);
    let admitted = |extra: &str| {
        let s = run_one_loop(&[
            "agents.a.fan_out={ every = 1, width = 20 }",
            &format!(
                "capacity={{ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"1s\"{extra} }}"
            ),
            "client.max_attempts=1",
        ]);
        s.calls - s.rate_limited
    };
    assert_eq!(
        (admitted(", enforced_over = \"1s\""), admitted("")),
        (1, 20)
    );
    let e = load_error(&[
        "capacity={ kind = \"shared_api\", requests_per_min = 60, enforced_over = \"1s\", burst = { requests = 5 }, time_to_first_token = \"1s\" }",
    ]);
    assert!(
        e.contains("capacity.enforced_over") && e.contains("not both"),
        "{e}"
    );
}

/// The Batch API preset: a batch's size and completion window from the
/// docs' Batch table, half of Sonnet's prices.
#[test]
fn the_batch_preset_is_its_source() {
    let (s, pricing) = (
        source("anthropic-batch.txt"),
        source("anthropic-pricing.txt"),
    );
    let row: Vec<u32> = s
        .lines()
        .find(|l| l.starts_with("50 |"))
        .unwrap()
        .split('|')
        .filter_map(|c| c.trim().replace(',', "").parse().ok())
        .collect();
    let model = spec(
        BASE,
        &[
            "capacity={ preset = \"anthropic-batch-sonnet\", latency = \"1h\", collect_for = \"1m\" }",
        ],
    );
    let CapacitySpec::Batch(batch) = &model.pools[0].capacity else {
        panic!()
    };
    assert_eq!(
        (batch.max_queued_requests, batch.max_requests),
        (Some(row[1]), row[2])
    );
    assert!(s.contains("within 24 hours"));
    assert_eq!(batch.completion_window, SimDuration::from_secs(24 * 3600));
    let discount: f64 = s
        .split("% discount")
        .next()
        .unwrap()
        .rsplit('\n')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let half = 1.0 - discount / 100.0;
    let sonnet = price_row(&pricing, "Claude Sonnet 4.6");
    let p = &model.pools[0].prices;
    assert_eq!(
        [
            p.tokens.input_per_mtok,
            p.tokens.cached_input_per_mtok,
            p.tokens.output_per_mtok
        ],
        [half * sonnet[0], half * sonnet[3], half * sonnet[4]]
    );
}

/// The self-hosted preset: decode speeds are the sequences over the
/// measured time per output token (to the token a second), and the price
/// as read.
#[test]
fn the_self_hosted_preset_is_its_source() {
    let s = source("vllm-llama-3-1-8b-h100.txt");
    let model = spec(
        BASE,
        &["capacity={ preset = \"vllm-llama-3-1-8b-h100\", replicas = 1 }"],
    );
    let CapacitySpec::SelfHosted(hosted) = &model.pools[0].capacity else {
        panic!()
    };
    let line = s
        .lines()
        .find(|l| l.starts_with("median time per output token"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let ms: Vec<f64> = words
        .windows(2)
        .filter(|w| w[1] == "ms")
        .map(|w| w[0].parse().unwrap())
        .collect();
    let DecodeSpeed::Table(points) = &hosted.decode else {
        panic!("a table")
    };
    for (&(batch, tokens_per_s), ms) in points.iter().zip(&ms) {
        let measured = batch / (ms / 1000.0);
        assert!(
            (tokens_per_s - measured).abs() < 1.0,
            "{tokens_per_s} tokens/s at {batch} against {measured}"
        );
    }
    assert_eq!(
        points.iter().map(|p| p.0).collect::<Vec<_>>(),
        [1.0, 4.0, 16.0]
    );
    let p = &model.pools[0].prices;
    assert_eq!(p.per_unit_hour, value(&s, "$"));
}

/// vLLM's scheduling one step ahead is on by default, as its v0.14.0
/// release notes say, and reaches a pool that does not give it; a pool
/// may turn it off, as `--no-async-scheduling` does.
#[test]
fn vllm_schedules_one_step_ahead_by_default_as_its_release_notes_say() {
    let notes = source("vllm-v0.14.0-release.txt");
    assert!(
        notes.contains("Async scheduling is now enabled by default")
            && notes.contains("--no-async-scheduling"),
        "{notes}"
    );
    let table =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/self-hosted.toml"))
            .unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with("async_scheduling ="))
        .unwrap();
    assert!(
        line.contains("= true") && line.contains("v0.14.0"),
        "{line}"
    );
    let pool = "capacity={ kind = \"self_hosted\", replicas = 1, max_sequences = 8, kv_cache_tokens = 100000, prefill_tokens_per_s = 10000, decode_tokens_per_s = [{ batch = 1, tokens_per_s = 50 }] }";
    let scheduled_ahead = |overrides: &[&str]| {
        let model = spec(BASE, overrides);
        let CapacitySpec::SelfHosted(hosted) = &model.pools[0].capacity else {
            panic!()
        };
        match hosted.scheduler {
            Scheduler::Vllm {
                async_scheduling, ..
            } => async_scheduling,
            Scheduler::Reserve => panic!("vLLM's scheduler"),
        }
    };
    assert!(scheduled_ahead(&[pool]));
    assert!(!scheduled_ahead(&[pool, "capacity.async_scheduling=false"]));
}

/// A shared API with an input limit that leaves unstated whether cache
/// reads count, for calls that read from the cache, is warned of once (at
/// the key to give); stated, or named by a preset, or with no cache reads,
/// it is not.
#[test]
fn an_unstated_cache_reads_rule_is_warned_of() {
    let warnings = |overrides: &[&str]| warnings_about(overrides, "cache_reads_count");
    let limit = "capacity={ kind = \"shared_api\", input_tokens_per_min = 900000, time_to_first_token = \"1s\" }";
    let unstated = warnings(&[limit, "agents.a.cached_input_share=0.9"]);
    assert_eq!(unstated.len(), 1, "{unstated:?}");
    assert!(
        unstated[0].contains("capacity.cache_reads_count"),
        "{unstated:?}"
    );
    assert!(warnings(&[limit, "agents.a.cached_input_share=0"]).is_empty());
    assert!(
        warnings(&[
            limit,
            "agents.a.cached_input_share=0.9",
            "capacity.cache_reads_count=true"
        ])
        .is_empty()
    );
    assert!(
        warnings(&[
            "capacity={ preset = \"anthropic-tier4-sonnet\", time_to_first_token = \"1s\" }",
            "agents.a.cached_input_share=0.9"
        ])
        .is_empty()
    );
}

/// [`BASE`] with its capacity replaced by shared API pools `names`, each
/// of 60 requests a minute, calls spread evenly over them.
fn pools_of_60(names: &[&str]) -> String {
    let mut model = BASE.split("[capacity]").next().unwrap().to_owned();
    for name in names {
        model += &format!(
            "\n[[pool]]\nname = \"{name}\"\ncapacity = {{ kind = \"shared_api\", requests_per_min = 60, time_to_first_token = \"1s\" }}\n"
        );
    }
    let weights: Vec<String> = names.iter().map(|n| format!("{n} = 1")).collect();
    model
        + &format!(
            "\n[router]\nkind = \"weighted\"\nweights = {{ {} }}\n",
            weights.join(", ")
        )
}

/// 45 agents of one-call loops for 10 minutes, retrying each refusal
/// when told: far more than the pools' limits admit.
const SATURATING: [&str; 5] = [
    "duration=10m",
    "warmup=0s",
    "agents.a.steps=1",
    "workload.users={ name = \"users\", agent = \"a\", users = 45, think_time = \"1s\" }",
    "client={ max_attempts = 1000, backoff = { kind = \"constant\", delay = \"500ms\", jitter = \"full\" }, retry_after = \"exact\" }",
];

/// The attempts pools `a` and `b` served together, and `c`, in a run of `spec`.
fn served_ab_and_c(spec: &ModelSpec) -> (u64, u64) {
    let summary = model::simulate(spec, false).unwrap().summary;
    let of = |name: &str| {
        summary
            .pools
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .served
    };
    (of("a") + of("b"), of("c"))
}

/// Pools naming presets of one provider's limit share it: `a` and `b`
/// both on Anthropic's Tier 1 for Sonnet 4.x (50 requests a minute, one
/// limit for the organization's Sonnet 4.x traffic), `c` on Tier 1 for
/// Opus 4.x (the same numbers, a limit of its own). 45 agents retrying
/// each refusal when told, calls spread evenly, for 10 minutes: a bucket
/// of 50 a minute, full at the start, admits at least its 10 minutes'
/// refill (500) and at most that and its first minute's 50. `a` and `b`
/// together get one bucket's worth, as `c` does alone, where two pools'
/// own buckets would give them twice that. The spend cap is not the
/// limit's but the account's: Tier 1's $100 over all three pools' months
/// together, not each one's. Pools under one limit that give it other
/// numbers are refused, naming both.
#[test]
fn pools_naming_presets_of_one_providers_limit_share_it() {
    let mut model = BASE.split("[capacity]").next().unwrap().to_owned();
    for (name, preset) in [
        ("a", "anthropic-tier1-sonnet"),
        ("b", "anthropic-tier1-sonnet"),
        ("c", "anthropic-tier1-opus"),
    ] {
        model += &format!(
            "\n[[pool]]\nname = \"{name}\"\ncapacity = {{ preset = \"{preset}\", time_to_first_token = \"1s\" }}\n"
        );
    }
    model += "\n[router]\nkind = \"weighted\"\nweights = { a = 1, b = 1, c = 1 }\n";
    let mut overrides = SATURATING.to_vec();
    overrides.push("agents.a.max_output_tokens=50");
    let spec = spec(&model, &overrides);
    let limits: Vec<(&str, &[usize])> = spec
        .shared_limits
        .iter()
        .map(|g| (g.name.as_str(), g.pools.as_slice()))
        .collect();
    assert_eq!(
        limits,
        [("preset_limit.anthropic-tier1-sonnet-4x", &[0, 1][..])]
    );
    let one_bucket = |per_min: u64| per_min * 10..=per_min * 11;
    let (ab, c) = served_ab_and_c(&spec);
    assert!(
        one_bucket(50).contains(&ab) && one_bucket(50).contains(&c),
        "{ab} {c}"
    );
    // No pool has a cap of its own, only the account's, which their
    // months pass together.
    let s = model::simulate(&spec, false).unwrap().summary;
    let over: Vec<(&str, &[String], f64)> = s
        .over_spend_cap
        .iter()
        .map(|o| (o.pool.as_str(), o.pools.as_slice(), o.cap_usd))
        .collect();
    let all = ["a".to_owned(), "b".to_owned(), "c".to_owned()];
    assert_eq!(over, [("account.anthropic", &all[..], 100.0)]);
    // A limit, a ramp limit or a counting rule given to one of them alone
    // is refused: the group could only take the first pool's.
    for other in [
        "requests_per_min = 100",
        "ramp_limit = { above_input_tokens_per_min = 1000, growth = 0.5, every = \"15m\" }",
        "cache_reads_count = true",
        "burst = { requests = 10 }",
    ] {
        let e = load_error_of(
            &model.replace(
                "name = \"b\"\ncapacity = { preset = \"anthropic-tier1-sonnet\",",
                &format!(
                    "name = \"b\"\ncapacity = {{ preset = \"anthropic-tier1-sonnet\", {other},"
                ),
            ),
            &[],
        );
        assert!(
            e.contains("pool.1.capacity")
                && e.contains("as pool `a` does, but gives it other limits or counting rules"),
            "{other}: {e}"
        );
    }
}

/// A 429 from a limit over several pools is the group's, not its pool's
/// own limit's. Pools `a` and `b` have 6,000 requests a minute of their
/// own, which 45 agents cannot reach, under shared limits of 60 a minute;
/// `c` has its own 60 a minute and no group. Every 429 of `a` and `b` is
/// then the group's, every one of `c` its own: the pools' counts, taken
/// by the pool each call was sent to, add up to the group's, and the
/// verdict names the group, not a pool, as the limit that binds.
#[test]
fn a_shared_limits_429s_are_counted_against_the_group_not_the_pool() {
    let pools = pools_of_60(&["a", "b", "c"]).replacen(
        "requests_per_min = 60,",
        "requests_per_min = 6000,",
        2,
    );
    let mut overrides = SATURATING.to_vec();
    overrides
        .push("shared_limits.ab={ pools = [\"a\", \"b\"], limits = { requests_per_min = 60 } }");
    let summary = model::simulate(&spec(&pools, &overrides), false)
        .unwrap()
        .summary;
    let pool = |name: &str| summary.pools.iter().find(|p| p.name == name).unwrap();
    let own = |name: &str| {
        pool(name)
            .refusals
            .rate_limited_by
            .named()
            .iter()
            .map(|&(_, n)| n)
            .sum::<u64>()
    };
    let [group] = &summary.limits[..] else {
        panic!("one group: {:?}", summary.limits)
    };
    assert_eq!(group.name, "shared_limits.ab");
    assert_eq!(group.pools, ["a", "b"]);
    assert!(group.rate_limited > 100, "{}", group.rate_limited);
    assert_eq!(
        group.refusals.rate_limited_by.requests_per_min,
        group.rate_limited
    );
    for name in ["a", "b"] {
        assert!(pool(name).rate_limited > 0, "{name}");
        assert_eq!(own(name), 0, "{name}");
        assert_eq!(
            pool(name).rate_limited_by_shared_limits,
            pool(name).rate_limited,
            "{name}"
        );
    }
    assert_eq!(
        pool("a").rate_limited + pool("b").rate_limited,
        group.rate_limited
    );
    assert!(pool("c").rate_limited > 0);
    assert_eq!(pool("c").rate_limited_by_shared_limits, 0);
    assert_eq!(own("c"), pool("c").rate_limited);
    let verdict = loopcap::report::verdict::of_run(&summary).text();
    assert!(
        verdict.contains("Limits shared_limits.ab over a and b: requests/min binds first"),
        "{verdict}"
    );
    assert!(
        !verdict.contains("Pool a:") && !verdict.contains("Pool b:"),
        "{verdict}"
    );
}

/// A spillover router from pool `a` (600 requests a minute, under shared
/// limits of 60) to pool `b` (6,000): it asks the shared limits too before
/// it picks `a`, so the calls past the group's bucket spill to `b` rather
/// than being refused, and `a` serves what the group's bucket admits, at
/// least its 10 minutes' refill and at most that and its first minute's 60.
#[test]
fn a_spillover_router_spills_what_shared_limits_would_refuse() {
    let model = BASE.split("[capacity]").next().unwrap().to_owned()
        + r#"
[[pool]]
name = "a"
capacity = { kind = "shared_api", requests_per_min = 600, time_to_first_token = "1s" }

[[pool]]
name = "b"
capacity = { kind = "shared_api", requests_per_min = 6000, time_to_first_token = "1s" }

[router]
kind = "spillover"
order = ["a", "b"]

[shared_limits.a-only]
pools = ["a"]
limits = { requests_per_min = 60 }
"#;
    let summary = model::simulate(
        &spec(
            &model,
            &[
                "duration=10m",
                "warmup=0s",
                "agents.a.steps=1",
                "workload.users={ name = \"users\", agent = \"a\", users = 30, think_time = \"1s\" }",
            ],
        ),
        false,
    )
    .unwrap()
    .summary;
    let pool = |name: &str| summary.pools.iter().find(|p| p.name == name).unwrap();
    assert_eq!(summary.rate_limited, 0);
    assert!(
        (600..=660).contains(&pool("a").served),
        "{}",
        pool("a").served
    );
    assert!(
        pool("b").served > 3 * pool("a").served,
        "{}",
        pool("b").served
    );
}

/// Two shared API pools of 60 requests a minute each, calls spread evenly
/// between them, 30 agents retrying each refusal when told: alone each
/// pool admits its minute's 60 and 60 a minute after, 1,320 in 10 minutes
/// together. Under an organization of 60 requests a minute the two admit,
/// by the event log's finished attempts, what one bucket does: at least
/// its 10 minutes' refill and at most that and its first minute's 60.
#[test]
fn an_organizations_limit_holds_its_pools_together() {
    let pools = pools_of_60(&["a", "b"]);
    let finished = |organization: &str| {
        let mut overrides = vec![
            "duration=10m",
            "warmup=0s",
            "agents.a.steps=1",
            "workload.users={ name = \"users\", agent = \"a\", users = 30, think_time = \"1s\" }",
            "client={ max_attempts = 1000, backoff = { kind = \"constant\", delay = \"500ms\", jitter = \"full\" }, retry_after = \"exact\" }",
        ];
        overrides.extend((!organization.is_empty()).then_some(organization));
        finished_attempts(&spec(&pools, &overrides))
    };
    let alone = finished("");
    assert!((1_200..=1_320).contains(&alone), "{alone}");
    let together = finished("organization={ requests_per_min = 60 }");
    assert!((600..=660).contains(&together), "{together}");
    let e = load_error(&[
        "organization={ requests_per_min = 60, overload = { threshold = 1, saturation = 2, max_probability = 0.5 } }",
    ]);
    assert!(e.contains("organization.overload"), "{e}");
}

/// Three shared API pools of 60 requests a minute each, calls spread
/// evenly over them, 45 agents retrying each refusal when told, for 10
/// minutes. A token bucket of 60 a minute, full at the start, admits at
/// least its 10 minutes' refill (600) and at most that and its first
/// minute's 60. Alone each pool serves that. Shared limits of 60 a minute
/// over `a` and `b` hold the two to one bucket's worth while `c` keeps
/// its own; an organization of 90 a minute over the three then holds all
/// three to its bucket, nested over the group's, which still holds `a`
/// and `b`.
#[test]
fn shared_limits_hold_the_pools_they_name_together_under_the_organization() {
    let pools = pools_of_60(&["a", "b", "c"]);
    // Attempts served by `a` and `b` together, and by `c`.
    let served = |limits: &[&str]| {
        let mut overrides = SATURATING.to_vec();
        overrides.extend(limits);
        served_ab_and_c(&spec(&pools, &overrides))
    };
    let one_bucket = |per_min: u64| per_min * 10..=per_min * 11;
    let (ab, c) = served(&[]);
    assert!(
        one_bucket(120).contains(&ab) && one_bucket(60).contains(&c),
        "{ab} {c}"
    );
    let group = "shared_limits.ab={ pools = [\"a\", \"b\"], limits = { requests_per_min = 60 } }";
    let (ab, c) = served(&[group]);
    assert!(
        one_bucket(60).contains(&ab) && one_bucket(60).contains(&c),
        "{ab} {c}"
    );
    let (ab, c) = served(&[group, "organization={ requests_per_min = 90 }"]);
    assert!(one_bucket(90).contains(&(ab + c)), "{ab} {c}");
    assert!(ab <= 660, "{ab}");
    let many: Vec<String> = (0..1_001)
        .map(|g| {
            format!("[shared_limits.g{g}]\npools = [\"a\"]\nlimits = {{ requests_per_min = 60 }}\n")
        })
        .collect();
    let e = load_error_of(&(pools.clone() + &many.concat()), &[]);
    assert!(
        e.contains("shared_limits: 1001 groups: at most 1000 are allowed"),
        "{e}"
    );
    for (limits, wrong) in [
        (
            "shared_limits.ab={ pools = [\"a\", \"x\"], limits = { requests_per_min = 60 } }",
            "shared_limits.ab.pools: no pool is called `x`: the pools are a, b, c",
        ),
        (
            "shared_limits.ab={ pools = [], limits = { requests_per_min = 60 } }",
            "shared_limits.ab.pools: names no pool",
        ),
        (
            "shared_limits.ab={ pools = [\"a\", \"a\"], limits = { requests_per_min = 60 } }",
            "shared_limits.ab.pools: names pool `a` twice",
        ),
    ] {
        let e = load_error_of(&pools, &[limits]);
        assert!(e.contains(wrong), "{e}");
    }
    let reserved_c = pools.replacen(
        "name = \"c\"\ncapacity = { kind = \"shared_api\", requests_per_min = 60,",
        "name = \"c\"\ncapacity = { kind = \"reserved\", lanes = 2,",
        1,
    );
    let e = load_error_of(
        &reserved_c,
        &["shared_limits.ac={ pools = [\"a\", \"c\"], limits = { requests_per_min = 60 } }"],
    );
    assert!(
        e.contains("shared_limits.ac.pools: pool `c` has kind = \"reserved\""),
        "{e}"
    );
}
