//! JSON as every file and `--json` output writes it: pretty-printed and
//! newline-terminated. A leaf: it imports nothing of the crate.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

/// `value` as pretty-printed JSON, newline-terminated.
pub fn write_json(mut w: impl Write, value: &(impl Serialize + ?Sized)) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut w, value)?;
    writeln!(w)
}

/// `{"name": value, ...}` in the order given, pretty-printed and
/// newline-terminated: one metric a key.
pub fn write_named_json<'a, T: Serialize + 'a>(
    w: impl Write,
    named: impl IntoIterator<Item = (&'a str, &'a T)>,
) -> io::Result<()> {
    let mut map = serde_json::Map::new();
    for (name, value) in named {
        map.insert(name.to_owned(), serde_json::to_value(value)?);
    }
    write_json(w, &map)
}

/// The value at a dotted path (`loop_latency_s.p99`) in a JSON object.
pub fn at<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(object, |v, key| v.get(key))
}
