//! `loopcap schema`: every shipped model and experiment validates against
//! the schema it prints, and files `check` refuses for their shape do not.
//!
//! The validator here is a small one of the JSON Schema keywords the schema
//! uses (`$ref`, `type`, `properties`, `required`, `additionalProperties`,
//! `items`, `const`, `enum`, `oneOf`, `anyOf`); it does not check `pattern`
//! (no regex engine), which `check` covers. It was compared with Python's
//! `jsonschema` on the shipped files and the bad ones below while written.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::loopcap;

fn schema(kind: &str) -> Value {
    let out = loopcap().args(["schema", kind]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What is wrong with `value` under `schema` (a part of `root`), as
/// `path: problem` lines; empty if it is valid.
fn validate(root: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local references only");
        return validate(root, &root["$defs"][name], value, path);
    }
    let mut errors = Vec::new();
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type {types}"),
        };
        let is = |t: &str| match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            other => panic!("unknown type {other}"),
        };
        if !types.iter().any(|t| is(t)) {
            return vec![format!("{path}: {value} is not of type {types:?}")];
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        errors.push(format!("{path}: {value} is not {c}"));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {options:?}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = required.as_str().unwrap();
            if !object.contains_key(key) {
                errors.push(format!("{path}: missing `{key}`"));
            }
        }
        for (key, v) in object {
            let at = format!("{path}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(s), _) => errors.extend(validate(root, s, v, &at)),
                (None, Some(Value::Bool(false))) => errors.push(format!("{at}: not allowed")),
                (None, Some(s @ Value::Object(_))) => errors.extend(validate(root, s, v, &at)),
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            errors.extend(validate(root, items, v, &format!("{path}.{i}")));
        }
    }
    for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        let Some(options) = schema.get(keyword).and_then(Value::as_array) else {
            continue;
        };
        let results: Vec<Vec<String>> = options
            .iter()
            .map(|s| validate(root, s, value, path))
            .collect();
        let matching = results.iter().filter(|e| e.is_empty()).count();
        if matching == 0 || (exactly_one && matching > 1) {
            errors.push(format!("{path}: matches {matching} of {keyword}"));
            // The closest option's errors say what to change: one of the
            // value's own type, with the fewest errors.
            let wrong_type = |e: &Vec<String>| {
                e.iter()
                    .any(|m| m.starts_with(&format!("{path}: ")) && m.contains("is not of type"))
            };
            if let Some(closest) = results
                .iter()
                .filter(|e| !e.is_empty())
                .min_by_key(|e| (wrong_type(e), e.len()))
            {
                errors.extend(closest.iter().cloned());
            }
        }
    }
    errors
}

fn as_json(toml_text: &str) -> Value {
    toml::from_str(toml_text).unwrap()
}

fn shipped(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_file_validates_against_its_schema() {
    for (kind, dir, at_least) in [("model", "models", 15), ("experiment", "experiments", 13)] {
        let root = schema(kind);
        assert_eq!(
            root["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let files = shipped(dir);
        assert!(files.len() >= at_least, "{files:?}");
        for file in files {
            let value = as_json(&fs::read_to_string(&file).unwrap());
            let errors = validate(&root, &root, &value, "");
            assert!(
                errors.is_empty(),
                "{}:\n{}",
                file.display(),
                errors.join("\n")
            );
        }
    }
}

/// Shipped files, each changed in one way `check` refuses for its shape:
/// the schema refuses it too, and says where.
#[test]
fn the_schema_refuses_what_check_refuses_for_its_shape() {
    let model_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/coding-agents-shared.toml");
    let shipped = fs::read_to_string(&model_file).unwrap();
    assert!(shipped.contains("preset = \"anthropic-scale-sonnet\""));
    // Its capacity written out, not named by its preset.
    let model = shipped.replacen(
        "preset = \"anthropic-scale-sonnet\"",
        "kind = \"shared_api\"\nrequests_per_min = 1000",
        1,
    );
    let root = schema("model");
    // Named by its preset, a capacity takes any capacity's fields, but no
    // other; with both a preset and a kind, the kind's alone.
    for (to, at) in [
        (
            "preset = \"anthropic-scale-sonnet\"\nseats = 4",
            "capacity: matches 0 of oneOf",
        ),
        (
            "preset = \"anthropic-scale-sonnet\"\nkind = \"shared_api\"\nlanes = 4",
            ".capacity.lanes: not allowed",
        ),
    ] {
        let changed = shipped.replacen("preset = \"anthropic-scale-sonnet\"", to, 1);
        let errors = validate(&root, &root, &as_json(&changed), "");
        assert!(
            errors.iter().any(|e| e.contains(at)),
            "`{to}`: expected an error at `{at}`, got {errors:?}"
        );
    }
    for (from, to, at) in [
        ("seed = 42", "seed = 42\nseeds = 1", ".seeds: not allowed"),
        (
            "kind = \"shared_api\"",
            "kind = \"shared_api\"\nlanes = 4",
            ".capacity.lanes: not allowed",
        ),
        (
            "kind = \"shared_api\"",
            "kind = \"dedicated\"",
            "capacity: matches 0 of oneOf",
        ),
        (
            "max_attempts = 5",
            "max_attempts = \"five\"",
            ".client.max_attempts: \"five\" is not of type",
        ),
        (
            "retry_after = \"exact\"",
            "retry_after = \"always\"",
            ".client.retry_after",
        ),
        (
            "think_time = { dist = \"exponential\", mean = \"10m\" }",
            "think_time = { dist = \"exponential\", median = \"10m\" }",
            ".workload.0.think_time: matches 0 of",
        ),
        ("name = \"developers\"\n", "", ".workload.0: missing `name`"),
    ] {
        assert!(model.contains(from), "{from}");
        let changed = model.replacen(from, to, 1);
        let errors = validate(&root, &root, &as_json(&changed), "");
        assert!(
            errors.iter().any(|e| e.contains(at)),
            "`{to}`: expected an error at `{at}`, got {errors:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.toml");
        fs::write(&file, &changed).unwrap();
        loopcap().arg("check").arg(&file).assert().code(2);
    }
    let experiment = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/lane-sizing.toml"),
    )
    .unwrap();
    let root = schema("experiment");
    for (from, to, at) in [
        (
            "kind = \"heatmap\"",
            "kind = \"heatmap\"\ncolour = \"red\"",
            ".plot.0.colour: not allowed",
        ),
        ("replications = 5", "replications = \"5\"", ".replications"),
        ("seed = 105", "", ": missing `seed`"),
    ] {
        let changed = experiment.replacen(from, to, 1);
        let errors = validate(&root, &root, &as_json(&changed), "");
        assert!(
            errors.iter().any(|e| e.contains(at)),
            "`{to}`: expected an error at `{at}`, got {errors:?}"
        );
    }
}
