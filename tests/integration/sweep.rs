//! Sweeps: determinism across threads, resume, shard + merge, statistics, plots, errors.

use std::fs;
use std::path::{Path, PathBuf};

use loopcap::config::experiment::{Experiment, read_experiment};
use loopcap::export;
use loopcap::output::marker::{Kind, seal_in_place};
use loopcap::sweep::{self, Shard, SweepOptions};
use predicates::prelude::*;
use tempfile::TempDir;

use crate::support::{loopcap, model_path};

/// An M/M/c experiment small enough for debug builds: 2 lane counts × 3
/// arrival rates, every plot kind.
fn experiment_text(replications: u32) -> String {
    let model = model_path("mmc.toml");
    format!(
        r#"
name = "test sweep"
model = "{}"
seed = 5
replications = {replications}

[set]
duration = "10m"
warmup = "1m"

[grid]
capacity.lanes = [9, 12]
workload.customers.arrivals.per_min = {{ from = 300, to = 480, steps = 3 }}

[[plot]]
kind = "line"
x = "workload.customers.arrivals.per_min"
y = "loops_per_min"
series = "capacity.lanes"

[[plot]]
kind = "latency"
x = "workload.customers.arrivals.per_min"
series = "capacity.lanes"

[[plot]]
kind = "cdf"
series = "capacity.lanes"

[[plot]]
kind = "heatmap"
x = "capacity.lanes"
y = "workload.customers.arrivals.per_min"
z = "queue_wait_s.p99"
slo = 1.0

[[plot]]
kind = "bar"
x = "capacity.lanes"
y = "queue_wait_s.mean"

[[plot]]
kind = "timeseries"
y = "queued"
series = "capacity.lanes"

[[plot]]
kind = "timeseries"
y = "loop_latency_p99_s"
series = "capacity.lanes"
"#,
        model.display()
    )
}

fn write_experiment(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("experiment.toml");
    fs::write(&path, text).unwrap();
    path
}

fn load(dir: &TempDir, replications: u32) -> Experiment {
    read_experiment(&write_experiment(
        dir.path(),
        &experiment_text(replications),
    ))
    .unwrap()
}

/// Runs a sweep as `loopcap sweep` does: the runs, then, when all are done,
/// points.csv and the figures, and the set sealed.
fn sweep(exp: &Experiment, out: &Path, options: SweepOptions) -> sweep::SweepOutcome {
    let outcome = sweep::run(exp, out, &options, Some(&export::keep_timeseries))
        .unwrap_or_else(|e| panic!("{e:?}"));
    if outcome.finished {
        export::sweep_outputs(exp, out, &outcome.rows).unwrap();
    }
    seal_in_place(out, Kind::Sweep).unwrap();
    outcome
}

const OUTPUTS: [&str; 3] = ["runs.csv", "points.csv", "manifest.json"];

fn assert_same_outputs(a: &Path, b: &Path) {
    for name in OUTPUTS {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
}

#[test]
fn the_thread_count_does_not_change_a_byte() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 3);
    let one = dir.path().join("one");
    let two = dir.path().join("two");
    sweep(
        &exp,
        &one,
        SweepOptions {
            threads: Some(1),
            ..Default::default()
        },
    );
    sweep(
        &exp,
        &two,
        SweepOptions {
            threads: Some(2),
            ..Default::default()
        },
    );
    assert_same_outputs(&one, &two);
    // Plots are drawn from the same numbers, so they match too.
    for plot in ["cdf.svg", "cdf.png"] {
        assert_eq!(
            fs::read(one.join(plot)).unwrap(),
            fs::read(two.join(plot)).unwrap(),
            "{plot}"
        );
    }
    let runs = fs::read_to_string(one.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 6 * 3);
    assert!(runs.starts_with("run,point,replication,seed,capacity.lanes,workload.customers.arrivals.per_min,loops_started,"));
}

#[test]
fn resume_after_an_interruption_gives_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 3);
    let whole = dir.path().join("whole");
    sweep(&exp, &whole, SweepOptions::default());

    // An interrupted sweep: the manifest, the header, some rows in the
    // order threads finished them, and a row torn by the kill.
    let cut = dir.path().join("cut");
    fs::create_dir(&cut).unwrap();
    fs::copy(whole.join("manifest.json"), cut.join("manifest.json")).unwrap();
    let runs = fs::read_to_string(whole.join("runs.csv")).unwrap();
    let lines: Vec<&str> = runs.lines().collect();
    let partial = format!(
        "{}\n{}\n{}\n{}\n{}",
        lines[0],
        lines[7],
        lines[2],
        lines[12],
        &lines[5][..20]
    );
    fs::write(cut.join("runs.csv"), partial).unwrap();

    let outcome = sweep(
        &exp,
        &cut,
        SweepOptions {
            resume: true,
            ..Default::default()
        },
    );
    assert_eq!(
        outcome.runs_done_now,
        18 - 3,
        "the three complete rows are not rerun"
    );
    assert_same_outputs(&whole, &cut);
}

#[test]
fn an_existing_sweep_needs_resume_and_the_same_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    sweep(&load(&dir, 2), &out, SweepOptions::default());
    let again = sweep::run(&load(&dir, 2), &out, &SweepOptions::default(), None).unwrap_err();
    assert!(format!("{again:?}").contains("add --resume"), "{again:?}");
    let other = sweep::run(
        &load(&dir, 3),
        &out,
        &SweepOptions {
            resume: true,
            ..Default::default()
        },
        None,
    )
    .unwrap_err();
    assert!(
        format!("{other:?}").contains("another experiment"),
        "{other:?}"
    );
    // Resuming a finished sweep runs nothing and changes nothing.
    let before = fs::read(out.join("points.csv")).unwrap();
    let outcome = sweep(
        &load(&dir, 2),
        &out,
        SweepOptions {
            resume: true,
            ..Default::default()
        },
    );
    assert_eq!(outcome.runs_done_now, 0);
    assert_eq!(fs::read(out.join("points.csv")).unwrap(), before);
}

#[test]
fn shards_merged_equal_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 3);
    let whole = dir.path().join("whole");
    sweep(&exp, &whole, SweepOptions::default());
    let shards: Vec<PathBuf> = (0..3)
        .map(|k| {
            let out = dir.path().join(format!("shard{k}"));
            let outcome = sweep(
                &exp,
                &out,
                SweepOptions {
                    shard: Some(Shard { index: k, count: 3 }),
                    ..Default::default()
                },
            );
            assert!(!outcome.finished);
            assert_eq!(outcome.rows.len(), 6);
            assert!(
                !out.join("points.csv").exists(),
                "a shard alone has no points"
            );
            out
        })
        .collect();
    let merged = dir.path().join("merged");
    let (exp, rows) = sweep::merge(&shards, &merged).unwrap();
    export::sweep_outputs(&exp, &merged, &rows).unwrap();
    assert_same_outputs(&whole, &merged);
    let figure = "timeseries-queued.svg";
    assert_eq!(
        fs::read(whole.join(figure)).unwrap(),
        fs::read(merged.join(figure)).unwrap(),
        "the merged sweep's time series figure differs"
    );
    // A missing shard is named, not papered over.
    let err = sweep::merge(&shards[..2], &dir.path().join("partial")).unwrap_err();
    assert!(format!("{err:?}").contains("a shard is missing"), "{err:?}");
}

/// The mean 95% half-width of `metric` over the points in `out`/points.csv.
fn mean_half_width(out: &Path, metric: &str) -> f64 {
    let mut reader = csv::Reader::from_path(out.join("points.csv")).unwrap();
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == format!("{metric}.ci95"))
        .unwrap();
    let halves: Vec<f64> = reader
        .records()
        .map(|r| r.unwrap()[column].parse().unwrap())
        .collect();
    halves.iter().sum::<f64>() / halves.len() as f64
}

#[test]
fn confidence_intervals_shrink_as_replications_grow() {
    // The half-width goes as t(n−1)/√n: from n = 4 to n = 16 it should shrink
    // by about 2.7x (3.18/2 vs 2.13/4). Asking for 1.5x leaves room for the
    // noise in estimating each standard deviation from a few runs.
    let dir = tempfile::tempdir().unwrap();
    let few = dir.path().join("few");
    let many = dir.path().join("many");
    sweep(&load(&dir, 4), &few, SweepOptions::default());
    sweep(&load(&dir, 16), &many, SweepOptions::default());
    for metric in ["loops_per_min", "queue_wait_s.mean"] {
        let (h4, h16) = (
            mean_half_width(&few, metric),
            mean_half_width(&many, metric),
        );
        assert!(
            h16 * 1.5 < h4,
            "{metric}: half-width {h4} with 4, {h16} with 16 replications"
        );
    }
}

#[test]
fn replications_share_random_numbers_across_points() {
    // Common random numbers: the arrival stream depends on the seed and the
    // class, not on the lanes, so at equal arrival rates replication r sees
    // the same arrivals whatever the lane count.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    sweep(&load(&dir, 2), &out, SweepOptions::default());
    let mut reader = csv::Reader::from_path(out.join("runs.csv")).unwrap();
    let h = reader.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|x| x == name).unwrap();
    let (lanes, rate, rep, started, seed) = (
        col("capacity.lanes"),
        col("workload.customers.arrivals.per_min"),
        col("replication"),
        col("loops_started"),
        col("seed"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for a in &rows {
        for b in &rows {
            if a[lanes] != b[lanes] && a[rate] == b[rate] && a[rep] == b[rep] {
                assert_eq!(a[seed], b[seed]);
                assert_eq!(a[started], b[started]);
            }
        }
    }
}

#[test]
fn every_plot_is_drawn_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    sweep(&load(&dir, 2), &out, SweepOptions::default());
    // Each plot with the least it must draw: polylines for lines (a series
    // each, plus axes), rectangles for bars (2 lane counts) and heatmap cells
    // (6 cells plus a 60-step colour scale).
    for (name, element, at_least) in [
        (
            "line-loops_per_min-workload_customers_arrivals_per_min",
            "<polyline",
            2,
        ),
        (
            "latency-loop_latency_s-workload_customers_arrivals_per_min",
            "<polyline",
            6,
        ),
        ("cdf", "<polyline", 2),
        ("heatmap-queue_wait_s_p99-capacity_lanes", "<rect", 66),
        ("bar-queue_wait_s_mean-capacity_lanes", "<rect", 2),
        ("timeseries-queued", "<polyline", 2),
    ] {
        let png = fs::read(out.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png is a PNG");
        assert!(png.len() > 20_000, "{name}.png is only {} bytes", png.len());
        let svg = fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{name}.svg");
        let drawn = svg.matches(element).count();
        assert!(
            drawn >= at_least,
            "{name}.svg has {drawn} {element}, expected at least {at_least}"
        );
        assert!(svg.contains("test sweep"), "{name}.svg has its subtitle");
    }
    let svg = |name: &str| fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
    let heatmap = svg("heatmap-queue_wait_s_p99-capacity_lanes");
    assert!(heatmap.contains("SLO"), "the heatmap names its SLO contour");
    // Latency and wait figures have the failed share beneath them, in a
    // taller figure; the others do not.
    for (name, stacked) in [
        (
            "line-loops_per_min-workload_customers_arrivals_per_min",
            false,
        ),
        (
            "latency-loop_latency_s-workload_customers_arrivals_per_min",
            true,
        ),
        ("cdf", true),
        ("heatmap-queue_wait_s_p99-capacity_lanes", true),
        ("bar-queue_wait_s_mean-capacity_lanes", true),
        ("timeseries-queued", false),
        ("timeseries-loop_latency_p99_s", true),
    ] {
        let svg = svg(name);
        let height = if stacked { 1080 } else { 680 };
        assert!(
            svg.starts_with(&format!("<svg width=\"1100\" height=\"{height}\"")),
            "{name}: {}",
            &svg[..60]
        );
        assert_eq!(
            svg.contains("(latency counts only those completed)"),
            stacked,
            "{name}: the failed-share panel"
        );
    }
    // p50, p95 and p99 differ by shade as well as dash: the first series'
    // colour (#1F77B4) towards white, at 0.55 and 0.8 of it.
    let latency = svg("latency-loop_latency_s-workload_customers_arrivals_per_min");
    for shade in ["#84B4D6", "#4C92C3", "#1F77B4"] {
        assert!(latency.contains(&format!("stroke=\"{shade}\"")), "{shade}");
    }
    // Axes are labelled in words, and the warm-up is shaded over time.
    assert!(latency.contains("arrivals per minute (customers)"));
    assert!(!latency.contains("workload.customers"));
    assert!(svg("timeseries-queued").contains("warm-up (not measured)"));
}

#[test]
fn the_cli_sweeps_merges_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &experiment_text(2));
    loopcap()
        .arg("check")
        .arg(&exp)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok: experiment \"test sweep\", 2 axes, 6 points x 2 replications = 12 runs, 7 plots",
        ));
    let whole = dir.path().join("whole");
    loopcap()
        .arg("sweep")
        .arg(&exp)
        .arg("--out")
        .arg(&whole)
        .args(["--threads", "2"])
        .assert()
        .success();
    for k in 0..2 {
        loopcap()
            .arg("sweep")
            .arg(&exp)
            .args(["--shard", &format!("{k}/2"), "--out"])
            .arg(dir.path().join(format!("s{k}")))
            .assert()
            .success()
            .stdout(predicate::str::contains("a shard"));
    }
    let merged = dir.path().join("merged");
    loopcap()
        .arg("merge")
        .arg(dir.path().join("s0"))
        .arg(dir.path().join("s1"))
        .arg("--out")
        .arg(&merged)
        .assert()
        .success();
    assert_same_outputs(&whole, &merged);
    loopcap()
        .arg("sweep")
        .arg(&exp)
        .arg("--out")
        .arg(&whole)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("add --resume"));
    loopcap()
        .arg("sweep")
        .arg(&exp)
        .args(["--shard", "2/2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--shard: `2/2` is not a shard"));
}

#[test]
fn plot_draws_a_runs_timeseries() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    loopcap()
        .args(["run"])
        .arg(model_path("research-agent-burst.toml"))
        .args(["--set", "duration=30m", "--out"])
        .arg(&run)
        .assert()
        .success();
    loopcap()
        .arg("plot")
        .arg(run.join("timeseries.csv"))
        .arg("--out")
        .arg(&run)
        .assert()
        .success();
    let svg = fs::read_to_string(run.join("timeseries.svg")).unwrap();
    for panel in [
        "attempts in flight and waiting",
        "loop latency",
        "refusals and retries",
        "429 rate limited",
        "completed",
        "warm-up (not measured)",
    ] {
        assert!(svg.contains(panel), "timeseries.svg lacks {panel}");
    }
    assert!(!svg.contains(">fault<"), "no fault to shade");
    // No replicas without a self-hosted pool, nothing queued for what it lacks.
    assert!(
        !svg.contains("replicas up")
            && !svg.contains("KV cache in use")
            && !svg.contains("queued for a")
    );
    // A self-hosted pool's replicas have a panel, its queue its own words;
    // M/M/10 has no refusals or retries, so no panel of them.
    let words = |model: &str, sets: &[&str]| {
        let out = dir.path().join(model);
        let mut run = loopcap();
        run.arg("run").arg(model_path(model)).arg("--out").arg(&out);
        for set in sets {
            run.args(["--set", set]);
        }
        run.assert().success();
        loopcap()
            .arg("plot")
            .arg(out.join("timeseries.csv"))
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        fs::read_to_string(out.join("timeseries.svg")).unwrap()
    };
    let hosted = words("self-hosted-vllm.toml", &[]);
    for shown in [
        "replicas up",
        "KV cache in use",
        "queued for a replica",
        "p99",
    ] {
        assert!(
            hosted.contains(shown),
            "the self-hosted run's figure lacks {shown}"
        );
    }
    let mmc = words("mmc.toml", &["duration=10m", "warmup=1m"]);
    assert!(mmc.contains("queued for a lane") && !mmc.contains("refusals and retries"));
    assert!(fs::metadata(run.join("timeseries.png")).unwrap().len() > 20_000);
    loopcap()
        .arg("plot")
        .arg(run.join("summary.json"))
        .arg("--out")
        .arg(&run)
        .assert()
        .code(2);
}

/// A bad experiment: exit 2 with `expected` on stderr.
fn assert_experiment_rejected(text: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), text);
    loopcap()
        .arg("check")
        .arg(&exp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(expected));
}

#[test]
fn bad_experiments_are_reported_with_line_and_field() {
    let good = experiment_text(2);
    // The text starts with a newline: `name` is on line 2, `[grid]` on 11.
    assert_experiment_rejected(
        &good.replace("replications = 2", "replications = 2\nreplicas = 3"),
        "experiment.toml:6: replicas: unknown field `replicas`",
    );
    assert_experiment_rejected(
        &good.replace("replications = 2", "replications = 0"),
        "experiment.toml:5: replications: must be a whole number from 1 to 10000 (got 0)",
    );
    assert_experiment_rejected(
        &good.replace("capacity.lanes = [9, 12]", "capacity.lanes = []"),
        "experiment.toml:12: grid.capacity.lanes: an axis needs at least one value",
    );
    assert_experiment_rejected(
        &good.replace("capacity.lanes = [9, 12]", "capacity.lanes = 9"),
        "grid.capacity.lanes: an axis needs a list of values",
    );
    assert_experiment_rejected(
        &good.replace("capacity.lanes = [9, 12]", "capacity.lanes = [9, 0]"),
        "experiment.toml:12: grid capacity.lanes = 0: capacity.lanes: must be a whole number from 1 to 1000000 (got 0)",
    );
    assert_experiment_rejected(
        &good.replace("capacity.lanes = [9, 12]", "capacity.lane = [9, 12]"),
        "grid capacity.lane = 9: capacity.lane: unknown field `lane`",
    );
    assert_experiment_rejected(
        &good.replace("y = \"loops_per_min\"", "y = \"loops_per_hour\""),
        "plot.0.y: `loops_per_hour` is not a metric",
    );
    assert_experiment_rejected(
        &good.replace(
            "series = \"capacity.lanes\"\n\n[[plot]]\nkind = \"latency\"",
            "series = \"lanes\"\n\n[[plot]]\nkind = \"latency\"",
        ),
        "plot.0.series: `lanes` is not a grid axis",
    );
    assert_experiment_rejected(
        &good.replace("model = \"", "model = \"nowhere/"),
        "model: cannot read",
    );
    assert_experiment_rejected(
        &good.replace("duration = \"10m\"", "duration = \"ten minutes\""),
        "set duration = \"ten minutes\"",
    );
}

#[test]
fn every_shipped_experiment_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            loopcap()
                .arg("check")
                .arg(&path)
                .assert()
                .success()
                .stdout(predicate::str::contains(": ok: experiment"));
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}

#[test]
fn plot_redraws_a_sweeps_figures_from_its_directory_alone() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 2);
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let figures: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert_eq!(figures.len(), 7, "{figures:?}");
    let drawn: Vec<Vec<u8>> = figures.iter().map(|f| fs::read(f).unwrap()).collect();
    for f in &figures {
        fs::remove_file(f).unwrap();
    }
    loopcap()
        .arg("plot")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::contains("drew 7 plots"));
    for (f, before) in figures.iter().zip(&drawn) {
        assert_eq!(&fs::read(f).unwrap(), before, "{} differs", f.display());
    }
    // The time series come from the files the sweep kept, not from a rerun.
    fs::remove_file(out.join("timeseries").join("point-0.csv")).unwrap();
    loopcap()
        .arg("plot")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("point-0.csv"));
}

/// Two arrivals a minute in 10 s bins: most bins see no loop complete and
/// have no latency. The latency over time breaks at each (many polylines
/// a series) rather than failing to read the empty cells or joining
/// across them.
#[test]
fn a_latency_over_time_breaks_where_no_loop_completed() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
name = "sparse"
seed = 5
model = "{}"
replications = 1

[set]
duration = "10m"
timeseries_bin = "10s"
workload.customers.arrivals.per_min = 2

[grid]
capacity.lanes = [1, 2]

[[plot]]
kind = "timeseries"
y = "loop_latency_p99_s"
series = "capacity.lanes"
"#,
        model_path("mmc.toml").display()
    );
    let exp = read_experiment(&write_experiment(dir.path(), &text)).unwrap();
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let kept = fs::read_to_string(out.join("timeseries").join("point-0.csv")).unwrap();
    let empty = kept.lines().skip(1).filter(|l| l.ends_with(",,")).count();
    assert!(empty > 10, "{empty} bins without a latency");
    let svg = fs::read_to_string(out.join("timeseries-loop_latency_p99_s.svg")).unwrap();
    let drawn = svg.matches("<polyline").count();
    assert!(drawn > 10, "{drawn} polylines");
}

#[test]
fn reference_lines_are_drawn_and_only_where_they_make_sense() {
    let dir = tempfile::tempdir().unwrap();
    let text = experiment_text(2).replace(
        "y = \"loops_per_min\"\nseries = \"capacity.lanes\"",
        "y = \"loops_per_min\"\nseries = \"capacity.lanes\"\nreference = 400\nreference_label = \"the target\"",
    );
    let exp = read_experiment(&write_experiment(dir.path(), &text)).unwrap();
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let svg =
        fs::read_to_string(out.join("line-loops_per_min-workload_customers_arrivals_per_min.svg"))
            .unwrap();
    assert!(svg.contains("the target"));
    assert_experiment_rejected(
        &experiment_text(2).replace(
            "z = \"queue_wait_s.p99\"",
            "z = \"queue_wait_s.p99\"\nreference = 1",
        ),
        "plot.3.reference: unknown field `reference` for kind = \"heatmap\"",
    );
}

#[test]
fn resuming_after_a_data_file_changed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(
        model_path("../tests/data/tokens.csv"),
        dir.path().join("tokens.csv"),
    )
    .unwrap();
    let model = crate::support::BASE.replace(
        "input_tokens = 100",
        "input_tokens = { dist = \"empirical\", file = \"tokens.csv\", column = \"input_tokens\" }",
    );
    fs::write(dir.path().join("model.toml"), model).unwrap();
    let exp = write_experiment(
        dir.path(),
        "name = \"data\"\nmodel = \"model.toml\"\nseed = 1\nreplications = 1\n[grid]\ncapacity.lanes = [4, 6]\n",
    );
    let out = dir.path().join("out");
    let half = SweepOptions {
        shard: Some(Shard { index: 0, count: 2 }),
        ..Default::default()
    };
    sweep(&read_experiment(&exp).unwrap(), &out, half);
    let csv = dir.path().join("tokens.csv");
    let text = fs::read_to_string(&csv).unwrap();
    fs::write(&csv, text.replace('\n', "\n\n")).unwrap();
    let resume = SweepOptions {
        resume: true,
        ..Default::default()
    };
    let err = sweep::run(&read_experiment(&exp).unwrap(), &out, &resume, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("a data file changed since the sweep began (tokens.csv)"),
        "{err}"
    );
}

#[test]
fn plot_draws_nan_and_infinite_means_as_gaps_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 2);
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let runs = fs::read_to_string(out.join("runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let cells = [
        (column("loops_per_min"), "NaN"),
        (column("queue_wait_s.p99"), "inf"),
    ];
    // Point 0's runs (0 and 1) with `odd` in the plotted cells, or with them empty.
    let edited = |odd: bool| -> String {
        let mut text = String::new();
        for (n, line) in runs.lines().enumerate() {
            let mut fields: Vec<String> = line.split(',').map(str::to_owned).collect();
            if n == 1 || n == 2 {
                for (c, value) in cells {
                    fields[c] = if odd { value.to_owned() } else { String::new() };
                }
            }
            text.push_str(&fields.join(","));
            text.push('\n');
        }
        text
    };
    // Sealed again, as a sweep that computed such values would have left it.
    let reseal = || seal_in_place(&out, Kind::Sweep).unwrap();
    fs::write(out.join("runs.csv"), edited(true)).unwrap();
    reseal();
    let odd = dir.path().join("odd");
    loopcap()
        .arg("plot")
        .arg(&out)
        .arg("--out")
        .arg(&odd)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: loops_per_min: 1 of 6 points have a mean that is not a finite number (NaN or infinite), drawn as gaps",
        ))
        .stderr(predicate::str::contains("warning: queue_wait_s.p99: 1 of 6"));
    fs::write(out.join("runs.csv"), edited(false)).unwrap();
    reseal();
    let missing = dir.path().join("missing");
    loopcap()
        .arg("plot")
        .arg(&out)
        .arg("--out")
        .arg(&missing)
        .assert()
        .success()
        .stderr(predicate::str::contains("warning").not());
    // A NaN or infinite mean is drawn exactly as a point with no value.
    for figure in [
        "line-loops_per_min-workload_customers_arrivals_per_min.svg",
        "heatmap-queue_wait_s_p99-capacity_lanes.svg",
    ] {
        assert_eq!(
            fs::read(odd.join(figure)).unwrap(),
            fs::read(missing.join(figure)).unwrap(),
            "{figure}"
        );
    }
}

#[test]
fn an_out_that_names_a_file_is_refused_by_every_command_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 1);
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let file = dir.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let experiment = dir.path().join("experiment.toml");
    let model = model_path("mmc.toml");
    let commands: [Vec<&std::ffi::OsStr>; 4] = [
        vec!["sweep".as_ref(), experiment.as_os_str()],
        vec!["merge".as_ref(), out.as_os_str()],
        vec!["plot".as_ref(), out.as_os_str()],
        vec!["run".as_ref(), model.as_os_str()],
    ];
    for args in commands {
        loopcap()
            .args(&args)
            .arg("--out")
            .arg(&file)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(format!(
                    "{}: exists and is not a directory",
                    file.display()
                ))
                .or(predicate::str::contains(format!(
                    "{}: not a directory",
                    file.display()
                ))),
            )
            .stderr(predicate::str::contains("os error").not());
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");
}

#[test]
fn sweep_flags_change_the_experiment_and_are_kept_for_resume_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_experiment(dir.path(), &experiment_text(3));
    let out = dir.path().join("out");
    let flags = [
        "--set",
        "duration=5m",
        "--seed",
        "11",
        "--replications",
        "1",
    ];
    loopcap()
        .arg("sweep")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(flags)
        .assert()
        .success();
    let runs = fs::read_to_string(out.join("runs.csv")).unwrap();
    // 6 points, one replication each.
    assert_eq!(runs.lines().count(), 7);
    // The same sweep without the flags gives other results: the flags took.
    let plain = dir.path().join("plain");
    loopcap()
        .arg("sweep")
        .arg(&path)
        .args([
            "--out".as_ref(),
            plain.as_os_str(),
            "--replications".as_ref(),
            "1".as_ref(),
        ])
        .assert()
        .success();
    assert_ne!(fs::read_to_string(plain.join("runs.csv")).unwrap(), runs);
    // The manifest keeps them: resuming with them is the same sweep, and the
    // figures redraw.
    loopcap()
        .arg("sweep")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(flags)
        .arg("--resume")
        .assert()
        .success();
    loopcap().arg("plot").arg(&out).assert().success();
    // Resuming without them is another experiment.
    loopcap()
        .arg("sweep")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--resume")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("another experiment"));
    // --force replaces the sweep, and only a sweep.
    loopcap()
        .arg("sweep")
        .arg(&path)
        .args([
            "--out".as_ref(),
            out.as_os_str(),
            "--replications".as_ref(),
            "1".as_ref(),
            "--force".as_ref(),
        ])
        .assert()
        .success();
    assert_eq!(
        fs::read_to_string(out.join("runs.csv")).unwrap(),
        fs::read_to_string(plain.join("runs.csv")).unwrap()
    );
    let other = dir.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("keep.txt"), "mine").unwrap();
    loopcap()
        .arg("sweep")
        .arg(&path)
        .args(["--out".as_ref(), other.as_os_str(), "--force".as_ref()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "holds files loopcap did not write (keep.txt)",
        ));
    assert_eq!(fs::read_to_string(other.join("keep.txt")).unwrap(), "mine");
}

#[test]
fn any_row_of_runs_csv_reruns_exactly_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let exp = load(&dir, 2);
    let out = dir.path().join("out");
    sweep(&exp, &out, SweepOptions::default());
    let runs = fs::read_to_string(out.join("runs.csv")).unwrap();
    let header: Vec<&str> = runs.lines().next().unwrap().split(',').collect();
    for run in [0usize, 3, 11] {
        let row: Vec<&str> = runs.lines().nth(run + 1).unwrap().split(',').collect();
        assert_eq!(row[0], run.to_string());
        let json = loopcap()
            .arg("run")
            .arg(&out)
            .args(["--run", &run.to_string(), "--json"])
            .output()
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(summary["seed"].to_string(), row[3], "run {run}: seed");
        // Every top-level number of the rerun's summary equals its column.
        let mut compared = 0;
        for (name, cell) in header.iter().zip(&row) {
            if let Some(value) = summary.get(*name).and_then(serde_json::Value::as_f64) {
                let recorded: f64 = cell.parse().unwrap();
                assert_eq!(value, recorded, "run {run}: {name}");
                compared += 1;
            }
        }
        assert!(compared > 20, "{compared}");
    }
    loopcap()
        .arg("run")
        .arg(&out)
        .args(["--run", "12"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has runs 0 to 11"));
}

/// Plans replace whole tables, across kinds: a shared tier with token prices
/// beside reserved lanes with a lane price, on one base model. A field axis
/// inside a replaced table applies to the plan's table, whatever the order
/// of the axes in the file.
#[test]
fn plans_replace_whole_tables_across_capacity_kinds() {
    use loopcap::model::capacity::kind::CapacitySpec;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
name = "plans"
model = "{}"
seed = 1
replications = 1

[grid]
"capacity.time_to_first_token" = ["2s", "3s"]
plan = {{ labels = ["base", "shared", "reserved"], values = [
  {{}},
  {{ capacity = {{ kind = "shared_api", requests_per_min = 600, time_to_first_token = "1s" }}, prices = {{ input_per_mtok = 3.0 }} }},
  {{ capacity = {{ kind = "reserved", lanes = 3, time_to_first_token = "1s" }}, prices = {{ per_lane_hour = 4.0 }} }},
] }}
"#,
        model_path("mmc.toml").display()
    );
    let exp = read_experiment(&write_experiment(dir.path(), &text)).unwrap();
    let described: Vec<(String, String, f64, f64)> = exp
        .points
        .iter()
        .map(|p| {
            let kind = match &p.spec.pools[0].capacity {
                CapacitySpec::SharedApi(_) => "shared".to_owned(),
                CapacitySpec::Reserved(r) => format!("{} lanes", r.lanes),
                CapacitySpec::Batch(_) | CapacitySpec::SelfHosted(_) => {
                    unreachable!("neither is in this grid")
                }
            };
            let ttft = p.spec.pools[0]
                .capacity
                .service()
                .unwrap()
                .time_to_first_token
                .dist()
                .constant_value()
                .unwrap();
            (
                kind,
                format!("{:.0}s", ttft),
                p.spec.pools[0].prices.tokens.input_per_mtok,
                p.spec.pools[0].prices.per_unit_hour,
            )
        })
        .collect();
    let row = |k: &str, t: &str, i: f64, l: f64| (k.to_owned(), t.to_owned(), i, l);
    assert_eq!(
        described,
        [
            row("10 lanes", "2s", 0.0, 0.0),
            row("shared", "2s", 3.0, 0.0),
            row("3 lanes", "2s", 0.0, 4.0),
            row("10 lanes", "3s", 0.0, 0.0),
            row("shared", "3s", 3.0, 0.0),
            row("3 lanes", "3s", 0.0, 4.0),
        ]
    );
    assert_eq!(exp.point_labels(2).collect::<Vec<_>>(), ["2s", "reserved"]);
}

#[test]
fn plans_need_labels_and_tables() {
    let good = experiment_text(1);
    assert_experiment_rejected(
        &good.replace(
            "capacity.lanes = [9, 12]",
            "plan = { values = [{ capacity = { kind = \"reserved\", lanes = 2 } }] }",
        ),
        "experiment.toml:12: grid.plan: plans need labels, one per plan",
    );
    assert_experiment_rejected(
        &good.replace(
            "capacity.lanes = [9, 12]",
            "plan = { values = [{}, 16], labels = [\"base\", \"16\"] }",
        ),
        "grid.plan.values.1: a plan is a table of the model paths it replaces (got 16)",
    );
    assert_experiment_rejected(
        &good.replace(
            "capacity.lanes = [9, 12]",
            "plan = { values = [{}, { capacity = { kind = \"shared_api\", lanes = 2 } }], labels = [\"base\", \"odd\"] }",
        ),
        "experiment.toml:12: grid plan = odd: capacity.lanes: unknown field `lanes`",
    );
}

/// `compare` against a recount from runs.csv: points of one sweep share
/// their seeds, so B − A is the mean of the per-replication differences,
/// with the paired t interval (t(0.975, 2) = 4.302653 for 3 replications).
#[test]
fn compare_pairs_the_replications_of_two_points_and_judges_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    sweep(&load(&dir, 3), &out, SweepOptions::default());
    let runs = fs::read_to_string(out.join("runs.csv")).unwrap();
    let mut lines = runs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let values = |point: &str, metric: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r[col("point")] == point)
            .map(|r| r[col(metric)].parse().unwrap())
            .collect()
    };
    let compare = |a: &str, b: &str| -> serde_json::Value {
        let side = |s: &str| format!("{}:{s}", out.display());
        let output = loopcap()
            .args(["compare", &side(a), &side(b), "--json"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        serde_json::from_slice(&output.stdout).unwrap()
    };
    // Point 2 has 9 lanes and point 5 has 12, at 480 arrivals/min.
    let metric = "queue_wait_s.mean";
    let v = compare("2", "5");
    let d: Vec<f64> = values("5", metric)
        .iter()
        .zip(values("2", metric))
        .map(|(b, a)| b - a)
        .collect();
    let mean = d.iter().sum::<f64>() / 3.0;
    let s = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let half = 4.302_653 * s / 3f64.sqrt();
    let got = &v[metric];
    assert!((got["diff"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!((got["diff"]["ci95"].as_f64().unwrap() - half).abs() < 1e-6);
    assert_eq!(got["significant"], serde_json::json!(mean.abs() > half));
    assert_eq!(got["significant"], true, "3 more lanes cut the wait: {got}");
    // A point against itself: no difference, none significant.
    let same = compare("1", "1");
    for (metric, row) in same.as_object().unwrap() {
        assert_ne!(row["significant"], true, "{metric}: {row}");
        if let Some(d) = row["diff"]["mean"].as_f64() {
            assert_eq!(d, 0.0, "{metric}");
        }
    }
    // Points that do not exist, or a sweep without a point, are refused.
    loopcap()
        .args([
            "compare",
            &format!("{}:6", out.display()),
            &format!("{}:0", out.display()),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has points 0 to 5 (got 6)"));
    loopcap()
        .arg("compare")
        .arg(&out)
        .arg(format!("{}:0", out.display()))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the sweep has 6 points: name one"));
    loopcap()
        .args(["compare", "nowhere", "nowhere:1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither a run's directory"));
}

/// Two runs with different seeds: B − A of their summaries, no interval.
#[test]
fn compare_two_runs_gives_the_difference_without_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    let summary = |seed: &str| -> serde_json::Value {
        let out = dir.path().join(seed);
        loopcap()
            .arg("run")
            .arg(model_path("mmc.toml"))
            .args(["--set", "duration=10m", "--seed", seed, "--out"])
            .arg(&out)
            .assert()
            .success();
        serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
    };
    let (a, b) = (summary("1"), summary("2"));
    let side = |seed: &str| dir.path().join(seed).display().to_string();
    let output = loopcap()
        .args(["compare", &side("1"), &side("2"), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let completed = &v["loops_completed"];
    let expected = b["loops_completed"].as_f64().unwrap() - a["loops_completed"].as_f64().unwrap();
    assert_eq!(completed["diff"]["mean"].as_f64().unwrap(), expected);
    assert!(completed["diff"]["ci95"].is_null() && completed["significant"].is_null());
    let table = loopcap()
        .args(["compare", &side("1"), &side("2")])
        .output()
        .unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("one run on a side"), "{text}");
}

/// A plan naming a tier no longer sold is warned of at the plan, the path
/// it wrote said once (the flag names the plan, the warning its field).
#[test]
fn a_plan_naming_a_tier_no_longer_sold_is_warned_of_at_the_plan() {
    let text = experiment_text(1).replace(
        "capacity.lanes = [9, 12]",
        "plan = { values = [{}, { capacity = { preset = \"anthropic-tier2-sonnet\", time_to_first_token = \"1s\", output_tokens_per_s = 60 } }], labels = [\"lanes\", \"old tier\"] }",
    ).replace("\"capacity.lanes\"", "\"plan\"");
    let dir = tempfile::tempdir().unwrap();
    let exp = write_experiment(dir.path(), &text);
    let out = loopcap().arg("check").arg(&exp).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = "experiment.toml:12: grid plan = old tier: capacity.preset: `anthropic-tier2-sonnet` is capacity its provider no longer sells";
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
}
