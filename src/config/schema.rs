//! JSON Schemas of model and experiment files, generated from the structs
//! the files are read into (so they cannot drift from what loopcap reads),
//! for editors such as taplo / Even Better TOML to complete and check them.
//! They describe a file's shape: its fields, their types and the fields
//! each `kind` has; ranges and cross-field rules are `loopcap check`'s.

use schemars::generate::SchemaSettings;

use super::experiment::RawExperiment;
use super::model_file::RawModel;

/// Which file a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Model,
    Experiment,
}

/// The JSON Schema (draft 2020-12) of a `kind` file.
pub fn schema(kind: FileKind) -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let (mut root, title) = match kind {
        FileKind::Model => (
            generator.into_root_schema_for::<RawModel>(),
            "loopcap model file",
        ),
        FileKind::Experiment => (
            generator.into_root_schema_for::<RawExperiment>(),
            "loopcap experiment file",
        ),
    };
    root.insert("title".to_owned(), title.into());
    root.to_value()
}
