//! `size --out DIR`: the manifest of the search (what reruns it exactly)
//! and `sizing.csv`, each probe's SLO metrics with their intervals,
//! appended as each probe finishes. A search run again into the same
//! directory with the same manifest takes the probes already there instead
//! of running them (every probe runs the same seeds, so they are what it
//! would get, including those probed ahead); a last line cut short by a
//! kill is dropped.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::csv_file::{ProbeWriter, read_probes};
use super::judge::Probe;
use super::slo::Slo;
use crate::atomic_file;
use crate::output::{OutputError, io_at};

pub struct Journal {
    path: PathBuf,
    slos: Vec<Slo>,
    done: HashMap<i64, Probe>,
    file: ProbeWriter<File>,
}

/// Writes `probes` to `path` as sizing.csv, in order of value.
fn write_sorted<'a>(
    path: &Path,
    slos: &[Slo],
    probes: impl Iterator<Item = &'a Probe>,
) -> io::Result<()> {
    let mut sorted: Vec<&Probe> = probes.collect();
    sorted.sort_by_key(|p| p.value);
    atomic_file::write_file(path, |w| {
        let mut out = ProbeWriter::new(w, slos)?;
        sorted.into_iter().try_for_each(|p| out.write(p))
    })
}

/// The data files whose fingerprints differ between the manifest on disk
/// and `now`, when nothing else does.
fn changed_data(existing: &str, now: &serde_json::Value) -> Option<String> {
    let mut then: serde_json::Value = serde_json::from_str(existing).ok()?;
    let files = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["data_files"].as_array().cloned().unwrap_or_default()
    };
    let (before, after) = (files(&then), files(now));
    then["data_files"] = now["data_files"].clone();
    if then != *now || before == after {
        return None;
    }
    let changed: Vec<&str> = after
        .iter()
        .filter(|f| !before.contains(f))
        .filter_map(|f| f["file"].as_str())
        .collect();
    Some(changed.join(", "))
}

impl Journal {
    /// Opens `dir` for a search described by `manifest`: a new directory
    /// (or one without a manifest) starts empty; one with this manifest
    /// resumes; one with another is refused.
    pub fn open(
        dir: &Path,
        manifest: &serde_json::Value,
        slos: &[Slo],
    ) -> Result<Journal, OutputError> {
        atomic_file::create_dir(dir).map_err(io_at(dir))?;
        let manifest_path = dir.join("manifest.json");
        let path = dir.join("sizing.csv");
        let text = serde_json::to_string_pretty(manifest).expect("a JSON value");
        let mut done = HashMap::new();
        match std::fs::read_to_string(&manifest_path) {
            Ok(existing) if existing.trim() == text.trim() => {
                let journal = std::fs::read_to_string(&path).unwrap_or_default();
                for probe in read_probes(&journal, slos) {
                    done.insert(probe.value, probe);
                }
            }
            Ok(existing) => {
                return Err(OutputError::refused(
                    dir,
                    match changed_data(&existing, manifest) {
                        Some(files) => format!(
                            "a data file changed since the sizing began ({files}): resuming would mix results; restore it, or add --force to start again"
                        ),
                        None => "holds another sizing (its manifest.json differs): add --force to replace it, or choose another directory".to_owned(),
                    },
                ));
            }
            Err(_) => {}
        }
        atomic_file::write_file(&manifest_path, |w| writeln!(w, "{text}"))
            .map_err(io_at(&manifest_path))?;
        // The journal again, from the probes kept: a cut line is gone.
        write_sorted(&path, slos, done.values()).map_err(io_at(&path))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(Journal {
            path,
            slos: slos.to_vec(),
            done,
            file: ProbeWriter::appending(file),
        })
    }

    /// The probe at `value` from an earlier run into this directory.
    pub fn done(&self, value: i64) -> Option<Probe> {
        self.done.get(&value).cloned()
    }

    /// Appends a finished probe.
    pub fn record(&mut self, probe: &Probe) -> io::Result<()> {
        self.file.write(probe)?;
        self.file.get_ref().sync_data()?;
        self.done.insert(probe.value, probe.clone());
        Ok(())
    }

    /// Rewrites sizing.csv with the search's `probes` in order of value
    /// (those probed ahead that the search did not take are left out, so
    /// the file is the same however many probes ran at once).
    pub fn finish(&self, probes: &[Probe]) -> io::Result<()> {
        write_sorted(&self.path, &self.slos, probes.iter())
    }
}
