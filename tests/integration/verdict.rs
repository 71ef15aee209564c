//! The verdict a run opens with names what a planner would miss in the
//! numbers, and names it rightly: tighten one limit of a shared tier and
//! that limit is the one said to bind; let most loops fail and the p99 is
//! called a survivors' p99; make an autoscaler impatient and it is said to
//! flap, patient and it is not.

use crate::support::{loopcap, model_path};

/// The verdict `run` prints: the lines between the model's name and
/// "simulated".
fn verdict(model: &str, sets: &[&str]) -> String {
    let mut cmd = loopcap();
    cmd.arg("run").arg(model_path(model));
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("simulated"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Twice the shipped tier's developers for an hour, on the tier as shipped
/// or with one of its limits tightened.
fn shared(limit: Option<&str>) -> String {
    let mut sets = vec!["duration=1h", "warmup=5m", "workload.0.users=80"];
    sets.extend(limit);
    verdict("coding-agents-shared.toml", &sets)
}

#[test]
fn the_limit_said_to_bind_is_the_one_tightened() {
    let base = shared(None);
    assert!(base.starts_with("Every loop completed:"), "{base}");
    assert!(!base.contains("survivors"), "{base}");
    for (set, words) in [
        ("capacity.requests_per_min=60", "requests/min binds from"),
        (
            "capacity.output_tokens_per_min=20000",
            "output tokens/min binds from",
        ),
        ("capacity.max_concurrency=5", "concurrency binds from"),
    ] {
        let v = shared(Some(set));
        let headline = v.lines().next().unwrap();
        assert!(headline.contains(" of loops fail ("), "{set}: {v}");
        assert!(headline.contains(&format!("): {words}")), "{set}: {v}");
        // Most loops fail, so the p99 of those that complete hides them.
        assert!(v.contains("is a survivors' p99"), "{set}: {v}");
    }
}

#[test]
fn an_impatient_autoscaler_is_said_to_flap_and_a_patient_one_is_not() {
    let impatient = verdict("self-hosted-vllm.toml", &["capacity.max_replicas=4"]);
    assert!(
        impatient.contains("The autoscaler of pool capacity flaps: it started"),
        "{impatient}"
    );
    let patient = verdict(
        "self-hosted-vllm.toml",
        &[
            "capacity.max_replicas=4",
            "capacity.autoscale.scale_down_after=1h",
        ],
    );
    assert!(!patient.contains("flaps"), "{patient}");
}

/// A month past a cap repeats the measured window round the clock: a run
/// with a fault says the fault repeats with it, as a fallback's month
/// (OpenAI's Build behind Anthropic's Scale, an outage in 3.5 hours)
/// is only an outage's; a run without one says nothing of faults.
#[test]
fn a_month_past_its_cap_says_when_it_repeats_a_fault() {
    let fallback = verdict(
        "failover.toml",
        &[
            "pool.0.capacity.preset=\"anthropic-scale-sonnet\"",
            "pool.1.capacity.preset=\"openai-build-gpt-6-1-sol\"",
        ],
    );
    assert!(
        fallback.contains("Pool openai's month, $")
            && fallback.contains("(a month of the measured window, its faults repeated with it), is over its tier's $500"),
        "{fallback}"
    );
    let steady = verdict(
        "coding-agents-shared.toml",
        &[
            "capacity.preset=\"anthropic-tier2-sonnet\"",
            "duration=1h",
            "warmup=5m",
        ],
    );
    assert!(
        steady.contains("is over its tier's $500 monthly spend cap") && !steady.contains("faults"),
        "{steady}"
    );
}
