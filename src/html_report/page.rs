//! A small HTML writer for the report: headings, paragraphs, tables whose
//! number cells name their metric, inline SVG figures. Everything it
//! writes is also well-formed XML (void elements closed, only numeric
//! character references), so the page parses as HTML and as XHTML.

use std::fmt::Write as _;

use crate::model::measure::catalogue;
pub use crate::report::verdict::number;
use crate::report::verdict::with_interval;

/// `text` safe inside an element or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One cell of a table.
pub enum Cell {
    Text(String),
    /// A metric's value (with its 95% half-width over replications, if
    /// any), and whether it meets its SLO, if it has one.
    Metric {
        metric: String,
        value: Option<f64>,
        ci95: Option<f64>,
        met: Option<Judged>,
    },
}

/// A metric's verdict against its SLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    Met,
    Missed,
    /// Missed, with an interval that straddles the bound.
    Borderline,
}

impl Cell {
    pub fn text(text: impl Into<String>) -> Cell {
        Cell::Text(text.into())
    }

    pub fn metric(metric: &str, value: Option<f64>) -> Cell {
        Cell::Metric {
            metric: metric.to_owned(),
            value,
            ci95: None,
            met: None,
        }
    }

    pub fn interval(metric: &str, (value, ci95): (Option<f64>, Option<f64>)) -> Cell {
        Cell::Metric {
            metric: metric.to_owned(),
            value,
            ci95,
            met: None,
        }
    }

    pub fn judged(mut self, judged: Judged) -> Cell {
        if let Cell::Metric { met, .. } = &mut self {
            *met = Some(judged);
        }
        self
    }
}

/// A table row: the key a test finds it by, and its cells.
pub struct Row {
    pub key: String,
    pub cells: Vec<Cell>,
}

/// The page being written.
pub struct Page {
    /// What the page comes to, first on it: a sentence and its notes.
    verdict: String,
    body: String,
}

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; display: block; max-width: 100%; overflow-x: auto; }
tr > :first-child { position: sticky; left: 0; background: #fff; z-index: 1; }
th:first-child { background: #f5f5f5; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; vertical-align: top; }
th { text-align: left; background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.miss { color: #b00; font-weight: bold; }
p.verdict { font-size: 1.3em; font-weight: 600; margin: 0 0 0.4em; padding: 0.6em 0.9em; background: #eef6ee; border-left: 4px solid #2a2; }
p.verdict.missed { background: #fbeeee; border-left-color: #b22; }
ul.verdict-notes { margin: 0 0 1em; }
p.warning { color: #8a5a00; }
figure { margin: 1.2em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
";

impl Page {
    pub fn new() -> Page {
        Page {
            verdict: String::new(),
            body: String::new(),
        }
    }

    /// The page's verdict: `headline` (drawn as met or `missed`) and its
    /// notes, the first text of the page whatever is written before or after.
    pub fn verdict(&mut self, headline: &str, missed: bool, notes: &[String]) {
        let class = if missed { "verdict missed" } else { "verdict" };
        self.verdict = format!(
            "<p class=\"{class}\" id=\"verdict\">{}</p>\n",
            escape(headline)
        );
        if !notes.is_empty() {
            self.verdict.push_str("<ul class=\"verdict-notes\">\n");
            for note in notes {
                let _ = writeln!(self.verdict, "<li>{}</li>", escape(note));
            }
            self.verdict.push_str("</ul>\n");
        }
    }

    pub fn heading(&mut self, text: &str) {
        let _ = writeln!(self.body, "<h2>{}</h2>", escape(text));
    }

    /// A paragraph of `text`, with a class if given.
    pub fn paragraph(&mut self, class: &str, text: &str) {
        let class = match class {
            "" => String::new(),
            c => format!(" class=\"{c}\""),
        };
        let _ = writeln!(self.body, "<p{class}>{}</p>", escape(text));
    }

    pub fn list(&mut self, items: &[String]) {
        self.body.push_str("<ul>\n");
        for item in items {
            let _ = writeln!(self.body, "<li>{}</li>", escape(item));
        }
        self.body.push_str("</ul>\n");
    }

    /// Name–value pairs as a two-column table.
    pub fn pairs(&mut self, id: &str, pairs: &[(String, String)]) {
        let rows: Vec<Row> = pairs
            .iter()
            .map(|(k, v)| Row {
                key: k.clone(),
                cells: vec![Cell::text(k), Cell::text(v)],
            })
            .collect();
        self.table(id, &[] as &[&str], &rows);
    }

    /// A table: `<table id>` with a header row (if any) and one `<tr
    /// data-row>` a row, each metric cell `<td data-metric>`.
    pub fn table(&mut self, id: &str, header: &[impl AsRef<str>], rows: &[Row]) {
        let _ = writeln!(self.body, "<table id=\"{id}\">");
        if !header.is_empty() {
            self.body.push_str("<tr>");
            for h in header {
                let _ = write!(self.body, "<th>{}</th>", escape(h.as_ref()));
            }
            self.body.push_str("</tr>\n");
        }
        for row in rows {
            let _ = write!(self.body, "<tr data-row=\"{}\">", escape(&row.key));
            for cell in &row.cells {
                self.cell(cell);
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
    }

    fn cell(&mut self, cell: &Cell) {
        match cell {
            Cell::Text(text) => {
                let _ = write!(self.body, "<td>{}</td>", escape(text));
            }
            Cell::Metric {
                metric,
                value,
                ci95,
                met,
            } => {
                // A share reads as a percentage.
                let (scale, unit) = match catalogue::is_share(metric) {
                    true => (100.0, "%"),
                    false => (1.0, ""),
                };
                let shown = value.map_or_else(
                    || "–".to_owned(),
                    |v| with_interval(v, *ci95, |x| format!("{}{unit}", number(x * scale))),
                );
                let (class, mark) = match met {
                    Some(Judged::Missed) => ("num miss", " ✗"),
                    Some(Judged::Borderline) => ("num miss", " ✗?"),
                    Some(Judged::Met) => ("num", " ✓"),
                    None => ("num", ""),
                };
                let _ = write!(
                    self.body,
                    "<td class=\"{class}\" data-metric=\"{}\">{shown}{mark}</td>",
                    escape(metric)
                );
            }
        }
    }

    /// An SVG document inline, with its caption: `<figure id>`.
    pub fn figure(&mut self, id: &str, caption: &str, svg: &str) {
        // An XML declaration may open a file; inside HTML it would be text.
        let svg = match svg.find("<svg") {
            Some(at) => &svg[at..],
            None => svg,
        };
        let _ = writeln!(
            self.body,
            "<figure id=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
            escape(id),
            svg.trim_end(),
            escape(caption)
        );
    }

    /// Preformatted text folded away under `summary`.
    pub fn folded(&mut self, summary: &str, text: &str) {
        let _ = writeln!(
            self.body,
            "<details><summary>{}</summary>\n<pre>{}</pre>\n</details>",
            escape(summary),
            escape(text)
        );
    }

    /// The whole document, titled `title` with `subtitle` beneath.
    pub fn finish(self, title: &str, subtitle: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
             <meta name=\"generator\" content=\"loopcap {}\"/>\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             {}<h1>{}</h1>\n<p class=\"note\">{}</p>\n{}</body>\n</html>\n",
            env!("CARGO_PKG_VERSION"),
            escape(title),
            self.verdict,
            escape(title),
            escape(subtitle),
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_in_thousands_past_four_digits() {
        assert_eq!(number(1262.4), "1262");
        assert_eq!(number(35_345_935.9), "35,345,936");
        assert_eq!(number(-12_345.678), "-12,346");
        assert_eq!(number(0.001_115_2), "0.001115");
        assert_eq!(number(123_456.7), "123,457");
    }

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(
            escape("p99 <= 25m & \"x\" 'y'"),
            "p99 &lt;= 25m &amp; &quot;x&quot; &#39;y&#39;"
        );
    }
}
