//! `loopcap presets`: the presets shipped with loopcap, listed or one shown whole.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::cli::PresetsArgs;
use crate::command::error::Error;
use crate::config::presets;

/// `presets`: each preset's name and description; `presets NAME`: its
/// section of the presets file, whole, with the sources of its numbers.
pub fn presets(args: &PresetsArgs) -> Result<(), Error> {
    let text = match &args.name {
        Some(name) => presets::section(name).ok_or_else(|| {
            Error::Input(format!(
                "no preset `{name}`; the presets are {}",
                presets::client_names().join(", ")
            ))
        })?,
        None => {
            let mut out = String::from(
                "client presets ([client] preset = \"NAME\"; loopcap presets NAME shows one whole):\n",
            );
            for (name, description, _) in presets::client_list() {
                let _ = writeln!(out, "  {name:<22}{description}");
            }
            out
        }
    };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
