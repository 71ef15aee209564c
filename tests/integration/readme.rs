//! The README cannot drift: its commands run, its printed output is what
//! the command prints, and every number its prose quotes is checked
//! against where it comes from (docs/readme-numbers.toml says where).
//!
//! Sweep numbers are checked against docs/results/<experiment>.csv, the
//! points.csv files `scripts/readme-figures.sh` writes; CI runs that script
//! with `--check`, which fails if the code no longer gives those files.
//! Run numbers are checked by running the command here.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::support::{documentation, documented_run, loopcap};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README with the guide it leads to.
fn readme() -> String {
    documentation()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Numbers {
    run: Vec<RunNumbers>,
    sweep: Vec<SweepNumbers>,
    size: Vec<SizeNumbers>,
}

/// Numbers from `loopcap size ARGS --json`: a metric's path in its
/// answer, a list's element named by its `name` (`plans.48 lanes.cost_per_month_usd`);
/// an interval's mean, with its half-width for a claim with a `±`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SizeNumbers {
    args: Vec<String>,
    claims: Vec<Claim>,
}

/// Numbers from `loopcap run ARGS --json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNumbers {
    args: Vec<String>,
    claims: Vec<Claim>,
}

/// Numbers from a shipped experiment's points.csv.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepNumbers {
    experiment: String,
    claims: Vec<Claim>,
}

/// A passage of the README and the metric its number comes from: the last
/// number of the passage, or with a `±` the one before it (and the one
/// after it the half-width of the 95% interval).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    text: String,
    metric: String,
    /// The point (axis labels, as points.csv has them); sweeps only.
    #[serde(default)]
    at: BTreeMap<String, String>,
    /// A factor the metric is multiplied by first.
    scale: Option<f64>,
    /// The number is 1 / metric.
    #[serde(default)]
    inverse: bool,
}

impl Claim {
    /// The quoted value from the metric's.
    fn value(&self, metric: Option<f64>) -> Option<f64> {
        let v = metric? * self.scale.unwrap_or(1.0);
        Some(if self.inverse { 1.0 / v } else { v })
    }
}

/// A number as the README writes it: its text, decimals, thousands
/// separators and whether it is a percentage.
#[derive(Debug)]
struct Written {
    text: String,
    decimals: usize,
    grouped: bool,
    percent: bool,
}

/// The numbers in `text`, in order.
fn numbers(text: &str) -> Vec<Written> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || ((chars[j] == ',' || chars[j] == '.')
                    && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
        {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect();
        out.push(Written {
            decimals: number.split_once('.').map_or(0, |(_, d)| d.len()),
            grouped: number.contains(','),
            percent: chars.get(j) == Some(&'%'),
            text: number,
        });
        i = j;
    }
    out
}

/// `value` written as `like` is.
fn write_like(value: f64, like: &Written) -> String {
    let value = if like.percent { value * 100.0 } else { value };
    let plain = format!("{value:.*}", like.decimals);
    if !like.grouped {
        return plain;
    }
    let (int, frac) = plain
        .split_once('.')
        .map_or((plain.as_str(), None), |(i, f)| (i, Some(f)));
    let digits: Vec<char> = int.chars().collect();
    let mut grouped = String::new();
    for (k, d) in digits.iter().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(*d);
    }
    match frac {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// Checks one claim against `value` (and `half`, its interval), returning
/// what is wrong, if anything.
fn check(claim: &Claim, value: Option<f64>, half: Option<f64>, readme: &str) -> Option<String> {
    if !readme.contains(&claim.text) {
        return Some(format!("`{}` is not in the README", claim.text));
    }
    let (quoted, interval) = match claim.text.split_once('±') {
        Some((before, after)) => (numbers(before).pop(), numbers(after).into_iter().next()),
        None => (numbers(&claim.text).pop(), None),
    };
    let Some(quoted) = quoted else {
        return Some(format!("`{}` quotes no number", claim.text));
    };
    let Some(value) = value else {
        return Some(format!("`{}`: {} has no value", claim.text, claim.metric));
    };
    let mut wrong = Vec::new();
    if write_like(value, &quoted) != quoted.text {
        wrong.push(format!(
            "{} is {}",
            claim.metric,
            write_like(value, &quoted)
        ));
    }
    if claim.text.contains('±') {
        match (&interval, half) {
            (Some(w), Some(h)) if write_like(h, w) != w.text => {
                wrong.push(format!("its 95% half-width is {}", write_like(h, w)));
            }
            (Some(_), Some(_)) => {}
            _ => wrong.push("a ± with no interval".to_owned()),
        }
    }
    (!wrong.is_empty()).then(|| format!("`{}`: {}", claim.text, wrong.join(", ")))
}

fn numbers_file() -> Numbers {
    let text = fs::read_to_string(root().join("docs/readme-numbers.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("docs/readme-numbers.toml: {e}"))
}

#[test]
fn numbers_are_read_as_the_readme_writes_them() {
    let n = numbers("1,090 ± 89 s, 16.9% ± 5.8%, p99 and 0.0474; x2");
    let texts: Vec<&str> = n.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(texts, ["1,090", "89", "16.9", "5.8", "0.0474"]);
    assert_eq!(write_like(1089.6, &n[0]), "1,090");
    assert_eq!(write_like(0.1694, &n[2]), "16.9");
    assert_eq!(write_like(0.0474, &n[4]), "0.0474");
    assert_eq!(write_like(1234567.0, &n[0]), "1,234,567");
    // A nudge that changes the written digits is caught.
    let claim = Claim {
        text: "16.9% ± 5.8%".to_owned(),
        metric: "m".to_owned(),
        at: BTreeMap::new(),
        scale: None,
        inverse: false,
    };
    let readme = "it fails 16.9% ± 5.8% of the time";
    assert_eq!(check(&claim, Some(0.1694), Some(0.058), readme), None);
    assert!(check(&claim, Some(0.1724), Some(0.058), readme).is_some());
    assert!(check(&claim, Some(0.1694), Some(0.061), readme).is_some());
    assert!(check(&claim, Some(0.1694), None, readme).is_some());
}

#[test]
fn every_sweep_number_in_the_readme_is_its_experiments_result() {
    let readme = readme();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for sweep in numbers_file().sweep {
        let path = root().join(format!("docs/results/{}.csv", sweep.experiment));
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let header = reader.headers().unwrap().clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let col = |name: &str| header.iter().position(|h| h == name);
        for claim in &sweep.claims {
            let matching: Vec<&csv::StringRecord> = rows
                .iter()
                .filter(|r| {
                    claim
                        .at
                        .iter()
                        .all(|(axis, label)| col(axis).is_some_and(|c| &r[c] == label))
                })
                .collect();
            let [row] = matching.as_slice() else {
                wrong.push(format!(
                    "{}: `{}`: {:?} picks {} points, not one",
                    sweep.experiment,
                    claim.text,
                    claim.at,
                    matching.len()
                ));
                continue;
            };
            let cell = |name: &str| col(name).and_then(|c| row[c].parse::<f64>().ok());
            let half = cell(&format!("{}.ci95", claim.metric));
            if let Some(w) = check(claim, claim.value(cell(&claim.metric)), half, &readme) {
                wrong.push(format!("{}: {w}", sweep.experiment));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 30, "only {checked} numbers checked");
}

#[test]
fn every_run_number_in_the_readme_is_what_the_run_prints() {
    let readme = readme();
    let mut wrong = Vec::new();
    for run in numbers_file().run {
        let out = loopcap()
            .current_dir(root())
            .arg("run")
            .args(&run.args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}: {out:?}", run.args);
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        for claim in &run.claims {
            let found = at_path(&summary, &claim.metric);
            // With --replications, a metric is a mean and the half-width
            // of its 95% interval.
            let (value, half) = match found.and_then(|v| v.get("mean")) {
                Some(mean) => (mean.as_f64(), found.and_then(|v| v["ci95"].as_f64())),
                None => (found.and_then(Value::as_f64), None),
            };
            if let Some(w) = check(claim, claim.value(value), half, &readme) {
                wrong.push(format!("{:?}: {w}", run.args));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The value at `path` in `json`: each segment a field (or several
/// segments one dotted field, as `size` names an axis), or in a list the
/// element at that index or with that `name`.
fn at_path<'a>(json: &'a Value, path: &str) -> Option<&'a Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut here = json;
    let mut i = 0;
    while i < segments.len() {
        let key = segments[i];
        here = match here {
            Value::Array(items) => match key.parse::<usize>() {
                Ok(n) => items.get(n)?,
                Err(_) => items.iter().find(|item| item["name"] == key)?,
            },
            _ => {
                // The shortest run of segments that names a field.
                let (j, v) = (i..segments.len())
                    .find_map(|j| Some((j, here.get(segments[i..=j].join("."))?)))?;
                i = j;
                v
            }
        };
        i += 1;
    }
    Some(here)
}

#[test]
fn every_size_number_in_the_readme_is_what_size_answers() {
    let readme = readme();
    let mut wrong = Vec::new();
    let sizes = numbers_file().size;
    assert!(!sizes.is_empty());
    for size in sizes {
        // The run the guide's printed table is checked on, where it shows one.
        let args: Vec<String> = std::iter::once("size".to_owned())
            .chain(size.args.iter().cloned())
            .collect();
        let run = documented_run(&args);
        let answer = run
            .answer
            .as_ref()
            .unwrap_or_else(|| panic!("{:?}: no answer: {:?}", size.args, run.output));
        for claim in &size.claims {
            let found = at_path(answer, &claim.metric);
            let (value, half) = match found {
                Some(Value::Array(pair)) => (pair[0].as_f64(), pair[1].as_f64()),
                other => (other.and_then(Value::as_f64), None),
            };
            if let Some(w) = check(claim, claim.value(value), half, &readme) {
                wrong.push(format!("{:?}: {w}", size.args));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The concrete commands of the README's code blocks and inline code:
/// `cargo run --release -- ...` (continued by `\` in blocks, wrapped across
/// lines inline), as argument lists.
fn readme_commands(readme: &str) -> Vec<Vec<String>> {
    const PREFIX: &str = "cargo run --release -- ";
    let mut commands = Vec::new();
    let mut prose = String::new();
    let mut in_block = false;
    for line in readme.replace("\\\n", " ").lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            if let Some(rest) = line.trim().strip_prefix(PREFIX) {
                commands.push(shell_words(rest.split(" # ").next().unwrap_or(rest)));
            }
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    for code in prose.split('`').skip(1).step_by(2) {
        let flat = code.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(rest) = flat.strip_prefix(PREFIX) {
            commands.push(shell_words(rest));
        }
    }
    commands
}

/// Splits a command line as a POSIX shell would, for the quoting the README uses.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Every concrete command in the README works: runs run (their `--out`
/// moved to a temporary directory, where a later `report` of the same
/// directory finds it), sweeps' experiments check (a sweep of a shipped
/// experiment takes too long in a debug build; the figures script runs
/// them all).
#[test]
fn every_readme_command_works() {
    let commands = readme_commands(&readme());
    assert!(commands.len() >= 6, "{commands:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut moved = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (i, args) in commands.iter().enumerate() {
        // A command the README and the guide both give runs once.
        if !seen.insert(args.clone()) {
            continue;
        }
        // `<name>` or `...` stand for what the reader fills in (`<=` is an SLO's).
        let has_placeholder = args.iter().any(|a| {
            a.contains("...")
                || a.match_indices('<')
                    .any(|(i, _)| a[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic()))
        });
        if has_placeholder {
            continue;
        }
        let mut args = args.clone();
        if let Some(k) = args.iter().position(|a| a == "--out") {
            let to = dir.path().join(i.to_string()).display().to_string();
            moved.insert(args[k + 1].clone(), to.clone());
            args[k + 1] = to;
        }
        if args[0] == "report" {
            let from = &args[1];
            args[1] = moved
                .get(from)
                .unwrap_or_else(|| panic!("README: `report {from}` before a command writes it"))
                .clone();
        }
        let run = match args[0].as_str() {
            "sweep" => vec!["check".to_owned(), args[1].clone()],
            _ => args.clone(),
        };
        let out = &documented_run(&run).output;
        // `size` exits 3 when no capacity meets the SLOs, as documented.
        let no_answer = args[0] == "size" && out.status.code() == Some(3);
        assert!(
            out.status.success() || no_answer,
            "README command `{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The summary the README prints under "Set-up" is what that command
/// prints: every line shown, in order (`...` stands for lines left out),
/// and nothing on stderr: the front door runs on a tier sold today.
#[test]
fn the_readme_summary_is_what_the_run_prints() {
    let readme = readme();
    let after = readme
        .split_once("prints a summary like this one")
        .expect("the set-up example")
        .1;
    let block = after.split("```").nth(1).unwrap().trim_matches('\n');
    let out = loopcap()
        .current_dir(root())
        .args(["run", "models/coding-agents-shared.toml"])
        .output()
        .unwrap();
    let warned = String::from_utf8(out.stderr).unwrap();
    assert!(warned.is_empty(), "{warned}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let mut lines = printed.lines();
    for shown in block.lines().filter(|l| l.trim() != "...") {
        assert!(
            lines.any(|l| l == shown),
            "the README shows `{shown}`, which the run does not print (in that order):\n{printed}"
        );
    }
}

#[test]
fn commands_are_found_and_split_as_a_shell_would() {
    assert_eq!(
        shell_words(r#"run m.toml --set 'a=[{ at = "2h" }]' --json"#),
        ["run", "m.toml", "--set", r#"a=[{ at = "2h" }]"#, "--json"]
    );
    let found = readme_commands(
        "```\ncargo run --release -- run a.toml \\\n    --set x=1   # note\n```\nand `cargo run --release -- run\nb.toml` inline",
    );
    assert_eq!(
        found,
        [vec!["run", "a.toml", "--set", "x=1"], vec!["run", "b.toml"]]
    );
    assert!(Path::new(&root().join("docs/readme-numbers.toml")).is_file());
}

/// The README is a front door a newcomer finishes: at most 400 lines, the
/// rest in the guide it links to; every relative link of the README and
/// the guide leads to a file there, and every `#anchor` to a heading in it.
#[test]
fn the_readme_is_short_and_every_link_leads_somewhere() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 400, "the README has {lines} lines");
    let mut pages = vec![root().join("README.md")];
    let guide = root().join("docs/guide");
    pages.extend(fs::read_dir(&guide).unwrap().map(|e| e.unwrap().path()));
    let slug = |heading: &str| -> String {
        heading
            .trim_start_matches('#')
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    };
    let mut checked = 0;
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        let linked = guide.strip_prefix(root()).unwrap();
        assert!(
            page.parent() != Some(&root()) || text.contains(&linked.display().to_string()),
            "the README does not lead to the guide"
        );
        for link in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            if link.starts_with("http") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                target.is_file(),
                "{}: `{link}` leads nowhere",
                page.display()
            );
            if !anchor.is_empty() {
                let headings = fs::read_to_string(&target).unwrap();
                assert!(
                    headings
                        .lines()
                        .filter(|l| l.starts_with('#'))
                        .any(|h| slug(h) == anchor),
                    "{}: `{link}`: no such heading",
                    page.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} links");
}

/// The tour's printed lines (and the guide's example of a verdict) are
/// what their commands print, and the answer the tour quotes is the first
/// line of the sizing the guide shows whole (which `sizing.rs` holds to
/// what `size` prints).
#[test]
fn the_tour_shows_what_its_commands_print() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let tour = readme
        .split_once("## A five-minute tour")
        .expect("a tour")
        .1
        .split("\n## ")
        .next()
        .unwrap();
    let blocks: Vec<&str> = tour.split("```").skip(1).step_by(2).collect();
    let printed = |args: &[&str]| {
        let out = loopcap().current_dir(root()).args(args).output().unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let run = printed(&["run", "models/coding-agents-reserved.toml"]);
    assert!(run.starts_with(blocks[1].trim_matches('\n')), "{run}");
    let surge = printed(&[
        "run",
        "models/coding-agents-reserved.toml",
        "--set",
        "capacity.lanes=8",
        "--set",
        "workload.developers.users=80",
    ]);
    assert!(
        surge
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .starts_with(blocks[5].trim_matches('\n')),
        "{surge}"
    );
    // The guide's example of a verdict.
    let reports = fs::read_to_string(root().join("docs/guide/02-reports.md")).unwrap();
    let example = reports
        .split_once("--set duration=30m`) opens:\n\n```\n")
        .expect("the verdict's example")
        .1
        .split("```")
        .next()
        .unwrap();
    let azure = printed(&[
        "run",
        "models/azure-code-replay.toml",
        "--set",
        "duration=30m",
    ]);
    assert!(azure.starts_with(example), "{azure}");
    let sizing = fs::read_to_string(root().join("docs/guide/07-sizing.md")).unwrap();
    let whole = sizing
        .split_once("--over capacity.lanes=1..64\n```\n")
        .unwrap()
        .1
        .split("```")
        .nth(1)
        .unwrap();
    assert_eq!(
        blocks[3].trim_matches('\n'),
        whole.trim_start_matches('\n').lines().next().unwrap()
    );
}
