//! Attestations: SBOMs, provenance, VEX, test reports, and their signing
//! and verification.

pub mod cosign;
pub mod dsse;
pub mod keys;
pub mod sbom;
pub mod vex;
