//! Lines with optional confidence bands, on linear or log axes.

use plotters::chart::SeriesAnno;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::{FONT, Figure, Scale, color, format_number, no_data, titled};

use crate::engine::SimDuration;
use crate::error::DrawError;
use crate::model::workload::classes::week_time;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    None,
    Circle,
    Triangle,
    Cross,
}

/// How a line is stroked: p50, p95 and p99 of one series differ by dash
/// (and shade), so they read apart in grey print and without the markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
    /// No stroke: the markers alone (which probes meet an SLO).
    None,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    /// Not finite (NaN) where nothing was measured: the line breaks there
    /// rather than joining its neighbours across the gap.
    pub y: f64,
    /// A band around the point, e.g. its 95% confidence interval.
    pub band: Option<(f64, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub color: usize,
    pub marker: Marker,
    pub dash: Dash,
    /// How much of the colour to use, towards white: 1 is the full colour.
    pub shade: f64,
    pub points: Vec<Point>,
}

impl Line {
    /// A solid line in full colour, without markers.
    pub fn new(label: String, color: usize, points: Vec<Point>) -> Line {
        Line {
            label,
            color,
            marker: Marker::None,
            dash: Dash::Solid,
            shade: 1.0,
            points,
        }
    }

    pub fn marked(self, marker: Marker) -> Line {
        Line { marker, ..self }
    }

    pub fn styled(self, dash: Dash, shade: f64) -> Line {
        Line {
            dash,
            shade,
            ..self
        }
    }

    fn rgb(&self) -> RGBColor {
        let RGBColor(r, g, b) = color(self.color);
        let towards_white =
            |c: u8| (f64::from(c) * self.shade + 255.0 * (1.0 - self.shade)).round() as u8;
        RGBColor(towards_white(r), towards_white(g), towards_white(b))
    }
}

/// A stretch of the x axis shaded behind the lines: the warm-up, a surge, a fault.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub from: f64,
    pub to: f64,
    /// The legend entry; spans with the same label share one.
    pub label: String,
    pub color: RGBColor,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    /// How the y axis writes its numbers.
    pub y_scale: Scale,
    pub log_x: bool,
    pub log_y: bool,
    pub lines: Vec<Line>,
    pub spans: Vec<Span>,
    /// An x axis of minutes from this many seconds into the week (from
    /// Monday 00:00): its ticks fall on whole clock hours and read as
    /// clock times ("Tue 15:00"). None: the numbers themselves.
    pub x_clock: Option<f64>,
    /// The x axis's extent, where panels stacked on one time line must share
    /// it; none: the lines' own.
    pub x_range: Option<(f64, f64)>,
}

/// A linear axis whose ticks are given.
struct Ticked {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        plotters::coord::types::RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Tick positions (minutes from the start of an x axis whose 0 is
/// `start_s` into the week) on the whole clock steps of the smallest of
/// 15 minutes, 30 minutes, 1, 3, 6 or 12 hours or a day that gives at
/// most 10 ticks over `x0..x1`.
fn clock_ticks(start_s: f64, (x0, x1): (f64, f64)) -> Vec<f64> {
    let start_min = start_s / 60.0;
    let step = [15.0, 30.0, 60.0, 180.0, 360.0, 720.0, 1440.0]
        .into_iter()
        .find(|step| (x1 - x0) / step < 10.0)
        .unwrap_or(1440.0 * ((x1 - x0) / 14400.0).ceil());
    let first = ((start_min + x0) / step).ceil() * step - start_min;
    (0..)
        .map(|i| first + i as f64 * step)
        .take_while(|&x| x <= x1)
        .collect()
}

/// The range of `values`, padded; on a log axis only positive values count.
fn range(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && (!log || *v > 0.0))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    Some(if log {
        // Plotters labels a log axis from its first power of ten: start there.
        (10f64.powf((lo / 1.05).log10().floor()), hi * 1.4)
    } else {
        let lo = if from_zero { lo.min(0.0) } else { lo };
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            hi.abs().max(1.0) * 0.1
        };
        (if from_zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
    })
}

/// Points beyond which a line is dense: drawn one pixel wide.
const DENSE: usize = 200;

impl LineChart {
    /// Draws into `area` (a whole figure, or one panel of one).
    pub fn draw_in<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawError> {
        let points = || self.lines.iter().flat_map(|l| l.points.iter());
        let x = self
            .x_range
            .or_else(|| range(points().map(|p| p.x), self.log_x, false));
        let y = range(
            points().flat_map(|p| {
                [
                    p.y,
                    p.band.map_or(p.y, |b| b.0),
                    p.band.map_or(p.y, |b| b.1),
                ]
            }),
            self.log_y,
            true,
        );
        let (Some((x0, x1)), Some((y0, y1))) = (x, y) else {
            return no_data(area, &self.title);
        };
        let legend = self.emptiest_corner((x0, x1), (y0, y1));
        let ys = (y0, y1);
        match (self.log_x, self.log_y) {
            (false, false) => match self.x_clock {
                Some(start) => {
                    let ticks = clock_ticks(start, (x0, x1));
                    let x = Ticked {
                        range: x0..x1,
                        ticks,
                    };
                    self.plot(area, x, y0..y1, ys, legend)
                }
                None => self.plot(area, x0..x1, y0..y1, ys, legend),
            },
            (true, false) => self.plot(area, (x0..x1).log_scale(), y0..y1, ys, legend),
            (false, true) => self.plot(area, x0..x1, (y0..y1).log_scale(), ys, legend),
            (true, true) => self.plot(area, (x0..x1).log_scale(), (y0..y1).log_scale(), ys, legend),
        }
    }

    /// The corner of the plot with the fewest points, for the legend.
    fn emptiest_corner(&self, x: (f64, f64), y: (f64, f64)) -> SeriesLabelPosition {
        let at = |v: f64, (lo, hi): (f64, f64), log: bool| {
            if log {
                (v.max(f64::MIN_POSITIVE).ln() - lo.ln()) / (hi.ln() - lo.ln())
            } else {
                (v - lo) / (hi - lo)
            }
        };
        let points: Vec<(f64, f64)> = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter())
            .map(|p| (at(p.x, x, self.log_x), at(p.y, y, self.log_y)))
            .collect();
        // A legend covers about 40% of the width and 35% of the height.
        let crowd = |left: bool, top: bool| {
            points
                .iter()
                .filter(|(px, py)| {
                    (if left { *px < 0.4 } else { *px > 0.6 })
                        && (if top { *py > 0.65 } else { *py < 0.35 })
                })
                .count()
        };
        [
            (SeriesLabelPosition::UpperLeft, crowd(true, true)),
            (SeriesLabelPosition::UpperRight, crowd(false, true)),
            (SeriesLabelPosition::LowerRight, crowd(false, false)),
            (SeriesLabelPosition::LowerLeft, crowd(true, false)),
        ]
        .into_iter()
        .min_by_key(|(_, n)| *n)
        .map_or(SeriesLabelPosition::UpperLeft, |(corner, _)| corner)
    }

    fn plot<DB, X, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        x: X,
        y: Y,
        (y0, y1): (f64, f64),
        legend: SeriesLabelPosition,
    ) -> Result<(), DrawError>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        let area = titled(area, &self.title, &self.subtitle)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(78)
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_labels(12)
            .y_labels(12)
            .x_label_formatter(&|v| match self.x_clock {
                Some(start) => week_time(SimDuration::from_secs_f64(start + v * 60.0)),
                None => format_number(*v),
            })
            .y_label_formatter(&|v| self.y_scale.format(*v))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(205, 205, 205))
            .draw()
            .map_err(e)?;
        self.draw_spans(&mut chart, (y0, y1))?;
        for line in &self.lines {
            self.draw_band(&mut chart, line)?;
            self.draw_line(&mut chart, line)?;
        }
        if self.lines.iter().any(|l| !l.label.is_empty()) {
            super::legend(&mut chart, legend)?;
        }
        Ok(())
    }

    /// The shaded spans behind the lines, each label once in the legend.
    fn draw_spans<
        'a,
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    >(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
        (y0, y1): (f64, f64),
    ) -> Result<(), DrawError> {
        let mut labelled: Vec<&str> = Vec::new();
        for span in &self.spans {
            let fill = span.color.mix(0.13).filled();
            let drawn = chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(span.from, y0), (span.to, y1)],
                    fill,
                )))
                .map_err(DrawError::of)?;
            if !labelled.contains(&span.label.as_str()) {
                labelled.push(&span.label);
                let c = span.color;
                drawn.label(&span.label).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 22, y + 6)], c.mix(0.3).filled())
                });
            }
        }
        Ok(())
    }

    /// Whether `p` can be drawn on the axes (a log axis has no place for 0 or less).
    fn visible(&self, p: &Point) -> bool {
        (!self.log_x || p.x > 0.0) && (!self.log_y || p.y > 0.0)
    }

    /// The runs of `line`'s visible points between its gaps.
    fn runs<'l>(&self, line: &'l Line) -> Vec<Vec<&'l Point>> {
        line.points
            .split(|p| !p.y.is_finite())
            .map(|run| run.iter().filter(|p| self.visible(p)).collect::<Vec<_>>())
            .filter(|run| !run.is_empty())
            .collect()
    }

    /// The line's confidence band, shaded, where its points have one.
    fn draw_band<
        'a,
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    >(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
        line: &Line,
    ) -> Result<(), DrawError> {
        // One polygon over each run of points between gaps.
        for run in self.runs(line) {
            let band: Vec<(f64, f64, f64)> = run
                .iter()
                .filter_map(|p| p.band.map(|(lo, hi)| (p.x, lo, hi)))
                .filter(|(_, lo, _)| !self.log_y || *lo > 0.0)
                .collect();
            if band.len() < 2 {
                continue;
            }
            let outline: Vec<(f64, f64)> = band
                .iter()
                .map(|&(x, _, hi)| (x, hi))
                .chain(band.iter().rev().map(|&(x, lo, _)| (x, lo)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    line.rgb().mix(0.18).filled(),
                )))
                .map_err(DrawError::of)?;
        }
        Ok(())
    }

    /// The line in its dash, its markers, and its legend entry showing both.
    fn draw_line<
        'a,
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    >(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
        line: &Line,
    ) -> Result<(), DrawError> {
        let e = DrawError::of;
        let c = line.rgb();
        let runs: Vec<Vec<(f64, f64)>> = self
            .runs(line)
            .into_iter()
            .map(|run| run.into_iter().map(|p| (p.x, p.y)).collect())
            .collect();
        let xy: Vec<(f64, f64)> = runs.concat();
        // A wide polyline's joins are mitred: on a dense, spiky series a
        // sharp turn draws a spike far past its point, below the axis. Dense
        // lines are drawn one pixel wide, which has no joins.
        let width = if xy.len() > DENSE { 1 } else { 2 };
        let style = c.stroke_width(width);
        // Every run after the first unlabelled; the first (or an empty one),
        // drawn last, carries the legend entry.
        for run in runs.iter().skip(1) {
            draw_run(chart, line.dash, run, style)?;
        }
        // A run of one point (a value between two gaps) draws no stroke: a dot.
        let alone = runs
            .iter()
            .filter(|run| run.len() == 1 && line.dash != Dash::None);
        chart
            .draw_series(alone.map(|run| Circle::new(run[0], width + 1, c.filled())))
            .map_err(e)?;
        let first = runs.first().map_or(&[][..], Vec::as_slice);
        let anno = draw_run(chart, line.dash, first, style)?.label(&line.label);
        // Legend entries are drawn relative to their anchor point, dashed as their line.
        // Four strokes of the line's dash (a solid line's meet).
        let dashes: [(i32, i32); 4] = match line.dash {
            Dash::Solid => [(0, 6), (6, 12), (12, 18), (18, 22)],
            Dash::Dashed => [(0, 8), (14, 22), (14, 22), (14, 22)],
            Dash::Dotted => [(0, 3), (6, 9), (12, 15), (18, 21)],
            Dash::None => [(0, 0); 4],
        };
        let stroke = move |at: (i32, i32)| {
            let dash =
                |(a, b): (i32, i32)| PathElement::new(vec![(a, 0), (b, 0)], c.stroke_width(3));
            EmptyElement::at(at)
                + dash(dashes[0])
                + dash(dashes[1])
                + dash(dashes[2])
                + dash(dashes[3])
        };
        // The legend shows the line, its dash and its marker, which tell p50/p95/p99 apart.
        match line.marker {
            Marker::None => {
                anno.legend(stroke);
            }
            Marker::Circle => {
                anno.legend(move |at| stroke(at) + Circle::new((11, 0), 4, c.filled()));
                chart
                    .draw_series(xy.iter().map(|&p| Circle::new(p, 4, c.filled())))
                    .map_err(e)?;
            }
            Marker::Triangle => {
                anno.legend(move |at| stroke(at) + TriangleMarker::new((11, 0), 5, c.filled()));
                chart
                    .draw_series(xy.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))
                    .map_err(e)?;
            }
            Marker::Cross => {
                anno.legend(move |at| stroke(at) + Cross::new((11, 0), 4, c.stroke_width(2)));
                chart
                    .draw_series(xy.iter().map(|&p| Cross::new(p, 4, c.stroke_width(2))))
                    .map_err(e)?;
            }
        }
        Ok(())
    }
}

/// One run of a line's points, in its dash.
fn draw_run<
    'c,
    'a,
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
>(
    chart: &'c mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    dash: Dash,
    run: &[(f64, f64)],
    style: ShapeStyle,
) -> Result<&'c mut SeriesAnno<'a, DB>, DrawError> {
    let points = run.iter().copied();
    match dash {
        Dash::Solid => chart.draw_series(LineSeries::new(points, style)),
        Dash::Dashed => chart.draw_series(DashedLineSeries::new(points, 10, 6, style)),
        Dash::Dotted => chart.draw_series(DashedLineSeries::new(points, 2, 4, style)),
        Dash::None => chart.draw_series(std::iter::empty::<PathElement<(f64, f64)>>()),
    }
    .map_err(DrawError::of)
}

impl Figure for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        root.fill(&WHITE).map_err(DrawError::of)?;
        self.draw_in(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_pad_and_respect_log_axes() {
        assert_eq!(
            range([2.0, 4.0].into_iter(), false, false),
            Some((1.9, 4.1))
        );
        assert_eq!(range([2.0, 4.0].into_iter(), false, true), Some((0.0, 4.2)));
        let (lo, hi) = range([0.0, 150.0, 1000.0].into_iter(), true, true).unwrap();
        assert!((lo - 100.0).abs() < 1e-9 && (hi - 1400.0).abs() < 1e-9);
        assert_eq!(range([f64::NAN].into_iter(), false, false), None);
    }

    /// Ticks fall on whole clock steps: ten hours from Monday 08:00 get
    /// 09:00, 12:00, 15:00 and 18:00 (hourly would be eleven); a week from
    /// Monday 00:00 gets each midnight; a week from Tuesday 15:00 starts
    /// at Wednesday 00:00, 540 minutes in.
    #[test]
    fn clock_ticks_fall_on_whole_clock_steps() {
        assert_eq!(
            clock_ticks(8.0 * 3600.0, (0.0, 600.0)),
            vec![60.0, 240.0, 420.0, 600.0]
        );
        let week = clock_ticks(0.0, (0.0, 7.0 * 1440.0));
        assert_eq!(week, (0..=7).map(|d| d as f64 * 1440.0).collect::<Vec<_>>());
        let from_tuesday = clock_ticks((24.0 + 15.0) * 3600.0, (0.0, 7.0 * 1440.0));
        assert_eq!(from_tuesday[0], 540.0);
        let labels: Vec<String> = from_tuesday
            .iter()
            .map(|m| {
                week_time(SimDuration::from_secs_f64(
                    (24.0 + 15.0) * 3600.0 + m * 60.0,
                ))
            })
            .collect();
        assert_eq!(labels[..2], ["Wed 00:00", "Thu 00:00"]);
    }

    /// A line with a bin that has no value breaks there: two polylines, one
    /// legend entry, the band split too; without the gap it is one of each.
    /// A lone value is drawn as a dot.
    #[test]
    fn a_line_breaks_where_nothing_was_measured() {
        let chart = |ys: [f64; 5]| LineChart {
            title: String::new(),
            subtitle: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            y_scale: Scale::Plain,
            log_x: false,
            log_y: false,
            lines: vec![Line::new(
                "p99".to_owned(),
                0,
                ys.iter()
                    .enumerate()
                    .map(|(x, &y)| Point {
                        x: x as f64,
                        y,
                        band: Some((y - 0.5, y + 0.5)),
                    })
                    .collect(),
            )],
            spans: Vec::new(),
            x_clock: None,
            x_range: None,
        };
        let count = |ys| {
            let svg = crate::plot::svg(&chart(ys)).unwrap();
            let lines = svg
                .matches(
                    "<polyline fill=\"none\" opacity=\"1\" stroke=\"#1F77B4\" stroke-width=\"2\"",
                )
                .count();
            let bands = svg.matches("<polygon").count();
            let dots = svg.matches("<circle").count();
            (lines, bands, dots, svg.matches(">\np99\n</text>").count())
        };
        assert_eq!(count([1.0, 2.0, f64::NAN, 3.0, 2.0]), (2, 2, 0, 1));
        assert_eq!(count([1.0, 2.0, 2.5, 3.0, 2.0]), (1, 1, 0, 1));
        // A value alone between gaps is a dot (its stroke would be nothing).
        assert_eq!(count([1.0, f64::NAN, 3.0, 2.0, f64::NAN]), (2, 1, 1, 1));
    }
}
