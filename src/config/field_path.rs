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

/// The leaves of a nested table with their dotted paths, in file order:
/// tables are descended into unless `is_leaf` says a value is a leaf.
pub fn leaves<'t>(
    table: &'t toml::Table,
    prefix: &FieldPath,
    is_leaf: &impl Fn(&toml::Value) -> bool,
) -> Vec<(FieldPath, &'t toml::Value)> {
    let mut out = Vec::new();
    for (key, value) in table {
        let path = prefix.child(key);
        match value {
            toml::Value::Table(inner) if !is_leaf(value) => {
                out.extend(leaves(inner, &path, is_leaf));
            }
            _ => out.push((path, value)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_flatten_nested_tables_in_file_order() {
        let table: toml::Table =
            toml::from_str("b.c = 1\na = { d = [2], e = { kind = \"x\" } }").unwrap();
        let is_leaf = |v: &toml::Value| v.get("kind").is_some();
        let found: Vec<String> = leaves(&table, &FieldPath::default(), &is_leaf)
            .into_iter()
            .map(|(p, v)| format!("{p}={v}"))
            .collect();
        assert_eq!(found, ["b.c=1", "a.d=[2]", "a.e={ kind = \"x\" }"]);
        assert_eq!(
            leaves(&table, &FieldPath::root("set"), &|_| false)[0]
                .0
                .as_str(),
            "set.b.c"
        );
    }
}
