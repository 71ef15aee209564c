//! `loopcap presets`: the presets shipped with loopcap, listed or one shown whole.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::cli::PresetsArgs;
use crate::command::error::Error;
use crate::config::presets::{self, Fills};

/// `presets`: each preset's name, description and source, client presets
/// then capacity presets; `presets NAME`: its section of its file, whole, with
/// the sources of its numbers.
pub fn presets(args: &PresetsArgs) -> Result<(), Error> {
    let text = match &args.name {
        Some(name) => presets::section(name).ok_or_else(|| {
            let all = [Fills::Client, Fills::Capacity].map(|f| presets::names(f).join(", "));
            Error::Input(format!(
                "no preset `{name}`; the client presets are {}; the capacity presets are {}",
                all[0], all[1]
            ))
        })?,
        None => {
            let mut out = String::new();
            let kinds = [
                (Fills::Client, "client presets ([client] preset = \"NAME\")"),
                (
                    Fills::Capacity,
                    "capacity presets ([capacity] or a [[pool]]'s capacity: preset = \"NAME\")",
                ),
            ];
            for (fills, heading) in kinds {
                let _ = writeln!(out, "{heading}:");
                let listed = presets::list(fills);
                // Names in a column as wide as the longest, two spaces after it.
                let width = listed.iter().map(|p| p.name.len()).max().unwrap_or(0) + 2;
                for p in listed {
                    let _ = writeln!(
                        out,
                        "  {:<width$}{} [presets/{}]\n  {:<width$}source: {}",
                        p.name, p.description, p.file, "", p.source
                    );
                    if !p.superseded_by.is_empty() {
                        let by = p.superseded_by.join(", ");
                        let _ = writeln!(out, "  {:<width$}no longer sold: now {by}", "");
                    }
                }
            }
            out.push_str(
                "loopcap presets NAME shows one whole, with the source of every number.\n",
            );
            out
        }
    };
    io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
