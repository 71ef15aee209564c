//! A metric over two axes, coloured, with the contour where it crosses an SLO.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    CategoryAxis, FONT, Figure, MARGIN, Scale, Y_LABEL_AREA, category_label, no_data, titled, wrap,
};

use crate::error::DrawError;

#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    pub x_values: Vec<String>,
    pub y_values: Vec<String>,
    /// `z[row][column]`: row per y value, column per x value.
    pub z: Vec<Vec<Option<f64>>>,
    pub z_label: String,
    /// How the cells and the colour scale write the values.
    pub z_scale: Scale,
    /// Cells above it are outlined from those at or below it.
    pub slo: Option<f64>,
}

/// The colour bar's column, in pixels, and the characters of its label that
/// fit on one line of it at 12 px.
const LEGEND_WIDTH: u32 = 150;
const LABEL_CHARS: usize = 20;

/// Viridis (plotters' colormap; perceptually ordered, readable in grey and
/// for most colour-blind readers) at `t`, clamped to [0, 1].
fn viridis(t: f64) -> RGBColor {
    ViridisRGB.get_color(t.clamp(0.0, 1.0) as f32)
}

impl Figure for Heatmap {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        root.fill(&WHITE).map_err(e)?;
        let Some((lo, hi)) = self.value_range() else {
            return no_data(root, &self.title);
        };
        let (nx, ny) = (self.x_values.len(), self.y_values.len());
        let area = titled(root, &self.title, &self.subtitle)?;
        let (width, _) = area.dim_in_pixel();
        let (main, legend) = area.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        let x_names = CategoryAxis::fit(&main, &self.x_values);
        let mut chart = ChartBuilder::on(&main)
            .margin(MARGIN)
            .x_label_area_size(x_names.label_area())
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nx + 1)
            .y_labels(ny + 1)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| category_label(&self.y_values, *v))
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(e)?;
        x_names.draw(&mut chart, -0.5)?;
        let scale = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let cells = self.z.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, v)| {
                let fill = v.map_or(RGBColor(220, 220, 220), |v| viridis(scale(v)));
                let (x, y) = (c as f64, r as f64);
                Rectangle::new([(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)], fill.filled())
            })
        });
        chart.draw_series(cells).map_err(e)?;
        if nx * ny <= 400 {
            let centre = Pos::new(HPos::Center, VPos::Center);
            let texts = self.z.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().filter_map(move |(c, v)| {
                    let v = (*v)?;
                    let ink: &'static RGBColor = if scale(v) > 0.6 { &BLACK } else { &WHITE };
                    let style = TextStyle::from((FONT, 12).into_font())
                        .color(ink)
                        .pos(centre);
                    Some(Text::new(
                        self.z_scale.format(v),
                        (c as f64, r as f64),
                        style,
                    ))
                })
            });
            chart.draw_series(texts).map_err(e)?;
        }
        if let Some(slo) = self.slo {
            chart
                .draw_series(
                    self.contour(slo)
                        .into_iter()
                        .map(|p| PathElement::new(p, RED.stroke_width(4))),
                )
                .map_err(e)?;
        }
        self.draw_scale(&legend, (lo, hi))?;
        Ok(())
    }
}

impl Heatmap {
    /// The least and greatest finite value, if any.
    fn value_range(&self) -> Option<(f64, f64)> {
        let values = self
            .z
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        (lo <= hi).then_some((lo, hi))
    }

    /// The SLO's contour: each edge between two cells on opposite sides of
    /// `slo` (missing cells count as above it), as a segment in cell units.
    fn contour(&self, slo: f64) -> Vec<Vec<(f64, f64)>> {
        let (nx, ny) = (self.x_values.len(), self.y_values.len());
        let above = |r: usize, c: usize| self.z[r][c].is_none_or(|v| v > slo);
        let mut edges = Vec::new();
        for r in 0..ny {
            for c in 0..nx {
                let (x, y) = (c as f64, r as f64);
                if c + 1 < nx && above(r, c) != above(r, c + 1) {
                    edges.push(vec![(x + 0.5, y - 0.5), (x + 0.5, y + 0.5)]);
                }
                if r + 1 < ny && above(r, c) != above(r + 1, c) {
                    edges.push(vec![(x - 0.5, y + 0.5), (x + 0.5, y + 0.5)]);
                }
            }
        }
        edges
    }

    /// The colour scale from `lo` (at the bottom) to `hi`, the value's
    /// label wrapped under it and the SLO's colour.
    fn draw_scale<DB: DrawingBackend>(
        &self,
        legend: &DrawingArea<DB, Shift>,
        (lo, hi): (f64, f64),
    ) -> Result<(), DrawError> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        let (_, h) = legend.dim_in_pixel();
        let (top, bottom) = (30i32, h as i32 - 80);
        let steps = 60;
        for i in 0..steps {
            let y0 = bottom - (bottom - top) * i / steps;
            let y1 = bottom - (bottom - top) * (i + 1) / steps;
            let fill = viridis(f64::from(i) / f64::from(steps - 1));
            legend
                .draw(&Rectangle::new([(20, y1), (50, y0)], fill.filled()))
                .map_err(e)?;
        }
        let text = TextStyle::from((FONT, 12).into_font());
        for (value, y) in [(hi, top), (lo, bottom)] {
            legend
                .draw_text(&self.z_scale.format(value), &text, (56, y - 6))
                .map_err(e)?;
        }
        // The label, wrapped to the colour bar's column so none is cut off.
        let mut y = bottom + 14;
        for line in wrap(&self.z_label, |line| line.chars().count() <= LABEL_CHARS) {
            legend.draw_text(&line, &text, (4, y)).map_err(e)?;
            y += 15;
        }
        if let Some(slo) = self.slo {
            legend
                .draw_text(
                    &format!("red: SLO {}", self.z_scale.format(slo)),
                    &text.color(&RED),
                    (4, y + 4),
                )
                .map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contour_parts_cells_above_the_slo_from_the_rest() {
        let map = Heatmap {
            title: String::new(),
            subtitle: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_values: vec!["a".into(), "b".into()],
            y_values: vec!["1".into(), "2".into()],
            // Row 0: below then above; row 1: below then missing (above).
            z: vec![vec![Some(1.0), Some(3.0)], vec![Some(2.0), None]],
            z_label: String::new(),
            z_scale: Scale::Plain,
            slo: Some(2.0),
        };
        assert_eq!(map.value_range(), Some((1.0, 3.0)));
        assert_eq!(
            map.contour(2.0),
            [vec![(0.5, -0.5), (0.5, 0.5)], vec![(0.5, 0.5), (0.5, 1.5)]]
        );
        // Everything above a low SLO: no edge at all.
        assert!(map.contour(0.5).is_empty());
    }

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(254, 232, 37));
        assert_eq!(viridis(2.0), viridis(1.0));
    }
}
