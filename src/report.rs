//! Writing what runs produced: the summary table, CSV and the manifest (as
//! JSON through [`crate::json`]). Writers are pure functions of results into
//! any `impl Write`.

pub mod compare;
pub mod manifest;
pub mod points_csv;
pub mod replicated;
pub mod run_outputs;
pub mod table;
pub mod timeseries_csv;
pub mod verdict;
