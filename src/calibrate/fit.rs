//! The step costs of a vLLM server fitted to its requests' token times.
//!
//! A step lasts `base + per_sequence × decodes + per_context_token ×
//! context` when it decodes, plus `prefill_step + prefill_per_token ×
//! prompt tokens` when it prefills (loopcap's vLLM replica charges a step
//! exactly so). A request's tokens after the first come one a step, so its
//! mean gap between tokens is the mean of those steps' costs: linear in the
//! mean number of sequences decoding beside it, the mean context they
//! attend to, the share of its steps that prefilled and the prompt tokens
//! prefilled while it decoded, all read off the other requests' token
//! times. A request sent to an idle server gets its first token after its
//! prompt's steps alone. Least squares over both kinds of rows, each
//! weighed by its own size (relative errors), no cost negative.

use serde::Serialize;

use super::measured::Request;

/// What a server's steps cost, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepCosts {
    pub base_s: f64,
    pub per_sequence_s: f64,
    pub per_context_token_s: f64,
    /// Added to a step that prefills.
    pub prefill_step_s: f64,
    pub prefill_per_token_s: f64,
}

impl StepCosts {
    fn from_coefficients(c: [f64; COSTS]) -> StepCosts {
        StepCosts {
            base_s: c[0],
            per_sequence_s: c[1],
            per_context_token_s: c[2],
            prefill_step_s: c[3],
            prefill_per_token_s: c[4],
        }
    }

    /// Seconds a step prefilling `tokens` spends on them.
    pub fn prefill_s(&self, tokens: f64) -> f64 {
        self.prefill_step_s + self.prefill_per_token_s * tokens
    }
}

/// Costs fitted.
pub(super) const COSTS: usize = 5;

/// A row of the regression: the costs' multipliers (base, per sequence,
/// per context token, per prefilling step, per prompt token), and the
/// seconds measured.
pub(super) struct Row {
    pub x: [f64; COSTS],
    pub y: f64,
}

/// The fit, and how well it reproduces the rows it was fitted to.
#[derive(Debug, Serialize)]
pub struct Fit {
    pub costs: StepCosts,
    /// Requests whose mean gap between tokens was fitted.
    pub decode_rows: usize,
    /// Requests sent to an idle server whose first token was fitted.
    pub idle_rows: usize,
    /// Mean absolute relative error of the fitted rows, in %.
    pub in_sample_error_pct: f64,
}

/// Fits the step costs to the requests of `run` for which `fitted` says
/// so, the others' tokens counted as load: `budget` is the server's
/// `max_num_batched_tokens`. None when the rows cannot tell the costs apart.
pub fn fit(run: &[Request], fitted: &dyn Fn(usize) -> bool, budget: u32) -> Option<Fit> {
    let decode = decode_rows(run, fitted, budget);
    let idle = idle_rows(run, fitted, budget);
    let (decode_rows, idle_rows) = (decode.len(), idle.len());
    let rows: Vec<Row> = decode.into_iter().chain(idle).collect();
    let (costs, in_sample_error_pct) = fit_rows(&rows, f64::from(budget))?;
    Some(Fit {
        costs,
        decode_rows,
        idle_rows,
        in_sample_error_pct,
    })
}

/// The step costs that fit `rows` best, and their mean absolute relative
/// error in %; None unless decoding and prefilling a `chunk` both cost.
pub(super) fn fit_rows(rows: &[Row], chunk: f64) -> Option<(StepCosts, f64)> {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.y > 0.0 && r.y.is_finite())
        .collect();
    if rows.is_empty() {
        return None;
    }
    let coefficients = non_negative_least_squares(&rows)?;
    let costs = StepCosts::from_coefficients(coefficients);
    if costs.base_s + costs.per_sequence_s <= 0.0 || costs.prefill_s(chunk) <= 0.0 {
        return None;
    }
    let error = rows
        .iter()
        .map(|r| (dot(&coefficients, &r.x) - r.y).abs() / r.y)
        .sum::<f64>()
        / rows.len() as f64;
    Some((costs, 100.0 * error))
}

/// Steps a prompt of `tokens` takes in steps of `budget` tokens.
fn chunks(tokens: u64, budget: u32) -> u64 {
    tokens.div_ceil(u64::from(budget)).max(1)
}

/// One row per fitted request with two tokens or more: its mean gap
/// between tokens against the mean load of its steps.
fn decode_rows(run: &[Request], fitted: &dyn Fn(usize) -> bool, budget: u32) -> Vec<Row> {
    let load = step_loads(run, fitted);
    // Prompts done, by when: each request's first token ends its prompt.
    let mut prompts: Vec<(f64, u64, u64)> = run
        .iter()
        .map(|r| (r.first_token_s(), r.input, chunks(r.input, budget)))
        .collect();
    prompts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut tokens_before = vec![0u64; prompts.len() + 1];
    let mut chunks_before = vec![0u64; prompts.len() + 1];
    for (i, &(_, tokens, chunks)) in prompts.iter().enumerate() {
        tokens_before[i + 1] = tokens_before[i] + tokens;
        chunks_before[i + 1] = chunks_before[i] + chunks;
    }
    // Prompts finished after `from`, up to `to`.
    let finished = |from: f64, to: f64| {
        let lo = prompts.partition_point(|p| p.0 <= from);
        let hi = prompts.partition_point(|p| p.0 <= to);
        (
            tokens_before[hi] - tokens_before[lo],
            chunks_before[hi] - chunks_before[lo],
        )
    };
    run.iter()
        .enumerate()
        .filter(|&(i, r)| fitted(i) && r.output > 1)
        .map(|(i, r)| {
            let steps = (r.output - 1) as f64;
            let (batch, context) = load[i];
            let (tokens, prefills) = finished(r.first_token_s(), r.last_token_s());
            Row {
                x: [
                    1.0,
                    batch / steps,
                    context / steps,
                    (prefills as f64 / steps).min(1.0),
                    tokens as f64 / steps,
                ],
                y: (r.last_token_s() - r.first_token_s()) / steps,
            }
        })
        .collect()
}

/// Per request, the sequences decoding and the context they attend to,
/// each summed over the steps of its tokens after the first (zero for
/// requests not fitted): a sweep over every token of the run.
fn step_loads(run: &[Request], fitted: &dyn Fn(usize) -> bool) -> Vec<(f64, f64)> {
    // (time, order, change of decoding sequences, change of context,
    // request asking), changes before asks at one time: a request done at
    // a step's start is not in it.
    let mut points: Vec<(f64, u8, i64, i64, usize)> = vec![];
    for (i, r) in run.iter().enumerate() {
        let t = &r.token_s;
        if r.output < 2 {
            continue;
        }
        let held = (r.input + 1) as i64;
        points.push((t[0], 0, 1, held, i));
        for &at in &t[1..t.len() - 1] {
            points.push((at, 0, 0, 1, i));
        }
        points.push((t[t.len() - 1], 0, -1, -(held + t.len() as i64 - 2), i));
        if fitted(i) {
            for &at in &t[..t.len() - 1] {
                points.push((at, 1, 0, 0, i));
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut load = vec![(0.0, 0.0); run.len()];
    let (mut decoding, mut context) = (0i64, 0i64);
    for (_, ask, batch, held, i) in points {
        if ask == 1 {
            load[i].0 += decoding as f64;
            load[i].1 += context as f64;
        } else {
            decoding += batch;
            context += held;
        }
    }
    load
}

/// One row per fitted request sent when no other was in flight and
/// joined by none before its first token: its prompt's steps alone.
fn idle_rows(run: &[Request], fitted: &dyn Fn(usize) -> bool, budget: u32) -> Vec<Row> {
    // Requests are in the order sent: the latest end of those before.
    let mut busy_until = f64::NEG_INFINITY;
    let mut rows = vec![];
    for (i, r) in run.iter().enumerate() {
        let alone = busy_until < r.sent_s
            && run
                .get(i + 1)
                .is_none_or(|next| next.sent_s >= r.first_token_s());
        if alone && fitted(i) {
            rows.push(Row {
                x: [
                    0.0,
                    0.0,
                    0.0,
                    chunks(r.input, budget) as f64,
                    r.input as f64,
                ],
                y: r.ttft_s(),
            });
        }
        busy_until = busy_until.max(r.last_token_s());
    }
    rows
}

fn dot(a: &[f64; COSTS], b: &[f64; COSTS]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The coefficients, none negative, least squares over `rows` each
/// divided by its `y` (relative errors): costs whose unconstrained fit is
/// negative are held at zero, the most negative first, and the rest
/// fitted again. None when the rows cannot tell the costs apart.
fn non_negative_least_squares(rows: &[&Row]) -> Option<[f64; COSTS]> {
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            x: r.x.map(|v| v / r.y),
            y: 1.0,
        })
        .collect();
    let mut free = [true; COSTS];
    // A cost nothing multiplies cannot be told.
    for (k, f) in free.iter_mut().enumerate() {
        *f = rows.iter().any(|r| r.x[k] != 0.0);
    }
    loop {
        let solved = solve_free(&rows, &free)?;
        let worst = (0..COSTS)
            .filter(|&k| free[k] && solved[k] < 0.0)
            .min_by(|&a, &b| solved[a].total_cmp(&solved[b]));
        match worst {
            Some(k) => free[k] = false,
            None => return Some(solved),
        }
    }
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
