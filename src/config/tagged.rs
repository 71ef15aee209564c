//! `Tagged`: a table whose tag key (`kind`, `dist`, `process`) picks the
//! struct its other keys are read into.
//!
//! serde's internally tagged enums buffer a table before they read it, which
//! loses the path (and so the line) of any error inside it. A `Tagged` keeps
//! the table as TOML when the file is read; `read` then takes the tag first
//! and reads the rest into that variant's own `deny_unknown_fields` struct
//! through `serde_path_to_error`, so an unknown, missing or mistyped field
//! is reported at its own path, and a field of another variant is unknown.

use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use super::checks::Checked;
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::read::serde_problem;

/// The variants a tagged table can hold: an externally tagged serde enum
/// whose variants are `deny_unknown_fields` structs, one per tag value.
pub trait Variants: DeserializeOwned + JsonSchema {
    /// The key whose value names the variant.
    const TAG: &'static str;
    /// The fields every variant shares, read apart by
    /// [`Tagged::read_with_common`]; [`NoCommon`] if there are none.
    type Common: DeserializeOwned + JsonSchema;
}

/// No fields shared by every variant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoCommon {}

/// A table read later as one of `V`'s variants.
pub struct Tagged<V> {
    table: toml::Table,
    variants: PhantomData<V>,
}

impl<V> Tagged<V> {
    pub fn new(table: toml::Table) -> Self {
        Tagged {
            table,
            variants: PhantomData,
        }
    }
}

impl<V: Variants> Tagged<V> {
    /// The table as written.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// Reads the table at `at` as the variant its tag names.
    pub fn read(&self, at: &FieldPath) -> Checked<V> {
        Self::read_variant(self.table.clone(), at, &[])
    }

    /// Reads the fields every variant shares (those of `V::Common`) apart
    /// from the table, and the rest as the variant its tag names.
    pub fn read_with_common(&self, at: &FieldPath) -> Checked<(V::Common, V)> {
        let mut rest = self.table.clone();
        let shared: toml::Table = field_names::<V::Common>()
            .iter()
            .filter_map(|key| rest.remove(*key).map(|v| ((*key).to_owned(), v)))
            .collect();
        let shared =
            serde_path_to_error::deserialize(toml::Value::Table(shared.clone())).map_err(|e| {
                let problem = serde_problem(&e, &shared);
                Invalid::new(at.child(&problem.path), problem.message)
            })?;
        Ok((
            shared,
            Self::read_variant(rest, at, field_names::<V::Common>())?,
        ))
    }

    /// Reads `rest` as the variant its tag names; `shared` are the keys read
    /// apart, which an unknown field's message lists too.
    fn read_variant(mut rest: toml::Table, at: &FieldPath, shared: &[&str]) -> Checked<V> {
        let tag_path = at.child(V::TAG);
        let name = match rest.remove(V::TAG) {
            Some(toml::Value::String(name)) => name,
            Some(other) => {
                return Err(Invalid::new(
                    tag_path,
                    format!("must be a string naming the {} (got {other})", V::TAG),
                ));
            }
            None => {
                return Err(Invalid::new(
                    tag_path,
                    format!("missing: this table needs `{}`", V::TAG),
                ));
            }
        };
        let what = format!("{} = \"{name}\"", V::TAG);
        let mut wrapped = toml::Table::new();
        wrapped.insert(name, toml::Value::Table(rest));
        serde_path_to_error::deserialize(toml::Value::Table(wrapped.clone())).map_err(|e| {
            let problem = serde_problem(&e, &wrapped);
            // The first segment is the variant's name, which stands for the tag.
            let relative = problem.path.split_once('.').map(|(_, rest)| rest);
            match relative {
                None => Invalid::new(tag_path, problem.message),
                Some(field) => Invalid::new(at.child(field), in_variant(&problem, &what, shared)),
            }
        })
    }
}

/// The field names of the serde struct `T`, as its derived `Deserialize`
/// declares them (empty for anything but a struct): the keys of a shared
/// part, read from the type rather than kept in a list beside it.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldProbe) {
        Err(Probe::Fields(fields)) => fields,
        _ => &[],
    }
}

/// A deserializer that only asks a struct for its field names.
struct FieldProbe;

#[derive(Debug)]
enum Probe {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("only a struct's field names are read")
    }
}

impl std::error::Error for Probe {}

impl serde::de::Error for Probe {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probe::NotAStruct
    }
}

impl<'de> Deserializer<'de> for FieldProbe {
    type Error = Probe;

    fn deserialize_any<W: serde::de::Visitor<'de>>(self, _: W) -> Result<W::Value, Probe> {
        Err(Probe::NotAStruct)
    }

    fn deserialize_struct<W: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: W,
    ) -> Result<W::Value, Probe> {
        Err(Probe::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// A serde message about a field, told as what the variant takes.
/// An unknown field's message lists every key the table takes: the shared
/// ones (read apart) first, then the variant's own, which serde names as
/// "expected `a`", "expected one of `a`, `b`" or "there are no fields".
fn in_variant(problem: &Invalid, what: &str, shared: &[&str]) -> String {
    let message = &problem.message;
    if let Some(rest) = message.strip_prefix("missing: this field is required") {
        let field = problem.path.rsplit('.').next().unwrap_or_default();
        return format!("missing: {what} needs `{field}`{rest}");
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, rest)) = rest.split_once('`')
    {
        if shared.is_empty() {
            return format!("unknown field `{field}` for {what}{rest}");
        }
        // Serde's list: the backquoted names after the field's own.
        let own = rest.split('`').skip(1).step_by(2);
        let all: Vec<String> = shared
            .iter()
            .copied()
            .chain(own)
            .map(|k| format!("`{k}`"))
            .collect();
        return format!(
            "unknown field `{field}` for {what}, expected one of {}",
            all.join(", ")
        );
    }
    message.clone()
}

impl<'de, V> Deserialize<'de> for Tagged<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Table::deserialize(d).map(Tagged::new)
    }
}

/// A tagged table's schema: one object per variant, its tag a constant and
/// its fields those of the variant's struct (and the shared ones), so an
/// editor completes the fields the chosen `kind` has.
impl<V: Variants> JsonSchema for Tagged<V> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("{}ByTag", V::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let externally_tagged = V::json_schema(generator);
        let common = generator.subschema_for::<V::Common>();
        let common = resolve(generator, common.as_value());
        let variants = externally_tagged
            .get("oneOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let variants: Vec<Value> = variants
            .iter()
            .filter_map(|variant| {
                let (tag, inner) = variant.get("properties")?.as_object()?.iter().next()?;
                let mut inner = resolve(generator, inner);
                let object = inner.as_object_mut()?;
                let properties = object
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()?;
                properties.insert(V::TAG.to_owned(), serde_json::json!({ "const": tag }));
                if let Some(common) = common.get("properties").and_then(Value::as_object) {
                    for (key, schema) in common {
                        properties.insert(key.clone(), schema.clone());
                    }
                }
                let required = object
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()?;
                required.insert(0, Value::String(V::TAG.to_owned()));
                Some(inner)
            })
            .collect();
        let mut variants = variants;
        if let Some(preset) = preset_variant(V::TAG, &common, &variants) {
            variants.push(preset);
        }
        schemars::json_schema!({ "type": "object", "oneOf": variants })
    }
}

/// Where the shared fields have a `preset`: a table that names a preset and
/// not its tag (the preset has it), with any field of any variant beside it.
fn preset_variant(tag: &str, common: &Value, variants: &[Value]) -> Option<Value> {
    let shared = common.get("properties")?.as_object()?;
    shared.get("preset")?;
    let mut properties = Map::new();
    for variant in variants {
        if let Some(fields) = variant.get("properties").and_then(Value::as_object) {
            properties.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    properties.extend(shared.iter().map(|(k, v)| (k.clone(), v.clone())));
    properties.remove(tag);
    Some(serde_json::json!({
        "type": "object",
        "properties": properties,
        "required": ["preset"],
        "additionalProperties": false,
    }))
}

/// `schema` with a `$ref` to one of the generator's definitions replaced by
/// a copy of that definition.
fn resolve(generator: &SchemaGenerator, schema: &Value) -> Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .and_then(|name| generator.definitions().get(name))
        .unwrap_or(schema)
        .clone()
}

impl<V> Clone for Tagged<V> {
    fn clone(&self) -> Self {
        Tagged::new(self.table.clone())
    }
}

impl<V> fmt::Debug for Tagged<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Circle(Circle),
        Dot(Dot),
    }

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Circle {
        radius: f64,
        label: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Dot {}

    impl Variants for Shape {
        const TAG: &'static str = "kind";
        type Common = Label;
    }

    fn read(text: &str) -> Checked<Shape> {
        let table: toml::Table = toml::from_str(text).unwrap();
        Tagged::<Shape>::new(table).read(&FieldPath::root("shape"))
    }

    #[test]
    fn reads_the_variant_the_tag_names() {
        assert_eq!(
            read("kind = \"circle\"\nradius = 2.0").unwrap(),
            Shape::Circle(Circle {
                radius: 2.0,
                label: None
            })
        );
        assert_eq!(read("kind = \"dot\"").unwrap(), Shape::Dot(Dot {}));
    }

    #[test]
    fn problems_are_reported_at_their_field() {
        let err = read("kind = \"dot\"\nradius = 2.0").unwrap_err();
        assert_eq!(err.path, "shape.radius");
        assert!(
            err.message
                .starts_with("unknown field `radius` for kind = \"dot\""),
            "{}",
            err.message
        );
        let err = read("kind = \"circle\"").unwrap_err();
        assert_eq!(err.path, "shape.radius");
        assert_eq!(err.message, "missing: kind = \"circle\" needs `radius`");
        let err = read("kind = \"circle\"\nradius = \"big\"").unwrap_err();
        assert_eq!(err.path, "shape.radius");
        assert!(err.message.contains("invalid type"), "{}", err.message);
    }

    #[derive(Debug, Deserialize, PartialEq, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Label {
        label: Option<String>,
    }

    #[test]
    fn field_names_come_from_the_struct() {
        assert_eq!(field_names::<Circle>(), ["radius", "label"]);
        assert_eq!(field_names::<Dot>(), [] as [&str; 0]);
        assert_eq!(field_names::<Shape>(), [] as [&str; 0], "an enum has none");
    }

    #[test]
    fn shared_fields_are_read_apart_from_the_variant() {
        let table: toml::Table = toml::from_str("kind = \"dot\"\nlabel = \"a\"").unwrap();
        let at = FieldPath::root("shape");
        let (shared, dot): (Label, Shape) =
            Tagged::<Shape>::new(table).read_with_common(&at).unwrap();
        assert_eq!(shared.label.as_deref(), Some("a"));
        assert_eq!(dot, Shape::Dot(Dot {}));
        let table: toml::Table = toml::from_str("kind = \"dot\"\nrim = 2").unwrap();
        let err = Tagged::<Shape>::new(table)
            .read_with_common(&at)
            .unwrap_err();
        assert_eq!(err.path, "shape.rim");
        assert_eq!(
            err.message,
            "unknown field `rim` for kind = \"dot\", expected one of `label`"
        );
        let table: toml::Table = toml::from_str("kind = \"dot\"\nlabel = 3").unwrap();
        let err = Tagged::<Shape>::new(table)
            .read_with_common(&at)
            .unwrap_err();
        assert_eq!(err.path, "shape.label");
    }

    #[test]
    fn a_bad_or_missing_tag_is_reported_at_the_tag() {
        let err = read("kind = \"square\"").unwrap_err();
        assert_eq!(err.path, "shape.kind");
        assert_eq!(
            err.message,
            "unknown variant `square`, expected `circle` or `dot`"
        );
        assert_eq!(read("radius = 1.0").unwrap_err().path, "shape.kind");
        assert_eq!(read("kind = 3").unwrap_err().path, "shape.kind");
    }

    #[test]
    fn the_schema_has_a_table_per_kind_with_its_own_and_the_shared_fields() {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Tagged<Shape>>();
        let variants = schema.get("oneOf").and_then(Value::as_array).unwrap();
        let fields = |v: &Value| -> Vec<String> {
            v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(variants.len(), 2);
        assert_eq!(variants[0]["properties"]["kind"]["const"], "circle");
        assert_eq!(fields(&variants[0]), ["kind", "label", "radius"]);
        assert_eq!(
            variants[0]["required"],
            serde_json::json!(["kind", "radius"])
        );
        assert_eq!(variants[0]["additionalProperties"], false);
        assert_eq!(fields(&variants[1]), ["kind", "label"]);
    }
}
