//! Execution: fetching sources, extracting archives, importing Debian
//! packages, sandboxed build steps and the scheduler. This is where files,
//! processes and the network live; analysis never calls into it.
//!
//! # Architecture invariant
//! Execution never computes a key: it runs what the graph keyed and records
//! results under those keys. Only the sandbox runs build steps, and only
//! `facts` knows the keys of a result's metadata.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod actions;
pub mod archive;
pub mod deb;
pub mod facts;
pub mod fetch;
pub mod job;
pub mod keyfile;
pub mod lock;
pub mod out;
pub mod prefetch;
pub mod publish;
pub mod reproducible;
pub mod rewrite;
pub mod run;
pub mod sandbox;
pub mod scheduler;
pub mod snapshot;
pub mod vcs;
pub mod verify;

use std::path::PathBuf;

use dhib_analysis::{Analysis, Analyzed};
use dhib_core::diag::Diag;
use dhib_graph::query::{self, NodeSet};
use dhib_store::Store;

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

/// Where the workspace's pinned files may come from: `[fetch] mirrors` and
/// the Debian repositories (see [`fetch::Origins::new`]).
pub fn origins(analysis: &Analysis) -> fetch::Origins {
    fetch::Origins::new(&analysis.config.fetch.mirrors, analysis.config.debian.repo.as_deref())
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
            Diag::plain("E0501", format!("{e}; dhib does not build outside a sandbox")).with_help(
                "install bubblewrap (scripts/setup.sh does), or pass --sandbox=none to debug; results are then marked unsandboxed",
            )
        })?;
    }
    let store = Store::open(&req.store).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let _shared = store.lock_store(false).map_err(|e| Diag::plain("E0502", e.to_string()))?;
    let root = analysis.root().map(PathBuf::from).unwrap_or_default();
    let local_files = analysis.local_file_digests();
    // What is pulled is pinned by digest, so the transport is no input.
    let insecure_registries: Vec<String> =
        std::env::var("DHIB_INSECURE_REGISTRIES").unwrap_or_default().split(',').filter(|h| !h.is_empty()).map(str::to_string).collect();
    let cx = job::Context {
        store: &store,
        root: &root,
        local_files: &local_files,
        insecure_registries: &insecure_registries,
        sandbox: req.sandbox,
        source_date_epoch: analysis.config.build.source_date_epoch,
        jobs: req.jobs,
        origins: &origins(analysis),
    };
    let opts = scheduler::Options { jobs: req.jobs, keep_going: req.keep_going };
    Ok(scheduler::execute(&cx, &analyzed.graph, analysis, &analyzed.keys, requested, &opts, on_event))
}
