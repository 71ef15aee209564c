//! `timeseries.csv`: one row per bin of simulated time.

use std::io::{self, Write};

use crate::model::timeseries::{Counter, Gauge, Timeseries};

/// Columns: bin start (s), bin length (s), each counter, then each gauge's
/// time average over the bin and its maximum (`<gauge>_max`).
pub fn write_timeseries_csv(w: impl Write, timeseries: &Timeseries) -> io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    let mut header = vec!["time_s".to_owned(), "bin_s".to_owned()];
    header.extend(Counter::ALL.iter().map(|c| c.name().to_owned()));
    for gauge in Gauge::ALL {
        header.push(gauge.name().to_owned());
        header.push(format!("{}_max", gauge.name()));
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
        csv.write_record(&row)?;
    }
    csv.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{SimDuration, SimTime};

    #[test]
    fn writes_a_header_and_one_row_per_bin() {
        let mut ts = Timeseries::new(SimDuration::from_secs(10));
        ts.count(SimTime::ZERO, Counter::Attempts);
        ts.observe(SimTime::ZERO, [2, 0, 1, 3]);
        ts.finish(SimTime::ZERO + SimDuration::from_secs(15));
        let mut out = Vec::new();
        write_timeseries_csv(&mut out, &ts).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "time_s,bin_s,arrivals,loops_completed,loops_failed,attempts,retries,rate_limited,overloaded,timeouts,queue_rejected,errors,rejected_locally,in_flight,in_flight_max,queued,queued_max,backing_off,backing_off_max,loops_in_flight,loops_in_flight_max"
        );
        assert_eq!(
            lines[1],
            "0,10,0,0,0,1,0,0,0,0,0,0,0,2.0000,2,0.0000,0,1.0000,1,3.0000,3"
        );
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("10,5,"));
    }
}
