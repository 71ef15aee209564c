//! Named presets shipped with loopcap, compiled in from `presets/*.toml`:
//! clients as the SDKs retry (`presets/clients.toml`). Each holds its
//! description, its source and the table it fills, which the part of the
//! model it fills reads (`[client]`: [`super::client`]).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The client presets' file, as shipped.
pub const CLIENTS_FILE: &str = include_str!("../../presets/clients.toml");

/// One client preset as the file holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPreset {
    description: String,
    source: String,
    client: toml::Table,
}

/// Every client preset, by name.
fn clients() -> BTreeMap<String, ClientPreset> {
    toml::from_str(CLIENTS_FILE).expect("presets/clients.toml reads (a test reads every preset)")
}

/// The `client` table of preset `name`.
pub fn client_table(name: &str) -> Option<toml::Table> {
    clients().remove(name).map(|p| p.client)
}

/// The client presets' names, in order.
pub fn client_names() -> Vec<String> {
    clients().into_keys().collect()
}

/// Each client preset's name, description and source.
pub fn client_list() -> Vec<(String, String, String)> {
    clients()
        .into_iter()
        .map(|(name, p)| (name, p.description, p.source))
        .collect()
}

/// Preset `name`'s section of its file, whole: its description, source and
/// table, with the comments that cite each number.
pub fn section(name: &str) -> Option<String> {
    let mut lines = CLIENTS_FILE
        .lines()
        .skip_while(|l| *l != format!("[{name}]"));
    let first = lines.next()?;
    let own = format!("[{name}.");
    let rest = lines.take_while(|l| !l.starts_with('[') || l.starts_with(&own));
    let text: Vec<&str> = std::iter::once(first).chain(rest).collect();
    Some(text.join("\n").trim_end().to_owned() + "\n")
}
