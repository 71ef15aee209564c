//! `FieldPath`: where a value lives in a model file, as a dotted path
//! (`workload.developers.users`), the way `--set` and error messages write it.

use std::fmt;

/// A dotted path to a field of a model or experiment file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    /// The path of a top-level key.
    pub fn root(key: &str) -> Self {
        FieldPath(key.to_owned())
    }

    /// The path of `key` inside this table (or element `key` of this array).
    pub fn child(&self, key: impl fmt::Display) -> Self {
        if self.0.is_empty() {
            FieldPath(key.to_string())
        } else {
            FieldPath(format!("{}.{key}", self.0))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<FieldPath> for String {
    fn from(path: FieldPath) -> String {
        path.0
    }
}

impl From<&FieldPath> for String {
    fn from(path: &FieldPath) -> String {
        path.0.clone()
    }
}
