//! sizing.csv, through the `csv` crate: a search's probes (value, met, each
//! SLO's metric and 95% half-width, and beside a latency the failed share
//! of the loops it describes, the cost an hour and a month) or the
//! plans (name, met, each SLO's metric, then the cost an hour, a month,
//! per loop and loops per dollar), each number with its half-width, empty
//! where undefined.

use std::io::{self, Write};

use super::grid::{Axis, Point};
use super::judge::{Costs, Interval, Measured, PlanResult, Probe, Verdict};
use super::slo::Slo;

/// The columns a plan's costs take, after its SLOs' metrics.
const PLAN_COSTS: [&str; 4] = [
    "cost_per_hour_usd",
    "cost_per_month_usd",
    "cost_per_loop_usd",
    "loops_per_dollar",
];

/// The columns a probe's costs take, after its SLOs' metrics.
const PROBE_COSTS: [&str; 2] = ["cost_per_hour_usd", "cost_per_month_usd"];

/// The header: the `first` columns, `met`, then each SLO's metric (and
/// beside a latency its `.loops_failed_share`) and `costs`, each followed
/// by its `.ci95`.
fn header(first: impl IntoIterator<Item = String>, slos: &[Slo], costs: &[&str]) -> Vec<String> {
    let metrics = slos.iter().flat_map(|s| {
        let failed = s
            .failed_share()
            .map(|_| format!("{}.loops_failed_share", s.metric));
        std::iter::once(s.metric.clone()).chain(failed)
    });
    let names = metrics.chain(costs.iter().map(|&c| c.to_owned()));
    first
        .into_iter()
        .chain(["met".to_owned()])
        .chain(names.flat_map(|n| {
            let ci95 = format!("{n}.ci95");
            [n, ci95]
        }))
        .collect()
}

/// The intervals of `verdicts`' cells: each metric's and, beside a
/// latency, the failed share's.
fn measured(verdicts: &[Verdict]) -> impl Iterator<Item = Interval> + '_ {
    verdicts
        .iter()
        .flat_map(|v| std::iter::once((v.mean, v.ci95)).chain(v.failed_share))
}

/// A row: the `first` cells (a probe's value, a plan's name, a setting's
/// values), `met`, then each interval's mean and half-width.
fn row(
    first: impl IntoIterator<Item = String>,
    met: bool,
    intervals: impl IntoIterator<Item = Interval>,
) -> Vec<String> {
    let cell = |x: Option<f64>| x.map_or(String::new(), |x| x.to_string());
    first
        .into_iter()
        .chain([met.to_string()])
        .chain(
            intervals
                .into_iter()
                .flat_map(|(mean, half)| [cell(mean), cell(half)]),
        )
        .collect()
}

fn writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().has_headers(false).from_writer(w)
}

/// The plans as sizing.csv.
pub fn write_plans(w: &mut dyn Write, slos: &[Slo], plans: &[PlanResult]) -> io::Result<()> {
    let mut out = writer(w);
    out.write_record(header(["plan".to_owned()], slos, &PLAN_COSTS))?;
    for p in plans {
        let metrics = measured(&p.verdicts);
        let costs = [
            p.cost_per_hour_usd,
            p.cost_per_month_usd,
            p.cost_per_loop_usd,
            p.loops_per_dollar,
        ];
        out.write_record(row([p.name.clone()], p.met, metrics.chain(costs)))?;
    }
    out.flush()
}

/// A grid search's settings run as sizing.csv, in the order they ran: each
/// axis's value, met, each SLO's metric and the costs (with half-widths),
/// then what the setting commits to a month.
pub fn write_grid(
    w: &mut dyn Write,
    axes: &[Axis],
    slos: &[Slo],
    points: &[Point],
) -> io::Result<()> {
    let mut out = writer(w);
    let paths = axes.iter().map(|a| a.path.clone());
    let mut columns = header(paths, slos, &PROBE_COSTS);
    columns.push("committed_per_month_usd".to_owned());
    out.write_record(columns)?;
    for p in points {
        let metrics = measured(&p.verdicts);
        let costs = [p.cost_per_hour_usd, p.cost_per_month_usd];
        let setting = p.setting.iter().map(i64::to_string);
        let mut cells = row(setting, p.met, metrics.chain(costs));
        cells.push(p.committed_per_month_usd.to_string());
        out.write_record(cells)?;
    }
    out.flush()
}

/// A search's sizing.csv, header and rows, appended to as probes finish.
pub struct ProbeWriter<W: Write> {
    out: csv::Writer<W>,
}

impl<W: Write> ProbeWriter<W> {
    /// Writes the header for `slos` into `w`.
    pub fn new(w: W, slos: &[Slo]) -> io::Result<Self> {
        let mut out = writer(w);
        out.write_record(probe_header(slos))?;
        Ok(ProbeWriter { out })
    }

    /// Appends to `w`, which has the header already.
    pub fn appending(w: W) -> Self {
        ProbeWriter { out: writer(w) }
    }

    /// Writes a probe's row and flushes it.
    pub fn write(&mut self, probe: &Probe) -> io::Result<()> {
        let metrics = measured(&probe.verdicts);
        let cells = row(
            [probe.value.to_string()],
            probe.met,
            metrics.chain([probe.cost_per_hour_usd, probe.cost_per_month_usd]),
        );
        self.out.write_record(cells)?;
        self.out.flush()
    }

    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }
}

fn probe_header(slos: &[Slo]) -> Vec<String> {
    header(["value".to_owned()], slos, &PROBE_COSTS)
}

/// The probes of a search's sizing.csv for `slos`: none when its header
/// is another's; a row cut short or unreadable is left out.
pub fn read_probes(text: &str, slos: &[Slo]) -> Vec<Probe> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    match reader.headers() {
        Ok(h) if h.iter().eq(probe_header(slos).iter().map(String::as_str)) => {}
        _ => return Vec::new(),
    }
    reader
        .records()
        .filter_map(|r| probe(&r.ok()?, slos))
        .collect()
}

/// A row as a probe; `None` for one cut short or unreadable.
fn probe(cells: &csv::StringRecord, slos: &[Slo]) -> Option<Probe> {
    if cells.len() != probe_header(slos).len() {
        return None;
    }
    let value: i64 = cells[0].parse().ok()?;
    let number = |c: &str| -> Option<Option<f64>> {
        if c.is_empty() {
            Some(None)
        } else {
            c.parse().ok().map(Some)
        }
    };
    let cells: Vec<&str> = cells.iter().skip(2).collect();
    let mut intervals = cells
        .chunks(2)
        .map(|pair| Some((number(pair[0])?, number(pair[1])?)))
        .collect::<Option<Vec<Interval>>>()?
        .into_iter();
    let mut measured: Vec<Measured> = Vec::with_capacity(slos.len());
    for slo in slos {
        let metric = intervals.next()?;
        let failed = match slo.failed_share() {
            Some(_) => Some(intervals.next()?),
            None => None,
        };
        measured.push((metric, failed));
    }
    let per_hour = intervals.next()?;
    let per_month = intervals.next()?;
    Some(Probe::of(
        value,
        slos,
        &measured,
        Costs {
            per_hour,
            per_month,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slos() -> Vec<Slo> {
        let names = ["loop_latency_s.p99", "loops_per_min"].map(str::to_owned);
        vec![
            Slo::parse("loop_latency_s.p99 <= 10", &names).unwrap(),
            Slo::parse("loops_per_min >= 1", &names).unwrap(),
        ]
    }

    #[test]
    fn a_row_reads_back_as_its_probe_and_a_cut_row_not_at_all() {
        let slos = slos();
        let probe = Probe::of(
            7,
            &slos,
            &[
                ((Some(8.25), Some(1.5)), Some((Some(0.125), Some(0.01)))),
                ((None, None), None),
            ],
            Costs {
                per_hour: (Some(28.0), None),
                per_month: (Some(20440.0), Some(2.5)),
            },
        );
        let mut text = Vec::new();
        ProbeWriter::new(&mut text, &slos)
            .unwrap()
            .write(&probe)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text,
            "value,met,loop_latency_s.p99,loop_latency_s.p99.ci95,loop_latency_s.p99.loops_failed_share,loop_latency_s.p99.loops_failed_share.ci95,loops_per_min,loops_per_min.ci95,cost_per_hour_usd,cost_per_hour_usd.ci95,cost_per_month_usd,cost_per_month_usd.ci95\n7,false,8.25,1.5,0.125,0.01,,,28,,20440,2.5\n"
        );
        let back = read_probes(&text, &slos);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].value, 7);
        assert_eq!(back[0].verdicts[0].mean, Some(8.25));
        assert_eq!(
            back[0].verdicts[0].failed_share,
            Some((Some(0.125), Some(0.01)))
        );
        assert_eq!(back[0].verdicts[1].mean, None);
        // A rate has no failed share beside it.
        assert_eq!(back[0].verdicts[1].failed_share, None);
        assert_eq!(back[0].cost_per_hour_usd, (Some(28.0), None));
        assert_eq!(back[0].cost_per_month_usd, (Some(20440.0), Some(2.5)));
        let header = text.lines().next().unwrap();
        for cut in [
            "7,false,8.25",
            "7,false,8.2x,1.5,0.125,0.01,,,28,,20440,2.5",
            // A row without the failed share beside the latency.
            "7,false,8.25,1.5,,,28,,20440,2.5",
        ] {
            assert!(read_probes(&format!("{header}\n{cut}\n"), &slos).is_empty());
        }
        // Another search's header: nothing is taken.
        assert!(read_probes(&text.replacen("value", "lanes", 1), &slos).is_empty());
    }
}
