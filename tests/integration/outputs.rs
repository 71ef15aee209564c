//! Where loopcap writes: `--out` never removes or overwrites a file loopcap
//! did not write (a user's directory, the current directory, a file put
//! beside a set, the trace being fitted), every writer is locked by the
//! resolved path, a set appears whole at every instant (also on a mount
//! point, and after a kill), and readers refuse a set whose files changed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use loopcap::output::lock::Lock;
use loopcap::output::marker::{Kind, MARKER, Marker, State, verify};
use loopcap::output::staged_dir::StagedDir;
use loopcap::output::target::{Reuse, claim};

use crate::support::{loopcap, model_path};

/// A short run of the M/M/c model.
const SHORT: [&str; 2] = ["--set", "duration=10m"];

fn run_out(dir: &Path, extra: &[&str]) -> Output {
    loopcap()
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(SHORT)
        .arg("--out")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn sweep_out(experiment: &Path, dir: &Path, extra: &[&str]) -> Output {
    loopcap()
        .arg("sweep")
        .arg(experiment)
        .arg("--out")
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every file under `dir` and its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(contents(&path));
        } else {
            found.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    found
}

fn a_users_directory(root: &Path) -> PathBuf {
    let dir = root.join("models");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("mine.toml"), "name = \"mine\"\n").unwrap();
    fs::write(dir.join("sub/data.csv"), "value\n1\n").unwrap();
    dir
}

#[test]
fn every_writer_refuses_a_directory_of_a_users_files_and_leaves_them_as_they_were() {
    let root = tempfile::tempdir().unwrap();
    let dir = a_users_directory(root.path());
    let before = contents(&dir);
    let experiment = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small-sweep.toml");
    let commands: Vec<Vec<String>> = vec![
        vec!["run".into(), model_path("mmc.toml").display().to_string()],
        vec![
            "run".into(),
            model_path("mmc.toml").display().to_string(),
            "--force".into(),
        ],
        vec!["sweep".into(), experiment.display().to_string()],
        vec![
            "sweep".into(),
            experiment.display().to_string(),
            "--force".into(),
        ],
        vec![
            "size".into(),
            model_path("mmc.toml").display().to_string(),
            "--slo".into(),
            "queue_wait_s.mean <= 1".into(),
            "--over".into(),
            "capacity.lanes=8..9".into(),
            "--replications".into(),
            "2".into(),
            "--force".into(),
        ],
    ];
    for command in commands {
        let output = loopcap()
            .args(&command)
            .args(SHORT)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command:?}: {output:?}");
        assert!(
            stderr(&output).contains("holds files loopcap did not write (mine.toml, sub/data.csv)"),
            "{command:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            contents(&dir),
            before,
            "{command:?} touched the user's files"
        );
    }
}

#[test]
fn the_current_directory_and_its_ancestors_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let cwd = a_users_directory(root.path());
    let before = contents(&cwd);
    for out in ["../models", ".", "..", "sub/.."] {
        let output = loopcap()
            .current_dir(&cwd)
            .arg("run")
            .arg(model_path("mmc.toml"))
            .args(SHORT)
            .args(["--out", out])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "--out {out}: {output:?}");
        assert!(
            stderr(&output).contains("is the current directory"),
            "{}",
            stderr(&output)
        );
        assert_eq!(contents(&cwd), before);
    }
}

#[test]
fn a_run_replaces_its_own_outputs_only_with_force_and_never_a_file_put_beside_them() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(run_out(&out, &[]).status.success());
    let first = contents(&out);
    let again = run_out(&out, &["--seed", "7"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("add --force"), "{}", stderr(&again));
    assert_eq!(contents(&out), first);
    assert!(run_out(&out, &["--seed", "7", "--force"]).status.success());
    let second = contents(&out);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    assert_ne!(first, second, "the new seed's outputs replaced the old");
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let refused = run_out(&out, &["--force"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("(notes.txt)"), "{refused:?}");
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    // Nothing but the set and its lock beside it.
    let names: Vec<String> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_symlink_is_followed_said_and_locked_as_its_end() {
    let root = tempfile::tempdir().unwrap();
    let real = root.path().join("real");
    let link = root.path().join("link");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let output = run_out(&link, &[]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stderr(&output).contains(&format!(
            "is {}",
            fs::canonicalize(&real).unwrap().display()
        )),
        "{}",
        stderr(&output)
    );
    assert!(
        fs::symlink_metadata(&link).unwrap().is_symlink(),
        "the link stays a link"
    );
    assert!(real.join("summary.json").exists());
    // A writer holding the real path keeps a writer of the link out.
    let held = Lock::take(&fs::canonicalize(&real).unwrap(), &real).unwrap();
    let output = run_out(&link, &["--force"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("another loopcap is writing"),
        "{output:?}"
    );
    let sweep = loopcap()
        .arg("sweep")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small-sweep.toml"))
        .arg("--out")
        .arg(root.path().join("real/../link"))
        .output()
        .unwrap();
    assert_eq!(sweep.status.code(), Some(2), "{sweep:?}");
    assert!(
        stderr(&sweep).contains("another loopcap is writing"),
        "{sweep:?}"
    );
    drop(held);
}

/// A reader looking at the target while sets are swapped in, over and
/// over, sees a whole set every time: never no directory, never a mix.
#[test]
fn a_published_set_is_whole_at_every_instant() {
    let root = tempfile::tempdir().unwrap();
    let target = root.path().join("out");
    let publish = |n: u32| {
        // Another test's child process, between its fork and its exec, may
        // hold this process's lock for a moment: wait for it.
        let claimed = (0..1000)
            .find_map(|_| {
                let claimed = claim(&target, Kind::Run, Reuse::Replace { force: true });
                if claimed.is_err() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                claimed.ok()
            })
            .expect("the target can be claimed");
        let staged = StagedDir::new(claimed, Kind::Run).unwrap();
        for file in ["a.json", "b.csv", "c.csv"] {
            fs::write(staged.path().join(file), n.to_string()).unwrap();
        }
        staged.publish().unwrap();
    };
    publish(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut seen = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                // A directory read as it stands: the three files, one value.
                let read = (|| {
                    let values: Vec<String> = ["a.json", "b.csv", "c.csv"]
                        .iter()
                        .map(|f| fs::read_to_string(target.join(f)))
                        .collect::<Result<_, _>>()?;
                    Ok::<_, std::io::Error>(values)
                })();
                // Files are read one by one, so a swap between two reads is
                // seen as two sets; each file must still be there.
                let values = read.expect("every file of the set is there at every instant");
                assert_eq!(values.len(), 3);
                seen += 1;
            }
            seen
        });
        let published = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for n in 1..200 {
                publish(n);
            }
        }));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = reader.join().unwrap();
        published.unwrap();
        seen
    });
    assert!(seen > 0);
    assert_eq!(fs::read_to_string(target.join("a.json")).unwrap(), "199");
}

#[test]
fn a_killed_run_leaves_its_staging_which_the_next_writer_removes() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loopcap"))
        .arg("run")
        .arg(model_path("mmc.toml"))
        .args(["--set", "duration=1000h", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let staging = |root: &Path| -> Vec<String> {
        fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("staging"))
            .collect()
    };
    // Killed once its staging carries loopcap's mark: a kill between
    // making the directory and marking it leaves one the next writer
    // cannot tell is loopcap's, and rightly keeps.
    let marked = |root: &Path| {
        staging(root)
            .iter()
            .any(|n| root.join(n).join(".loopcap-staging").exists())
    };
    let start = Instant::now();
    while !marked(root.path()) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(staging(root.path()).len(), 1, "the killed run's staging");
    assert!(!out.exists(), "no half-written set");
    assert!(run_out(&out, &[]).status.success());
    assert!(
        staging(root.path()).is_empty(),
        "removed by the next writer"
    );
}

#[test]
fn a_mount_point_gets_its_set_file_by_file_behind_the_marker() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "loopcap-test"])
        .arg(&mnt)
        .output();
    if !mounted.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (not root, or no mount)");
        return;
    }
    let result = std::panic::catch_unwind(|| {
        assert!(run_out(&mnt, &[]).status.success());
        let first = contents(&mnt);
        assert!(run_out(&mnt, &["--force", "--seed", "9"]).status.success());
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            contents(&mnt).keys().collect::<Vec<_>>()
        );
        assert_ne!(first, contents(&mnt));
        verify(&mnt).unwrap();
        let marker = Marker::read(&mnt).unwrap().unwrap();
        assert_eq!(marker.state, State::Written);
    });
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    result.unwrap();
}

#[test]
fn readers_refuse_a_set_whose_file_changed_since_loopcap_wrote_it() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(run_out(&out, &[]).status.success());
    fs::write(out.join("summary.json"), "{}").unwrap();
    for args in [
        vec!["report".to_owned(), out.display().to_string()],
        vec![
            "run".to_owned(),
            out.join("manifest.json").display().to_string(),
        ],
        vec![
            "compare".to_owned(),
            out.display().to_string(),
            out.display().to_string(),
        ],
        vec![
            "plot".to_owned(),
            out.join("timeseries.csv").display().to_string(),
            "--out".to_owned(),
            root.path().join("figures").display().to_string(),
        ],
    ] {
        let output = loopcap().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(
            stderr(&output).contains("summary.json (changed)"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    // A set still being written is not read either.
    let marker = Marker::read(&out).unwrap().unwrap();
    Marker::writing(Kind::Run, marker.files.into_keys())
        .write(&out)
        .unwrap();
    let output = loopcap().arg("report").arg(&out).output().unwrap();
    assert!(
        stderr(&output).contains("still being written"),
        "{output:?}"
    );
    assert!(out.join(MARKER).exists());
}

#[test]
fn report_and_plot_add_to_a_set_and_never_write_over_a_users_file() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    assert!(run_out(&out, &[]).status.success());
    let page = root.path().join("page.html");
    fs::write(&page, "my own page").unwrap();
    let output = loopcap()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr(&output).contains("loopcap did not write it"));
    assert_eq!(fs::read_to_string(&page).unwrap(), "my own page");
    for _ in 0..2 {
        assert!(
            loopcap()
                .arg("report")
                .arg(&out)
                .output()
                .unwrap()
                .status
                .success()
        );
    }
    let plot = loopcap()
        .arg("plot")
        .arg(out.join("timeseries.csv"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(plot.status.success(), "{plot:?}");
    let marker = Marker::read(&out).unwrap().unwrap();
    for file in [
        "report.html",
        "timeseries.png",
        "timeseries.svg",
        "summary.json",
    ] {
        assert!(marker.files.contains_key(file), "{file}: {marker:?}");
    }
    verify(&out).unwrap();
    // And a --force run removes them with the rest of loopcap's set.
    assert!(run_out(&out, &["--force"]).status.success());
    assert!(!out.join("report.html").exists());
}

#[test]
fn a_sweep_and_a_sizing_in_place_are_sealed_and_force_removes_only_loopcaps_files() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("sweep");
    let experiment = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small-sweep.toml");
    let sweep = |extra: &[&str]| sweep_out(&experiment, &out, extra);
    assert!(sweep(&[]).status.success());
    verify(&out).unwrap();
    assert_eq!(Marker::read(&out).unwrap().unwrap().kind, Kind::Sweep);
    // A sweep refused before writing (no --resume) leaves the set readable.
    assert_eq!(sweep(&[]).status.code(), Some(2));
    verify(&out).unwrap();
    let run_into_sweep = run_out(&out, &["--force"]);
    assert!(
        stderr(&run_into_sweep).contains("holds a sweep, not a run's outputs"),
        "{run_into_sweep:?}"
    );
    // And a sweep into a run's directory says so (it advised --resume,
    // which then failed).
    let run_dir = root.path().join("run");
    assert!(run_out(&run_dir, &[]).status.success());
    let sweep_into_run = sweep_out(&experiment, &run_dir, &[]);
    assert_eq!(sweep_into_run.status.code(), Some(2));
    assert!(
        stderr(&sweep_into_run).contains("holds a run's outputs, not a sweep"),
        "{sweep_into_run:?}"
    );
    fs::write(out.join("notes.txt"), "mine").unwrap();
    assert_eq!(sweep(&["--force"]).status.code(), Some(2));
    fs::remove_file(out.join("notes.txt")).unwrap();
    assert!(sweep(&["--force", "--seed", "5"]).status.success());
    verify(&out).unwrap();
    let sizing = root.path().join("sizing");
    let size = |extra: &[&str]| {
        loopcap()
            .arg("size")
            .arg(model_path("mmc.toml"))
            .args(SHORT)
            .args(["--slo", "queue_wait_s.mean <= 1", "--replications", "2"])
            .arg("--out")
            .arg(&sizing)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(size(&["--over", "capacity.lanes=8..12"]).status.success());
    verify(&sizing).unwrap();
    let other = size(&["--over", "capacity.lanes=8..20"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(stderr(&other).contains("add --force"), "{other:?}");
    verify(&sizing).unwrap();
    assert!(
        size(&["--over", "capacity.lanes=8..20", "--force"])
            .status
            .success()
    );
    verify(&sizing).unwrap();
}

/// A request trace in CSV, `rows` of (time in ms, input, output).
fn csv_trace(path: &Path, rows: &[(u64, u32, u32)]) {
    let mut text = String::from("ts,in,out\n");
    for (t, i, o) in rows {
        text.push_str(&format!("{t},{i},{o}\n"));
    }
    fs::write(path, text).unwrap();
}

fn fit_to(trace: &Path, out: &Path) -> Output {
    loopcap()
        .arg("fit")
        .arg(trace)
        .args([
            "--format",
            "csv",
            "--columns",
            "time = \"ts\", time_unit = \"ms\", input = \"in\", output = \"out\"",
            "--replications",
            "2",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn fit_never_writes_over_its_trace_or_a_users_model_and_writes_nothing_it_cannot_read() {
    let root = tempfile::tempdir().unwrap();
    let trace = root.path().join("victim.csv");
    let rows: Vec<(u64, u32, u32)> = (0..40u32)
        .map(|i| {
            (
                u64::from(i) * 1_500 + u64::from(i % 7) * 100,
                100 + i,
                10 + i % 5,
            )
        })
        .collect();
    csv_trace(&trace, &rows);
    let before = contents(root.path());
    let output = fit_to(&trace, &trace);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("which is the trace being fitted"),
        "{output:?}"
    );
    // Through another name for the same file, too.
    let output = fit_to(&trace, &root.path().join("./sub/../victim.csv"));
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let mine = root.path().join("mine.toml");
    fs::write(&mine, "name = \"mine\"\n").unwrap();
    let output = fit_to(&trace, &mine);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("loopcap did not write it"),
        "{output:?}"
    );
    fs::remove_file(&mine).unwrap();
    let mut after = contents(root.path());
    after.retain(|path, _| !path.to_string_lossy().ends_with(".loopcap-lock"));
    assert_eq!(after, before, "only lock files were added");
    // A model fit wrote is written over by the next fit.
    let fitted = root.path().join("fitted.toml");
    assert!(fit_to(&trace, &fitted).status.success());
    assert!(fit_to(&trace, &fitted).status.success());
    // All rows at one instant: refused before anything is written (it
    // wrote `per_min = inf`, and then failed to read its own model).
    let same_time = root.path().join("same-time.csv");
    csv_trace(&same_time, &[(5, 100, 10); 6]);
    let out = root.path().join("same-time.toml");
    let output = fit_to(&same_time, &out);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr(&output).contains("all 6 rows share one time"),
        "{output:?}"
    );
    assert!(!out.exists());
    let left: Vec<String> = fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".loopcap-staging-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A model replaying `trace.csv` (beside it), and that trace with `rows` rows.
fn trace_model(dir: &Path, rows: u32) -> PathBuf {
    let mut text = String::from("ms,in,out\n");
    for i in 0..rows {
        text.push_str(&format!("{},100,10\n", i * 600));
    }
    fs::write(dir.join("trace.csv"), text).unwrap();
    fs::write(dir.join("other.csv"), "ms,in,out\n0,1,1\n500,1,1\n").unwrap();
    let model = dir.join("replay.toml");
    fs::write(
        &model,
        r#"name = "replay"
seed = 1
duration = "2m"

[[workload]]
name = "requests"
agent = "a"
trace = { file = "trace.csv", format = "csv", columns = { time = "ms", time_unit = "ms", input = "in", output = "out" } }

[agents.a]
steps = 1
input_tokens = 1
output_tokens = 1
max_output_tokens = 100

[capacity]
kind = "reserved"
lanes = 2
time_to_first_token = "100ms"
"#,
    )
    .unwrap();
    model
}

#[test]
fn a_trace_is_fingerprinted_and_a_rerun_after_it_changed_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let model = trace_model(root.path(), 100);
    let out = root.path().join("run");
    let run = loopcap()
        .arg("run")
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let rerun = || {
        loopcap()
            .arg("run")
            .arg(out.join("manifest.json"))
            .output()
            .unwrap()
    };
    assert!(rerun().status.success());
    // Cut to 39 rows: it reran with 39 loops, silently.
    trace_model(root.path(), 39);
    let refused = rerun();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stderr(&refused).contains("trace.csv changed since it was recorded"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn a_trace_only_a_grid_value_names_is_fingerprinted_for_resume_and_rerun() {
    let root = tempfile::tempdir().unwrap();
    trace_model(root.path(), 100);
    let experiment = root.path().join("exp.toml");
    fs::write(
        &experiment,
        "name = \"traces\"\nmodel = \"replay.toml\"\nseed = 1\nreplications = 1\n\n[grid]\nworkload.requests.trace.file = [\"trace.csv\", \"other.csv\"]\n",
    )
    .unwrap();
    let out = root.path().join("sweep");
    let sweep = |extra: &[&str]| sweep_out(&experiment, &out, extra);
    let first = sweep(&["--shard", "0/2"]);
    assert!(first.status.success(), "{first:?}");
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("other.csv"), "{manifest}");
    fs::write(root.path().join("other.csv"), "ms,in,out\n0,1,1\n").unwrap();
    let resumed = sweep(&["--resume"]);
    assert_eq!(resumed.status.code(), Some(2), "{resumed:?}");
    assert!(
        stderr(&resumed).contains("a data file changed since the sweep began (other.csv)"),
        "{}",
        stderr(&resumed)
    );
    let rerun = loopcap()
        .arg("run")
        .arg(&out)
        .args(["--run", "0"])
        .output()
        .unwrap();
    assert_eq!(rerun.status.code(), Some(2), "{rerun:?}");
}

#[test]
fn a_sizing_resumed_after_its_trace_changed_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let model = trace_model(root.path(), 100);
    let out = root.path().join("sizing");
    let size = || {
        loopcap()
            .arg("size")
            .arg(&model)
            .args([
                "--slo",
                "loops_failed_share <= 1%",
                "--over",
                "capacity.lanes=1..4",
                "--replications",
                "2",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap()
    };
    assert!(size().status.success());
    assert!(size().status.success(), "the same sizing resumes");
    trace_model(root.path(), 39);
    let refused = size();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        stderr(&refused).contains("a data file changed since the sizing began (trace.csv)"),
        "{}",
        stderr(&refused)
    );
}

/// Outputs get the mode the umask gives, as any file a program writes:
/// under umask 027 a run's directory is 0750 and its files 0640, a sweep's
/// report 0640 (a temporary's 0600 would make a report served from a shared
/// folder unreadable; 0644 regardless of the umask would ignore the user's).
#[cfg(unix)]
#[test]
fn outputs_take_the_mode_the_umask_gives() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let bin = assert_cmd::cargo::cargo_bin("loopcap");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"umask 027 && "$0" run "$1" --set duration=10m --out "$2" >/dev/null && "$0" report "$2" >/dev/null"#)
        .arg(&bin)
        .arg(model_path("mmc.toml"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o750, "the run's directory");
    let mut files = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o640, "{}", path.display());
        files += 1;
    }
    assert!(files >= 5, "{files} files, report.html among them");
}
