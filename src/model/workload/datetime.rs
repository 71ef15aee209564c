//! Date-times as traces write them, to microseconds since 1970 (UTC).

/// `YYYY-MM-DD HH:MM:SS[.fraction]` as microseconds since 1970 (UTC).
pub fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Microseconds from the first six digits of the fraction.
    let micros: i64 = format!("{fraction:0<6}")[..6].parse().ok()?;
    Some(((days_from_civil(y, m, day) * 24 + h) * 60 + min) * 60_000_000 + s * 1_000_000 + micros)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_to_microseconds_since_1970() {
        assert_eq!(parse_datetime("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_datetime("1970-01-02 00:00:01.5"),
            Some(86_401_500_000)
        );
        // 2023-11-16 is day 19,677 since 1970 (checked with Python's datetime).
        assert_eq!(
            parse_datetime("2023-11-16 18:17:03.9799600"),
            Some(19_677 * 86_400_000_000 + (18 * 3600 + 17 * 60 + 3) * 1_000_000 + 979_960)
        );
        assert_eq!(
            parse_datetime("2024-02-29T12:00:00"),
            Some(19_782 * 86_400_000_000 + 12 * 3_600_000_000)
        );
        assert_eq!(parse_datetime("2023-13-01 00:00:00"), None);
        assert_eq!(parse_datetime("yesterday"), None);
    }
}
