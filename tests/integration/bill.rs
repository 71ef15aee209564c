//! The month's bill: committed capacity all month whatever the load, use
//! by the measured window scaled to a 730-hour month.

use crate::support::{BASE, rel, run};

/// A working week (09:00–18:00 on weekdays, nothing else) measured for a
/// whole week: 20 lanes at $2 an hour are billed 730 hours whatever the
/// load ($29,200), and tokens by use. Poisson at 60 loops a minute over
/// 45 busy hours starts 162,000 loops (sd 0.25%) of 300 input and 30
/// output tokens, $1.35 a thousand loops at $3 and $15 a million: $218.70
/// a week, times 730/168 a month. Tolerance 2%; 5% off fails.
#[test]
fn a_working_week_bills_lanes_all_month_and_tokens_by_use() {
    let s = run(
        BASE,
        &[
            "start=\"Mon 00:00\"",
            "duration=168h",
            "warmup=0s",
            "capacity.lanes=20",
            "prices={ per_lane_hour = 2, input_per_mtok = 3, output_per_mtok = 15 }",
            "workload.users.profile={ hours = { \"00:00\" = 0, \"09:00\" = 1, \"18:00\" = 0 }, weekend = 0 }",
        ],
    );
    assert_eq!(s.committed_per_month_usd, 20.0 * 2.0 * 730.0);
    let tokens = 162_000.0 * (300.0 * 3.0 + 30.0 * 15.0) / 1e6 * 730.0 / 168.0;
    let used = s.cost_per_month_usd - s.committed_per_month_usd;
    assert!(rel(used, tokens) < 0.02, "{used} vs {tokens}");
    assert!(rel(used, tokens * 1.05) > 0.02 && rel(used, tokens * 0.95) > 0.02);
    assert!(
        s.month_basis.contains("1 measured week"),
        "{}",
        s.month_basis
    );
    // The window's own cost holds a week of lanes, not a month's.
    assert!(rel(s.cost_usd, 20.0 * 2.0 * 168.0 + tokens * 168.0 / 730.0) < 0.005);
}

/// Round-the-clock load measured for a few hours is scaled as if it ran
/// all month, and says so; a flat fee is committed, and the window's cost
/// holds its share of it (a 2-hour window: 2/730 of $1,000).
#[test]
fn a_flat_fee_is_committed_and_a_short_window_says_it_is_scaled() {
    let s = run(
        BASE,
        &[
            "duration=2h",
            "warmup=0s",
            "capacity={ kind = \"shared_api\", requests_per_min = 1000, time_to_first_token = \"1s\" }",
            "prices={ input_per_mtok = 3, per_month = 1000 }",
        ],
    );
    assert_eq!(s.committed_per_month_usd, 1000.0);
    let tokens = s.input_tokens as f64 * 3.0 / 1e6;
    assert!(rel(s.cost_usd, tokens + 1000.0 * 2.0 / 730.0) < 1e-9);
    assert!(rel(s.cost_per_month_usd, 1000.0 + tokens * 365.0) < 1e-9);
    assert!(
        s.month_basis.contains("round the clock"),
        "{}",
        s.month_basis
    );
}
