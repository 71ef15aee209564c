//! Request traces: recorded calls, each with its time and tokens, read one
//! row at a time so a trace of any length replays in flat memory.
//!
//! Formats: `azure` (the Azure LLM inference traces: `TIMESTAMP` as a
//! datetime, `ContextTokens`, `GeneratedTokens`), `burstgpt` (`Timestamp`
//! in seconds, `Request tokens`, `Response tokens`) and `csv` with named
//! columns. Columns are found by header name. A row's time is taken from
//! the trace's first row, then divided by `speed`; a window of the trace
//! (`from`, `until`, in trace time from its first row) can be chosen.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rand::RngExt;

use crate::engine::{RandomStreams, SimDuration, SimTime};
use crate::error::BadInput;
use crate::model::workload::agent_loop::CallTokens;
use crate::model::workload::datetime::parse_datetime;

/// Rows per session, from `check`'s pass over the whole file.
pub type SessionCounts = std::sync::Arc<std::collections::HashMap<u64, u32>>;

/// How a time column is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Millis,
    Micros,
    /// `YYYY-MM-DD HH:MM:SS[.fraction]` (or with a `T`), taken as UTC.
    DateTime,
}

/// Where a trace's fields are, by header name.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceColumns {
    pub time: String,
    pub time_unit: TimeUnit,
    pub input: String,
    pub output: String,
    pub cached_input: Option<String>,
    /// Rows sharing a session id form one agent loop.
    pub session: Option<String>,
    /// Each call's recorded response time (in `time_unit`, seconds for
    /// datetimes): taken off the gap to the session's next call.
    pub latency: Option<String>,
    /// Each call's `max_tokens`, in tokens whatever `token_scale` says.
    pub max_tokens: Option<String>,
    /// Tokens per unit the token columns count (1 for tokens; 0.25 for
    /// characters at four a token), rounded to whole tokens.
    pub token_scale: f64,
}

impl TraceColumns {
    pub fn azure() -> Self {
        TraceColumns {
            time: "TIMESTAMP".to_owned(),
            time_unit: TimeUnit::DateTime,
            input: "ContextTokens".to_owned(),
            output: "GeneratedTokens".to_owned(),
            cached_input: None,
            session: None,
            latency: None,
            max_tokens: None,
            token_scale: 1.0,
        }
    }

    pub fn burstgpt() -> Self {
        TraceColumns {
            time: "Timestamp".to_owned(),
            time_unit: TimeUnit::Seconds,
            input: "Request tokens".to_owned(),
            output: "Response tokens".to_owned(),
            cached_input: None,
            session: None,
            latency: None,
            max_tokens: None,
            token_scale: 1.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TraceSpec {
    pub path: PathBuf,
    /// The file as the model names it, for messages.
    pub shown: String,
    pub columns: TraceColumns,
    /// Replays this many times faster than recorded.
    pub speed: f64,
    /// The window of the trace replayed, in microseconds from its first row.
    pub from_us: i64,
    pub until_us: Option<i64>,
    /// Bad rows are skipped (and counted by `check`) rather than refused.
    pub skip_bad_rows: bool,
    /// Rows skipped as bad, counted when the model was read.
    pub skipped_rows: u64,
    /// Calls per simulated minute over the window (for the memory estimate).
    pub per_min: f64,
    /// With a session column: each session's rows, counted by `check`.
    pub sessions: Option<SessionCounts>,
    /// The tick the trace's times are rounded to, in microseconds: rows
    /// recorded at one time are spread over the tick from it.
    pub tick_us: Option<i64>,
}

impl TraceSpec {
    /// The same trace, all of it, at its recorded pace.
    pub fn whole(&self) -> TraceSpec {
        TraceSpec {
            from_us: 0,
            until_us: None,
            speed: 1.0,
            ..self.clone()
        }
    }

    /// Whether a row `offset_us` from the trace's first row is in the window replayed.
    pub fn in_window(&self, offset_us: i64) -> bool {
        offset_us >= self.from_us && self.until_us.is_none_or(|until| offset_us < until)
    }

    /// When a row `offset_us` from the trace's first row arrives in the
    /// simulation: its offset in the window, over `speed`.
    pub fn place(&self, offset_us: i64) -> SimTime {
        let since_from = (offset_us - self.from_us) as f64 / self.speed;
        SimTime::ZERO + SimDuration::from_ticks(since_from.round() as u64)
    }
}

/// One recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// When it arrives in the simulation: its offset in the window, over `speed`.
    pub at: SimTime,
    pub input: u32,
    pub cached_input: u32,
    pub output: u32,
    /// Its `max_tokens`, where the trace records it.
    pub max_output: Option<u32>,
}

impl TraceRecord {
    pub fn tokens(&self) -> CallTokens {
        CallTokens {
            shared_input: 0,
            input: self.input,
            cached_input: self.cached_input,
            output: self.output,
            max_output: self.max_output,
        }
    }
}

/// A bad row, or a file that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// `file:line: what`.
    pub message: String,
}

/// A session id as the counts key it: a 64-bit hash (collisions among a
/// million sessions have odds of about 1 in 10^7).
pub fn session_key(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Reads a trace's rows in order.
pub struct TraceReader {
    spec: TraceSpec,
    rows: csv::StringRecordsIntoIter<BufReader<File>>,
    /// Column indices: time, input, output, cached input, session, latency.
    index: [Option<usize>; 7],
    /// The last row's session id and recorded latency (µs), when the trace has them.
    session: String,
    latency_us: i64,
    /// The first row's time, and the last row's, in microseconds.
    first_us: Option<i64>,
    last_us: i64,
    /// Rows skipped as bad.
    pub skipped: u64,
    /// A session trace read in any order (grouped by session, say): the
    /// last time of each session, whose rows must be in time order.
    by_session: Option<HashMap<u64, i64>>,
    /// Whether every row so far is at or after the one above.
    pub sorted: bool,
    /// With a tick: the rows of the tick being read, spread over it, and
    /// the first row of the next.
    spread: VecDeque<Row>,
    ahead: Option<Row>,
}

/// A row as read: its offset from the trace's first row (µs), and what
/// the reader says of the row last read (its session and latency).
struct Row {
    offset_us: i64,
    record: TraceRecord,
    session: String,
    latency_us: i64,
}

/// The whole text of the trace `spec` names, or what kept it from being
/// read, at the file.
pub fn read_text(spec: &TraceSpec) -> Result<String, TraceError> {
    let fail = |what: String| TraceError {
        message: format!("{}: {what}", spec.shown),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut open_data(&spec.path).map_err(|e| fail(e.0))?,
        &mut text,
    )
    .map_err(|e| fail(format!("cannot read it: {e}")))?;
    Ok(text)
}

/// Opens a file a model reads (a trace, an empirical CSV) at `path`, saying
/// what is wrong in terms of the file rather than the system's: a directory
/// (`file = ""` names the model's own), an empty file.
pub fn open_data(path: &Path) -> Result<File, BadInput> {
    let meta = std::fs::metadata(path).map_err(|e| BadInput(format!("cannot read it: {e}")))?;
    if meta.is_dir() {
        return Err(BadInput(format!(
            "{} is a directory: `file` names a file, relative to the model's directory",
            path.display()
        )));
    }
    if meta.len() == 0 {
        return Err(BadInput::new(
            "the file is empty: it needs a header row and at least one row",
        ));
    }
    File::open(path).map_err(|e| BadInput(format!("cannot read it: {e}")))
}

impl TraceReader {
    pub fn open(spec: &TraceSpec) -> Result<TraceReader, TraceError> {
        let fail = |what: String| TraceError {
            message: format!("{}: {what}", spec.shown),
        };
        let file = open_data(&spec.path).map_err(|e| fail(e.0))?;
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(BufReader::new(file));
        let header = reader
            .headers()
            .map_err(|e| fail(format!("no header row: {e}")))?
            .clone();
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let c = &spec.columns;
        let mut index = [None; 7];
        for (slot, name) in [
            (0, Some(&c.time)),
            (1, Some(&c.input)),
            (2, Some(&c.output)),
            (3, c.cached_input.as_ref()),
            (4, c.session.as_ref()),
            (5, c.latency.as_ref()),
            (6, c.max_tokens.as_ref()),
        ] {
            let Some(name) = name else { continue };
            index[slot] = Some(find(name).ok_or_else(|| {
                fail(format!(
                    "no column `{name}` in its header (it has {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ))
            })?);
        }
        Ok(TraceReader {
            spec: spec.clone(),
            rows: reader.into_records(),
            index,
            session: String::new(),
            latency_us: 0,
            first_us: None,
            last_us: i64::MIN,
            skipped: 0,
            by_session: None,
            sorted: true,
            spread: VecDeque::new(),
            ahead: None,
        })
    }

    /// A session trace read whole, in any order between sessions (each
    /// session's rows in time order): rows come with their offsets from
    /// the first row, before or after it, and no window.
    pub fn open_any_order(spec: &TraceSpec) -> Result<TraceReader, TraceError> {
        Ok(TraceReader {
            by_session: Some(HashMap::new()),
            ..TraceReader::open(&spec.whole())?
        })
    }

    /// The next call in the window, or `None` at the end of the window or file.
    pub fn next_record(&mut self) -> Result<Option<TraceRecord>, TraceError> {
        let Some(tick) = self.spec.tick_us else {
            return Ok(self.next_row()?.map(|(offset, mut record)| {
                record.at = self.spec.place(offset);
                record
            }));
        };
        if self.spread.is_empty() {
            self.spread_tick(tick)?;
        }
        Ok(self.spread.pop_front().map(|row| {
            (self.session, self.latency_us) = (row.session, row.latency_us);
            TraceRecord {
                at: self.spec.place(row.offset_us),
                ..row.record
            }
        }))
    }

    /// Reads the rows recorded at the next time and spreads them over the
    /// tick from it. Given k arrivals in an interval, a Poisson process's
    /// times are k uniform draws in order: they are drawn here from the
    /// recorded time itself, so every run spreads a trace alike.
    fn spread_tick(&mut self, tick: i64) -> Result<(), TraceError> {
        let first = match self.ahead.take() {
            Some(row) => row,
            None => match self.read_ahead()? {
                Some(row) => row,
                None => return Ok(()),
            },
        };
        let at = first.offset_us;
        self.spread.push_back(first);
        loop {
            match self.read_ahead()? {
                Some(row) if row.offset_us == at => self.spread.push_back(row),
                other => {
                    self.ahead = other;
                    break;
                }
            }
        }
        let mut rng = RandomStreams::new(at as u64).stream("tick");
        let mut offsets: Vec<i64> = self
            .spread
            .iter()
            .map(|_| rng.random_range(0..tick))
            .collect();
        offsets.sort_unstable();
        for (row, offset) in self.spread.iter_mut().zip(offsets) {
            row.offset_us = at + offset;
        }
        Ok(())
    }

    /// The next row in the window, with the reader's word on it.
    fn read_ahead(&mut self) -> Result<Option<Row>, TraceError> {
        Ok(self.next_row()?.map(|(offset_us, record)| Row {
            offset_us,
            record,
            session: self.session.clone(),
            latency_us: self.latency_us,
        }))
    }

    /// The next row in the window: its offset from the first row (µs) and
    /// its call, not yet placed.
    pub fn next_row(&mut self) -> Result<Option<(i64, TraceRecord)>, TraceError> {
        loop {
            let Some(row) = self.rows.next() else {
                return Ok(None);
            };
            let line = row
                .as_ref()
                .ok()
                .and_then(|r| r.position())
                .map_or(0, |p| p.line());
            match row
                .map_err(|e| BadInput(e.to_string()))
                .and_then(|r| self.parse(&r))
            {
                Ok((time_us, record)) => {
                    let first = *self.first_us.get_or_insert(time_us);
                    let offset = time_us - first;
                    if self.by_session.is_none() {
                        if offset < self.spec.from_us {
                            continue;
                        }
                        if !self.spec.in_window(offset) {
                            return Ok(None);
                        }
                    }
                    return Ok(Some((offset, record)));
                }
                Err(what) if self.spec.skip_bad_rows => {
                    let _ = what;
                    self.skipped += 1;
                }
                Err(what) => {
                    return Err(TraceError {
                        message: format!("{}:{line}: {what}", self.spec.shown),
                    });
                }
            }
        }
    }

    /// The file as the model names it.
    pub fn shown(&self) -> &str {
        &self.spec.shown
    }

    /// The session id of the row last read (empty without a session column).
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The recorded latency of the row last read, in µs (0 without a latency column).
    pub fn latency_us(&self) -> i64 {
        self.latency_us
    }

    /// A row's time in microseconds and its call (time not yet placed).
    fn parse(&mut self, row: &csv::StringRecord) -> Result<(i64, TraceRecord), BadInput> {
        let c = &self.spec.columns;
        let time_text = self.field(row, 0, &c.time)?;
        let time_us = parse_time(time_text, c.time_unit)
            .ok_or_else(|| BadInput(format!("`{}` is not a time ({time_text:?})", c.time)))?;
        let call = self.call(row)?;
        if let Some(name) = &c.session {
            let id = self.field(row, 4, name)?.to_owned();
            self.session = id;
        }
        if let Some(name) = &c.latency {
            let text = self.field(row, 5, name)?;
            let unit = match c.time_unit {
                TimeUnit::DateTime => TimeUnit::Seconds,
                unit => unit,
            };
            self.latency_us = parse_time(text, unit).ok_or_else(|| {
                BadInput(format!(
                    "`{name}` must be a time, at least 0 (got {text:?})"
                ))
            })?;
        }
        self.keep_order(time_us, time_text)?;
        Ok((time_us, call))
    }

    /// Field `slot` of `row`, named `name` in the trace.
    fn field<'r>(
        &self,
        row: &'r csv::StringRecord,
        slot: usize,
        name: &str,
    ) -> Result<&'r str, BadInput> {
        let i = self.index[slot].expect("a required column");
        row.get(i)
            .map(str::trim)
            .ok_or_else(|| BadInput(format!("no `{name}` field")))
    }

    /// Field `slot` of `row` as a token count, scaled as the columns say.
    fn tokens(&self, row: &csv::StringRecord, slot: usize, name: &str) -> Result<u32, BadInput> {
        let text = self.field(row, slot, name)?;
        let counted = text.parse::<u32>().map_err(|_| {
            BadInput(format!(
                "`{name}` must be a whole number of tokens, at least 0 (got {text:?})"
            ))
        })?;
        Ok(match self.spec.columns.token_scale {
            1.0 => counted,
            scale => (f64::from(counted) * scale).round() as u32,
        })
    }

    /// A row's call: its input (and of it, cached), output and max tokens.
    fn call(&self, row: &csv::StringRecord) -> Result<TraceRecord, BadInput> {
        let c = &self.spec.columns;
        let input = self.tokens(row, 1, &c.input)?;
        let output = self.tokens(row, 2, &c.output)?;
        let cached_input = match &c.cached_input {
            Some(name) => {
                let cached = self.tokens(row, 3, name)?;
                if cached > input {
                    return Err(BadInput(format!(
                        "`{name}` ({cached}) is more than the input ({input})"
                    )));
                }
                cached
            }
            None => 0,
        };
        let max_output = match &c.max_tokens {
            Some(name) => {
                let text = self.field(row, 6, name)?;
                let max = text
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|&m| m >= 1)
                    .ok_or_else(|| {
                        BadInput(format!(
                            "`{name}` must be a whole number of tokens, at least 1 (got {text:?})"
                        ))
                    })?;
                if max < output {
                    return Err(BadInput(format!(
                        "`{name}` ({max}) is less than the output ({output}): a call makes at most its max_tokens"
                    )));
                }
                Some(max)
            }
            None => None,
        };
        Ok(TraceRecord {
            at: SimTime::ZERO,
            input,
            cached_input,
            output,
            max_output,
        })
    }

    /// Refuses a row before the one above (within its session, for a
    /// trace grouped by session), and notes whether the trace is sorted.
    fn keep_order(&mut self, time_us: i64, time_text: &str) -> Result<(), BadInput> {
        match &mut self.by_session {
            None if time_us < self.last_us => {
                return Err(BadInput(format!(
                    "time goes backwards ({time_text:?} is before the row above)"
                )));
            }
            None => {}
            Some(last) => {
                let last = last.entry(session_key(&self.session)).or_insert(i64::MIN);
                if time_us < *last {
                    return Err(BadInput(format!(
                        "time goes backwards within session {:?} ({time_text:?} is before its row above)",
                        self.session
                    )));
                }
                *last = time_us;
            }
        }
        self.sorted &= time_us >= self.last_us;
        self.last_us = time_us;
        Ok(())
    }
}

/// A span of `us` microseconds, none if negative.
pub fn micros(us: i64) -> SimDuration {
    SimDuration::from_ticks(us.max(0) as u64)
}

/// A time as `unit` writes it, in microseconds.
fn parse_time(text: &str, unit: TimeUnit) -> Option<i64> {
    let number = || {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    match unit {
        TimeUnit::Seconds => number().map(|s| (s * 1e6).round() as i64),
        TimeUnit::Millis => number().map(|ms| (ms * 1e3).round() as i64),
        TimeUnit::Micros => number().map(|us| us.round() as i64),
        TimeUnit::DateTime => parse_datetime(text),
    }
}
