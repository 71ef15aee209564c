//! The 2026 tiers and the combined and provisioned limits: each preset is
//! its source's rows (kept in `tests/data/sources/`, parsed here), and each
//! rule admits what a recount of the event log says it should.

use loopcap::config::presets::{self, Fills};
use loopcap::config::{self, Source};
use loopcap::model::capacity::shared_api::{Admit, TokensCharged};
use loopcap::model::prices::{HOURS_PER_MONTH, TokenPrices};

use crate::presets::{capacity_preset, finished, shared_api_of, source};
use crate::support::{BASE, load_error, loopcap, shipped, spec, warnings_about};

/// The numbers of a `a / b / c` cell, commas dropped.
fn triple(cell: &str) -> Vec<Option<u64>> {
    cell.split('/')
        .map(|n| Some(n.trim().replace(',', "").parse().unwrap()))
        .collect()
}

/// The dollar amount before `what` in a price line ("$4 input").
fn dollars_before(line: &str, what: &str) -> f64 {
    let at = line
        .find(what)
        .unwrap_or_else(|| panic!("no {what} in {line}"));
    let amount = line[..at].rsplit('$').next().unwrap();
    amount
        .trim()
        .trim_matches('"')
        .replace(',', "")
        .parse()
        .unwrap()
}

/// Anthropic's 2026 tiers: each preset is its tier's row for its class
/// (requests, input and output tokens a minute), cache reads not counted
/// as the quoted page says, and its model's list prices, which a second
/// copy of the pricing page gives too.
#[test]
fn the_2026_anthropic_presets_are_their_source() {
    let s = source("anthropic-rate-limits-2026.txt");
    assert!(s.contains("only input_tokens + cache_creation_input_tokens count toward your ITPM"));
    for (class, column, model) in [
        ("opus", 3, "Claude Opus 5.5"),
        ("sonnet", 4, "Claude Sonnet 5.5"),
    ] {
        let prices = s
            .lines()
            .find(|l| l.starts_with(&format!("| {model} API |")))
            .unwrap();
        for tier in ["Start", "Build", "Scale"] {
            let name = format!("anthropic-{}-{class}", tier.to_lowercase());
            let row: Vec<&str> = s
                .lines()
                .find(|l| l.starts_with(&format!("| {tier} |")))
                .unwrap()
                .split('|')
                .collect();
            let (api, p) = capacity_preset(&name);
            assert_eq!(
                vec![
                    api.requests_per_min,
                    api.input_tokens_per_min,
                    api.output_tokens_per_min
                ],
                triple(row[column]),
                "{name}"
            );
            assert_eq!(
                api.monthly_spend_cap,
                Some(
                    row[2]
                        .trim()
                        .trim_start_matches('$')
                        .replace(',', "")
                        .parse()
                        .unwrap()
                ),
                "{name}: the tier's monthly spend cap"
            );
            assert_eq!(api.counting.cache_reads, Some(false), "{name}");
            assert_eq!(
                [
                    p.tokens.input_per_mtok,
                    p.tokens.output_per_mtok,
                    p.tokens.cache_write_per_mtok,
                    p.tokens.cached_input_per_mtok
                ],
                [
                    dollars_before(prices, " input"),
                    dollars_before(prices, " output"),
                    dollars_before(prices, " 5-minute"),
                    dollars_before(prices, " cache hit"),
                ],
                "{name}"
            );
        }
        // A second copy of the pricing page (the course section) agrees:
        // the same input and output, cache hits at 0.05x the input price.
        let copy = source("anthropic-haiku-2026.txt");
        let row = copy
            .lines()
            .find(|l| l.starts_with(&format!("| {model} | 1M |")))
            .unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (_, p) = capacity_preset(&format!("anthropic-start-{class}"));
        let dollars = |cell: &str| -> f64 { cell.trim_start_matches('$').parse().unwrap() };
        assert_eq!(
            [p.tokens.input_per_mtok, p.tokens.output_per_mtok],
            [dollars(cells[3]), dollars(cells[4])],
            "{model}"
        );
        assert!(copy.contains("0.05x en Opus 5.5/Sonnet 5.5"));
        assert!((p.tokens.cached_input_per_mtok - 0.05 * dollars(cells[3])).abs() < 1e-12);
    }
}

/// The 2026 Batch API preset: a batch's size and window as two pages
/// citing Anthropic's describe them in 2026, and half of every Sonnet 5.5
/// list price (the discount on input, output and cache writes, which the
/// cache-read multiplier stacks on).
#[test]
fn the_2026_batch_preset_is_its_source() {
    let (s, tiers) = (
        source("anthropic-batch-2026.txt"),
        source("anthropic-rate-limits-2026.txt"),
    );
    // The number just before `marker`'s first occurrence.
    let number_before = |marker: &str| -> f64 {
        let before = s.split(marker).next().unwrap();
        let number = before.rsplit([' ', '*']).next().unwrap();
        number.replace(',', "").parse().unwrap()
    };
    let requests = number_before(" message requests");
    let hours = number_before(" hours. (platform");
    let discount =
        number_before("% discount on input tokens, output tokens, and prompt-cache writes");
    let model = spec(
        BASE,
        &[
            "capacity={ preset = \"anthropic-batch-sonnet-5-5\", latency = \"1h\", collect_for = \"1m\" }",
        ],
    );
    let loopcap::model::capacity::kind::CapacitySpec::Batch(batch) = &model.pools[0].capacity
    else {
        panic!()
    };
    assert_eq!(f64::from(batch.max_requests), requests);
    assert_eq!(batch.completion_window.as_secs_f64(), hours * 3600.0);
    let prices = tiers
        .lines()
        .find(|l| l.starts_with("| Claude Sonnet 5.5 API |"))
        .unwrap();
    let half = 1.0 - discount / 100.0;
    let p = &model.pools[0].prices.tokens;
    assert_eq!(
        [
            p.input_per_mtok,
            p.output_per_mtok,
            p.cache_write_per_mtok,
            p.cached_input_per_mtok
        ],
        [
            half * dollars_before(prices, " input"),
            half * dollars_before(prices, " output"),
            half * dollars_before(prices, " 5-minute"),
            half * dollars_before(prices, " cache hit"),
        ]
    );
}

/// GPT-6.1-Sol's 2026 tiers: requests and tokens a minute from its
/// page's table, OpenAI's counting rules, its Standard prices.
#[test]
fn the_2026_openai_presets_are_their_source() {
    let s = source("openai-rate-limits-2026.txt");
    let prices = s.lines().find(|l| l.contains("GPT-6.1-Sol API")).unwrap();
    // The limits table's rows: the lines with no dollar amount.
    let limits: Vec<&str> = s.lines().filter(|l| !l.contains('$')).collect();
    for tier in ["Build", "Launch", "Grow"] {
        let name = format!("openai-{}-gpt-6-1-sol", tier.to_lowercase());
        let cap = s
            .lines()
            .find(|l| l.starts_with(&format!("| {tier} |")) && l.contains("/ month"))
            .unwrap();
        let (api, p) = capacity_preset(&name);
        assert_eq!(
            vec![api.requests_per_min, api.tokens_per_min],
            page_row(&limits, tier)
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(api.input_tokens_per_min, None);
        assert_eq!(
            api.monthly_spend_cap,
            Some(dollars_before(cap, " / month")),
            "{name}"
        );
        assert_eq!(api.tokens_charged, TokensCharged::Larger, "{name}");
        assert!(api.counting.refused && !api.counting.output_corrected);
        assert_eq!(
            [
                p.tokens.input_per_mtok,
                p.tokens.cached_input_per_mtok,
                p.tokens.cache_write_per_mtok,
                p.tokens.output_per_mtok
            ],
            [
                dollars_before(prices, ", Cached input"),
                dollars_before(prices, ", Cache writes"),
                dollars_before(prices, ", Output"),
                dollars_before(prices, ", per 1M"),
            ],
            "{name}"
        );
    }
}

/// Model `id`'s lines in openai-models-2026.txt: from its `Model ID` line
/// to the next comment.
fn model_page<'a>(s: &'a str, id: &str) -> Vec<&'a str> {
    let page: Vec<&str> = s
        .lines()
        .skip_while(|l| *l != format!("Model ID: `{id}`"))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .collect();
    assert!(!page.is_empty(), "no page for {id}");
    page
}

/// The numbers of row `name` of a page's table (`| NAME | a | b |`).
fn page_row(page: &[&str], name: &str) -> Vec<u64> {
    let row = page
        .iter()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row {name}"));
    row.split('|')
        .skip(2)
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().replace(',', "").parse().unwrap())
        .collect()
}

/// Checks preset `name`'s prices against a model page: its four token
/// rates (`| Input | $2 | 1M tokens |`), and the long-context rates its
/// sentence gives ("more than 272K input tokens are priced at 2x input and
/// cache rates and 1.5x output").
fn assert_priced_as_page(name: &str, page: &[&str]) {
    let rate = |metric: &str| {
        let row = page
            .iter()
            .find(|l| l.starts_with(&format!("| {metric} |")))
            .unwrap_or_else(|| panic!("no price row {metric}"));
        dollars_before(row, " | 1M tokens")
    };
    let base = [
        rate("Input"),
        rate("Cached input"),
        rate("Cache writes"),
        rate("Output"),
    ];
    let rule = page
        .iter()
        .find(|l| l.contains("Prompts with more than"))
        .unwrap();
    let word_before = |what: &str| -> &str {
        let at = rule.find(what).unwrap();
        rule[..at].split_whitespace().last().unwrap()
    };
    let above: u64 = word_before(" input tokens")
        .trim_end_matches('K')
        .parse::<u64>()
        .unwrap()
        * 1000;
    let times = |what: &str| -> f64 { word_before(what).trim_end_matches('x').parse().unwrap() };
    let (inputs, output) = (
        times(" input and cache rates"),
        times(" output for the full request"),
    );
    let (_, p) = capacity_preset(name);
    let l = p.long_context.expect("long-context rates");
    assert_eq!(u64::from(l.above_input_tokens), above, "{name}");
    let long = [
        base[0] * inputs,
        base[1] * inputs,
        base[2] * inputs,
        base[3] * output,
    ];
    assert_rates(name, p.tokens, base);
    assert_rates(name, l.tokens, long);
}

/// Checks rates against `expected`: input, cached input, cache writes and
/// output a million tokens.
fn assert_rates(name: &str, rates: TokenPrices, expected: [f64; 4]) {
    let got = [
        rates.input_per_mtok,
        rates.cached_input_per_mtok,
        rates.cache_write_per_mtok,
        rates.output_per_mtok,
    ];
    for (g, e) in got.iter().zip(expected) {
        assert!((g - e).abs() < 1e-12, "{name}: {got:?} vs {expected:?}");
    }
}

/// GPT-6 Astra's 2026 tiers are its page's Tier 2, 4 and 5 rows, read
/// before OpenAI renamed its tiers: the renamed tiers took the usage caps
/// of Tiers 2 and 4 (Build, Launch; the 2025 table copy stops at Tier 4)
/// and GPT-6.1-Sol's renamed rows are its family's Tier 2, 4 and 5 rows,
/// as a summary of the rate-limit guide gives them for the whole family.
/// Each Astra preset has its Sol preset's counting rules, ramp rule and
/// cap, and its page's prices, dearer past 272K input tokens as the page
/// says (so are the Sol presets, from their own page).
#[test]
fn the_gpt_6_astra_presets_are_its_renamed_tier_rows() {
    let s = source("openai-models-2026.txt");
    let (sol, astra, old_sol) = (
        model_page(&s, "gpt-6.1-sol"),
        model_page(&s, "gpt-6-astra"),
        model_page(&s, "gpt-6-sol"),
    );
    let family = s
        .lines()
        .skip_while(|l| !l.contains("Published tier examples (Astra/Sol/Terra family)"))
        .collect::<Vec<_>>();
    let caps_2026 = source("openai-rate-limits-2026.txt");
    let caps_2025 = source("openai-rate-limits.txt");
    let cap = |text: &str, tier: &str| -> Option<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start_matches("| ").starts_with(&format!("{tier} |")))?;
        Some(dollars_before(line, " / month"))
    };
    for (tier, old) in [("Build", 2), ("Launch", 4), ("Grow", 5)] {
        let old_tier = format!("Tier {old}");
        assert_eq!(
            page_row(&sol, tier),
            page_row(&old_sol, &old_tier)[..2],
            "{tier}"
        );
        assert_eq!(page_row(&family, tier), page_row(&sol, tier), "{tier}");
        assert_eq!(
            page_row(&astra, &old_tier),
            page_row(&old_sol, &old_tier),
            "{tier}"
        );
        if old < 5 {
            assert_eq!(cap(&caps_2026, tier), cap(&caps_2025, &old_tier), "{tier}");
        }
        let t = tier.to_lowercase();
        let name = format!("openai-{t}-gpt-6-astra");
        let (api, _) = capacity_preset(&name);
        let (sol_api, _) = capacity_preset(&format!("openai-{t}-gpt-6-1-sol"));
        assert_eq!(
            vec![api.requests_per_min, api.tokens_per_min],
            page_row(&astra, &old_tier)[..2]
                .iter()
                .copied()
                .map(Some)
                .collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(api.input_tokens_per_min, None, "{name}");
        assert_eq!(
            (
                api.monthly_spend_cap,
                api.counting,
                api.tokens_charged,
                api.ramp_limit
            ),
            (
                sol_api.monthly_spend_cap,
                sol_api.counting,
                sol_api.tokens_charged,
                sol_api.ramp_limit
            ),
            "{name}"
        );
        assert_eq!(presets::limit_of(&name), Some(name.clone()));
        assert_eq!(presets::account_of(&name).as_deref(), Some("openai"));
        assert_priced_as_page(&name, &astra);
        assert_priced_as_page(&format!("openai-{t}-gpt-6-1-sol"), &sol);
    }
}

/// The cell of `topic`'s row under `model`'s column of the Azure table.
fn azure_cell(s: &str, topic: &str, model: &str) -> u64 {
    let cells = |line: &str| -> Vec<String> {
        line.split('|')
            .map(|c| c.trim().trim_matches('*').to_owned())
            .collect()
    };
    let header = cells(s.lines().find(|l| l.starts_with("| Topic |")).unwrap());
    let column = header.iter().position(|c| c == model).unwrap();
    let row = cells(
        s.lines()
            .find(|l| l.starts_with(&format!("| {topic} |")))
            .unwrap(),
    );
    row[column].replace(',', "").parse().unwrap()
}

/// Azure's provisioned presets: a unit's tokens a minute, the smallest
/// deployment and the step from the onboarding page's table; the output
/// weight from its sentence ("counts as four input tokens"); cached input
/// not counted; admitted until utilization reaches 100%, the estimate the
/// prompt plus max_tokens, corrected at the end.
#[test]
fn the_azure_presets_are_their_source() {
    let s = source("azure-provisioned.txt");
    assert!(s.contains("cached tokens are deducted 100% from the utilization"));
    assert!(s.contains("Calls are accepted until utilization reaches 100%"));
    assert!(s.contains(
        "combining the prompt token count (less any cached tokens) and the specified `max_tokens`"
    ));
    assert!(s.contains("corrects the utilization estimate using actual token counts"));
    let weight = |model: &str| -> u32 {
        let at = s
            .find(&format!("{model}, one output token counts as "))
            .unwrap();
        let word = s[at..].split("counts as ").nth(1).unwrap();
        match word.split_whitespace().next().unwrap() {
            "four" => 4,
            "eight" => 8,
            other => panic!("{other}"),
        }
    };
    for (name, model, kind) in [
        (
            "azure-global-provisioned-gpt-4-1",
            "gpt-4.1",
            "Global & data zone",
        ),
        ("azure-regional-provisioned-gpt-4-1", "gpt-4.1", "Regional"),
        (
            "azure-datazone-provisioned-gpt-4-1",
            "gpt-4.1",
            "Global & data zone",
        ),
        (
            "azure-global-provisioned-gpt-5",
            "gpt-5",
            "Global & data zone",
        ),
    ] {
        let min = azure_cell(&s, &format!("{kind} provisioned minimum deployment"), model);
        let step = azure_cell(&s, &format!("{kind} provisioned scale increment"), model);
        let per_unit = azure_cell(&s, "Input TPM per PTU", model);
        let (api, _) = shared_api_of(&format!(
            "preset = \"{name}\", provisioned_units = {}",
            min + 2 * step
        ));
        assert_eq!(
            api.tokens_per_min,
            Some((min + 2 * step) * per_unit),
            "{name}"
        );
        assert_eq!(api.output_token_weight, weight(model), "{name}");
        assert_eq!(api.admit, Admit::BelowLimit, "{name}");
        assert_eq!(api.tokens_charged, TokensCharged::Sum, "{name}");
        assert_eq!(api.counting.cache_reads, Some(false), "{name}");
        assert!(api.counting.output_corrected, "{name}");
        // Sizes between the steps are not on offer, nor below the least.
        for units in [min - 1, min + step - 1] {
            let e = load_error(&[&format!(
                "capacity={{ preset = \"{name}\", provisioned_units = {units}, time_to_first_token = \"1s\" }}"
            )]);
            assert!(
                e.contains("capacity.provisioned_units") && e.contains("not a size on offer"),
                "{e}"
            );
        }
    }
}

/// The amount `text` starts with ("2,652" in "$2,652 / PTU"), its commas
/// dropped; none where it starts with no number.
fn leading_amount(text: &str) -> Option<f64> {
    let number: String = text
        .trim_start_matches(['$', '*'])
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    number.trim_end_matches('.').parse().ok()
}

/// Every dollar amount in `text`.
fn dollar_amounts(text: &str) -> Vec<f64> {
    text.split('$').skip(1).filter_map(leading_amount).collect()
}

/// The dollar amount right after `label` in the first line of `s` that
/// holds it.
fn dollars_after(s: &str, label: &str) -> f64 {
    let line = s
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("no {label}"));
    leading_amount(&line[line.find(label).unwrap() + label.len()..]).unwrap()
}

/// Azure's provisioned presets bill a PTU-hour at the Retail Prices API's
/// rate for their deployment type, and no tokens: two readings of the API,
/// one listing the meters Regional, Data Zone, Global and one Global, Data
/// Zone, Regional, agree on each. The shipped model buys its PTUs for a
/// month at the 1-month reservation's price, which two readings agree on,
/// about 64% below the hourly rate as a third says.
#[test]
fn the_azure_presets_price_a_ptu_hour_as_their_source() {
    let s = source("azure-ptu-prices.txt");
    let hourly = |kind: &str| dollars_after(&s, &format!("{kind} $"));
    let meters = s
        .lines()
        .find(|l| l.contains("meters at different prices --"))
        .unwrap();
    assert!(s.contains("Regional, Data Zone and Global provisioned are separate"));
    let listed = dollar_amounts(meters);
    assert_eq!(
        listed,
        [hourly("Regional"), hourly("Data Zone"), hourly("Global")]
    );
    for (name, kind) in [
        ("azure-global-provisioned-gpt-4-1", "Global"),
        ("azure-regional-provisioned-gpt-4-1", "Regional"),
        ("azure-datazone-provisioned-gpt-4-1", "Data Zone"),
        ("azure-global-provisioned-gpt-5", "Global"),
    ] {
        let (_, prices) = shared_api_of(&format!("preset = \"{name}\", provisioned_units = 50"));
        assert_eq!(prices.per_unit_hour, hourly(kind), "{name}");
        assert_eq!(
            prices.tokens.input_per_mtok + prices.tokens.output_per_mtok,
            0.0,
            "{name}"
        );
    }
    // Each price a preset's description quotes is one the readings give.
    let read = dollar_amounts(&s);
    for listed in presets::list(Fills::Capacity) {
        if listed.file == "azure.toml" {
            for quoted in dollar_amounts(&listed.description) {
                assert!(read.contains(&quoted), "{}: ${quoted}", listed.name);
            }
        }
    }
    let month = dollars_after(&s, "| 1-month reservation | ");
    assert_eq!(month, dollars_after(&s, "Reservation, Global: "));
    assert_eq!(
        dollars_after(&s, "| 1-year reservation | "),
        dollars_after(&s, "per month (1-month term) or ")
    );
    let discount = 1.0 - month / (HOURS_PER_MONTH * hourly("Global"));
    assert!((discount - 0.64).abs() < 0.005, "{discount}");
    let model = shipped("azure-provisioned.toml", &[]);
    let reserved = model.pools[0].prices.per_unit_hour * HOURS_PER_MONTH;
    assert!(
        (reserved - month).abs() < 1e-9,
        "{reserved} against {month}"
    );
}

/// A provisioned deployment's units are priced by the hour or by the
/// month, not both; tokens need no price beside a preset that prices none.
#[test]
fn provisioned_units_are_priced_by_the_hour_or_the_month() {
    let at = "capacity={ preset = \"azure-global-provisioned-gpt-4-1\", provisioned_units = 20, time_to_first_token = \"1s\" }";
    let e = load_error(&[
        at,
        "prices={ per_provisioned_unit_hour = 1.0, per_provisioned_unit_month = 260 }",
    ]);
    assert!(
        e.contains("prices.per_provisioned_unit_month") && e.contains("not both"),
        "{e}"
    );
    let e = load_error(&["prices={ per_provisioned_unit_month = 260 }"]);
    assert!(
        e.contains("prices.per_provisioned_unit_month") && e.contains("provisioned_units only"),
        "{e}"
    );
    let monthly = spec(BASE, &[at, "prices={ per_provisioned_unit_month = 146 }"]);
    assert_eq!(monthly.pools[0].prices.per_unit_hour, 0.2);
}

/// A provisioned deployment without its size, or with a combined limit
/// given twice, or a weight out of range, is refused at the key.
#[test]
fn a_provisioned_deployment_says_its_size() {
    for (capacity, wanted) in [
        (
            "preset = \"azure-global-provisioned-gpt-4-1\"",
            &["capacity.provisioned_units", "missing", "(15, 20, 25, ...)"][..],
        ),
        (
            "preset = \"azure-global-provisioned-gpt-4-1\", provisioned_units = 15, tokens_per_min = 9",
            &["capacity.tokens_per_min", "not both"],
        ),
        (
            "kind = \"shared_api\", provisioned_units = 15",
            &["capacity.tokens_per_min_per_unit", "missing"],
        ),
        (
            "kind = \"shared_api\", tokens_per_min = 1000, output_token_weight = 0",
            &["capacity.output_token_weight"],
        ),
    ] {
        let e = load_error(&[&format!(
            "capacity={{ {capacity}, time_to_first_token = \"1s\" }}"
        )]);
        assert!(wanted.iter().all(|w| e.contains(w)), "{capacity}: {e}");
    }
}

/// Azure's provisioned rule, recounted from the event log: 15 PTUs of
/// gpt-4.1 are 45,000 tokens a minute; a call is charged its 100 uncached
/// input tokens plus 4 × its `max_tokens` (1,700) at admission and
/// corrected to 4 × its 100 output tokens (500) when it finishes, so over
/// 20 minutes the finished calls hold 20 minutes of refill and the full
/// bucket (945,000 tokens), less what the calls still in flight have not
/// had corrected, plus at most the one call that took it below empty.
/// Uncorrected, the same calls would be charged 1,700 each: 3.4 times
/// fewer get through.
#[test]
fn a_provisioned_deployment_admits_its_throughput() {
    let azure = "preset = \"azure-global-provisioned-gpt-4-1\", provisioned_units = 15";
    let most = 45_000.0 * 21.0;
    let corrected = finished(azure) * 500.0;
    assert!(
        corrected <= most + 1_700.0 && corrected >= most - 5_000.0,
        "{corrected} counted tokens finished against {most}"
    );
    let uncorrected = finished(&format!("{azure}, output_corrected = false")) * 1_700.0;
    assert!(
        uncorrected <= most + 1_700.0 && uncorrected >= most - 5_000.0,
        "{uncorrected} counted tokens finished against {most}"
    );
}

/// OpenAI's combined limit, recounted: 60,000 tokens a minute charged the
/// larger of the input (1,000, cache reads counted) and `max_tokens` (400)
/// lets 1,000-token calls through; charged their sum, 1,400-token calls.
/// Either way the finished calls hold what the bucket gave, within a call.
#[test]
fn a_combined_limit_admits_what_it_charges() {
    for (charged, each) in [
        ("larger_of_input_and_output", 1_000.0),
        ("input_plus_output", 1_400.0),
    ] {
        let admitted = finished(&format!(
            "kind = \"shared_api\", tokens_per_min = 60000, tokens_charged = \"{charged}\", output_corrected = false, cache_reads_count = true"
        )) * each;
        let most = 60_000.0 * 21.0;
        assert!(
            admitted <= most && admitted >= most - 3.0 * each,
            "{charged}: {admitted} tokens admitted, at most {most}"
        );
    }
}

/// A provisioned deployment is billed by the unit all month, whatever it
/// serves: 20 PTUs at $2 a unit-hour are $29,200 committed a month, and
/// a 2-hour window holds 2 hours of them ($80), tokens free; the bill says
/// so. The price is refused on a shared API without units, and a
/// deployment without one (no preset's) is warned of.
#[test]
fn provisioned_units_are_billed_all_month() {
    let deployment = "capacity={ preset = \"azure-global-provisioned-gpt-4-1\", provisioned_units = 20, time_to_first_token = \"1s\" }";
    let s = crate::support::run(
        BASE,
        &[
            "duration=2h",
            "warmup=0s",
            deployment,
            "prices={ per_provisioned_unit_hour = 2 }",
        ],
    );
    assert_eq!(s.committed_per_month_usd, 20.0 * 2.0 * 730.0);
    assert_eq!(s.cost_per_month_usd, s.committed_per_month_usd);
    assert!(
        (s.cost_usd - 20.0 * 2.0 * 2.0).abs() < 1e-9,
        "{}",
        s.cost_usd
    );
    let e = load_error(&[
        "capacity={ kind = \"shared_api\", requests_per_min = 10, time_to_first_token = \"1s\" }",
        "prices={ per_provisioned_unit_hour = 2 }",
    ]);
    assert!(
        e.contains("prices.per_provisioned_unit_hour") && e.contains("provisioned_units"),
        "{e}"
    );
    let priced = warnings_about(&[deployment], "prices.per_provisioned_unit_hour");
    assert!(priced.is_empty(), "the preset prices its units: {priced:?}");
    let unpreset = "capacity={ kind = \"shared_api\", tokens_per_min_per_unit = 3000, provisioned_units = 20, time_to_first_token = \"1s\" }";
    let warned = warnings_about(&[unpreset], "prices.per_provisioned_unit_hour");
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("per_provisioned_unit_month"),
        "{warned:?}"
    );
}

/// Calls of 1,000 input tokens and `max_tokens` 4,096 under a combined
/// limit of 5,000: charged the sum (5,096) none can ever be admitted, and
/// the model is warned; charged the larger (4,096), or admitted while the
/// bucket holds anything, every one can.
#[test]
fn calls_too_large_for_a_combined_limit_are_warned_of() {
    let warned = |extra: &str| {
        warnings_about(
            &[
                "agents.a.input_tokens=1000",
                "agents.a.max_output_tokens=4096",
                &format!(
                    "capacity={{ kind = \"shared_api\", tokens_per_min = 5000, cache_reads_count = true, time_to_first_token = \"1s\"{extra} }}"
                ),
            ],
            "can never be admitted",
        )
    };
    let sum = warned("");
    assert_eq!(sum.len(), 1, "{sum:?}");
    assert!(
        sum[0].contains("capacity.tokens_per_min (5000)") && sum[0].contains("100.0% of calls"),
        "{sum:?}"
    );
    assert!(warned(", tokens_charged = \"larger_of_input_and_output\"").is_empty());
    assert!(warned(", admit = \"below_limit\"").is_empty());
}

/// A month past the tier's spend cap is said, with when the cap would be
/// spent: BASE's 60 loops a minute of 3 calls on Anthropic's 2026 Start
/// tier for Sonnet 5.5 cost more a month than its $500 cap, which a
/// 730-hour month at the run's rate spends cap / month × 730 hours in; on
/// Scale ($200,000) nothing is said.
#[test]
fn a_month_past_the_tiers_spend_cap_is_said() {
    let over = |preset: &str| {
        let s = crate::support::run(
            BASE,
            &[
                "duration=2h",
                "agents.a.input_tokens=2000",
                "agents.a.output_tokens=100",
                &format!("capacity={{ preset = \"{preset}\", time_to_first_token = \"1s\" }}"),
            ],
        );
        let notes = loopcap::report::verdict::of_run(&s).notes;
        (s, notes)
    };
    let (s, notes) = over("anthropic-start-sonnet");
    assert!(s.cost_per_month_usd > 500.0, "{}", s.cost_per_month_usd);
    assert_eq!(s.over_spend_cap.len(), 1);
    let hours = 500.0 / s.cost_per_month_usd * 730.0;
    let said: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("over its tier's $500 monthly spend cap"))
        .collect();
    assert_eq!(said.len(), 1, "{notes:?}");
    let when = if hours * 3600.0 < 7200.0 {
        format!("{:.0} min into a month", hours * 60.0)
    } else {
        format!("{hours:.1} h into a month")
    };
    assert!(said[0].contains(&when), "{} against {when}", said[0]);
    let (s, notes) = over("anthropic-scale-sonnet");
    assert!(s.over_spend_cap.is_empty() && !notes.iter().any(|n| n.contains("spend cap")));
}

/// Plans that meet every SLO but whose month passes their tier's spend
/// cap cannot be bought: the same 40 developers on Anthropic's 2026 Start
/// and Scale tiers for Sonnet 5.5 complete the same loops at the same
/// cost, over Start's $500 cap and under Scale's $200,000, so the answer
/// is Scale and the table says why Start is not.
#[test]
fn a_plan_over_its_tiers_spend_cap_is_not_bought() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans.toml");
    let mut text = String::from("name = \"tiers\"\n");
    for (name, preset) in [
        ("Start", "anthropic-start-sonnet"),
        ("Scale", "anthropic-scale-sonnet"),
    ] {
        text.push_str(&format!(
            "[[plan]]\nname = \"{name}\"\nset = {{ capacity = {{ preset = \"{preset}\", time_to_first_token = \"1s\" }} }}\n"
        ));
    }
    std::fs::write(&plans, text).unwrap();
    let size = |json: bool| {
        let mut cmd = crate::support::loopcap();
        cmd.args(["size", "models/coding-agents-shared.toml", "--plans"])
            .arg(&plans)
            .args(["--slo", "loops_failed_share <= 1%", "--replications", "2"])
            .args(["--set", "duration=1h", "--set", "warmup=10m"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&size(true)).unwrap();
    assert_eq!(json["answer"], "Scale", "{json}");
    let plan = |i: usize| &json["plans"][i];
    assert_eq!(plan(0)["name"], "Start");
    assert_eq!(
        (
            plan(0)["over_spend_cap"].as_bool(),
            plan(0)["met"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(plan(0)["cost_per_month_usd"], plan(1)["cost_per_month_usd"]);
    assert_eq!(plan(0)["verdicts"][0]["met"], true, "every SLO is met");
    let table = size(false);
    let start = table.lines().find(|l| l.starts_with("Start ")).unwrap();
    assert!(start.ends_with("over its tier's spend cap"), "{table}");
}

/// Users who each spend about $65.7 a month on Anthropic's 2026 Start
/// tier for Sonnet 5.5, whose cap is $500 (see the test below).
const CAPPED: &str = "name = \"capped\"\nseed = 3\nduration = \"3h\"\nwarmup = \"20m\"\n\n[[workload]]\nname = \"team\"\nagent = \"a\"\nusers = 1\nthink_time = { dist = \"exponential\", mean = \"10m\" }\n\n[agents.a]\nsteps = 3\ninput_tokens = 2000\noutput_tokens = 100\n\n[capacity]\npreset = \"anthropic-start-sonnet\"\ntime_to_first_token = \"1s\"\n";

/// The most users a tier's spend cap lets through: each of these users
/// thinks 10 minutes between loops of 3 calls of 2,000 input and 100
/// output tokens on Anthropic's 2026 Start tier for Sonnet 5.5 ($2 and $10
/// a million), so spends 3 × $0.005 = $0.015 a loop, about 6 loops an
/// hour, $65.7 a 730-hour month: the $500 cap holds about 7.6 of them.
/// `size --max-users` answers the largest count whose month stays under
/// the cap in every replication (the SLO met by every count), the table
/// and a note saying why the next is refused.
#[test]
fn the_most_users_a_spend_cap_serves() {
    let dir = tempfile::tempdir().unwrap();
    let model = CAPPED;
    std::fs::write(dir.path().join("capped.toml"), model).unwrap();
    let size = |json: &[&str]| {
        let out = crate::support::loopcap()
            .args([
                "size",
                "capped.toml",
                "--max-users",
                "workload.team.users=1..40",
            ])
            .args(["--slo", "loops_failed_share <= 1%", "--replications", "4"])
            .args(json)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    let json: serde_json::Value = serde_json::from_slice(&size(&["--json"])).unwrap();
    let most = json["answer"].as_i64().expect("an answer");
    assert!(
        (6..=8).contains(&most),
        "{most} users against about 7.6: {json}"
    );
    let probes = json["probes"].as_array().unwrap();
    let probe = |users: i64| probes.iter().find(|p| p["value"] == users).unwrap();
    assert_eq!(probe(most)["over_spend_cap"], false);
    assert_eq!(probe(most + 1)["over_spend_cap"], true, "{json}");
    assert_eq!(
        probe(most + 1)["verdicts"][0]["met"],
        true,
        "only the cap refuses it"
    );
    let table = String::from_utf8(size(&[])).unwrap();
    let row = format!("{:>14}", most + 1);
    let row = table.lines().find(|l| l.starts_with(&row)).unwrap();
    assert!(row.ends_with("over its tier's spend cap"), "{table}");
    assert!(
        table.contains("values run pass their tier's monthly spend cap"),
        "{table}"
    );
    // Its replications rerun on their own agree: one user more spends
    // past the cap in one of them at least, the answer in none.
    for (users, past) in [(most, false), (most + 1, true)] {
        let text = model.replace("users = 1", &format!("users = {users}"));
        let runs: Vec<bool> = (0..4)
            .map(|r| {
                let seed = loopcap::sweep::run_seed(3, 0, r, true);
                let s = crate::support::run(&text, &[&format!("seed={seed}")]);
                !s.over_spend_cap.is_empty()
            })
            .collect();
        assert_eq!(runs.iter().any(|&o| o), past, "{users} users: {runs:?}");
    }
}

/// BASE's calls spread evenly over pools `a` and `b`, each with its
/// `capacity` fields, at $1 and $2 a million tokens.
fn two_pools(a: &str, b: &str) -> String {
    let mut model = BASE.split("[capacity]").next().unwrap().to_owned();
    for (name, capacity) in [("a", a), ("b", b)] {
        model += &format!(
            "\n[[pool]]\nname = \"{name}\"\ncapacity = {{ {capacity}, time_to_first_token = \"1s\" }}\nprices = {{ input_per_mtok = 1.0, output_per_mtok = 2.0 }}\n"
        );
    }
    model + "\n[router]\nkind = \"weighted\"\nweights = { a = 1, b = 1 }\n"
}

/// Run `s` of [`two_pools`] spends $473 a month in each pool, and its one
/// month past a cap is `group`'s, of `cap_usd`, over both pools' months
/// together, which the verdict names.
fn assert_both_pools_pass(
    s: &loopcap::model::measure::summary::Summary,
    group: &str,
    cap_usd: f64,
) {
    for pool in &s.pools {
        assert!(
            crate::support::rel(pool.cost_per_month_usd, 473.04) < 0.05,
            "{}: {}",
            pool.name,
            pool.cost_per_month_usd
        );
    }
    let [over] = &s.over_spend_cap[..] else {
        panic!("{:?}", s.over_spend_cap);
    };
    let both: f64 = s.pools.iter().map(|p| p.cost_per_month_usd).sum();
    assert_eq!(
        (over.pool.as_str(), over.pools.as_slice()),
        (group, &["a".to_owned(), "b".to_owned()][..])
    );
    assert_eq!((over.cap_usd, over.cost_per_month_usd), (cap_usd, both));
    let notes = loopcap::report::verdict::of_run(s).notes;
    let note = format!("The month of {group} together (a, b)");
    assert!(notes.iter().any(|n| n.starts_with(&note)), "{notes:?}");
}

/// An organization's spend cap holds its pools' months together, as
/// Anthropic's and OpenAI's caps are an organization's: BASE's 60 loops a
/// minute of 3 calls of 100 input and 10 output tokens, spread evenly over
/// pools `a` and `b` at $1 and $2 a million, spend 90 × (100 × $1 + 10 ×
/// $2) / 10⁶ = $0.0108 a minute each, $473 a 730-hour month. Neither
/// passes a cap of $700 alone; under an organization capped at $700 the
/// two together ($946) do, and the verdict names them. A `[shared_limits]`
/// group over `a` alone capped at $400 is passed by `a`'s month.
#[test]
fn an_organizations_spend_cap_counts_its_pools_together() {
    let capped = "kind = \"shared_api\", monthly_spend_cap = 700";
    let model = two_pools(capped, capped);
    let run = |group: &str| {
        let mut overrides = vec!["duration=2h", "warmup=0s"];
        overrides.extend((!group.is_empty()).then_some(group));
        crate::support::run(&model, &overrides)
    };
    let alone = run("");
    assert!(
        alone.over_spend_cap.is_empty(),
        "{:?}",
        alone.over_spend_cap
    );
    assert_eq!(
        alone.spend_cap_month_share, 1.0,
        "every cap covers the month"
    );
    let s = run("organization={ monthly_spend_cap = 700 }");
    assert_both_pools_pass(&s, "organization", 700.0);
    let both: f64 = s.pools.iter().map(|p| p.cost_per_month_usd).sum();
    assert!(crate::support::rel(both, 946.08) < 0.05, "{both}");
    // The cap lasts 700 of the $946 a month together would spend.
    assert!(
        crate::support::rel(s.spend_cap_month_share, 700.0 / 946.08) < 0.05,
        "{}",
        s.spend_cap_month_share
    );
    let s = run("shared_limits={ x = { pools = [\"a\"], limits = { monthly_spend_cap = 400 } } }");
    let named: Vec<(&str, &[String])> = s
        .over_spend_cap
        .iter()
        .map(|o| (o.pool.as_str(), o.pools.as_slice()))
        .collect();
    assert_eq!(named, [("shared_limits.x", &["a".to_owned()][..])]);
    assert!(
        crate::support::rel(s.spend_cap_month_share, 400.0 / 473.04) < 0.05,
        "{}",
        s.spend_cap_month_share
    );
}

/// A usage tier's spend cap is its organization's, over every model it
/// calls (Anthropic: "the maximum cost an organization can incur for API
/// usage"), where its rate limits are each model class's: pools naming
/// presets of one account spend against one cap. [`two_pools`] with `a`
/// on Start for Opus 5.5 and `b` on Start for Haiku 5.5 (prices given
/// beside the presets): neither's $473 a month passes Start's $500 alone,
/// the two together do, and the verdict names the account. Pools giving
/// one account two caps are refused; the same cap given beside a preset
/// is not.
#[test]
fn an_accounts_one_spend_cap_holds_every_model_it_calls() {
    assert!(
        source("anthropic-usage-tiers-2025.txt")
            .contains("determining the maximum cost an organization can incur for API usage")
    );
    let model = two_pools(
        "preset = \"anthropic-start-opus\"",
        "preset = \"anthropic-start-haiku\"",
    );
    let s = crate::support::run(&model, &["duration=2h", "warmup=0s"]);
    assert_both_pools_pass(&s, "account.anthropic", 500.0);
    // One organization, one tier: Start's cap beside Build's is refused,
    // naming both pools, and blaming the override that made them differ.
    let error = crate::support::load_error_of(
        &two_pools(
            "preset = \"anthropic-start-opus\"",
            "preset = \"anthropic-build-haiku\"",
        ),
        &[],
    );
    assert!(
        error.contains("pool: pools `a` and `b` name presets of the account \"anthropic\" with monthly spend caps of 500 and 1000"),
        "{error}"
    );
    let error = crate::support::load_error_of(
        &two_pools(
            "preset = \"anthropic-start-opus\"",
            "preset = \"anthropic-start-haiku\"",
        ),
        &["pool.0.capacity.preset=\"anthropic-scale-opus\""],
    );
    assert!(
        error.starts_with(
            "--set pool.0.capacity.preset=\"anthropic-scale-opus\": pool: pools `a` and `b`"
        ),
        "{error}"
    );
    spec(
        &two_pools(
            "preset = \"anthropic-start-opus\"",
            "preset = \"anthropic-start-haiku\", monthly_spend_cap = 500",
        ),
        &[],
    );
}

/// Every capacity preset that sells a monthly spend cap names the account
/// the cap is: its provider's, as its presets file is.
#[test]
fn every_preset_with_a_spend_cap_names_its_account() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    let mut capped = 0;
    for provider in ["anthropic", "openai", "azure", "self-hosted"] {
        let text = std::fs::read_to_string(dir.join(format!("{provider}.toml"))).unwrap();
        let presets: toml::Table = toml::from_str(&text).unwrap();
        for (name, preset) in &presets {
            let has_cap = preset
                .get("capacity")
                .and_then(|c| c.get("monthly_spend_cap"))
                .is_some();
            let account = preset.get("account").and_then(|a| a.as_str());
            if has_cap {
                capped += 1;
                assert_eq!(account, Some(provider), "{name}");
            } else if let Some(account) = account {
                assert_eq!(account, provider, "{name}");
            }
        }
    }
    assert!(capped >= 20, "{capped} presets with a cap");
}

/// A sweep judges spend caps too: the capped users of
/// `the_most_users_a_spend_cap_serves` ($65.7 a month each against the
/// Start tier's $500) swept over 4, 7 and 10 users. Every run's
/// `spend_cap_month_share` is the cap over its own month's cost (at most
/// 1), recounted from runs.csv's cost column; the verdict counts the
/// points one of whose replications passes the cap, names the one that
/// spends it soonest, and takes the lowest p99 only among the others.
#[test]
fn a_sweep_says_which_points_spend_past_their_cap() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("capped.toml"), CAPPED).unwrap();
    std::fs::write(
        dir.path().join("users.toml"),
        "name = \"users\"\nseed = 3\nmodel = \"capped.toml\"\nreplications = 3\n\n[grid]\n\"workload.team.users\" = [4, 7, 10]\n",
    )
    .unwrap();
    let out = crate::support::loopcap()
        .args(["sweep", "users.toml", "--out", "out"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let mut runs = csv::Reader::from_path(dir.path().join("out/runs.csv")).unwrap();
    let header = runs.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (users, cost, share) = (
        column("workload.team.users"),
        column("cost_per_month_usd"),
        column("spend_cap_month_share"),
    );
    let mut over = std::collections::BTreeSet::new();
    for row in runs.records() {
        let row = row.unwrap();
        let cost: f64 = row[cost].parse().unwrap();
        let share: f64 = row[share].parse().unwrap();
        assert!(
            (share - (500.0 / cost).min(1.0)).abs() < 1e-9,
            "{share} against $500 of ${cost}"
        );
        if cost > 500.0 {
            over.insert(row[users].to_owned());
        }
    }
    // About 7.6 users fit: 4 never passes it, 10 always does.
    assert!(!over.contains("4") && over.contains("10"), "{over:?}");
    let verb = if over.len() == 1 { "spends" } else { "spend" };
    let note = format!(
        "{} of 3 points {verb} past a tier's monthly spend cap",
        over.len()
    );
    assert!(printed.contains(&note), "{note}\n{printed}");
    assert!(
        printed.contains("the soonest, workload.team.users = 10, spends it "),
        "{printed}"
    );
    assert!(
        printed.contains("fails no loop and stays within its spend caps: ")
            && printed.contains("at workload.team.users = 4."),
        "{printed}"
    );
}

/// Claude Haiku 5.5's 2026 tiers: each tier's Opus row (the release notes
/// align Haiku's limits with Opus's), and its prices from the pricing
/// page's two rows, for a prompt up to 100,000 tokens and over (input,
/// 5-minute cache writes, cache hits and output), which a second copy and,
/// for the short prompts, a course section's quote give too.
#[test]
fn the_2026_haiku_presets_are_their_source() {
    let s = source("anthropic-haiku-2026.txt");
    assert!(s.contains("Sonnet and Haiku limits now align with Opus within each usage tier"));
    // The rules the long-context rates follow: the whole call, its input
    // counted with cache reads and writes, the cache multipliers on top.
    for rule in [
        "a request whose prompt is over 100,000 tokens pays higher prices",
        "based solely on input tokens (including cache reads/writes)",
        "Prompt caching multipliers apply on top of long context pricing",
    ] {
        assert!(s.contains(rule), "{rule}");
    }
    // The page's row for prompts `size` ("up to", "over") 100,000 tokens:
    // [input, 5m write, 1h write, hits, output] and the size.
    let page_row = |size: &str| -> (Vec<f64>, u64) {
        let lead = format!("Claude Haiku 5.5 (for prompts {size} ");
        let row = s.lines().find(|l| l.starts_with(&lead)).unwrap();
        let tokens = row[lead.len()..].split(' ').next().unwrap();
        let rates = row
            .split('|')
            .skip(1)
            .map(|c| dollars_before(c, " / MTok"))
            .collect();
        (rates, tokens.replace(',', "").parse().unwrap())
    };
    let (short, up_to) = page_row("up to");
    let (long, over) = page_row("over");
    assert_eq!(up_to, over);
    // The second copy: input, output, 5m write, hits per row.
    for (sign, page) in [("≤", &short), (">", &long)] {
        let row = s
            .lines()
            .find(|l| l.starts_with(&format!("| Haiku 5.5 (prompt {sign} 100K) |")))
            .unwrap();
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let dollars = |cell: &str| -> f64 { cell.trim_start_matches('$').parse().unwrap() };
        let write = cells[4].split(" / ").next().unwrap();
        assert_eq!(
            [
                dollars(cells[2]),
                dollars(cells[3]),
                dollars(write),
                dollars(cells[5])
            ],
            [page[0], page[4], page[1], page[3]],
            "{row}"
        );
    }
    // The course section's quote: both inputs, and one output, the short
    // prompts'.
    let course: Vec<&str> = s
        .lines()
        .find(|l| l.starts_with("| Claude Haiku 5.5 |"))
        .unwrap()
        .split('|')
        .collect();
    assert_eq!(
        [
            dollars_before(course[3], " (≤100K)"),
            dollars_before(course[3], " (>100K)"),
            dollars_before(&format!("{} |", course[4]), " |"),
        ],
        [short[0], long[0], short[4]]
    );
    let opus = source("anthropic-rate-limits-2026.txt");
    for tier in ["Start", "Build", "Scale"] {
        let name = format!("anthropic-{}-haiku", tier.to_lowercase());
        let (api, p) = capacity_preset(&name);
        let (opus_api, _) = capacity_preset(&format!("anthropic-{}-opus", tier.to_lowercase()));
        let opus_row: Vec<&str> = opus
            .lines()
            .find(|l| l.starts_with(&format!("| {tier} |")))
            .unwrap()
            .split('|')
            .collect();
        assert_eq!(
            vec![
                api.requests_per_min,
                api.input_tokens_per_min,
                api.output_tokens_per_min
            ],
            triple(opus_row[3]),
            "{name}"
        );
        assert_eq!(api.monthly_spend_cap, opus_api.monthly_spend_cap, "{name}");
        assert_eq!(api.counting.cache_reads, Some(false), "{name}");
        let l = p.long_context.expect("long-context rates");
        assert_eq!(u64::from(l.above_input_tokens), over, "{name}");
        for (rates, page) in [(p.tokens, &short), (l.tokens, &long)] {
            assert_rates(&name, rates, [page[0], page[3], page[1], page[4]]);
        }
    }
}

/// Long-context rates name their size, and a rate not given is the base
/// rate of its kind.
#[test]
fn long_context_rates_are_checked_and_default_to_the_base_ones() {
    let e =
        load_error(&["prices={ input_per_mtok = 1, long_context = { above_input_tokens = 0 } }"]);
    assert!(
        e.contains("prices.long_context.above_input_tokens: must be a whole number from 1"),
        "{e}"
    );
    let e = load_error(&["prices={ long_context = { input_per_mtok = 2 } }"]);
    assert!(e.contains("above_input_tokens"), "{e}");
    let e =
        load_error(&["prices={ long_context = { above_input_tokens = 10, input_per_mtok = -1 } }"]);
    assert!(e.contains("prices.long_context.input_per_mtok"), "{e}");
    let s = spec(
        BASE,
        &[
            "prices={ input_per_mtok = 3, cached_input_per_mtok = 0.3, output_per_mtok = 15, long_context = { above_input_tokens = 200000, input_per_mtok = 6 } }",
        ],
    );
    let l = s.pools[0].prices.long_context.unwrap();
    assert_eq!(l.above_input_tokens, 200_000);
    let t = l.tokens;
    assert_eq!(
        [
            t.input_per_mtok,
            t.cached_input_per_mtok,
            t.cache_write_per_mtok,
            t.output_per_mtok
        ],
        [6.0, 0.3, 3.0, 15.0]
    );
}

/// Anthropic renamed its tiers in 2026 and changed their numbers (its 2026
/// source says so): each 2025 tier's preset names its class's Start, Build
/// and Scale as what is sold now, `loopcap presets` says so under it, and
/// a model naming one is warned at the preset (a pool's too) where one
/// naming a 2026 tier is not.
#[test]
fn a_tier_no_longer_sold_is_warned_of_and_names_what_is_sold_now() {
    let s = source("anthropic-rate-limits-2026.txt");
    let first = s.lines().next().unwrap();
    assert!(
        first.contains("after its tiers were renamed Start, Build and Scale"),
        "{first}"
    );
    let listed = presets::list(Fills::Capacity);
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    let mut superseded = 0;
    for p in &listed {
        let of_2025 = p.name.starts_with("anthropic-tier");
        assert_eq!(
            of_2025,
            p.description.contains("(2025 tables)"),
            "{}",
            p.name
        );
        if !of_2025 {
            assert!(p.superseded_by.is_empty(), "{}", p.name);
            continue;
        }
        superseded += 1;
        let class = p.name.rsplit('-').next().unwrap();
        let now: Vec<String> = ["start", "build", "scale"]
            .map(|tier| format!("anthropic-{tier}-{class}"))
            .to_vec();
        assert_eq!(p.superseded_by, now, "{}", p.name);
        assert!(now.iter().all(|n| names.contains(&n.as_str())), "{now:?}");
    }
    // Tiers 1 to 4, each for Opus, Sonnet and Haiku.
    assert_eq!(superseded, 12);

    let out = loopcap().arg("presets").output().unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    let under = |name: &str| {
        let mut lines = list
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(name));
        lines.nth(2).unwrap_or_default().trim().to_owned()
    };
    assert_eq!(
        under("anthropic-tier2-sonnet "),
        "no longer sold: now anthropic-start-sonnet, anthropic-build-sonnet, anthropic-scale-sonnet"
    );
    assert!(!under("anthropic-start-sonnet ").starts_with("no longer sold"));

    let warned = |capacity: &str| warnings_about(&[capacity], "no longer sells");
    let said =
        warned("capacity={ preset = \"anthropic-tier2-sonnet\", time_to_first_token = \"1s\" }");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("capacity.preset")
            && said[0]
                .contains("anthropic-start-sonnet, anthropic-build-sonnet, anthropic-scale-sonnet"),
        "{said:?}"
    );
    assert!(
        warned("capacity={ preset = \"anthropic-start-sonnet\", time_to_first_token = \"1s\" }")
            .is_empty()
    );
    // Two pools, the second on a 2025 tier (the first another provider's:
    // one organization is on one of Anthropic's tiers).
    let mut model = BASE.split("[capacity]").next().unwrap().to_owned();
    for (name, preset) in [
        ("now", "openai-grow-gpt-6-1-sol"),
        ("then", "anthropic-tier4-opus"),
    ] {
        model += &format!(
            "\n[[pool]]\nname = \"{name}\"\ncapacity = {{ preset = \"{preset}\", time_to_first_token = \"1s\" }}\n"
        );
    }
    model += "\n[router]\nkind = \"spillover\"\norder = [\"now\", \"then\"]\n";
    let source = Source {
        name: "test.toml".into(),
        text: model,
        base_dir: ".".into(),
    };
    let pool: Vec<String> = config::load_model_with(&source, &[] as &[&str])
        .unwrap()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let said: Vec<&String> = pool
        .iter()
        .filter(|w| w.contains("no longer sells"))
        .collect();
    assert_eq!(said.len(), 1, "{pool:?}");
    assert!(said[0].contains("pool.1.capacity.preset"), "{said:?}");
    assert!(said[0].contains("`anthropic-tier4-opus`"), "{said:?}");
}

/// OpenAI's 2026 presets hold traffic past a million input tokens a minute
/// to half again what it was 15 minutes before, as its error-codes guide's
/// rule of thumb says; the 2025 preset, read before it, has no such rule.
#[test]
fn the_openai_ramp_rule_is_its_source() {
    let s = source("openai-ramp-2026.txt");
    let rule = s
        .lines()
        .find(|l| l.starts_with("As a rule of thumb"))
        .unwrap();
    let after = |label: &str| -> String {
        let at = rule.find(label).unwrap() + label.len();
        rule[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    let millions: u64 = match after("reaches ").as_str() {
        "1" => 1,
        other => panic!("{other}"),
    };
    assert!(rule.contains("reaches 1 million input tokens per minute"));
    let growth: f64 = after("no more than ").parse::<f64>().unwrap() / 100.0;
    let every: u32 = after("% every ").parse().unwrap();
    assert!(rule.contains(&format!("% every {every} minutes")));
    for tier in ["build", "launch", "grow"] {
        let name = format!("openai-{tier}-gpt-6-1-sol");
        let (api, _) = capacity_preset(&name);
        let ramp = api.ramp_limit.unwrap_or_else(|| panic!("{name}"));
        assert_eq!(ramp.above_per_min, millions * 1_000_000, "{name}");
        assert_eq!(ramp.growth, growth, "{name}");
        assert_eq!(ramp.every_min, every, "{name}");
    }
    assert!(
        capacity_preset("openai-tier4-gpt-4-1")
            .0
            .ramp_limit
            .is_none()
    );
}

/// A ramp-rate limit recounted from the event log: calls of exactly
/// 100,000 input tokens, served in exactly 1.01 s, so that each finish
/// dates its admission; no minute from the 15th admits more than the
/// larger of 1,000,000 and 1.5 times the minute 15 before it. A tripling of
/// the load is held back by it, and let through as the ramp allows.
#[test]
fn a_ramp_limit_holds_each_minute_to_half_again_the_traffic_15_minutes_before() {
    let model = spec(
        BASE,
        &[
            "duration=100m",
            "warmup=0s",
            "agents.a.steps=1",
            "agents.a.input_tokens=100000",
            "agents.a.output_tokens=10",
            "workload.users.arrivals={ process = \"poisson\", per_min = 10 }",
            "workload.users.surges=[{ at = \"45m\", for = \"40m\", factor = 3 }]",
            "capacity={ kind = \"shared_api\", cache_reads_count = true, ramp_limit = { above_input_tokens_per_min = 1000000, growth = 0.5, every = \"15m\" }, time_to_first_token = \"1s\", output_tokens_per_s = 1000 }",
            "client={ max_attempts = 50, backoff = { kind = \"constant\", delay = \"1s\" }, retry_after = \"exact\" }",
        ],
    );
    let mut admitted = vec![0u64; 101];
    let result = loopcap::model::simulate_with(
        &model,
        loopcap::model::RunOptions::new(false),
        |now, event| {
            if matches!(event, loopcap::model::system::Event::AttemptFinished(_)) {
                let started = now.as_secs_f64() - 1.01;
                admitted[(started / 60.0).floor() as usize] += 100_000;
            }
        },
    )
    .unwrap();
    for m in 15..100 {
        let ceiling = 1_000_000.max(admitted[m - 15] * 3 / 2);
        assert!(
            admitted[m] <= ceiling,
            "minute {m}: {} past {ceiling}",
            admitted[m]
        );
    }
    let refused = result.summary.refusals.rate_limited_by.ramp_limit;
    assert!(refused > 100, "{refused}");
    // In the surge's first 15 minutes (3 million a minute asked) the limit
    // binds: nearly every minute admits within a call of its ceiling.
    let binding = (45..60)
        .filter(|&m| admitted[m] + 100_000 > 1_000_000.max(admitted[m - 15] * 3 / 2))
        .count();
    let held = admitted[45..60].iter().sum::<u64>() / 15;
    assert!(
        binding >= 12 && held < 2_500_000,
        "{binding}, {held}: {admitted:?}"
    );
}

/// A ramp-rate limit's keys are checked where they are written.
#[test]
fn a_ramp_limit_is_refused_at_the_key_that_is_wrong() {
    for (ramp, key, wanted) in [
        (
            "above_input_tokens_per_min = 1000000, growth = 0.5, every = \"90s\"",
            "ramp_limit.every",
            "whole number of minutes",
        ),
        (
            "above_input_tokens_per_min = 1000000, growth = 0, every = \"15m\"",
            "ramp_limit.growth",
            "",
        ),
        (
            "above_input_tokens_per_min = 0, growth = 0.5, every = \"15m\"",
            "ramp_limit.above_input_tokens_per_min",
            "",
        ),
        (
            "growth = 0.5, every = \"15m\"",
            "above_input_tokens_per_min",
            "missing",
        ),
    ] {
        let e = load_error(&[&format!(
            "capacity={{ kind = \"shared_api\", ramp_limit = {{ {ramp} }}, time_to_first_token = \"1s\" }}"
        )]);
        assert!(e.contains(key) && e.contains(wanted), "{ramp}: {e}");
    }
}
