//! `--set PATH=VALUE`: change any field of a model before it is validated.

use super::diagnostic::Diagnostic;
use super::locate::find_element;

/// One override, as given on the command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// Dotted path, e.g. `capacity.lanes` or `workload.developers.users`.
    pub path: String,
    pub value: toml::Value,
    /// The flag as the user typed it, for error messages.
    pub flag: String,
}

impl Override {
    /// Parses `PATH=VALUE`. The value is read as TOML (`16`, `2.5`, `true`,
    /// `{ dist = "constant", value = "2s" }`); anything that is not valid TOML
    /// is taken as a string, so `kind=reserved` and `timeout=30s` work unquoted.
    pub fn parse(arg: &str) -> Result<Override, Diagnostic> {
        let flag = format!("--set {arg}");
        let (path, text) = arg.split_once('=').ok_or_else(|| {
            Diagnostic::general(&flag, "expected PATH=VALUE, e.g. --set capacity.lanes=16")
        })?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(Diagnostic::general(
                &flag,
                format!("`{path}` is not a dotted path like capacity.lanes"),
            ));
        }
        let parsed = toml::from_str::<toml::Table>(&format!("v = {text}"))
            .ok()
            .and_then(|mut t| t.remove("v"));
        let digits = text.trim().trim_start_matches(['+', '-']);
        if parsed.is_none() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Diagnostic::general(
                &flag,
                format!(
                    "{} is too large for an integer: at most {}",
                    text.trim(),
                    i64::MAX
                ),
            ));
        }
        let value = parsed.unwrap_or_else(|| toml::Value::String(text.trim().to_owned()));
        Ok(Override {
            path: path.to_owned(),
            value,
            flag,
        })
    }

    /// An override of a path the model code sets itself, e.g. `--seed`.
    pub fn new(path: &str, value: toml::Value, flag: String) -> Override {
        Override {
            path: path.to_owned(),
            value,
            flag,
        }
    }

    /// Writes the value into `root`, creating missing tables on the way (so
    /// `client.timeout` works on a model without a `[client]` table); the
    /// model's schema then rejects any path it does not have. Elements of
    /// arrays of tables must exist. A whole `pool` list replaces a
    /// model's one `[capacity]` (and its `[prices]`), and a whole
    /// `capacity` a model's `[[pool]]`s (and its `[router]`): the model's
    /// capacity is what was set.
    pub fn apply(&self, root: &mut toml::Table) -> Result<(), Diagnostic> {
        let replaced: &[&str] = match self.path.as_str() {
            "pool" if root.contains_key("capacity") => &["capacity", "prices"],
            "capacity" if root.contains_key("pool") => &["pool", "router"],
            _ => &[],
        };
        for key in replaced {
            root.remove(*key);
        }
        let segments: Vec<&str> = self.path.split('.').collect();
        let (last, parents) = segments.split_last().expect("non-empty path");
        let error = |message: String| Diagnostic::general(&self.flag, message);
        let mut here = root;
        let mut i = 0;
        while i < parents.len() {
            let index_next = segments[i + 1].parse::<usize>().is_ok();
            if index_next && !here.contains_key(parents[i]) {
                return Err(error(format!(
                    "the model has no `{}` list to pick element {} of: give the whole list, e.g. --set '{}=[{{ ... }}]'",
                    segments[..=i].join("."),
                    segments[i + 1],
                    segments[..=i].join(".")
                )));
            }
            let mut value = here
                .entry(parents[i])
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Array(items) = value {
                // The next segment names an element of the array.
                let label = segments[i + 1];
                let index = find_element(items, label).ok_or_else(|| {
                    error(format!(
                        "`{}` has no element named `{label}`",
                        segments[..=i].join(".")
                    ))
                })?;
                if i + 1 == parents.len() {
                    items[index] = self.value.clone();
                    return Ok(());
                }
                value = &mut items[index];
                i += 1;
            }
            let so_far = segments[..=i].join(".");
            here = match value {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(error(format!(
                        "`{so_far}` is a value, not a table: it has no field `{}`",
                        segments[i + 1]
                    )));
                }
            };
            i += 1;
        }
        here.insert((*last).to_owned(), self.value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> toml::Table {
        toml::from_str(
            r#"
            duration = "1h"
            [[workload]]
            name = "developers"
            users = 10
            [capacity]
            kind = "shared_api"
            "#,
        )
        .unwrap()
    }

    fn set(arg: &str) -> Result<toml::Table, Diagnostic> {
        let mut t = model();
        Override::parse(arg)?.apply(&mut t)?;
        Ok(t)
    }

    #[test]
    fn values_are_read_as_toml_or_else_as_strings() {
        let t = set("capacity.lanes=16").unwrap();
        assert_eq!(t["capacity"]["lanes"], toml::Value::Integer(16));
        let t = set("capacity.kind=reserved").unwrap();
        assert_eq!(t["capacity"]["kind"].as_str(), Some("reserved"));
        let t = set("duration=30m").unwrap();
        assert_eq!(t["duration"].as_str(), Some("30m"));
        let t = set("capacity.overload={ threshold = 5, saturation = 9, max_probability = 0.5 }")
            .unwrap();
        assert_eq!(
            t["capacity"]["overload"]["saturation"],
            toml::Value::Integer(9)
        );
    }

    /// A whole pool list replaces the one capacity and its prices; a
    /// whole capacity replaces the pools and their router; a field of
    /// either replaces nothing.
    #[test]
    fn a_whole_pool_list_or_capacity_replaces_the_other() {
        let mut t = model();
        t.insert("prices".into(), toml::Value::Table(toml::Table::new()));
        Override::parse("pool=[{ name = \"a\" }]")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        assert!(
            !t.contains_key("capacity") && !t.contains_key("prices"),
            "{t}"
        );
        t.insert("router".into(), toml::Value::Table(toml::Table::new()));
        Override::parse("pool.a.capacity.lanes=2")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        assert!(t.contains_key("router"), "{t}");
        Override::parse("capacity={ kind = \"reserved\" }")
            .unwrap()
            .apply(&mut t)
            .unwrap();
        assert!(!t.contains_key("pool") && !t.contains_key("router"), "{t}");
        assert!(set("capacity.lanes=3").unwrap().contains_key("capacity"));
    }

    #[test]
    fn array_elements_are_named_or_indexed() {
        let t = set("workload.developers.users=20").unwrap();
        assert_eq!(t["workload"][0]["users"], toml::Value::Integer(20));
        let t = set("workload.0.users=30").unwrap();
        assert_eq!(t["workload"][0]["users"], toml::Value::Integer(30));
    }

    #[test]
    fn missing_tables_are_created() {
        let t = set("client.backoff.kind=none").unwrap();
        assert_eq!(t["client"]["backoff"]["kind"].as_str(), Some("none"));
    }

    #[test]
    fn paths_through_values_or_missing_elements_are_errors() {
        let err = set("workload.ops.users=1").unwrap_err();
        assert!(err.message.contains("no element named `ops`"), "{err}");
        let err = set("duration.x=1").unwrap_err();
        assert!(
            err.message.contains("`duration` is a value, not a table"),
            "{err}"
        );
        assert!(Override::parse("capacity.lanes").is_err());
        assert!(Override::parse("capacity..lanes=1").is_err());
        // An element of a list the model does not have (once, the schema
        // said "invalid type: map, expected a sequence").
        let err = set("fault.0.for=1m").unwrap_err();
        assert_eq!(
            err.message,
            "the model has no `fault` list to pick element 0 of: give the whole list, e.g. --set 'fault=[{ ... }]'"
        );
    }

    #[test]
    fn integers_too_large_for_toml_are_refused_not_taken_as_text() {
        let err = Override::parse("seed=9223372036854775808").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set seed=9223372036854775808: 9223372036854775808 is too large for an integer: at most 9223372036854775807"
        );
        let t = set("seed=9223372036854775807").unwrap();
        assert_eq!(t["seed"], toml::Value::Integer(i64::MAX));
    }
}
