//! Plotting behind one small interface: a [`Figure`] is drawn to PNG and SVG.
//! Text uses an embedded font, so plots render on machines without fonts.

pub mod bar_chart;
pub mod heatmap;
pub mod labels;
pub mod line_chart;
pub mod sizing_figure;
pub mod sweep_figures;
pub mod timeseries_plot;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::atomic_file;
use crate::error::{BadInput, DrawError, ReadError};
use crate::model::measure::catalogue;

/// The family name every text style uses; bound to the embedded DejaVu Sans.
pub const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Figure size in pixels (PNG) and user units (SVG).
pub const SIZE: (u32, u32) = (1100, 680);

/// Tableau 10: distinct colours that stay readable for most colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The palette indices of what meets an SLO (green) and what misses it (red).
pub const MEETS: usize = 2;
pub const MISSES: usize = 3;

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Something that draws itself onto any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError>;

    /// Size in pixels (PNG) and user units (SVG).
    fn size(&self) -> (u32, u32) {
        SIZE
    }
}

pub(crate) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .unwrap_or_else(|_| panic!("the embedded font is a valid TrueType file"));
    });
}

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// What the figure is drawn from could not be read, or is malformed.
    #[error(transparent)]
    Data(#[from] ReadError),
    #[error("drawing {path}: {error}")]
    Draw { path: PathBuf, error: DrawError },
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: io::Error },
}

impl From<BadInput> for PlotError {
    fn from(e: BadInput) -> Self {
        PlotError::Data(e.into())
    }
}

/// Two figures, one above the other: a latency figure and the failed
/// share of the same points beneath it.
struct Stacked<'a, A, B> {
    top: &'a A,
    bottom: &'a B,
}

/// The height of the lower panel of a [`Stacked`] figure.
const LOWER_PANEL: u32 = 400;

impl<A: Figure, B: Figure> Figure for Stacked<'_, A, B> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let (top, bottom) = root.split_vertically(self.top.size().1);
        self.top.draw(&top)?;
        self.bottom.draw(&bottom)
    }

    fn size(&self) -> (u32, u32) {
        let (width, height) = self.top.size();
        (width, height + LOWER_PANEL)
    }
}

/// Draws `top`, with `beneath` under it as one figure when there is one (a
/// latency's failed share), like [`save`].
pub fn save_with(
    top: &impl Figure,
    beneath: Option<impl Figure>,
    dir: &Path,
    name: &str,
) -> Result<(), PlotError> {
    match beneath {
        Some(bottom) => save(
            &Stacked {
                top,
                bottom: &bottom,
            },
            dir,
            name,
        ),
        None => save(top, dir, name),
    }
}

/// Draws `figure` to `dir/name.png` and `dir/name.svg`, each atomically.
pub fn save(figure: &impl Figure, dir: &Path, name: &str) -> Result<(), PlotError> {
    register_font();
    let png = dir.join(format!("{name}.png"));
    atomic_file::write_with_path(&png, |tmp| {
        let root = BitMapBackend::new(tmp, figure.size()).into_drawing_area();
        figure.draw(&root).map_err(io::Error::other)?;
        root.present().map_err(|e| io::Error::other(e.to_string()))
    })
    .map_err(|error| PlotError::Io { path: png, error })?;
    let svg_path = dir.join(format!("{name}.svg"));
    let svg = svg(figure).map_err(|error| PlotError::Draw {
        path: svg_path.clone(),
        error,
    })?;
    atomic_file::write_file(&svg_path, |w| w.write_all(svg.as_bytes())).map_err(|error| {
        PlotError::Io {
            path: svg_path,
            error,
        }
    })
}

/// `figure` as the text of one SVG document.
pub fn svg(figure: &impl Figure) -> Result<String, DrawError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        figure.draw(&root)?;
        root.present().map_err(DrawError::of)?;
    }
    Ok(svg)
}

/// A compact tick label: 3 significant digits, k/M suffixes for large values.
pub fn format_number(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if scaled == 0.0 {
        0
    } else {
        (2 - scaled.abs().log10().floor() as i32).clamp(0, 4) as usize
    };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// How a value axis writes its numbers: as they are, or a share (a
/// fraction of a whole) as a percentage, so a 1% bound reads "1%".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    Plain,
    Percent,
}

impl Scale {
    /// How `metric`'s values are written: a percentage for a share.
    pub fn of(metric: &str) -> Scale {
        match catalogue::is_share(metric) {
            true => Scale::Percent,
            false => Scale::Plain,
        }
    }

    /// `v` as a tick or cell label.
    pub fn format(self, v: f64) -> String {
        match self {
            Scale::Plain => format_number(v),
            Scale::Percent => format!("{}%", format_number(v * 100.0)),
        }
    }
}

/// The tick label of a category axis, whose categories sit at 0, 1, 2, …:
/// the category's name at its position, nothing between categories.
fn category_label(categories: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 {
        categories.get(i as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// `text` in lines that each `fit`, broken between words; a word too long
/// for a line of its own is broken between characters.
fn wrap(text: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        if let Some(line) = lines.last_mut() {
            let longer = format!("{line} {word}");
            if fits(&longer) {
                *line = longer;
                continue;
            }
        }
        let mut piece = String::new();
        for c in word.chars() {
            piece.push(c);
            if !fits(&piece) && piece.chars().count() > 1 {
                piece.pop();
                lines.push(std::mem::take(&mut piece));
                piece.push(c);
            }
        }
        lines.push(piece);
    }
    lines
}

/// A chart's margin and the width of its y labels' area, in pixels.
const MARGIN: u32 = 12;
const Y_LABEL_AREA: u32 = 78;
/// The size of a category's label and its line height, in pixels.
const LABEL_SIZE: u32 = 13;
const LINE_HEIGHT: u32 = 16;

/// The names of an x axis whose categories sit at 0, 1, 2, …, each in
/// lines that fit its slot, so no two overlap however long they are or
/// however many there are.
struct CategoryAxis {
    lines: Vec<Vec<String>>,
}

impl CategoryAxis {
    /// `categories` fitted under a chart built on `area` (with [`MARGIN`]
    /// and [`Y_LABEL_AREA`]).
    fn fit<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, categories: &[String]) -> Self {
        let style = TextStyle::from((FONT, LABEL_SIZE).into_font());
        let (width, _) = area.dim_in_pixel();
        let plot = f64::from(width.saturating_sub(Y_LABEL_AREA + 2 * MARGIN));
        // A category's slot, less a gap between neighbours.
        let slot = plot / categories.len().max(1) as f64 - 8.0;
        let fits = |line: &str| {
            area.estimate_text_size(line, &style)
                .is_ok_and(|(w, _)| f64::from(w) <= slot)
        };
        CategoryAxis {
            lines: categories.iter().map(|c| wrap(c, fits)).collect(),
        }
    }

    /// The height of the x labels' area: the longest name's lines and the
    /// axis's description.
    fn label_area(&self) -> u32 {
        let rows = self.lines.iter().map(Vec::len).max().unwrap_or(1);
        LINE_HEIGHT * rows as u32 + 36
    }

    /// Draws each name's lines centred under its category, from `y` (the
    /// bottom of the y axis) down.
    fn draw<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        y: f64,
    ) -> Result<(), DrawError> {
        let below = (FONT, LABEL_SIZE)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        let texts = self.lines.iter().enumerate().flat_map(|(i, lines)| {
            let below = &below;
            lines.iter().enumerate().map(move |(k, line)| {
                let down = 10 + LINE_HEIGHT as i32 * k as i32;
                EmptyElement::at((i as f64, y)) + Text::new(line.clone(), (0, down), below.clone())
            })
        });
        chart.draw_series(texts).map_err(DrawError::of)?;
        Ok(())
    }
}

/// Draws `title` (and `subtitle`, if any) above the rest of `area`, which it returns.
fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, DrawError> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
    let area = area.titled(title, (FONT, 22)).map_err(e)?;
    if subtitle.is_empty() {
        return Ok(area);
    }
    area.titled(
        subtitle,
        (FONT, 13).into_font().color(&RGBColor(90, 90, 90)),
    )
    .map_err(e)
}

/// Draws the chart's legend, in the house style, at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FONT, 13))
        .draw()
        .map_err(DrawError::of)
}

/// Draws a centred note on an area that has nothing to plot.
fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<(), DrawError> {
    let (w, h) = area.dim_in_pixel();
    let style =
        TextStyle::from((FONT, 20).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    area.draw_text(
        &format!("{title}: no data"),
        &style,
        (w as i32 / 2, h as i32 / 2),
    )
    .map_err(DrawError::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(1234.0), "1234");
        assert_eq!(format_number(12_345.0), "12.3k");
        assert_eq!(format_number(2_500_000.0), "2.5M");
        assert_eq!(format_number(0.012_34), "0.0123");
        assert_eq!(format_number(3.0), "3");
    }

    #[test]
    fn labels_wrap_between_words_and_break_words_too_long_for_a_line() {
        let within = |n: usize| move |line: &str| line.chars().count() <= n;
        assert_eq!(
            wrap(
                "p99 loop latency (s), window surge-developers-1",
                within(20)
            ),
            ["p99 loop latency", "(s), window", "surge-developers-1"]
        );
        assert_eq!(wrap("lane utilization", within(20)), ["lane utilization"]);
        assert!(wrap("", within(20)).is_empty());
        assert_eq!(
            wrap("Tier 4 spillover-to-reserved", within(8)),
            ["Tier 4", "spillove", "r-to-res", "erved"]
        );
        // Nothing fits: a character a line, never an empty one.
        assert_eq!(wrap("ab c", within(0)), ["a", "b", "c"]);
    }

    #[test]
    fn shares_read_as_percentages_and_other_metrics_as_numbers() {
        assert_eq!(Scale::of("loops_failed_share"), Scale::Percent);
        assert_eq!(
            Scale::of("windows.surge.loops_failed_share"),
            Scale::Percent
        );
        assert_eq!(Scale::of("loop_latency_s.p99"), Scale::Plain);
        assert_eq!(Scale::of("no_such_metric"), Scale::Plain);
        assert_eq!(Scale::Percent.format(0.07), "7%");
        assert_eq!(Scale::Percent.format(0.000_381_9), "0.0382%");
        assert_eq!(Scale::Plain.format(0.07), "0.07");
    }
}
