//! Writing what runs produced: the summary table, JSON, CSV and the manifest.
//! Writers are pure functions of results into any `impl Write`.

pub mod compare;
pub mod manifest;
pub mod output_dir;
pub mod points_csv;
pub mod replicated;
pub mod run_outputs;
pub mod table;
pub mod timeseries_csv;

use std::io::{self, Write};

use crate::model::summary::Summary;

/// The summary as one pretty-printed JSON object, newline-terminated.
pub fn write_summary_json(mut w: impl Write, summary: &Summary) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut w, summary)?;
    writeln!(w)
}
