//! Reading one numeric column of a CSV file, for empirical distributions.

use std::path::Path;

use crate::error::BadInput;
use crate::model::workload::trace::open_data;

/// The values of column `column` (by header name) in the CSV file at `path`.
/// Blank cells are skipped; anything else that is not a number is an error.
pub fn read_column(path: &Path, column: &str) -> Result<Vec<f64>, BadInput> {
    let shown = path.display();
    let file = open_data(path).map_err(|e| BadInput(format!("{shown}: {e}")))?;
    let mut reader = csv::Reader::from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| BadInput(format!("cannot read the header of {shown}: {e}")))?
        .clone();
    let index = headers
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| {
            let names: Vec<&str> = headers.iter().collect();
            BadInput(format!(
                "{shown} has no column `{column}` (its columns: {})",
                names.join(", ")
            ))
        })?;
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| BadInput(format!("cannot read {shown}: {e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        let cell = record.get(index).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        let value: f64 = cell.parse().map_err(|_| {
            BadInput(format!(
                "{shown}:{line}: column `{column}`: `{cell}` is not a number"
            ))
        })?;
        values.push(value);
    }
    if values.is_empty() {
        return Err(BadInput(format!(
            "column `{column}` of {shown} has no values"
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn csv(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_a_named_column_skipping_blanks() {
        let f = csv("a,tokens\n1,10\n2,\n3,30.5\n");
        assert_eq!(read_column(f.path(), "tokens").unwrap(), [10.0, 30.5]);
    }

    #[test]
    fn explains_missing_columns_bad_cells_and_empty_columns() {
        let f = csv("a,b\n1,2\n");
        assert!(
            read_column(f.path(), "c")
                .unwrap_err()
                .to_string()
                .contains("no column `c` (its columns: a, b)")
        );
        let f = csv("a\n1\nlots\n");
        let err = read_column(f.path(), "a").unwrap_err().to_string();
        assert!(
            err.contains(":3: column `a`: `lots` is not a number"),
            "{err}"
        );
        let f = csv("a\n");
        assert!(
            read_column(f.path(), "a")
                .unwrap_err()
                .to_string()
                .contains("has no values")
        );
        assert!(
            read_column(Path::new("/no/such.csv"), "a")
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
