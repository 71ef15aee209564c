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

/// `x` with at least `digits` significant digits, its whole part never
/// rounded, without trailing zeros: 1234.5678 to 6 digits is 1234.57, to
/// 4 digits 1235; 0.000123456 to 4 digits is 0.0001235.
pub fn significant(x: f64, digits: i32) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let decimals = (digits - 1 - x.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_significant_digits() {
        assert_eq!(significant(1234.5678, 6), "1234.57");
        assert_eq!(significant(1234.5678, 4), "1235");
        assert_eq!(significant(42883.0, 4), "42883");
        assert_eq!(significant(0.000123456789, 6), "0.000123457");
        assert_eq!(significant(0.187, 4), "0.187");
        assert_eq!(significant(3.0, 6), "3");
        assert_eq!(significant(0.0, 4), "0");
    }

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
