//! What each dhib command does, end to end: find the workspace, analyse it,
//! call the engine, and return a value saying what happened. The `dhib`
//! binary parses arguments, calls one function here and prints its value.
//!
//! # Architecture invariant
//! Nothing here prints or exits: results are values, progress goes through
//! the caller's callbacks, and problems are [`Failure`]s (diagnostics with
//! their source text attached) for the caller to render. Every decision a
//! command makes — which key signs, which store, what a reference names,
//! whether the null build applies — is made here, so it can be tested
//! without a terminal.

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod affected;
pub mod build;
pub mod explain;
mod failure;
pub mod fetch;
pub mod fmt;
pub mod inspect;
pub mod keys;
pub mod lock;
pub mod publish;
pub mod query;
pub mod run;
pub mod scan;
pub mod store;
pub mod test;
pub mod upstream;
pub mod verify;
mod workspace;

pub use failure::Failure;
pub use workspace::{default_jobs, Loaded, Workspace};
