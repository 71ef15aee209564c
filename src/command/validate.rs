//! `loopcap validate`: the simulator against queueing theory and known results.

use std::io::{self, Write};

use crate::command::error::Error;
use crate::validation;

pub fn validate() -> Result<(), Error> {
    let outcomes = validation::checks()
        .iter()
        .map(|c| c.run())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Runtime(e.into()))?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(validation::table(&outcomes).as_bytes())?;
    let failed = outcomes.iter().filter(|o| !o.verdict.passed()).count();
    stdout.flush()?;
    if failed > 0 {
        return Err(Error::runtime(format!(
            "{failed} of {} checks failed",
            outcomes.len()
        )));
    }
    writeln!(stdout, "all {} checks passed", outcomes.len())?;
    Ok(())
}
