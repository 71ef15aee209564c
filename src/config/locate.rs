//! Dotted paths into a model (`workload.developers.users`) and the source lines they live on.
//!
//! An element of an array of tables is addressed by its `name` key when it
//! has one, otherwise by its index, so paths read the way `--set` takes them.

use toml::de::{DeTable, DeValue};

/// The element of `items` that `segment` names: by `name` key, else by index.
fn element_index(names: impl Iterator<Item = Option<String>>, segment: &str) -> Option<usize> {
    let names: Vec<Option<String>> = names.collect();
    names
        .iter()
        .position(|n| n.as_deref() == Some(segment))
        .or_else(|| segment.parse().ok().filter(|&i: &usize| i < names.len()))
}

/// Finds the element of a TOML array that `segment` names.
pub fn find_element(array: &[toml::Value], segment: &str) -> Option<usize> {
    element_index(
        array.iter().map(|v| {
            v.get("name")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        }),
        segment,
    )
}

/// How an element of an array is written in a path: its name, or its index.
pub fn element_label(array: &[toml::Value], index: usize) -> String {
    array
        .get(index)
        .and_then(|v| v.get("name"))
        .and_then(toml::Value::as_str)
        .filter(|name| !name.contains('.'))
        .map_or_else(|| index.to_string(), str::to_owned)
}

/// The value at dotted `path` in `root`, if there is one.
pub fn value_at<'t>(root: &'t toml::Table, path: &str) -> Option<&'t toml::Value> {
    let mut segments = path.split('.');
    let mut value = root.get(segments.next()?)?;
    for segment in segments {
        value = match value {
            toml::Value::Table(t) => t.get(segment)?,
            toml::Value::Array(items) => &items[find_element(items, segment)?],
            _ => return None,
        };
    }
    Some(value)
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of the deepest part of `path` that the source text contains:
/// the key itself when present, else the table that should hold it.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable<'_> = root.get_ref();
    let mut found = None;
    let parts: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    let mut segments = parts.iter().copied().enumerate().peekable();
    while let Some((at, _)) = segments.next() {
        // A quoted key may hold dots (`"capacity.lanes" = [...]` in a grid):
        // the longest run of the remaining segments that is a key wins.
        let Some((key, value, len)) = (1..=parts.len() - at).rev().find_map(|len| {
            let joined = parts[at..at + len].join(".");
            table
                .iter()
                .find(|(k, _)| k.get_ref() == joined.as_str())
                .map(|(k, v)| (k, v, len))
        }) else {
            break;
        };
        for _ in 1..len {
            segments.next();
        }
        found = Some(key.span().start);
        let mut value = value;
        // Arrays of tables: the next segment picks an element.
        if let DeValue::Array(items) = value.get_ref() {
            let Some((_, label)) = segments.next() else {
                break;
            };
            let names = items.iter().map(|item| match item.get_ref() {
                DeValue::Table(t) => t
                    .iter()
                    .find(|(k, _)| k.get_ref() == "name")
                    .and_then(|(_, v)| v.get_ref().as_str().map(str::to_owned)),
                _ => None,
            });
            let Some(index) = element_index(names, label) else {
                break;
            };
            value = &items[index];
            found = Some(value.span().start);
        }
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => break,
        }
    }
    found.map(|offset| line_at(text, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name = \"m\"

[[workload]]
name = \"developers\"
users = 5

[[workload]]
name = \"ops\"
think_time = { dist = \"exponential\", mean = \"5s\" }

[capacity]
kind = \"reserved\"
";

    #[test]
    fn finds_keys_tables_and_named_array_elements() {
        assert_eq!(line_of(TEXT, "name"), Some(1));
        assert_eq!(line_of(TEXT, "workload.developers.users"), Some(5));
        assert_eq!(line_of(TEXT, "workload.1.think_time.mean"), Some(9));
        assert_eq!(line_of(TEXT, "workload.ops"), Some(7));
        assert_eq!(line_of(TEXT, "capacity.kind"), Some(12));
    }

    #[test]
    fn missing_keys_fall_back_to_their_table() {
        assert_eq!(line_of(TEXT, "capacity.lanes"), Some(11));
        assert_eq!(line_of(TEXT, "workload.nobody.users"), Some(3));
        assert_eq!(line_of(TEXT, "nowhere"), None);
    }

    #[test]
    fn quoted_keys_with_dots_are_found_whole() {
        let grid = "[grid]\nseed = [1]\n\"capacity.lanes\" = [1, 2]\n";
        assert_eq!(line_of(grid, "grid.capacity.lanes"), Some(3));
        assert_eq!(line_of(grid, "grid.seed"), Some(2));
        assert_eq!(line_of(grid, "grid.capacity.kind"), Some(1));
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 99), 3);
    }
}
