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

#[test]
fn axes_read_as_ranges_steps_and_lists() {
    let values = |text| parse_axis("--over", text).map(|a| a.values);
    assert_eq!(values("capacity.lanes=2..5").unwrap(), vec![2, 3, 4, 5]);
    assert_eq!(
        values("capacity.lanes=16..64 step 16").unwrap(),
        vec![16, 32, 48, 64]
    );
    assert_eq!(
        values("capacity.lanes=1..10 step 4").unwrap(),
        vec![1, 5, 9, 10]
    );
    assert_eq!(values("capacity.lanes=8,2,4,4").unwrap(), vec![2, 4, 8]);
    for (text, why) in [
        ("capacity.lanes", "no `=`"),
        ("capacity.lanes=5..2", "LO (5) is above HI (2)"),
        ("capacity.lanes=1..8 step 0", "step 0 is not a positive"),
        ("capacity.lanes=1..x", "`x` is not a whole number"),
    ] {
        let e = parse_axis("--over", text).unwrap_err().0;
        assert!(e.contains(why) && e.contains("PATH=LO..HI step S"), "{e}");
    }
    assert_eq!(
        settings(&[
            Axis {
                path: "a".into(),
                values: vec![1, 2]
            },
            Axis {
                path: "b".into(),
                values: vec![5, 6]
            },
        ]),
        vec![vec![1, 5], vec![1, 6], vec![2, 5], vec![2, 6]]
    );
}
