//! Errors and warnings that say where the problem is and what would be valid.

use std::fmt;

/// A problem found at a dotted path of a model, before its line is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl Invalid {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A located problem: `models/coding.toml:14: capacity.requests_per_min: must be > 0 (got -5)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostic {
    /// The file, or the command-line flag, the problem comes from.
    pub origin: String,
    pub line: Option<usize>,
    pub path: Option<String>,
    pub message: String,
}

impl Diagnostic {
    /// A problem with a whole file or flag rather than one field.
    pub fn general(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            origin: origin.into(),
            line: None,
            path: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            write!(f, "{path}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// A problem in a file read back (a manifest's model or experiment) is bad input.
impl From<Diagnostic> for crate::error::ReadError {
    fn from(d: Diagnostic) -> Self {
        crate::error::ReadError::bad(d.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_path_and_message() {
        let d = Diagnostic {
            origin: "models/coding.toml".into(),
            line: Some(14),
            path: Some("capacity.requests_per_min".into()),
            message: "must be > 0 (got -5)".into(),
        };
        assert_eq!(
            d.to_string(),
            "models/coding.toml:14: capacity.requests_per_min: must be > 0 (got -5)"
        );
        assert_eq!(
            Diagnostic::general("--set x", "expected PATH=VALUE").to_string(),
            "--set x: expected PATH=VALUE"
        );
    }
}
