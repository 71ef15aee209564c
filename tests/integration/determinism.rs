//! Same model, seed and version give identical results; other seeds do not.

use std::thread;

use loopcap::model;

use crate::support::{BUSY_START, shipped, shipped_models};

#[test]
fn every_shipped_model_reruns_identically_and_depends_on_its_seed() {
    for name in &shipped_models() {
        let spec = shipped(name, &["duration=65m", "warmup=0s", BUSY_START]);
        let a = model::simulate(&spec, true).unwrap();
        let b = model::simulate(&spec, true).unwrap();
        assert_eq!(
            a.summary.without_wall_clock(),
            b.summary.without_wall_clock(),
            "{name}"
        );
        assert_eq!(
            a.timeseries.unwrap().bins(),
            b.timeseries.unwrap().bins(),
            "{name} timeseries"
        );
        let other = model::simulate(
            &shipped(name, &["duration=65m", "warmup=0s", "seed=99", BUSY_START]),
            false,
        )
        .unwrap();
        assert_ne!(
            a.summary.without_wall_clock(),
            other.summary.without_wall_clock().with_seed(a.summary.seed),
            "{name}: a different seed should change the results"
        );
    }
}

#[test]
fn runs_on_many_threads_at_once_match_a_run_alone() {
    let spec = shipped("coding-agents-shared.toml", &["duration=1h"]);
    let alone = model::simulate(&spec, false)
        .unwrap()
        .summary
        .without_wall_clock();
    let together: Vec<_> = thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    model::simulate(&spec, false)
                        .unwrap()
                        .summary
                        .without_wall_clock()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(together.iter().all(|s| *s == alone));
}

#[test]
fn recording_the_timeseries_does_not_change_the_summary() {
    let spec = shipped("research-agent-burst.toml", &["duration=30m"]);
    let with = model::simulate(&spec, true)
        .unwrap()
        .summary
        .without_wall_clock();
    let without = model::simulate(&spec, false)
        .unwrap()
        .summary
        .without_wall_clock();
    assert_eq!(with, without);
}

#[test]
fn changing_the_capacity_does_not_reshuffle_the_workload() {
    // Arrivals come from their own named stream: giving the provider more
    // lanes leaves the arrival sequence exactly as it was.
    let few = model::simulate(
        &shipped("mmc.toml", &["duration=30m", "capacity.lanes=10"]),
        false,
    )
    .unwrap();
    let many = model::simulate(
        &shipped("mmc.toml", &["duration=30m", "capacity.lanes=50"]),
        false,
    )
    .unwrap();
    assert_eq!(few.summary.loops_started, many.summary.loops_started);
    assert_ne!(few.summary.queue_wait_s, many.summary.queue_wait_s);
}
