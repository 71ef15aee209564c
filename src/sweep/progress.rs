//! Sweep progress on stderr: a bar with an ETA on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    total: usize,
    start: Instant,
    terminal: bool,
    state: Mutex<usize>,
}

impl Progress {
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            start: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            state: Mutex::new(0),
        }
    }

    /// Counts one finished run and reports: on a terminal every run, else
    /// about every 5% of the runs, so logs stay short.
    pub fn tick(&self) {
        let mut done = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *done += 1;
        let done = *done;
        let elapsed = self.start.elapsed().as_secs_f64();
        let eta = elapsed / done as f64 * (self.total - done) as f64;
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let width = 30;
            let filled = width * done / self.total.max(1);
            let _ = write!(
                err,
                "\r[{}{}] {done}/{} runs, {} elapsed, ETA {}  ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.total,
                clock(elapsed),
                clock(eta)
            );
            if done == self.total {
                let _ = writeln!(err);
            }
        } else if done == self.total || done.is_multiple_of((self.total / 20).max(1)) {
            let _ = writeln!(
                err,
                "{done}/{} runs, {} elapsed, ETA {}",
                self.total,
                clock(elapsed),
                clock(eta)
            );
        }
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
