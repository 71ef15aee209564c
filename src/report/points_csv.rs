//! `points.csv`: one row per grid point, each metric's mean and 95% CI half-width.

use std::io::{self, Write};

use crate::config::experiment::Experiment;
use crate::csv_row::{cell, csv_line};
use crate::sweep_dir::point_stats::PointStats;

/// Columns: point, each axis, replications, then per metric `<metric>` (the
/// mean over replications) and `<metric>.ci95` (the half-width of its 95%
/// Student-t confidence interval; empty with a single replication).
pub fn write(mut w: impl Write, exp: &Experiment, points: &[PointStats]) -> io::Result<()> {
    let mut header = vec!["point".to_owned()];
    header.extend(exp.axes.iter().map(|a| a.path.clone()));
    header.push("replications".to_owned());
    for m in &exp.metric_names {
        header.push(m.clone());
        header.push(format!("{m}.ci95"));
    }
    writeln!(w, "{}", csv_line(&header))?;
    for p in points {
        let mut row = vec![p.point.to_string()];
        row.extend(exp.point_labels(p.point));
        row.push(p.replications.to_string());
        for (mean, half) in p.mean.iter().zip(&p.ci95) {
            row.push(cell(*mean));
            row.push(cell(*half));
        }
        writeln!(w, "{}", csv_line(&row))?;
    }
    Ok(())
}
