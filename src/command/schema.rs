//! `loopcap schema` and `loopcap completions`: what editors and shells read.

use std::io::{self, Write};

use crate::cli::{Cli, SchemaKind};
use crate::command::error::Error;
use crate::config::schema::{self, FileKind};
use crate::json;

/// `schema KIND`: the JSON Schema of model or experiment files.
pub fn schema(kind: SchemaKind) -> Result<(), Error> {
    let kind = match kind {
        SchemaKind::Model => FileKind::Model,
        SchemaKind::Experiment => FileKind::Experiment,
    };
    let mut stdout = io::stdout().lock();
    json::write_json(&mut stdout, &schema::schema(kind))?;
    Ok(())
}

/// Prints the completion script, written whole and then sent, so a closed
/// stdout is an error like any other command's rather than a panic.
pub fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut script = Vec::new();
    let mut cli = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cli, "loopcap", &mut script);
    io::stdout().lock().write_all(&script)?;
    Ok(())
}
