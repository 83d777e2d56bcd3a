//! Execution: fetching sources, extracting archives, importing Debian
//! packages, sandboxed build steps and the scheduler. This is where files,
//! processes and the network live; analysis never calls into it.

pub mod archive;
pub mod build;
pub mod deb;
pub mod fetch;
pub mod lock;
pub mod sandbox;
pub mod scheduler;
pub mod snapshot;

use std::path::PathBuf;

use crate::analysis::{Analysis, Analyzed};
use crate::graph::query::{self, NodeSet};
use crate::lang::diag::Diag;
use crate::store::Store;

pub use scheduler::{Event, Summary};

pub struct Request {
    pub store: PathBuf,
    pub jobs: usize,
    pub keep_going: bool,
    pub sandbox: sandbox::Mode,
}

/// The nodes named by a pattern or query expression; a diagnostic points
/// into `text`.
pub fn resolve(analysis: &Analysis, analyzed: &Analyzed, text: &str) -> Result<NodeSet, Diag> {
    let q = query::parse(text)?;
    query::eval(&q, &analyzed.graph, analysis)
}

/// Builds `requested` and what it depends on, reporting through `on_event`.
pub fn build(
    analysis: &Analysis,
    analyzed: &Analyzed,
    requested: &NodeSet,
    req: &Request,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Summary, Diag> {
    if req.sandbox == sandbox::Mode::Bwrap {
        sandbox::probe().map_err(|e| {
            Diag::plain("E0501", format!("{e}; dhib does not build outside a sandbox"))
                .with_help("install bubblewrap (scripts/setup.sh does), or pass --sandbox=none to debug; results are then marked unsandboxed")
        })?;
    }
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let _shared = store.lock_store(false).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let root = analysis.root().map(PathBuf::from).unwrap_or_default();
    let cx = build::Context {
        store: &store,
        root: &root,
        sandbox: req.sandbox,
        source_date_epoch: analysis.build.source_date_epoch,
        jobs: req.jobs,
        debian_repo: std::env::var("DHIB_DEBIAN_REPO").ok().or_else(|| analysis.build.debian_repo.clone()),
    };
    let opts = scheduler::Options { jobs: req.jobs, keep_going: req.keep_going };
    Ok(scheduler::execute(&cx, &analyzed.graph, analysis, &analyzed.keys, requested, &opts, on_event))
}
