//! A request trace with a session column, replayed as it is read: the
//! rows of one session are one loop (calls in recorded order; the recorded
//! gap to the next call, less the earlier call's recorded latency, as tool
//! time). `check` counts each session's rows once, so a session knows
//! when its last row has been read; rows are read on demand (for the next
//! session to start, or a running session's next call) and held only
//! until their session's loop takes them. Memory grows with the number of
//! sessions (their counts) and the rows read ahead, not with the file.

use std::collections::{HashMap, VecDeque};

use crate::engine::{SimDuration, SimTime};
use crate::model::workload::agent_loop::CallTokens;
use crate::model::workload::trace::{
    SessionCounts, TraceError, TraceReader, TraceSpec, micros, session_key,
};

/// One recorded call of a session: its offset from the trace's first row
/// and recorded latency (µs), and its tokens.
#[derive(Clone, Copy, Debug)]
struct Row {
    at_us: i64,
    latency_us: i64,
    tokens: CallTokens,
}

/// A session whose loop is starting or running.
struct Open {
    key: u64,
    /// When its loop starts in the simulation, and its first row's offset (µs).
    start: SimTime,
    first_us: i64,
    /// Its rows in the file, and those not read yet.
    total: u32,
    unread: u32,
    /// Read, not yet taken by its loop.
    rows: VecDeque<Row>,
    /// The call its loop is making.
    current: Option<Row>,
}

pub struct SessionStream {
    reader: TraceReader,
    counts: SessionCounts,
    /// The trace as the model gives it: its window and speed.
    spec: Box<TraceSpec>,
    /// Open sessions by key, and their slots.
    open: HashMap<u64, u32>,
    slots: Vec<Option<Open>>,
    free: Vec<u32>,
    /// Sessions outside the window, or whose loop ended early: rows left to skip.
    skipping: HashMap<u64, u32>,
    /// Sessions found but not yet handed out to start, in time order.
    found: VecDeque<u32>,
}

impl SessionStream {
    /// Reads `spec`'s file from its first row; `counts` are its sessions' rows.
    pub fn open(spec: &TraceSpec, counts: SessionCounts) -> Result<Self, TraceError> {
        Ok(SessionStream {
            reader: TraceReader::open(&spec.whole())?,
            counts,
            spec: Box::new(spec.clone()),
            open: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            skipping: HashMap::new(),
            found: VecDeque::new(),
        })
    }

    /// Reads one row and hands it to its session; `false` at the end of the file.
    fn read_row(&mut self) -> Result<bool, TraceError> {
        let Some(record) = self.reader.next_record()? else {
            return Ok(false);
        };
        let row = Row {
            at_us: record.at.ticks() as i64,
            latency_us: self.reader.latency_us(),
            tokens: record.tokens(),
        };
        let key = session_key(self.reader.session());
        if let Some(&slot) = self.open.get(&key) {
            let open = self.slots[slot as usize].as_mut().expect("an open slot");
            open.unread -= 1;
            open.rows.push_back(row);
        } else if let Some(left) = self.skipping.get_mut(&key) {
            *left -= 1;
            if *left == 0 {
                self.skipping.remove(&key);
            }
        } else {
            let total = self.counts.get(&key).copied().unwrap_or(1);
            if !self.spec.in_window(row.at_us) {
                if total > 1 {
                    self.skipping.insert(key, total - 1);
                }
                return Ok(true);
            }
            let start = self.spec.place(row.at_us);
            let open = Open {
                key,
                start,
                first_us: row.at_us,
                total,
                unread: total - 1,
                rows: VecDeque::from([row]),
                current: None,
            };
            let slot = match self.free.pop() {
                Some(slot) => {
                    self.slots[slot as usize] = Some(open);
                    slot
                }
                None => {
                    self.slots.push(Some(open));
                    (self.slots.len() - 1) as u32
                }
            };
            self.open.insert(key, slot);
            self.found.push_back(slot);
        }
        Ok(true)
    }

    /// The next session to start: its slot and start time, or `None` when no
    /// more start in the window.
    pub fn next_start(&mut self) -> Result<Option<(u32, SimTime)>, TraceError> {
        while self.found.is_empty() {
            if !self.read_row()? {
                return Ok(None);
            }
        }
        let slot = self.found.pop_front().expect("found a session");
        Ok(Some((slot, self.session(slot).start)))
    }

    fn session(&self, slot: u32) -> &Open {
        self.slots[slot as usize].as_ref().expect("an open session")
    }

    /// Calls in session `slot`: its loop's steps.
    pub fn calls(&self, slot: u32) -> u32 {
        self.session(slot).total
    }

    /// The session's next call, as its loop makes it.
    pub fn take_call(&mut self, slot: u32) -> Result<CallTokens, TraceError> {
        self.read_until_next(slot)?;
        let open = self.slots[slot as usize].as_mut().expect("an open session");
        let row = open.rows.pop_front().expect("a row was read");
        open.current = Some(row);
        Ok(row.tokens)
    }

    /// The tool time after the current call: the recorded gap to the next
    /// call less the current call's recorded latency (at least zero).
    pub fn tool_time(&mut self, slot: u32) -> Result<SimDuration, TraceError> {
        self.read_until_next(slot)?;
        let open = self.session(slot);
        let (current, next) = (open.current.expect("a call was taken"), open.rows[0]);
        let gap = next.at_us - current.at_us - current.latency_us;
        Ok(micros(gap))
    }

    /// Reads ahead until session `slot` has a row waiting (it has one unread).
    fn read_until_next(&mut self, slot: u32) -> Result<(), TraceError> {
        while self.session(slot).rows.is_empty() {
            if !self.read_row()? {
                return Err(TraceError {
                    message: format!(
                        "{}: a session's rows ended early: the file changed since it was checked",
                        self.reader.shown()
                    ),
                });
            }
        }
        Ok(())
    }

    /// How long the session took as recorded, up to its current call's answer.
    pub fn recorded(&self, slot: u32) -> SimDuration {
        let open = self.session(slot);
        let current = open.current.expect("a call was taken");
        micros(current.at_us + current.latency_us - open.first_us)
    }

    /// Session `slot`'s loop ended: rows of it still to come are skipped.
    pub fn close(&mut self, slot: u32) {
        let open = self.slots[slot as usize].take().expect("an open session");
        self.open.remove(&open.key);
        if open.unread > 0 {
            self.skipping.insert(open.key, open.unread);
        }
        self.free.push(slot);
    }
}
