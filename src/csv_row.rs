//! CSV rows as text: one line of fields, and how a metric is written in a cell.

/// One CSV line (without its newline) for `fields`.
pub fn csv_line<I, S>(fields: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).expect("writing to memory");
    let mut bytes = w.into_inner().expect("writing to memory");
    bytes.pop(); // the record's newline
    String::from_utf8(bytes).expect("fields are UTF-8")
}

/// Formats a metric: shortest round-trip decimal, empty when undefined.
pub fn cell(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_quote_what_needs_quoting() {
        assert_eq!(
            csv_line(["1", "a b", "{ kind = \"none\" }", "x,y"]),
            "1,a b,\"{ kind = \"\"none\"\" }\",\"x,y\""
        );
    }

    #[test]
    fn cells_are_shortest_round_trip_decimals_or_empty() {
        assert_eq!(cell(Some(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(cell(Some(3.0)), "3");
        assert_eq!(cell(None), "");
    }
}
