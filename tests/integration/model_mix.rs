//! Model mix: steps choose a model by position, by kind or by share; each
//! model has its own pools, so its own limits and prices; the summary's
//! `by_model` says what each model saw.

use loopcap::model::measure::summary::Summary;

use super::support::{BASE, load_error, load_error_of, run};

/// [`BASE`] with two models, each on its own pool: `opus` limited to 40
/// requests a minute, `haiku` (whose calls take 2,000 input tokens) to
/// 1,000; a call's input is otherwise 10,000 tokens.
fn two_models(pools: &str) -> String {
    let (before, _) = BASE
        .split_once("[capacity]")
        .expect("BASE has a [capacity]");
    format!(
        r#"{before}
[models.opus]
[models.haiku]
input_tokens = 2000

{pools}
"#
    )
    .replace("input_tokens = 100\n", "input_tokens = 10000\n")
}

const SHARED: &str = r#"
[[pool]]
name = "opus"
models = ["opus"]
capacity = { kind = "shared_api", requests_per_min = 40, time_to_first_token = "1s" }
prices = { input_per_mtok = 5.0, output_per_mtok = 25.0 }

[[pool]]
name = "haiku"
models = ["haiku"]
capacity = { kind = "shared_api", requests_per_min = 1000, time_to_first_token = "300ms" }
prices = { input_per_mtok = 1.0, output_per_mtok = 5.0 }
"#;

fn mixed(extra: &[&str]) -> Summary {
    run(&two_models(SHARED), extra)
}

/// One loop, as `support::run_one_loop` makes it, of the two-model BASE.
fn one_loop(extra: &[&str]) -> Summary {
    let one_loop = [
        "workload.users={ name = \"users\", agent = \"a\", users = 1, think_time = \"1h\" }",
        "duration=90m",
    ];
    mixed(&[&one_loop[..], extra].concat())
}

fn model<'a>(s: &'a Summary, name: &str) -> &'a loopcap::model::measure::by_model::ModelSummary {
    s.by_model
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no model {name}: {:?}", s.by_model))
}

/// Writing the only model out changes nothing: the same loops, attempts,
/// latencies, tokens and cost, byte for byte, with `by_model` holding the
/// run's totals.
#[test]
fn a_one_model_mix_is_the_model_without_a_mix() {
    let plain = run(BASE, &[]);
    let named = run(
        BASE,
        &["models={ sonnet = {} }", "agents.a.model=\"sonnet\""],
    );
    let pooled = run(
        BASE,
        &[
            "models={ sonnet = {} }",
            "agents.a.model_mix={ first = \"sonnet\", shares = { sonnet = 1 } }",
        ],
    );
    for s in [&named, &pooled] {
        let without = Summary {
            by_model: Vec::new(),
            ..s.clone()
        };
        assert_eq!(
            serde_json::to_string(&without.without_wall_clock()).unwrap(),
            serde_json::to_string(&plain.without_wall_clock()).unwrap()
        );
        let m = model(s, "sonnet");
        assert_eq!(
            (m.attempts, m.input_tokens, m.output_tokens),
            (plain.attempts, plain.input_tokens, plain.output_tokens)
        );
        assert!((m.cost_usd - plain.cost_usd).abs() < 1e-9);
    }
}

/// Steps by position and kind: the first and last on `opus`, fan-out
/// bursts on `haiku`, the rest on `opus`: a loop of 4 steps with a burst
/// of 3 every 2nd step makes 2 opus calls (steps 1 and 3) and 6 haiku
/// calls (steps 2 and 4, the last a burst too), with haiku's own input.
#[test]
fn steps_call_the_model_their_position_or_kind_names() {
    let s = one_loop(&[
        "agents.a.steps=4",
        "agents.a.fan_out={ every = 2, width = 3 }",
        "agents.a.model_mix={ first = \"opus\", last = \"opus\", fan_out = \"haiku\", shares = { opus = 1 } }",
    ]);
    let (opus, haiku) = (model(&s, "opus"), model(&s, "haiku"));
    assert_eq!((opus.attempts, haiku.attempts), (2, 6));
    assert_eq!(
        (opus.input_tokens, haiku.input_tokens),
        (2 * 10_000, 6 * 2_000)
    );
    // Each model billed at its own pool's prices, 10 output tokens a call.
    let by_hand =
        |input: u64, calls: u64, i: f64, o: f64| (input as f64 * i + (10 * calls) as f64 * o) / 1e6;
    assert!((opus.cost_usd - by_hand(20_000, 2, 5.0, 25.0)).abs() < 1e-12);
    assert!((haiku.cost_usd - by_hand(12_000, 6, 1.0, 5.0)).abs() < 1e-12);
    assert!((s.cost_usd - opus.cost_usd - haiku.cost_usd).abs() < 1e-12);
}

/// Shares: of one-step loops a quarter go to opus. Over about 7,000 calls
/// the 95% interval of the share is about ±1.0%; the tolerance is 2%.
#[test]
fn other_steps_draw_their_model_by_share() {
    let lanes = r#"
[[pool]]
name = "opus"
models = ["opus"]
capacity = { kind = "reserved", lanes = 100, time_to_first_token = "1s" }

[[pool]]
name = "haiku"
models = ["haiku"]
capacity = { kind = "reserved", lanes = 100, time_to_first_token = "1s" }
"#;
    let s = run(
        &two_models(lanes),
        &[
            "agents.a.steps=1",
            "agents.a.model_mix={ shares = { opus = 1, haiku = 3 } }",
            "duration=2h",
        ],
    );
    let (opus, haiku) = (model(&s, "opus").attempts, model(&s, "haiku").attempts);
    let n = (opus + haiku) as f64;
    assert!(n > 6000.0, "{n}");
    let share = opus as f64 / n;
    let half_width = 1.96 * (0.25 * 0.75 / n).sqrt();
    assert!(half_width < 0.02, "{half_width}");
    assert!((share - 0.25).abs() < 0.02, "{share}");
}

/// Each model's limits are its own: opus's 40 requests a minute refuse
/// opus calls (the requests limit, from its first minute of overload)
/// while haiku's calls are never refused; opus is served at most 40 a
/// minute plus the bucket's burst of 40.
#[test]
fn each_model_has_its_own_buckets() {
    let s = mixed(&[
        "agents.a.steps=4",
        "agents.a.model_mix={ shares = { opus = 1, haiku = 1 } }",
        "workload.users.arrivals.per_min=120",
        "duration=30m",
    ]);
    let (opus, haiku) = (model(&s, "opus"), model(&s, "haiku"));
    assert!(opus.rate_limited > 100, "{opus:?}");
    assert_eq!(
        opus.rate_limited,
        opus.refusals.rate_limited_by.requests_per_min
    );
    assert_eq!(
        opus.refusals.first_limit.as_deref(),
        Some("requests_per_min")
    );
    assert_eq!(haiku.rate_limited, 0);
    assert_eq!(haiku.refusals.first_limit, None);
    let served_opus = opus.input_tokens / 10_000;
    assert!(served_opus as f64 <= 40.0 * 30.0 + 40.0, "{served_opus}");
    assert!(served_opus as f64 >= 40.0 * 30.0 * 0.9, "{served_opus}");
}

#[test]
fn a_step_naming_an_unknown_model_or_a_model_without_a_pool_is_an_error() {
    let e = load_error(&["models={ opus = {} }", "agents.a.model=\"sonnet\""]);
    assert!(
        e.contains("agents.a.model: no model is called `sonnet`: the models are opus"),
        "{e}"
    );
    let e = load_error(&["agents.a.model=\"opus\""]);
    assert!(
        e.contains("agents.a.model: names model `opus`, but the model declares no `[models]`"),
        "{e}"
    );
    let e = load_error(&["models={ opus = {}, haiku = {} }"]);
    assert!(
        e.contains("agents.a.model: missing: the model declares 2 models (haiku, opus)"),
        "{e}"
    );
    let opus_only = two_models(
        r#"
[[pool]]
name = "opus"
models = ["opus"]
capacity = { kind = "reserved", lanes = 1, time_to_first_token = "1s" }
"#,
    );
    let e = load_error_of(
        &opus_only,
        &["agents.a.model_mix={ shares = { opus = 1, haiku = 1 } }"],
    );
    assert!(
        e.contains("agents.a: calls model `haiku`, which no pool serves"),
        "{e}"
    );
    let e = load_error_of(
        &opus_only.replace("[\"opus\"]", "[\"gpt\"]"),
        &["agents.a.model=\"opus\""],
    );
    assert!(
        e.contains("pool.0.models: no model is called `gpt`: the models are haiku, opus"),
        "{e}"
    );
}

/// A provider caches each model's prefixes apart: on one pool serving both
/// models, a loop's first call to each model writes its prefix (90% of its
/// input), and a later call to the same model reads it.
#[test]
fn each_model_has_its_own_prompt_cache() {
    let one_pool = r#"
[[pool]]
name = "both"
capacity = { kind = "reserved", lanes = 4, time_to_first_token = "1s", cache_ttl = "5m" }
"#;
    let s = run(
        &two_models(one_pool),
        &[
            "workload.users={ name = \"users\", agent = \"a\", users = 1, think_time = \"1h\" }",
            "duration=90m",
            "agents.a.cached_input_share=0.9",
            "agents.a.model_mix={ first = \"opus\", shares = { haiku = 1 } }",
        ],
    );
    let (opus, haiku) = (model(&s, "opus"), model(&s, "haiku"));
    assert_eq!((opus.attempts, haiku.attempts), (1, 2));
    assert_eq!(
        (opus.cache_write_tokens, opus.cached_input_tokens),
        (9_000, 0)
    );
    assert_eq!(
        (haiku.cache_write_tokens, haiku.cached_input_tokens),
        (1_800, 1_800)
    );
}
