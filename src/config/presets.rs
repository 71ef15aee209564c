//! Named presets shipped with loopcap, compiled in from `presets/*.toml`:
//! clients as the SDKs retry (`clients.toml`), providers' capacity with its
//! counting rules and prices (one file per provider), and self-hosted GPU
//! profiles (`self-hosted.toml`). Each preset holds its description, its
//! source and the tables it fills, which the parts of the model they fill
//! read (`[client]`: [`super::client`]; a `[capacity]` or a pool's:
//! [`super::pools`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::error::BadInput;

/// Each presets file as shipped: its name and text.
pub const FILES: [(&str, &str); 5] = [
    ("clients.toml", include_str!("../../presets/clients.toml")),
    (
        "anthropic.toml",
        include_str!("../../presets/anthropic.toml"),
    ),
    ("openai.toml", include_str!("../../presets/openai.toml")),
    ("azure.toml", include_str!("../../presets/azure.toml")),
    (
        "self-hosted.toml",
        include_str!("../../presets/self-hosted.toml"),
    ),
];

/// One preset as its file holds it: a client preset has `client`; a
/// capacity preset has `capacity` and the `prices` that go with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Preset {
    description: String,
    source: String,
    /// The provider's limit it describes, where one limit holds several
    /// models together (Anthropic's for a model class, an organization's
    /// for a model): the pools of one model naming presets of the same
    /// limit share one set of its buckets.
    limit: Option<String>,
    /// The provider account it is sold to, where the tier's monthly spend
    /// cap is the account's (an organization's usage tier caps what it
    /// spends a month on every model together): the pools of one model
    /// naming presets of the same account spend against one cap.
    account: Option<String>,
    /// The presets of what its provider sells in its place, where the
    /// provider no longer sells it as described (a tier renamed and its
    /// numbers changed).
    superseded_by: Option<Vec<String>>,
    client: Option<toml::Table>,
    capacity: Option<toml::Table>,
    prices: Option<toml::Table>,
}

/// What a preset fills.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fills {
    Client,
    Capacity,
}

/// The presets of file `text`, by name.
fn read(text: &str) -> BTreeMap<String, Preset> {
    toml::from_str(text).expect("every presets file reads (a test reads every preset)")
}

/// Every preset, by name, with its file's name: the files read once, as
/// every pool, client and listing asks for them.
fn all() -> &'static BTreeMap<String, (&'static str, Preset)> {
    static ALL: OnceLock<BTreeMap<String, (&'static str, Preset)>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .flat_map(|(file, text)| read(text).into_iter().map(move |(n, p)| (n, (*file, p))))
            .collect()
    })
}

/// The presets that fill `what`: their names, in order.
pub fn names(what: Fills) -> Vec<String> {
    list(what).into_iter().map(|p| p.name).collect()
}

/// One preset as `loopcap presets` lists it.
pub struct Listed {
    pub name: String,
    pub file: &'static str,
    pub description: String,
    /// Where its numbers were read.
    pub source: String,
    /// What its provider sells in its place, if it no longer sells it.
    pub superseded_by: Vec<String>,
}

/// Each preset that fills `what`, in order.
pub fn list(what: Fills) -> Vec<Listed> {
    all()
        .iter()
        .filter(|(_, (_, p))| p.fills() == what)
        .map(|(name, (file, p))| Listed {
            name: name.clone(),
            file,
            description: p.description.clone(),
            source: p.source.clone(),
            superseded_by: p.superseded_by.clone().unwrap_or_default(),
        })
        .collect()
}

/// Why a model naming preset `name` plans on what its provider no longer
/// sells, and what to name instead; None for a preset still sold (or
/// not shipped).
pub fn superseded(name: &str) -> Option<String> {
    let by = all().get(name)?.1.superseded_by.as_ref()?;
    Some(format!(
        "`{name}` is capacity its provider no longer sells as described: plan on what it sells now ({}); if your organization still has these limits, give them without the preset (`loopcap presets {name}` shows them)",
        by.join(", ")
    ))
}

/// The `client` table of client preset `name`.
pub fn client_table(name: &str) -> Option<toml::Table> {
    all().get(name).and_then(|(_, p)| p.client.clone())
}

/// The provider's limit capacity preset `name` describes, where pools
/// naming it (or another preset of the same limit) share it.
pub fn limit_of(name: &str) -> Option<String> {
    all().get(name).and_then(|(_, p)| p.limit.clone())
}

/// The provider account capacity preset `name` is sold to, whose one
/// monthly spend cap pools naming it (or another preset of the account)
/// spend against together.
pub fn account_of(name: &str) -> Option<String> {
    all().get(name).and_then(|(_, p)| p.account.clone())
}

/// The `capacity` table of capacity preset `name`.
pub fn capacity_table(name: &str) -> Option<toml::Table> {
    all().get(name).and_then(|(_, p)| p.capacity.clone())
}

/// A capacity table as it reads: where it names a preset (`preset =
/// "NAME"`), the preset's capacity with the keys given beside it over the
/// preset's, and the preset's prices; otherwise the table itself. Says why
/// there is no such preset.
pub fn capacity_over(table: &toml::Table) -> Result<(toml::Table, Option<toml::Table>), BadInput> {
    let mut table = table.clone();
    let name = match table.remove("preset") {
        None => return Ok((table, None)),
        Some(toml::Value::String(name)) => name,
        Some(other) => {
            return Err(BadInput(format!(
                "must be a string naming a preset (got {other})"
            )));
        }
    };
    let preset = all()
        .get(&name)
        .and_then(|(_, p)| Some((p.capacity.clone()?, p.prices.clone())));
    let Some((mut merged, prices)) = preset else {
        return Err(BadInput(format!(
            "no capacity preset `{name}`; `loopcap presets` lists them: {}",
            names(Fills::Capacity).join(", ")
        )));
    };
    merged.extend(table);
    Ok((merged, prices))
}

impl Preset {
    fn fills(&self) -> Fills {
        match self.client {
            Some(_) => Fills::Client,
            None => Fills::Capacity,
        }
    }
}

/// Preset `name`'s section of its file, whole: its description, source and
/// tables, with the comments that cite each number.
pub fn section(name: &str) -> Option<String> {
    let &(file, _) = all().get(name)?;
    let text = FILES.iter().find(|(f, _)| *f == file)?.1;
    let mut lines = text.lines().skip_while(|l| *l != format!("[{name}]"));
    let first = lines.next()?;
    let own = format!("[{name}.");
    let rest = lines.take_while(|l| !l.starts_with('[') || l.starts_with(&own));
    let text: Vec<&str> = std::iter::once(first).chain(rest).collect();
    Some(text.join("\n").trim_end().to_owned() + "\n")
}

/// A model's (or a pool's) table with its capacity preset spelled out: the
/// capacity as it reads, its `preset` kept first to say where it came
/// from, and the preset's prices where the table gives none.
pub fn spelled_out(pool: &mut toml::Table) {
    let Some(toml::Value::Table(capacity)) = pool.get("capacity") else {
        return;
    };
    let Some(name) = capacity.get("preset").cloned() else {
        return;
    };
    let Ok((resolved, prices)) = capacity_over(capacity) else {
        return;
    };
    let mut shown = toml::Table::new();
    shown.insert("preset".to_owned(), name);
    shown.extend(resolved);
    pool.insert("capacity".to_owned(), toml::Value::Table(shown));
    if let Some(prices) = prices.filter(|_| !pool.contains_key("prices")) {
        pool.insert("prices".to_owned(), toml::Value::Table(prices));
    }
}
