//! dhib: a declarative, content-addressed build system for hardened container
//! images. Data flows `lang` → `graph` (through the salsa `db`) → later stages;
//! `analysis` is the driver that feeds files from disk into that pipeline.

// A `Diag` is returned once per failure, never on a hot path; boxing it
// everywhere would only add noise.
#![allow(clippy::result_large_err)]

pub mod analysis;
pub mod attest;
pub mod db;
pub mod exec;
pub mod graph;
pub mod lang;
pub mod oci;
pub mod store;
pub mod upstream;
