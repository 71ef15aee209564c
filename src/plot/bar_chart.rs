//! Grouped bars with 95% confidence whiskers, one group per category.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    CategoryAxis, FONT, Figure, MARGIN, MEETS, MISSES, Scale, Y_LABEL_AREA, color, no_data, titled,
};

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
    /// How the y axis writes its numbers.
    pub y_scale: Scale,
    pub categories: Vec<String>,
    pub groups: Vec<BarGroup>,
    /// A horizontal reference line across the bars (an SLO's bound), and its legend.
    pub bound: Option<(f64, String)>,
    /// Per category, whether it meets what the figure judges: its bar drawn
    /// green and marked ✓, or red and marked ✗. Empty: no verdicts.
    pub verdicts: Vec<Option<bool>>,
    /// The category that is the answer, marked "★ answer" above its bar.
    pub answer: Option<usize>,
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
        // Room above the tallest whisker for the marks and, clear of every
        // bar, the legend.
        let legend = self.groups.len() > 1 || self.bound.is_some() || !self.verdicts.is_empty();
        let headroom = if legend { 1.35 } else { 1.12 };
        let top = if top > 0.0 { top * headroom } else { 1.0 };
        let n = self.categories.len();
        let area = titled(root, &self.title, &self.subtitle)?;
        let labels = CategoryAxis::fit(&area, &self.categories);
        let mut chart = ChartBuilder::on(&area)
            .margin(MARGIN)
            .x_label_area_size(labels.label_area())
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| self.y_scale.format(*v))
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(e)?;
        for g in 0..self.groups.len() {
            self.draw_group(&mut chart, g)?;
        }
        labels.draw(&mut chart, 0.0)?;
        self.mark(&mut chart, top)?;
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
        if legend {
            super::legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }
}

impl BarChart {
    /// Group `g`'s bars, each coloured by its verdict if it has one, with
    /// their whiskers.
    fn draw_group<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        g: usize,
    ) -> Result<(), DrawError> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        let group = &self.groups[g];
        let width = 0.8 / self.groups.len() as f64;
        let c = color(g);
        let left = |i: usize| i as f64 - 0.4 + g as f64 * width;
        let fill = |i: usize| match self.verdicts.get(i).copied().flatten() {
            Some(true) => color(MEETS),
            Some(false) => color(MISSES),
            None => c,
        };
        let bars = group.values.iter().enumerate().filter_map(|(i, v)| {
            v.map(|(h, _)| {
                Rectangle::new(
                    [(left(i), 0.0), (left(i) + width * 0.92, h)],
                    fill(i).filled(),
                )
            })
        });
        let drawn = chart.draw_series(bars).map_err(e)?;
        if !group.label.is_empty() {
            drawn
                .label(&group.label)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled()));
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
        Ok(())
    }

    /// Above each bar of the first group: ✓ or ✗ by its verdict, and
    /// "★ answer" over the answer's; the legend says what the colours mean.
    fn mark<DB: DrawingBackend>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        top: f64,
    ) -> Result<(), DrawError> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| DrawError::of(e);
        let Some(group) = self.groups.first() else {
            return Ok(());
        };
        let above = |i: usize| {
            group
                .values
                .get(i)
                .copied()
                .flatten()
                .map(|(h, half)| (i as f64, (h + half.unwrap_or(0.0)).max(0.0) + top * 0.015))
        };
        let centred = (FONT, 15)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        let marks = self.verdicts.iter().enumerate().filter_map(|(i, v)| {
            let text = match ((*v)?, self.answer == Some(i)) {
                (_, true) => "★ answer",
                (true, false) => "✓",
                (false, false) => "✗",
            };
            Some(Text::new(text, above(i)?, centred.clone()))
        });
        chart.draw_series(marks).map_err(e)?;
        if self.verdicts.iter().any(Option::is_some) {
            for (label, c) in [("meets (✓)", MEETS), ("misses (✗)", MISSES)] {
                let c = color(c);
                chart
                    .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                    .map_err(e)?
                    .label(label)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled())
                    });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bars that meet are green and marked ✓, bars that miss red and
    /// marked ✗, the answer's bar says so; the legend names the colours.
    #[test]
    fn pass_and_fail_bars_differ_in_colour_and_mark() {
        let chart = BarChart {
            title: "p99 of each plan".to_owned(),
            subtitle: String::new(),
            x_label: "plan".to_owned(),
            y_label: "p99".to_owned(),
            y_scale: Scale::Plain,
            categories: ["a", "b", "c"].map(str::to_owned).into(),
            groups: vec![BarGroup {
                label: String::new(),
                values: vec![Some((3.0, Some(0.5))), Some((1.0, None)), Some((2.0, None))],
            }],
            bound: Some((2.5, "bound".to_owned())),
            verdicts: vec![Some(false), Some(true), Some(true)],
            answer: Some(1),
        };
        let svg = crate::plot::svg(&chart).unwrap();
        let fills = |hex: &str| svg.matches(&format!("fill=\"#{hex}\"")).count();
        // One bar and one legend swatch of each colour, and a second green bar.
        assert_eq!((fills("D62728"), fills("2CA02C")), (2, 3), "{svg}");
        for mark in ["✗", "✓", "★ answer", "meets (✓)", "misses (✗)"] {
            assert!(svg.contains(&format!(">\n{mark}\n</text>")), "no {mark}");
        }
        assert_eq!(svg.matches(">\n✓\n</text>").count(), 1);
    }

    /// Twelve long plan names under twelve bars: each wraps into lines no
    /// wider than its bar's slot, so neighbours cannot overlap, and its
    /// lines read back as the name.
    #[test]
    fn long_category_labels_wrap_within_their_slots() {
        let name = |i: usize| format!("plan {i}: shared Tier 4 with 48 reserved lanes as spill");
        let chart = BarChart {
            title: String::new(),
            subtitle: String::new(),
            x_label: "plan".to_owned(),
            y_label: String::new(),
            y_scale: Scale::Plain,
            categories: (0..12).map(name).collect(),
            groups: vec![BarGroup {
                label: String::new(),
                values: vec![Some((1.0, None)); 12],
            }],
            bound: None,
            verdicts: Vec::new(),
            answer: None,
        };
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, crate::plot::SIZE).into_drawing_area();
        crate::plot::register_font();
        let lines = CategoryAxis::fit(&root, &chart.categories).lines;
        let slot = (1100.0 - 78.0 - 24.0) / 12.0 - 8.0;
        let style = TextStyle::from((FONT, 13).into_font());
        for (i, lines) in lines.iter().enumerate() {
            assert!(lines.len() > 1, "{lines:?}");
            assert_eq!(lines.join(" "), name(i));
            for line in lines {
                let (w, _) = root.estimate_text_size(line, &style).unwrap();
                assert!(f64::from(w) <= slot, "{line}: {w} px in a {slot} px slot");
            }
        }
        // Drawn, every line is a text of the figure.
        let drawn = crate::plot::svg(&chart).unwrap();
        for line in &lines[0] {
            assert!(drawn.contains(&format!(">\n{line}\n</text>")), "no {line}");
        }
    }
}
