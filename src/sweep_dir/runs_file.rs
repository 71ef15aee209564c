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
use crate::error::ReadError;

/// The rows of a runs.csv, by run index, as their CSV text (no newline).
pub type Rows = BTreeMap<usize, String>;

/// The columns that identify a run, first in every row.
pub const ID_COLUMNS: [&str; 4] = ["run", "point", "replication", "seed"];

/// The index of the first metric column: after the run's identity and one
/// column per grid axis.
pub fn first_metric(axes: usize) -> usize {
    ID_COLUMNS.len() + axes
}

/// The cells of one runs.csv row, if it has `columns` of them.
pub fn cells(line: &str, columns: usize) -> Option<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .filter(|r| r.len() == columns)
}

/// The complete rows of the runs.csv at `path` (a torn last line, from a
/// sweep killed mid-write, is dropped). The header must be `header`, every
/// run one of the experiment's `runs`, and every cell from column
/// `first_metric` on empty or a number.
pub fn read_rows(
    path: &Path,
    header: &str,
    runs: usize,
    first_metric: usize,
) -> Result<Rows, ReadError> {
    let text = fs::read_to_string(path).map_err(ReadError::io(path))?;
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut lines = complete.lines();
    match lines.next() {
        Some(h) if h == header => {}
        _ => {
            return Err(ReadError::bad(format!(
                "{} was written for other columns (another experiment or loopcap version)",
                path.display()
            )));
        }
    }
    let names: Vec<&str> = header.split(',').collect();
    let mut rows = Rows::new();
    for (n, line) in lines.enumerate() {
        let at = format!("{}:{}", path.display(), n + 2);
        let record = cells(line, names.len())
            .ok_or_else(|| ReadError::bad(format!("{at}: not a row of {} columns", names.len())))?;
        for (cell, name) in record.iter().zip(&names).skip(first_metric) {
            if !cell.is_empty() && cell.parse::<f64>().is_err() {
                return Err(ReadError::bad(format!(
                    "{at}: column {name}: `{cell}` is not a number"
                )));
            }
        }
        let run = line
            .split(',')
            .next()
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| ReadError::bad(format!("{at}: not a run row")))?;
        if run >= runs {
            return Err(ReadError::bad(format!(
                "{at}: run {run} is not one of this experiment's {runs} runs (0 to {}): the file is from another sweep",
                runs.saturating_sub(1)
            )));
        }
        if rows
            .insert(run, line.to_owned())
            .is_some_and(|old| old != line)
        {
            return Err(ReadError::bad(format!(
                "{}: run {run} appears twice, with different results",
                path.display()
            )));
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
        let rows = read_rows(&path, "run,x", 3, 2).unwrap();
        let err = read_rows(&path, "run,x", 2, 2).unwrap_err().to_string();
        assert!(err.ends_with("runs.csv:2: run 2 is not one of this experiment's 2 runs (0 to 1): the file is from another sweep"), "{err}");
        assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert!(
            read_rows(&path, "run,y", 3, 2)
                .unwrap_err()
                .to_string()
                .contains("other columns")
        );
        write_sorted(&path, "run,x", &rows).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "run,x\n0,a\n2,b\n");
    }

    #[test]
    fn a_cell_that_is_not_a_number_is_named_with_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        fs::write(&path, "run,label,m\n0,\"a, b\",1.5\n1,c,\n2,d,NOTANUMBER\n").unwrap();
        let err = read_rows(&path, "run,label,m", 3, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("runs.csv:4: column m: `NOTANUMBER` is not a number"),
            "{err}"
        );
        fs::write(&path, "run,label,m\n0,a\n").unwrap();
        let err = read_rows(&path, "run,label,m", 3, 2)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("runs.csv:2: not a row of 3 columns"), "{err}");
        // NaN and infinities are numbers: figures draw them as gaps.
        fs::write(&path, "run,label,m\n0,a,NaN\n1,b,inf\n").unwrap();
        assert_eq!(read_rows(&path, "run,label,m", 3, 2).unwrap().len(), 2);
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
