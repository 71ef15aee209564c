//! No model runs the machine out of memory: what cannot fit is refused
//! before it runs (exit 2, naming the field), and a run whose state
//! outgrows the limit anyway stops cleanly (exit 1, naming the cause).

use predicates::prelude::*;

use loopcap::bytes::Bytes;
use loopcap::model::{self, RunError, RunOptions};

use crate::support::{BASE, loopcap, model_path, run, spec};

/// `loopcap run` and `loopcap check` of a shipped model with `set` both
/// refuse it with exit 2, and the message names `field` and the limit.
fn refused(model: &str, set: &[String], field: &str) {
    let flags: Vec<String> = set
        .iter()
        .flat_map(|s| ["--set".to_owned(), s.clone()])
        .collect();
    loopcap()
        .arg("run")
        .arg(model_path(model))
        .args(&flags)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{field}: the model needs up to about"
        )))
        .stderr(predicate::str::contains("more than the limit of 4.0 GiB"));
}

#[test]
fn models_too_large_for_memory_are_refused_before_running_naming_the_field() {
    let one = |s: &str| vec![s.to_owned()];
    refused(
        "coding-agents-shared.toml",
        &one("workload.developers.users=1e9"),
        "workload.developers.users",
    );
    refused(
        "coding-agents-shared.toml",
        &one(r#"workload.developers.surges=[{ at = "1h", for = "1h", factor = 1e9 }]"#),
        "workload.developers.surges",
    );
    // 40 overlapping surges of x2 multiply to 2^40.
    let surges = (0..40)
        .map(|i| format!(r#"{{ at = "{}m", for = "2h", factor = 2 }}"#, i))
        .collect::<Vec<_>>()
        .join(", ");
    refused(
        "coding-agents-shared.toml",
        &[format!("workload.developers.surges=[{surges}]")],
        "workload.developers.surges",
    );
    refused(
        "research-agent-burst.toml",
        &one("workload.analysts.arrivals.per_min=1e9"),
        "workload.analysts.arrivals",
    );
    refused(
        "research-agent-burst.toml",
        &one("agents.research.fan_out.width=1e9"),
        "agents.research.fan_out.width",
    );
    refused(
        "research-agent-burst.toml",
        &one(r#"agents.research.fan_out.width={ dist = "pareto", scale = 2, shape = 0.5 }"#),
        "agents.research.fan_out.width",
    );
    // Reserved lanes offered far more than they serve, with no queue limit.
    refused(
        "mmc.toml",
        &one("workload.customers.arrivals.per_min=1e9"),
        "capacity.lanes",
    );
}

/// Where the estimate was pessimistic by orders of magnitude, it is not:
/// a loop longer than the run (decoding at 10^-300 tokens/s) is held at
/// most for the run, and loops of many steps waiting for lanes count once
/// each, not once a step. Where lanes are too few, the error says how many
/// the offered load needs, not to lower them.
#[test]
fn the_estimate_bounds_loops_by_the_run_and_names_the_lanes_an_overload_needs() {
    let slow = run(BASE, &["capacity.output_tokens_per_s=1e-300"]);
    assert_eq!(slow.loops_completed, 0);
    assert!(slow.loops_started > 500, "{}", slow.loops_started);
    // Nor is the work: no loop takes more steps in a run than fit in it
    // (10^9 steps were refused as 192 TiB, and a median of 6 * 10^30 as
    // 7.6 * 10^33 events; each runs in a few MB and thousands of events).
    for set in [
        ["capacity.output_tokens_per_s=1e-300", "duration=10m"],
        ["agents.a.steps=1e9", "duration=10m"],
        [
            r#"agents.a.steps={ dist = "pareto", scale = 5, shape = 0.01 }"#,
            "duration=10m",
        ],
        ["agents.a.steps=36", "duration=30d"],
    ] {
        let loaded = loopcap::config::load_model_with(
            &loopcap::config::Source {
                name: "base.toml".into(),
                text: BASE.into(),
                base_dir: ".".into(),
            },
            &set,
        )
        .unwrap();
        assert!(
            loaded.memory.fits(Bytes(4 << 30), true).is_ok(),
            "{set:?}: {}",
            loaded.memory.bytes
        );
        assert!(
            loaded
                .work
                .fits(loopcap::model::estimate::work::EVENT_BUDGET)
                .is_ok(),
            "{set:?}: {}",
            loaded.work.events
        );
    }
    loopcap()
        .arg("check")
        .arg(model_path("mmc.toml"))
        .args(["--set", "workload.customers.arrivals.per_min=6000"])
        .args(["--set", "duration=30d"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "capacity.lanes: the model needs up to about",
        ))
        .stderr(predicate::str::contains(
            "Raise the lanes past the offered load, set a queue_limit, or shorten the run",
        ));
}

#[test]
fn twenty_thousand_classes_are_refused_and_check_says_so() {
    let mut text = BASE.replace("[[workload]]", "[[workload_]]");
    for c in 0..20_000 {
        text.push_str(&format!(
            "[[workload]]\nname = \"c{c}\"\nagent = \"a\"\narrivals = {{ process = \"poisson\", per_min = 0.01 }}\n"
        ));
    }
    // The first table is renamed away: drop it.
    let text = text.replacen("[[workload_]]\nname = \"users\"\nagent = \"a\"\narrivals = { process = \"poisson\", per_min = 60 }\n", "", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("classes.toml");
    std::fs::write(&path, text).unwrap();
    loopcap()
        .arg("check")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("classes.toml:"))
        .stderr(predicate::str::contains(
            "workload: the model needs up to about",
        ))
        .stderr(predicate::str::contains("20000 user classes"));
    // A limit raised far enough lets it through.
    loopcap()
        .args(["check", "--memory-limit", "16GiB"])
        .arg(&path)
        .assert()
        .success();
}

#[test]
fn check_reports_the_estimate_and_the_limit_flag_moves_the_verdict() {
    let model = model_path("coding-agents-shared.toml");
    loopcap()
        .arg("check")
        .arg(&model)
        .assert()
        .success()
        .stdout(predicate::str::contains("of memory"));
    // 40 users need about 260 KiB (nearly all the class's latency histogram).
    loopcap()
        .args(["check", "--memory-limit", "128KiB"])
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("more than the limit of 128.0 KiB"));
    loopcap()
        .args(["run", "--memory-limit", "lots"])
        .arg(&model)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--memory-limit"));
}

/// M/M/10 offered 1.3x what its lanes serve: the estimate, which works
/// with median service times (0.69 s for a mean of 1 s), sees 0.9x and lets
/// it run, so only the run itself can find the queue outgrowing the limit.
const OVERLOADED: [&str; 2] = ["workload.customers.arrivals.per_min=780", "duration=1000h"];

#[test]
fn a_run_whose_lane_queue_outgrows_the_limit_stops_cleanly_and_says_why() {
    let model = model_path("mmc.toml");
    let mut cmd = loopcap();
    cmd.args(["run", "--memory-limit", "16MiB"]).arg(&model);
    for s in OVERLOADED {
        cmd.args(["--set", s]);
    }
    cmd.assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(
            "over the memory limit of 16.0 MiB",
        ))
        .stderr(predicate::str::contains(
            "the lane queue, which grows without bound",
        ));
}

#[test]
fn the_state_at_the_stop_is_the_simulators_own_count() {
    let text = std::fs::read_to_string(model_path("mmc.toml")).unwrap();
    let spec = spec(&text, &OVERLOADED);
    let options = RunOptions {
        memory_limit: Bytes(16 << 20),
        ..RunOptions::new(false)
    };
    let err = model::simulate_with(&spec, options, |_, _| {})
        .err()
        .expect("stopped");
    let RunError::OverMemory {
        bytes,
        limit,
        residue,
        at_s,
        ..
    } = err
    else {
        panic!("{err}");
    };
    assert!(bytes > limit && limit == Bytes(16 << 20));
    // Ten lanes busy, the rest queued: every live attempt is in one or the other.
    assert_eq!(residue.in_service, 10);
    assert_eq!(residue.queued as usize, residue.attempts - 10);
    // The queue grows by about 3 calls a second (13/s offered, 10/s served).
    let expected_s = f64::from(residue.queued) / 3.0;
    assert!(
        (at_s - expected_s).abs() < 0.1 * expected_s,
        "{at_s} s, {residue:?}"
    );
}

#[test]
fn a_lane_queue_that_grows_without_bound_is_called_unstable() {
    let base = ["duration=4h", "capacity.lanes=4", "agents.a.steps=1"];
    // One call a loop, of 0.5 s mean: 60 loops/min keep half a lane busy.
    let verdict = |set: &[&str]| {
        let s = run(BASE, &[&base[..], set].concat());
        (s.lane_queue_unbounded, s.lane_queue_growth_per_min.unwrap())
    };
    // Offered 1.25x the lanes: 10 calls/s in, 8/s out, 120 a minute more.
    let (unbounded, growth) = verdict(&["workload.users.arrivals.per_min=600"]);
    assert_eq!(unbounded, Some(true));
    // The change over the 2 h second half has a spread of about 3% (a random
    // walk of 10 + 8 steps a second); 8% is well outside it.
    assert!((growth - 120.0).abs() < 0.08 * 120.0, "{growth} per minute");
    // 0.9x: it empties now and then, and is not called unbounded.
    assert_eq!(
        verdict(&["workload.users.arrivals.per_min=432"]).0,
        Some(false)
    );
    // A queue limit bounds it, however overloaded.
    assert_eq!(
        verdict(&[
            "workload.users.arrivals.per_min=200",
            "capacity.queue_limit=50"
        ])
        .0,
        Some(false)
    );
}

#[test]
fn a_sweep_with_one_point_too_large_runs_nothing_and_names_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.toml");
    std::fs::write(
        &exp,
        format!(
            "name = \"one too large\"\nmodel = \"{}\"\nseed = 1\nreplications = 2\n\n[grid]\n\"workload.developers.users\" = [10, 1e9]\n",
            model_path("coding-agents-shared.toml").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    for command in ["check", "sweep"] {
        let mut cmd = loopcap();
        cmd.arg(command).arg(&exp);
        if command == "sweep" {
            cmd.arg("--out").arg(&out);
        }
        cmd.assert()
            .code(2)
            .stderr(predicate::str::contains(
                "exp.toml:7: grid workload.developers.users = 1000000000",
            ))
            .stderr(predicate::str::contains("the model needs up to about"));
    }
    assert!(!out.exists(), "a refused sweep wrote {}", out.display());
}

/// `run` and `check` of a shipped model with `set` both refuse it with
/// exit 2 for its work, naming `field`.
fn too_much_work(model: &str, set: &[&str], field: &str) {
    for command in ["check", "run"] {
        let mut cmd = loopcap();
        cmd.arg(command).arg(model_path(model));
        for s in set {
            cmd.args(["--set", s]);
        }
        cmd.timeout(std::time::Duration::from_secs(60))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!(
                "{field}: a run would handle about"
            )))
            .stderr(predicate::str::contains(
                "more than the budget of 300000000 (--max-events)",
            ));
    }
}

/// The models that ran for hours or days although `check` passed them are
/// refused before running, each naming the field that makes the work.
#[test]
fn models_that_would_run_for_hours_are_refused_naming_the_field() {
    too_much_work(
        "mmc.toml",
        &[
            r#"workload.customers.arrivals={ process = "on_off", on_per_min = 60, off_per_min = 0, mean_on = "1us", mean_off = "1us" }"#,
        ],
        "workload.customers.arrivals",
    );
    too_much_work(
        "self-hosted-vllm.toml",
        &["capacity.autoscale.interval=1us"],
        "capacity.autoscale.interval",
    );
    too_much_work(
        "self-hosted-vllm.toml",
        &["capacity.max_replicas=1000000"],
        "capacity.max_replicas",
    );
    too_much_work(
        "research-agent-burst.toml",
        &["agents.research.fan_out.width=1000000"],
        "agents.research.fan_out.width",
    );
    too_much_work(
        "coding-agents-shared.toml",
        &["workload.developers.users=10000000"],
        "workload.developers.users",
    );
    too_much_work(
        "metastable.toml",
        &["timeseries_bin=1ms", "duration=365d"],
        "timeseries_bin",
    );
    // A billion steps of a microsecond each for a loop every ten minutes:
    // the steps make the work, not the arrivals.
    too_much_work(
        "mmc.toml",
        &[
            "agents.one-call.steps=1e9",
            r#"capacity.time_to_first_token="1us""#,
            "workload.customers.arrivals.per_min=0.1",
        ],
        "agents.one-call.steps",
    );
}

/// Users who think for a microsecond, whose every loop is refused at once,
/// start a loop a microsecond: no estimate of a loop that runs foresees
/// it, so `check` passes the model, and the run is stopped once it has
/// handled 20 times its estimate and 10 million events (it ran 6 * 10^9
/// loop starts), with exit 1 and why.
#[test]
fn a_run_that_outgrows_its_estimated_events_stops_and_says_why() {
    let set = [
        r#"workload.users={ name = "users", agent = "a", users = 100, think_time = "1us" }"#,
        r#"capacity={ kind = "shared_api", requests_per_min = 1, time_to_first_token = "1s" }"#,
        "client.max_attempts=1",
    ];
    let err = match model::simulate(&spec(BASE, &set), false) {
        Err(e @ RunError::OverEvents { .. }) => e.to_string(),
        Err(other) => panic!("{other}"),
        Ok(s) => panic!("ran to the end: {} events", s.summary.events),
    };
    assert!(err.contains("its model was estimated to make"), "{err}");
    let RunError::OverEvents {
        events, estimate, ..
    } = model::simulate(&spec(BASE, &set), false).err().unwrap()
    else {
        unreachable!()
    };
    let limit = loopcap::model::estimate::work::run_limit(estimate);
    assert!(events > limit && events <= limit + 4096, "{events} {limit}");
}

/// Every shipped model's run makes within a factor of 20 of the events
/// estimated for it (the run limit's margin), either way: 0.16 (replicas
/// looked at counted as events) to 5.9 (retries) today.
#[test]
fn shipped_models_make_about_the_events_estimated() {
    for name in crate::support::shipped_models() {
        let path = model_path(&name);
        let source = loopcap::config::Source::read(&path).unwrap();
        let loaded = loopcap::config::load_model_with(&source, &[] as &[&str]).unwrap();
        let events = model::simulate(&loaded.spec, false).unwrap().summary.events as f64;
        let ratio = events / loaded.work.events;
        assert!(
            (0.05..20.0).contains(&ratio),
            "{name}: {events} events, {} estimated",
            loaded.work.events
        );
    }
}
