//! The regression under the step costs: least squares with no cost
//! negative, and a cost kept only where its rows tell it from the others.

use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// Costs fitted.
pub(super) const COSTS: usize = 5;

/// Each cost's key in a pool's table, as a fit reports the ones it holds
/// at zero.
pub(super) const KEYS: [&str; COSTS] = [
    "decode_iteration.base",
    "decode_iteration.per_sequence",
    "decode_iteration.per_context_token",
    "prefill_step.base",
    "prefill_step.per_token",
];

/// A prefilling step's cost, and a prompt token's.
const PER_STEP: usize = 3;
const PER_TOKEN: usize = 4;

/// Costs the rows may fail to tell from the others, tried in this order
/// (a prefilling step's, then context's), the rest always fitted.
const SECONDARY: [usize; 2] = [PER_STEP, 2];

/// A row of the regression: the costs' multipliers (base, per sequence,
/// per context token, per prefilling step, per prompt token), and the
/// seconds measured.
pub(super) struct Row {
    pub x: [f64; COSTS],
    pub y: f64,
}

pub(super) fn dot(a: &[f64; COSTS], b: &[f64; COSTS]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A solution: the coefficients, and which costs were held at zero
/// because the rows could not tell them from the others.
pub(super) struct Solved {
    pub coefficients: [f64; COSTS],
    pub untold: [bool; COSTS],
}

/// The coefficients, none negative, least squares over `rows` each
/// divided by its `size`. A secondary cost (a prefilling step's, context's)
/// is held at zero where the rows cannot tell it from the others: exactly
/// (one prompt size measured, or one context a sequence), or within
/// chance, where holding it at zero does not worsen the fit beyond what an
/// F test at 5% allows (a profile whose rows all measured about the same
/// context a sequence would otherwise put the whole of a sequence's cost
/// on its context, or the reverse, by the rows' noise). Then costs whose
/// fit is negative are held at zero, the most negative first, and the rest
/// fitted again (a prompt token's before a prefilling step's: the step's
/// goes first). None when the rows cannot tell the costs apart.
pub(super) fn non_negative_least_squares(
    rows: &[&Row],
    size: &dyn Fn(&Row) -> f64,
) -> Option<Solved> {
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| {
            let size = size(r);
            Row {
                x: r.x.map(|v| v / size),
                y: r.y / size,
            }
        })
        .collect();
    let mut free = [true; COSTS];
    // A cost nothing multiplies cannot be told.
    for (k, f) in free.iter_mut().enumerate() {
        *f = rows.iter().any(|r| r.x[k] != 0.0);
    }
    let mut untold = [false; COSTS];
    while let Some(k) = SECONDARY
        .into_iter()
        .find(|&k| free[k] && !told_apart(&rows, &free, k))
    {
        free[k] = false;
        untold[k] = true;
    }
    loop {
        let solved = solve_free(&rows, &free)?;
        let worst = (0..COSTS)
            .filter(|&k| free[k] && solved[k] < 0.0)
            .min_by(|&a, &b| solved[a].total_cmp(&solved[b]));
        match worst {
            // A prompt's tokens are what a prefill costs: where its
            // per-token cost comes out negative beside a per-step one,
            // the per-step one goes (collinear with it where prompts are
            // of one length).
            Some(PER_TOKEN) if free[PER_STEP] => free[PER_STEP] = false,
            Some(k) => free[k] = false,
            None => {
                return Some(Solved {
                    coefficients: solved,
                    untold,
                });
            }
        }
    }
}

/// Whether `rows` tell cost `k` from the other `free` ones: not when the
/// fit with it is singular; yes when the fit without it is; otherwise
/// when the fit without it is worse than the fit with it by more than an
/// F test at 5% allows.
fn told_apart(rows: &[Row], free: &[bool; COSTS], k: usize) -> bool {
    let mut without = *free;
    without[k] = false;
    let Some(with_k) = solve_free(rows, free) else {
        return false;
    };
    let Some(without_k) = solve_free(rows, &without) else {
        return true;
    };
    let fitted = free.iter().filter(|&&f| f).count();
    let Some(df) = rows.len().checked_sub(fitted).filter(|&df| df > 0) else {
        return true;
    };
    let (full, reduced) = (
        squared_residuals(rows, &with_k),
        squared_residuals(rows, &without_k),
    );
    let critical = FisherSnedecor::new(1.0, df as f64)
        .map(|f| f.inverse_cdf(0.95))
        .unwrap_or(f64::INFINITY);
    reduced - full > critical * full / df as f64
}

fn squared_residuals(rows: &[Row], coefficients: &[f64; COSTS]) -> f64 {
    rows.iter()
        .map(|r| (dot(coefficients, &r.x) - r.y).powi(2))
        .sum()
}

/// Least squares over the `free` coefficients (the others zero), by the
/// normal equations, each column scaled to unit size so that costs in
/// nanoseconds and in milliseconds are solved alike.
fn solve_free(rows: &[Row], free: &[bool; COSTS]) -> Option<[f64; COSTS]> {
    let index: Vec<usize> = (0..COSTS).filter(|&k| free[k]).collect();
    let n = index.len();
    let mut coefficients = [0.0; COSTS];
    if n == 0 {
        return Some(coefficients);
    }
    let scale: Vec<f64> = index
        .iter()
        .map(|&k| rows.iter().map(|r| r.x[k] * r.x[k]).sum::<f64>().sqrt())
        .collect();
    let mut a = vec![vec![0.0; n + 1]; n];
    for r in rows {
        for (p, &kp) in index.iter().enumerate() {
            let xp = r.x[kp] / scale[p];
            for (q, &kq) in index.iter().enumerate() {
                a[p][q] += xp * r.x[kq] / scale[q];
            }
            a[p][n] += xp * r.y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for row in lower {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
        }
    }
    let mut solution = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|c| a[row][c] * solution[c]).sum();
        solution[row] = (a[row][n] - rest) / a[row][row];
    }
    for (p, &k) in index.iter().enumerate() {
        coefficients[k] = solution[p] / scale[p];
    }
    Some(coefficients)
}
