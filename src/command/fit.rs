//! `loopcap fit`: a model fitted to a trace, written beside it only once
//! it reads back, and run over the trace's span for the report.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::load::{Loaded, load};
use crate::atomic_file;
use crate::cli::FitArgs;
use crate::command::error::Error;
use crate::fit::{self, Fitted, check};
use crate::json;
use crate::output::file_target::{FileTarget, claim_file};
use crate::output::marker;
use crate::output::target;

/// How a model `fit` wrote begins.
const FITTED_HEADER: &str = "# Fitted by loopcap";
/// How the report `fit` writes beside the model begins.
const REPORT_HEADER: &str = "# loopcap fit: the trace against the fitted model";

/// `fit TRACE`: writes the fitted model (and its empirical CSVs), reads it
/// back as `check` would, runs it over the trace's span and prints the report.
pub fn fit(args: &FitArgs) -> Result<(), Error> {
    let (trace, format, columns, out) = (
        &args.trace,
        &args.format,
        args.columns.as_deref(),
        &args.out,
    );
    let shown = trace.display().to_string();
    let tick = args.tick.as_deref();
    let population = fit::read_trace(&shown, format, (columns, tick))?;
    let obs = fit::observe(&population)?;
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .ok_or_else(|| Error::input(format!("--out {}: not a file name", out.display())))?;
    let columns_flag = columns.map_or(String::new(), |c| format!(" --columns '{c}'"))
        + &tick.map_or(String::new(), |t| format!(" --tick {t}"));
    let report_name = format!("{stem}.fit.txt");
    let comment = format!(
        "{} {} from the trace {shown}:\n  loopcap fit {shown} --format {format}{columns_flag} --out {}\n{} calls in {} loops over {:.0} s. The capacity below is not in the trace.\nHow well it fits, and its warnings: {report_name}",
        &FITTED_HEADER[2..],
        env!("CARGO_PKG_VERSION"),
        out.display(),
        obs.calls,
        obs.loops,
        obs.span_s
    );
    // The trace as the model names it (resampling its sessions): from the
    // model's directory, and from the staging directory within it.
    let dir_of = |path: &Path| path.parent().map(Path::to_path_buf).unwrap_or_default();
    let file = target::relative(&dir_of(&target::resolve(out)?), &target::resolve(trace)?);
    let staged_file = Path::new("..").join(&file);
    let source = fit::TraceSource {
        file: &file.to_string_lossy(),
        staged_file: &staged_file.to_string_lossy(),
        format,
        columns,
        tick,
    };
    let fitted = fit::fit(&obs, &stem, &comment, &source);
    let claimed = Claimed::new(trace, out, &fitted, &report_name)?;
    // The check runs on the model as read back, before anything is put in place.
    let trace_path = target::resolve(trace)?;
    let replay = check::Replay {
        file: &trace_path,
        format,
        columns,
        tick,
    };
    let check_staged = |staging: &Path| -> Result<Option<check::CheckReport>, Error> {
        let Some(capacity) = &args.check else {
            return Ok(None);
        };
        check::check(
            capacity,
            (&fitted.staged_model, staging),
            &replay,
            args.replications,
        )
        .map(Some)
        .map_err(|e| match e {
            e @ check::CheckError::Input(_) => Error::input(e.to_string()),
            check::CheckError::Run(e) => Error::runtime(e),
        })
    };
    let (loaded, report_target, checked) = claimed.write(&fitted, out, check_staged)?;
    let mut fit_report =
        fit::report::report(&shown, &loaded.model.spec, &obs, &fitted, args.replications)
            .map_err(Error::runtime)?;
    if let Some(checked) = checked {
        fit_report = fit_report.checked(checked);
    }
    // The report beside the model: its table and its warnings.
    atomic_file::write_file(&report_target.path, |w| {
        writeln!(w, "{REPORT_HEADER}\n")?;
        w.write_all(fit_report.table().as_bytes())?;
        for warning in &fit_report.warnings {
            writeln!(w, "warning: {warning}")?;
        }
        Ok(())
    })
    .with_context(|| format!("cannot write {}", report_target.path.display()))?;
    report_target.written()?;
    let mut stdout = io::stdout().lock();
    if args.json {
        json::write_json(&mut stdout, &fit_report)?;
    } else {
        stdout.write_all(fit_report.table().as_bytes())?;
    }
    stdout.flush()?;
    crate::command::warn(&fit_report.warnings);
    Ok(())
}

/// The files a fit writes, claimed: the model, and beside it (in `dir`)
/// the CSVs it names and the fit's report.
struct Claimed {
    model: FileTarget,
    files: Vec<FileTarget>,
    report: FileTarget,
    dir: PathBuf,
}

impl Claimed {
    /// Claims `out`, the CSVs of `fitted` and the report `report_name`
    /// beside it: each new, or one an earlier fit wrote (a model that says
    /// so, the CSVs it names, a report that says so); none is the `trace`.
    fn new(trace: &Path, out: &Path, fitted: &Fitted, report_name: &str) -> Result<Claimed, Error> {
        let trace_path = target::resolve(trace)?;
        let not_the_trace = |path: &Path| -> Result<(), Error> {
            if target::resolve(path)? == trace_path {
                return Err(Error::input(format!(
                    "--out {}: would write {}, which is the trace being fitted; choose another name",
                    out.display(),
                    path.display()
                )));
            }
            Ok(())
        };
        not_the_trace(out)?;
        let model = claim_file(out, &|head| head.starts_with(FITTED_HEADER.as_bytes()))?;
        let dir = model.path.parent().unwrap_or(Path::new("/")).to_owned();
        let earlier = std::fs::read_to_string(&model.path).unwrap_or_default();
        let mut files = vec![];
        for (name, _) in &fitted.files {
            not_the_trace(&dir.join(name))?;
            let named = format!("\"{name}\"");
            files.push(claim_file(&dir.join(name), &|_| earlier.contains(&named))?);
        }
        not_the_trace(&dir.join(report_name))?;
        let report = claim_file(&dir.join(report_name), &|head| {
            head.starts_with(REPORT_HEADER.as_bytes())
        })?;
        Ok(Claimed {
            model,
            files,
            report,
            dir,
        })
    }

    /// Writes `fitted` aside and reads it back as `check` would before
    /// anything is put in place (a model that cannot be read is never
    /// written), runs `check` on it there (`--check`: nothing is written
    /// if it fails), then puts the CSVs in place, and the model that
    /// names them last. The model as read, the report's claim and what
    /// `check` gave.
    fn write<C>(
        self,
        fitted: &Fitted,
        out: &Path,
        check: impl FnOnce(&Path) -> Result<C, Error>,
    ) -> Result<(Loaded, FileTarget, C), Error> {
        let dir = &self.dir;
        // Marked as loopcap's staging, so a writer after a kill removes it.
        let staging = tempfile::Builder::new()
            .prefix(target::INNER_STAGING_PREFIX)
            .tempdir_in(dir)
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        std::fs::write(staging.path().join(marker::STAGING), "")
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        for (name, values) in &fitted.files {
            atomic_file::write_file(&staging.path().join(name), |w| {
                writeln!(w, "value")?;
                for v in values {
                    writeln!(w, "{v}")?;
                }
                Ok(())
            })
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
        }
        // The model as read back names the trace from the staging
        // directory; the one put in place, from its own.
        let name = out.file_name().unwrap_or_default();
        let (staged_model, model) = (
            staging.path().join(name),
            staging
                .path()
                .join(format!("{}.final", name.to_string_lossy())),
        );
        for (path, text) in [
            (&staged_model, &fitted.staged_model),
            (&model, &fitted.model),
        ] {
            atomic_file::write_file(path, |w| w.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        let loaded = load(&staged_model, None, &[]).map_err(|e| match e {
            Error::Input(why) => Error::runtime(format!(
                "the fitted model does not read back ({why}); nothing was written"
            )),
            other => other,
        })?;
        let checked = check(staging.path())?;
        for ((name, _), target) in fitted.files.iter().zip(&self.files) {
            std::fs::rename(staging.path().join(name), &target.path)
                .with_context(|| format!("cannot write {}", target.path.display()))?;
        }
        std::fs::rename(&model, &self.model.path)
            .with_context(|| format!("cannot write {}", self.model.path.display()))?;
        for target in self.files.iter().chain([&self.model]) {
            target.written()?;
        }
        Ok((loaded, self.report, checked))
    }
}
