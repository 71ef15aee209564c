use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;

use super::*;

/// A judged setting: met when `met`, costing `total` a month.
fn point(setting: &[i64], committed: f64, met: bool, total: f64) -> Point {
    Point {
        setting: setting.to_vec(),
        committed_per_month_usd: committed,
        verdicts: Vec::new(),
        met,
        cost_per_hour_usd: (None, None),
        cost_per_month_usd: (Some(total), None),
        objective: (Some(total), None),
        over_spend_cap: false,
    }
}

/// On 500 random grids of up to 3 axes, with committed costs, use costs
/// that fall as capacity rises (spill) and SLOs met anywhere at random,
/// the search answers what trying every setting answers: the least cost a
/// month among those that meet (the first in committed order among
/// equals), and never runs a setting it then skips.
#[test]
fn the_bounded_search_answers_what_trying_every_setting_answers() {
    let mut rng = Pcg64::seed_from_u64(7);
    let mut pruned = 0;
    for _ in 0..500 {
        let axes: Vec<Axis> = (0..rng.random_range(1..=3))
            .map(|i| Axis {
                path: format!("capacity.a{i}"),
                values: (1..=rng.random_range(1..=6)).collect(),
            })
            .collect();
        let price: Vec<f64> = axes.iter().map(|_| rng.random_range(0.0..10.0)).collect();
        let meets_above = rng.random_range(0..8);
        let use_scale = rng.random_range(0.0..50.0);
        let judge = |s: &[i64]| {
            let committed: f64 = s.iter().zip(&price).map(|(&v, p)| v as f64 * p).sum();
            let capacity: i64 = s.iter().sum();
            let total = committed + use_scale / capacity as f64;
            let met = capacity > meets_above || (capacity * 7 + 3) % 5 == 0;
            (committed, met, total)
        };
        let all: Vec<(Vec<i64>, f64)> = settings(&axes)
            .into_iter()
            .map(|s| {
                let c = judge(&s).0;
                (s, c)
            })
            .collect();
        // Every setting, in committed order (stable), the least met cost first.
        let mut brute = all.clone();
        brute.sort_by(|a, b| a.1.total_cmp(&b.1));
        let expected = brute
            .iter()
            .filter(|(s, _)| judge(s).1)
            .min_by(|a, b| judge(&a.0).2.total_cmp(&judge(&b.0).2))
            .map(|(s, _)| s.clone());
        let mut ran = 0;
        let search = cheapest(all.clone(), &Objective::Cost, |batch| {
            ran += batch.len();
            Ok::<_, ()>(
                batch
                    .iter()
                    .map(|(s, c)| {
                        let (_, met, total) = judge(s);
                        point(s, *c, met, total)
                    })
                    .collect(),
            )
        })
        .unwrap();
        let answer = search.answer.map(|i| search.points[i].setting.clone());
        assert_eq!(answer, expected, "{axes:?}");
        assert_eq!(ran + search.skipped.len(), all.len());
        let best = search.answer.map(|i| judge(&search.points[i].setting).2);
        for s in &search.skipped {
            assert!(s.committed_per_month_usd > best.unwrap());
        }
        pruned += search.skipped.len();
    }
    // The bound is not idle.
    assert!(pruned > 500, "{pruned}");
}

/// Another metric has no bound: every setting runs, in the grid's order.
#[test]
fn a_metric_other_than_cost_runs_every_setting() {
    let all: Vec<(Vec<i64>, f64)> = (1..=9).map(|v| (vec![v], 100.0 * v as f64)).collect();
    let search = cheapest(
        all,
        &Objective::Metric("loop_latency_s.p99".into()),
        |batch| {
            Ok::<_, ()>(
                batch
                    .iter()
                    .map(|(s, c)| point(s, *c, true, 10.0 - s[0] as f64))
                    .collect(),
            )
        },
    )
    .unwrap();
    assert_eq!(search.points.len(), 9);
    assert!(search.skipped.is_empty());
    assert_eq!(search.points[search.answer.unwrap()].setting, vec![9]);
}
