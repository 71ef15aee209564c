//! `runs.csv`: one row per finished run. Rows are appended and flushed as
//! runs finish, in whatever order threads finish them, so an interrupted
//! sweep loses only the runs in flight; when the sweep ends the file is
//! rewritten in run order, so its bytes do not depend on the thread count.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use crate::atomic_file;

/// The rows of a runs.csv, by run index, as their CSV text (no newline).
pub type Rows = BTreeMap<usize, String>;

/// The complete rows of the runs.csv at `path` (a torn last line, from a
/// sweep killed mid-write, is dropped). The header must be `header`, and
/// every run one of the experiment's `runs`.
pub fn read_rows(path: &Path, header: &str, runs: usize) -> Result<Rows, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = complete.lines();
    match lines.next() {
        Some(h) if h == header => {}
        _ => {
            return Err(format!(
                "{} was written for other columns (another experiment or loopcap version)",
                path.display()
            ));
        }
    }
    let mut rows = Rows::new();
    for (n, line) in lines.enumerate() {
        let run = line
            .split(',')
            .next()
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| format!("{}:{}: not a run row", path.display(), n + 2))?;
        if run >= runs {
            return Err(format!(
                "{}:{}: run {run} is not one of this experiment's {runs} runs (0 to {}): the file is from another sweep",
                path.display(),
                n + 2,
                runs.saturating_sub(1)
            ));
        }
        if rows
            .insert(run, line.to_owned())
            .is_some_and(|old| old != line)
        {
            return Err(format!(
                "{}: run {run} appears twice, with different results",
                path.display()
            ));
        }
    }
    Ok(rows)
}

/// Writes `rows` in run order, atomically.
pub fn write_sorted(path: &Path, header: &str, rows: &Rows) -> io::Result<()> {
    atomic_file::write_file(path, |w| {
        writeln!(w, "{header}")?;
        for line in rows.values() {
            writeln!(w, "{line}")?;
        }
        Ok(())
    })
}

/// Appends rows to runs.csv as runs finish, flushing each.
pub struct Journal {
    file: Mutex<File>,
}

impl Journal {
    /// Opens `path` for appending; the file must already hold the header.
    pub fn open(path: &Path) -> io::Result<Journal> {
        Ok(Journal {
            file: Mutex::new(OpenOptions::new().append(true).open(path)?),
        })
    }

    pub fn append(&self, line: &str) -> io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // One write per row, so a kill leaves at most one torn line.
        file.write_all(format!("{line}\n").as_bytes())?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_drops_a_torn_last_line_and_checks_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        fs::write(&path, "run,x\n2,b\n0,a\n1,tor").unwrap();
        let rows = read_rows(&path, "run,x", 3).unwrap();
        let err = read_rows(&path, "run,x", 2).unwrap_err();
        assert!(err.ends_with("runs.csv:2: run 2 is not one of this experiment's 2 runs (0 to 1): the file is from another sweep"), "{err}");
        assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert!(
            read_rows(&path, "run,y", 3)
                .unwrap_err()
                .contains("other columns")
        );
        write_sorted(&path, "run,x", &rows).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "run,x\n0,a\n2,b\n");
    }

    #[test]
    fn the_journal_appends_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        fs::write(&path, "run\n").unwrap();
        let journal = Journal::open(&path).unwrap();
        journal.append("1").unwrap();
        journal.append("0").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "run\n1\n0\n");
    }
}
