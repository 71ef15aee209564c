//! `timeseries.csv`: one row per bin of simulated time, written from a run's
//! [`Timeseries`] and read back by figures.

use std::io::{self, Write};
use std::path::Path;

use crate::engine::{SimDuration, SimTime};
use crate::model::measure::timeseries::{Counter, Gauge, LOOP_LATENCY, Timeseries};
use crate::model::workload::classes::week_time;

use crate::error::{BadInput, ReadError};

/// Columns: bin start (s), bin length (s), each counter, each gauge's
/// time average over the bin and its maximum (`<gauge>_max`), the p50 and
/// p99 latency of the loops completed in the bin (empty if none), then for
/// models with pools, per pool: `pools.<name>.attempts`, `.refused` and
/// `.in_flight` (time-averaged), and for self-hosted pools `.replicas`
/// (time-averaged replicas alive) and `.kv_cache_utilization` (KV-cache
/// tokens held over those warm replicas offer, time-averaged; empty while
/// none is warm); last, for a model with a clock, each
/// bin's start as a clock time (`clock`, "Tue 15:05").
pub fn write_timeseries_csv(w: impl Write, timeseries: &Timeseries) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    let mut header = vec![TIME_S.to_owned(), BIN_S.to_owned()];
    header.extend(Counter::ALL.iter().map(|c| c.name().to_owned()));
    for gauge in Gauge::ALL {
        header.push(gauge.name().to_owned());
        header.push(format!("{}_max", gauge.name()));
    }
    header.extend(LOOP_LATENCY.map(String::from));
    for (pool, hosted) in timeseries.pool_names() {
        for column in ["attempts", "refused", "in_flight"] {
            header.push(format!("pools.{pool}.{column}"));
        }
        if hosted {
            header.push(format!("pools.{pool}.replicas"));
            header.push(format!("pools.{pool}.kv_cache_utilization"));
        }
    }
    let clock = timeseries.clock();
    if clock.is_some() {
        header.push(CLOCK.to_owned());
    }
    csv.write_record(&header)?;
    for bin in timeseries.bins() {
        let mut row = vec![
            bin.start.as_secs_f64().to_string(),
            bin.length.as_secs_f64().to_string(),
        ];
        row.extend(bin.counts.iter().map(u64::to_string));
        for (mean, max) in bin.mean.iter().zip(bin.max) {
            row.push(format!("{mean:.4}"));
            row.push(max.to_string());
        }
        let seconds = |ticks: u64| SimDuration::from_ticks(ticks).as_secs_f64().to_string();
        match bin.loop_latency {
            Some((p50, p99)) => row.extend([seconds(p50), seconds(p99)]),
            None => row.extend([String::new(), String::new()]),
        }
        for pool in &bin.pools {
            row.push(pool.attempts.to_string());
            row.push(pool.refused.to_string());
            row.push(format!("{:.4}", pool.in_flight));
            if let Some(replicas) = pool.replicas {
                row.push(format!("{replicas:.4}"));
                row.push(
                    pool.kv_cache_utilization
                        .map_or_else(String::new, |u| format!("{u:.4}")),
                );
            }
        }
        if let Some(start) = clock {
            row.push(week_time(start + bin.start.since(SimTime::ZERO)));
        }
        csv.write_record(&row)?;
    }
    csv.flush()
}

/// The column of each bin's start, in seconds.
pub const TIME_S: &str = "time_s";
/// The column of each bin's start as a clock time, for a model with a clock.
pub const CLOCK: &str = "clock";
/// The column of each bin's length, in seconds.
pub const BIN_S: &str = "bin_s";

/// A timeseries.csv read back: its columns by name.
pub struct TimeseriesTable {
    /// Where it was read from, for messages.
    shown: String,
    header: Vec<String>,
    rows: Vec<csv::StringRecord>,
}

impl TimeseriesTable {
    pub fn read(path: &Path) -> Result<TimeseriesTable, ReadError> {
        let shown = path.display().to_string();
        let mut reader = csv::Reader::from_path(path).map_err(ReadError::csv(path))?;
        let header = reader
            .headers()
            .map_err(ReadError::csv(path))?
            .iter()
            .map(str::to_owned)
            .collect();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReadError::csv(path))?;
        if rows.is_empty() {
            return Err(ReadError::bad(format!("{shown} has no rows")));
        }
        Ok(TimeseriesTable {
            shown,
            header,
            rows,
        })
    }

    /// The names of the columns, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The column called `name`, whose empty cells are bins it says nothing
    /// of (a latency where no loop completed): `None` there.
    pub fn sparse_column(&self, name: &str) -> Result<Vec<Option<f64>>, BadInput> {
        let shown = &self.shown;
        let i = self.header.iter().position(|h| h == name).ok_or_else(|| {
            BadInput(format!(
                "{shown}: no column `{name}`: is this a loopcap timeseries.csv?"
            ))
        })?;
        self.rows
            .iter()
            .enumerate()
            .map(|(n, r)| match r.get(i) {
                None | Some("") => Ok(None),
                Some(cell) => cell.parse().map(Some).map_err(|_| {
                    BadInput(format!("{shown}: row {}: `{name}` is not a number", n + 2))
                }),
            })
            .collect()
    }

    /// The column called `name`, as numbers.
    pub fn column(&self, name: &str) -> Result<Vec<f64>, BadInput> {
        self.sparse_column(name)?
            .into_iter()
            .enumerate()
            .map(|(n, v)| {
                v.ok_or_else(|| {
                    BadInput(format!(
                        "{}: row {}: `{name}` is not a number",
                        self.shown,
                        n + 2
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimTime;

    #[test]
    fn writes_a_header_and_one_row_per_bin() {
        let mut ts = Timeseries::new(SimDuration::from_secs(10));
        ts.count(SimTime::ZERO, Counter::Attempts);
        ts.observe(SimTime::ZERO, [2, 0, 1, 3]);
        ts.loop_completed(SimTime::ZERO + SimDuration::from_secs(12), 2_500_000);
        ts.finish(SimTime::ZERO + SimDuration::from_secs(15));
        let mut out = Vec::new();
        write_timeseries_csv(&mut out, &ts).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "time_s,bin_s,arrivals,loops_completed,loops_failed,attempts,retries,rate_limited,overloaded,timeouts,queue_rejected,errors,rejected_locally,in_flight,in_flight_max,queued,queued_max,backing_off,backing_off_max,loops_in_flight,loops_in_flight_max,loop_latency_p50_s,loop_latency_p99_s"
        );
        assert_eq!(
            lines[1],
            "0,10,0,0,0,1,0,0,0,0,0,0,0,2.0000,2,0.0000,0,1.0000,1,3.0000,3,,"
        );
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("10,5,0,1,"));
        assert!(lines[2].ends_with(",2.5,2.5"), "{}", lines[2]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeseries.csv");
        std::fs::write(&path, &text).unwrap();
        let table = TimeseriesTable::read(&path).unwrap();
        assert_eq!(table.column(BIN_S).unwrap(), [10.0, 5.0]);
        assert_eq!(table.column(Gauge::LoopsInFlight.name()).unwrap()[0], 3.0);
        assert!(
            table
                .column("nope")
                .unwrap_err()
                .to_string()
                .contains("no column `nope`")
        );
    }
}
