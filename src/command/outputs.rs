//! Claiming, staging and publishing a command's output directory or file,
//! saying on stderr where a link led or a stranger's file was kept.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::warn;
use crate::atomic_file;
use crate::command::error::Error;
use crate::output::file_target::FileTarget;
use crate::output::io_at;
use crate::output::marker::{self, Kind};
use crate::output::staged_dir::{Published, StagedDir};
use crate::output::target::{self, Reuse, Target};

/// Claims `dir` for outputs of `kind`, saying where a symlink led.
pub fn claim_out(dir: &Path, kind: Kind, reuse: Reuse) -> Result<Target, Error> {
    let target = target::claim(dir, kind, reuse)?;
    if let Some(note) = &target.note {
        eprintln!("note: {note}");
    }
    Ok(target)
}

/// Stages a set of `kind` for `dir`, to be published whole.
pub fn stage_out(dir: &Path, kind: Kind, force: bool) -> Result<StagedDir, Error> {
    let target = claim_out(dir, kind, Reuse::Replace { force })?;
    Ok(StagedDir::new(target, kind)?)
}

/// Publishes a staged set, saying where a file that was not loopcap's was kept.
pub fn publish(staged: StagedDir) -> Result<(), Error> {
    if let Published::Whole {
        kept_aside: Some(kept),
    } = staged.publish()?
    {
        warn([format!(
            "files that loopcap did not write came into the old outputs while it ran; they are kept in {}",
            kept.display()
        )]);
    }
    Ok(())
}

/// Writes a claimed file atomically and records it in its directory's set.
pub fn write_claimed(
    target: &FileTarget,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    atomic_file::write_file(&target.path, fill)
        .with_context(|| format!("cannot write {}", target.path.display()))?;
    Ok(target.written()?)
}

/// Draws figures into `out` (a new or empty directory, or one of
/// loopcap's), through `draw`, and adds the files it wrote to the
/// directory's set. Returns where it drew, resolved.
pub fn draw_into<T>(
    out: &Path,
    draw: impl FnOnce(&Path) -> Result<T, Error>,
) -> Result<(PathBuf, T), Error> {
    let target = claim_out(out, Kind::Figures, Reuse::AddTo)?;
    let dir = target.path.clone();
    atomic_file::create_dir(&dir).map_err(io_at(&dir))?;
    let before = marker::snapshot(&dir).map_err(io_at(&dir))?;
    let drawn = draw(&dir)?;
    let after = marker::snapshot(&dir).map_err(io_at(&dir))?;
    let written: Vec<String> = after
        .into_iter()
        .filter(|entry| !before.contains(entry))
        .map(|(name, _)| name)
        .collect();
    let kind = target.existing.as_ref().map_or(Kind::Figures, |m| m.kind);
    marker::add_files(&dir, kind, &written)?;
    Ok((dir, drawn))
}
