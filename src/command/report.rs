//! `loopcap report` (a directory's page) and `loopcap compare` (two results
//! side by side).

use std::io::{self, Write};
use std::path::Path;

use super::outputs::write_claimed;
use crate::cli::{CompareArgs, ReportArgs};
use crate::command::error::Error;
use crate::html_report;
use crate::output::file_target::claim_file;
use crate::output::marker;
use crate::report::compare;

/// `report DIR`: the directory's page, written atomically, over nothing
/// but an earlier page of loopcap's.
pub fn report(args: &ReportArgs) -> Result<(), Error> {
    let dir = &args.dir;
    marker::verify(dir)?;
    let html = html_report::render(dir)?;
    let path = args
        .out
        .as_deref()
        .map_or_else(|| html_report::default_path(dir), Path::to_path_buf);
    let target = claim_file(&path, &html_report::is_report)?;
    write_claimed(&target, |w| w.write_all(html.as_bytes()))?;
    writeln!(io::stdout().lock(), "wrote {}", path.display())?;
    Ok(())
}

/// `compare A B`: each metric of two results, their difference and its significance.
pub fn compare(args: &CompareArgs) -> Result<(), Error> {
    let a = compare::read_side(&args.a)?;
    let b = compare::read_side(&args.b)?;
    let (pairing, rows) = compare::compare(&a, &b);
    let mut stdout = io::stdout().lock();
    if args.json {
        compare::write_json(&mut stdout, &rows)?;
    } else {
        stdout.write_all(compare::render(&a, &b, pairing, &rows).as_bytes())?;
    }
    stdout.flush()?;
    Ok(())
}
