//! The text of the table as it is written, and the metrics it names.

use std::fmt::{Display, Write as _};

use crate::model::measure::catalogue::Scope;

/// The text being written, and the metrics it has named.
pub(super) struct Table {
    pub(super) out: String,
    /// Each metric named, by scope: its catalogue name, or the column
    /// itself when the catalogue does not know it.
    pub(super) named: Vec<(Scope, String)>,
}

impl Table {
    /// Notes `column` (a metric's name, with its statistic if any) of `scope` as shown.
    pub(super) fn note(&mut self, scope: Scope, column: &str) {
        let name = scope.find(column).map_or(column, |(m, _)| m.name);
        self.named.push((scope, name.to_owned()));
    }

    /// The catalogue's short words for `column` of `scope`: "p99 s", "429s".
    pub(super) fn words(&mut self, scope: Scope, column: &str) -> String {
        self.note(scope, column);
        scope.short_label(column)
    }

    /// The catalogue's words in full for metric `name`: "loop latency".
    pub(super) fn label(&mut self, scope: Scope, name: &str) -> String {
        self.note(scope, name);
        scope
            .find(name)
            .map_or_else(|| name.to_owned(), |(m, _)| m.label.to_owned())
    }

    /// `words value, words value, ...` for `(column, value)` pairs of `scope`.
    pub(super) fn pairs(&mut self, scope: Scope, pairs: &[(&str, String)]) -> String {
        pairs
            .iter()
            .map(|(column, value)| format!("{} {value}", self.words(scope, column)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn heading(&mut self, text: &str) {
        let _ = writeln!(self.out, "\n{text}");
    }

    pub(super) fn line(&mut self, label: &str, value: impl Display) {
        let _ = writeln!(self.out, "  {label:<24}{value}");
    }

    /// A line for run metric `name`.
    pub(super) fn run_line(&mut self, name: &str, value: impl Display) {
        let label = self.words(Scope::Run, name);
        self.line(&label, value);
    }

    /// Rows under a header, the first `left` columns aligned left and the
    /// rest right, two spaces before each column as wide as its widest cell.
    pub(super) fn grid(&mut self, left: usize, header: Vec<String>, rows: Vec<Vec<String>>) {
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                std::iter::once(&header)
                    .chain(&rows)
                    .map(|row| row[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(&rows) {
            let mut text = String::new();
            for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if c < left {
                    let _ = write!(text, "  {cell:<width$}");
                } else {
                    let _ = write!(text, "  {cell:>width$}");
                }
            }
            let _ = writeln!(self.out, "{}", text.trim_end());
        }
    }
}

pub(super) fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

/// A share as a percentage, to a tenth.
pub(super) fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

pub(super) fn usd(x: f64) -> String {
    format!("{x:.2}")
}

/// A table's header: `first`, then the catalogue's words for each of `columns` of `scope`.
pub(super) fn header(t: &mut Table, first: &str, scope: Scope, columns: &[&str]) -> Vec<String> {
    std::iter::once(first.to_owned())
        .chain(columns.iter().map(|c| t.words(scope, c)))
        .collect()
}
