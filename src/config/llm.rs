//! `[models.NAME]`: the LLMs the agents call, each with token
//! distributions of its own if given.

use std::path::Path;

use serde::Deserialize;

use super::checks::Checked;
use super::diagnostic::Invalid;
use super::distribution::RawDist;
use super::field_path::FieldPath;
use crate::model::workload::llm::Llm;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLlm {
    /// A call's input on this model, instead of its agent's.
    input_tokens: Option<RawDist>,
    /// A call's output on this model, instead of its agent's.
    output_tokens: Option<RawDist>,
}

impl RawLlm {
    /// The model called `name`, at `models.<name>`.
    pub fn check(&self, name: &str, base_dir: &Path) -> Checked<Llm> {
        let at = FieldPath::root("models").child(name);
        if name.is_empty() || name.contains(['.', ',']) {
            return Err(Invalid::new(
                &at,
                format!(
                    "a model's name must be non-empty, without dots or commas, so --set can address it (got \"{name}\")"
                ),
            ));
        }
        let count = |field: &str, d: &Option<RawDist>| {
            d.as_ref()
                .map(|d| d.count(&at.child(field), base_dir))
                .transpose()
        };
        Ok(Llm {
            name: name.to_owned(),
            input_tokens: count("input_tokens", &self.input_tokens)?,
            output_tokens: count("output_tokens", &self.output_tokens)?,
        })
    }
}
