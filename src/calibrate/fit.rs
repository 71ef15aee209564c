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

use super::least_squares::{COSTS, KEYS, Row, dot, non_negative_least_squares};
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
}

/// The fit, and how well it reproduces the rows it was fitted to.
#[derive(Debug, Serialize)]
pub struct Fit {
    pub fitted: RowsFit,
    /// Gaps between tokens fitted: one a step where tokens were timed one
    /// by one, one a request (its mean) where only its first and last were.
    pub decode_rows: usize,
    /// Requests sent to an idle server whose first token was fitted.
    pub idle_rows: usize,
}

/// Fits the step costs to the requests of `run` for which `fitted` says
/// so, the others' tokens counted as load: `budget` is the server's
/// `max_num_batched_tokens`. None when the rows cannot tell the costs apart.
pub fn fit(run: &[Request], fitted: &dyn Fn(usize) -> bool, budget: u32) -> Option<Fit> {
    let decode = decode_rows(run, fitted, budget);
    let idle = idle_rows(run, fitted, budget);
    let (decode_rows, idle_rows) = (decode.len(), idle.len());
    let rows: Vec<Row> = decode.into_iter().chain(idle).collect();
    Some(Fit {
        fitted: fit_rows(&rows)?,
        decode_rows,
        idle_rows,
    })
}

/// The step costs that fit some rows best.
#[derive(Debug, Serialize)]
pub struct RowsFit {
    pub costs: StepCosts,
    /// Mean absolute relative error over the rows, in %.
    pub error_pct: f64,
    /// The keys of the costs held at zero because the rows did not tell
    /// them from the others.
    pub held_at_zero: Vec<&'static str>,
}

/// The step costs that fit `rows` best; None unless decoding and a
/// prompt's tokens both cost.
pub(super) fn fit_rows(rows: &[Row]) -> Option<RowsFit> {
    let rows: Vec<&Row> = rows
        .iter()
        .filter(|r| r.y > 0.0 && r.y.is_finite())
        .collect();
    if rows.is_empty() {
        return None;
    }
    // Relative errors, each row weighed by the size the first fit gives
    // it: weighed by its own measured size, a row measured short would
    // count for more than one measured long.
    let first = non_negative_least_squares(&rows, &|r: &Row| r.y)?;
    let solved = non_negative_least_squares(&rows, &|r: &Row| {
        let fitted = dot(&first.coefficients, &r.x);
        if fitted > 0.0 { fitted } else { r.y }
    })?;
    let coefficients = solved.coefficients;
    let costs = StepCosts::from_coefficients(coefficients);
    if costs.base_s + costs.per_sequence_s <= 0.0 || costs.prefill_per_token_s <= 0.0 {
        return None;
    }
    let error = rows
        .iter()
        .map(|r| (dot(&coefficients, &r.x) - r.y).abs() / r.y)
        .sum::<f64>()
        / rows.len() as f64;
    Some(RowsFit {
        costs,
        error_pct: 100.0 * error,
        held_at_zero: (0..COSTS)
            .filter(|&k| solved.untold[k])
            .map(|k| KEYS[k])
            .collect(),
    })
}

/// Steps a prompt of `tokens` takes in steps of `budget` tokens.
fn chunks(tokens: u64, budget: u32) -> u64 {
    tokens.div_ceil(u64::from(budget)).max(1)
}

/// Rows of the requests fitted with two tokens or more: one per step when
/// a request's token times were measured, against the load of the step
/// and the prompts that finished in it; otherwise one per request, its
/// mean gap between tokens against the mean load of its steps.
fn decode_rows(run: &[Request], fitted: &dyn Fn(usize) -> bool, budget: u32) -> Vec<Row> {
    let loads = step_loads(run, fitted);
    // Prompts by when they were done: a request's first token ends its prompt.
    let mut prompts: Vec<(f64, u64)> = run.iter().map(|r| (r.first_token_s(), r.input)).collect();
    prompts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rows = vec![];
    for (i, r) in run.iter().enumerate() {
        if !fitted(i) || r.output < 2 {
            continue;
        }
        if r.tokens_measured {
            rows.extend(step_rows(r, &loads[i], &prompts, budget));
        } else {
            rows.push(mean_row(r, &loads[i], &prompts, budget));
        }
    }
    rows
}

/// The prompts of `prompts` (by when they were done) done after `from`, up to `to`.
fn done_between(prompts: &[(f64, u64)], from: f64, to: f64) -> &[(f64, u64)] {
    let after = |t: f64| prompts.partition_point(|p| p.0 <= t);
    &prompts[after(from)..after(to)]
}

/// A row per step of request `r`, whose tokens were timed one by one,
/// `loads` its steps' loads: each prompt in the step whose end is nearest
/// its first token. A step whose budget prompts may have run out is left
/// out: a prompt of several chunks (whose earlier chunks, and the decodes
/// they crowd out, are in steps before), or prompts and decodes beyond the
/// budget (one may have been split).
fn step_rows(r: &Request, loads: &[(f64, f64)], prompts: &[(f64, u64)], budget: u32) -> Vec<Row> {
    let t = &r.token_s;
    let steps = t.len() - 1;
    let (mut tokens, mut prefills) = (vec![0u64; steps], vec![false; steps]);
    let mut crowded = vec![false; steps];
    let last_gap = t[steps] - t[steps - 1];
    for &(done, input) in done_between(prompts, (t[0] + t[1]) / 2.0, t[steps] + last_gap / 2.0) {
        // Step `e` runs from t[e] to t[e + 1], the first end at or after it.
        let e = t[1..].partition_point(|&x| x < done);
        let nearest = if e == steps {
            steps - 1
        } else if e > 0 && done - t[e] < t[e + 1] - done {
            e - 1
        } else {
            e
        };
        tokens[nearest] += input;
        prefills[nearest] = true;
        let k = chunks(input, budget) as usize;
        if k > 1 {
            let steps_of_it = nearest.saturating_sub(k)..=(nearest + 1).min(steps - 1);
            crowded[steps_of_it].fill(true);
        }
    }
    loads
        .iter()
        .enumerate()
        .filter(|&(s, &(batch, _))| !crowded[s] && tokens[s] as f64 + batch <= f64::from(budget))
        .map(|(s, &(batch, context))| Row {
            x: [
                1.0,
                batch,
                context,
                f64::from(u8::from(prefills[s])),
                tokens[s] as f64,
            ],
            y: t[s + 1] - t[s],
        })
        .collect()
}

/// The row of request `r`, whose first and last tokens alone were timed,
/// `loads` its steps' loads: its mean gap between tokens against their
/// mean load and the prompts done while it decoded.
fn mean_row(r: &Request, loads: &[(f64, f64)], prompts: &[(f64, u64)], budget: u32) -> Row {
    let t = &r.token_s;
    let steps = t.len() - 1;
    let n = steps as f64;
    let (batch, context) = loads
        .iter()
        .fold((0.0, 0.0), |(b, c), &(sb, sc)| (b + sb, c + sc));
    let done = done_between(prompts, t[0], t[steps]);
    let tokens: u64 = done.iter().map(|p| p.1).sum();
    let prefills: u64 = done.iter().map(|p| chunks(p.1, budget)).sum();
    Row {
        x: [
            1.0,
            batch / n,
            context / n,
            (prefills as f64 / n).min(1.0),
            tokens as f64 / n,
        ],
        y: (t[steps] - t[0]) / n,
    }
}

/// Per request fitted, the sequences decoding and the context they attend
/// to in each step of its tokens after the first, read halfway through the
/// step (clocks that read one step's tokens a little apart still agree on
/// which requests were in it): a sweep over every token of the run.
fn step_loads(run: &[Request], fitted: &dyn Fn(usize) -> bool) -> Vec<Vec<(f64, f64)>> {
    // (time, ask, change of decoding sequences, change of context,
    // request, step), changes before asks at one time.
    let mut points: Vec<(f64, bool, i64, i64, usize, usize)> = vec![];
    for (i, r) in run.iter().enumerate() {
        let t = &r.token_s;
        if r.output < 2 {
            continue;
        }
        let held = (r.input + 1) as i64;
        points.push((t[0], false, 1, held, i, 0));
        for &at in &t[1..t.len() - 1] {
            points.push((at, false, 0, 1, i, 0));
        }
        points.push((
            t[t.len() - 1],
            false,
            -1,
            -(held + t.len() as i64 - 2),
            i,
            0,
        ));
        if fitted(i) {
            for (s, pair) in t.windows(2).enumerate() {
                points.push(((pair[0] + pair[1]) / 2.0, true, 0, 0, i, s));
            }
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut loads: Vec<Vec<(f64, f64)>> = run
        .iter()
        .enumerate()
        .map(|(i, r)| vec![(0.0, 0.0); if fitted(i) { r.token_s.len() - 1 } else { 0 }])
        .collect();
    let (mut decoding, mut context) = (0i64, 0i64);
    for (_, ask, batch, held, i, s) in points {
        if ask {
            loads[i][s] = (decoding as f64, context as f64);
        } else {
            decoding += batch;
            context += held;
        }
    }
    loads
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

#[cfg(test)]
mod tests {
    use super::*;

    const TRUE: [f64; COSTS] = [6e-3, 150e-6, 40e-9, 4e-3, 40e-6];

    /// Rows of varied loads, each measured as `costs` make it.
    fn rows_of(costs: [f64; COSTS]) -> Vec<Row> {
        (0..40)
            .map(|k| {
                let k = f64::from(k);
                let x = if k < 30.0 {
                    [
                        1.0,
                        1.0 + k,
                        900.0 * (1.0 + k) + 7_000.0 * (k % 3.0),
                        f64::from(k % 4.0 == 0.0),
                        100.0 * (k % 7.0),
                    ]
                } else {
                    [0.0, 0.0, 0.0, 1.0, 50.0 * k]
                };
                Row {
                    x,
                    y: dot(&costs, &x),
                }
            })
            .collect()
    }

    #[test]
    fn rows_measured_without_noise_give_their_costs_back() {
        let fitted = fit_rows(&rows_of(TRUE)).unwrap();
        let (costs, error) = (fitted.costs, fitted.error_pct);
        assert!(fitted.held_at_zero.is_empty());
        let got = [
            costs.base_s,
            costs.per_sequence_s,
            costs.per_context_token_s,
            costs.prefill_step_s,
            costs.prefill_per_token_s,
        ];
        for (g, t) in got.iter().zip(TRUE) {
            assert!((g - t).abs() < 1e-9 * t, "{got:?}");
        }
        assert!(error < 1e-6, "{error}");
    }

    #[test]
    fn a_cost_the_rows_make_negative_is_held_at_zero() {
        // No cost of context, and a slower step where context is larger:
        // unconstrained, context gets a negative cost.
        let mut rows = rows_of([6e-3, 150e-6, 0.0, 4e-3, 40e-6]);
        for r in rows.iter_mut().filter(|r| r.x[2] > 20_000.0) {
            r.y *= 0.97;
        }
        let fitted = fit_rows(&rows).unwrap();
        let costs = fitted.costs;
        assert_eq!(costs.per_context_token_s, 0.0);
        // Told apart from the others, and held at zero only for its sign.
        assert!(fitted.held_at_zero.is_empty());
        assert!(
            costs.base_s > 0.0 && costs.per_sequence_s > 0.0,
            "{costs:?}"
        );
    }

    #[test]
    fn a_prompt_token_cost_the_rows_make_negative_keeps_it_and_drops_the_steps() {
        // Prefills whose steps cost 20 ms and whose larger prompts were
        // measured a little faster: unconstrained, a prompt token gets a
        // negative cost beside the step's. A prefill is its tokens' work,
        // so the step's cost goes and the token's stays (a step that costs
        // no matter its prompt would not read back as a pool).
        let mut rows = rows_of([6e-3, 150e-6, 40e-9, 20e-3, 0.0]);
        for r in rows.iter_mut().filter(|r| r.x[4] > 300.0) {
            r.y *= 0.98;
        }
        let fitted = fit_rows(&rows).unwrap();
        let costs = fitted.costs;
        assert_eq!(costs.prefill_step_s, 0.0, "{costs:?}");
        assert!(costs.prefill_per_token_s > 0.0, "{costs:?}");
        // Held for its sign, not for being untold.
        assert!(fitted.held_at_zero.is_empty(), "{:?}", fitted.held_at_zero);
    }

    #[test]
    fn one_prompt_size_measured_gives_a_constant_prefill_speed() {
        // Every prefill row of 108 tokens: the step's share and the
        // token's cannot be told apart, so the step's is held at zero.
        let mut rows: Vec<Row> = rows_of(TRUE)
            .into_iter()
            .filter(|r| r.x[0] == 1.0)
            .collect();
        for r in &mut rows {
            r.x[3] = 0.0;
            r.x[4] = 0.0;
            r.y = dot(&TRUE, &r.x);
        }
        rows.push(Row {
            x: [0.0, 0.0, 0.0, 1.0, 108.0],
            y: 0.02343,
        });
        let fitted = fit_rows(&rows).unwrap();
        let costs = fitted.costs;
        assert_eq!(costs.prefill_step_s, 0.0);
        assert_eq!(fitted.held_at_zero, ["prefill_step.base"]);
        assert!((costs.prefill_per_token_s - 0.02343 / 108.0).abs() < 1e-12);
        assert!((costs.base_s - TRUE[0]).abs() < 1e-9 * TRUE[0], "{costs:?}");
    }

    /// A profile's rows: decode rows of batches 1 to 100, each attending
    /// to `context(i)` tokens a sequence (row i), and one prefill row, each
    /// measured as `costs` make it give or take 2% (a fixed pattern).
    fn profile_of(costs: [f64; COSTS], context: &dyn Fn(usize) -> f64) -> Vec<Row> {
        let noise = [1.0, -1.0, 0.5, -0.5, 1.0, -1.0, 0.0, 0.5, -0.5];
        let mut rows: Vec<Row> = [1.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 10.0, 50.0]
            .into_iter()
            .enumerate()
            .map(|(i, batch)| {
                let x = [1.0, batch, batch * context(i), 0.0, 0.0];
                Row {
                    x,
                    y: dot(&costs, &x) * (1.0 + 0.02 * noise[i]),
                }
            })
            .collect();
        let prefill = [0.0, 0.0, 0.0, 1.0, 1024.0];
        rows.push(Row {
            x: prefill,
            y: dot(&costs, &prefill),
        });
        rows
    }

    #[test]
    fn a_context_cost_rows_of_one_length_cannot_measure_is_held_at_zero() {
        // Every row about 1,530 tokens a sequence (within 0.4%, as output
        // ending early gives): the noise alone would pick how a
        // sequence's cost splits between it and its context.
        let truth = [9e-3, 200e-6, 0.0, 0.0, 34e-6];
        let rows = profile_of(truth, &|i| 1530.0 * (1.0 + 0.004 * (i as f64 % 3.0 - 1.0)));
        let fitted = fit_rows(&rows).unwrap();
        assert_eq!(fitted.costs.per_context_token_s, 0.0, "{fitted:?}");
        assert!(
            fitted
                .held_at_zero
                .contains(&"decode_iteration.per_context_token")
        );
        let per_sequence = fitted.costs.per_sequence_s;
        assert!(
            (per_sequence - truth[1]).abs() < 0.1 * truth[1],
            "{fitted:?}"
        );
    }

    #[test]
    fn a_context_cost_rows_of_several_lengths_measure_is_kept() {
        // The same rows at 1,536, 4,608 and 6,144 tokens a sequence, and
        // context costing 20 ns a token.
        let truth = [9e-3, 200e-6, 20e-9, 0.0, 34e-6];
        let rows = profile_of(truth, &|i| [1536.0, 4608.0, 6144.0][i % 3]);
        let fitted = fit_rows(&rows).unwrap();
        assert!(
            !fitted
                .held_at_zero
                .contains(&"decode_iteration.per_context_token")
        );
        let per_context = fitted.costs.per_context_token_s;
        assert!(
            (per_context - truth[2]).abs() < 0.3 * truth[2],
            "{fitted:?}"
        );
    }

    #[test]
    fn rows_that_cannot_tell_decoding_from_prefilling_fit_nothing() {
        // Only prefills: decoding's costs are never multiplied.
        let rows: Vec<Row> = rows_of(TRUE)
            .into_iter()
            .filter(|r| r.x[0] == 0.0)
            .collect();
        assert!(fit_rows(&rows).is_none());
    }

    /// A request of `input` tokens sent at `sent` whose tokens came at `tokens`.
    fn request(sent: f64, input: u64, tokens: &[f64]) -> Request {
        Request {
            sent_s: sent,
            input,
            output: tokens.len() as u64,
            token_s: tokens.to_vec(),
            tokens_measured: true,
        }
    }

    #[test]
    fn steps_are_read_off_every_requests_tokens() {
        // A decodes alone for two 10 ms steps; B's 100-token prompt is
        // prefilled in the third (first token at 0.045), and both decode
        // in the fourth and fifth, which end together.
        let a = request(0.0, 50, &[0.01, 0.02, 0.03, 0.045, 0.06, 0.075]);
        let b = request(0.031, 100, &[0.045, 0.06, 0.075]);
        let run = [a, b];
        let loads = step_loads(&run, &|_| true);
        // A's steps: alone twice (context 51, 52), alone while B
        // prefills (53), then beside B (54 + 101, 55 + 102).
        assert_eq!(
            loads[0],
            vec![
                (1.0, 51.0),
                (1.0, 52.0),
                (1.0, 53.0),
                (2.0, 155.0),
                (2.0, 157.0)
            ]
        );
        assert_eq!(loads[1], vec![(2.0, 155.0), (2.0, 157.0)]);
        let rows = decode_rows(&run, &|i| i == 0, 2048);
        let prefilled: Vec<f64> = rows.iter().map(|r| r.x[4]).collect();
        assert_eq!(prefilled, [0.0, 0.0, 100.0, 0.0, 0.0]);
        // B was sent while A ran: not an idle row; A was sent to an idle server.
        let idle = idle_rows(&run, &|_| true, 2048);
        assert_eq!(idle.len(), 1);
        assert_eq!((idle[0].x[4], idle[0].y), (50.0, 0.01));
    }
}
