//! What a run measures and reports: metrics as it runs, the time series,
//! windows of time, the recovery verdict after faults, each model's share,
//! and the summary.

pub mod bill;
pub mod by_model;
pub mod catalogue;
pub mod metrics;
pub mod percentiles;
pub mod pool_summary;
pub mod recovery;
pub mod summary;
pub mod timeseries;
pub mod window;
