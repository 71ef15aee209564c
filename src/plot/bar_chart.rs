//! Grouped bars with 95% confidence whiskers, one group per category.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{FONT, Figure, category_label, color, format_number, legend, no_data, titled};

use crate::error::DrawError;

#[derive(Clone, Debug, PartialEq)]
pub struct BarGroup {
    pub label: String,
    /// Per category: the bar's height and its whisker half-width.
    pub values: Vec<Option<(f64, Option<f64>)>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub groups: Vec<BarGroup>,
    /// A horizontal reference line across the bars (an SLO's bound), and its legend.
    pub bound: Option<(f64, String)>,
}

impl Figure for BarChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), DrawError> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        root.fill(&WHITE).map_err(e)?;
        let tops = self
            .groups
            .iter()
            .flat_map(|g| g.values.iter().flatten())
            .map(|(v, half)| v + half.unwrap_or(0.0))
            .filter(|v| v.is_finite());
        let top = tops
            .chain(self.bound.as_ref().map(|b| b.0))
            .fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return no_data(root, &self.title);
        }
        let top = if top > 0.0 { top * 1.12 } else { 1.0 };
        let n = self.categories.len();
        let area = titled(root, &self.title, &self.subtitle)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(78)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|v| category_label(&self.categories, *v))
            .y_label_formatter(&|v| format_number(*v))
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        let groups = self.groups.len().max(1) as f64;
        let width = 0.8 / groups;
        for (g, group) in self.groups.iter().enumerate() {
            let c = color(g);
            let left = |i: usize| i as f64 - 0.4 + g as f64 * width;
            let bars = group.values.iter().enumerate().filter_map(|(i, v)| {
                v.map(|(h, _)| {
                    Rectangle::new([(left(i), 0.0), (left(i) + width * 0.92, h)], c.filled())
                })
            });
            let drawn = chart.draw_series(bars).map_err(e)?;
            if !group.label.is_empty() {
                drawn.label(&group.label).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled())
                });
            }
            let whiskers = group.values.iter().enumerate().filter_map(|(i, v)| {
                let (h, half) = (*v)?;
                let half = half?;
                let mid = left(i) + width * 0.46;
                let cap = width * 0.2;
                Some(PathElement::new(
                    vec![
                        (mid - cap, h + half),
                        (mid + cap, h + half),
                        (mid, h + half),
                        (mid, (h - half).max(0.0)),
                        (mid - cap, (h - half).max(0.0)),
                        (mid + cap, (h - half).max(0.0)),
                    ],
                    BLACK.stroke_width(1),
                ))
            });
            chart.draw_series(whiskers).map_err(e)?;
        }
        if let Some((y, label)) = &self.bound {
            let grey = RGBColor(90, 90, 90);
            chart
                .draw_series([PathElement::new(
                    vec![(-0.5, *y), (n as f64 - 0.5, *y)],
                    grey.stroke_width(2),
                )])
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 14, y)], grey.stroke_width(2))
                });
        }
        if self.groups.len() > 1 || self.bound.is_some() {
            legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }
}
