//! What a sizing runs: the flags, the model read and parsed once and
//! loaded again for each probe or plan, and the replications of each on
//! `--threads` threads, with the floor on unlimited capacity.

use rayon::prelude::*;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::bytes::Bytes;
use crate::command::error::Error;
use crate::command::load::{self, Loaded, read_model};
use crate::command::outputs::stage_out;
use crate::command::{Limits, warn};
use crate::config::overrides::Override;
use crate::config::{self, LoadedModel, Source};
use crate::model::ModelSpec;
use crate::model::measure::summary::Summary;
use crate::output::marker::Kind;
use crate::output::staged_dir::StagedDir;
use crate::sizing::judge::Probe;
use crate::sizing::slo::Slo;
use crate::sweep;

/// What `size` was asked.
pub(super) struct SizeFlags {
    pub(super) model: PathBuf,
    pub(super) slos: Vec<String>,
    pub(super) out: Option<PathBuf>,
    /// Replace the sizing in `out`.
    pub(super) force: bool,
    pub(super) replications: u32,
    pub(super) set: Vec<String>,
    pub(super) seed: Option<i64>,
    pub(super) threads: Option<u16>,
    pub(super) json: bool,
    pub(super) limits: Limits,
}

/// The model `size` runs, read and parsed once, and loaded again with each
/// probe's or plan's overrides.
pub(super) struct BaseModel {
    pub(super) source: Source,
    pub(super) table: toml::Table,
    /// `--set` and `--seed`, applied before a probe's own overrides.
    pub(super) overrides: Vec<Override>,
    /// The model as loaded with `--set` (and a population axis at its least).
    pub(super) loaded: LoadedModel,
    /// The warnings said so far: a probe or plan that changes nothing a
    /// warning is about (a plan of `set = {}`) does not say it again.
    said: Mutex<HashSet<String>>,
}

impl BaseModel {
    /// Reads and parses `flags.model` once, then loads it with `--set`,
    /// `--seed` and `extra_set`, its warnings shown, and holds it against
    /// the limits.
    pub(super) fn read(flags: &SizeFlags, extra_set: Option<String>) -> Result<BaseModel, Error> {
        let (source, warning) = read_model(&flags.model)?;
        let table = config::parse_toml(&source)?;
        let overrides = load::overrides(flags.seed, &flags.set)?;
        let mut first = overrides.clone();
        first.extend(extra_set.map(|set| Override::parse(&set)).transpose()?);
        let model = config::load_parsed(&source, table.clone(), &first)?;
        let base = Loaded::new(source, model, warning);
        warn(&base.warnings);
        base.admit(flags.limits, false)?;
        Ok(BaseModel {
            source: base.source,
            table,
            overrides,
            said: Mutex::new(base.warnings.iter().cloned().collect()),
            loaded: base.model,
        })
    }

    /// The model with `--set`, `--seed` and then `more` applied, its
    /// warnings not said before shown; refused (through `refuse`) past
    /// the limits.
    pub(super) fn with(
        &self,
        more: impl IntoIterator<Item = Override>,
        limits: Limits,
        refuse: impl FnOnce(config::Diagnostic) -> Error,
    ) -> Result<LoadedModel, Error> {
        let mut overrides = self.overrides.clone();
        overrides.extend(more);
        let loaded = config::load_parsed(&self.source, self.table.clone(), &overrides)?;
        self.warn_once(&loaded.warnings);
        limits
            .admit(&loaded.memory, &loaded.work, false)
            .map_err(refuse)?;
        Ok(loaded)
    }

    /// Says each of `warnings` not said before.
    fn warn_once(&self, warnings: &[impl std::fmt::Display]) {
        let mut said = self.said.lock().unwrap_or_else(PoisonError::into_inner);
        warn(warnings.iter().filter(|w| said.insert(w.to_string())));
    }
}

/// Runs a probe's replications on `--threads` threads.
pub(super) struct Replicator {
    pub(super) pool: rayon::ThreadPool,
    pub(super) replications: u32,
    pub(super) memory_limit: Bytes,
}

impl Replicator {
    pub(super) fn new(flags: &SizeFlags) -> Result<Self, Error> {
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(threads) = flags.threads {
            pool = pool.num_threads(usize::from(threads));
        }
        let pool = pool
            .build()
            .map_err(|e| Error::input(format!("--threads: {e}")))?;
        Ok(Replicator {
            pool,
            replications: flags.replications,
            memory_limit: flags.limits.memory,
        })
    }

    pub(super) fn run(&self, spec: &ModelSpec) -> Result<Vec<Summary>, Error> {
        let runs = self
            .pool
            .install(|| sweep::replicate(spec, self.replications, self.memory_limit))?;
        Ok(runs)
    }

    /// Every spec's replications, all side by side.
    pub(super) fn run_all<'a>(
        &self,
        specs: impl Iterator<Item = &'a ModelSpec>,
    ) -> Result<Vec<Vec<Summary>>, Error> {
        let specs: Vec<_> = specs.collect();
        let runs = self.pool.install(|| {
            specs
                .par_iter()
                .map(|spec| sweep::replicate(spec, self.replications, self.memory_limit))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(runs)
    }

    /// How many probes a search runs at once: as many as keep the threads
    /// busy with every probe's replications (1 when the replications alone
    /// fill them).
    pub(super) fn width(&self) -> usize {
        (self.pool.current_num_threads() / self.replications.max(1) as usize).max(1)
    }
}

/// The SLOs, read against the metrics `base` reports, and the floor: `base`
/// on unlimited capacity, judged against them.
pub(super) fn slos_and_floor(
    base: &ModelSpec,
    flags: &SizeFlags,
    replicator: &Replicator,
) -> Result<(Vec<Slo>, Probe), Error> {
    let floor_runs = replicator.run(&base.with_unlimited_capacity())?;
    let names: Vec<String> = floor_runs[0]
        .metrics()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let slos = flags
        .slos
        .iter()
        .map(|text| Slo::parse(text, &names))
        .collect::<Result<Vec<_>, _>>()?;
    warn(slos.iter().filter_map(Slo::direction_warning));
    let floor = Probe::floor(&floor_runs, &slos);
    Ok((slos, floor))
}

/// What a sizing that compares settings or plans starts from: the model
/// read once, the output directory staged, the replicator, the SLOs and
/// the floor.
pub(super) struct Comparison {
    pub(super) base: BaseModel,
    pub(super) staged: Option<StagedDir>,
    pub(super) replicator: Replicator,
    pub(super) slos: Vec<Slo>,
    pub(super) floor: Probe,
}

impl Comparison {
    pub(super) fn start(flags: &SizeFlags) -> Result<Comparison, Error> {
        let base = BaseModel::read(flags, None)?;
        let staged = match &flags.out {
            Some(dir) => Some(stage_out(dir, Kind::Sizing, flags.force)?),
            None => None,
        };
        let replicator = Replicator::new(flags)?;
        let (slos, floor) = slos_and_floor(&base.loaded.spec, flags, &replicator)?;
        Ok(Comparison {
            base,
            staged,
            replicator,
            slos,
            floor,
        })
    }
}
