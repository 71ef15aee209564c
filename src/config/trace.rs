//! A workload class's `trace = { ... }` as written, checked by reading the
//! whole file once, row by row.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::checks::{Checked, file_name, positive, positive_duration};
use super::diagnostic::Invalid;
use super::field_path::FieldPath;
use super::quantity::{Duration, Number};
use crate::model::workload::classes::Population;
use crate::model::workload::claude_code::read_claude_code;
use crate::model::workload::otel::read_otel;
use crate::model::workload::sessions::{
    SessionTrace, read_csv_sessions, read_grouped_sessions, read_tracelab,
};
use crate::model::workload::trace::{TimeUnit, TraceColumns, TraceReader, TraceSpec, session_key};
use crate::model::workload::weka::read_weka;

/// The formats a trace may be read in (`format = ...`, `fit --format`).
pub const TRACE_FORMATS: [&str; 7] = [
    "azure",
    "burstgpt",
    "tracelab",
    "otel",
    "claude_code",
    "weka",
    "csv",
];

/// The formats whose files hold agent sessions, read whole.
const SESSION_FORMATS: [&str; 4] = ["tracelab", "otel", "claude_code", "weka"];

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTrace {
    /// The trace file, relative to the model file.
    file: String,
    /// "azure", "burstgpt", "tracelab", "otel", "claude_code" or "weka" (agent
    /// sessions), or "csv" (with `columns`).
    format: String,
    /// Replay this many times faster than recorded (default 1).
    speed: Option<Number>,
    /// The window replayed: from this long after the first row ...
    from: Option<Duration>,
    /// ... for this long of the recording (default: to its end).
    #[serde(rename = "for")]
    length: Option<Duration>,
    /// "error" (default): a bad row is an error; "skip": it is skipped and counted.
    bad_rows: Option<String>,
    /// The tick the recorded times are rounded to, e.g. "3s": rows recorded
    /// at one time are spread over the tick from it.
    tick: Option<Duration>,
    columns: Option<RawTraceColumns>,
    /// TraceLab: which model of `[models]` each recorded model name's rounds
    /// call, e.g. { "claude-opus-4-8" = "opus" } (others follow the agent's mix).
    models: Option<BTreeMap<String, String>>,
}

/// For `format = "csv"`: the header names of the fields.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTraceColumns {
    time: String,
    /// "s", "ms", "us" (offsets) or "datetime" (`YYYY-MM-DD HH:MM:SS.ffffff`).
    time_unit: String,
    input: String,
    output: String,
    cached_input: Option<String>,
    /// Rows sharing this column's value form one agent loop.
    session: Option<String>,
    /// Each call's recorded response time (in `time_unit`; seconds for
    /// datetimes), taken off the gap to its session's next call.
    latency: Option<String>,
    /// Each call's `max_tokens` (in tokens, whatever token_scale says): what
    /// a self-hosted replica lets it make and reserves for it.
    max_tokens: Option<String>,
    /// Tokens per unit the token columns count, when they count something
    /// else: 0.25 for characters at four a token (default 1).
    token_scale: Option<Number>,
}

impl RawTrace {
    /// Whether its format is one of agent sessions, read whole.
    fn holds_sessions(&self) -> bool {
        SESSION_FORMATS.contains(&self.format.as_str())
    }

    /// The `models` table: each recorded name with the model it calls.
    fn recorded_models(&self, at: &FieldPath, models: &[String]) -> Checked<Vec<(String, u16)>> {
        let Some(table) = &self.models else {
            return Ok(Vec::new());
        };
        let at = at.child("models");
        if !self.holds_sessions() {
            return Err(Invalid::new(
                at,
                "goes with format = \"tracelab\", \"otel\", \"claude_code\" or \"weka\", whose calls name their model",
            ));
        }
        table
            .iter()
            .map(|(recorded, name)| {
                let m = models.iter().position(|n| n == name).ok_or_else(|| {
                    Invalid::new(
                        at.child(recorded),
                        match models {
                            [] => format!(
                                "names model `{name}`, but the model declares no `[models]`"
                            ),
                            _ => format!(
                                "no model is called `{name}`: the models are {}",
                                models.join(", ")
                            ),
                        },
                    )
                })?;
                Ok((recorded.clone(), m as u16))
            })
            .collect()
    }

    /// The tick in microseconds, if given: positive, and for a trace read
    /// row by row (TraceLab's events are timed to the millisecond).
    fn tick(&self, at: &FieldPath) -> Checked<Option<i64>> {
        let Some(tick) = self.tick else {
            return Ok(None);
        };
        let at = at.child("tick");
        if self.holds_sessions() {
            return Err(Invalid::new(
                at,
                "goes with a csv, azure or burstgpt trace, whose times may be rounded; sessions' are not",
            ));
        }
        Ok(Some(positive_duration(&at, tick)?.ticks() as i64))
    }

    /// The recorded sessions a class resamples (`resample = { ... }`),
    /// read whole: TraceLab's, or a csv's with a session column.
    pub fn sessions(
        &self,
        at: &FieldPath,
        base_dir: &Path,
        models: &[String],
    ) -> Checked<SessionTrace> {
        if self.speed.is_some() {
            return Err(Invalid::new(
                at.child("speed"),
                "does not go with `resample`: the class's arrivals set how often sessions start, and each replays its think and tool times as recorded",
            ));
        }
        match self.check(at, base_dir, models)? {
            Population::Sessions(sessions) => Ok(sessions),
            Population::Trace(spec) if spec.sessions.is_some() => {
                read_csv_sessions(&spec).map_err(|e| Invalid::new(at.child("file"), e.message))
            }
            _ => Err(Invalid::new(
                at,
                format!(
                    "{}: a request trace has no sessions to resample; give format = \"tracelab\", or a csv whose columns name a `session`",
                    self.file
                ),
            )),
        }
    }

    /// The class's population: a request trace streamed as it replays, or
    /// sessions (TraceLab's, or a trace with a session column) read now.
    pub fn check(&self, at: &FieldPath, base_dir: &Path, models: &[String]) -> Checked<Population> {
        file_name(&at.child("file"), &self.file)?;
        let columns = self.columns(at)?;
        let skip_bad_rows = match self.bad_rows.as_deref() {
            None | Some("error") => false,
            Some("skip") => true,
            Some(other) => {
                return Err(Invalid::new(
                    at.child("bad_rows"),
                    format!("unknown choice `{other}`: allowed are error, skip"),
                ));
            }
        };
        let micros = |d: Option<Duration>| d.map(|d| d.0.ticks() as i64);
        let spec = TraceSpec {
            path: base_dir.join(&self.file),
            shown: self.file.clone(),
            columns,
            speed: self
                .speed
                .map_or(Ok(1.0), |s| positive(&at.child("speed"), s))?,
            from_us: micros(self.from).unwrap_or(0),
            until_us: micros(self.length).map(|l| micros(self.from).unwrap_or(0) + l),
            skip_bad_rows,
            skipped_rows: 0,
            per_min: 0.0,
            sessions: None,
            tick_us: self.tick(at)?,
        };
        let recorded_models = self.recorded_models(at, models)?;
        let file = at.child("file");
        if self.holds_sessions() {
            let sessions = match self.format.as_str() {
                "tracelab" => read_tracelab(&spec, &recorded_models),
                "otel" => read_otel(&spec, &recorded_models),
                "weka" => read_weka(&spec, &recorded_models),
                _ => read_claude_code(&spec, &recorded_models),
            }
            .map_err(|e| Invalid::new(file.clone(), e.message))?;
            if sessions.sessions.is_empty() {
                return Err(Invalid::new(
                    file,
                    format!("{}: no sessions start in the window replayed", self.file),
                ));
            }
            return Ok(Population::Sessions(sessions));
        }
        if spec.columns.session.is_some() {
            return count_sessions(spec, &self.file, file);
        }
        self.replay_rows(spec, file)
    }

    /// The trace's columns: its format's own, or those given for "csv".
    fn columns(&self, at: &FieldPath) -> Checked<TraceColumns> {
        Ok(match (self.format.as_str(), &self.columns) {
            ("azure", None) => TraceColumns::azure(),
            (_, None) if self.holds_sessions() => TraceColumns::azure(),
            ("burstgpt", None) => TraceColumns::burstgpt(),
            ("csv", Some(c)) => c.check(&at.child("columns"))?,
            ("csv", None) => {
                return Err(Invalid::new(
                    at.child("columns"),
                    "missing: format = \"csv\" needs columns = { time, time_unit, input, output }",
                ));
            }
            (format, Some(_)) if format != "csv" && TRACE_FORMATS.contains(&format) => {
                return Err(Invalid::new(
                    at.child("columns"),
                    format!(
                        "format = \"{}\" names its own columns; columns go with format = \"csv\"",
                        self.format
                    ),
                ));
            }
            (other, _) => {
                return Err(Invalid::new(
                    at.child("format"),
                    format!(
                        "unknown format `{other}`: allowed are {}",
                        TRACE_FORMATS.join(", ")
                    ),
                ));
            }
        })
    }

    /// A request trace's population, read whole once so that every bad
    /// row is found now, not in a run; `file` is the trace's field.
    fn replay_rows(&self, mut spec: TraceSpec, file: FieldPath) -> Checked<Population> {
        let mut reader =
            TraceReader::open(&spec).map_err(|e| Invalid::new(file.clone(), e.message))?;
        let (mut rows, mut last) = (0u64, 0.0f64);
        while let Some(record) = reader
            .next_record()
            .map_err(|e| Invalid::new(file.clone(), e.message))?
        {
            rows += 1;
            last = record.at.as_secs_f64();
        }
        if rows == 0 {
            let whole = self.from.is_none() && self.length.is_none();
            return Err(Invalid::new(
                file,
                if whole && reader.skipped == 0 {
                    format!(
                        "{}: a header and no rows: a trace needs at least one request",
                        self.file
                    )
                } else {
                    format!("{}: no rows in the window replayed", self.file)
                },
            ));
        }
        spec.skipped_rows = reader.skipped;
        spec.per_min = rows as f64 / (last / 60.0).max(1.0);
        Ok(Population::Trace(spec))
    }
}

/// A trace with a session column: reads the whole file once, counting each
/// session's rows (replay needs them to know when a session ends) and the
/// sessions that start in the window.
fn count_sessions(mut spec: TraceSpec, name: &str, file: FieldPath) -> Checked<Population> {
    let mut reader =
        TraceReader::open_any_order(&spec).map_err(|e| Invalid::new(file.clone(), e.message))?;
    let mut counts: HashMap<u64, u32> = HashMap::new();
    let (mut starting, mut last) = (0u64, 0i64);
    while let Some(record) = reader
        .next_record()
        .map_err(|e| Invalid::new(file.clone(), e.message))?
    {
        let offset = record.at.ticks() as i64;
        let count = counts.entry(session_key(reader.session())).or_insert(0);
        *count += 1;
        if *count == 1 && spec.in_window(offset) {
            starting += 1;
            last = offset - spec.from_us;
        }
    }
    if !reader.sorted {
        // Grouped by session rather than sorted by time: read whole.
        if spec.tick_us.is_some() {
            return Err(Invalid::new(
                file,
                format!(
                    "{name}: its rows are not in time order, and `tick` needs them to be (sort it by time)"
                ),
            ));
        }
        let sessions =
            read_grouped_sessions(&spec).map_err(|e| Invalid::new(file.clone(), e.message))?;
        if sessions.sessions.is_empty() {
            return Err(Invalid::new(
                file,
                format!("{name}: no sessions start in the window replayed"),
            ));
        }
        return Ok(Population::Sessions(sessions));
    }
    if starting == 0 {
        return Err(Invalid::new(
            file,
            format!("{name}: no sessions start in the window replayed"),
        ));
    }
    spec.skipped_rows = reader.skipped;
    let rows: u64 = counts.values().map(|&n| u64::from(n)).sum();
    spec.per_min = rows as f64 / (last as f64 / spec.speed / 60e6).max(1.0);
    spec.sessions = Some(Arc::new(counts));
    Ok(Population::Trace(spec))
}

impl RawTraceColumns {
    fn check(&self, at: &FieldPath) -> Checked<TraceColumns> {
        let time_unit = match self.time_unit.as_str() {
            "s" => TimeUnit::Seconds,
            "ms" => TimeUnit::Millis,
            "us" => TimeUnit::Micros,
            "datetime" => TimeUnit::DateTime,
            other => {
                return Err(Invalid::new(
                    at.child("time_unit"),
                    format!("unknown unit `{other}`: allowed are s, ms, us, datetime"),
                ));
            }
        };
        Ok(TraceColumns {
            time: self.time.clone(),
            time_unit,
            input: self.input.clone(),
            output: self.output.clone(),
            cached_input: self.cached_input.clone(),
            session: self.session.clone(),
            latency: self.latency.clone(),
            max_tokens: self.max_tokens.clone(),
            token_scale: self
                .token_scale
                .map_or(Ok(1.0), |s| positive(&at.child("token_scale"), s))?,
        })
    }
}
