//! `loopcap plot`: a sweep's figures redrawn, or a run's time series drawn.

use std::io::{self, Write};

use super::outputs::draw_into;
use super::warn;
use crate::cli::PlotArgs;
use crate::command::error::Error;
use crate::export;
use crate::output::marker;
use crate::plot::{self, sweep_figures, timeseries_plot::TimeseriesPlot};
use crate::sweep_dir;

pub fn plot(args: &PlotArgs) -> Result<(), Error> {
    let input = &args.input;
    if input.is_dir() {
        let (exp, rows) = sweep_dir::read(input)?;
        let points = export::points(&exp, &rows)?;
        let (out, drawn) = draw_into(args.out.as_deref().unwrap_or(input), |out| {
            Ok(sweep_figures::draw_all(&exp, &points, input, out)?)
        })?;
        warn(drawn);
        writeln!(
            io::stdout().lock(),
            "{}: drew {} plots",
            out.display(),
            exp.plots.len()
        )?;
        return Ok(());
    }
    let Some(out) = &args.out else {
        return Err(Error::input(
            "--out DIR: where to draw a timeseries.csv's figure",
        ));
    };
    if let Some(dir) = input.parent().filter(|d| !d.as_os_str().is_empty()) {
        marker::verify(dir)?;
    }
    let figure = TimeseriesPlot::read(input)?;
    let (out, ()) = draw_into(out, |out| Ok(plot::save(&figure, out, "timeseries")?))?;
    writeln!(
        io::stdout().lock(),
        "wrote {}",
        out.join("timeseries.png").display()
    )?;
    Ok(())
}
