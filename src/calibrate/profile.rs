//! The profile-only path: step costs from a published table of speeds
//! (decode throughput by batch, and by context where it was measured;
//! prefill throughput by chunk), when no per-request measurements exist.

use std::path::Path;

use serde::Deserialize;

use super::fit::{RowsFit, fit_rows};
use super::least_squares::Row;
use crate::error::ReadError;

/// A row of a profile CSV.
#[derive(Deserialize)]
struct ProfileRow {
    /// "decode" or "prefill".
    phase: String,
    /// Decode: sequences in the batch.
    batch: Option<f64>,
    /// Decode: the tokens the batch attends to, in all (blank: unknown).
    context_tokens: Option<f64>,
    /// Prefill: prompt tokens in the step.
    chunk_tokens: Option<f64>,
    /// Output tokens a second in all (decode), or prompt tokens a second (prefill).
    tokens_per_s: f64,
}

/// The step costs fitted to the profile in `path`, and its rows.
pub fn fit_profile(path: &Path) -> Result<(RowsFit, usize), ReadError> {
    let shown = path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(ReadError::csv(path))?;
    let mut rows = vec![];
    let (mut decodes, mut prefills) = (0, 0);
    for (i, row) in reader.deserialize::<ProfileRow>().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| {
            ReadError::bad(format!(
                "{shown}: line {line}: {e}; expected columns phase, batch, context_tokens, chunk_tokens, tokens_per_s"
            ))
        })?;
        let bad = |why: &str| ReadError::bad(format!("{shown}: line {line}: {why}"));
        let positive = |v: Option<f64>, what: &str| match v {
            Some(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(bad(&format!("{what} must be a number above 0"))),
        };
        let rate = positive(Some(row.tokens_per_s), "tokens_per_s")?;
        rows.push(match row.phase.as_str() {
            "decode" => {
                decodes += 1;
                let batch = positive(row.batch, "batch (a decode row's sequences)")?;
                let context = match row.context_tokens {
                    None => 0.0,
                    context => positive(context, "context_tokens, where given,")?,
                };
                // An iteration makes a token for each sequence.
                Row {
                    x: [1.0, batch, context, 0.0, 0.0],
                    y: batch / rate,
                }
            }
            "prefill" => {
                prefills += 1;
                let tokens = positive(
                    row.chunk_tokens,
                    "chunk_tokens (a prefill row's prompt tokens)",
                )?;
                Row {
                    x: [0.0, 0.0, 0.0, 1.0, tokens],
                    y: tokens / rate,
                }
            }
            other => {
                return Err(bad(&format!("phase `{other}`: expected decode or prefill")));
            }
        });
    }
    if decodes == 0 || prefills == 0 {
        return Err(ReadError::bad(format!(
            "{shown}: {decodes} decode row(s) and {prefills} prefill row(s): a profile needs both"
        )));
    }
    let fitted = fit_rows(&rows).ok_or_else(|| {
        ReadError::bad(format!(
            "{shown}: its rows cannot tell the step costs apart (give decode rows of two batch sizes or more)"
        ))
    })?;
    Ok((fitted, rows.len()))
}
