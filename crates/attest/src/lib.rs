//! Attestations: SBOMs, provenance, VEX, test reports, and their signing
//! and verification, as documents and keys.
//!
//! # Architecture invariant
//! Values in, bytes out: no store, no files, no environment, no clock.
//! `dhib-exec` gathers the facts (`exec::actions::attest`), signs as images are
//! written (`exec::out`) and verifies layouts (`exec::verify`); the
//! only dhib crates below this one are `dhib-core` and `dhib-oci` (for the
//! root file system's types).

// A `Diag` is returned once per failure, never on a hot path.
#![allow(clippy::result_large_err)]

pub mod checks;
pub mod cosign;
pub mod ctrf;
pub mod dsse;
pub mod keys;
pub mod provenance;
pub mod sbom;
pub mod statement;
pub mod vex;
