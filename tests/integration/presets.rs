//! Client presets: each is its SDK's source (the lines read, kept in
//! `tests/data/sources/`, parsed here rather than trusted), each behaves as
//! its SDK does with a long retry-after, keys beside a preset replace its
//! own, and `loopcap presets` lists and shows them.

use std::fs;
use std::path::Path;

use loopcap::engine::SimDuration;
use loopcap::model::client::policy::{Backoff, ClientPolicy, Jitter, RetryAfter};

use crate::support::{BASE, load_error, loopcap, run_one_loop, spec};

/// The client a model with `client = { preset = NAME }` gets.
fn preset(name: &str) -> ClientPolicy {
    spec(BASE, &[&format!("client={{ preset = \"{name}\" }}")]).client
}

/// The lines of an SDK's source as read.
fn source(file: &str) -> String {
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

/// `loopcap presets` lists every preset with its description; `presets
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
