//! `loopcap report DIR`: the page parses (as XML, stricter than HTML),
//! every figure in the directory is inline, and every number on the page
//! is the one in the directory's files (to the 4 significant digits shown).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::support::{loopcap, model_path};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs `loopcap` with `args`, asserting it succeeds; its stdout.
fn ok(args: &[&str]) -> String {
    let out = loopcap().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `report DIR`, and the page it wrote.
fn report(dir: &Path) -> String {
    let stdout = ok(&["report", dir.to_str().unwrap()]);
    let page = dir.join("report.html");
    assert_eq!(stdout.trim(), format!("wrote {}", page.display()));
    std::fs::read_to_string(page).unwrap()
}

fn parse(html: &str) -> roxmltree::Document<'_> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(html, options)
        .unwrap_or_else(|e| panic!("the report is not well-formed: {e}"))
}

/// The first text of the page's body, as a reader meets it.
fn first_text(doc: &roxmltree::Document<'_>) -> String {
    let body = doc
        .descendants()
        .find(|n| n.has_tag_name("body"))
        .expect("a body");
    body.descendants()
        .filter(|n| n.is_text())
        .map(|n| n.text().unwrap_or("").trim())
        .find(|t| !t.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// A metric cell: its row's key, its metric, and the text shown.
struct Shown {
    row: String,
    metric: String,
    text: String,
}

fn table<'a, 'i>(doc: &'a roxmltree::Document<'i>, id: &str) -> roxmltree::Node<'a, 'i> {
    doc.descendants()
        .find(|n| n.has_tag_name("table") && n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no table {id}"))
}

/// Every metric cell of table `id`.
fn metric_cells(doc: &roxmltree::Document<'_>, id: &str) -> Vec<Shown> {
    let table = table(doc, id);
    table
        .descendants()
        .filter(|n| n.has_tag_name("td"))
        .filter_map(|td| {
            Some(Shown {
                row: td.parent()?.attribute("data-row")?.to_owned(),
                metric: td.attribute("data-metric")?.to_owned(),
                text: td.text().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

/// `1,262 ± 65.47 ✓` as (1262, Some(65.47)); `–` as none.
fn read_shown(text: &str) -> Option<(f64, Option<f64>)> {
    let text = text
        .trim_end_matches(['✓', '✗', '?'])
        .trim()
        .replace(',', "");
    if text == "–" {
        return None;
    }
    // A share is shown as a percentage.
    let number = |s: &str| {
        let s = s.trim();
        let (digits, scale) = s.strip_suffix('%').map_or((s, 1.0), |d| (d, 100.0));
        digits
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            / scale
    };
    Some(match text.split_once('±') {
        Some((v, h)) => (number(v), Some(number(h))),
        None => (number(&text), None),
    })
}

/// `shown` is `truth` to the 4 significant digits shown (a whole part of
/// more digits is rounded to the unit, within the same relative 5e-4).
fn agrees(shown: f64, truth: f64) -> bool {
    (shown - truth).abs() <= 5e-4 * truth.abs() * (1.0 + 1e-9)
}

/// Checks one cell against the file's value and half-width.
fn check(cell: &Shown, value: Option<f64>, ci95: Option<f64>) {
    let what = format!("{} {} shows {:?}", cell.row, cell.metric, cell.text);
    match (read_shown(&cell.text), value) {
        (None, None) => {}
        (Some((v, h)), Some(truth)) => {
            assert!(agrees(v, truth), "{what}, the file has {truth}");
            match (h, ci95) {
                (Some(h), Some(t)) => assert!(agrees(h, t), "{what}, the file's ci95 is {t}"),
                // A half-width of rounding noise is not shown.
                (None, Some(t)) => assert!(t <= 1e-9 * truth.abs(), "{what}, ci95 {t} missing"),
                (None, None) => {}
                (Some(_), None) => panic!("{what}, but the file has no interval"),
            }
        }
        (shown, truth) => panic!("{what} ({shown:?}), the file has {truth:?}"),
    }
}

fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
}

/// The figures on the page, by id, each holding an `<svg>`.
fn figures(doc: &roxmltree::Document<'_>) -> BTreeSet<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("figure"))
        .map(|f| {
            let id = f.attribute("id").unwrap().to_owned();
            assert!(
                f.children().any(|c| c.tag_name().name() == "svg"),
                "figure {id} has no svg"
            );
            id
        })
        .collect()
}

/// The `.svg` files in `dir`, without extension.
fn svg_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".svg").map(str::to_owned)
        })
        .collect()
}

/// The value of the row named `name` of the two-column table `id`.
fn pair(doc: &roxmltree::Document<'_>, id: &str, name: &str) -> String {
    let cells: Vec<_> = text_rows(doc, id)
        .into_iter()
        .filter(|(k, _)| k == name)
        .collect();
    assert_eq!(cells.len(), 1, "#{id} row {name}");
    cells[0].1.clone()
}

/// Each row of table `id`: its key and its second cell's text.
fn text_rows(doc: &roxmltree::Document<'_>, id: &str) -> Vec<(String, String)> {
    let table = table(doc, id);
    table
        .children()
        .filter(|n| n.has_tag_name("tr") && n.attribute("data-row").is_some())
        .map(|tr| {
            let tds: Vec<_> = tr.children().filter(|c| c.has_tag_name("td")).collect();
            (
                tr.attribute("data-row").unwrap().to_owned(),
                tds.get(1).and_then(|t| t.text()).unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Runs shipped model `model` with `sets` into a new directory and
/// reports it: the directory (kept while the first is held), the page and
/// summary.json.
fn reported_run(model: &str, sets: &[&str]) -> (tempfile::TempDir, PathBuf, String, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut args = vec![
        "run".to_owned(),
        model_path(model).to_str().unwrap().to_owned(),
    ];
    for set in sets {
        args.extend(["--set".to_owned(), (*set).to_owned()]);
    }
    args.extend(["--out".to_owned(), dir.to_str().unwrap().to_owned()]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let html = report(&dir);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (tmp, dir, html, summary)
}

/// A model with a clock draws its time series against it: two days from
/// Monday 00:00 are ticked at each 06:00, 12:00, 18:00 and midnight; a
/// model without one against simulated minutes. The page says how its
/// month is reckoned.
#[test]
fn a_run_with_a_clock_draws_its_time_series_in_clock_times() {
    let (_tmp, dir, html, summary) = reported_run("working-week.toml", &["duration=48h"]);
    assert_eq!(summary["start_in_week_s"], 0.0);
    // timeseries.csv gives each bin's start as a clock time too.
    let (header, rows) = read_csv(&dir.join("timeseries.csv"));
    assert_eq!(header.last().unwrap(), "clock");
    let at = |time_s: &str| {
        rows.iter()
            .find(|r| r[0] == time_s)
            .unwrap()
            .last()
            .unwrap()
            .clone()
    };
    assert_eq!(
        [at("0"), at("54000"), at("172500")],
        ["Mon 00:00", "Mon 15:00", "Tue 23:55"]
    );
    let doc = parse(&html);
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") || n.has_tag_name("p"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    for tick in [
        "Mon 06:00",
        "Mon 12:00",
        "Tue 00:00",
        "Tue 18:00",
        "Wed 00:00",
    ] {
        assert!(texts.iter().any(|t| t == tick), "no tick {tick}");
    }
    assert!(texts.iter().any(|t| t == "the model's clock"));
    // The window's row names its clock times.
    assert!(
        html.contains("window overlap, Tue 15:00 to Tue 18:00"),
        "no window row"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("The month's bill counts use over 2 measured day(s)")),
        "no basis"
    );
    let (_tmp, _, html, _) = reported_run("mmc.toml", &["duration=20m"]);
    assert!(html.contains("simulated time (min)") && !html.contains("Mon 00:00"));
}

#[test]
fn a_run_report_shows_the_summarys_numbers_and_its_time_series() {
    // One fault window and two pools: every table of a run's page.
    let (_tmp, dir, html, summary) = reported_run("failover.toml", &[]);
    let doc = parse(&html);
    // The page opens with the verdict the terminal opens with.
    let printed = ok(&["run", model_path("failover.toml").to_str().unwrap()]);
    let headline = printed.lines().nth(1).unwrap();
    assert!(headline.contains("of loops fail"), "{headline}");
    assert_eq!(first_text(&doc), headline);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(pair(&doc, "meta", "seed"), manifest["seed"].to_string());
    assert_eq!(pair(&doc, "meta", "loopcap"), manifest["loopcap_version"]);
    assert_eq!(pair(&doc, "meta", "rerun"), manifest["rerun"]);
    assert!(pair(&doc, "model", "pool anthropic").contains("requests_per_min 1000"));

    // Each row's object in summary.json.
    let named = |list: &str, name: &str| -> Value {
        summary[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap_or_else(|| panic!("no {list} {name}"))
            .clone()
    };
    let row_object = |row: &str| -> Value {
        match row.split_once(':') {
            None => summary.clone(),
            Some(("class", name)) => summary["classes"][name].clone(),
            Some(("window", name)) => named("windows", name),
            Some(("pool", name)) => named("pools", name),
            Some(("replicas", name)) => named("pools", name)["self_hosted"].clone(),
            Some(("group", name)) => summary[name].clone(),
            Some(("fault", i)) => summary["faults"][i.parse::<usize>().unwrap()].clone(),
            other => panic!("row {other:?}"),
        }
    };
    let mut seen = BTreeMap::<String, BTreeSet<String>>::new();
    for table in [
        "outcomes",
        "windows",
        "attempts",
        "pools",
        "pool-failures",
        "faults",
    ] {
        for cell in metric_cells(&doc, table) {
            let value = at(&row_object(&cell.row), &cell.metric).and_then(Value::as_f64);
            check(&cell, value, None);
            // Shares read as percentages.
            if cell.metric.ends_with("_share") && value.is_some() {
                assert!(cell.text.ends_with('%'), "{} {}", cell.metric, cell.text);
            }
            seen.entry(cell.row.clone())
                .or_default()
                .insert(cell.metric.clone());
        }
    }
    // Failures beside latency, for the run and for the fault's window.
    for row in ["run", "window:fault-1"] {
        for metric in [
            "loops_failed",
            "loops_failed_share",
            "loop_latency_s.p99",
            "loops_per_min",
        ] {
            assert!(seen[row].contains(metric), "{row} {metric}: {seen:?}");
        }
    }
    for row in ["pool:anthropic", "pool:openai", "fault:0"] {
        assert!(seen.contains_key(row), "{row}: {seen:?}");
    }
    for metric in [
        "attempts",
        "retries",
        "rate_limited",
        "cost_usd",
        "loops_per_dollar",
    ] {
        assert!(seen["run"].contains(metric), "{metric}");
    }
    assert_eq!(figures(&doc), BTreeSet::from(["timeseries".to_owned()]));
}

/// A model mix's page shows each model's 429s, tokens and cost as
/// summary.json has them: on the 2025 Tier 2, whose Haiku limits 160
/// developers pass.
#[test]
fn a_run_report_shows_each_model_of_a_mix() {
    let (_tmp, _, html, summary) = reported_run(
        "coding-agents-model-mix.toml",
        &[
            "workload.developers.users=160",
            "pool.0.capacity.preset=\"anthropic-tier2-opus\"",
            "pool.1.capacity.preset=\"anthropic-tier2-haiku\"",
        ],
    );
    let doc = parse(&html);
    let models = summary["by_model"].as_array().unwrap();
    let mut rows = BTreeSet::new();
    for cell in metric_cells(&doc, "models") {
        let name = cell.row.strip_prefix("model:").unwrap();
        let model = models.iter().find(|m| m["name"] == name).unwrap();
        check(&cell, at(model, &cell.metric).and_then(Value::as_f64), None);
        rows.insert(name.to_owned());
    }
    assert_eq!(
        rows,
        BTreeSet::from(["haiku".to_owned(), "opus".to_owned()])
    );
    let haiku = models.iter().find(|m| m["name"] == "haiku").unwrap();
    assert!(haiku["rate_limited"].as_u64().unwrap() > 0, "{haiku}");
    assert_eq!(text_rows(&doc, "models")[0].1, haiku["first_limit"]);
}

/// A run under a limit over several pools shows it: its row (keyed by its
/// name), each of its 429 counts as summary.json has them, the limit that
/// refused first, and the pools it holds.
#[test]
fn a_run_report_shows_each_limit_over_several_pools() {
    let (_tmp, _, html, summary) =
        reported_run("two-teams-one-org.toml", &["duration=1h", "warmup=10m"]);
    let doc = parse(&html);
    let [group] = &summary["limits"].as_array().unwrap()[..] else {
        panic!("{}", summary["limits"]);
    };
    assert!(group["rate_limited"].as_u64().unwrap() > 0, "{group}");
    let cells = metric_cells(&doc, "limits");
    assert_eq!(cells.len(), 8);
    for cell in &cells {
        assert_eq!(cell.row, "limits:preset_limit.anthropic-tier2-sonnet-4x");
        check(cell, at(group, &cell.metric).and_then(Value::as_f64), None);
    }
    assert_eq!(text_rows(&doc, "limits")[0].1, group["first_limit"]);
    assert!(
        html.contains("preset_limit.anthropic-tier2-sonnet-4x holds team-a, team-b together."),
        "{html}"
    );
}

/// A self-hosted run's page shows the pool's replicas and the warm and
/// cold loops as summary.json has them.
#[test]
fn a_self_hosted_run_report_shows_its_replicas_and_warm_and_cold_loops() {
    let (_tmp, _, html, summary) = reported_run("self-hosted-vllm.toml", &["duration=1h"]);
    let doc = parse(&html);
    let hosted = &summary["pools"][0]["self_hosted"];
    let replicas = metric_cells(&doc, "replicas");
    assert!(replicas.len() >= 8, "{} replica cells", replicas.len());
    for cell in &replicas {
        check(cell, at(hosted, &cell.metric).and_then(Value::as_f64), None);
    }
    let groups: Vec<Shown> = metric_cells(&doc, "outcomes")
        .into_iter()
        .filter(|c| c.row.starts_with("group:"))
        .collect();
    assert!(groups.iter().any(|c| c.row == "group:cold_loops"));
    for cell in &groups {
        let group = &summary[cell.row.strip_prefix("group:").unwrap()];
        check(cell, at(group, &cell.metric).and_then(Value::as_f64), None);
    }
}

#[test]
fn a_sweep_report_holds_every_figure_and_the_points_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let printed = ok(&[
        "sweep",
        repo("experiments/surge-shared-vs-reserved.toml")
            .to_str()
            .unwrap(),
        "--replications",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let html = report(&dir);
    let doc = parse(&html);
    // The sweep prints the verdict its page opens with, first.
    assert_eq!(printed.lines().next().unwrap(), first_text(&doc));
    let svgs = svg_files(&dir);
    assert!(svgs.len() >= 4, "{svgs:?}");
    assert_eq!(figures(&doc), svgs);

    let mut points = csv::Reader::from_path(dir.join("points.csv")).unwrap();
    let header: Vec<String> = points
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<Vec<String>> = points
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let value = |row: usize, column: &str| -> Option<f64> {
        let c = header.iter().position(|h| h == column)?;
        rows[row][c].parse().ok()
    };
    // The page opens with how many points fail no loop and the worst point.
    let failed: Vec<f64> = (0..rows.len())
        .map(|r| value(r, "loops_failed_share").unwrap())
        .collect();
    let worst = (0..rows.len())
        .max_by(|&a, &b| failed[a].total_cmp(&failed[b]))
        .unwrap();
    let clean = failed.iter().filter(|&&f| f == 0.0).count();
    let opening = format!(
        "{clean} of {} points complete every loop; the worst, plan = {}, fails ",
        rows.len(),
        rows[worst][1]
    );
    assert!(
        first_text(&doc).starts_with(&opening),
        "{}",
        first_text(&doc)
    );
    let mut checked = BTreeSet::new();
    for table in ["points", "windows"] {
        for cell in metric_cells(&doc, table) {
            let row: usize = cell.row.strip_prefix("point:").unwrap().parse().unwrap();
            check(
                &cell,
                value(row, &cell.metric),
                value(row, &format!("{}.ci95", cell.metric)),
            );
            checked.insert((row, cell.metric.clone()));
        }
    }
    for row in 0..rows.len() {
        for metric in [
            "loops_failed_share",
            "loop_latency_s.p99",
            "loops_per_min",
            "windows.surge-developers-1.loops_failed_share",
            "windows.surge-developers-1.loop_latency_s.p99",
        ] {
            assert!(
                checked.contains(&(row, metric.to_owned())),
                "{row} {metric}"
            );
        }
    }
    assert_eq!(pair(&doc, "meta", "runs"), "6 points x 3 replications = 18");
}

/// `run --replications 4 --out DIR` keeps every replication's summary and
/// each metric's interval; its page opens with the verdict the terminal
/// prints and shows each figure with its interval, as replications.json
/// has them; rerunning its manifest gives the same bytes.
#[test]
fn a_replicated_run_report_shows_each_figure_with_its_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("replicated");
    let model = model_path("research-agent-burst.toml");
    let run = |out: &Path| {
        ok(&[
            "run",
            model.to_str().unwrap(),
            "--set",
            "duration=2h",
            "--replications",
            "4",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let printed = run(&dir);
    let html = report(&dir);
    let doc = parse(&html);
    assert_eq!(first_text(&doc), printed.lines().nth(1).unwrap());
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let intervals = read("replications.json");
    let summaries = read("summaries.json");
    // The seeds printed are the summaries kept, in order.
    let seeds: Vec<String> = summaries
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seed"].to_string())
        .collect();
    assert_eq!(seeds.len(), 4);
    assert!(printed.contains(&format!("(seeds {})", seeds.join(", "))));
    let mut shown = 0;
    let groups: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("id").filter(|id| id.starts_with("group-")))
        .collect();
    assert_eq!(groups[0], "group-run", "{groups:?}");
    for table in groups {
        for cell in metric_cells(&doc, table) {
            let of = &intervals[&cell.metric];
            check(&cell, of["mean"].as_f64(), of["ci95"].as_f64());
            shown += 1;
        }
    }
    assert!(shown > 20, "{shown} cells");
    // An independent recount of one interval: the failed share's mean.
    let shares: Vec<f64> = summaries
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["loops_failed_share"].as_f64().unwrap())
        .collect();
    let mean = shares.iter().sum::<f64>() / 4.0;
    assert!((intervals["loops_failed_share"]["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    // The manifest reruns all four replications, to the same bytes.
    let manifest = read("manifest.json");
    assert!(
        manifest["rerun"]
            .as_str()
            .unwrap()
            .ends_with(" --replications 4"),
        "{manifest}"
    );
    let again = tmp.path().join("again");
    ok(&[
        "run",
        dir.join("manifest.json").to_str().unwrap(),
        "--replications",
        "4",
        "--out",
        again.to_str().unwrap(),
    ]);
    for file in ["replications.json", "summaries.json"] {
        let bytes = |d: &Path| std::fs::read_to_string(d.join(file)).unwrap();
        assert!(bytes(&dir) == bytes(&again), "{file} differs");
    }
}

/// `size ... --out DIR`: its verdict line, and the page of DIR.
fn sized(dir: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["size"];
    all.extend(args);
    all.extend(["--out", dir.to_str().unwrap()]);
    let stdout = ok(&all);
    // The verdict comes first.
    let answer = stdout.lines().next().unwrap_or_default().to_owned();
    assert!(
        ["Buy ", "Serve up to ", "No ", "Nothing "]
            .iter()
            .any(|w| answer.starts_with(w)),
        "no verdict first in {stdout}"
    );
    (answer, report(dir))
}

/// A CSV file's header and rows, as text.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// `size` of the coding agents' lanes in 1..64 for `slos` into `dir`.
fn size_lanes(dir: &Path, slos: &[&str], replications: &str) -> (String, String) {
    let model = model_path("coding-agents-reserved.toml");
    let mut args = vec![model.to_str().unwrap()];
    for slo in slos {
        args.extend(["--slo", slo]);
    }
    args.extend([
        "--over",
        "capacity.lanes=1..64",
        "--replications",
        replications,
    ]);
    sized(dir, &args)
}

#[test]
fn a_sizing_report_shows_the_answer_and_every_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("size");
    let (answer, html) = size_lanes(
        &dir,
        &["loop_latency_s.p99 <= 25m", "loops_failed_share <= 1%"],
        "4",
    );
    let doc = parse(&html);
    assert_eq!(first_text(&doc), answer);
    let (header, rows) = read_csv(&dir.join("sizing.csv"));
    let column = |name: &str| header.iter().position(|h| h == name);
    let cells = metric_cells(&doc, "probes");
    let mut rows_seen = BTreeSet::new();
    for cell in &cells {
        if cell.row == "floor" {
            continue;
        }
        let value = cell.row.strip_prefix("value:").unwrap();
        let row = rows
            .iter()
            .find(|r| r[0] == value)
            .unwrap_or_else(|| panic!("probe {value} not in sizing.csv"));
        let number = |c: Option<usize>| c.and_then(|c| row[c].parse::<f64>().ok());
        check(
            cell,
            number(column(&cell.metric)),
            number(column(&format!("{}.ci95", cell.metric))),
        );
        rows_seen.insert(value.to_owned());
    }
    assert_eq!(
        rows_seen.len(),
        rows.len(),
        "every probe of sizing.csv is shown"
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    let floor: Vec<&Shown> = cells.iter().filter(|c| c.row == "floor").collect();
    assert_eq!(floor.len(), 2);
    for (cell, truth) in floor.iter().zip(result["floor"].as_array().unwrap()) {
        assert_eq!(cell.metric, truth["metric"]);
        check(cell, truth["mean"].as_f64(), truth["ci95"].as_f64());
    }
    let mut expected = svg_files(&dir);
    assert!(
        expected.contains("sizing-loop_latency_s-p99"),
        "{expected:?}"
    );
    assert!(expected.remove("sizing-cost_per_month_usd"));
    assert_eq!(figures(&doc).len(), expected.len() + 1);
    assert!(pair(&doc, "meta", "rerun").starts_with("loopcap size "));
}

#[test]
fn a_plans_report_shows_each_plan_its_costs_and_the_cheapest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plans");
    let model = model_path("hybrid-spillover.toml");
    let plans = repo("plans/coding-agents.toml");
    let (answer, html) = sized(
        &dir,
        &[
            model.to_str().unwrap(),
            "--slo",
            "loop_latency_s.p99 <= 25m",
            "--slo",
            "loops_failed_share <= 1%",
            "--plans",
            plans.to_str().unwrap(),
            "--replications",
            "3",
        ],
    );
    let doc = parse(&html);
    assert_eq!(first_text(&doc), answer);
    let (header, rows) = read_csv(&dir.join("sizing.csv"));
    let column = |name: &str| header.iter().position(|h| h == name);
    let mut plans_seen = BTreeSet::new();
    for cell in metric_cells(&doc, "plans") {
        let Some(plan) = cell.row.strip_prefix("plan:") else {
            continue;
        };
        let row = rows.iter().find(|r| r[0] == plan).unwrap();
        let number = |c: Option<usize>| c.and_then(|c| row[c].parse::<f64>().ok());
        check(
            &cell,
            number(column(&cell.metric)),
            number(column(&format!("{}.ci95", cell.metric))),
        );
        plans_seen.insert((plan.to_owned(), cell.metric.clone()));
    }
    for row in &rows {
        for metric in [
            "cost_per_hour_usd",
            "cost_per_loop_usd",
            "loops_per_dollar",
            "loop_latency_s.p99",
        ] {
            assert!(
                plans_seen.contains(&(row[0].clone(), metric.to_owned())),
                "{} {metric}",
                row[0]
            );
        }
    }
    assert_eq!(figures(&doc), svg_files(&dir));
    // What each plan sets, so the page says what was compared.
    let sets = text_rows(&doc, "plan-sets");
    let named: Vec<String> = rows.iter().map(|r| format!("plan:{}", r[0])).collect();
    assert_eq!(
        sets.iter().map(|s| &s.0).collect::<Vec<_>>(),
        named.iter().collect::<Vec<_>>()
    );
    // In plain words: what the plan buys, at what price.
    assert_eq!(
        sets[2].1, "pool lanes: 8 reserved lanes, $4 a lane-hour",
        "{:?}",
        sets[2]
    );
    let plan = |name: &str| sets.iter().find(|s| s.0 == name).unwrap();
    let spill = plan("plan:8 lanes + Tier 2 spill (2025)");
    assert!(
        spill
            .1
            .starts_with("the model as it is: pool lanes: 8 reserved lanes")
            && spill.1.ends_with("spilling lanes → tier2"),
        "{spill:?}"
    );
    let spill = plan("plan:8 lanes + Scale spill (2026)");
    assert!(
        spill.1.starts_with("pool lanes: 8 reserved lanes")
            && spill.1.ends_with("spilling lanes → scale"),
        "{spill:?}"
    );
}

/// A grid search's page: the answer as `size` printed it, each setting
/// run with its SLO metrics and costs as sizing.csv has them, and the
/// figures it drew.
#[test]
fn a_grid_report_shows_each_setting_run_and_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("grid");
    let model = model_path("hybrid-spillover.toml");
    let (answer, html) = sized(
        &dir,
        &[
            model.to_str().unwrap(),
            "--slo",
            "loops_failed_share <= 1%",
            "--over",
            "pool.lanes.capacity.lanes=2..8 step 3",
            "--over",
            "pool.tier2.capacity.input_tokens_per_min=60000,450000",
            "--set",
            "duration=1h",
            // Tier 2's own $500 cap a month would refuse every setting.
            "--set",
            "pool.tier2.capacity.monthly_spend_cap=200000",
            "--replications",
            "3",
        ],
    );
    let doc = parse(&html);
    assert_eq!(first_text(&doc), answer);
    let (header, rows) = read_csv(&dir.join("sizing.csv"));
    assert_eq!(
        header[..3],
        [
            "pool.lanes.capacity.lanes",
            "pool.tier2.capacity.input_tokens_per_min",
            "met"
        ]
    );
    let column = |name: &str| header.iter().position(|h| h == name);
    let mut seen = BTreeSet::new();
    for cell in metric_cells(&doc, "settings") {
        let Some(setting) = cell.row.strip_prefix("setting:") else {
            continue;
        };
        let row = rows
            .iter()
            .find(|r| format!("{},{}", r[0], r[1]) == setting)
            .unwrap_or_else(|| panic!("setting {setting} not in sizing.csv"));
        let number = |c: Option<usize>| c.and_then(|c| row[c].parse::<f64>().ok());
        check(
            &cell,
            number(column(&cell.metric)),
            number(column(&format!("{}.ci95", cell.metric))),
        );
        seen.insert(setting.to_owned());
    }
    assert_eq!(
        seen.len(),
        rows.len(),
        "every setting of sizing.csv is shown"
    );
    assert_eq!(figures(&doc), svg_files(&dir));
}

#[test]
fn a_directory_that_is_not_an_output_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let out = loopcap()
        .args(["report", missing.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));

    let out = loopcap()
        .args(["report", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no summary.json, replications.json, runs.csv or sizing.csv"),
        "{stderr}"
    );
    assert!(!tmp.path().join("report.html").exists());

    // A sizing cut short has its journal but no answer yet.
    std::fs::write(tmp.path().join("sizing.csv"), "value,met\n").unwrap();
    std::fs::write(tmp.path().join("manifest.json"), "{}\n").unwrap();
    let out = loopcap()
        .args(["report", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the sizing did not finish"));
}

/// A sweep whose points.csv is cut or garbled is refused with the line at
/// fault, never drawn as an empty table: by its fingerprint while the
/// marker is there, and by the file's own shape without one (a directory
/// written before markers, or copied without its hidden files).
#[test]
fn a_corrupt_points_csv_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    ok(&[
        "sweep",
        repo("tests/data/small-sweep.toml").to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let points = std::fs::read_to_string(dir.join("points.csv")).unwrap();
    let lines: Vec<&str> = points.lines().collect();
    let refused = |text: String, why: &str| {
        std::fs::write(dir.join("points.csv"), text).unwrap();
        let out = loopcap()
            .args(["report", dir.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    };
    refused(lines[..3].join("\n"), "points.csv (changed)");
    std::fs::remove_file(dir.join(".loopcap.json")).unwrap();
    refused(lines[..3].join("\n"), "2 points, where the manifest has 9");
    refused("garbage\n".repeat(10), "points.csv:1: not the header");
    let mut garbled = lines.clone();
    let bad = garbled[4].replacen(",3,", ",x,", 1);
    garbled[4] = &bad;
    refused(garbled.join("\n"), "points.csv:5: column replications");
    std::fs::write(dir.join("points.csv"), points).unwrap();
    report(&dir);
}

/// A headless browser on this machine, if any.
fn browser() -> Option<&'static str> {
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .into_iter()
    .find(|b| {
        std::process::Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// What a page measures in the browser at 1,280 px wide: the document's
/// width and the window's, the first line of text a reader sees, and each
/// pair of a figure's texts whose boxes overlap.
struct Measured {
    width: u32,
    viewport: u32,
    first_line: String,
    overlaps: Vec<String>,
    /// The page as Chromium parsed it.
    dom: String,
}

/// Loads `page` (a copy, with a script that measures it) in `browser` at
/// 1,280 x 900 px and reads what the script wrote into the page.
fn measure(browser: &str, page: &Path) -> Measured {
    const PROBE: &str = r#"<script>(function () {
  var out = [document.documentElement.scrollWidth, window.innerWidth,
             document.body.innerText.trim().split('\n')[0]];
  document.querySelectorAll('svg').forEach(function (svg, f) {
    var texts = Array.from(svg.querySelectorAll('text'))
      .filter(function (t) { return t.textContent.trim() !== ''; })
      .map(function (t) { return [t.getBoundingClientRect(), t.textContent.trim()]; });
    for (var i = 0; i < texts.length; i++) for (var j = i + 1; j < texts.length; j++) {
      var a = texts[i][0], b = texts[j][0];
      if (a.left < b.right - 0.5 && b.left < a.right - 0.5 &&
          a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
        out.push('figure ' + f + ': "' + texts[i][1] + '" over "' + texts[j][1] + '"');
    }
  });
  var p = document.createElement('pre');
  p.id = 'measured';
  p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
})();</script></body>"#;
    let html = std::fs::read_to_string(page).unwrap();
    let probed = page.with_file_name("measured.html");
    std::fs::write(&probed, html.replace("</body>", PROBE)).unwrap();
    let out = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = dom
        .split("<pre id=\"measured\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .unwrap_or_else(|| panic!("the probe wrote nothing into {}", page.display()))
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">");
    let values: Vec<Value> = serde_json::from_str(&json).unwrap();
    Measured {
        width: values[0].as_u64().unwrap() as u32,
        viewport: values[1].as_u64().unwrap() as u32,
        first_line: values[2].as_str().unwrap().to_owned(),
        overlaps: values[3..]
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        dom,
    }
}

/// Pages in a real browser at 1,280 px: every figure and table survives
/// Chromium's parser; nothing is wider than the window (a wide table
/// scrolls inside itself, its first column held in view); the verdict is
/// the first text a reader sees; no two texts of a figure overlap.
/// Skipped, with a message, where no browser is installed.
#[test]
fn reports_render_in_a_headless_browser_at_1280_px() {
    let Some(browser) = browser() else {
        eprintln!("skipped: no headless browser (chromium, google-chrome) on this machine");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let sized = tmp.path().join("size");
    let (answer, _) = size_lanes(&sized, &["loops_failed_share <= 1%"], "3");
    let plans = tmp.path().join("plans");
    ok(&[
        "size",
        model_path("hybrid-spillover.toml").to_str().unwrap(),
        "--plans",
        repo("plans/coding-agents.toml").to_str().unwrap(),
        "--slo",
        "loop_latency_s.p99 <= 25m",
        "--slo",
        "loops_failed_share <= 1%",
        "--replications",
        "2",
        "--set",
        "duration=1h",
        "--out",
        plans.to_str().unwrap(),
    ]);
    report(&plans);
    let (_run_tmp, run, _, _) = reported_run("failover.toml", &[]);
    let sweep = tmp.path().join("sweep");
    ok(&[
        "sweep",
        repo("experiments/surge-shared-vs-reserved.toml")
            .to_str()
            .unwrap(),
        "--replications",
        "2",
        "--out",
        sweep.to_str().unwrap(),
    ]);
    report(&sweep);
    // Chromium writes the text back with `<`, `>` and `&` escaped.
    let escaped = answer
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    for dir in [&sized, &plans, &run, &sweep] {
        let page = dir.join("report.html");
        let measured = measure(browser, &page);
        assert!(dir != &sized || measured.dom.contains(&escaped), "{answer}");
        let html = std::fs::read_to_string(&page).unwrap();
        let doc = parse(&html);
        assert!(
            measured.width <= measured.viewport && measured.viewport >= 1_200,
            "{}: {} px wide in a {} px window",
            page.display(),
            measured.width,
            measured.viewport
        );
        assert_eq!(measured.first_line, first_text(&doc), "{}", page.display());
        assert!(
            measured.overlaps.is_empty(),
            "{}: {:?}",
            page.display(),
            measured.overlaps
        );
        let count = |text: &str, what: &str| text.matches(what).count();
        assert_eq!(count(&measured.dom, "<svg"), figures(&doc).len());
        assert_eq!(count(&measured.dom, "<table"), count(&html, "<table"));
    }
}
