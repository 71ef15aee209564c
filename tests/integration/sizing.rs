//! `loopcap size`: on the M/M/c queue the least number of lanes whose mean
//! wait (Erlang C) or P(wait) meets a bound, at several loads; an SLO the
//! workload misses on unlimited capacity is explained, with exit 3; the
//! answer is the same on one and two threads; bad SLOs are input errors.

use std::sync::Arc;

use serde_json::Value;

use loopcap::validation::theory::{erlang_c, mmc_wait};

use crate::support::{Documented, documentation, documented_run, loopcap, model_path};

/// The code block after the last one ending in `command_tail` in the
/// README and the guide (the README's tour quotes only a line of it).
fn readme_block_after(command_tail: &str) -> String {
    let readme = documentation();
    let command = format!("{command_tail}\n```\n");
    let at = readme.rfind(&command).expect("the README's command") + command.len();
    readme[at..]
        .split("```")
        .nth(1)
        .unwrap()
        .trim_matches('\n')
        .to_owned()
}

/// The README's block after the command ending in `command_tail` is what
/// `loopcap size ARGS`, run from the repository, prints.
fn assert_the_readme_shows(command_tail: &str, args: &[&str]) {
    let args: Vec<String> = std::iter::once("size")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    let out = &documented_run(&args).output;
    let printed = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        readme_block_after(command_tail),
        printed.trim_end_matches('\n')
    );
}

/// `loopcap size models/mmc.toml ARGS --json`: its exit code and answer.
fn size(args: &[&str]) -> (Option<i32>, Value) {
    let out = loopcap()
        .arg("size")
        .arg(model_path("mmc.toml"))
        .args(["--json", "--set", "duration=20m"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), json)
}

/// The least stable c (above the load) up to 64 with `f(c)` at most `bound`.
fn least(load: f64, bound: f64, f: impl Fn(u32) -> f64) -> i64 {
    i64::from((load as u32 + 1..=64).find(|&c| f(c) <= bound).unwrap())
}

/// At 4, 8 and 12 arrivals a second (1 s mean service), bounds halfway (in
/// ratio) between the mean waits of consecutive lane counts, so 10
/// replications of 15 measured minutes (their intervals within about 20%)
/// cannot straddle them: `size` answers the least c by Erlang C.
#[test]
fn size_finds_the_erlang_c_answer_at_several_loads() {
    for per_s in [4.0, 8.0, 12.0] {
        let wait = |c: u32| mmc_wait(c, per_s, 1.0);
        let c0 = (per_s as u32) + 2;
        let bound = (wait(c0) * wait(c0 + 1)).sqrt();
        let expected = least(per_s, bound, wait);
        assert_eq!(expected, i64::from(c0 + 1));
        let rate = format!("workload.customers.arrivals.per_min={}", per_s * 60.0);
        let slo = format!("queue_wait_s.mean <= {bound}");
        let (code, json) = size(&[
            "--set",
            &rate,
            "--slo",
            &slo,
            "--over",
            "capacity.lanes=1..64",
        ]);
        assert_eq!(code, Some(0), "{json}");
        assert_eq!(json["answer"], expected, "{per_s}/s: {json}");
        // And P(wait) (waited_share) against Erlang C itself.
        let p = |c: u32| erlang_c(c, per_s);
        let bound = (p(c0) * p(c0 + 1)).sqrt();
        let slo = format!("waited_share <= {bound}");
        let (_, json) = size(&[
            "--set",
            &rate,
            "--slo",
            &slo,
            "--over",
            "capacity.lanes=1..64",
        ]);
        assert_eq!(json["answer"], least(per_s, bound, p), "{per_s}/s: {json}");
    }
}

/// A p99 below what the workload takes with unlimited capacity cannot be
/// met: exit 3, and the explanation names the floor.
#[test]
fn an_unreachable_slo_is_explained() {
    let (code, json) = size(&[
        "--slo",
        "loop_latency_s.p99 <= 2s",
        "--over",
        "capacity.lanes=8..16",
    ]);
    assert_eq!(code, Some(3));
    assert_eq!(json["answer"], Value::Null);
    let why = json["explanations"][0].as_str().unwrap();
    assert!(
        why.starts_with(
            "loop_latency_s.p99 <= 2s is below this workload's own loop_latency_s.p99 of 4."
        ) && why.ends_with("with unlimited capacity: no capacity meets it"),
        "{why}"
    );
    // Reachable, but not within the range: widen it.
    let (code, json) = size(&[
        "--slo",
        "queue_wait_s.mean <= 0.05",
        "--over",
        "capacity.lanes=8..10",
    ]);
    assert_eq!(code, Some(3));
    let why = json["explanations"][0].as_str().unwrap();
    assert!(why.starts_with("even capacity.lanes = 10 misses"), "{why}");
}

/// The same probes and answer, and the same sizing.csv, on any number of
/// threads: on 1 (one probe at a time), on 2, and on 8 with 2 replications
/// a probe, where 4 probes run at once, ahead of the search.
#[test]
fn size_is_the_same_on_any_number_of_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |threads: &str| {
        let out = tmp.path().join(threads);
        let result = size(&[
            "--slo",
            "queue_wait_s.mean <= 0.1",
            "--over",
            "capacity.lanes=1..64",
            "--replications",
            "2",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ]);
        (
            result,
            std::fs::read_to_string(out.join("sizing.csv")).unwrap(),
        )
    };
    let one = run("1");
    assert_eq!(one.0.0, Some(0));
    assert!(
        one.0.1["probes"].as_array().unwrap().len() >= 6,
        "{}",
        one.0.1
    );
    for threads in ["2", "8"] {
        assert_eq!(run(threads), one, "{threads} threads");
    }
}

/// `size` of models/mmc.toml with `args` is an input error (exit 2) saying `expected`.
fn assert_refused(args: &[&str], expected: &str) {
    let out = loopcap()
        .arg("size")
        .arg(model_path("mmc.toml"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(expected), "{stderr}");
}

/// An unknown metric lists the metrics there are; a bad range or SLO is exit 2.
#[test]
fn bad_slos_and_ranges_are_input_errors() {
    for (args, expected) in [
        (
            ["--slo", "p99 <= 3", "--over", "capacity.lanes=1..8"],
            "unknown metric `p99`; the model's metrics are: loops_started",
        ),
        (
            [
                "--slo",
                "loops_per_min = 3",
                "--over",
                "capacity.lanes=1..8",
            ],
            "expected METRIC <= VALUE",
        ),
        (
            [
                "--slo",
                "loops_per_min >= 3",
                "--over",
                "capacity.lanes=8..1",
            ],
            "LO (8) is above HI (1)",
        ),
        (
            ["--slo", "loops_per_min >= 3", "--over", "capacity.lanes"],
            "expected PATH=LO..HI",
        ),
        // Axes that are not capacity (a seed, the name) or not a population.
        (
            ["--slo", "loops_per_min >= 3", "--over", "seed=1..5"],
            "`seed` is not capacity",
        ),
        (
            ["--slo", "loops_per_min >= 3", "--over", "name=1..5"],
            "`name` is not capacity",
        ),
        (
            [
                "--slo",
                "loops_per_min >= 3",
                "--max-users",
                "capacity.lanes=1..64",
            ],
            "`capacity.lanes` is not a population",
        ),
        // A share's bound without its `%`: 1 reads as 100%, which is refused.
        (
            [
                "--slo",
                "loops_failed_share <= 1",
                "--over",
                "capacity.lanes=1..8",
            ],
            "reads as 100%; write 1% for 1 in a hundred, or 100% if that is meant",
        ),
        // A probe's value that is not allowed names the flag, not a --set.
        (
            [
                "--slo",
                "loops_per_min >= 3",
                "--over",
                "capacity.lanes=0..8",
            ],
            "--over capacity.lanes=0..8 (at 0): capacity.lanes: must be a whole number from 1",
        ),
    ] {
        assert_refused(&args, expected);
    }
}

/// An SLO on a metric unlimited capacity leaves undefined (the utilization
/// of lanes it does not have) is judged at the probes, not refused at the
/// floor: M/M/c at 8 erlangs, the utilization is 8 / c, at most 70% from
/// c = 12 (8/11 = 73% misses even at its interval's edge over 20 minutes).
#[test]
fn an_slo_on_lane_utilization_is_sized() {
    let (code, json) = size(&[
        "--slo",
        "lane_utilization <= 70%",
        "--over",
        "capacity.lanes=1..64",
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["answer"], 12, "{json}");
}

/// The README's two worked answers are what `size` prints: each line of
/// the block after each command.
#[test]
fn the_readme_sizing_examples_are_what_size_prints() {
    for p99 in ["25m", "15m"] {
        let slo = format!("loop_latency_s.p99 <= {p99}");
        let failed = [
            "--slo",
            "loops_failed_share <= 1%",
            "--over",
            "capacity.lanes=1..64",
        ];
        assert_the_readme_shows(
            &format!("--slo '{slo}' --slo 'loops_failed_share <= 1%' --over capacity.lanes=1..64"),
            &[
                &["models/coding-agents-reserved.toml", "--slo", &slo][..],
                &failed,
            ]
            .concat(),
        );
    }
}

/// `--max-users` on the machine-repairman queue (users thinking 60 s on
/// average, 2 lanes of 10 s mean service): the largest population whose
/// mean response time, solved exactly, meets a bound halfway (in ratio)
/// between two consecutive populations' responses.
#[test]
fn max_users_finds_the_machine_repairman_answer() {
    let response = |n: u32| loopcap::validation::theory::closed_queue(n, 60.0, 2, 10.0).1;
    let n0 = 16;
    let bound = (response(n0) * response(n0 + 1)).sqrt();
    let expected = (1..=64).rev().find(|&n| response(n) <= bound).unwrap();
    assert_eq!(expected, n0);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("closed.toml");
    std::fs::write(
        &model,
        r#"
name = "machine repairman"
seed = 5
duration = "6h"
warmup = "30m"

[[workload]]
name = "users"
agent = "a"
users = 1
think_time = { dist = "exponential", mean = "60s" }

[agents.a]
steps = 1
input_tokens = 1
output_tokens = 0

[capacity]
kind = "reserved"
lanes = 2
time_to_first_token = { dist = "exponential", mean = "10s" }

[client]
max_attempts = 1
"#,
    )
    .unwrap();
    let out = loopcap()
        .arg("size")
        .arg(&model)
        .args([
            "--json",
            "--slo",
            &format!("loop_latency_s.mean <= {bound}"),
        ])
        .args(["--max-users", "workload.users.users=1..64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["answer"], expected, "{json}");
    assert_eq!(json["goal"], "most_meeting");
}

/// The README's headroom figure is what `--max-users` answers.
#[test]
fn the_readme_headroom_is_what_max_users_answers() {
    let readme = documentation();
    let out = loopcap()
        .arg("size")
        .arg(model_path("coding-agents-reserved.toml"))
        .args(["--json", "--slo", "loop_latency_s.p99 <= 25m"])
        .args(["--slo", "loops_failed_share <= 1%"])
        .args(["--max-users", "workload.developers.users"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer = json["answer"].as_i64().unwrap();
    assert!(
        readme.contains(&format!(
            "16 lanes serve {answer} developers; at {}",
            answer + 1
        )),
        "the README's headroom is not {answer}"
    );
}

/// Plans of 9 to 12 lanes at $1 a lane-hour on the M/M/c queue: the
/// cheapest that meets a mean wait of 0.1 s is the Erlang C answer, 11
/// lanes, and each plan costs its lanes an hour.
#[test]
fn the_cheapest_plan_that_meets_is_the_erlang_c_answer() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans.toml");
    let mut text = String::new();
    for lanes in [12, 9, 11, 10] {
        text.push_str(&format!(
            "[[plan]]\nname = \"{lanes} lanes\"\nset = {{ \"capacity.lanes\" = {lanes}, prices = {{ per_lane_hour = 1.0 }} }}\n\n"
        ));
    }
    std::fs::write(&plans, text).unwrap();
    let expected = least(8.0, 0.1, |c| mmc_wait(c, 8.0, 1.0));
    assert_eq!(expected, 11);
    let out = dir.path().join("out");
    let (code, json) = size(&[
        "--slo",
        "queue_wait_s.mean <= 0.1",
        "--plans",
        plans.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["answer"], "11 lanes", "{json}");
    // sizing.csv has each plan as the JSON has it.
    let csv = std::fs::read_to_string(out.join("sizing.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "plan,met,queue_wait_s.mean,queue_wait_s.mean.ci95,queue_wait_s.mean.loops_failed_share,queue_wait_s.mean.loops_failed_share.ci95,cost_per_hour_usd,cost_per_hour_usd.ci95,cost_per_month_usd,cost_per_month_usd.ci95,cost_per_loop_usd,cost_per_loop_usd.ci95,loops_per_dollar,loops_per_dollar.ci95"
    );
    assert_eq!(rows.len(), 5);
    for (row, plan) in rows[1..].iter().zip(json["plans"].as_array().unwrap()) {
        let cells: Vec<&str> = row.split(',').collect();
        // Quoted only where a name needs it (these have no comma or quote).
        assert_eq!(cells[0], plan["name"].as_str().unwrap());
        assert_eq!(
            cells[2].parse::<f64>().ok(),
            plan["verdicts"][0]["mean"].as_f64()
        );
        // Beside a wait, the failed share of the loops it describes: none here.
        assert_eq!(
            cells[4].parse::<f64>().ok(),
            plan["verdicts"][0]["failed_share"][0].as_f64()
        );
        assert_eq!(cells[4], "0");
    }
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("--plans"), "{manifest}");
    for plan in json["plans"].as_array().unwrap() {
        let lanes: f64 = plan["name"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(plan["cost_per_hour_usd"][0].as_f64(), Some(lanes), "{plan}");
        assert_eq!(plan["met"], lanes >= 11.0, "{plan}");
    }
    // With only 9 and 10 lanes on offer none meets, though more lanes would.
    let text = std::fs::read_to_string(&plans).unwrap();
    let few: Vec<&str> = text
        .split("\n\n")
        .filter(|p| p.contains("= 9") || p.contains("= 10"))
        .collect();
    std::fs::write(&plans, few.join("\n\n")).unwrap();
    let (code, json) = size(&[
        "--slo",
        "queue_wait_s.mean <= 0.1",
        "--plans",
        plans.to_str().unwrap(),
    ]);
    assert_eq!((code, &json["answer"]), (Some(3), &Value::Null), "{json}");
    assert_eq!(
        json["explanations"][0],
        "unlimited capacity meets every SLO: a plan with more capacity than these would"
    );
}

/// Named pools and a template of plans: `[pools.lanes]` taken by a plan
/// whose `over` ranges its lanes over 9..12 gives the plans written out
/// by hand one by one (on the model's own `[capacity]`), figure for
/// figure, and the same answer.
#[test]
fn a_template_over_named_pools_is_the_plans_it_stands_for() {
    let dir = tempfile::tempdir().unwrap();
    let (hand, template) = (
        dir.path().join("hand.toml"),
        dir.path().join("template.toml"),
    );
    let mut text = String::new();
    for lanes in 9..=12 {
        text.push_str(&format!(
            "[[plan]]\nname = \"{lanes} lanes\"\nset = {{ \"capacity.lanes\" = {lanes}, prices = {{ per_lane_hour = 1.0 }} }}\n\n"
        ));
    }
    std::fs::write(&hand, text).unwrap();
    std::fs::write(
        &template,
        "[pools.lanes]\ncapacity = { kind = \"reserved\", lanes = 1, time_to_first_token = { dist = \"exponential\", mean = \"1s\" } }\nprices = { per_lane_hour = 1.0 }\n\n[[plan]]\nname = \"{lanes} lanes\"\npools = [\"lanes\"]\nover = { \"pool.lanes.capacity.lanes\" = \"9..12\" }\n",
    )
    .unwrap();
    let sized = |plans: &std::path::Path| {
        size(&[
            "--slo",
            "queue_wait_s.mean <= 0.1",
            "--plans",
            plans.to_str().unwrap(),
        ])
    };
    let (by_hand, from_template) = (sized(&hand), sized(&template));
    assert_eq!(by_hand.0, Some(0));
    assert_eq!(from_template, by_hand);
    assert_eq!(from_template.1["answer"], "11 lanes");
    assert_eq!(from_template.1["plans"].as_array().unwrap().len(), 4);
}

/// Two plans of one name, or a plan without `set`, are errors at their line.
#[test]
fn bad_plans_files_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let plans = dir.path().join("plans.toml");
    for (text, expected) in [
        (
            "[[plan]]\nname = \"a\"\nset = {}\n\n[[plan]]\nname = \"a\"\nset = {}\n",
            ":6: plan.name: `a` names two plans",
        ),
        (
            "[[plan]]\nname = \"a\"\n",
            ":2: plan: says nothing: give `set` (`set = {}` is the model as it is), `pools` or `over`",
        ),
        (
            "[[plan]]\nname = \"a\"\npools = [\"lanes\"]\n",
            "plan.pools: no pool named `lanes` under [pools] (it has: none)",
        ),
        (
            "[pools.lanes]\ncapacity = { kind = \"reserved\", lanes = 2 }\n\n[[plan]]\nname = \"{lane} lanes\"\npools = [\"lanes\"]\nover = { \"pool.lanes.capacity.lanes\" = \"1..4\" }\n",
            "plan.name: `{lane}` names no axis of the plan's `over`",
        ),
        (
            "[[plan]]\nname = \"a\"\nover = { \"capacity.lanes\" = \"4..1\" }\n",
            "plan.over.capacity.lanes: over capacity.lanes=4..1: LO (4) is above HI (1)",
        ),
        (
            "[[plan]]\nname = \"a\"\nover = { \"capacity.lanes\" = 3 }\n",
            "expected a range (\"16..64 step 8\") or a list of whole numbers",
        ),
        (
            "[[plan]]\nname = \"a\"\nset = { \"capacity.lanes\" = \"many\" }\n",
            "plan \"a\": capacity.lanes",
        ),
        // A plan too large names the plan, not only the model.
        (
            "[[plan]]\nname = \"huge\"\nset = { \"workload.customers.arrivals.per_min\" = 1e12 }\n",
            "plans.toml: plan `huge`: ",
        ),
    ] {
        std::fs::write(&plans, text).unwrap();
        let plans = plans.to_str().unwrap();
        assert_refused(
            &["--slo", "queue_wait_s.mean <= 0.1", "--plans", plans],
            expected,
        );
    }
}

/// The guide's survivors' answer is what `size` prints: 12 lanes meet a
/// p99 bound because almost every loop fails, and the answer says so.
#[test]
fn the_guides_survivors_answer_is_what_size_prints() {
    assert_the_readme_shows(
        "--slo 'loop_latency_s.p99 <= 6' --over capacity.lanes=1..64",
        &[
            "models/mmc.toml",
            "--set",
            "duration=20m",
            "--set",
            "client.timeout=2s",
            "--set",
            "client.max_attempts=2",
            "--set",
            "prices.per_lane_hour=2.5",
            "--slo",
            "loop_latency_s.p99 <= 6",
            "--over",
            "capacity.lanes=1..64",
        ],
    );
}

/// The README's working week, by the month, is what `size --plans` prints.
#[test]
fn the_readme_working_week_is_what_size_prints() {
    assert_the_readme_shows(
        "--slo 'windows.overlap.loops_failed_share <= 1%' --replications 3",
        &[
            "models/working-week.toml",
            "--plans",
            "plans/working-week.toml",
            "--slo",
            "windows.overlap.loop_latency_s.p99 <= 25m",
            "--slo",
            "windows.overlap.loops_failed_share <= 1%",
            "--replications",
            "3",
        ],
    );
}

/// `plans/coding-agents.toml` sized for `models/hybrid-spillover.toml`
/// on its failure SLO in a second: ten plans, one of them the base model
/// (`set = {}`), some on tiers no longer sold.
fn plans_sizing() -> Arc<Documented> {
    documented_run(
        &[
            "size",
            "models/hybrid-spillover.toml",
            "--plans",
            "plans/coding-agents.toml",
            "--slo",
            "loops_failed_share <= 1%",
        ]
        .map(String::from),
    )
}

/// A plans table's columns line up whatever its plans are called: the
/// plan column is as wide as the longest name (here 29 characters).
#[test]
fn the_plans_table_fits_its_longest_plan_name() {
    let out = plans_sizing();
    let printed = String::from_utf8(out.output.stdout.clone()).unwrap();
    let mut table = printed.lines().skip_while(|l| !l.starts_with("plan "));
    let header = table.next().unwrap();
    // Where the $/hour column ends, in characters.
    let end = header[..header.find("$/hour").unwrap()].chars().count() + "$/hour".len();
    let rows: Vec<&str> = table
        .take_while(|l| !l.is_empty())
        .filter(|l| !l.starts_with("unlimited capacity"))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.starts_with("8 lanes + Tier 2 spill (2025)")),
        "{printed}"
    );
    for row in rows {
        let chars: Vec<char> = row.chars().collect();
        assert!(
            chars[end - 1] != ' ' && chars[end] == ' ',
            "`{row}` does not end its $/hour at column {end}:\n{printed}"
        );
    }
}

/// A warning is said once however many plans load a model it is about:
/// the base model's tier (no longer sold) once, though the plan of `set =
/// {}` loads the base model again, and a plan's own once.
#[test]
fn a_sizing_says_each_warning_once() {
    let out = plans_sizing();
    let said = String::from_utf8(out.output.stderr.clone()).unwrap();
    for preset in ["anthropic-tier2-sonnet", "anthropic-tier4-sonnet"] {
        let about = format!("`{preset}` is capacity its provider no longer sells");
        assert_eq!(said.matches(&about).count(), 1, "{preset}:\n{said}");
    }
}

/// The README's plans table is what `size --plans` prints.
#[test]
fn the_readme_plans_example_is_what_size_prints() {
    assert_the_readme_shows(
        "--slo 'loop_latency_s.p99 <= 25m' --slo 'loops_failed_share <= 1%'",
        &[
            "models/hybrid-spillover.toml",
            "--plans",
            "plans/coding-agents.toml",
            "--slo",
            "loop_latency_s.p99 <= 25m",
            "--slo",
            "loops_failed_share <= 1%",
        ],
    );
}

/// `--out` journals each probe; a search killed part-way and run again
/// takes the probes already in sizing.csv (a sentinel planted in one shows
/// through), drops a line cut short, runs the rest and ends with the same
/// answer and the same other rows. Another search into the directory is refused.
#[test]
fn an_interrupted_search_resumes_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sizing");
    let args = |out: &std::path::Path| {
        let mut a: Vec<String> = [
            "--slo",
            "queue_wait_s.mean <= 0.1",
            "--over",
            "capacity.lanes=1..64",
            "--out",
        ]
        .map(str::to_owned)
        .to_vec();
        a.push(out.display().to_string());
        a
    };
    let run = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        size(&refs)
    };
    let (code, first) = run(&args(&out));
    assert_eq!(code, Some(0));
    let journal = std::fs::read_to_string(out.join("sizing.csv")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert_eq!(lines.len(), 1 + first["probes"].as_array().unwrap().len());
    assert!(out.join("sizing-queue_wait_s-mean.svg").exists());
    // mmc.toml prices nothing: no cost figure.
    assert!(!out.join("sizing-cost_per_month_usd.svg").exists());
    // Keep the header and the first two probes (value 1 with a sentinel
    // mean), and half of the third; then run again.
    let mut cells: Vec<&str> = lines[1].split(',').collect();
    cells[2] = "123456.5";
    let sentinel = cells.join(",");
    let cut = format!(
        "{}\n{sentinel}\n{}\n{}",
        lines[0],
        lines[2],
        &lines[3][..lines[3].len() / 2]
    );
    std::fs::write(out.join("sizing.csv"), cut).unwrap();
    let (code, again) = run(&args(&out));
    assert_eq!(code, Some(0));
    assert_eq!(again["answer"], first["answer"]);
    let resumed = std::fs::read_to_string(out.join("sizing.csv")).unwrap();
    let resumed: Vec<&str> = resumed.lines().collect();
    assert_eq!(resumed.len(), lines.len());
    assert!(resumed[1].contains("123456.5"), "{}", resumed[1]);
    assert_eq!(resumed[2..], lines[2..]);
    // Another search into the same directory is refused.
    let mut other = args(&out);
    other[1] = "queue_wait_s.mean <= 0.2".to_owned();
    let refs: Vec<&str> = other.iter().map(String::as_str).collect();
    let output = loopcap()
        .arg("size")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=20m"])
        .args(&refs)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8(output.stderr)
            .unwrap()
            .contains("holds another sizing")
    );
}

/// With lanes priced, sizing.csv carries each probe's cost an hour (its
/// lanes times the price, exactly) and a cost figure is drawn.
#[test]
fn a_priced_search_records_and_draws_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("priced");
    let (code, _) = size(&[
        "--set",
        "prices.per_lane_hour=2.5",
        "--slo",
        "queue_wait_s.mean <= 0.1",
        "--over",
        "capacity.lanes=1..64",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0));
    // A wait counts only the loops that completed: the failed share of the
    // probes is drawn beneath it, in percent, in a taller figure; the cost
    // has no panel beneath.
    let svg = |name: &str| std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
    let wait = svg("sizing-queue_wait_s-mean");
    assert!(
        wait.starts_with("<svg width=\"1100\" height=\"1080\""),
        "{}",
        &wait[..60]
    );
    assert!(wait.contains("share of loops failed (latency counts only those completed)"));
    assert!(wait.contains("loops failed share") && wait.contains(">\n0%\n</text>"));
    // Probes that meet are green circles, those that miss red crosses, in
    // both panels: a circle for each probe that meets, and one in each legend.
    let journal = std::fs::read_to_string(out.join("sizing.csv")).unwrap();
    let met = journal.lines().filter(|l| l.contains(",true,")).count();
    assert!(met > 0 && met < journal.lines().count() - 1, "{journal}");
    assert_eq!(wait.matches("<circle").count(), 2 * met + 2);
    assert!(wait.contains(">\nmeets (✓)\n</text>") && wait.contains(">\nmisses (✗)\n</text>"));
    let cost = svg("sizing-cost_per_month_usd");
    assert!(cost.starts_with("<svg width=\"1100\" height=\"680\""));
    assert!(!cost.contains("latency counts only those completed"));
    let journal = std::fs::read_to_string(out.join("sizing.csv")).unwrap();
    let mut lines = journal.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let cost = header
        .iter()
        .position(|h| *h == "cost_per_hour_usd")
        .unwrap();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let lanes: f64 = cells[0].parse().unwrap();
        let per_hour: f64 = cells[cost].parse().unwrap();
        assert!((per_hour - 2.5 * lanes).abs() < 1e-9, "{line}");
    }
}

/// `--plans --out` into a directory holding another sizing (a search, with
/// its report beside it) refuses it and leaves it as it was; with --force
/// it replaces the whole set: never the new answer beside the old report.
#[test]
fn plans_into_another_sizing_are_refused_and_with_force_replace_it_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sized");
    let out_arg = out.to_str().unwrap();
    let slo = ["--slo", "queue_wait_s.mean <= 0.1s"];
    let (code, _) = size(&[
        slo[0],
        slo[1],
        "--over",
        "capacity.lanes=9..16",
        "--out",
        out_arg,
    ]);
    assert_eq!(code, Some(0));
    assert!(
        loopcap()
            .args(["report", out_arg])
            .output()
            .unwrap()
            .status
            .success()
    );
    let snapshot = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&out);
    assert!(before.iter().any(|(name, _)| name == "report.html"));
    let plans = tmp.path().join("plans.toml");
    std::fs::write(
        &plans,
        "[[plan]]\nname = \"ten\"\nset = { \"capacity.lanes\" = 10 }\n\n[[plan]]\nname = \"twelve\"\nset = { \"capacity.lanes\" = 12 }\n",
    )
    .unwrap();
    let plans_arg = plans.to_str().unwrap();
    let refused = loopcap()
        .arg("size")
        .arg(model_path("mmc.toml"))
        .args([
            "--set",
            "duration=20m",
            slo[0],
            slo[1],
            "--plans",
            plans_arg,
            "--out",
            out_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("add --force to replace them"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(snapshot(&out), before, "the refused directory is as it was");
    let (code, answer) = size(&[
        slo[0], slo[1], "--plans", plans_arg, "--out", out_arg, "--force",
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(answer["answer"], "twelve", "{answer}");
    let after = snapshot(&out);
    assert!(
        after.iter().all(|(name, _)| name != "report.html"),
        "the old report went with its sizing"
    );
    let result: Value = serde_json::from_slice(
        &after
            .iter()
            .find(|(name, _)| name == "result.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(result["answer"], "twelve");
}

/// The floor of a self-hosted pool is a fleet that never queues nor loads,
/// not the base model's own: 200 developers on a fleet capped at 2 replicas
/// miss a 1% failure bound, yet 3 replicas meet it, and `size` says so
/// (it used to call the SLO beyond every capacity, exit 3). Each call is
/// credited its cached input (`prefix_cache = "given"`), so a few
/// replicas do and the search is quick.
#[test]
fn a_self_hosted_pool_is_sized_against_a_true_unlimited_floor() {
    let out = loopcap()
        .arg("size")
        .arg(model_path("self-hosted-vllm.toml"))
        .args([
            "--json",
            "--set",
            "workload.developers.users=200",
            "--set",
            "capacity.max_replicas=2",
            "--set",
            "capacity.prefix_cache=\"given\"",
            "--slo",
            "loops_failed_share <= 1%",
            "--over",
            "capacity.max_replicas=2..16",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["answer"], 3, "{answer}");
    assert_eq!(answer["floor"][0]["met"], true, "{answer}");
}

/// `size` over the hybrid model's lanes and its shared tier's input limit,
/// with lanes at $12 an hour, as JSON on `threads`.
fn hybrid_grid(objective: &[&str], threads: &str) -> Value {
    let out = loopcap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "size",
            "models/hybrid-spillover.toml",
            "--slo",
            "loop_latency_s.p99 <= 25m",
            "--slo",
            "loops_failed_share <= 1%",
            "--over",
            "pool.lanes.capacity.lanes=2..16 step 2",
            "--over",
            "pool.tier2.capacity.input_tokens_per_min=60000,120000,450000",
            "--set",
            "duration=2h",
            "--set",
            "pool.lanes.prices.per_lane_hour=12",
            // Tier 2's own $500 cap a month would refuse every setting.
            "--set",
            "pool.tier2.capacity.monthly_spend_cap=200000",
            "--replications",
            "4",
            "--json",
            "--threads",
            threads,
        ])
        .args(objective)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `--cheapest` over two axes answers what trying every setting answers:
/// `--minimize cost_per_month_usd` has no bound and runs all 24 settings,
/// and the cheapest of them that meets every SLO is found here from its
/// points. The bounded search skips some settings by their committed cost
/// alone, every one of them committing more than the answer costs, and
/// runs the same settings on one thread and on two.
#[test]
fn the_cheapest_setting_of_two_axes_is_what_trying_every_setting_finds() {
    let every = hybrid_grid(&["--minimize", "cost_per_month_usd"], "2");
    let points = every["points"].as_array().unwrap();
    assert_eq!(points.len(), 8 * 3);
    let cost = |p: &Value| p["cost_per_month_usd"][0].as_f64().unwrap();
    let cheapest = points
        .iter()
        .filter(|p| p["met"] == true)
        .min_by(|a, b| cost(a).total_cmp(&cost(b)))
        .unwrap();
    let expected = cheapest["setting"].clone();
    let bounded = hybrid_grid(&["--cheapest"], "2");
    let answer = &bounded["answer"];
    assert_eq!(
        serde_json::json!([
            answer["pool.lanes.capacity.lanes"],
            answer["pool.tier2.capacity.input_tokens_per_min"]
        ]),
        expected,
        "{bounded}"
    );
    assert_eq!(
        bounded["cost_per_month_usd"][0].as_f64(),
        Some(cost(cheapest))
    );
    let skipped = bounded["skipped"].as_array().unwrap();
    assert!(!skipped.is_empty());
    assert_eq!(
        bounded["points"].as_array().unwrap().len() + skipped.len(),
        24
    );
    for s in skipped {
        assert!(s["committed_per_month_usd"].as_f64().unwrap() > cost(cheapest));
    }
    assert_eq!(hybrid_grid(&["--cheapest"], "1"), bounded);
}

/// Bad grids are refused before anything runs, saying what is allowed.
#[test]
fn bad_grids_are_refused_with_exit_2() {
    for (args, expected) in [
        (
            &[
                "--over",
                "capacity.lanes=1..4",
                "--over",
                "capacity.lanes=2..3",
            ][..],
            "`capacity.lanes` is already an axis",
        ),
        (
            &[
                "--over",
                "capacity.lanes=1..4",
                "--minimize",
                "loops_per_min",
            ],
            "higher is better for loops per minute",
        ),
        (
            &["--over", "capacity.lanes=1..4", "--minimize", "latency"],
            "not a metric of the summary",
        ),
        (
            &["--over", "capacity.lanes=1..4 step x", "--cheapest"],
            "`x` is not a whole number",
        ),
        (
            &["--over", "workload.customers.users=1..4", "--cheapest"],
            "is not capacity",
        ),
    ] {
        let out = loopcap()
            .arg("size")
            .arg(model_path("mmc.toml"))
            .args(["--slo", "queue_wait_s.mean <= 0.1"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// `check` takes a plans file as what it is (it used to read one as a
/// model and refuse its `plan` field): every shipped one is ok, naming as
/// many plans as it has `[[plan]]` tables where none is a template (`over`
/// makes one plan per value), and a plan that sets nothing is refused at
/// its line, exit 2, as is a `--set` it would otherwise drop.
#[test]
fn check_reads_a_plans_file_as_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let out = loopcap().arg("check").arg(&file).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {out:?}", file.display());
        assert!(stdout.contains(": ok: plans file"), "{stdout}");
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.contains("over = ") {
            let tables = text.matches("[[plan]]").count();
            assert!(stdout.contains(&format!(", {tables} plans (")), "{stdout}");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("plans.toml");
    std::fs::write(&bad, "name = \"x\"\n\n[[plan]]\nname = \"empty\"\n").unwrap();
    let out = loopcap().arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plans.toml:4: plan: says nothing"),
        "{stderr}"
    );
    // A --set it would silently drop is refused.
    let out = loopcap()
        .arg("check")
        .arg(dir.join("coding-agents.toml"))
        .args(["--set", "duration=1h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a plans file takes no --set (duration=1h)"),
        "{out:?}"
    );
}
