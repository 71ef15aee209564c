//! Amounts of memory as people write them: `512MiB`, `4GiB`, `8G`.

use crate::error::BadInput;
use std::fmt;

const UNITS: [(&str, u64); 4] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// A number of bytes, shown in the largest binary unit it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match UNITS.iter().rev().find(|(_, size)| self.0 >= *size) {
            Some((unit, size)) => write!(f, "{:.1} {unit}", self.0 as f64 / *size as f64),
            None => write!(f, "{} bytes", self.0),
        }
    }
}

impl std::str::FromStr for Bytes {
    type Err = BadInput;

    /// A whole or decimal number with a unit: KiB, MiB, GiB, TiB (or K, M,
    /// G, T, meaning the same powers of 1024), or none for bytes.
    fn from_str(text: &str) -> Result<Self, BadInput> {
        let text = text.trim();
        let split = text
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len());
        let (number, unit) = (text[..split].trim(), &text[split..]);
        let size = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| unit == *name || unit == &name[..1])
                .map(|(_, size)| *size)
                .ok_or_else(|| {
                    BadInput(format!(
                        "unknown unit `{unit}` in `{text}`: use KiB, MiB, GiB or TiB"
                    ))
                })?
        };
        let value: f64 = number.parse().map_err(|_| {
            BadInput(format!(
                "`{text}` is not an amount of memory, e.g. 512MiB or 8GiB"
            ))
        })?;
        let bytes = value * size as f64;
        if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
            return Err(BadInput(format!(
                "`{text}` must be at least 1 byte and below 16 EiB"
            )));
        }
        Ok(Bytes(bytes as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_show_in_binary_units() {
        assert_eq!("4GiB".parse(), Ok(Bytes(4 << 30)));
        assert_eq!("4G".parse(), Ok(Bytes(4 << 30)));
        assert_eq!("1.5 MiB".parse(), Ok(Bytes(3 << 19)));
        assert_eq!("100".parse(), Ok(Bytes(100)));
        assert!(
            "4GB"
                .parse::<Bytes>()
                .unwrap_err()
                .to_string()
                .contains("unknown unit `GB`")
        );
        assert!("0".parse::<Bytes>().is_err());
        assert!("lots".parse::<Bytes>().is_err());
        assert_eq!(Bytes(4 << 30).to_string(), "4.0 GiB");
        assert_eq!(Bytes(3 << 19).to_string(), "1.5 MiB");
        assert_eq!(Bytes(1000).to_string(), "1000 bytes");
    }
}
